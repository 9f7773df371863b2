-- Undoes 0016_write_path_capture.up.sql: the write path's statement functions as revision 0006 made
-- them, and revision 0007's separate capture triggers and functions on the same six tables.

LOCK TABLE check_ins, reviews, favorites, collection_venues, flash_offer_claims, event_stream
  IN SHARE ROW EXCLUSIVE MODE;

CREATE INDEX idx_check_ins_id ON check_ins (id);

CREATE OR REPLACE FUNCTION vp_pairs_apply(p_changes vp_pair_change[], p_only_additions boolean DEFAULT false) RETURNS void
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
DECLARE
  v_users  uuid[];
  v_venues uuid[];
BEGIN
  IF p_changes IS NULL OR cardinality(p_changes) = 0 THEN
    RETURN;
  END IF;
  IF p_only_additions THEN  -- an INSERT's changes: the upsert alone (the check-in path)
    INSERT INTO venue_interactions AS vi (
      user_id, venue_id, check_in_count, last_check_in_at, review_count, last_review_at, current_rating,
      is_favorited, favorited_at, collection_count, flash_offer_claim_count, last_claim_at,
      first_interaction_at, last_interaction_at)
    SELECT c.user_id, c.venue_id,
           count(*) FILTER (WHERE c.source = 'c'), max(c.at) FILTER (WHERE c.source = 'c'),
           count(*) FILTER (WHERE c.source = 'r'), max(c.at) FILTER (WHERE c.source = 'r'),
           max(c.rating) FILTER (WHERE c.source = 'r'),
           bool_or(c.source = 'f'), max(c.at) FILTER (WHERE c.source = 'f'),
           count(*) FILTER (WHERE c.source = 'l'),
           count(*) FILTER (WHERE c.source = 'o'), max(c.at) FILTER (WHERE c.source = 'o'),
           min(c.at), max(c.at)
    FROM unnest(p_changes) c
    WHERE c.user_id IS NOT NULL AND c.venue_id IS NOT NULL
    GROUP BY c.user_id, c.venue_id
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

CREATE OR REPLACE FUNCTION vp_check_ins_statement() RETURNS trigger
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
DECLARE
  v_removed check_ins[];
  v_added   check_ins[];
BEGIN
  IF vp_triggers_paused() THEN
    RETURN NULL;
  END IF;
  IF TG_OP = 'INSERT' THEN
    SELECT array_agg(n) INTO v_added FROM vp_new n;
  ELSIF TG_OP = 'DELETE' THEN
    SELECT array_agg(o) INTO v_removed FROM vp_old o;
  ELSE
    SELECT array_agg(o) FILTER (WHERE o.id IS NOT NULL), array_agg(n) FILTER (WHERE n.id IS NOT NULL)
    INTO v_removed, v_added
    FROM vp_old o FULL JOIN vp_new n
      ON n.id = o.id AND n.user_id = o.user_id AND n.venue_id = o.venue_id AND n.checked_in_at = o.checked_in_at
    WHERE o.id IS NULL OR n.id IS NULL;
  END IF;
  IF v_removed IS NULL AND v_added IS NULL THEN
    RETURN NULL;
  END IF;

  -- consumers
  PERFORM vp_pairs_apply(ARRAY(
    SELECT ROW(r.user_id, r.venue_id, 'c', -1, r.checked_in_at, NULL)::vp_pair_change FROM unnest(v_removed) r
    UNION ALL
    SELECT ROW(a.user_id, a.venue_id, 'c', 1, a.checked_in_at, NULL)::vp_pair_change FROM unnest(v_added) a),
    TG_OP = 'INSERT');
  -- venue totals: each venue's net change into this backend's shard; removals at a venue deleted in this
  -- transaction (a cascade) are skipped, its shards go with it
  INSERT INTO venue_counter_shards AS s (venue_id, shard, total_check_ins)
  SELECT d.venue_id, vp_counter_shard(), d.n
  FROM (SELECT x.venue_id, sum(x.n) AS n
        FROM (SELECT r.venue_id, -1 AS n FROM unnest(v_removed) r UNION ALL SELECT a.venue_id, 1 FROM unnest(v_added) a) x
        GROUP BY x.venue_id) d
  WHERE d.n > 0 OR (d.n < 0 AND EXISTS (SELECT 1 FROM venues v WHERE v.id = d.venue_id))
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

CREATE OR REPLACE FUNCTION vp_reviews_statement() RETURNS trigger
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
DECLARE
  v_removed reviews[];
  v_added   reviews[];
  v_rerated reviews[];
