-- Phase 1 (non-breaking): computed columns, their triggers, the materialized view, monitoring tables.
-- Runs after 0001's helper functions, venue_stats and refresh_venue_stats (taken from 0001's text).
-- Constraints are added NOT VALID (no table scan under a strong lock); they are enforced for every new
-- write at once and validated in phase 2, after the batched backfill has set the real numbers.

ALTER TABLE users ADD CONSTRAINT users_timezone_check CHECK (vp_is_valid_timezone(timezone)) NOT VALID;

ALTER TABLE venues
  ADD COLUMN active_check_in_count integer NOT NULL DEFAULT 0,
  ADD COLUMN total_check_in_count  integer NOT NULL DEFAULT 0,
  ADD COLUMN last_check_in_at      timestamptz;
ALTER TABLE venues ADD CONSTRAINT venues_active_check_in_count_check CHECK (active_check_in_count >= 0) NOT VALID;
ALTER TABLE venues ADD CONSTRAINT venues_total_check_in_count_check CHECK (total_check_in_count >= 0) NOT VALID;
ALTER TABLE venues ADD CONSTRAINT venues_active_le_total
  CHECK (active_check_in_count <= total_check_in_count) NOT VALID;

ALTER TABLE flash_offers
  ADD COLUMN redeemed_count       integer NOT NULL DEFAULT 0,
  ADD COLUMN view_count           integer NOT NULL DEFAULT 0,
  ADD COLUMN click_count          integer NOT NULL DEFAULT 0,
  ADD COLUMN push_sent            boolean NOT NULL DEFAULT false,
  ADD COLUMN push_sent_at         timestamptz,
  ADD COLUMN push_recipient_count integer NOT NULL DEFAULT 0;
ALTER TABLE flash_offers ADD CONSTRAINT flash_offers_redeemed_count_check CHECK (redeemed_count >= 0) NOT VALID;
ALTER TABLE flash_offers ADD CONSTRAINT flash_offers_view_count_check CHECK (view_count >= 0) NOT VALID;
ALTER TABLE flash_offers ADD CONSTRAINT flash_offers_click_count_check CHECK (click_count >= 0) NOT VALID;
ALTER TABLE flash_offers ADD CONSTRAINT flash_offers_push_recipient_count_check
  CHECK (push_recipient_count >= 0) NOT VALID;
ALTER TABLE flash_offers ADD CONSTRAINT flash_offers_never_over CHECK (claimed_count <= max_claims) NOT VALID;
ALTER TABLE flash_offers ADD CONSTRAINT flash_offers_redeemed_le_claimed
  CHECK (redeemed_count <= claimed_count) NOT VALID;
ALTER TABLE flash_offers ADD CONSTRAINT flash_offers_push_pair CHECK (push_sent = (push_sent_at IS NOT NULL)) NOT VALID;
CREATE INDEX idx_flash_offers_push_due ON flash_offers (start_time) WHERE NOT push_sent;

ALTER TABLE flash_offer_claims ADD COLUMN redeemed_by_user_id uuid;
ALTER TABLE flash_offer_claims ADD CONSTRAINT flash_offer_claims_redeemed_by_user_id_fkey
  FOREIGN KEY (redeemed_by_user_id) REFERENCES users(id) ON DELETE SET NULL NOT VALID;

-- The legacy app still writes claimed_count itself; from now on the counters belong to the triggers
-- (and the upgrade's backfill), so the app's own writes to them are ignored.
CREATE FUNCTION vp_upgrade_guard_offer_counters() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF pg_trigger_depth() = 1 AND coalesce(current_setting('venuepulse.upgrade_backfill', true), '') <> 'on' THEN
    NEW.claimed_count := OLD.claimed_count;
    NEW.redeemed_count := OLD.redeemed_count;
    NEW.view_count := OLD.view_count;
    NEW.click_count := OLD.click_count;
  END IF;
  RETURN NEW;
END;
$$;
CREATE TRIGGER vp_upgrade_guard_offer_counters
BEFORE UPDATE OF claimed_count, redeemed_count, view_count, click_count ON flash_offers
FOR EACH ROW EXECUTE FUNCTION vp_upgrade_guard_offer_counters();

-- ---------------------------------------------------------------------------------------------------
-- Monitoring (VenuePulse's own tables) and partition maintenance; check_ins and event_stream join the
-- partition policies in phase 4, once they are partitioned.
-- ---------------------------------------------------------------------------------------------------

INSERT INTO partition_policies (parent_table, partition_key, period, ahead, retention) VALUES
  ('query_performance_log', 'created_at', 'day', 7, interval '30 days');
SELECT vp_ensure_partitions('query_performance_log', now() - interval '1 day', now() + interval '7 days');
