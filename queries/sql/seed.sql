-- Demo data loading (jobs/seed): everything that is not a COPY.

-- name: seed.schema_ready --
-- timeout: 5s
SELECT to_regclass('public.flash_offer_claims') IS NOT NULL
   AND to_regprocedure('public.vp_recompute_denormalized()') IS NOT NULL AS ready

-- name: seed.has_app_data --
-- timeout: 10s
SELECT EXISTS (SELECT 1 FROM venues) OR EXISTS (SELECT 1 FROM users) AS has_data

-- name: seed.app_data_counts --
-- timeout: 60s
SELECT (SELECT count(*) FROM users) AS users,
       (SELECT count(*) FROM venues) AS venues,
       (SELECT count(*) FROM check_ins) AS check_ins,
       (SELECT count(*) FROM reviews) AS reviews,
       (SELECT count(*) FROM favorites) AS favorites,
       (SELECT count(*) FROM collections) AS collections,
       (SELECT count(*) FROM flash_offers) AS flash_offers,
       (SELECT count(*) FROM flash_offer_claims) AS flash_offer_claims,
       (SELECT count(*) FROM notifications) AS notifications,
       (SELECT count(*) FROM event_stream) AS event_stream,
       (SELECT count(*) FROM query_performance_log) AS query_performance_log

-- Deletes all app data and the query history (with its hourly rollups, which would otherwise mark the
-- reseeded hours as done).  users is emptied with DELETE, not TRUNCATE: dashboard accounts reference it
-- (ON DELETE SET NULL unlinks venue-owner accounts; the accounts themselves stay).
-- name: seed.reset --
-- kind: maintenance
TRUNCATE venues, venue_owners, friendships, check_ins, reviews, favorites, collections, collection_venues,
         device_tokens, notification_settings, notifications, event_stream, flash_offers, flash_offer_claims,
         venue_interactions, user_privacy, query_performance_log, query_perf_hourly_buckets, query_perf_hourly,
         query_perf_rollups, query_perf_daily, query_perf_daily_marks, venue_counter_shards

-- name: seed.reset_users --
-- kind: maintenance
DELETE FROM users

-- name: seed.ensure_partitions --
-- kind: maintenance
SELECT partition_name, created, rows_moved FROM vp_ensure_partitions(%(parent)s, %(from)s, %(to)s)

-- name: seed.bulk_session --
-- kind: maintenance
SELECT set_config('venuepulse.bulk_load', %(bulk_load)s, true) AS bulk_load,
       set_config('statement_timeout', '0', true) AS statement_timeout

-- name: seed.recompute --
-- kind: maintenance
SELECT venues_fixed, offers_fixed, interactions_upserted, interactions_deleted FROM vp_recompute_denormalized()

-- name: seed.refresh_venue_stats --
-- kind: maintenance
-- In full: the load did not capture its rows as changes (docs/rollups.md).
SELECT refresh_venue_stats(true)

-- name: seed.analyze --
-- kind: maintenance
ANALYZE

-- name: seed.database_size --
-- timeout: 10s
SELECT pg_database_size(current_database()) AS bytes, pg_size_pretty(pg_database_size(current_database())) AS pretty

-- Whether the loader may skip foreign-key checks: session_replication_role needs a superuser, or (PostgreSQL
-- 15+) GRANT SET ON PARAMETER session_replication_role; a managed service's admin role usually has neither.
-- name: seed.may_skip_triggers --
SELECT coalesce((SELECT rolsuper FROM pg_roles WHERE rolname = current_user), false)
       OR has_parameter_privilege('session_replication_role', 'SET') AS may_skip

-- For the rest of the transaction, fire no triggers: neither the counter triggers (recomputed after
-- the load) nor the foreign-key checks (the generator only writes rows whose references exist; the
-- tests check every foreign key after a seed).
-- name: seed.skip_triggers --
-- kind: maintenance
SELECT set_config('session_replication_role', 'replica', true) AS session_replication_role

-- The tables whose secondary indexes seed.drop_secondary_indexes drops (comma-separated names).
-- name: seed.index_tables --
-- kind: maintenance
SELECT set_config('venuepulse.seed_tables', %(tables)s, true) AS tables

-- Before a bulk load: remember and drop the indexes of the venuepulse.seed_tables tables that back no
-- constraint (a partitioned table's index with its partitions' indexes).  seed.restore_indexes rebuilds
-- them in the same transaction: one sorted build per index is far faster than inserting row by row.
-- Names come from the catalog only.
-- name: seed.drop_secondary_indexes --
-- kind: maintenance
DO $$
DECLARE
  r record;
BEGIN
  CREATE TEMP TABLE IF NOT EXISTS vp_seed_dropped_indexes (name text, def text) ON COMMIT DROP;
  FOR r IN
    SELECT i.relname AS name, pg_get_indexdef(i.oid) AS def
    FROM unnest(string_to_array(current_setting('venuepulse.seed_tables'), ',')) AS t(name)
    JOIN pg_class c ON c.oid = to_regclass(format('public.%%I', t.name))
    JOIN pg_index x ON x.indrelid = c.oid
    JOIN pg_class i ON i.oid = x.indexrelid
    WHERE NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.oid AND k.conrelid = c.oid)
  LOOP
    INSERT INTO vp_seed_dropped_indexes (name, def) VALUES (r.name, r.def);
    EXECUTE format('DROP INDEX public.%%I', r.name);
  END LOOP;
END
$$

-- name: seed.restore_indexes --
-- kind: maintenance
DO $$
DECLARE
  r record;
BEGIN
  PERFORM set_config('maintenance_work_mem', '256MB', true);
  FOR r IN SELECT def FROM vp_seed_dropped_indexes LOOP
    EXECUTE replace(r.def, ' ON ONLY ', ' ON ');
  END LOOP;
  DELETE FROM vp_seed_dropped_indexes;
END
$$
