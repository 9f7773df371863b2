-- Reverses 0006_write_path.up.sql: the row-level triggers of revision 0001, exactly as it made them, and
-- the venue counters back in venues' columns (filled from the recount).

DROP TRIGGER trigger_check_ins_inserted ON check_ins;
DROP TRIGGER trigger_check_ins_updated ON check_ins;
DROP TRIGGER trigger_check_ins_deleted ON check_ins;
DROP TRIGGER trigger_reviews_inserted ON reviews;
DROP TRIGGER trigger_reviews_updated ON reviews;
DROP TRIGGER trigger_reviews_deleted ON reviews;
DROP TRIGGER trigger_favorites_inserted ON favorites;
DROP TRIGGER trigger_favorites_updated ON favorites;
DROP TRIGGER trigger_favorites_deleted ON favorites;
DROP TRIGGER trigger_collection_venues_inserted ON collection_venues;
DROP TRIGGER trigger_collection_venues_updated ON collection_venues;
DROP TRIGGER trigger_collection_venues_deleted ON collection_venues;
DROP TRIGGER trigger_collections_owner_changed ON collections;
DROP TRIGGER trigger_claims_inserted ON flash_offer_claims;
DROP TRIGGER trigger_claims_updated ON flash_offer_claims;
DROP TRIGGER trigger_claims_deleted ON flash_offer_claims;
DROP TRIGGER trigger_offers_venue_changed ON flash_offers;
DROP TRIGGER trigger_event_stream_inserted ON event_stream;
DROP TRIGGER trigger_event_stream_updated ON event_stream;
DROP TRIGGER trigger_event_stream_deleted ON event_stream;
DROP FUNCTION vp_check_ins_statement();
DROP FUNCTION vp_reviews_statement();
DROP FUNCTION vp_favorites_statement();
DROP FUNCTION vp_collection_venues_statement();
DROP FUNCTION vp_collections_owner_changed();
DROP FUNCTION vp_claims_statement();
DROP FUNCTION vp_offers_venue_changed();
DROP FUNCTION vp_event_stream_statement();
DROP FUNCTION vp_pairs_apply(vp_pair_change[], boolean);
DROP TYPE vp_pair_change;

-- Venue counters back into venues' columns.
DROP FUNCTION total_check_in_count(venues);
DROP FUNCTION active_check_in_count(venues);
DROP FUNCTION last_check_in_at(venues);
ALTER TABLE venues
  ADD COLUMN active_check_in_count integer NOT NULL DEFAULT 0 CHECK (active_check_in_count >= 0),
  ADD COLUMN total_check_in_count  integer NOT NULL DEFAULT 0 CHECK (total_check_in_count >= 0),
  ADD COLUMN last_check_in_at      timestamptz;
UPDATE venues v SET active_check_in_count = e.active_check_in_count,
                    total_check_in_count = e.total_check_in_count,
                    last_check_in_at = e.last_check_in_at
FROM venue_counters_expected e
WHERE e.venue_id = v.id AND (e.total_check_in_count <> 0 OR e.last_check_in_at IS NOT NULL);
ALTER TABLE venues ADD CONSTRAINT venues_active_le_total CHECK (active_check_in_count <= total_check_in_count);
DROP TABLE venue_counter_shards;
DROP FUNCTION vp_counter_shard();
DROP INDEX idx_check_ins_venue_active;

