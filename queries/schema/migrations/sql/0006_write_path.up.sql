-- The app's write path (issue 14): triggers whose work is proportional to the change, and venue
-- counters that do not make every check-in at a busy venue wait for the previous one.  See
-- docs/schema.md, "Triggers".
--
-- - Every source table has ONE statement-level trigger function, fired AFTER INSERT, UPDATE and DELETE
--   with transition tables.  Its first section turns the transition tables into the statement's delta:
--   rows removed and rows added, as arrays of the table's row type (an UPDATE contributes the old and
--   the new version of each row whose counted columns changed, and nothing for the others).  Every
--   consumer below reads only those arrays: venue_interactions, venue counters, offer counters,
--   event_stream.  Issue 13's rollups add their capture as one more consumer at the marked place.
-- - A row that an UPDATE moves to another partition fires no row-level trigger of ours (there are
--   none left on the partitioned tables) and only the parent's statement-level UPDATE trigger, whose
--   OLD TABLE and NEW TABLE hold it once each: it is removed once and added once.
-- - venue_interactions is updated by deltas per (user, venue); a pair is recounted only when a removed
--   row may have held one of its first/last timestamps (vp_sync_interaction, under the pair's row lock).
-- - A venue's check-in total lives in sharded rows (venue_counter_shards, one row per venue and
--   backend shard, summed on read); active check-ins and the last check-in are read from check_ins
--   through indexes.  venues.active_check_in_count, .total_check_in_count and .last_check_in_at stay
--   readable under those names (functions in attribute notation, like status(flash_offers)).

-- ---------------------------------------------------------------------------------------------------
-- The old row-level triggers and their functions
-- ---------------------------------------------------------------------------------------------------

DROP TRIGGER trigger_update_venue_check_in_stats ON check_ins;
DROP TRIGGER trigger_update_venue_check_in_stats_upd ON check_ins;
DROP TRIGGER trigger_reviews_changed ON reviews;
DROP TRIGGER trigger_reviews_changed_upd ON reviews;
DROP TRIGGER trigger_favorites_changed ON favorites;
DROP TRIGGER trigger_collection_venues_changed ON collection_venues;
DROP TRIGGER trigger_collections_owner_changed ON collections;
DROP TRIGGER trigger_claims_changed ON flash_offer_claims;
DROP TRIGGER trigger_claims_changed_upd ON flash_offer_claims;
DROP TRIGGER trigger_offers_venue_changed ON flash_offers;
DROP TRIGGER trigger_offer_events_ins ON event_stream;
DROP TRIGGER trigger_offer_events_del ON event_stream;
DROP TRIGGER trigger_offer_events_upd ON event_stream;
DROP FUNCTION vp_check_ins_changed();
DROP FUNCTION vp_reviews_changed();
DROP FUNCTION vp_favorites_changed();
DROP FUNCTION vp_collection_venues_changed();
DROP FUNCTION vp_collections_owner_changed();
DROP FUNCTION vp_claims_changed();
DROP FUNCTION vp_offers_venue_changed();
DROP FUNCTION vp_offer_events_changed();

-- ---------------------------------------------------------------------------------------------------
-- Venue counters: sharded total, active and last read from check_ins
-- ---------------------------------------------------------------------------------------------------

-- A venue's check-in total is the sum of its rows here.  A writer adds its statement's net change to
-- the row of its own shard (its backend pid modulo 64), so concurrent check-ins at one venue update
-- different rows and do not wait for each other; a shard may go negative (a check-in counted through
-- one shard and deleted through another), the sum never does.  At most 64 rows per venue.
CREATE TABLE venue_counter_shards (
  venue_id        uuid NOT NULL REFERENCES venues(id) ON DELETE CASCADE,
  shard           smallint NOT NULL CHECK (shard >= 0),
  total_check_ins bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (venue_id, shard)
) WITH (fillfactor = 50);  -- room on the page for HOT updates: a shard row is rewritten on every check-in

CREATE FUNCTION vp_counter_shard() RETURNS smallint
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT (pg_backend_pid() % 64)::smallint
$$;

