-- ---------------------------------------------------------------------------------------------------
-- Interim counter triggers.  Until the backfill has reached a row its numbers start from 0, so these
-- clamp instead of going negative (the backfill then sets the recount, and from there on every step is
-- exact).  Phase 2 replaces them with 0001's triggers.
-- ---------------------------------------------------------------------------------------------------

CREATE FUNCTION vp_upgrade_check_ins_counters() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF vp_triggers_paused() THEN
    RETURN NULL;
  END IF;
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    UPDATE venues SET
      total_check_in_count = greatest(total_check_in_count - 1, 0),
      active_check_in_count = least(greatest(active_check_in_count - CASE WHEN OLD.is_active THEN 1 ELSE 0 END, 0),
                                    greatest(total_check_in_count - 1, 0)),
      last_check_in_at = CASE
        WHEN last_check_in_at IS NULL OR OLD.checked_in_at < last_check_in_at THEN last_check_in_at
        ELSE (SELECT max(checked_in_at) FROM check_ins WHERE venue_id = OLD.venue_id) END
    WHERE id = OLD.venue_id;
  END IF;
  IF TG_OP IN ('UPDATE', 'INSERT') THEN
    UPDATE venues SET
      total_check_in_count = total_check_in_count + 1,
      active_check_in_count = active_check_in_count + CASE WHEN NEW.is_active THEN 1 ELSE 0 END,
      last_check_in_at = CASE
        WHEN TG_OP = 'UPDATE' AND OLD.venue_id = NEW.venue_id
          THEN (SELECT max(checked_in_at) FROM check_ins WHERE venue_id = NEW.venue_id)
        ELSE greatest(last_check_in_at, NEW.checked_in_at) END
    WHERE id = NEW.venue_id;
  END IF;
  RETURN NULL;
END;
$$;
CREATE TRIGGER vp_upgrade_check_ins_counters
AFTER INSERT OR DELETE ON check_ins FOR EACH ROW EXECUTE FUNCTION vp_upgrade_check_ins_counters();
CREATE TRIGGER vp_upgrade_check_ins_counters_upd
AFTER UPDATE OF venue_id, checked_in_at, is_active ON check_ins
FOR EACH ROW EXECUTE FUNCTION vp_upgrade_check_ins_counters();

-- An offer's counters are recounted from its rows (few per offer) after locking the offer, so the
-- recount sees every claim and event committed before it, and later ones recount again.  An offer the
-- legacy claim race took past max_claims gets max_claims raised to its real number of claims, so the
-- "never over" check holds without refusing the legacy app's claim.
CREATE FUNCTION vp_upgrade_offer_recount(p_offer uuid) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  IF p_offer IS NULL THEN
    RETURN;
  END IF;
  PERFORM 1 FROM flash_offers WHERE id = p_offer FOR UPDATE;
  UPDATE flash_offers o SET
    claimed_count = c.claimed, redeemed_count = c.redeemed, max_claims = greatest(o.max_claims, c.claimed),
    view_count = c.views, click_count = c.clicks
  FROM (SELECT (SELECT count(*) FROM flash_offer_claims WHERE offer_id = p_offer)::integer AS claimed,
               (SELECT count(*) FROM flash_offer_claims
                 WHERE offer_id = p_offer AND status = 'redeemed')::integer AS redeemed,
               (SELECT count(*) FROM flash_offer_events
                 WHERE offer_id = p_offer AND event_type = 'view')::integer AS views,
               (SELECT count(*) FROM flash_offer_events
                 WHERE offer_id = p_offer AND event_type = 'click')::integer AS clicks) c
  WHERE o.id = p_offer;
END;
$$;

CREATE FUNCTION vp_upgrade_offer_rows_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF vp_triggers_paused() THEN
    RETURN NULL;
  END IF;
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    PERFORM vp_upgrade_offer_recount(OLD.offer_id);
  END IF;
  IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND NEW.offer_id IS DISTINCT FROM OLD.offer_id) THEN
    PERFORM vp_upgrade_offer_recount(NEW.offer_id);
  END IF;
  RETURN NULL;
END;
$$;
CREATE TRIGGER vp_upgrade_claims_counters
AFTER INSERT OR UPDATE OR DELETE ON flash_offer_claims
FOR EACH ROW EXECUTE FUNCTION vp_upgrade_offer_rows_changed();
CREATE TRIGGER vp_upgrade_offer_events_counters
AFTER INSERT OR UPDATE OR DELETE ON flash_offer_events
FOR EACH ROW EXECUTE FUNCTION vp_upgrade_offer_rows_changed();