BEGIN
  IF vp_triggers_paused() THEN
    RETURN NULL;
  END IF;
  IF TG_OP = 'INSERT' THEN
    SELECT array_agg(n) INTO v_added FROM vp_new n;
  ELSIF TG_OP = 'DELETE' THEN
    SELECT array_agg(o) INTO v_removed FROM vp_old o;
  ELSE
    SELECT array_agg(o) FILTER (WHERE n.id IS NULL OR moved), array_agg(n) FILTER (WHERE o.id IS NULL OR moved),
           array_agg(n) FILTER (WHERE NOT moved AND o.rating <> n.rating)
    INTO v_removed, v_added, v_rerated
    FROM vp_old o FULL JOIN vp_new n ON n.id = o.id
    CROSS JOIN LATERAL (SELECT (o.user_id, o.venue_id, o.created_at) IS DISTINCT FROM (n.user_id, n.venue_id, n.created_at)
                        AS moved) m
    WHERE m.moved OR o.rating <> n.rating;
  END IF;
  IF v_removed IS NULL AND v_added IS NULL AND v_rerated IS NULL THEN
    RETURN NULL;
  END IF;

  -- consumers
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

CREATE OR REPLACE FUNCTION vp_claims_statement() RETURNS trigger
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
DECLARE
  v_removed flash_offer_claims[];
  v_added   flash_offer_claims[];
BEGIN
  IF vp_triggers_paused() THEN
    RETURN NULL;
  END IF;
  IF TG_OP = 'INSERT' THEN
    SELECT array_agg(n) INTO v_added FROM vp_new n;
  ELSIF TG_OP = 'DELETE' THEN
    SELECT array_agg(o) INTO v_removed FROM vp_old o;
  ELSE
    -- counted columns: offer, user, time and whether it is redeemed (expiry changes none of them)
    SELECT array_agg(o) FILTER (WHERE o.id IS NOT NULL), array_agg(n) FILTER (WHERE n.id IS NOT NULL)
    INTO v_removed, v_added
    FROM vp_old o FULL JOIN vp_new n
      ON n.id = o.id AND n.offer_id = o.offer_id AND n.user_id = o.user_id AND n.created_at = o.created_at
     AND (n.status = 'redeemed') = (o.status = 'redeemed')
    WHERE o.id IS NULL OR n.id IS NULL;
  END IF;
  IF v_removed IS NULL AND v_added IS NULL THEN
    RETURN NULL;
  END IF;

  -- consumers
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

DROP FUNCTION vp_capturing();

CREATE FUNCTION vp_capture_check_ins() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF vp_triggers_paused() THEN
    RETURN NULL;
  END IF;
  IF TG_OP = 'INSERT' THEN
    INSERT INTO rollup_log (src, sign, venue_id, user_id, t1, t2, flag)
    SELECT 'c', 1, venue_id, user_id, checked_in_at, checked_out_at, is_active FROM new_rows;
  ELSIF TG_OP = 'DELETE' THEN
    INSERT INTO rollup_log (src, sign, venue_id, user_id, t1, t2, flag)
    SELECT 'c', -1, venue_id, user_id, checked_in_at, checked_out_at, is_active FROM old_rows;
  ELSE
    INSERT INTO rollup_log (src, sign, venue_id, user_id, t1, t2, flag)
    SELECT 'c', -1, * FROM (SELECT venue_id, user_id, checked_in_at, checked_out_at, is_active FROM old_rows
                            EXCEPT ALL
                            SELECT venue_id, user_id, checked_in_at, checked_out_at, is_active FROM new_rows) o
    UNION ALL
    SELECT 'c', 1, * FROM (SELECT venue_id, user_id, checked_in_at, checked_out_at, is_active FROM new_rows
                           EXCEPT ALL
                           SELECT venue_id, user_id, checked_in_at, checked_out_at, is_active FROM old_rows) n;
  END IF;
  RETURN NULL;
END;
$$;