INSERT INTO venue_counter_shards (venue_id, shard, total_check_ins)
SELECT venue_id, 0, count(*) FROM check_ins GROUP BY venue_id;

-- Active check-ins per venue are few (at most one per user): counted on read from this index.
CREATE INDEX idx_check_ins_venue_active ON check_ins (venue_id) WHERE is_active;

ALTER TABLE venues DROP CONSTRAINT venues_active_le_total;
ALTER TABLE venues DROP COLUMN active_check_in_count;
ALTER TABLE venues DROP COLUMN total_check_in_count;
ALTER TABLE venues DROP COLUMN last_check_in_at;

-- The review's column names, read as before: `SELECT v.total_check_in_count FROM venues v` calls these
-- (attribute notation).  Exact at commit: each reads rows that change in the same transaction as the
-- check-ins.  Plain SQL functions, so the planner inlines them as sub-selects.
CREATE FUNCTION total_check_in_count(v venues) RETURNS integer
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT coalesce(sum(s.total_check_ins), 0)::integer FROM venue_counter_shards s WHERE s.venue_id = v.id
$$;

CREATE FUNCTION active_check_in_count(v venues) RETURNS integer
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT count(*)::integer FROM check_ins c WHERE c.venue_id = v.id AND c.is_active
$$;

CREATE FUNCTION last_check_in_at(v venues) RETURNS timestamptz
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT max(c.checked_in_at) FROM check_ins c WHERE c.venue_id = v.id
$$;

-- Owners read the counters through their own venues' rows (venues.total_check_in_count) and may read
-- the shards only of those venues.
ALTER TABLE venue_counter_shards ENABLE ROW LEVEL SECURITY;
CREATE POLICY vp_venue_scope ON venue_counter_shards
  USING ((SELECT NOT vp_is_scoped_role()) OR venue_id = ANY ((SELECT vp_scope_venue_ids())::uuid[]));
GRANT SELECT ON venue_counter_shards TO venuepulse_owner;

-- ---------------------------------------------------------------------------------------------------
-- venue_interactions by deltas
-- ---------------------------------------------------------------------------------------------------

