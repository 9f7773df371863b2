-- Plans over time (queries/ops/plans.py; migration 0011): each named query's generic plan shape under a
-- fingerprint, and plan changes (a capture whose fingerprint differs from the query's previous one).

-- Partitions (tables and their indexes) among the given relation names, with the root of their tree, so a
-- plan names `check_ins`, not the month's partition: adding a partition is not a plan change.
-- name: plans.partition_roots --
SELECT c.relname AS name, r.relname AS root
FROM pg_class c
CROSS JOIN LATERAL pg_partition_root(c.oid) AS p(root_oid)
JOIN pg_class r ON r.oid = p.root_oid
WHERE c.relispartition AND c.relname = ANY (%(names)s::text[])

-- One capture pass: %(plans)s is a JSON array of {query_name, fingerprint, shape}.  New shapes are kept
-- once; a query whose fingerprint differs from its stored one gets a plan_changes row; every query's
-- latest capture is brought to %(at)s (default now()).  Returns counts and the changes recorded.
-- name: plans.record --
-- kind: write
WITH input AS (
  SELECT p.query_name, p.fingerprint, p.shape, coalesce(%(at)s::timestamptz, now()) AS at
  FROM jsonb_to_recordset(%(plans)s::jsonb) AS p(query_name text, fingerprint text, shape text)
),
shapes AS (
  INSERT INTO plan_shapes (fingerprint, shape, first_seen_at)
  SELECT DISTINCT ON (fingerprint) fingerprint, shape, at FROM input
  ON CONFLICT (fingerprint) DO NOTHING
  RETURNING fingerprint
),
changed AS (
  INSERT INTO plan_changes (query_name, detected_at, previous_captured_at, before_fingerprint, after_fingerprint)
  SELECT i.query_name, i.at, q.captured_at, q.fingerprint, i.fingerprint
  FROM input i
  JOIN query_plans q ON q.query_name = i.query_name
  WHERE q.fingerprint <> i.fingerprint
  RETURNING query_name, before_fingerprint, after_fingerprint
),
latest AS (
  INSERT INTO query_plans AS q (query_name, fingerprint, since, captured_at)
  SELECT query_name, fingerprint, at, at FROM input
  ON CONFLICT (query_name) DO UPDATE
    SET since = CASE WHEN q.fingerprint = excluded.fingerprint THEN q.since ELSE excluded.since END,
        fingerprint = excluded.fingerprint,
        captured_at = excluded.captured_at,
        captures = q.captures + 1
  RETURNING 1
)
SELECT (SELECT count(*) FROM latest)::integer AS captured,
       (SELECT count(*) FROM shapes)::integer AS new_shapes,
       coalesce((SELECT jsonb_agg(jsonb_build_object('query_name', query_name, 'before', before_fingerprint,
                                                     'after', after_fingerprint) ORDER BY query_name)
                 FROM changed), '[]'::jsonb) AS changes

-- Plan changes detected in [start, end), newest first, with both shapes.
-- name: plans.changes --
SELECT c.id, c.query_name, c.detected_at, c.previous_captured_at, c.before_fingerprint, c.after_fingerprint,
       b.shape AS before_shape, a.shape AS after_shape
FROM plan_changes c
JOIN plan_shapes b ON b.fingerprint = c.before_fingerprint
JOIN plan_shapes a ON a.fingerprint = c.after_fingerprint
WHERE c.detected_at >= %(start)s::timestamptz AND c.detected_at < %(end)s::timestamptz
  AND (%(names)s::text[] IS NULL OR c.query_name = ANY (%(names)s::text[]))
ORDER BY c.detected_at DESC, c.id DESC
LIMIT %(limit)s::integer

-- How many queries have a captured plan and when the last capture ran (the section's freshness).
-- name: plans.status --
SELECT count(*)::integer AS queries, max(captured_at) AS last_captured_at,
       (SELECT count(*) FROM plan_changes)::bigint AS changes
FROM query_plans

-- A query's current plan shape.
-- name: plans.current --
SELECT q.query_name, q.fingerprint, q.since, q.captured_at, q.captures, s.shape
FROM query_plans q
JOIN plan_shapes s ON s.fingerprint = q.fingerprint
WHERE q.query_name = %(name)s::text