CREATE FUNCTION vp_capture_reviews() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF vp_triggers_paused() THEN
    RETURN NULL;
  END IF;
  IF TG_OP = 'INSERT' THEN
    INSERT INTO rollup_log (src, sign, venue_id, user_id, t1, flag, n)
    SELECT 'r', 1, venue_id, user_id, created_at, is_verified, rating FROM new_rows;
  ELSIF TG_OP = 'DELETE' THEN
    INSERT INTO rollup_log (src, sign, venue_id, user_id, t1, flag, n)
    SELECT 'r', -1, venue_id, user_id, created_at, is_verified, rating FROM old_rows;
  ELSE
    INSERT INTO rollup_log (src, sign, venue_id, user_id, t1, flag, n)
    SELECT 'r', -1, * FROM (SELECT venue_id, user_id, created_at, is_verified, rating::integer FROM old_rows
                            EXCEPT ALL
                            SELECT venue_id, user_id, created_at, is_verified, rating::integer FROM new_rows) o
    UNION ALL
    SELECT 'r', 1, * FROM (SELECT venue_id, user_id, created_at, is_verified, rating::integer FROM new_rows
                           EXCEPT ALL
                           SELECT venue_id, user_id, created_at, is_verified, rating::integer FROM old_rows) n;
  END IF;
  RETURN NULL;
END;
$$;

CREATE FUNCTION vp_capture_favorites() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF vp_triggers_paused() THEN
    RETURN NULL;
  END IF;
  IF TG_OP = 'INSERT' THEN
    INSERT INTO rollup_log (src, sign, venue_id, user_id, t1) SELECT 'f', 1, venue_id, user_id, created_at FROM new_rows;
  ELSIF TG_OP = 'DELETE' THEN
    INSERT INTO rollup_log (src, sign, venue_id, user_id, t1) SELECT 'f', -1, venue_id, user_id, created_at FROM old_rows;
  ELSE
    INSERT INTO rollup_log (src, sign, venue_id, user_id, t1)
    SELECT 'f', -1, * FROM (SELECT venue_id, user_id, created_at FROM old_rows
                            EXCEPT ALL SELECT venue_id, user_id, created_at FROM new_rows) o
    UNION ALL
    SELECT 'f', 1, * FROM (SELECT venue_id, user_id, created_at FROM new_rows
                           EXCEPT ALL SELECT venue_id, user_id, created_at FROM old_rows) n;
  END IF;
  RETURN NULL;
END;
$$;

CREATE FUNCTION vp_capture_collection_venues() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF vp_triggers_paused() THEN
    RETURN NULL;
  END IF;
  IF TG_OP = 'INSERT' THEN
    INSERT INTO rollup_log (src, sign, venue_id, t1) SELECT 'l', 1, venue_id, added_at FROM new_rows;
  ELSIF TG_OP = 'DELETE' THEN
    INSERT INTO rollup_log (src, sign, venue_id, t1) SELECT 'l', -1, venue_id, added_at FROM old_rows;
  ELSE
    INSERT INTO rollup_log (src, sign, venue_id, t1)
    SELECT 'l', -1, * FROM (SELECT venue_id, added_at FROM old_rows EXCEPT ALL SELECT venue_id, added_at FROM new_rows) o
    UNION ALL
    SELECT 'l', 1, * FROM (SELECT venue_id, added_at FROM new_rows EXCEPT ALL SELECT venue_id, added_at FROM old_rows) n;
  END IF;
  RETURN NULL;
END;
$$;

CREATE FUNCTION vp_capture_claims() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF vp_triggers_paused() THEN
    RETURN NULL;
  END IF;
  IF TG_OP = 'INSERT' THEN
    INSERT INTO rollup_log (src, sign, venue_id, offer_id, user_id, t1, t2)
    SELECT 'k', 1, o.venue_id, c.offer_id, c.user_id, c.created_at, c.redeemed_at
    FROM new_rows c LEFT JOIN flash_offers o ON o.id = c.offer_id;
  ELSIF TG_OP = 'DELETE' THEN
    INSERT INTO rollup_log (src, sign, venue_id, offer_id, user_id, t1, t2)
    SELECT 'k', -1, o.venue_id, c.offer_id, c.user_id, c.created_at, c.redeemed_at
    FROM old_rows c LEFT JOIN flash_offers o ON o.id = c.offer_id;
  ELSE
    INSERT INTO rollup_log (src, sign, venue_id, offer_id, user_id, t1, t2)
    SELECT 'k', x.sign, o.venue_id, x.offer_id, x.user_id, x.created_at, x.redeemed_at
    FROM (SELECT -1 AS sign, * FROM (SELECT offer_id, user_id, created_at, redeemed_at FROM old_rows
                                     EXCEPT ALL SELECT offer_id, user_id, created_at, redeemed_at FROM new_rows) a
          UNION ALL
          SELECT 1, * FROM (SELECT offer_id, user_id, created_at, redeemed_at FROM new_rows
                            EXCEPT ALL SELECT offer_id, user_id, created_at, redeemed_at FROM old_rows) b) x
    LEFT JOIN flash_offers o ON o.id = x.offer_id;
  END IF;
  RETURN NULL;
END;
$$;