-- One source row's change to one (user, venue) pair.
CREATE TYPE vp_pair_change AS (
  user_id  uuid,
  venue_id uuid,
  source   "char",      -- c check-in, r review, f favorite, l collection entry, o offer claim
  n        integer,     -- +1 added, -1 removed, 0 changed in place (a review's rating)
  at       timestamptz, -- the row's time: checked_in_at, created_at, added_at
  rating   integer      -- reviews: the rating after the change
);

-- Recounts one pair from its rows; deletes the row when nothing is left.  Takes the pair's row lock
-- first (making an empty row when there is none) and recounts in the next statement, so the recount
-- sees every change committed before it, and a concurrent writer's delta lands after it, on top.
CREATE OR REPLACE FUNCTION vp_sync_interaction(p_user uuid, p_venue uuid) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  r record;
BEGIN
  IF p_user IS NULL OR p_venue IS NULL THEN
    RETURN;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM users WHERE id = p_user) OR NOT EXISTS (SELECT 1 FROM venues WHERE id = p_venue) THEN
    DELETE FROM venue_interactions WHERE user_id = p_user AND venue_id = p_venue;
    RETURN;
  END IF;
  LOOP
    PERFORM 1 FROM venue_interactions WHERE user_id = p_user AND venue_id = p_venue FOR UPDATE;
    EXIT WHEN FOUND;
    INSERT INTO venue_interactions (user_id, venue_id) VALUES (p_user, p_venue)
    ON CONFLICT (user_id, venue_id) DO NOTHING;
  END LOOP;

  SELECT ci.n AS ci_n, ci.f AS ci_first, ci.l AS ci_last, rv.n AS rv_n, rv.at AS rv_at, rv.rating AS rv_rating,
         fv.at AS fv_at, co.n AS co_n, co.f AS co_first, co.l AS co_last, cl.n AS cl_n, cl.f AS cl_first,
         cl.l AS cl_last
  INTO r
  FROM (SELECT count(*)::integer AS n, min(checked_in_at) AS f, max(checked_in_at) AS l
        FROM check_ins WHERE user_id = p_user AND venue_id = p_venue) ci
  CROSS JOIN (SELECT count(*)::integer AS n, max(created_at) AS at, max(rating)::integer AS rating
              FROM reviews WHERE user_id = p_user AND venue_id = p_venue) rv
  CROSS JOIN (SELECT max(created_at) AS at FROM favorites WHERE user_id = p_user AND venue_id = p_venue) fv
  CROSS JOIN (SELECT count(*)::integer AS n, min(cv.added_at) AS f, max(cv.added_at) AS l
              FROM collection_venues cv JOIN collections c ON c.id = cv.collection_id
              WHERE c.user_id = p_user AND cv.venue_id = p_venue) co
  CROSS JOIN (SELECT count(*)::integer AS n, min(fc.created_at) AS f, max(fc.created_at) AS l
              FROM flash_offer_claims fc JOIN flash_offers o ON o.id = fc.offer_id
              WHERE fc.user_id = p_user AND o.venue_id = p_venue) cl;

  IF r.ci_n = 0 AND r.rv_n = 0 AND r.fv_at IS NULL AND r.co_n = 0 AND r.cl_n = 0 THEN
    DELETE FROM venue_interactions WHERE user_id = p_user AND venue_id = p_venue;
    RETURN;
  END IF;
  UPDATE venue_interactions SET
    check_in_count = r.ci_n, last_check_in_at = r.ci_last,
    review_count = r.rv_n, last_review_at = r.rv_at, current_rating = r.rv_rating,
    is_favorited = r.fv_at IS NOT NULL, favorited_at = r.fv_at,
    collection_count = r.co_n,
    flash_offer_claim_count = r.cl_n, last_claim_at = r.cl_last,
    first_interaction_at = least(r.ci_first, r.rv_at, r.fv_at, r.co_first, r.cl_first),
    last_interaction_at = greatest(r.ci_last, r.rv_at, r.fv_at, r.co_last, r.cl_last)
  WHERE user_id = p_user AND venue_id = p_venue;
END;
$$;

-- Applies a statement's pair changes (generic plans: the statements take arrays as parameters, and a
-- custom plan, re-planned on every call, would always look cheaper).  Per pair:
-- - only additions: one upsert adding counts and widening the timestamps (the check-in path);
-- - removals or in-place changes: the row is updated by its deltas when no removed row can have held
--   one of the pair's first/last timestamps, deleted when nothing is left, and recounted
--   (vp_sync_interaction) otherwise.  The conditions are part of the UPDATE's and DELETE's WHERE, so a
--   concurrent change to the row makes PostgreSQL re-check them against the row's latest version.
CREATE FUNCTION vp_pairs_apply(p_changes vp_pair_change[], p_only_additions boolean DEFAULT false) RETURNS void
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

-- ---------------------------------------------------------------------------------------------------
-- Statement-level triggers, one function per source table.  Section 1 reads the transition tables
-- into the statement's delta (v_removed, v_added); section 2 hands it to each consumer.  A rollup
-- (issue 13) captures its deltas as one more consumer at "-- consumers", from the same arrays.
-- ---------------------------------------------------------------------------------------------------

-- Check-ins: pairs, venue totals, check-in events.  An UPDATE counts only rows whose user, venue or time
-- changed (a check-out changes none of them); a move to another partition is such a row, once.
CREATE FUNCTION vp_check_ins_statement() RETURNS trigger
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
CREATE TRIGGER trigger_check_ins_inserted AFTER INSERT ON check_ins
REFERENCING NEW TABLE AS vp_new FOR EACH STATEMENT EXECUTE FUNCTION vp_check_ins_statement();
CREATE TRIGGER trigger_check_ins_updated AFTER UPDATE ON check_ins
REFERENCING OLD TABLE AS vp_old NEW TABLE AS vp_new FOR EACH STATEMENT EXECUTE FUNCTION vp_check_ins_statement();
CREATE TRIGGER trigger_check_ins_deleted AFTER DELETE ON check_ins
REFERENCING OLD TABLE AS vp_old FOR EACH STATEMENT EXECUTE FUNCTION vp_check_ins_statement();