-- Recounts one (user, venue) pair into venue_interactions; deletes the row when nothing is left.
-- Callers hold the pair's advisory lock, so the recount sees every committed change to the pair.
CREATE OR REPLACE FUNCTION vp_sync_interaction(p_user uuid, p_venue uuid) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  r record;
BEGIN
  IF p_user IS NULL OR p_venue IS NULL THEN
    RETURN;
  END IF;
  PERFORM pg_advisory_xact_lock(hashtextextended(p_user::text || '/' || p_venue::text, 7));
  SELECT
    (SELECT count(*) FROM check_ins WHERE user_id = p_user AND venue_id = p_venue)::integer AS ci_n,
    (SELECT max(checked_in_at) FROM check_ins WHERE user_id = p_user AND venue_id = p_venue) AS ci_last,
    (SELECT min(checked_in_at) FROM check_ins WHERE user_id = p_user AND venue_id = p_venue) AS ci_first,
    (SELECT created_at FROM reviews WHERE user_id = p_user AND venue_id = p_venue) AS rv_at,
    (SELECT rating FROM reviews WHERE user_id = p_user AND venue_id = p_venue)::integer AS rv_rating,
    (SELECT created_at FROM favorites WHERE user_id = p_user AND venue_id = p_venue) AS fv_at,
    (SELECT count(*) FROM collection_venues cv JOIN collections c ON c.id = cv.collection_id
      WHERE c.user_id = p_user AND cv.venue_id = p_venue)::integer AS co_n,
    (SELECT min(cv.added_at) FROM collection_venues cv JOIN collections c ON c.id = cv.collection_id
      WHERE c.user_id = p_user AND cv.venue_id = p_venue) AS co_first,
    (SELECT max(cv.added_at) FROM collection_venues cv JOIN collections c ON c.id = cv.collection_id
      WHERE c.user_id = p_user AND cv.venue_id = p_venue) AS co_last,
    (SELECT count(*) FROM flash_offer_claims fc JOIN flash_offers o ON o.id = fc.offer_id
      WHERE fc.user_id = p_user AND o.venue_id = p_venue)::integer AS cl_n,
    (SELECT min(fc.created_at) FROM flash_offer_claims fc JOIN flash_offers o ON o.id = fc.offer_id
      WHERE fc.user_id = p_user AND o.venue_id = p_venue) AS cl_first,
    (SELECT max(fc.created_at) FROM flash_offer_claims fc JOIN flash_offers o ON o.id = fc.offer_id
      WHERE fc.user_id = p_user AND o.venue_id = p_venue) AS cl_last
  INTO r;

  IF r.ci_n = 0 AND r.rv_at IS NULL AND r.fv_at IS NULL AND r.co_n = 0 AND r.cl_n = 0
     OR NOT EXISTS (SELECT 1 FROM users WHERE id = p_user)
     OR NOT EXISTS (SELECT 1 FROM venues WHERE id = p_venue) THEN
    DELETE FROM venue_interactions WHERE user_id = p_user AND venue_id = p_venue;
    RETURN;
  END IF;

  INSERT INTO venue_interactions AS vi (
    user_id, venue_id, check_in_count, last_check_in_at, review_count, last_review_at, current_rating,
    is_favorited, favorited_at, collection_count, flash_offer_claim_count, last_claim_at,
    first_interaction_at, last_interaction_at)
  VALUES (
    p_user, p_venue, r.ci_n, r.ci_last, CASE WHEN r.rv_at IS NULL THEN 0 ELSE 1 END, r.rv_at, r.rv_rating,
    r.fv_at IS NOT NULL, r.fv_at, r.co_n, r.cl_n, r.cl_last,
    least(r.ci_first, r.rv_at, r.fv_at, r.co_first, r.cl_first),
    greatest(r.ci_last, r.rv_at, r.fv_at, r.co_last, r.cl_last))
  ON CONFLICT (user_id, venue_id) DO UPDATE SET
    check_in_count = EXCLUDED.check_in_count,
    last_check_in_at = EXCLUDED.last_check_in_at,
    review_count = EXCLUDED.review_count,
    last_review_at = EXCLUDED.last_review_at,
    current_rating = EXCLUDED.current_rating,
    is_favorited = EXCLUDED.is_favorited,
    favorited_at = EXCLUDED.favorited_at,
    collection_count = EXCLUDED.collection_count,
    flash_offer_claim_count = EXCLUDED.flash_offer_claim_count,
    last_claim_at = EXCLUDED.last_claim_at,
    first_interaction_at = EXCLUDED.first_interaction_at,
    last_interaction_at = EXCLUDED.last_interaction_at;
END;
$$;

-- Set-based recomputation of every denormalized number (after a bulk load, or to repair drift).
-- Returns how many rows of each kind it changed.
CREATE OR REPLACE FUNCTION vp_recompute_denormalized(
  OUT venues_fixed bigint, OUT offers_fixed bigint,
  OUT interactions_upserted bigint, OUT interactions_deleted bigint)