CREATE FUNCTION vp_capture_offer_events() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF vp_triggers_paused() THEN
    RETURN NULL;
  END IF;
  IF TG_OP = 'INSERT' THEN
    INSERT INTO rollup_log (src, sign, venue_id, offer_id, user_id, t1, k)
    SELECT 'e', 1, venue_id, target_id, user_id, created_at, event_type FROM new_rows
    WHERE is_analytics_event AND target_type = 'offer' AND event_type IN ('flash_offer_view', 'flash_offer_click');
  ELSIF TG_OP = 'DELETE' THEN
    INSERT INTO rollup_log (src, sign, venue_id, offer_id, user_id, t1, k)
    SELECT 'e', -1, venue_id, target_id, user_id, created_at, event_type FROM old_rows
    WHERE is_analytics_event AND target_type = 'offer' AND event_type IN ('flash_offer_view', 'flash_offer_click');
  ELSE
    INSERT INTO rollup_log (src, sign, venue_id, offer_id, user_id, t1, k)
    SELECT 'e', -1, * FROM (SELECT venue_id, target_id, user_id, created_at, event_type::text FROM old_rows
                            WHERE is_analytics_event AND target_type = 'offer'
                              AND event_type IN ('flash_offer_view', 'flash_offer_click')
                            EXCEPT ALL
                            SELECT venue_id, target_id, user_id, created_at, event_type::text FROM new_rows
                            WHERE is_analytics_event AND target_type = 'offer'
                              AND event_type IN ('flash_offer_view', 'flash_offer_click')) o
    UNION ALL
    SELECT 'e', 1, * FROM (SELECT venue_id, target_id, user_id, created_at, event_type::text FROM new_rows
                           WHERE is_analytics_event AND target_type = 'offer'
                             AND event_type IN ('flash_offer_view', 'flash_offer_click')
                           EXCEPT ALL
                           SELECT venue_id, target_id, user_id, created_at, event_type::text FROM old_rows
                           WHERE is_analytics_event AND target_type = 'offer'
                             AND event_type IN ('flash_offer_view', 'flash_offer_click')) n;
  END IF;
  RETURN NULL;
END;
$$;

CREATE TRIGGER vp_capture_check_ins_ins AFTER INSERT ON check_ins REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION vp_capture_check_ins();
CREATE TRIGGER vp_capture_check_ins_upd AFTER UPDATE ON check_ins REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION vp_capture_check_ins();
CREATE TRIGGER vp_capture_check_ins_del AFTER DELETE ON check_ins REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION vp_capture_check_ins();
CREATE TRIGGER vp_capture_reviews_ins AFTER INSERT ON reviews REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION vp_capture_reviews();
CREATE TRIGGER vp_capture_reviews_upd AFTER UPDATE ON reviews REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION vp_capture_reviews();
CREATE TRIGGER vp_capture_reviews_del AFTER DELETE ON reviews REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION vp_capture_reviews();
CREATE TRIGGER vp_capture_favorites_ins AFTER INSERT ON favorites REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION vp_capture_favorites();
CREATE TRIGGER vp_capture_favorites_upd AFTER UPDATE ON favorites REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION vp_capture_favorites();
CREATE TRIGGER vp_capture_favorites_del AFTER DELETE ON favorites REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION vp_capture_favorites();
CREATE TRIGGER vp_capture_collection_venues_ins AFTER INSERT ON collection_venues REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION vp_capture_collection_venues();
CREATE TRIGGER vp_capture_collection_venues_upd AFTER UPDATE ON collection_venues
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION vp_capture_collection_venues();
CREATE TRIGGER vp_capture_collection_venues_del AFTER DELETE ON collection_venues REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION vp_capture_collection_venues();
CREATE TRIGGER vp_capture_claims_ins AFTER INSERT ON flash_offer_claims REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION vp_capture_claims();
CREATE TRIGGER vp_capture_claims_upd AFTER UPDATE ON flash_offer_claims
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION vp_capture_claims();
CREATE TRIGGER vp_capture_claims_del AFTER DELETE ON flash_offer_claims REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION vp_capture_claims();
CREATE TRIGGER vp_capture_offer_events_ins AFTER INSERT ON event_stream REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION vp_capture_offer_events();
CREATE TRIGGER vp_capture_offer_events_upd AFTER UPDATE ON event_stream REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION vp_capture_offer_events();
CREATE TRIGGER vp_capture_offer_events_del AFTER DELETE ON event_stream REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION vp_capture_offer_events();
