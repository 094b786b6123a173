//! The parts of the OpenAPI document that no single handler owns: the bearer scheme, and the
//! error answers every route can give besides its own (a malformed request, a missing key, a
//! wrong method, an unavailable store), each with the error envelope.

use utoipa::{
    Modify,
    openapi::{
        self, HeaderBuilder, OpenApi, Ref, RefOr, ResponseBuilder,
        link::LinkBuilder,
        path::{Operation, ParameterIn, PathItem},
        security::{Http, HttpAuthScheme, SecurityScheme},
    },
};

/// Declares the `bearer` security scheme the authenticated routes name.
pub(crate) struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, doc: &mut OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// Routes that never touch the store, so never answer 503 for it (`/health` and `/ready`
/// declare their own 503 with the health body).
const STORE_FREE: &[&str] = &["/metrics", "/openapi.json", "/health", "/ready"];

/// Adds, to every operation that can give it and does not declare it already, each error
/// answer of the shared machinery (extractors, authentication, routing, the store).
pub(crate) struct ErrorResponses;

impl Modify for ErrorResponses {
    fn modify(&self, doc: &mut OpenApi) {
        for (path, item) in &mut doc.paths.paths {
            let allow = allow(item);
            let store = !STORE_FREE.contains(&path.as_str());
            for operation in operations_mut(item) {
                add_shared_errors(operation, &allow, store);
            }
        }
    }
}

/// The methods a path answers, as an `Allow` value (RFC 9110 section 10.2.1).
pub(crate) fn allow(item: &PathItem) -> String {
    [
        ("GET", item.get.is_some()),
        ("PUT", item.put.is_some()),
        ("POST", item.post.is_some()),
        ("DELETE", item.delete.is_some()),
        ("PATCH", item.patch.is_some()),
    ]
    .iter()
    .filter(|(_, present)| *present)
    .map(|(method, _)| *method)
    .collect::<Vec<_>>()
    .join(", ")
}

/// Every operation of a path.
pub(crate) fn operations_mut(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.post,
        &mut item.put,
        &mut item.patch,
        &mut item.delete,
    ]
    .into_iter()
    .flatten()
}

fn add_shared_errors(operation: &mut Operation, allow: &str, store: bool) {
    let parameters = operation.parameters.as_deref().unwrap_or_default();
    let in_path = parameters
        .iter()
        .any(|p| matches!(p.parameter_in, ParameterIn::Path));
    let in_query = parameters
        .iter()
        .any(|p| matches!(p.parameter_in, ParameterIn::Query));
    let body = operation.request_body.is_some();
    let secured = operation
        .security
        .as_ref()
        .is_some_and(|requirements| !requirements.is_empty());
    let mut add = |status: &str, description: &str| {
        operation
            .responses
            .responses
            .entry(status.to_owned())
            .or_insert_with(|| RefOr::T(error_response(description).build()));
    };
    if body || in_path || in_query {
        add(
            "400",
            "A field, path parameter or query parameter is not valid (`field` names it), or the \
             body is not JSON of the expected shape",
        );
    }
    if secured {
        add(
            "401",
            "No API key (`missing_api_key`), or an unknown or revoked one (`invalid_api_key`)",
        );
        add(
            "403",
            "The key's role may not call this endpoint (`forbidden`)",
        );
    }
    if in_path {
        add("404", "Nothing is stored under this path parameter");
    }
    if body {
        add(
            "413",
            "The body is larger than the limit (`payload_too_large`)",
        );
        add(
            "415",
            "The body is not `application/json` (`unsupported_media_type`)",
        );
    }
    if store {
        add(
            "503",
            "The store is busy or unavailable (`store_unavailable`): nothing was written; retry \
             later",
        );
    }
    let method_not_allowed = error_response(
        "This path does not answer the method (`method_not_allowed`); `Allow` lists those it \
         answers",
    )
    .header(
        "Allow",
        HeaderBuilder::new()
            .schema(openapi::ObjectBuilder::new().schema_type(openapi::Type::String))
            .description(Some(format!("The methods of this path: `{allow}`")))
            .build(),
    )
    .build();
    operation
        .responses
        .responses
        .entry("405".to_owned())
        .or_insert_with(|| RefOr::T(method_not_allowed));
}

fn error_response(description: &str) -> ResponseBuilder {
    ResponseBuilder::new().description(description).content(
        "application/json",
        openapi::ContentBuilder::new()
            .schema(Some(Ref::from_schema_name("ErrorResponse")))
            .build(),
    )
}

/// OpenAPI links from each operation that creates something to the operations that read or
/// act on it (what a stateful client, or schemathesis's stateful phase, follows).
pub(crate) struct Links;

/// `(path, method, status)` of a creating answer, the value it yields (a runtime expression),
/// the parameter it fills, and the operations (`operationId`) that take it.
type LinkSpec = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static [&'static str],
);