LANGUAGE plpgsql AS $$
BEGIN
  UPDATE venues v SET active_check_in_count = e.active_check_in_count,
                      total_check_in_count = e.total_check_in_count,
                      last_check_in_at = e.last_check_in_at
  FROM venue_counters_expected e
  WHERE e.venue_id = v.id
    AND (v.active_check_in_count, v.total_check_in_count, v.last_check_in_at)
        IS DISTINCT FROM (e.active_check_in_count, e.total_check_in_count, e.last_check_in_at);
  GET DIAGNOSTICS venues_fixed = ROW_COUNT;

  UPDATE flash_offers o SET claimed_count = e.claimed_count, redeemed_count = e.redeemed_count,
                            view_count = e.view_count, click_count = e.click_count
  FROM flash_offer_counters_expected e
  WHERE e.offer_id = o.id
    AND (o.claimed_count, o.redeemed_count, o.view_count, o.click_count)
        IS DISTINCT FROM (e.claimed_count, e.redeemed_count, e.view_count, e.click_count);
  GET DIAGNOSTICS offers_fixed = ROW_COUNT;

  DELETE FROM venue_interactions vi
  WHERE NOT EXISTS (SELECT 1 FROM venue_interactions_expected e
                    WHERE e.user_id = vi.user_id AND e.venue_id = vi.venue_id);
  GET DIAGNOSTICS interactions_deleted = ROW_COUNT;

  INSERT INTO venue_interactions AS vi (
    user_id, venue_id, check_in_count, last_check_in_at, review_count, last_review_at, current_rating,
    is_favorited, favorited_at, collection_count, flash_offer_claim_count, last_claim_at,
    first_interaction_at, last_interaction_at)
  SELECT user_id, venue_id, check_in_count, last_check_in_at, review_count, last_review_at, current_rating,
         is_favorited, favorited_at, collection_count, flash_offer_claim_count, last_claim_at,
         first_interaction_at, last_interaction_at
  FROM venue_interactions_expected
  ON CONFLICT (user_id, venue_id) DO UPDATE SET
    check_in_count = EXCLUDED.check_in_count,
    last_check_in_at = EXCLUDED.last_check_in_at,
    review_count = EXCLUDED.review_count,
    last_review_at = EXCLUDED.last_review_at,
    current_rating = EXCLUDED.current_rating,
    is_favorited = EXCLUDED.is_favorited,
    favorited_at = EXCLUDED.favorited_at,
    collection_count = EXCLUDED.collection_count,
    flash_offer_claim_count = EXCLUDED.flash_offer_claim_count,
    last_claim_at = EXCLUDED.last_claim_at,
    first_interaction_at = EXCLUDED.first_interaction_at,
    last_interaction_at = EXCLUDED.last_interaction_at
  WHERE (vi.check_in_count, vi.last_check_in_at, vi.review_count, vi.last_review_at, vi.current_rating,
         vi.is_favorited, vi.favorited_at, vi.collection_count, vi.flash_offer_claim_count, vi.last_claim_at,
         vi.first_interaction_at, vi.last_interaction_at)
        IS DISTINCT FROM
        (EXCLUDED.check_in_count, EXCLUDED.last_check_in_at, EXCLUDED.review_count, EXCLUDED.last_review_at,
         EXCLUDED.current_rating, EXCLUDED.is_favorited, EXCLUDED.favorited_at, EXCLUDED.collection_count,
         EXCLUDED.flash_offer_claim_count, EXCLUDED.last_claim_at, EXCLUDED.first_interaction_at,
         EXCLUDED.last_interaction_at);
  GET DIAGNOSTICS interactions_upserted = ROW_COUNT;
END;
$$;

