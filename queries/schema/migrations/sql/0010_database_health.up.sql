-- The Database health page (engineers) reads other roles' sessions in pg_stat_activity and the server's
-- settings; pg_monitor (pg_read_all_stats + pg_read_all_settings + pg_stat_scan_tables) covers all of it.
-- Granting a predefined role needs ADMIN on it: superusers have that, a managed service's admin role
-- usually does not (PostgreSQL 16+ no longer lets CREATEROLE alone grant it).  Where the grant is refused
-- the migration goes on and the page says, panel by panel, what is missing and which GRANT to ask for.
DO $$
BEGIN
  IF pg_has_role('venuepulse_reader', 'pg_monitor', 'MEMBER') THEN
    RETURN;
  END IF;
  GRANT pg_monitor TO venuepulse_reader;
EXCEPTION WHEN insufficient_privilege OR invalid_grant_operation THEN
  RAISE NOTICE 'could not grant pg_monitor to venuepulse_reader (needs ADMIN on pg_monitor); the Database health page says what it cannot show';
END;
$$;

-- The page's Sequences panel reads how far each sequence has gone, which pg_sequences shows only to a role
-- that may read the sequence.  SELECT on a sequence allows reading it, not nextval or setval.
GRANT SELECT ON ALL SEQUENCES IN SCHEMA public TO venuepulse_reader;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON SEQUENCES TO venuepulse_reader;
