-- Reverses 0007_rollups.up.sql: capture, folds and rollups go; venue_stats is a materialized view again.

DROP TRIGGER IF EXISTS vp_capture_check_ins_ins ON check_ins;
DROP TRIGGER IF EXISTS vp_capture_check_ins_upd ON check_ins;
DROP TRIGGER IF EXISTS vp_capture_check_ins_del ON check_ins;
DROP TRIGGER IF EXISTS vp_capture_reviews_ins ON reviews;
DROP TRIGGER IF EXISTS vp_capture_reviews_upd ON reviews;
DROP TRIGGER IF EXISTS vp_capture_reviews_del ON reviews;
DROP TRIGGER IF EXISTS vp_capture_favorites_ins ON favorites;
DROP TRIGGER IF EXISTS vp_capture_favorites_upd ON favorites;
DROP TRIGGER IF EXISTS vp_capture_favorites_del ON favorites;
DROP TRIGGER IF EXISTS vp_capture_collection_venues_ins ON collection_venues;
DROP TRIGGER IF EXISTS vp_capture_collection_venues_upd ON collection_venues;
DROP TRIGGER IF EXISTS vp_capture_collection_venues_del ON collection_venues;
DROP TRIGGER IF EXISTS vp_capture_claims_ins ON flash_offer_claims;
DROP TRIGGER IF EXISTS vp_capture_claims_upd ON flash_offer_claims;
DROP TRIGGER IF EXISTS vp_capture_claims_del ON flash_offer_claims;
DROP TRIGGER IF EXISTS vp_capture_offers_ins ON flash_offers;
DROP TRIGGER IF EXISTS vp_capture_offers_del ON flash_offers;
DROP TRIGGER IF EXISTS vp_capture_offers_upd ON flash_offers;
DROP TRIGGER IF EXISTS vp_capture_offer_events_ins ON event_stream;
DROP TRIGGER IF EXISTS vp_capture_offer_events_upd ON event_stream;
DROP TRIGGER IF EXISTS vp_capture_offer_events_del ON event_stream;
DROP TRIGGER IF EXISTS vp_capture_notifications_ins ON notifications;
DROP TRIGGER IF EXISTS vp_capture_notifications_upd ON notifications;
DROP TRIGGER IF EXISTS vp_capture_notifications_del ON notifications;
DROP TRIGGER IF EXISTS vp_capture_interactions_ins ON venue_interactions;
DROP TRIGGER IF EXISTS vp_capture_interactions_upd ON venue_interactions;
DROP TRIGGER IF EXISTS vp_capture_interactions_del ON venue_interactions;
DROP TRIGGER IF EXISTS vp_capture_venues_ins ON venues;
DROP TRIGGER IF EXISTS vp_capture_venues_del ON venues;
DROP TRIGGER IF EXISTS vp_capture_venues_upd ON venues;

DROP FUNCTION IF EXISTS vp_capture_check_ins(), vp_capture_reviews(), vp_capture_favorites(),
  vp_capture_collection_venues(), vp_capture_claims(), vp_capture_offers(), vp_capture_offer_changed(),
  vp_capture_offer_events(), vp_capture_notifications(), vp_capture_interactions(), vp_capture_venues();
DROP FUNCTION IF EXISTS vp_fold_activity(), vp_fold_pairs(), vp_fold_venue_stats(), vp_venue_stats_full(),
  vp_venue_stats_drift(boolean), vp_venue_stats_compute(timestamptz), vp_rebuild_pairs(),
  vp_rebuild_activity(timestamptz, timestamptz), vp_recompute_offer_funnels(uuid[]),
  vp_recount_visitors(text, timestamptz[]),
  vp_log_measures("char", smallint, timestamptz, timestamptz, boolean, text),
  vp_notification_images(jsonb, jsonb, boolean, boolean), vp_rollup_lock_key(text), vp_drop_temp(text), vp_rollup_log_gc(), vp_snapshot_with_own(pg_snapshot), vp_venue_stats_scores_rebuild(),
  refresh_venue_stats(boolean), vp_ceil_bucket(text, timestamptz), vp_activity_tail(),
  vp_activity_parts(timestamptz, timestamptz, text), vp_activity_counts(timestamptz, timestamptz),
  vp_visitors_series(timestamptz, timestamptz, text), vp_top_venues(timestamptz, timestamptz, integer),
  vp_venue_visitors(uuid, timestamptz, timestamptz);

DROP VIEW IF EXISTS venue_stats_visible;
DROP VIEW IF EXISTS venue_stats;
DROP TABLE IF EXISTS venue_stats_rows, venue_stats_recent, venue_stats_scores, rollup_log, rollup_consumers, rollup_rebuilds,
  rollup_hourly, rollup_daily, rollup_weekly, rollup_venue_daily, rollup_notifications_daily, rollup_pair_scores,
  rollup_pair_users, rollup_pair_venues, rollup_pair_totals, rollup_offer_funnel, rollup_offer_days;