-- Reviews: pairs (count, rating, time) and review events.  A rating changed in place is a change of
-- the pair's rating only (n = 0), not a removal.
CREATE FUNCTION vp_reviews_statement() RETURNS trigger
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
CREATE TRIGGER trigger_reviews_inserted AFTER INSERT ON reviews
REFERENCING NEW TABLE AS vp_new FOR EACH STATEMENT EXECUTE FUNCTION vp_reviews_statement();
CREATE TRIGGER trigger_reviews_updated AFTER UPDATE ON reviews
REFERENCING OLD TABLE AS vp_old NEW TABLE AS vp_new FOR EACH STATEMENT EXECUTE FUNCTION vp_reviews_statement();
CREATE TRIGGER trigger_reviews_deleted AFTER DELETE ON reviews
REFERENCING OLD TABLE AS vp_old FOR EACH STATEMENT EXECUTE FUNCTION vp_reviews_statement();

-- Favorites: pairs and favorite events (keyed by a uuid derived from the pair).
CREATE FUNCTION vp_favorites_statement() RETURNS trigger
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
CREATE TRIGGER trigger_favorites_inserted AFTER INSERT ON favorites
REFERENCING NEW TABLE AS vp_new FOR EACH STATEMENT EXECUTE FUNCTION vp_favorites_statement();
CREATE TRIGGER trigger_favorites_updated AFTER UPDATE ON favorites
REFERENCING OLD TABLE AS vp_old NEW TABLE AS vp_new FOR EACH STATEMENT EXECUTE FUNCTION vp_favorites_statement();
CREATE TRIGGER trigger_favorites_deleted AFTER DELETE ON favorites
REFERENCING OLD TABLE AS vp_old FOR EACH STATEMENT EXECUTE FUNCTION vp_favorites_statement();

-- Collection entries count for the collection owner's pair with the venue.  (Deleting a collection
-- removes its entries first, in vp_collections_deleting, while the owner is still known.)
CREATE FUNCTION vp_collection_venues_statement() RETURNS trigger
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
CREATE TRIGGER trigger_collection_venues_inserted AFTER INSERT ON collection_venues
REFERENCING NEW TABLE AS vp_new FOR EACH STATEMENT EXECUTE FUNCTION vp_collection_venues_statement();
CREATE TRIGGER trigger_collection_venues_updated AFTER UPDATE ON collection_venues
REFERENCING OLD TABLE AS vp_old NEW TABLE AS vp_new FOR EACH STATEMENT EXECUTE FUNCTION vp_collection_venues_statement();
CREATE TRIGGER trigger_collection_venues_deleted AFTER DELETE ON collection_venues
REFERENCING OLD TABLE AS vp_old FOR EACH STATEMENT EXECUTE FUNCTION vp_collection_venues_statement();

-- A collection changing hands moves its entries from the old owner's pairs to the new owner's.
CREATE FUNCTION vp_collections_owner_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF vp_triggers_paused() THEN
    RETURN NULL;
  END IF;
  PERFORM vp_pairs_apply(ARRAY(
    SELECT ROW(x.user_id, cv.venue_id, 'l', x.n, cv.added_at, NULL)::vp_pair_change
    FROM collection_venues cv CROSS JOIN (VALUES (OLD.user_id, -1), (NEW.user_id, 1)) AS x(user_id, n)
    WHERE cv.collection_id = NEW.id));
  RETURN NULL;
END;
$$;
CREATE TRIGGER trigger_collections_owner_changed
AFTER UPDATE OF user_id ON collections FOR EACH ROW
WHEN (OLD.user_id IS DISTINCT FROM NEW.user_id) EXECUTE FUNCTION vp_collections_owner_changed();

