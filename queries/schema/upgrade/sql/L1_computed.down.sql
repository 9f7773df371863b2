-- Reverses phase 1: the database is the legacy baseline again (its data untouched).
DROP TRIGGER IF EXISTS vp_upgrade_guard_offer_counters ON flash_offers;
DROP TRIGGER IF EXISTS vp_upgrade_offer_events_counters ON flash_offer_events;
DROP TRIGGER IF EXISTS vp_upgrade_claims_counters ON flash_offer_claims;
DROP TRIGGER IF EXISTS vp_upgrade_check_ins_counters_upd ON check_ins;
DROP TRIGGER IF EXISTS vp_upgrade_check_ins_counters ON check_ins;
DROP FUNCTION IF EXISTS vp_upgrade_guard_offer_counters();
DROP FUNCTION IF EXISTS vp_upgrade_offer_rows_changed();
DROP FUNCTION IF EXISTS vp_upgrade_offer_recount(uuid);
DROP FUNCTION IF EXISTS vp_upgrade_check_ins_counters();

DROP VIEW IF EXISTS partition_inventory;
DROP FUNCTION IF EXISTS vp_ensure_partitions(text, timestamptz, timestamptz);
DROP FUNCTION IF EXISTS vp_ensure_partition(text, timestamptz);
DROP FUNCTION IF EXISTS vp_partition_name(text, text, timestamptz);
DROP TABLE IF EXISTS partition_policies;
DROP TABLE IF EXISTS job_runs;
DROP TABLE IF EXISTS query_performance_log;

DROP FUNCTION IF EXISTS refresh_venue_stats();
DROP MATERIALIZED VIEW IF EXISTS venue_stats;

DROP INDEX IF EXISTS idx_flash_offers_push_due;
ALTER TABLE flash_offer_claims DROP COLUMN IF EXISTS redeemed_by_user_id;
ALTER TABLE flash_offers
  DROP CONSTRAINT IF EXISTS flash_offers_never_over,
  DROP CONSTRAINT IF EXISTS flash_offers_redeemed_le_claimed,
  DROP CONSTRAINT IF EXISTS flash_offers_push_pair,
  DROP COLUMN IF EXISTS redeemed_count,
  DROP COLUMN IF EXISTS view_count,
  DROP COLUMN IF EXISTS click_count,
  DROP COLUMN IF EXISTS push_sent,
  DROP COLUMN IF EXISTS push_sent_at,
  DROP COLUMN IF EXISTS push_recipient_count;
ALTER TABLE venues
  DROP CONSTRAINT IF EXISTS venues_active_le_total,
  DROP COLUMN IF EXISTS active_check_in_count,
  DROP COLUMN IF EXISTS total_check_in_count,
  DROP COLUMN IF EXISTS last_check_in_at;
ALTER TABLE users DROP CONSTRAINT IF EXISTS users_timezone_check;

DROP FUNCTION IF EXISTS vp_triggers_paused();
DROP FUNCTION IF EXISTS vp_distance_miles(double precision, double precision, double precision, double precision);
DROP FUNCTION IF EXISTS vp_is_valid_privacy(jsonb);
DROP FUNCTION IF EXISTS vp_is_visibility(text);
DROP FUNCTION IF EXISTS vp_is_valid_timezone(text);
DROP TABLE IF EXISTS venuepulse_upgrade_progress;
