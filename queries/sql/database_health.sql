-- The Database health page (engineers): read-only looks at the server's statistics views and catalogs.
-- Sessions of other roles show their state, query and waits only to members of pg_read_all_stats
-- (pg_monitor includes it); every other query here reads what any role may.  Findings (what to run) are
-- written by queries/pages/database_health.py, never run.

-- What the connected role may see.
-- name: dbhealth.viewer --
-- timeout: 5s
SELECT current_user::text AS role_name,
       pg_has_role(current_user, 'pg_monitor', 'USAGE') AS pg_monitor,
       pg_has_role(current_user, 'pg_read_all_stats', 'USAGE') AS pg_read_all_stats,
       current_setting('max_connections')::integer AS max_connections,
       current_setting('superuser_reserved_connections')::integer AS superuser_reserved_connections,
       (SELECT stats_reset FROM pg_stat_database WHERE datname = current_database()) AS stats_reset

-- Client sessions of the whole server (max_connections is server-wide) by database, role, application
-- and state.  `hidden` counts sessions whose state this role may not see (another role's, without
-- pg_read_all_stats): their state is NULL.
-- name: dbhealth.connections --
-- timeout: 10s
SELECT coalesce(datname, '') AS database, coalesce(usename::text, '') AS role_name,
       coalesce(nullif(application_name, ''), '(none)') AS application,
       coalesce(state, 'not visible') AS state, count(*)::integer AS sessions,
       count(*) FILTER (WHERE state IS NULL)::integer AS hidden
FROM pg_stat_activity
WHERE backend_type = 'client backend'
GROUP BY 1, 2, 3, 4
ORDER BY sessions DESC, database, role_name, application, state

-- Sessions running one statement, or idle inside a transaction, for at least min_seconds.
-- name: dbhealth.long_running --
-- timeout: 10s
SELECT pid, datname AS database, usename::text AS role_name, application_name AS application, state,
       wait_event_type, wait_event, xact_start, query_start, state_change,
       extract(epoch FROM now() - CASE WHEN state = 'active' THEN query_start ELSE state_change END)::float8
         AS seconds,
       extract(epoch FROM now() - xact_start)::float8 AS xact_seconds,
       substring(query FROM '/\*query_name=''([^'']+)''\*/') AS query_name,
       left(query, 2000) AS query
FROM pg_stat_activity
WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()
  AND ((state = 'active' AND query_start < now() - make_interval(secs => %(min_seconds)s))
       OR (state LIKE 'idle in transaction%%' AND state_change < now() - make_interval(secs => %(min_seconds)s)))
ORDER BY seconds DESC
LIMIT 200

-- Every session that is blocked (waits on a lock another session holds) or blocks one, with the pids
-- blocking it (pg_blocking_pids, empty for a session only blocking others).
-- name: dbhealth.blocking --
-- timeout: 10s
WITH s AS (
  SELECT a.*, pg_blocking_pids(a.pid) AS blocking_pids
  FROM pg_stat_activity a
  WHERE a.backend_type = 'client backend'
), blocked AS (
  SELECT pid, blocking_pids FROM s WHERE cardinality(blocking_pids) > 0
)
SELECT s.pid, s.datname AS database, s.usename::text AS role_name, s.application_name AS application, s.state,
       s.wait_event_type, s.wait_event, s.blocking_pids,
       extract(epoch FROM now() - s.query_start)::float8 AS query_seconds,
       extract(epoch FROM now() - s.xact_start)::float8 AS xact_seconds,
       substring(s.query FROM '/\*query_name=''([^'']+)''\*/') AS query_name,
       left(s.query, 2000) AS query
FROM s
WHERE s.pid IN (SELECT pid FROM blocked) OR s.pid IN (SELECT unnest(blocking_pids) FROM blocked)
ORDER BY s.pid

-- Every index of the database's own schemas with what comparing them needs: key columns and operator
-- classes, expressions, predicate, whether it enforces a constraint, and its scans since the stats reset.
-- name: dbhealth.indexes --
-- timeout: 15s
SELECT n.nspname AS schema, t.relname AS table_name, c.relname AS index_name,
       format('%%I.%%I', n.nspname, c.relname) AS qualified_name,
       format('%%I.%%I', n.nspname, t.relname) AS qualified_table,
       am.amname AS method, i.indisunique AS is_unique, i.indisprimary AS is_primary, i.indisvalid AS is_valid,
       i.indnkeyatts AS key_columns, i.indkey::int2[] AS columns, i.indclass::oid[] AS opclasses,
       i.indcollation::oid[] AS collations,
       coalesce(pg_get_expr(i.indexprs, i.indrelid), '') AS expressions,
       coalesce(pg_get_expr(i.indpred, i.indrelid), '') AS predicate,
       con.conname AS constraint_name,
       pg_relation_size(c.oid) AS size_bytes,
       coalesce(s.idx_scan, 0) AS idx_scan,
       pg_get_indexdef(c.oid) AS definition,
       -- a partition's index is attached to its parent's: drop the parent's instead
       EXISTS (SELECT 1 FROM pg_inherits h WHERE h.inhrelid = c.oid) AS is_partition_index,
       c.relkind = 'I' AS is_partitioned
