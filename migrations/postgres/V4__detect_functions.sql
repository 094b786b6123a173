-- Audit functions for operators: the loops in the settlement graph of one root transaction,
-- computed in the database by recursive SQL, independently of kagami-core's graph rules
-- (`ForwardGraph::find_cycle`, `ForwardGraph::extraction_loops`), which the store suite
-- checks them against on random graphs recorded through record-forward.
--
--   SELECT * FROM detect_forward_cycles('0x…');            -- valid hops: empty, always
--   SELECT * FROM detect_extraction_loops('0x…');
--   SELECT * FROM detect_forward_cycles('0x…', true);      -- with the settled loop's evidence
--
-- Read-only (STABLE); nothing here is called by the server.

-- The root transaction as stored: `0x` and 64 hex digits, lower case. Another spelling is an
-- error rather than an empty audit.
CREATE FUNCTION kagami_root_tx(root_tx text) RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT AS $$
BEGIN
    IF root_tx !~* '^0x[0-9a-f]{64}$' THEN
        RAISE EXCEPTION 'root_tx % is not a 0x-prefixed 32-byte hex hash', root_tx
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN lower(root_tx);
END
$$;

-- The edges of a root's settlement graph, in the order kagami-core sees them (hop, then
-- recording order): a receipt v2 (recorded with its order; a v1 receipt alone is evidence,
-- never a hop) that is still valid (not invalidated as evidence of a settled loop) — the
-- store's `ReceiptRecord::valid_edge`. With `include_invalidated`, the invalidated ones too.
CREATE FUNCTION kagami_forward_edges(root_tx text, include_invalidated boolean DEFAULT false)
RETURNS TABLE (source uuid, dest uuid, hop integer, receipt text, created_at timestamptz,
               id uuid)
LANGUAGE sql STABLE AS $$
    SELECT r.source_agent_uuid, r.dest_agent_uuid, r.hop, r.receipt_hash, r.created_at, r.id
    FROM erc8004_forward_receipts r
    WHERE r.root_tx_hash = kagami_root_tx($1)
      AND r.order_hash IS NOT NULL
      AND (r.is_valid OR $2)
    ORDER BY r.hop, r.created_at, r.id
$$;

-- Every elementary directed cycle of the root's graph, once: `agents` in path order starting
-- at the cycle's smallest agent (uuid order), `receipts[i]` the edge from `agents[i]` to the
-- next agent (the last one closes the cycle), `depth` the number of agents (A→B→A is 2).
-- Parallel receipts between the same agents give one row per choice of receipts. The walk
-- only visits agents greater than its start and never one already on its path, so it ends on
-- any graph.
CREATE FUNCTION detect_forward_cycles(root_tx text, include_invalidated boolean DEFAULT false)
RETURNS TABLE (agents uuid[], receipts text[], depth integer)
LANGUAGE sql STABLE AS $$
    WITH RECURSIVE edge AS (
        SELECT e.source, e.dest, e.receipt FROM kagami_forward_edges($1, $2) e
    ),
    -- A path from `start` whose edges leave `path`'s agents, in order, and arrive at `head`.
    walk (start, head, path, via) AS (
        SELECT e.source, e.dest, ARRAY[e.source], ARRAY[e.receipt]
        FROM edge e
        WHERE e.dest >= e.source
      UNION ALL
        SELECT w.start, e.dest, w.path || e.source, w.via || e.receipt
        FROM walk w
        JOIN edge e ON e.source = w.head
        WHERE w.head <> w.start
          AND (e.dest = w.start
               OR (e.dest > w.start AND e.dest <> w.head AND e.dest <> ALL (w.path)))
    )
    SELECT w.path, w.via, cardinality(w.path)
    FROM walk w
    WHERE w.head = w.start
    ORDER BY w.path, w.via
$$;

-- Every agent paid more than once for the root: who paid it (`sources`), at which `hops`,
-- with which `receipts`, each in hop then recording order; rows ordered by the first of
-- those hops, then agent.
CREATE FUNCTION detect_extraction_loops(root_tx text, include_invalidated boolean DEFAULT false)
RETURNS TABLE (agent uuid, sources uuid[], hops integer[], receipts text[])
LANGUAGE sql STABLE AS $$
    SELECT e.dest,
           array_agg(e.source ORDER BY e.hop, e.created_at, e.id),
           array_agg(e.hop ORDER BY e.hop, e.created_at, e.id),
           array_agg(e.receipt ORDER BY e.hop, e.created_at, e.id)
    FROM kagami_forward_edges($1, $2) e
    GROUP BY e.dest
    HAVING count(*) >= 2
    ORDER BY min(e.hop), e.dest
$$;