-- Revision 0001's row-level triggers.
-- Venue check-in counters: an UPDATE is the removal of OLD plus the addition of NEW, which covers
-- check-out, re-activation, venue change and time change alike (the review handled only INSERT and
-- active -> inactive, so counters drifted on everything else).
CREATE FUNCTION vp_check_ins_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF vp_triggers_paused() THEN
    RETURN NULL;
  END IF;
  -- Check-out or re-activation at the same venue and time: only the active count moves.
  IF TG_OP = 'UPDATE' AND (OLD.user_id, OLD.venue_id, OLD.checked_in_at)
                          = (NEW.user_id, NEW.venue_id, NEW.checked_in_at) THEN
    IF OLD.is_active <> NEW.is_active THEN
      UPDATE venues SET active_check_in_count = active_check_in_count + CASE WHEN NEW.is_active THEN 1 ELSE -1 END
      WHERE id = NEW.venue_id;
    END IF;
    RETURN NULL;
  END IF;

  -- The pair and the event first: the venue's row lock (taken below, held to commit) is what
  -- serialises check-ins at a busy venue, so it is taken as late as possible.
  IF TG_OP = 'INSERT' THEN
    PERFORM vp_sync_interaction(NEW.user_id, NEW.venue_id);
    INSERT INTO event_stream (event_type, category, user_id, target_type, target_id, venue_id, source_id,
                              visibility, created_at)
    VALUES ('check_in', 'social', NEW.user_id, 'venue', NEW.venue_id, NEW.venue_id, NEW.id,
            vp_visibility_for(NEW.user_id, 'check_ins'), NEW.checked_in_at);
  ELSIF TG_OP = 'DELETE' THEN
    PERFORM vp_sync_interaction(OLD.user_id, OLD.venue_id);
    DELETE FROM event_stream WHERE source_id = OLD.id AND event_type = 'check_in';
  ELSE
    PERFORM vp_sync_interaction(OLD.user_id, OLD.venue_id);
    IF (OLD.user_id, OLD.venue_id) IS DISTINCT FROM (NEW.user_id, NEW.venue_id) THEN
      PERFORM vp_sync_interaction(NEW.user_id, NEW.venue_id);
    END IF;
    UPDATE event_stream SET user_id = NEW.user_id, target_id = NEW.venue_id, venue_id = NEW.venue_id
    WHERE source_id = OLD.id AND event_type = 'check_in';
  END IF;

  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    UPDATE venues SET
      total_check_in_count = total_check_in_count - 1,
      active_check_in_count = active_check_in_count - CASE WHEN OLD.is_active THEN 1 ELSE 0 END,
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
CREATE TRIGGER trigger_update_venue_check_in_stats
AFTER INSERT OR DELETE ON check_ins FOR EACH ROW EXECUTE FUNCTION vp_check_ins_changed();
CREATE TRIGGER trigger_update_venue_check_in_stats_upd
AFTER UPDATE OF user_id, venue_id, checked_in_at, is_active ON check_ins
FOR EACH ROW EXECUTE FUNCTION vp_check_ins_changed();

-- Reviews: interactions (count, rating, time) and the review event.
CREATE FUNCTION vp_reviews_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF vp_triggers_paused() THEN
    RETURN NULL;
  END IF;
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    PERFORM vp_sync_interaction(OLD.user_id, OLD.venue_id);
  END IF;
  IF TG_OP IN ('UPDATE', 'INSERT') THEN
    PERFORM vp_sync_interaction(NEW.user_id, NEW.venue_id);
  END IF;
  IF TG_OP = 'INSERT' THEN
    INSERT INTO event_stream (event_type, category, user_id, target_type, target_id, venue_id, source_id,
                              visibility, metadata, created_at)
    VALUES ('review', 'social', NEW.user_id, 'venue', NEW.venue_id, NEW.venue_id, NEW.id,
            vp_visibility_for(NEW.user_id, 'reviews'), jsonb_build_object('rating', NEW.rating),
            NEW.created_at);
  ELSIF TG_OP = 'DELETE' THEN
    DELETE FROM event_stream WHERE source_id = OLD.id AND event_type = 'review';
  ELSIF (OLD.user_id, OLD.venue_id, OLD.rating) IS DISTINCT FROM (NEW.user_id, NEW.venue_id, NEW.rating) THEN
    UPDATE event_stream SET user_id = NEW.user_id, target_id = NEW.venue_id, venue_id = NEW.venue_id,
                            metadata = metadata || jsonb_build_object('rating', NEW.rating)
    WHERE source_id = OLD.id AND event_type = 'review';
  END IF;
  RETURN NULL;
END;
$$;
CREATE TRIGGER trigger_reviews_changed
AFTER INSERT OR DELETE ON reviews FOR EACH ROW EXECUTE FUNCTION vp_reviews_changed();
CREATE TRIGGER trigger_reviews_changed_upd
AFTER UPDATE OF user_id, venue_id, rating, created_at ON reviews
FOR EACH ROW EXECUTE FUNCTION vp_reviews_changed();

CREATE FUNCTION vp_favorites_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF vp_triggers_paused() THEN
    RETURN NULL;
  END IF;
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    PERFORM vp_sync_interaction(OLD.user_id, OLD.venue_id);
    DELETE FROM event_stream
    WHERE source_id = vp_favorite_source_id(OLD.user_id, OLD.venue_id) AND event_type = 'favorite';
  END IF;
  IF TG_OP IN ('UPDATE', 'INSERT') THEN
    PERFORM vp_sync_interaction(NEW.user_id, NEW.venue_id);
    INSERT INTO event_stream (event_type, category, user_id, target_type, target_id, venue_id, source_id,
                              visibility, created_at)
    VALUES ('favorite', 'engagement', NEW.user_id, 'venue', NEW.venue_id, NEW.venue_id,
            vp_favorite_source_id(NEW.user_id, NEW.venue_id), vp_visibility_for(NEW.user_id, 'favorites'),
            NEW.created_at);
  END IF;
  RETURN NULL;
