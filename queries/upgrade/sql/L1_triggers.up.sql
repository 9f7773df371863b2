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

CREATE FUNCTION vp_upgrade_claims_counters() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF vp_triggers_paused() THEN
    RETURN NULL;
  END IF;
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    UPDATE flash_offers SET
      claimed_count = greatest(claimed_count - 1, 0),
      redeemed_count = least(greatest(redeemed_count - CASE WHEN OLD.status = 'redeemed' THEN 1 ELSE 0 END, 0),
                             greatest(claimed_count - 1, 0))
    WHERE id = OLD.offer_id;
  END IF;
  IF TG_OP IN ('UPDATE', 'INSERT') THEN
    UPDATE flash_offers SET
      claimed_count = least(claimed_count + 1, max_claims),
      redeemed_count = least(redeemed_count + CASE WHEN NEW.status = 'redeemed' THEN 1 ELSE 0 END,
                             least(claimed_count + 1, max_claims))
    WHERE id = NEW.offer_id;
  END IF;
  RETURN NULL;
END;
$$;
CREATE TRIGGER vp_upgrade_claims_counters
AFTER INSERT OR DELETE ON flash_offer_claims FOR EACH ROW EXECUTE FUNCTION vp_upgrade_claims_counters();
CREATE TRIGGER vp_upgrade_claims_counters_upd
AFTER UPDATE OF offer_id, status ON flash_offer_claims
FOR EACH ROW EXECUTE FUNCTION vp_upgrade_claims_counters();

CREATE FUNCTION vp_upgrade_offer_events_counters() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF vp_triggers_paused() THEN
    RETURN NULL;
  END IF;
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    UPDATE flash_offers SET
      view_count = greatest(view_count - CASE WHEN OLD.event_type = 'view' THEN 1 ELSE 0 END, 0),
      click_count = greatest(click_count - CASE WHEN OLD.event_type = 'click' THEN 1 ELSE 0 END, 0)
    WHERE id = OLD.offer_id;
  END IF;
  IF TG_OP IN ('UPDATE', 'INSERT') THEN
    UPDATE flash_offers SET
      view_count = view_count + CASE WHEN NEW.event_type = 'view' THEN 1 ELSE 0 END,
      click_count = click_count + CASE WHEN NEW.event_type = 'click' THEN 1 ELSE 0 END
    WHERE id = NEW.offer_id;
  END IF;
  RETURN NULL;
END;
$$;
CREATE TRIGGER vp_upgrade_offer_events_counters
AFTER INSERT OR UPDATE OR DELETE ON flash_offer_events
FOR EACH ROW EXECUTE FUNCTION vp_upgrade_offer_events_counters();

