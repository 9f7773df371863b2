-- Reverses 0004_access.up.sql in this database.  The group roles are cluster-wide and other databases
-- may use them: they are left in place, with this database's grants revoked.

DROP SCHEMA IF EXISTS venuepulse_auth CASCADE;
DROP FUNCTION IF EXISTS vp_user_label(uuid, text);

DROP POLICY IF EXISTS vp_venue_scope ON notifications;
DROP POLICY IF EXISTS vp_venue_scope ON venue_interactions;
DROP POLICY IF EXISTS vp_venue_scope ON event_stream;
DROP POLICY IF EXISTS vp_venue_scope ON collection_venues;
DROP POLICY IF EXISTS vp_venue_scope ON favorites;
DROP POLICY IF EXISTS vp_venue_scope ON reviews;
DROP POLICY IF EXISTS vp_venue_scope ON check_ins;
DROP POLICY IF EXISTS vp_venue_scope ON flash_offer_claims;
DROP POLICY IF EXISTS vp_venue_scope ON flash_offers;
DROP POLICY IF EXISTS vp_venue_scope ON venue_owners;
DROP POLICY IF EXISTS vp_venue_scope ON venues;
ALTER TABLE notifications DISABLE ROW LEVEL SECURITY;
ALTER TABLE venue_interactions DISABLE ROW LEVEL SECURITY;
ALTER TABLE event_stream DISABLE ROW LEVEL SECURITY;
ALTER TABLE collection_venues DISABLE ROW LEVEL SECURITY;
ALTER TABLE favorites DISABLE ROW LEVEL SECURITY;
ALTER TABLE reviews DISABLE ROW LEVEL SECURITY;
ALTER TABLE check_ins DISABLE ROW LEVEL SECURITY;
ALTER TABLE flash_offer_claims DISABLE ROW LEVEL SECURITY;
ALTER TABLE flash_offers DISABLE ROW LEVEL SECURITY;
ALTER TABLE venue_owners DISABLE ROW LEVEL SECURITY;
ALTER TABLE venues DISABLE ROW LEVEL SECURITY;

ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE SELECT ON TABLES FROM venuepulse_reader;
REVOKE ALL ON ALL TABLES IN SCHEMA public FROM venuepulse_reader, venuepulse_owner;
REVOKE INSERT ON query_performance_log FROM venuepulse_recorder;
REVOKE USAGE ON SCHEMA public FROM venuepulse_reader, venuepulse_owner, venuepulse_recorder;
DO $$
BEGIN
  EXECUTE format('GRANT TEMPORARY ON DATABASE %I TO PUBLIC', current_database());
END;
$$;
-- pg_read_all_stats is a cluster-wide membership that other databases' readers rely on: kept.
-- CREATE on schema public stays revoked from PUBLIC (PostgreSQL 15's default; not worth undoing).
