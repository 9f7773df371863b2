-- One statement-level trigger per source table feeds the write path and the rollups' capture (issue 14).
-- See docs/schema.md, "Triggers", and docs/rollups.md, "Capture".
--
-- Revision 0007 captured the rollups' changes with its own statement-level triggers on the six tables
-- that already had the write path's (0006): every statement on them fired two triggers, each reading
-- the transition tables.  Here the capture moves into the write path's trigger functions: one trigger
-- invocation per statement and table reads the transition tables once into the statement's delta and
-- feeds every consumer from it — venue_interactions, venue counter shards, offer counters, event_stream
-- and rollup_log.  The 0007 capture triggers of these six tables and their functions are dropped.
--
-- An UPDATE's delta has two parts: the rows whose counted columns changed (v_removed / v_added, as in
-- 0006) and the rows whose rollup image changed (v_was / v_now: the former plus, e.g., a check-out,
-- a review's verification, a claim's redemption time).  rollup_log gets -1 for each image in v_was and
-- +1 for each in v_now — what 0007's EXCEPT ALL logged, except that a row whose image changes and
-- changes back within one statement cannot happen, and rows swapping images log pairs that cancel.
--
-- Capture is on unless the session says `venuepulse.capture = off` (the bench's with/without-capture
-- comparison, `bench.capture_off`); it pauses with the counters (vp_triggers_paused) as before.
--
-- Less WAL per check-in (measured with pg_waldump; BENCHMARKS.md):
-- - idx_check_ins_id (id) duplicated check_ins' primary key (id, checked_in_at), whose leading column
--   serves every lookup by id; each check-in paid for it twice (the new row and the previous
--   check-in's new version);
-- - an existing pair and venue shard are UPDATEd, then what was not there is inserted with ON CONFLICT
--   DO UPDATE: the upsert alone locks an existing row before updating it (a heap LOCK record each).

-- Nobody writes these tables while their triggers are swapped (the swap is one transaction anyway).
LOCK TABLE check_ins, reviews, favorites, collection_venues, flash_offer_claims, event_stream
  IN SHARE ROW EXCLUSIVE MODE;

DROP TRIGGER vp_capture_check_ins_ins ON check_ins;
DROP TRIGGER vp_capture_check_ins_upd ON check_ins;
DROP TRIGGER vp_capture_check_ins_del ON check_ins;
DROP TRIGGER vp_capture_reviews_ins ON reviews;
DROP TRIGGER vp_capture_reviews_upd ON reviews;
DROP TRIGGER vp_capture_reviews_del ON reviews;
DROP TRIGGER vp_capture_favorites_ins ON favorites;
DROP TRIGGER vp_capture_favorites_upd ON favorites;
DROP TRIGGER vp_capture_favorites_del ON favorites;
DROP TRIGGER vp_capture_collection_venues_ins ON collection_venues;
DROP TRIGGER vp_capture_collection_venues_upd ON collection_venues;
DROP TRIGGER vp_capture_collection_venues_del ON collection_venues;
DROP TRIGGER vp_capture_claims_ins ON flash_offer_claims;
DROP TRIGGER vp_capture_claims_upd ON flash_offer_claims;
DROP TRIGGER vp_capture_claims_del ON flash_offer_claims;
DROP TRIGGER vp_capture_offer_events_ins ON event_stream;
DROP TRIGGER vp_capture_offer_events_upd ON event_stream;
DROP TRIGGER vp_capture_offer_events_del ON event_stream;
DROP FUNCTION vp_capture_check_ins();
DROP FUNCTION vp_capture_reviews();
DROP FUNCTION vp_capture_favorites();
DROP FUNCTION vp_capture_collection_venues();
DROP FUNCTION vp_capture_claims();
DROP FUNCTION vp_capture_offer_events();

DROP INDEX idx_check_ins_id;

-- Whether this statement's changes go to rollup_log (docs/rollups.md): always, unless the session
-- turned capture off to measure what it costs.
CREATE FUNCTION vp_capturing() RETURNS boolean
LANGUAGE sql STABLE AS $$
  SELECT current_setting('venuepulse.capture', true) IS DISTINCT FROM 'off'
$$;

-- venue_interactions: as in 0006, except that an INSERT's pairs are updated or inserted (below).
CREATE OR REPLACE FUNCTION vp_pairs_apply(p_changes vp_pair_change[], p_only_additions boolean DEFAULT false) RETURNS void
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
DECLARE
  v_users  uuid[];
  v_venues uuid[];
BEGIN
  IF p_changes IS NULL OR cardinality(p_changes) = 0 THEN
    RETURN;
  END IF;
  IF p_only_additions THEN  -- an INSERT's changes (the check-in path)
    -- An existing pair is updated in place, a new one inserted.  Not one INSERT ... ON CONFLICT DO
    -- UPDATE: that locks the existing row before updating it, one more WAL record per pair.  A pair a
    -- concurrent transaction inserts after this statement's snapshot is a conflict of the INSERT, and
    -- its ON CONFLICT clause adds to it once that transaction commits.
    WITH c AS MATERIALIZED (
      SELECT c.user_id, c.venue_id,
             count(*) FILTER (WHERE c.source = 'c') AS check_in_count, max(c.at) FILTER (WHERE c.source = 'c') AS last_check_in_at,
             count(*) FILTER (WHERE c.source = 'r') AS review_count, max(c.at) FILTER (WHERE c.source = 'r') AS last_review_at,
             max(c.rating) FILTER (WHERE c.source = 'r') AS current_rating,
             bool_or(c.source = 'f') AS is_favorited, max(c.at) FILTER (WHERE c.source = 'f') AS favorited_at,
             count(*) FILTER (WHERE c.source = 'l') AS collection_count,
             count(*) FILTER (WHERE c.source = 'o') AS flash_offer_claim_count,
             max(c.at) FILTER (WHERE c.source = 'o') AS last_claim_at,
             min(c.at) AS first_interaction_at, max(c.at) AS last_interaction_at
      FROM unnest(p_changes) c
      WHERE c.user_id IS NOT NULL AND c.venue_id IS NOT NULL
      GROUP BY c.user_id, c.venue_id),
    updated AS (
      UPDATE venue_interactions vi SET
        check_in_count = vi.check_in_count + c.check_in_count,
        last_check_in_at = greatest(vi.last_check_in_at, c.last_check_in_at),
        review_count = vi.review_count + c.review_count,
        last_review_at = coalesce(c.last_review_at, vi.last_review_at),
        current_rating = coalesce(c.current_rating, vi.current_rating),
        is_favorited = vi.is_favorited OR c.is_favorited,
        favorited_at = coalesce(c.favorited_at, vi.favorited_at),
        collection_count = vi.collection_count + c.collection_count,
        flash_offer_claim_count = vi.flash_offer_claim_count + c.flash_offer_claim_count,
        last_claim_at = greatest(vi.last_claim_at, c.last_claim_at),
        first_interaction_at = least(vi.first_interaction_at, c.first_interaction_at),
        last_interaction_at = greatest(vi.last_interaction_at, c.last_interaction_at)
      FROM c
      WHERE vi.user_id = c.user_id AND vi.venue_id = c.venue_id
      RETURNING vi.user_id, vi.venue_id)
    INSERT INTO venue_interactions AS vi (
      user_id, venue_id, check_in_count, last_check_in_at, review_count, last_review_at, current_rating,
      is_favorited, favorited_at, collection_count, flash_offer_claim_count, last_claim_at,
      first_interaction_at, last_interaction_at)
    SELECT c.user_id, c.venue_id, c.check_in_count, c.last_check_in_at, c.review_count, c.last_review_at,
           c.current_rating, c.is_favorited, c.favorited_at, c.collection_count, c.flash_offer_claim_count,
           c.last_claim_at, c.first_interaction_at, c.last_interaction_at
    FROM c
    WHERE NOT EXISTS (SELECT 1 FROM updated u WHERE u.user_id = c.user_id AND u.venue_id = c.venue_id)
    ON CONFLICT (user_id, venue_id) DO UPDATE SET
      check_in_count = vi.check_in_count + EXCLUDED.check_in_count,
      last_check_in_at = greatest(vi.last_check_in_at, EXCLUDED.last_check_in_at),
      review_count = vi.review_count + EXCLUDED.review_count,
      last_review_at = coalesce(EXCLUDED.last_review_at, vi.last_review_at),
      current_rating = coalesce(EXCLUDED.current_rating, vi.current_rating),
      is_favorited = vi.is_favorited OR EXCLUDED.is_favorited,
      favorited_at = coalesce(EXCLUDED.favorited_at, vi.favorited_at),
      collection_count = vi.collection_count + EXCLUDED.collection_count,
      flash_offer_claim_count = vi.flash_offer_claim_count + EXCLUDED.flash_offer_claim_count,
      last_claim_at = greatest(vi.last_claim_at, EXCLUDED.last_claim_at),
      first_interaction_at = least(vi.first_interaction_at, EXCLUDED.first_interaction_at),
      last_interaction_at = greatest(vi.last_interaction_at, EXCLUDED.last_interaction_at);
    RETURN;
  END IF;
  WITH a AS MATERIALIZED (
    SELECT c.user_id, c.venue_id,
           bool_or(c.n <= 0) AS general,
           coalesce(sum(c.n) FILTER (WHERE c.source = 'c'), 0)::integer AS ci_n,
           max(c.at) FILTER (WHERE c.source = 'c' AND c.n > 0) AS ci_add_last,
           max(c.at) FILTER (WHERE c.source = 'c' AND c.n < 0) AS ci_rem_last,
           coalesce(sum(c.n) FILTER (WHERE c.source = 'r'), 0)::integer AS rv_n,
           max(c.at) FILTER (WHERE c.source = 'r' AND c.n >= 0) AS rv_at,
           max(c.rating) FILTER (WHERE c.source = 'r' AND c.n >= 0) AS rv_rating,
           coalesce(sum(c.n) FILTER (WHERE c.source = 'f'), 0)::integer AS fv_n,
           max(c.at) FILTER (WHERE c.source = 'f' AND c.n > 0) AS fv_at,
           coalesce(sum(c.n) FILTER (WHERE c.source = 'l'), 0)::integer AS co_n,
           coalesce(sum(c.n) FILTER (WHERE c.source = 'o'), 0)::integer AS cl_n,
           max(c.at) FILTER (WHERE c.source = 'o' AND c.n > 0) AS cl_add_last,
           max(c.at) FILTER (WHERE c.source = 'o' AND c.n < 0) AS cl_rem_last,
           min(c.at) FILTER (WHERE c.n > 0) AS add_first,
           max(c.at) FILTER (WHERE c.n > 0) AS add_last,
           min(c.at) FILTER (WHERE c.n < 0) AS rem_first,
           max(c.at) FILTER (WHERE c.n < 0) AS rem_last
    FROM unnest(p_changes) c
    WHERE c.user_id IS NOT NULL AND c.venue_id IS NOT NULL
    GROUP BY c.user_id, c.venue_id),
  added AS (
    INSERT INTO venue_interactions AS vi (
      user_id, venue_id, check_in_count, last_check_in_at, review_count, last_review_at, current_rating,
      is_favorited, favorited_at, collection_count, flash_offer_claim_count, last_claim_at,
      first_interaction_at, last_interaction_at)
    SELECT a.user_id, a.venue_id, a.ci_n, a.ci_add_last, a.rv_n, a.rv_at, a.rv_rating, a.fv_n > 0, a.fv_at,
           a.co_n, a.cl_n, a.cl_add_last, a.add_first, a.add_last
    FROM a WHERE NOT a.general
    ON CONFLICT (user_id, venue_id) DO UPDATE SET
      check_in_count = vi.check_in_count + EXCLUDED.check_in_count,
      last_check_in_at = greatest(vi.last_check_in_at, EXCLUDED.last_check_in_at),
      review_count = vi.review_count + EXCLUDED.review_count,
      last_review_at = coalesce(EXCLUDED.last_review_at, vi.last_review_at),
      current_rating = coalesce(EXCLUDED.current_rating, vi.current_rating),
      is_favorited = vi.is_favorited OR EXCLUDED.is_favorited,
      favorited_at = coalesce(EXCLUDED.favorited_at, vi.favorited_at),
      collection_count = vi.collection_count + EXCLUDED.collection_count,
      flash_offer_claim_count = vi.flash_offer_claim_count + EXCLUDED.flash_offer_claim_count,
      last_claim_at = greatest(vi.last_claim_at, EXCLUDED.last_claim_at),
      first_interaction_at = least(vi.first_interaction_at, EXCLUDED.first_interaction_at),
      last_interaction_at = greatest(vi.last_interaction_at, EXCLUDED.last_interaction_at)
    RETURNING 1),
  emptied AS (
    DELETE FROM venue_interactions vi USING a
    WHERE a.general AND vi.user_id = a.user_id AND vi.venue_id = a.venue_id
      AND vi.check_in_count + a.ci_n = 0 AND vi.review_count + a.rv_n = 0
      AND vi.is_favorited::integer + a.fv_n = 0 AND vi.collection_count + a.co_n = 0
      AND vi.flash_offer_claim_count + a.cl_n = 0
    RETURNING vi.user_id, vi.venue_id),
  updated AS (
    UPDATE venue_interactions vi SET
      check_in_count = vi.check_in_count + a.ci_n,
      last_check_in_at = CASE WHEN vi.check_in_count + a.ci_n = 0 THEN NULL
                              ELSE greatest(vi.last_check_in_at, a.ci_add_last) END,
      review_count = vi.review_count + a.rv_n,
      last_review_at = CASE WHEN vi.review_count + a.rv_n = 0 THEN NULL ELSE coalesce(a.rv_at, vi.last_review_at) END,
      current_rating = CASE WHEN vi.review_count + a.rv_n = 0 THEN NULL
                            ELSE coalesce(a.rv_rating, vi.current_rating) END,
      is_favorited = vi.is_favorited::integer + a.fv_n > 0,
      favorited_at = CASE WHEN vi.is_favorited::integer + a.fv_n = 0 THEN NULL
                          ELSE coalesce(a.fv_at, vi.favorited_at) END,
      collection_count = vi.collection_count + a.co_n,
      flash_offer_claim_count = vi.flash_offer_claim_count + a.cl_n,
      last_claim_at = CASE WHEN vi.flash_offer_claim_count + a.cl_n = 0 THEN NULL
                           ELSE greatest(vi.last_claim_at, a.cl_add_last) END,
      first_interaction_at = least(vi.first_interaction_at, a.add_first),
      last_interaction_at = greatest(vi.last_interaction_at, a.add_last)
    FROM a
    WHERE a.general AND vi.user_id = a.user_id AND vi.venue_id = a.venue_id
      -- counts stay valid and something is left
      AND vi.check_in_count + a.ci_n >= 0 AND vi.review_count + a.rv_n BETWEEN 0 AND 1
      AND vi.is_favorited::integer + a.fv_n BETWEEN 0 AND 1 AND vi.collection_count + a.co_n >= 0
      AND vi.flash_offer_claim_count + a.cl_n >= 0
      AND vi.check_in_count + a.ci_n + vi.review_count + a.rv_n + vi.is_favorited::integer + a.fv_n
          + vi.collection_count + a.co_n + vi.flash_offer_claim_count + a.cl_n > 0
      -- no removed row can have held the first or last interaction, the last check-in or the last claim
      AND (a.rem_first IS NULL OR (a.rem_first > vi.first_interaction_at AND a.rem_last < vi.last_interaction_at))
      AND (a.ci_rem_last IS NULL OR vi.check_in_count + a.ci_n = 0 OR a.ci_rem_last < vi.last_check_in_at)
      AND (a.cl_rem_last IS NULL OR vi.flash_offer_claim_count + a.cl_n = 0 OR a.cl_rem_last < vi.last_claim_at)
    RETURNING vi.user_id, vi.venue_id)
  SELECT array_agg(a.user_id ORDER BY a.user_id, a.venue_id), array_agg(a.venue_id ORDER BY a.user_id, a.venue_id)
  INTO v_users, v_venues
  FROM a
  WHERE a.general
    AND NOT EXISTS (SELECT 1 FROM emptied e WHERE e.user_id = a.user_id AND e.venue_id = a.venue_id)
    AND NOT EXISTS (SELECT 1 FROM updated u WHERE u.user_id = a.user_id AND u.venue_id = a.venue_id);

  FOR i IN 1 .. coalesce(cardinality(v_users), 0) LOOP
    PERFORM vp_sync_interaction(v_users[i], v_venues[i]);
  END LOOP;
END;
$$;

-- Check-ins: pairs, venue totals, check-in events, rollup images.  Counted: user, venue, time (a
-- check-out changes none); imaged: those plus checked_out_at and is_active (a check-out is -1 active,
-- +1 ended in the log).  A move to another partition changes checked_in_at: removed once, added once.
CREATE OR REPLACE FUNCTION vp_check_ins_statement() RETURNS trigger
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
DECLARE
  v_removed check_ins[];
  v_added   check_ins[];
  v_was     check_ins[];
  v_now     check_ins[];
BEGIN
  IF vp_triggers_paused() THEN
    RETURN NULL;
  END IF;
  IF TG_OP = 'INSERT' THEN
    SELECT array_agg(n) INTO v_added FROM vp_new n;
    v_now := v_added;
  ELSIF TG_OP = 'DELETE' THEN
    SELECT array_agg(o) INTO v_removed FROM vp_old o;
    v_was := v_removed;
  ELSE
    SELECT array_agg(o) FILTER (WHERE o.id IS NOT NULL AND m.counted),
           array_agg(n) FILTER (WHERE n.id IS NOT NULL AND m.counted),
           array_agg(o) FILTER (WHERE o.id IS NOT NULL), array_agg(n) FILTER (WHERE n.id IS NOT NULL)
    INTO v_removed, v_added, v_was, v_now
    FROM vp_old o FULL JOIN vp_new n ON n.id = o.id AND n.checked_in_at = o.checked_in_at
    CROSS JOIN LATERAL (SELECT (o.user_id, o.venue_id) IS DISTINCT FROM (n.user_id, n.venue_id) AS counted) m
    WHERE m.counted OR (o.checked_out_at, o.is_active) IS DISTINCT FROM (n.checked_out_at, n.is_active);
  END IF;
  IF v_was IS NULL AND v_now IS NULL THEN
    RETURN NULL;
  END IF;

  -- consumers
  IF vp_capturing() THEN
    INSERT INTO rollup_log (src, sign, venue_id, user_id, t1, t2, flag)
    SELECT 'c', -1, w.venue_id, w.user_id, w.checked_in_at, w.checked_out_at, w.is_active FROM unnest(v_was) w
    UNION ALL
    SELECT 'c', 1, x.venue_id, x.user_id, x.checked_in_at, x.checked_out_at, x.is_active FROM unnest(v_now) x;
  END IF;
  IF v_removed IS NULL AND v_added IS NULL THEN  -- a check-out: nothing counted changed
    RETURN NULL;
  END IF;
  PERFORM vp_pairs_apply(ARRAY(
    SELECT ROW(r.user_id, r.venue_id, 'c', -1, r.checked_in_at, NULL)::vp_pair_change FROM unnest(v_removed) r
    UNION ALL
    SELECT ROW(a.user_id, a.venue_id, 'c', 1, a.checked_in_at, NULL)::vp_pair_change FROM unnest(v_added) a),
    TG_OP = 'INSERT');
  -- venue totals: each venue's net change into this backend's shard; removals at a venue deleted in this
  -- transaction (a cascade) are skipped, its shards go with it
  -- (an UPDATE first, as for pairs: the upsert alone would lock the shard row before updating it)
  WITH d AS MATERIALIZED (
    SELECT x.venue_id, vp_counter_shard() AS shard, sum(x.n) AS n
    FROM (SELECT r.venue_id, -1 AS n FROM unnest(v_removed) r UNION ALL SELECT a.venue_id, 1 FROM unnest(v_added) a) x
    GROUP BY x.venue_id
    HAVING sum(x.n) > 0 OR (sum(x.n) < 0 AND EXISTS (SELECT 1 FROM venues v WHERE v.id = x.venue_id))),
  updated AS (
    UPDATE venue_counter_shards s SET total_check_ins = s.total_check_ins + d.n
    FROM d WHERE s.venue_id = d.venue_id AND s.shard = d.shard
    RETURNING s.venue_id)
  INSERT INTO venue_counter_shards AS s (venue_id, shard, total_check_ins)
  SELECT d.venue_id, d.shard, d.n FROM d WHERE NOT EXISTS (SELECT 1 FROM updated u WHERE u.venue_id = d.venue_id)
  ON CONFLICT (venue_id, shard) DO UPDATE SET total_check_ins = s.total_check_ins + EXCLUDED.total_check_ins;
  IF TG_OP = 'INSERT' THEN
    INSERT INTO event_stream (event_type, category, user_id, target_type, target_id, venue_id, source_id,
                              visibility, created_at)
    SELECT 'check_in', 'social', a.user_id, 'venue', a.venue_id, a.venue_id, a.id,
           vp_visibility_for(a.user_id, 'check_ins'), a.checked_in_at
    FROM unnest(v_added) a;
  ELSIF TG_OP = 'DELETE' THEN
    DELETE FROM event_stream
    WHERE source_id = ANY (ARRAY(SELECT r.id FROM unnest(v_removed) r)) AND event_type = 'check_in';
  ELSE
    UPDATE event_stream e SET user_id = a.user_id, target_id = a.venue_id, venue_id = a.venue_id
    FROM unnest(v_added) a
    WHERE e.source_id = a.id AND e.event_type = 'check_in'
      AND (e.user_id, e.venue_id) IS DISTINCT FROM (a.user_id, a.venue_id);
  END IF;
  RETURN NULL;
END;
$$;

-- Reviews: pairs (count, rating, time), review events, rollup images.  A rating changed in place is a
-- change of the pair's rating only (n = 0), not a removal; the image adds is_verified.
CREATE OR REPLACE FUNCTION vp_reviews_statement() RETURNS trigger
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
DECLARE
  v_removed reviews[];
  v_added   reviews[];
  v_rerated reviews[];
  v_was     reviews[];
  v_now     reviews[];
BEGIN
  IF vp_triggers_paused() THEN
    RETURN NULL;
  END IF;
  IF TG_OP = 'INSERT' THEN
    SELECT array_agg(n) INTO v_added FROM vp_new n;
    v_now := v_added;
  ELSIF TG_OP = 'DELETE' THEN
    SELECT array_agg(o) INTO v_removed FROM vp_old o;
    v_was := v_removed;
  ELSE
    SELECT array_agg(o) FILTER (WHERE n.id IS NULL OR moved), array_agg(n) FILTER (WHERE o.id IS NULL OR moved),
           array_agg(n) FILTER (WHERE NOT moved AND o.rating <> n.rating),
           array_agg(o) FILTER (WHERE o.id IS NOT NULL), array_agg(n) FILTER (WHERE n.id IS NOT NULL)
    INTO v_removed, v_added, v_rerated, v_was, v_now
    FROM vp_old o FULL JOIN vp_new n ON n.id = o.id
    CROSS JOIN LATERAL (SELECT (o.user_id, o.venue_id, o.created_at) IS DISTINCT FROM (n.user_id, n.venue_id, n.created_at)
                        AS moved) m
    WHERE m.moved OR o.rating <> n.rating OR o.is_verified <> n.is_verified;
  END IF;
  IF v_was IS NULL AND v_now IS NULL THEN
    RETURN NULL;
  END IF;

  -- consumers
  IF vp_capturing() THEN
    INSERT INTO rollup_log (src, sign, venue_id, user_id, t1, flag, n)
    SELECT 'r', -1, w.venue_id, w.user_id, w.created_at, w.is_verified, w.rating FROM unnest(v_was) w
    UNION ALL
    SELECT 'r', 1, x.venue_id, x.user_id, x.created_at, x.is_verified, x.rating FROM unnest(v_now) x;
  END IF;
  IF v_removed IS NULL AND v_added IS NULL AND v_rerated IS NULL THEN  -- verified or unverified only
    RETURN NULL;
  END IF;
  PERFORM vp_pairs_apply(ARRAY(
    SELECT ROW(r.user_id, r.venue_id, 'r', -1, r.created_at, NULL)::vp_pair_change FROM unnest(v_removed) r
    UNION ALL
    SELECT ROW(a.user_id, a.venue_id, 'r', 1, a.created_at, a.rating)::vp_pair_change FROM unnest(v_added) a
    UNION ALL
    SELECT ROW(a.user_id, a.venue_id, 'r', 0, a.created_at, a.rating)::vp_pair_change FROM unnest(v_rerated) a),
    TG_OP = 'INSERT');
  IF TG_OP = 'INSERT' THEN
    INSERT INTO event_stream (event_type, category, user_id, target_type, target_id, venue_id, source_id,
                              visibility, metadata, created_at)
    SELECT 'review', 'social', a.user_id, 'venue', a.venue_id, a.venue_id, a.id,
           vp_visibility_for(a.user_id, 'reviews'), jsonb_build_object('rating', a.rating), a.created_at
    FROM unnest(v_added) a;
  ELSIF TG_OP = 'DELETE' THEN
    DELETE FROM event_stream
    WHERE source_id = ANY (ARRAY(SELECT r.id FROM unnest(v_removed) r)) AND event_type = 'review';
  ELSE
    UPDATE event_stream e SET user_id = a.user_id, target_id = a.venue_id, venue_id = a.venue_id,
                              metadata = e.metadata || jsonb_build_object('rating', a.rating)
    FROM (SELECT * FROM unnest(v_added) UNION ALL SELECT * FROM unnest(v_rerated)) a
    WHERE e.source_id = a.id AND e.event_type = 'review';
  END IF;
  RETURN NULL;
END;
$$;

-- Favorites: pairs, favorite events (keyed by a uuid derived from the pair), rollup images (the
-- counted columns are the image: user, venue, time).
CREATE OR REPLACE FUNCTION vp_favorites_statement() RETURNS trigger
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
DECLARE
  v_removed favorites[];
  v_added   favorites[];
BEGIN
  IF vp_triggers_paused() THEN
    RETURN NULL;
  END IF;
  IF TG_OP = 'INSERT' THEN
    SELECT array_agg(n) INTO v_added FROM vp_new n;
  ELSIF TG_OP = 'DELETE' THEN
    SELECT array_agg(o) INTO v_removed FROM vp_old o;
  ELSE
    SELECT array_agg(o) FILTER (WHERE n.user_id IS NULL), array_agg(n) FILTER (WHERE o.user_id IS NULL)
    INTO v_removed, v_added
    FROM vp_old o FULL JOIN vp_new n
      ON n.user_id = o.user_id AND n.venue_id = o.venue_id AND n.created_at = o.created_at
    WHERE o.user_id IS NULL OR n.user_id IS NULL;
  END IF;
  IF v_removed IS NULL AND v_added IS NULL THEN
    RETURN NULL;
  END IF;

  -- consumers
  IF vp_capturing() THEN
    INSERT INTO rollup_log (src, sign, venue_id, user_id, t1)
    SELECT 'f', -1, r.venue_id, r.user_id, r.created_at FROM unnest(v_removed) r
    UNION ALL
    SELECT 'f', 1, a.venue_id, a.user_id, a.created_at FROM unnest(v_added) a;
  END IF;
  PERFORM vp_pairs_apply(ARRAY(
    SELECT ROW(r.user_id, r.venue_id, 'f', -1, r.created_at, NULL)::vp_pair_change FROM unnest(v_removed) r
    UNION ALL
    SELECT ROW(a.user_id, a.venue_id, 'f', 1, a.created_at, NULL)::vp_pair_change FROM unnest(v_added) a),
    TG_OP = 'INSERT');
  IF v_removed IS NOT NULL THEN
    DELETE FROM event_stream
    WHERE source_id = ANY (ARRAY(SELECT vp_favorite_source_id(r.user_id, r.venue_id) FROM unnest(v_removed) r))
      AND event_type = 'favorite';
  END IF;
  IF v_added IS NOT NULL THEN
    INSERT INTO event_stream (event_type, category, user_id, target_type, target_id, venue_id, source_id,
                              visibility, created_at)
    SELECT 'favorite', 'engagement', a.user_id, 'venue', a.venue_id, a.venue_id,
           vp_favorite_source_id(a.user_id, a.venue_id), vp_visibility_for(a.user_id, 'favorites'), a.created_at
    FROM unnest(v_added) a;
  END IF;
  RETURN NULL;
END;
$$;

-- Collection entries count for the collection owner's pair with the venue; the rollups' image is the
-- venue and the time (an entry moved between collections logs a pair that cancels).
CREATE OR REPLACE FUNCTION vp_collection_venues_statement() RETURNS trigger
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
DECLARE
  v_removed collection_venues[];
  v_added   collection_venues[];
BEGIN
  IF vp_triggers_paused() THEN
    RETURN NULL;
  END IF;
  IF TG_OP = 'INSERT' THEN
    SELECT array_agg(n) INTO v_added FROM vp_new n;
  ELSIF TG_OP = 'DELETE' THEN
    SELECT array_agg(o) INTO v_removed FROM vp_old o;
  ELSE
    SELECT array_agg(o) FILTER (WHERE n.collection_id IS NULL), array_agg(n) FILTER (WHERE o.collection_id IS NULL)
    INTO v_removed, v_added
    FROM vp_old o FULL JOIN vp_new n
      ON n.collection_id = o.collection_id AND n.venue_id = o.venue_id AND n.added_at = o.added_at
    WHERE o.collection_id IS NULL OR n.collection_id IS NULL;
  END IF;
  IF v_removed IS NULL AND v_added IS NULL THEN
    RETURN NULL;
  END IF;

  -- consumers
  IF vp_capturing() THEN
    INSERT INTO rollup_log (src, sign, venue_id, t1)
    SELECT 'l', -1, r.venue_id, r.added_at FROM unnest(v_removed) r
    UNION ALL
    SELECT 'l', 1, a.venue_id, a.added_at FROM unnest(v_added) a;
  END IF;
  PERFORM vp_pairs_apply(ARRAY(
    SELECT ROW(c.user_id, r.venue_id, 'l', -1, r.added_at, NULL)::vp_pair_change
    FROM unnest(v_removed) r JOIN collections c ON c.id = r.collection_id
    UNION ALL
    SELECT ROW(c.user_id, a.venue_id, 'l', 1, a.added_at, NULL)::vp_pair_change
    FROM unnest(v_added) a JOIN collections c ON c.id = a.collection_id),
    TG_OP = 'INSERT');
  RETURN NULL;
END;
$$;

-- Claims: the offer's claimed/redeemed counts, the pair's claim count, claim and redeem events, rollup
-- images.  Counted: offer, user, time, whether redeemed (expiry changes none); imaged: offer, user,
-- time, redemption time, with the venue of the offer (looked up while it exists: deleting an offer
-- deletes its claims first, in vp_offers_deleting).
CREATE OR REPLACE FUNCTION vp_claims_statement() RETURNS trigger
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
DECLARE
  v_removed flash_offer_claims[];
  v_added   flash_offer_claims[];
  v_was     flash_offer_claims[];
  v_now     flash_offer_claims[];
BEGIN
  IF vp_triggers_paused() THEN
    RETURN NULL;
  END IF;
  IF TG_OP = 'INSERT' THEN
    SELECT array_agg(n) INTO v_added FROM vp_new n;
    v_now := v_added;
  ELSIF TG_OP = 'DELETE' THEN
    SELECT array_agg(o) INTO v_removed FROM vp_old o;
    v_was := v_removed;
  ELSE
    SELECT array_agg(o) FILTER (WHERE o.id IS NOT NULL AND m.counted),
           array_agg(n) FILTER (WHERE n.id IS NOT NULL AND m.counted),
           array_agg(o) FILTER (WHERE o.id IS NOT NULL AND m.imaged),
           array_agg(n) FILTER (WHERE n.id IS NOT NULL AND m.imaged)
    INTO v_removed, v_added, v_was, v_now
    FROM vp_old o FULL JOIN vp_new n ON n.id = o.id
    CROSS JOIN LATERAL (
      SELECT (o.offer_id, o.user_id, o.created_at, o.status = 'redeemed')
               IS DISTINCT FROM (n.offer_id, n.user_id, n.created_at, n.status = 'redeemed') AS counted,
             (o.offer_id, o.user_id, o.created_at, o.redeemed_at)
               IS DISTINCT FROM (n.offer_id, n.user_id, n.created_at, n.redeemed_at) AS imaged) m
    WHERE m.counted OR m.imaged;
  END IF;
  IF v_was IS NULL AND v_now IS NULL AND v_removed IS NULL AND v_added IS NULL THEN
    RETURN NULL;
  END IF;

  -- consumers
  IF vp_capturing() AND (v_was IS NOT NULL OR v_now IS NOT NULL) THEN
    INSERT INTO rollup_log (src, sign, venue_id, offer_id, user_id, t1, t2)
    SELECT 'k', x.sign, o.venue_id, x.offer_id, x.user_id, x.created_at, x.redeemed_at
    FROM (SELECT -1 AS sign, w.offer_id, w.user_id, w.created_at, w.redeemed_at FROM unnest(v_was) w
          UNION ALL
          SELECT 1, z.offer_id, z.user_id, z.created_at, z.redeemed_at FROM unnest(v_now) z) x
    LEFT JOIN flash_offers o ON o.id = x.offer_id;
  END IF;
  IF v_removed IS NULL AND v_added IS NULL THEN
    RETURN NULL;
  END IF;
  -- offer counters, except for an offer being deleted (vp_offers_deleting removes its claims first;
  -- updating the row there would make its DELETE fail)
  UPDATE flash_offers o SET claimed_count = o.claimed_count + d.claimed, redeemed_count = o.redeemed_count + d.redeemed
  FROM (SELECT x.offer_id, sum(x.s)::integer AS claimed,
               coalesce(sum(x.s) FILTER (WHERE x.status = 'redeemed'), 0)::integer AS redeemed
        FROM (SELECT r.offer_id, r.status, -1 AS s FROM unnest(v_removed) r
              UNION ALL SELECT a.offer_id, a.status, 1 FROM unnest(v_added) a) x
        GROUP BY x.offer_id) d
  WHERE o.id = d.offer_id AND (d.claimed <> 0 OR d.redeemed <> 0)
    AND o.id::text IS DISTINCT FROM nullif(current_setting('venuepulse.deleting_offer', true), '');
  PERFORM vp_pairs_apply(ARRAY(
    SELECT ROW(r.user_id, o.venue_id, 'o', -1, r.created_at, NULL)::vp_pair_change
    FROM unnest(v_removed) r JOIN flash_offers o ON o.id = r.offer_id
    WHERE (r.id, r.offer_id, r.user_id, r.created_at) NOT IN (SELECT a.id, a.offer_id, a.user_id, a.created_at
                                                             FROM unnest(v_added) a)
    UNION ALL
    SELECT ROW(a.user_id, o.venue_id, 'o', 1, a.created_at, NULL)::vp_pair_change
    FROM unnest(v_added) a JOIN flash_offers o ON o.id = a.offer_id
    WHERE (a.id, a.offer_id, a.user_id, a.created_at) NOT IN (SELECT r.id, r.offer_id, r.user_id, r.created_at
                                                             FROM unnest(v_removed) r)),
    TG_OP = 'INSERT');
  -- events: a claim event per claim, a redeem event while it is redeemed
  DELETE FROM event_stream e
  USING unnest(v_removed) r
  WHERE e.source_id = r.id AND e.event_type IN ('flash_offer_claim', 'flash_offer_redeem')
    AND NOT EXISTS (SELECT 1 FROM unnest(v_added) a WHERE a.id = r.id AND a.status = 'redeemed'
                      AND r.status = 'redeemed' AND e.event_type = 'flash_offer_redeem')
    AND NOT EXISTS (SELECT 1 FROM unnest(v_added) a WHERE a.id = r.id AND e.event_type = 'flash_offer_claim');
  UPDATE event_stream e SET user_id = a.user_id, target_id = a.offer_id, venue_id = o.venue_id
  FROM unnest(v_added) a JOIN flash_offers o ON o.id = a.offer_id
  WHERE e.source_id = a.id AND e.event_type IN ('flash_offer_claim', 'flash_offer_redeem')
    AND (e.user_id, e.target_id, e.venue_id) IS DISTINCT FROM (a.user_id, a.offer_id, o.venue_id);
  INSERT INTO event_stream (event_type, category, user_id, target_type, target_id, venue_id, source_id,
                            visibility, is_analytics_event, metadata, created_at)
  SELECT ev.event_type, 'commerce', a.user_id, 'offer', a.offer_id, o.venue_id, a.id, 'private', true,
         ev.metadata, ev.created_at
  FROM unnest(v_added) a
  JOIN flash_offers o ON o.id = a.offer_id
  CROSS JOIN LATERAL (VALUES ('flash_offer_claim', '{}'::jsonb, a.created_at),
                             ('flash_offer_redeem', CASE WHEN TG_OP = 'UPDATE'
                                                         THEN jsonb_build_object('staff_id', a.redeemed_by_user_id)
                                                         ELSE '{}'::jsonb END, a.redeemed_at))
                     AS ev(event_type, metadata, created_at)
  WHERE (ev.event_type = 'flash_offer_claim' OR a.status = 'redeemed')
    AND NOT EXISTS (SELECT 1 FROM unnest(v_removed) r
                    WHERE r.id = a.id AND (ev.event_type = 'flash_offer_claim' OR r.status = 'redeemed'));
  RETURN NULL;
END;
$$;

-- Offer views and clicks: the offer's counters and rollup images.  Every old row is removed and every
-- new row added for the counters (a move to another partition nets to nothing); the log gets only the
-- images that changed (what 0007's EXCEPT ALL logged).
CREATE OR REPLACE FUNCTION vp_event_stream_statement() RETURNS trigger
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
DECLARE
  v_removed event_stream[];
  v_added   event_stream[];
BEGIN
  IF vp_triggers_paused() THEN
    RETURN NULL;
  END IF;
  -- only offer views and clicks count for anything today
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    SELECT array_agg(o) INTO v_removed FROM vp_old o
    WHERE o.is_analytics_event AND o.target_type = 'offer' AND o.event_type IN ('flash_offer_view', 'flash_offer_click');
  END IF;
  IF TG_OP IN ('UPDATE', 'INSERT') THEN
    SELECT array_agg(n) INTO v_added FROM vp_new n
    WHERE n.is_analytics_event AND n.target_type = 'offer' AND n.event_type IN ('flash_offer_view', 'flash_offer_click');
  END IF;
  IF v_removed IS NULL AND v_added IS NULL THEN
    RETURN NULL;
  END IF;

  -- consumers
  IF vp_capturing() THEN
    IF TG_OP = 'UPDATE' THEN
      INSERT INTO rollup_log (src, sign, venue_id, offer_id, user_id, t1, k)
      SELECT 'e', -1, * FROM (SELECT venue_id, target_id, user_id, created_at, event_type::text FROM unnest(v_removed)
                              EXCEPT ALL
                              SELECT venue_id, target_id, user_id, created_at, event_type::text FROM unnest(v_added)) o
      UNION ALL
      SELECT 'e', 1, * FROM (SELECT venue_id, target_id, user_id, created_at, event_type::text FROM unnest(v_added)
                             EXCEPT ALL
                             SELECT venue_id, target_id, user_id, created_at, event_type::text FROM unnest(v_removed)) n;
    ELSE
      INSERT INTO rollup_log (src, sign, venue_id, offer_id, user_id, t1, k)
      SELECT 'e', -1, r.venue_id, r.target_id, r.user_id, r.created_at, r.event_type FROM unnest(v_removed) r
      UNION ALL
      SELECT 'e', 1, a.venue_id, a.target_id, a.user_id, a.created_at, a.event_type FROM unnest(v_added) a;
    END IF;
  END IF;
  UPDATE flash_offers o SET view_count = o.view_count + d.views, click_count = o.click_count + d.clicks
  FROM (SELECT x.target_id,
               coalesce(sum(x.s) FILTER (WHERE x.event_type = 'flash_offer_view'), 0)::integer AS views,
               coalesce(sum(x.s) FILTER (WHERE x.event_type = 'flash_offer_click'), 0)::integer AS clicks
        FROM (SELECT r.target_id, r.event_type, -1 AS s FROM unnest(v_removed) r
              UNION ALL SELECT a.target_id, a.event_type, 1 FROM unnest(v_added) a) x
        GROUP BY x.target_id) d
  WHERE o.id = d.target_id AND (d.views <> 0 OR d.clicks <> 0);
  RETURN NULL;
END;
$$;