FROM pg_index i
JOIN pg_class c ON c.oid = i.indexrelid
JOIN pg_class t ON t.oid = i.indrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
JOIN pg_am am ON am.oid = c.relam
LEFT JOIN pg_stat_user_indexes s ON s.indexrelid = i.indexrelid
LEFT JOIN pg_constraint con ON con.conindid = i.indexrelid AND con.conrelid = i.indrelid
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_%%'
ORDER BY n.nspname, t.relname, c.relname

-- Tables (and partitions) with their sizes, scans, dead rows and last (auto)vacuum and analyze.
-- name: dbhealth.tables --
-- timeout: 15s
SELECT s.schemaname AS schema, s.relname AS table_name, format('%%I.%%I', s.schemaname, s.relname) AS qualified_name,
       pg_total_relation_size(s.relid) AS total_bytes, pg_relation_size(s.relid) AS table_bytes,
       pg_indexes_size(s.relid) AS index_bytes,
       s.n_live_tup AS live_rows, s.n_dead_tup AS dead_rows, s.seq_scan, s.seq_tup_read,
       coalesce(s.idx_scan, 0) AS idx_scan, s.last_vacuum, s.last_autovacuum, s.last_analyze,
       s.last_autoanalyze, s.n_mod_since_analyze AS modified_since_analyze
FROM pg_stat_user_tables s
ORDER BY total_bytes DESC, s.schemaname, s.relname

-- Transaction-ID and multixact age of every database against the autovacuum freeze limits.
-- name: dbhealth.wraparound_databases --
-- timeout: 10s
SELECT datname AS database, age(datfrozenxid)::bigint AS xid_age, mxid_age(datminmxid)::bigint AS mxid_age,
       current_setting('autovacuum_freeze_max_age')::bigint AS freeze_max_age,
       current_setting('autovacuum_multixact_freeze_max_age')::bigint AS multixact_freeze_max_age
FROM pg_database
WHERE datallowconn
ORDER BY xid_age DESC

-- The oldest tables of this database by transaction-ID or multixact age.
-- name: dbhealth.wraparound_tables --
-- timeout: 10s
SELECT n.nspname AS schema, c.relname AS table_name, format('%%I.%%I', n.nspname, c.relname) AS qualified_name,
       age(c.relfrozenxid)::bigint AS xid_age, mxid_age(c.relminmxid)::bigint AS mxid_age
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'm', 't') AND c.relfrozenxid <> '0'::xid
ORDER BY greatest(age(c.relfrozenxid), mxid_age(c.relminmxid)) DESC
LIMIT 20

-- Sequences with how much of their range is used; last_value is NULL where the role may not read the
-- sequence (or it was never used).
-- name: dbhealth.sequences --
-- timeout: 10s
SELECT s.schemaname AS schema, s.sequencename AS sequence_name,
       format('%%I.%%I', s.schemaname, s.sequencename) AS qualified_name, s.data_type::text AS data_type,
       s.min_value, s.max_value, s.increment_by, s.last_value,
       -- by oid: a name cast to regclass needs USAGE on its schema, which a reader may lack
       has_sequence_privilege(c.oid, 'SELECT,USAGE') AS readable,
       CASE WHEN t.oid IS NOT NULL THEN format('%%I.%%I', tn.nspname, t.relname) END AS owned_by_table, a.attname::text AS owned_by_column
FROM pg_sequences s
JOIN pg_namespace n ON n.nspname = s.schemaname
JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = s.sequencename
LEFT JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = c.oid
  AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
LEFT JOIN pg_class t ON t.oid = d.refobjid
LEFT JOIN pg_namespace tn ON tn.oid = t.relnamespace
LEFT JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
WHERE s.schemaname NOT IN ('pg_catalog', 'information_schema')
ORDER BY s.schemaname, s.sequencename

-- Share of block reads served from shared buffers: this database, its tables and its indexes.
-- name: dbhealth.cache_hits --
-- timeout: 10s
SELECT (SELECT blks_hit FROM pg_stat_database WHERE datname = current_database()) AS database_hit,
       (SELECT blks_read FROM pg_stat_database WHERE datname = current_database()) AS database_read,
       (SELECT coalesce(sum(heap_blks_hit), 0) FROM pg_statio_user_tables)::bigint AS table_hit,
       (SELECT coalesce(sum(heap_blks_read), 0) FROM pg_statio_user_tables)::bigint AS table_read,
       (SELECT coalesce(sum(idx_blks_hit), 0) FROM pg_statio_user_indexes)::bigint AS index_hit,
       (SELECT coalesce(sum(idx_blks_read), 0) FROM pg_statio_user_indexes)::bigint AS index_read
