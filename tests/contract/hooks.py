"""Schemathesis hooks for Kagami's contract check (loaded through SCHEMATHESIS_HOOKS).

Built-in `positive_data_acceptance` wants every schema-valid request accepted. Some of
Kagami's rules cannot be written in JSON Schema: a signature must verify against the right
key (and have a low `s`), a manifest's window must lie ahead, a commitment's lock must end in
the future, an order and its receipt must agree, a hop must fit the destination's stake. A
request that breaks only such a rule is well formed, and the server answers it with the rule's
own code (a 400 with that code; a refusal that depends on stored state, such as an agent
that is not active or a manifest already expired, is a 409 or 422). This check replaces the built-in one: a schema-valid request may be refused with one
of the codes below (each a rule the document cannot express), and with nothing else; a
refusal naming the request's shape (`invalid_field`, `missing_field`, `unknown_field`,
`malformed_json`, `invalid_path`, `invalid_query`, ...) means the document allows what the
server refuses, which is exactly what this check exists to catch.
"""

import schemathesis
from schemathesis.specs.openapi.checks import is_unexpected_http_status_case

# Rule refusals a well-formed request can meet (kagami_core::wire::ErrorCode names).
RULES_THE_SCHEMA_CANNOT_EXPRESS = {
    "invalid_signature",
    "window_too_long",
    "chain_mismatch",
    "invalid_evidence",
    "order_mismatch",
    "lock_until_out_of_range",
    "amount_below_threshold",
    # A tree size beyond the audit log's newest checkpoint: it depends on the log's state.
    "tree_size_out_of_range",
}

# Fields whose syntax JSON Schema cannot express: `invalid_field` naming one of these is a rule
# refusal too (the document describes the rule in words).
FIELDS_THE_SCHEMA_CANNOT_EXPRESS = {
    "attack_tx",  # an EIP-2718 signed transaction: RLP inside hex
    "pubkey",  # a secp256k1 point must lie on the curve
    "valid_until",  # must be after valid_from: a relation between two fields
}


@schemathesis.check
def schema_valid_requests_meet_only_rule_refusals(ctx, response, case):
    meta = case.meta
    if meta is None or is_unexpected_http_status_case(case):
        return None
    if not meta.generation.mode.is_positive or response.status_code not in (400, 413, 415):
        return None
    try:
        body = response.json()
    except ValueError:
        body = None
    code = body.get("error") if isinstance(body, dict) else None
    if response.status_code == 400 and code in RULES_THE_SCHEMA_CANNOT_EXPRESS:
        return None
    field = body.get("field") if isinstance(body, dict) else None
    if (response.status_code == 400 and code == "invalid_field"
            and field in FIELDS_THE_SCHEMA_CANNOT_EXPRESS):
        return None
    raise AssertionError(
        f"a schema-valid request was refused with {response.status_code} `{code}`: the "
        f"document allows a value the server does not ({response.text[:300]})"
    )


# The stateful phase starts its scenarios only at operations it guesses random data can
# satisfy, and guesses from field names: it reads `owner_address` and `registry_address` as
# references to "Owner" and "Registry" resources no operation creates, so it never starts at
# registration (POST /api/v1/agents), the one create operation that random schema-valid data
# does satisfy (every other create needs signatures). Left alone, not one link would be
# followed. This makes registration a starting point, whatever else the guess says.
from schemathesis.specs.openapi import stateful as _stateful  # noqa: E402

_guess_root = _stateful.is_likely_root_transition


def _registration_is_a_root(operation, node, produced_anywhere):
    if operation.method == "post" and operation.path == "/api/v1/agents":
        return True
    return _guess_root(operation, node, produced_anywhere)


_stateful.is_likely_root_transition = _registration_is_a_root
