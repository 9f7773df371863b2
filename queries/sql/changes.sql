-- Change markers (migration 0012): DDL recorded by the event triggers or found by the schema snapshot job,
-- and annotations (deploys, config changes, incidents, notes).  Windows are half-open: start <= at < end.

-- name: changes.annotate --
-- kind: write
SELECT vp_annotate(%(text)s::text, %(at)s::timestamptz, %(kind)s::text) AS id

-- name: changes.snapshot_schema --
-- kind: maintenance
SELECT vp_snapshot_schema() AS changes

-- One row per change: the DDL of one transaction (a migration, a deploy's ALTERs) is one change listing
-- its objects; routine partition maintenance is left out unless asked for.
-- name: changes.markers --
SELECT min(m.at) AS at, min(m.kind) AS kind, min(m.source) AS source,
       (array_agg(m.description ORDER BY m.id))[1] AS description,
       count(*)::integer AS statements,
       (array_agg(DISTINCT m.object_identity) FILTER (WHERE m.object_identity IS NOT NULL))[1:20] AS objects,
       min(m.detected_after) AS detected_after, min(m.role_name) AS role_name,
       min(m.application_name) AS application_name
FROM change_markers m
WHERE m.at >= %(start)s::timestamptz AND m.at < %(end)s::timestamptz
  AND (%(routine)s::boolean OR NOT m.routine)
GROUP BY CASE WHEN m.kind = 'ddl' THEN m.xact ELSE -m.id END, m.kind
ORDER BY at DESC
LIMIT %(limit)s::integer

-- How DDL is captured in this database: by the event triggers (as it happens) or by schema snapshots.
-- name: changes.capture_state --
SELECT (SELECT count(*) FROM pg_event_trigger
        WHERE evtname IN ('vp_change_markers_ddl', 'vp_change_markers_drop') AND evtenabled <> 'D') = 2 AS event_triggers,
       (SELECT max(taken_at) FROM schema_catalog_snapshots) AS last_schema_snapshot,
       (SELECT count(*) FROM change_markers)::bigint AS markers