END;
$$;
CREATE TRIGGER trigger_favorites_changed
AFTER INSERT OR UPDATE OR DELETE ON favorites FOR EACH ROW EXECUTE FUNCTION vp_favorites_changed();

-- Collection entries count for the collection owner's pair with the venue.
CREATE FUNCTION vp_collection_venues_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF vp_triggers_paused() THEN
    RETURN NULL;
  END IF;
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    PERFORM vp_sync_interaction((SELECT user_id FROM collections WHERE id = OLD.collection_id), OLD.venue_id);
  END IF;
  IF TG_OP IN ('UPDATE', 'INSERT') THEN
    PERFORM vp_sync_interaction((SELECT user_id FROM collections WHERE id = NEW.collection_id), NEW.venue_id);
  END IF;
  RETURN NULL;
END;
$$;
CREATE TRIGGER trigger_collection_venues_changed
AFTER INSERT OR UPDATE OR DELETE ON collection_venues
FOR EACH ROW EXECUTE FUNCTION vp_collection_venues_changed();

-- A collection changing hands moves its entries between the two owners' pairs.
CREATE FUNCTION vp_collections_owner_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  v uuid;
BEGIN
  IF vp_triggers_paused() THEN
    RETURN NULL;
  END IF;
  FOR v IN SELECT venue_id FROM collection_venues WHERE collection_id = NEW.id LOOP
    PERFORM vp_sync_interaction(OLD.user_id, v);
    PERFORM vp_sync_interaction(NEW.user_id, v);
  END LOOP;
  RETURN NULL;
END;
$$;
CREATE TRIGGER trigger_collections_owner_changed
AFTER UPDATE OF user_id ON collections FOR EACH ROW
WHEN (OLD.user_id IS DISTINCT FROM NEW.user_id) EXECUTE FUNCTION vp_collections_owner_changed();

-- Claims: the offer's claimed/redeemed counts, the pair's claim count, claim and redeem events.
CREATE FUNCTION vp_claims_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  v_venue uuid;
BEGIN
  IF vp_triggers_paused() THEN
    RETURN NULL;
  END IF;
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    UPDATE flash_offers SET
      claimed_count = claimed_count - 1,
      redeemed_count = redeemed_count - CASE WHEN OLD.status = 'redeemed' THEN 1 ELSE 0 END
    WHERE id = OLD.offer_id
      AND id::text IS DISTINCT FROM nullif(current_setting('venuepulse.deleting_offer', true), '');
  END IF;
  IF TG_OP IN ('UPDATE', 'INSERT') THEN
    UPDATE flash_offers SET
      claimed_count = claimed_count + 1,
      redeemed_count = redeemed_count + CASE WHEN NEW.status = 'redeemed' THEN 1 ELSE 0 END
    WHERE id = NEW.offer_id;
  END IF;

  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    PERFORM vp_sync_interaction(OLD.user_id, (SELECT venue_id FROM flash_offers WHERE id = OLD.offer_id));
  END IF;
  IF TG_OP IN ('UPDATE', 'INSERT') THEN
    SELECT venue_id INTO v_venue FROM flash_offers WHERE id = NEW.offer_id;
    PERFORM vp_sync_interaction(NEW.user_id, v_venue);
  END IF;

  IF TG_OP = 'INSERT' THEN
    INSERT INTO event_stream (event_type, category, user_id, target_type, target_id, venue_id, source_id,
                              visibility, is_analytics_event, created_at)
    VALUES ('flash_offer_claim', 'commerce', NEW.user_id, 'offer', NEW.offer_id, v_venue, NEW.id,
            'private', true, NEW.created_at);
    IF NEW.status = 'redeemed' THEN
      INSERT INTO event_stream (event_type, category, user_id, target_type, target_id, venue_id, source_id,
                                visibility, is_analytics_event, created_at)
      VALUES ('flash_offer_redeem', 'commerce', NEW.user_id, 'offer', NEW.offer_id, v_venue, NEW.id,
              'private', true, NEW.redeemed_at);
    END IF;
  ELSIF TG_OP = 'DELETE' THEN
    DELETE FROM event_stream
    WHERE source_id = OLD.id AND event_type IN ('flash_offer_claim', 'flash_offer_redeem');
  ELSE
    IF OLD.status = 'redeemed' AND NEW.status <> 'redeemed' THEN
      DELETE FROM event_stream WHERE source_id = OLD.id AND event_type = 'flash_offer_redeem';
    ELSIF NEW.status = 'redeemed' AND OLD.status <> 'redeemed' THEN
      INSERT INTO event_stream (event_type, category, user_id, target_type, target_id, venue_id, source_id,
                                visibility, is_analytics_event, metadata, created_at)
      VALUES ('flash_offer_redeem', 'commerce', NEW.user_id, 'offer', NEW.offer_id, v_venue, NEW.id,
              'private', true, jsonb_build_object('staff_id', NEW.redeemed_by_user_id), NEW.redeemed_at);
    END IF;
  END IF;
  RETURN NULL;
