-- name: health.ping --
-- timeout: 2s
SELECT 1 AS ok

-- The server as `venuepulse db status` shows it.
-- name: health.server_info --
-- timeout: 5s
SELECT version() AS version, current_setting('server_version_num')::integer AS server_version_num,
       current_database() AS database,
       -- NULL without pg_read_all_settings (a managed service's admin role); the library's own settings
       -- show whether it is loaded to any role (queries/sql/privileges.sql)
       (SELECT setting FROM pg_settings WHERE name = 'shared_preload_libraries') AS preload,
       EXISTS (SELECT 1 FROM pg_settings WHERE name = 'pg_stat_statements.max') AS pgss_loaded,
       to_regclass('alembic_version') IS NOT NULL AS migrated,
       EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements') AS pgss_installed

-- name: health.alembic_revision --
-- timeout: 5s
SELECT version_num FROM alembic_version LIMIT 1

-- Run by execute() (queries/core/execute.py) before each statement, in the same transaction where there
-- is one (set_config(..., true) is transaction-local): the query's statement timeout, and the venue
-- scope row-level security reads.

-- name: session.timeout --
SELECT set_config('statement_timeout', %(timeout)s, true)

-- name: session.timeout_and_scope --
SELECT set_config('statement_timeout', %(timeout)s, true),
       set_config('venuepulse.venue_ids', %(venue_ids)s, true)

-- On a connection shared with the caller: the timeout in force, then the query's (transaction-local inside
-- a transaction, for the session on an autocommit connection); execute() sets the previous one back after.
-- (The select list is evaluated left to right: `previous` is read before set_config changes it.)
-- name: session.swap_timeout --
-- kind: maintenance
SELECT current_setting('statement_timeout') AS previous,
       set_config('statement_timeout', %(timeout)s, %(local)s::boolean) AS current

-- For EXPLAIN on PostgreSQL 15 (Database._explain_prepared), transaction-local: force the generic plan,
-- and no partition pruning (NULL values would let executor-start pruning remove every partition; without
-- it the plan shows every partition, as GENERIC_PLAN does on 16 and later).
-- name: session.generic_plan --
-- kind: maintenance
SELECT set_config('plan_cache_mode', 'force_generic_plan', true),
       set_config('enable_partition_pruning', 'off', true)

-- name: session.prepared --
-- kind: maintenance
SELECT 1 FROM pg_prepared_statements WHERE name = %(name)s
