-- What the connected role may do for VenuePulse (`venuepulse db status`, the check_privileges job and the
-- Jobs & health page).  Catalogs and functions only, readable by any role: nothing here needs
-- pg_read_all_settings.  A library's settings appear in pg_settings only when it is loaded (a placeholder
-- set in postgresql.conf for a library that is not loaded never does), so that is how loading is seen.

-- name: privileges.role --
-- timeout: 5s
SELECT r.rolname::text AS role_name, current_database()::text AS database,
       current_setting('server_version_num')::integer AS server_version_num,
       r.rolsuper AS superuser, r.rolcreaterole AS createrole, r.rolcreatedb AS createdb,
       r.rolbypassrls AS bypassrls,
       pg_has_role(current_user, d.datdba, 'USAGE') AS owns_database,
       has_database_privilege(current_database(), 'CREATE') AS create_in_database,
       has_schema_privilege('public', 'CREATE') AS create_in_public,
       pg_has_role(current_user, 'pg_monitor', 'USAGE') AS pg_monitor,
       pg_has_role(current_user, 'pg_read_all_stats', 'USAGE') AS pg_read_all_stats,
       pg_has_role(current_user, 'pg_read_all_settings', 'USAGE') AS pg_read_all_settings,
       pg_has_role(current_user, 'pg_signal_backend', 'USAGE') AS pg_signal_backend,
       r.rolsuper OR has_parameter_privilege('session_replication_role', 'SET') AS set_session_replication_role,
       r.rolsuper OR has_parameter_privilege('shared_preload_libraries', 'ALTER SYSTEM') AS alter_system,
       -- PostgreSQL 15-18: only superusers may create event triggers
       r.rolsuper AS create_event_trigger,
       EXISTS (SELECT 1 FROM pg_settings WHERE name = 'pg_stat_statements.max') AS pgss_loaded,
       EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements') AS pgss_installed,
       EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pg_stat_statements') AS pgss_available,
       EXISTS (SELECT 1 FROM pg_settings WHERE name = 'auto_explain.log_min_duration') AS auto_explain_loaded,
       -- NULL until migration 0004 has made the role
       (SELECT pg_has_role(g.oid, 'pg_read_all_stats', 'USAGE') FROM pg_roles g
        WHERE g.rolname = 'venuepulse_reader') AS readers_read_all_stats
FROM pg_roles r, pg_database d
WHERE r.rolname = current_user AND d.datname = current_database()

-- The latest checklist the check_privileges job recorded (the jobs' role, seen from the dashboard).
-- name: privileges.recorded --
-- timeout: 5s
SELECT finished_at AS checked_at, details -> 'privileges' AS checklist
FROM job_runs
WHERE job_name = 'check_privileges' AND status = 'succeeded' AND details ? 'privileges'
ORDER BY started_at DESC, id DESC
LIMIT 1