END;
$$;
CREATE TRIGGER trigger_claims_changed
AFTER INSERT OR DELETE ON flash_offer_claims FOR EACH ROW EXECUTE FUNCTION vp_claims_changed();
CREATE TRIGGER trigger_claims_changed_upd
AFTER UPDATE OF offer_id, user_id, status, created_at ON flash_offer_claims
FOR EACH ROW EXECUTE FUNCTION vp_claims_changed();

-- An offer moving to another venue moves its claimers' pairs too.
CREATE FUNCTION vp_offers_venue_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  u uuid;
BEGIN
  IF vp_triggers_paused() THEN
    RETURN NULL;
  END IF;
  FOR u IN SELECT user_id FROM flash_offer_claims WHERE offer_id = NEW.id LOOP
    PERFORM vp_sync_interaction(u, OLD.venue_id);
    PERFORM vp_sync_interaction(u, NEW.venue_id);
  END LOOP;
  UPDATE event_stream SET venue_id = NEW.venue_id WHERE target_type = 'offer' AND target_id = NEW.id;
  RETURN NULL;
END;
$$;
CREATE TRIGGER trigger_offers_venue_changed
AFTER UPDATE OF venue_id ON flash_offers FOR EACH ROW
WHEN (OLD.venue_id IS DISTINCT FROM NEW.venue_id) EXECUTE FUNCTION vp_offers_venue_changed();

-- Offer views and clicks are analytics events; the offer's counters follow them.
CREATE FUNCTION vp_offer_events_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF vp_triggers_paused() THEN
    RETURN NULL;
  END IF;
  IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.is_analytics_event AND OLD.target_type = 'offer' THEN
    UPDATE flash_offers SET
      view_count = view_count - CASE WHEN OLD.event_type = 'flash_offer_view' THEN 1 ELSE 0 END,
      click_count = click_count - CASE WHEN OLD.event_type = 'flash_offer_click' THEN 1 ELSE 0 END
    WHERE id = OLD.target_id AND OLD.event_type IN ('flash_offer_view', 'flash_offer_click');
  END IF;
  IF TG_OP IN ('UPDATE', 'INSERT') AND NEW.is_analytics_event AND NEW.target_type = 'offer' THEN
    UPDATE flash_offers SET
      view_count = view_count + CASE WHEN NEW.event_type = 'flash_offer_view' THEN 1 ELSE 0 END,
      click_count = click_count + CASE WHEN NEW.event_type = 'flash_offer_click' THEN 1 ELSE 0 END
    WHERE id = NEW.target_id AND NEW.event_type IN ('flash_offer_view', 'flash_offer_click');
  END IF;
  RETURN NULL;
END;
$$;
CREATE TRIGGER trigger_offer_events_ins
AFTER INSERT ON event_stream FOR EACH ROW
WHEN (NEW.is_analytics_event AND NEW.event_type IN ('flash_offer_view', 'flash_offer_click'))
EXECUTE FUNCTION vp_offer_events_changed();
CREATE TRIGGER trigger_offer_events_del
AFTER DELETE ON event_stream FOR EACH ROW
WHEN (OLD.is_analytics_event AND OLD.event_type IN ('flash_offer_view', 'flash_offer_click'))
EXECUTE FUNCTION vp_offer_events_changed();
CREATE TRIGGER trigger_offer_events_upd
AFTER UPDATE OF event_type, target_type, target_id, is_analytics_event ON event_stream FOR EACH ROW
WHEN ((OLD.is_analytics_event AND OLD.event_type IN ('flash_offer_view', 'flash_offer_click'))
   OR (NEW.is_analytics_event AND NEW.event_type IN ('flash_offer_view', 'flash_offer_click')))
EXECUTE FUNCTION vp_offer_events_changed();