const LINKS: &[LinkSpec] = &[
    (
        "/api/v1/agents",
        "post",
        "201",
        "$response.body#/agent_uuid",
        "agent_uuid",
        &[
            "get_agent",
            "set_stake",
            "update_agent",
            "list_manifests",
            "flip_metrics",
        ],
    ),
    (
        "/api/v1/agents/manifests/publish",
        "post",
        "201",
        "$response.body#/manifest_hash",
        "manifest_hash",
        &["get_manifest"],
    ),
    (
        "/api/v1/agents/manifests/onchain-commitment",
        "post",
        "201",
        "$response.body#/commitment_id",
        "commitment_id",
        &["confirm_commitment", "settle_commitment"],
    ),
    (
        "/api/v1/agents/manifests/record-forward",
        "post",
        "201",
        "$request.body#/receipt/root_tx_hash",
        "root_tx_hash",
        &["forward_trail"],
    ),
];

impl Modify for Links {
    fn modify(&self, doc: &mut OpenApi) {
        for (path, method, status, value, parameter, targets) in LINKS {
            let Some(item) = doc.paths.paths.get_mut(*path) else {
                continue;
            };
            let operation = match *method {
                "post" => item.post.as_mut(),
                "put" => item.put.as_mut(),
                _ => None,
            };
            let Some(RefOr::T(response)) =
                operation.and_then(|op| op.responses.responses.get_mut(*status))
            else {
                continue;
            };
            for target in *targets {
                let link = LinkBuilder::new()
                    .operation_id(*target)
                    .parameter(*parameter, *value)
                    .build();
                response.links.insert((*target).to_owned(), RefOr::T(link));
            }
        }
    }
}

/// The document as JSON, with the field names of a Link object as OpenAPI spells them
/// (utoipa 5 writes `operation_id`, `operation_ref` and `request_body`).
pub(crate) fn document() -> serde_json::Value {
    let mut doc = serde_json::to_value(<crate::ApiDoc as utoipa::OpenApi>::openapi())
        .unwrap_or_else(|e| serde_json::json!({ "error": e.to_string() }));
    let operations = doc
        .get_mut("paths")
        .and_then(serde_json::Value::as_object_mut)
        .into_iter()
        .flat_map(|paths| paths.values_mut())
        .filter_map(serde_json::Value::as_object_mut)
        .flat_map(|item| item.values_mut());
    for operation in operations {
        let links = operation
            .get_mut("responses")
            .and_then(serde_json::Value::as_object_mut)
            .into_iter()
            .flat_map(|responses| responses.values_mut())
            .filter_map(|response| response.get_mut("links"))
            .filter_map(serde_json::Value::as_object_mut)
            .flat_map(|links| links.values_mut())
            .filter_map(serde_json::Value::as_object_mut);
        for link in links {
            for (from, to) in [
                ("operation_id", "operationId"),
                ("operation_ref", "operationRef"),
                ("request_body", "requestBody"),
            ] {
                if let Some(value) = link.remove(from) {
                    link.insert(to.to_owned(), value);
                }
            }
        }
    }
    doc
}

#[cfg(test)]
mod tests {
    use kagami_core::wire::schema;

    #[test]
    fn every_link_names_a_response_and_an_operation_that_exist() {
        let json = super::document();
        let ids: Vec<&str> = json["paths"]
            .as_object()
            .unwrap()
            .values()
            .flat_map(|item| item.as_object().unwrap().values())
            .filter_map(|op| op["operationId"].as_str())
            .collect();
        for (path, method, status, _, parameter, targets) in super::LINKS {
            let links = &json["paths"][path][method]["responses"][status]["links"];
            for target in *targets {
                assert!(ids.contains(target), "{target} is not an operation");
                assert_eq!(
                    links[target]["operationId"], *target,
                    "{path} {status} has no link to {target}"
                );
                assert!(
                    json["paths"]
                        .as_object()
                        .unwrap()
                        .values()
                        .flat_map(|item| item.as_object().unwrap().values())
                        .filter(|op| op["operationId"] == *target)
                        .any(|op| op["parameters"]
                            .as_array()
                            .is_some_and(|ps| ps.iter().any(|p| p["name"] == *parameter))),
                    "{target} takes no {parameter}"
                );
            }
        }
    }

    #[test]
    fn the_documented_attack_types_are_the_stored_ones() {
        for value in schema::AttackType::VALUES {
            let parsed = kagami_store::AttackType::parse(value);
            assert_eq!(parsed.map(kagami_store::AttackType::as_str), Some(*value));
        }
        let all = [
            kagami_store::AttackType::Frontrun,
            kagami_store::AttackType::Sandwich,
            kagami_store::AttackType::Timebandit,
            kagami_store::AttackType::ExtractionLoop,
        ];
        assert_eq!(all.len(), schema::AttackType::VALUES.len());
    }
}