-- Claims: the offer's claimed/redeemed counts, the pair's claim count, claim and redeem events.
CREATE FUNCTION vp_claims_statement() RETURNS trigger
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
CREATE TRIGGER trigger_claims_inserted AFTER INSERT ON flash_offer_claims
REFERENCING NEW TABLE AS vp_new FOR EACH STATEMENT EXECUTE FUNCTION vp_claims_statement();
CREATE TRIGGER trigger_claims_updated AFTER UPDATE ON flash_offer_claims
REFERENCING OLD TABLE AS vp_old NEW TABLE AS vp_new FOR EACH STATEMENT EXECUTE FUNCTION vp_claims_statement();
CREATE TRIGGER trigger_claims_deleted AFTER DELETE ON flash_offer_claims
REFERENCING OLD TABLE AS vp_old FOR EACH STATEMENT EXECUTE FUNCTION vp_claims_statement();

-- An offer moving to another venue moves its claimers' pairs and its events' venue.
CREATE FUNCTION vp_offers_venue_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF vp_triggers_paused() THEN
    RETURN NULL;
  END IF;
  PERFORM vp_pairs_apply(ARRAY(
    SELECT ROW(c.user_id, x.venue_id, 'o', x.n, c.created_at, NULL)::vp_pair_change
    FROM flash_offer_claims c CROSS JOIN (VALUES (OLD.venue_id, -1), (NEW.venue_id, 1)) AS x(venue_id, n)
    WHERE c.offer_id = NEW.id));
  UPDATE event_stream SET venue_id = NEW.venue_id WHERE target_type = 'offer' AND target_id = NEW.id;
  RETURN NULL;
END;
$$;
CREATE TRIGGER trigger_offers_venue_changed
AFTER UPDATE OF venue_id ON flash_offers FOR EACH ROW
WHEN (OLD.venue_id IS DISTINCT FROM NEW.venue_id) EXECUTE FUNCTION vp_offers_venue_changed();

-- Offer views and clicks are analytics events; the offer's counters follow them.  Every old row is
-- removed and every new row added, so an event moving to another partition nets to nothing.
CREATE FUNCTION vp_event_stream_statement() RETURNS trigger
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
CREATE TRIGGER trigger_event_stream_inserted AFTER INSERT ON event_stream
REFERENCING NEW TABLE AS vp_new FOR EACH STATEMENT EXECUTE FUNCTION vp_event_stream_statement();
CREATE TRIGGER trigger_event_stream_updated AFTER UPDATE ON event_stream
REFERENCING OLD TABLE AS vp_old NEW TABLE AS vp_new FOR EACH STATEMENT EXECUTE FUNCTION vp_event_stream_statement();
CREATE TRIGGER trigger_event_stream_deleted AFTER DELETE ON event_stream
REFERENCING OLD TABLE AS vp_old FOR EACH STATEMENT EXECUTE FUNCTION vp_event_stream_statement();

-- ---------------------------------------------------------------------------------------------------
-- Set-based recomputation (after a bulk load, or to repair drift): venue totals move to the recount by
-- an added correction, computed in one snapshot with the shards (so it is right even while check-ins
-- commit beside it); offers and pairs as before.
-- ---------------------------------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION vp_recompute_denormalized(
  OUT venues_fixed bigint, OUT offers_fixed bigint,
  OUT interactions_upserted bigint, OUT interactions_deleted bigint)
LANGUAGE plpgsql AS $$
BEGIN
  WITH fix AS (
    SELECT e.venue_id, e.total_check_in_count - coalesce(s.total, 0) AS d
    FROM venue_counters_expected e
    LEFT JOIN (SELECT venue_id, sum(total_check_ins) AS total FROM venue_counter_shards GROUP BY venue_id) s
      ON s.venue_id = e.venue_id
    WHERE e.total_check_in_count <> coalesce(s.total, 0)),
  moved AS (
    INSERT INTO venue_counter_shards AS c (venue_id, shard, total_check_ins)
    SELECT venue_id, vp_counter_shard(), d FROM fix
    ON CONFLICT (venue_id, shard) DO UPDATE SET total_check_ins = c.total_check_ins + EXCLUDED.total_check_ins
    RETURNING 1)
  SELECT count(*) INTO venues_fixed FROM moved;

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