DROP INDEX IF EXISTS idx_check_ins_in_brin, idx_check_ins_out_brin, idx_notifications_created_brin,
  idx_reviews_created, idx_favorites_created, idx_flash_offer_claims_created, idx_flash_offer_claims_redeemed;

-- venue_stats as 0001 made it
CREATE MATERIALIZED VIEW venue_stats AS
WITH ci AS (
  SELECT venue_id,
         count(DISTINCT user_id) AS total_unique_visitors,
         count(*) AS total_check_ins,
         count(*) FILTER (WHERE checked_in_at > now() - interval '7 days') AS check_ins_last_7_days,
         count(*) FILTER (WHERE is_active) AS active_check_ins,
         max(checked_in_at) AS last_check_in_at
  FROM check_ins GROUP BY venue_id),
rv AS (
  SELECT venue_id, count(*) AS review_count, avg(rating) AS avg_rating,
         count(*) FILTER (WHERE is_verified) AS verified_review_count, max(created_at) AS last_review_at
  FROM reviews GROUP BY venue_id),
fv AS (
  SELECT venue_id, count(DISTINCT user_id) AS favorite_count FROM favorites GROUP BY venue_id),
co AS (
  SELECT venue_id, count(DISTINCT collection_id) AS collection_count FROM collection_venues GROUP BY venue_id),
fo AS (
  SELECT venue_id, count(*) AS flash_offer_count FROM flash_offers GROUP BY venue_id),
cl AS (
  SELECT o.venue_id, count(DISTINCT c.user_id) AS flash_offer_claim_count
  FROM flash_offer_claims c JOIN flash_offers o ON o.id = c.offer_id GROUP BY o.venue_id)
SELECT v.id AS venue_id,
       v.name,
       v.category,
       v.city,
       coalesce(ci.total_unique_visitors, 0)::bigint AS total_unique_visitors,
       coalesce(ci.total_check_ins, 0)::bigint AS total_check_ins,
       coalesce(ci.check_ins_last_7_days, 0)::bigint AS check_ins_last_7_days,
       coalesce(ci.active_check_ins, 0)::bigint AS active_check_ins,
       coalesce(rv.review_count, 0)::bigint AS review_count,
       rv.avg_rating,
       coalesce(rv.verified_review_count, 0)::bigint AS verified_review_count,
       coalesce(fv.favorite_count, 0)::bigint AS favorite_count,
       coalesce(co.collection_count, 0)::bigint AS collection_count,
       coalesce(fo.flash_offer_count, 0)::bigint AS flash_offer_count,
       coalesce(cl.flash_offer_claim_count, 0)::bigint AS flash_offer_claim_count,
       (coalesce(ci.total_check_ins, 0)
        + 5 * coalesce(rv.review_count, 0)
        + 3 * coalesce(fv.favorite_count, 0)
        + 2 * coalesce(cl.flash_offer_claim_count, 0))::numeric AS engagement_score,
       ci.last_check_in_at,
       rv.last_review_at,
       now() AS refreshed_at
FROM venues v
LEFT JOIN ci ON ci.venue_id = v.id
LEFT JOIN rv ON rv.venue_id = v.id
LEFT JOIN fv ON fv.venue_id = v.id
LEFT JOIN co ON co.venue_id = v.id
LEFT JOIN fo ON fo.venue_id = v.id
LEFT JOIN cl ON cl.venue_id = v.id;

CREATE UNIQUE INDEX idx_venue_stats_venue ON venue_stats (venue_id);
CREATE INDEX idx_venue_stats_engagement ON venue_stats (engagement_score DESC);
CREATE INDEX idx_venue_stats_city_category ON venue_stats (city, category);

CREATE FUNCTION refresh_venue_stats() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  -- CONCURRENTLY keeps readers unblocked but needs a populated view; the first refresh is plain.
  IF (SELECT relispopulated FROM pg_class WHERE oid = 'venue_stats'::regclass) THEN
    REFRESH MATERIALIZED VIEW CONCURRENTLY venue_stats;
  ELSE
    REFRESH MATERIALIZED VIEW venue_stats;
  END IF;
END;
$$;

CREATE VIEW venue_stats_visible WITH (security_barrier) AS
SELECT * FROM venue_stats
WHERE (SELECT NOT vp_is_scoped_role()) OR venue_id = ANY ((SELECT vp_scope_venue_ids())::uuid[]);

GRANT SELECT ON venue_stats, venue_stats_visible TO venuepulse_reader;
GRANT SELECT ON venue_stats_visible TO venuepulse_owner;
