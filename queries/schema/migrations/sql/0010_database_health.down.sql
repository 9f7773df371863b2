ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE SELECT ON SEQUENCES FROM venuepulse_reader;
REVOKE SELECT ON ALL SEQUENCES IN SCHEMA public FROM venuepulse_reader;
-- pg_monitor is a cluster-wide membership of venuepulse_reader that the readers of the server's other
-- VenuePulse databases (still at this revision) rely on: kept, as 0004's down keeps pg_read_all_stats.
