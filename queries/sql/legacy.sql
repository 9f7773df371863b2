-- Upgrading a legacy app database (queries/legacy.py, queries/upgrade/): backfill batches, progress,
-- verification old vs new.  Every backfill batch is "next upper key" + "copy (last, upper]" in one
-- transaction together with its progress row, so an interrupted run resumes where it stopped, and the
-- copies are idempotent (ON CONFLICT DO NOTHING / absolute recounts) so re-running is harmless.
-- %(last)s is NULL on the first batch.  All are kind maintenance: upgrade work, no statement timeout,
-- and not among the app's read queries (most name the legacy tables, which a VenuePulse database lacks).

-- name: legacy.progress_table --
-- kind: maintenance
CREATE TABLE IF NOT EXISTS venuepulse_upgrade_progress (
  step        text PRIMARY KEY,
  last_key    text,
  rows_done   bigint NOT NULL DEFAULT 0,
  batches     integer NOT NULL DEFAULT 0,
  started_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now(),
  finished_at timestamptz
)

-- name: legacy.progress_all --
-- kind: maintenance
SELECT step, last_key, rows_done, batches, started_at, updated_at, finished_at
FROM venuepulse_upgrade_progress ORDER BY started_at, step

-- name: legacy.progress_get --
-- kind: maintenance
SELECT step, last_key, rows_done, batches, finished_at FROM venuepulse_upgrade_progress WHERE step = %(step)s

-- name: legacy.progress_start --
-- kind: maintenance
INSERT INTO venuepulse_upgrade_progress (step) VALUES (%(step)s) ON CONFLICT (step) DO NOTHING

-- name: legacy.progress_advance --
-- kind: maintenance
UPDATE venuepulse_upgrade_progress
SET last_key = %(last_key)s, rows_done = rows_done + %(rows)s, batches = batches + 1, updated_at = now()
WHERE step = %(step)s

-- name: legacy.progress_finish --
-- kind: maintenance
UPDATE venuepulse_upgrade_progress SET finished_at = now(), updated_at = now()
WHERE step = %(step)s AND finished_at IS NULL

-- name: legacy.progress_forget_phase --
-- kind: maintenance
DELETE FROM venuepulse_upgrade_progress WHERE step LIKE %(prefix)s

-- name: legacy.version_tables --
-- kind: maintenance
SELECT to_regclass('venuepulse_upgrade_version') IS NOT NULL AS has_upgrade_version,
       to_regclass('venuepulse_upgrade_progress') IS NOT NULL AS has_progress,
       to_regclass('alembic_version') IS NOT NULL AS has_main_version

-- name: legacy.upgrade_version --
-- kind: maintenance
SELECT version_num FROM venuepulse_upgrade_version LIMIT 1

-- name: legacy.main_version --
-- kind: maintenance
SELECT version_num FROM alembic_version LIMIT 1

-- name: legacy.tables_present --
-- kind: maintenance
SELECT t AS table_name, to_regclass(t) IS NOT NULL AS present
FROM unnest(%(tables)s::text[]) AS t

-- name: legacy.lock_wait --
-- kind: maintenance
SELECT set_config('lock_timeout', %(timeout)s, true)

-- A backfill's transaction-local setting (venuepulse.upgrade_backfill, venuepulse.bulk_load), read by triggers.
-- name: legacy.backfill_setting --
-- kind: maintenance
SELECT set_config(%(key)s, %(value)s, true)

-- ---------------------------------------------------------------------------------------------------
-- Phase 1 backfills: the computed columns
-- ---------------------------------------------------------------------------------------------------

-- name: legacy.count_venues --
-- kind: maintenance
SELECT count(*) AS n FROM venues

-- name: legacy.bound_venues --
-- kind: maintenance
SELECT b.id::text AS upper FROM (
  SELECT id FROM venues WHERE %(last)s::uuid IS NULL OR id > %(last)s::uuid ORDER BY id LIMIT %(limit)s) b ORDER BY b.id DESC LIMIT 1

-- The venue rows are locked first; the recount runs in the next statement, so it sees every check-in
-- whose trigger got to the venue before us, and later ones add to the recounted value.
-- name: legacy.lock_venues --
-- kind: maintenance
SELECT id FROM venues
WHERE (%(last)s::uuid IS NULL OR id > %(last)s::uuid) AND id <= %(upper)s::uuid ORDER BY id FOR UPDATE

-- name: legacy.backfill_venue_counters --
-- kind: maintenance
UPDATE venues v SET active_check_in_count = c.active, total_check_in_count = c.total, last_check_in_at = c.last_at
FROM (SELECT v2.id, count(ci.id) FILTER (WHERE ci.is_active)::integer AS active, count(ci.id)::integer AS total,
             max(ci.checked_in_at) AS last_at
      FROM venues v2 LEFT JOIN check_ins ci ON ci.venue_id = v2.id
      WHERE (%(last)s::uuid IS NULL OR v2.id > %(last)s::uuid) AND v2.id <= %(upper)s::uuid
      GROUP BY v2.id) c
WHERE v.id = c.id

-- name: legacy.count_offers --
-- kind: maintenance
SELECT count(*) AS n FROM flash_offers

-- name: legacy.bound_offers --
-- kind: maintenance
SELECT b.id::text AS upper FROM (
  SELECT id FROM flash_offers WHERE %(last)s::uuid IS NULL OR id > %(last)s::uuid ORDER BY id LIMIT %(limit)s) b ORDER BY b.id DESC LIMIT 1

-- name: legacy.lock_offers --
-- kind: maintenance
SELECT id FROM flash_offers
WHERE (%(last)s::uuid IS NULL OR id > %(last)s::uuid) AND id <= %(upper)s::uuid ORDER BY id FOR UPDATE

-- Counters from the rows; an offer the legacy claim race overshot gets max_claims raised to its real
-- number of claims (so "never over" holds without dropping anyone's claim).  Pushes: the legacy app
-- recorded offer pushes as 'flash_offer' in-app notifications.
-- name: legacy.backfill_offer_counters --
-- kind: maintenance
UPDATE flash_offers o SET
  claimed_count = c.claimed, redeemed_count = c.redeemed, max_claims = greatest(o.max_claims, c.claimed),
  view_count = c.views, click_count = c.clicks,
  push_recipient_count = c.pushed,
  push_sent = o.push_sent OR c.pushed > 0,
  push_sent_at = CASE WHEN o.push_sent THEN o.push_sent_at WHEN c.pushed > 0 THEN c.first_push END
FROM (SELECT o2.id,
             (SELECT count(*) FROM flash_offer_claims fc WHERE fc.offer_id = o2.id)::integer AS claimed,
             (SELECT count(*) FROM flash_offer_claims fc WHERE fc.offer_id = o2.id AND fc.status = 'redeemed')::integer AS redeemed,
             (SELECT count(*) FROM flash_offer_events e WHERE e.offer_id = o2.id AND e.event_type = 'view')::integer AS views,
             (SELECT count(*) FROM flash_offer_events e WHERE e.offer_id = o2.id AND e.event_type = 'click')::integer AS clicks,
             (SELECT count(DISTINCT sn.user_id) FROM social_notifications sn
               WHERE sn.type = 'flash_offer' AND sn.reference_type = 'flash_offer' AND sn.reference_id = o2.id)::integer AS pushed,
             (SELECT min(sn.created_at) FROM social_notifications sn
               WHERE sn.type = 'flash_offer' AND sn.reference_type = 'flash_offer' AND sn.reference_id = o2.id) AS first_push
      FROM flash_offers o2
      WHERE (%(last)s::uuid IS NULL OR o2.id > %(last)s::uuid) AND o2.id <= %(upper)s::uuid) c
WHERE o.id = c.id

-- name: legacy.validate_phase1 --
-- kind: maintenance
ALTER TABLE venues VALIDATE CONSTRAINT venues_active_check_in_count_check,
                   VALIDATE CONSTRAINT venues_total_check_in_count_check,
                   VALIDATE CONSTRAINT venues_active_le_total

-- ---------------------------------------------------------------------------------------------------
-- Phase 2 backfills: the new tables, from the old ones (rows locked FOR SHARE while copied, so a
-- concurrent update or delete waits and its mirror trigger then sees the copy)
-- ---------------------------------------------------------------------------------------------------

-- name: legacy.count_notification_preferences --
-- kind: maintenance
SELECT count(*) AS n FROM notification_preferences

-- name: legacy.bound_notification_preferences --
-- kind: maintenance
SELECT b.user_id::text AS upper FROM (
  SELECT user_id FROM notification_preferences WHERE %(last)s::uuid IS NULL OR user_id > %(last)s::uuid
  ORDER BY user_id LIMIT %(limit)s) b ORDER BY b.user_id DESC LIMIT 1

-- name: legacy.backfill_notification_settings --
-- kind: maintenance
WITH src AS (
  SELECT p FROM notification_preferences p
  WHERE (%(last)s::uuid IS NULL OR p.user_id > %(last)s::uuid) AND p.user_id <= %(upper)s::uuid FOR SHARE)
INSERT INTO notification_settings
SELECT m.* FROM src, LATERAL vp_upgrade_map_settings(src.p) m
ON CONFLICT DO NOTHING

-- name: legacy.count_social_notifications --
-- kind: maintenance
SELECT count(*) AS n FROM social_notifications

-- name: legacy.bound_social_notifications --
-- kind: maintenance
SELECT b.id::text AS upper FROM (
  SELECT id FROM social_notifications WHERE %(last)s::uuid IS NULL OR id > %(last)s::uuid ORDER BY id LIMIT %(limit)s) b ORDER BY b.id DESC LIMIT 1

-- name: legacy.backfill_notifications --
-- kind: maintenance
WITH src AS (
  SELECT s FROM social_notifications s
  WHERE (%(last)s::uuid IS NULL OR s.id > %(last)s::uuid) AND s.id <= %(upper)s::uuid FOR SHARE)
INSERT INTO notifications
SELECT m.* FROM src, LATERAL vp_upgrade_map_notification(src.s) m
ON CONFLICT DO NOTHING

-- name: legacy.count_activity_feed --
-- kind: maintenance
SELECT count(*) AS n FROM activity_feed

-- name: legacy.bound_activity_feed --
-- kind: maintenance
SELECT b.id::text AS upper FROM (
  SELECT id FROM activity_feed WHERE %(last)s::uuid IS NULL OR id > %(last)s::uuid ORDER BY id LIMIT %(limit)s) b ORDER BY b.id DESC LIMIT 1

-- A feed row about a check-in/review/favorite is that row's event: skip it if the event exists already.
-- name: legacy.backfill_events_from_activity --
-- kind: maintenance
WITH src AS (
  SELECT a FROM activity_feed a
  WHERE (%(last)s::uuid IS NULL OR a.id > %(last)s::uuid) AND a.id <= %(upper)s::uuid FOR SHARE)
INSERT INTO event_stream
SELECT m.* FROM src, LATERAL vp_upgrade_map_activity(src.a) m
WHERE m.source_id IS NULL
   OR NOT EXISTS (SELECT 1 FROM event_stream e WHERE e.source_id = m.source_id AND e.event_type = m.event_type)
ON CONFLICT DO NOTHING

-- name: legacy.count_flash_offer_events --
-- kind: maintenance
SELECT count(*) AS n FROM flash_offer_events

-- name: legacy.bound_flash_offer_events --
-- kind: maintenance
SELECT b.id::text AS upper FROM (
  SELECT id FROM flash_offer_events WHERE %(last)s::uuid IS NULL OR id > %(last)s::uuid ORDER BY id LIMIT %(limit)s) b ORDER BY b.id DESC LIMIT 1

-- Runs with venuepulse.bulk_load on: phase 1 already counted these views and clicks.
-- name: legacy.backfill_events_from_offer_events --
-- kind: maintenance
WITH src AS (
  SELECT f FROM flash_offer_events f
  WHERE (%(last)s::uuid IS NULL OR f.id > %(last)s::uuid) AND f.id <= %(upper)s::uuid FOR SHARE)
INSERT INTO event_stream
SELECT m.* FROM src, LATERAL vp_upgrade_map_offer_event(src.f) m
ON CONFLICT DO NOTHING

-- name: legacy.count_check_ins --
-- kind: maintenance
SELECT count(*) AS n FROM check_ins

-- name: legacy.bound_check_ins --
-- kind: maintenance
SELECT b.id::text AS upper FROM (
  SELECT id FROM check_ins WHERE %(last)s::uuid IS NULL OR id > %(last)s::uuid ORDER BY id LIMIT %(limit)s) b ORDER BY b.id DESC LIMIT 1

-- The events 0001's triggers make for every check-in, review, favorite and claim, for the rows that
-- existed before those triggers did (and have no feed row standing for them).
-- name: legacy.backfill_check_in_events --
-- kind: maintenance
WITH src AS (
  SELECT c.id, c.user_id, c.venue_id, c.checked_in_at FROM check_ins c
  WHERE (%(last)s::uuid IS NULL OR c.id > %(last)s::uuid) AND c.id <= %(upper)s::uuid FOR SHARE)
INSERT INTO event_stream (event_type, category, user_id, target_type, target_id, venue_id, source_id,
                          visibility, created_at)
SELECT 'check_in', 'social', s.user_id, 'venue', s.venue_id, s.venue_id, s.id,
       vp_visibility_for(s.user_id, 'check_ins'), s.checked_in_at
FROM src s
WHERE NOT EXISTS (SELECT 1 FROM event_stream e WHERE e.source_id = s.id AND e.event_type = 'check_in')

-- name: legacy.count_reviews --
-- kind: maintenance
SELECT count(*) AS n FROM reviews

-- name: legacy.bound_reviews --
-- kind: maintenance
SELECT b.id::text AS upper FROM (
  SELECT id FROM reviews WHERE %(last)s::uuid IS NULL OR id > %(last)s::uuid ORDER BY id LIMIT %(limit)s) b ORDER BY b.id DESC LIMIT 1

-- name: legacy.backfill_review_events --
-- kind: maintenance
WITH src AS (
  SELECT r.id, r.user_id, r.venue_id, r.rating, r.created_at FROM reviews r
  WHERE (%(last)s::uuid IS NULL OR r.id > %(last)s::uuid) AND r.id <= %(upper)s::uuid FOR SHARE)
INSERT INTO event_stream (event_type, category, user_id, target_type, target_id, venue_id, source_id,
                          visibility, metadata, created_at)
SELECT 'review', 'social', s.user_id, 'venue', s.venue_id, s.venue_id, s.id,
       vp_visibility_for(s.user_id, 'reviews'), jsonb_build_object('rating', s.rating), s.created_at
FROM src s
WHERE NOT EXISTS (SELECT 1 FROM event_stream e WHERE e.source_id = s.id AND e.event_type = 'review')

-- name: legacy.count_favorite_users --
-- kind: maintenance
SELECT count(DISTINCT user_id) AS n FROM favorites

-- name: legacy.bound_favorite_users --
-- kind: maintenance
SELECT b.user_id::text AS upper FROM (
  SELECT DISTINCT user_id FROM favorites WHERE %(last)s::uuid IS NULL OR user_id > %(last)s::uuid
  ORDER BY user_id LIMIT %(limit)s) b ORDER BY b.user_id DESC LIMIT 1

-- name: legacy.backfill_favorite_events --
-- kind: maintenance
WITH src AS (
  SELECT f.user_id, f.venue_id, f.created_at FROM favorites f
  WHERE (%(last)s::uuid IS NULL OR f.user_id > %(last)s::uuid) AND f.user_id <= %(upper)s::uuid FOR SHARE)
INSERT INTO event_stream (event_type, category, user_id, target_type, target_id, venue_id, source_id,
                          visibility, created_at)
SELECT 'favorite', 'engagement', s.user_id, 'venue', s.venue_id, s.venue_id,
       vp_favorite_source_id(s.user_id, s.venue_id), vp_visibility_for(s.user_id, 'favorites'), s.created_at
FROM src s
WHERE NOT EXISTS (SELECT 1 FROM event_stream e
                  WHERE e.source_id = vp_favorite_source_id(s.user_id, s.venue_id) AND e.event_type = 'favorite')

-- name: legacy.count_claims --
-- kind: maintenance
SELECT count(*) AS n FROM flash_offer_claims

-- name: legacy.bound_claims --
-- kind: maintenance
SELECT b.id::text AS upper FROM (
  SELECT id FROM flash_offer_claims WHERE %(last)s::uuid IS NULL OR id > %(last)s::uuid ORDER BY id LIMIT %(limit)s) b ORDER BY b.id DESC LIMIT 1

-- name: legacy.backfill_claim_events --
-- kind: maintenance
WITH src AS (
  SELECT c.id, c.offer_id, c.user_id, c.status, c.redeemed_at, c.redeemed_by_user_id, c.created_at,
         o.venue_id
  FROM flash_offer_claims c JOIN flash_offers o ON o.id = c.offer_id
  WHERE (%(last)s::uuid IS NULL OR c.id > %(last)s::uuid) AND c.id <= %(upper)s::uuid FOR SHARE OF c),
claims AS (
  INSERT INTO event_stream (event_type, category, user_id, target_type, target_id, venue_id, source_id,
                            visibility, is_analytics_event, created_at)
  SELECT 'flash_offer_claim', 'commerce', s.user_id, 'offer', s.offer_id, s.venue_id, s.id, 'private', true,
         s.created_at
  FROM src s
  WHERE NOT EXISTS (SELECT 1 FROM event_stream e WHERE e.source_id = s.id AND e.event_type = 'flash_offer_claim')
  RETURNING 1),
redeems AS (
  INSERT INTO event_stream (event_type, category, user_id, target_type, target_id, venue_id, source_id,
                            visibility, is_analytics_event, metadata, created_at)
  SELECT 'flash_offer_redeem', 'commerce', s.user_id, 'offer', s.offer_id, s.venue_id, s.id, 'private', true,
         CASE WHEN s.redeemed_by_user_id IS NULL THEN '{}'::jsonb
              ELSE jsonb_build_object('staff_id', s.redeemed_by_user_id) END,
         s.redeemed_at
  FROM src s
  WHERE s.status = 'redeemed'
    AND NOT EXISTS (SELECT 1 FROM event_stream e WHERE e.source_id = s.id AND e.event_type = 'flash_offer_redeem')
  RETURNING 1)
SELECT (SELECT count(*) FROM claims) + (SELECT count(*) FROM redeems) AS n

-- name: legacy.count_users --
-- kind: maintenance
SELECT count(*) AS n FROM users

-- name: legacy.bound_users --
-- kind: maintenance
SELECT b.id::text AS upper FROM (
  SELECT id FROM users WHERE %(last)s::uuid IS NULL OR id > %(last)s::uuid ORDER BY id LIMIT %(limit)s) b ORDER BY b.id DESC LIMIT 1

-- Takes the same per-pair advisory locks as vp_sync_interaction and returns the pairs it locked; the
-- next statement recounts only those: a concurrent change to a locked pair either finished before the
-- recount or recounts after it.  A pair this statement did not see was first written after its
-- snapshot, by a transaction whose trigger recounted the pair under the lock: its row is already
-- right, and recounting it here, without the lock, could overwrite a later change with an older count.
-- name: legacy.lock_interaction_pairs --
-- kind: maintenance
SELECT p.user_id::text || '/' || p.venue_id::text AS pair,
       pg_advisory_xact_lock(hashtextextended(p.user_id::text || '/' || p.venue_id::text, 7)) AS locked
FROM (
  SELECT user_id, venue_id FROM check_ins
  WHERE (%(last)s::uuid IS NULL OR user_id > %(last)s::uuid) AND user_id <= %(upper)s::uuid
  UNION SELECT user_id, venue_id FROM reviews
  WHERE (%(last)s::uuid IS NULL OR user_id > %(last)s::uuid) AND user_id <= %(upper)s::uuid
  UNION SELECT user_id, venue_id FROM favorites
  WHERE (%(last)s::uuid IS NULL OR user_id > %(last)s::uuid) AND user_id <= %(upper)s::uuid
  UNION SELECT c.user_id, cv.venue_id FROM collection_venues cv JOIN collections c ON c.id = cv.collection_id
  WHERE (%(last)s::uuid IS NULL OR c.user_id > %(last)s::uuid) AND c.user_id <= %(upper)s::uuid
  UNION SELECT fc.user_id, o.venue_id FROM flash_offer_claims fc JOIN flash_offers o ON o.id = fc.offer_id
  WHERE (%(last)s::uuid IS NULL OR fc.user_id > %(last)s::uuid) AND fc.user_id <= %(upper)s::uuid
  ORDER BY 1, 2) p

-- venue_interactions_expected, restricted to one range of users in every part.
-- name: legacy.backfill_venue_interactions --
-- kind: maintenance
WITH ci AS (
  SELECT user_id, venue_id, count(*)::integer AS n, max(checked_in_at) AS last_at, min(checked_in_at) AS first_at
  FROM check_ins WHERE (%(last)s::uuid IS NULL OR user_id > %(last)s::uuid) AND user_id <= %(upper)s::uuid
  GROUP BY user_id, venue_id),
rv AS (
  SELECT user_id, venue_id, 1 AS n, created_at AS last_at, rating::integer AS rating FROM reviews
  WHERE (%(last)s::uuid IS NULL OR user_id > %(last)s::uuid) AND user_id <= %(upper)s::uuid),
fv AS (
  SELECT user_id, venue_id, created_at FROM favorites
  WHERE (%(last)s::uuid IS NULL OR user_id > %(last)s::uuid) AND user_id <= %(upper)s::uuid),
co AS (
  SELECT c.user_id, cv.venue_id, count(*)::integer AS n, min(cv.added_at) AS first_at, max(cv.added_at) AS last_at
  FROM collection_venues cv JOIN collections c ON c.id = cv.collection_id
  WHERE (%(last)s::uuid IS NULL OR c.user_id > %(last)s::uuid) AND c.user_id <= %(upper)s::uuid
  GROUP BY c.user_id, cv.venue_id),
cl AS (
  SELECT c.user_id, o.venue_id, count(*)::integer AS n, max(c.created_at) AS last_at, min(c.created_at) AS first_at
  FROM flash_offer_claims c JOIN flash_offers o ON o.id = c.offer_id
  WHERE (%(last)s::uuid IS NULL OR c.user_id > %(last)s::uuid) AND c.user_id <= %(upper)s::uuid
  GROUP BY c.user_id, o.venue_id),
pairs AS (
  SELECT u.user_id, u.venue_id FROM (
    SELECT user_id, venue_id FROM ci UNION SELECT user_id, venue_id FROM rv UNION
    SELECT user_id, venue_id FROM fv UNION SELECT user_id, venue_id FROM co UNION
    SELECT user_id, venue_id FROM cl) u
  WHERE u.user_id::text || '/' || u.venue_id::text = ANY (%(locked)s::text[]))
INSERT INTO venue_interactions AS vi (
  user_id, venue_id, check_in_count, last_check_in_at, review_count, last_review_at, current_rating,
  is_favorited, favorited_at, collection_count, flash_offer_claim_count, last_claim_at,
  first_interaction_at, last_interaction_at)
SELECT p.user_id, p.venue_id,
       coalesce(ci.n, 0), ci.last_at, coalesce(rv.n, 0), rv.last_at, rv.rating,
       fv.user_id IS NOT NULL, fv.created_at, coalesce(co.n, 0), coalesce(cl.n, 0), cl.last_at,
       least(ci.first_at, rv.last_at, fv.created_at, co.first_at, cl.first_at),
       greatest(ci.last_at, rv.last_at, fv.created_at, co.last_at, cl.last_at)
FROM pairs p
JOIN users u ON u.id = p.user_id
JOIN venues v ON v.id = p.venue_id
LEFT JOIN ci ON ci.user_id = p.user_id AND ci.venue_id = p.venue_id
LEFT JOIN rv ON rv.user_id = p.user_id AND rv.venue_id = p.venue_id
LEFT JOIN fv ON fv.user_id = p.user_id AND fv.venue_id = p.venue_id
LEFT JOIN co ON co.user_id = p.user_id AND co.venue_id = p.venue_id
LEFT JOIN cl ON cl.user_id = p.user_id AND cl.venue_id = p.venue_id
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

-- name: legacy.validate_phase2 --
-- kind: maintenance
ALTER TABLE flash_offers VALIDATE CONSTRAINT flash_offers_redeemed_count_check,
                         VALIDATE CONSTRAINT flash_offers_view_count_check,
                         VALIDATE CONSTRAINT flash_offers_click_count_check,
                         VALIDATE CONSTRAINT flash_offers_push_recipient_count_check,
                         VALIDATE CONSTRAINT flash_offers_never_over,
                         VALIDATE CONSTRAINT flash_offers_redeemed_le_claimed,
                         VALIDATE CONSTRAINT flash_offers_push_pair

-- name: legacy.validate_users_timezone --
-- kind: maintenance
ALTER TABLE users VALIDATE CONSTRAINT users_timezone_check

-- name: legacy.validate_claims_fk --
-- kind: maintenance
ALTER TABLE flash_offer_claims VALIDATE CONSTRAINT flash_offer_claims_redeemed_by_user_id_fkey

-- ---------------------------------------------------------------------------------------------------
-- Phase 4: batched copy of check_ins and event_stream into their partitioned replacements
-- ---------------------------------------------------------------------------------------------------

-- name: legacy.copy_check_ins --
-- kind: maintenance
WITH src AS (
  SELECT id, user_id, venue_id, checked_in_at, checked_out_at, is_active FROM check_ins
  WHERE (%(last)s::uuid IS NULL OR id > %(last)s::uuid) AND id <= %(upper)s::uuid FOR SHARE)
INSERT INTO check_ins_partitioned (id, user_id, venue_id, checked_in_at, checked_out_at, is_active)
SELECT id, user_id, venue_id, checked_in_at, checked_out_at, is_active FROM src
ON CONFLICT DO NOTHING

-- name: legacy.count_event_stream --
-- kind: maintenance
SELECT count(*) AS n FROM event_stream

-- name: legacy.bound_event_stream --
-- kind: maintenance
SELECT b.id::text AS upper FROM (
  SELECT id FROM event_stream WHERE %(last)s::uuid IS NULL OR id > %(last)s::uuid ORDER BY id LIMIT %(limit)s) b ORDER BY b.id DESC LIMIT 1

-- name: legacy.copy_event_stream --
-- kind: maintenance
WITH src AS (
  SELECT id, event_type, category, user_id, target_type, target_id, venue_id, source_id, visibility, metadata,
         is_analytics_event, created_at
  FROM event_stream
  WHERE (%(last)s::uuid IS NULL OR id > %(last)s::uuid) AND id <= %(upper)s::uuid FOR SHARE)
INSERT INTO event_stream_partitioned (id, event_type, category, user_id, target_type, target_id, venue_id,
                                      source_id, visibility, metadata, is_analytics_event, created_at)
SELECT * FROM src
ON CONFLICT DO NOTHING

-- name: legacy.partition_copy_counts --
-- kind: maintenance
SELECT (SELECT count(*) FROM check_ins) AS check_ins_old,
       (SELECT count(*) FROM check_ins_partitioned) AS check_ins_new,
       (SELECT count(*) FROM event_stream) AS event_stream_old,
       (SELECT count(*) FROM event_stream_partitioned) AS event_stream_new

-- name: legacy.data_range --
-- kind: maintenance
SELECT least((SELECT min(checked_in_at) FROM check_ins), (SELECT min(created_at) FROM event_stream), now()) AS first_at

-- Shadow partitions from the first data up to three months ahead (vp_upgrade_shadow_partitions is L4's).
-- name: legacy.shadow_partitions --
-- kind: maintenance
SELECT vp_upgrade_shadow_partitions(%(table)s::text, %(shadow)s::text, %(from)s::timestamptz,
                                    now() + interval '3 months')

-- A constraint of the renamed table or of one of its partitions still named after the shadow copy.
-- name: legacy.shadow_constraint --
-- kind: maintenance
SELECT c.relname, k.conname
FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
WHERE (c.oid = %(table)s::regclass
       OR c.oid IN (SELECT inhrelid FROM pg_inherits WHERE inhparent = %(table)s::regclass))
  AND k.conname LIKE %(prefix)s
ORDER BY c.relispartition
LIMIT 1

-- name: legacy.relation_exists --
-- kind: maintenance
SELECT to_regclass(%(name)s::text) IS NOT NULL AS present

-- A table's own trigger (not one cloned onto a partition, not a constraint's internal one).
-- name: legacy.trigger_exists --
-- kind: maintenance
SELECT 1 FROM pg_trigger WHERE tgname = %(name)s::name AND NOT tgisinternal AND tgparentid = 0

-- name: legacy.refresh_venue_stats --
-- kind: maintenance
SELECT refresh_venue_stats()

-- ---------------------------------------------------------------------------------------------------
-- Verification (phase 2 and 3): old vs new, row counts and per-key md5 checksums of the mapped rows.
-- Each verify query returns every differing key: missing_in_new, extra_in_new, changed, duplicate.
-- ---------------------------------------------------------------------------------------------------

-- name: legacy.verify_counts --
-- kind: maintenance
SELECT
  (SELECT count(*) FROM notification_preferences) AS notification_settings_old,
  (SELECT count(*) FROM notification_settings) AS notification_settings_new,
  (SELECT count(*) FROM social_notifications) AS notifications_old,
  (SELECT count(*) FROM notifications) AS notifications_new,
  (SELECT count(*) FROM activity_feed) AS activity_feed_old,
  (SELECT count(*) FROM event_stream e WHERE NOT e.is_analytics_event
     AND (e.event_type NOT IN ('check_in', 'review', 'favorite')
          OR EXISTS (SELECT 1 FROM activity_feed a WHERE a.id = e.id))) AS activity_feed_new,
  (SELECT count(*) FROM flash_offer_events) AS offer_events_old,
  (SELECT count(*) FROM event_stream WHERE is_analytics_event
     AND event_type IN ('flash_offer_view', 'flash_offer_click')) AS offer_events_new,
  (SELECT count(*) FROM check_ins) AS check_in_events_old,
  (SELECT count(*) FROM event_stream WHERE event_type = 'check_in' AND source_id IS NOT NULL) AS check_in_events_new,
  (SELECT count(*) FROM reviews) AS review_events_old,
  (SELECT count(*) FROM event_stream WHERE event_type = 'review' AND source_id IS NOT NULL) AS review_events_new,
  (SELECT count(*) FROM favorites) AS favorite_events_old,
  (SELECT count(*) FROM event_stream WHERE event_type = 'favorite' AND source_id IS NOT NULL) AS favorite_events_new,
  (SELECT count(*) FROM flash_offer_claims) AS claim_events_old,
  (SELECT count(*) FROM event_stream WHERE event_type = 'flash_offer_claim') AS claim_events_new,
  (SELECT count(*) FROM flash_offer_claims WHERE status = 'redeemed') AS redeem_events_old,
  (SELECT count(*) FROM event_stream WHERE event_type = 'flash_offer_redeem') AS redeem_events_new,
  (SELECT count(*) FROM venues) AS venue_counters_old,
  (SELECT count(*) FROM venues) AS venue_counters_new,
  (SELECT count(*) FROM flash_offers) AS offer_counters_old,
  (SELECT count(*) FROM flash_offers) AS offer_counters_new,
  (SELECT count(*) FROM venue_interactions_expected) AS venue_interactions_old,
  (SELECT count(*) FROM venue_interactions) AS venue_interactions_new

-- name: legacy.verify_notification_settings --
-- kind: maintenance
SELECT coalesce(o.key, n.key)::text AS key,
       CASE WHEN n.key IS NULL THEN 'missing_in_new' WHEN o.key IS NULL THEN 'extra_in_new' ELSE 'changed' END AS difference
FROM (SELECT m.user_id AS key, md5(m::text) AS h
      FROM notification_preferences p, LATERAL vp_upgrade_map_settings(p) m) o
FULL JOIN (SELECT s.user_id AS key, md5(s::text) AS h FROM notification_settings s) n ON n.key = o.key
WHERE o.key IS NULL OR n.key IS NULL OR o.h <> n.h
ORDER BY 1

-- name: legacy.verify_notifications --
-- kind: maintenance
SELECT coalesce(o.key, n.key)::text AS key,
       CASE WHEN n.key IS NULL THEN 'missing_in_new' WHEN o.key IS NULL THEN 'extra_in_new' ELSE 'changed' END AS difference
FROM (SELECT m.id AS key, md5(m::text) AS h
      FROM social_notifications s, LATERAL vp_upgrade_map_notification(s) m) o
FULL JOIN (SELECT x.id AS key, md5(x::text) AS h FROM notifications x) n ON n.key = o.key
WHERE o.key IS NULL OR n.key IS NULL OR o.h <> n.h
ORDER BY 1

-- The new side: events of feed-only kinds, and check-in/review/favorite events standing for a feed row.
-- name: legacy.verify_activity_feed --
-- kind: maintenance
SELECT coalesce(o.key, n.key)::text AS key,
       CASE WHEN n.key IS NULL THEN 'missing_in_new' WHEN o.key IS NULL THEN 'extra_in_new' ELSE 'changed' END AS difference
FROM (SELECT m.id AS key, md5(m::text) AS h FROM activity_feed a, LATERAL vp_upgrade_map_activity(a) m) o
FULL JOIN (SELECT e.id AS key, md5(e::text) AS h FROM event_stream e
           WHERE NOT e.is_analytics_event
             AND (e.event_type NOT IN ('check_in', 'review', 'favorite')
                  OR EXISTS (SELECT 1 FROM activity_feed a WHERE a.id = e.id))) n ON n.key = o.key
WHERE o.key IS NULL OR n.key IS NULL OR o.h <> n.h
ORDER BY 1

-- name: legacy.verify_offer_events --
-- kind: maintenance
SELECT coalesce(o.key, n.key)::text AS key,
       CASE WHEN n.key IS NULL THEN 'missing_in_new' WHEN o.key IS NULL THEN 'extra_in_new' ELSE 'changed' END AS difference
FROM (SELECT m.id AS key, md5(m::text) AS h FROM flash_offer_events f, LATERAL vp_upgrade_map_offer_event(f) m) o
FULL JOIN (SELECT e.id AS key, md5(e::text) AS h FROM event_stream e
           WHERE e.is_analytics_event AND e.event_type IN ('flash_offer_view', 'flash_offer_click')) n
  ON n.key = o.key
WHERE o.key IS NULL OR n.key IS NULL OR o.h <> n.h
ORDER BY 1

-- name: legacy.verify_check_in_events --
-- kind: maintenance
SELECT coalesce(o.key, n.key)::text AS key,
       CASE WHEN n.key IS NULL THEN 'missing_in_new' WHEN o.key IS NULL THEN 'extra_in_new'
            WHEN n.cnt > 1 THEN 'duplicate' ELSE 'changed' END AS difference
FROM (SELECT id AS key, md5(user_id::text || '/' || venue_id::text) AS h FROM check_ins) o
FULL JOIN (SELECT source_id AS key, count(*) AS cnt, md5(min(user_id::text) || '/' || min(venue_id::text)) AS h
           FROM event_stream WHERE event_type = 'check_in' AND source_id IS NOT NULL GROUP BY source_id) n
  ON n.key = o.key
WHERE o.key IS NULL OR n.key IS NULL OR n.cnt > 1 OR o.h <> n.h
ORDER BY 1

-- name: legacy.verify_review_events --
-- kind: maintenance
SELECT coalesce(o.key, n.key)::text AS key,
       CASE WHEN n.key IS NULL THEN 'missing_in_new' WHEN o.key IS NULL THEN 'extra_in_new'
            WHEN n.cnt > 1 THEN 'duplicate' ELSE 'changed' END AS difference
FROM (SELECT id AS key, md5(user_id::text || '/' || venue_id::text) AS h FROM reviews) o
FULL JOIN (SELECT source_id AS key, count(*) AS cnt, md5(min(user_id::text) || '/' || min(venue_id::text)) AS h
           FROM event_stream WHERE event_type = 'review' AND source_id IS NOT NULL GROUP BY source_id) n
  ON n.key = o.key
WHERE o.key IS NULL OR n.key IS NULL OR n.cnt > 1 OR o.h <> n.h
ORDER BY 1

-- name: legacy.verify_favorite_events --
-- kind: maintenance
SELECT coalesce(o.key, n.key)::text AS key,
       CASE WHEN n.key IS NULL THEN 'missing_in_new' WHEN o.key IS NULL THEN 'extra_in_new'
            WHEN n.cnt > 1 THEN 'duplicate' ELSE 'changed' END AS difference
FROM (SELECT vp_favorite_source_id(user_id, venue_id) AS key, md5(user_id::text || '/' || venue_id::text) AS h
      FROM favorites) o
FULL JOIN (SELECT source_id AS key, count(*) AS cnt, md5(min(user_id::text) || '/' || min(venue_id::text)) AS h
           FROM event_stream WHERE event_type = 'favorite' AND source_id IS NOT NULL GROUP BY source_id) n
  ON n.key = o.key
WHERE o.key IS NULL OR n.key IS NULL OR n.cnt > 1 OR o.h <> n.h
ORDER BY 1

-- name: legacy.verify_claim_events --
-- kind: maintenance
SELECT coalesce(o.key, n.key)::text AS key,
       CASE WHEN n.key IS NULL THEN 'missing_in_new' WHEN o.key IS NULL THEN 'extra_in_new'
            WHEN n.cnt > 1 THEN 'duplicate' ELSE 'changed' END AS difference
FROM (SELECT id AS key, md5(user_id::text || '/' || offer_id::text) AS h FROM flash_offer_claims) o
FULL JOIN (SELECT source_id AS key, count(*) AS cnt, md5(min(user_id::text) || '/' || min(target_id::text)) AS h
           FROM event_stream WHERE event_type = 'flash_offer_claim' GROUP BY source_id) n
  ON n.key = o.key
WHERE o.key IS NULL OR n.key IS NULL OR n.cnt > 1 OR o.h <> n.h
ORDER BY 1

-- name: legacy.verify_redeem_events --
-- kind: maintenance
SELECT coalesce(o.key, n.key)::text AS key,
       CASE WHEN n.key IS NULL THEN 'missing_in_new' WHEN o.key IS NULL THEN 'extra_in_new'
            WHEN n.cnt > 1 THEN 'duplicate' ELSE 'changed' END AS difference
FROM (SELECT id AS key, md5(user_id::text || '/' || offer_id::text) AS h
      FROM flash_offer_claims WHERE status = 'redeemed') o
FULL JOIN (SELECT source_id AS key, count(*) AS cnt, md5(min(user_id::text) || '/' || min(target_id::text)) AS h
           FROM event_stream WHERE event_type = 'flash_offer_redeem' GROUP BY source_id) n
  ON n.key = o.key
WHERE o.key IS NULL OR n.key IS NULL OR n.cnt > 1 OR o.h <> n.h
ORDER BY 1

-- name: legacy.verify_venue_counters --
-- kind: maintenance
SELECT v.id::text AS key, 'changed' AS difference
FROM venues v JOIN venue_counters_expected e ON e.venue_id = v.id
WHERE (v.active_check_in_count, v.total_check_in_count, v.last_check_in_at)
      IS DISTINCT FROM (e.active_check_in_count, e.total_check_in_count, e.last_check_in_at)
ORDER BY 1

-- name: legacy.verify_offer_counters --
-- kind: maintenance
SELECT o.id::text AS key, 'changed' AS difference
FROM flash_offers o JOIN flash_offer_counters_expected e ON e.offer_id = o.id
WHERE (o.claimed_count, o.redeemed_count, o.view_count, o.click_count)
      IS DISTINCT FROM (e.claimed_count, e.redeemed_count, e.view_count, e.click_count)
ORDER BY 1

-- name: legacy.verify_venue_interactions --
-- kind: maintenance
SELECT coalesce(e.user_id, vi.user_id)::text || '/' || coalesce(e.venue_id, vi.venue_id)::text AS key,
       CASE WHEN vi.user_id IS NULL THEN 'missing_in_new' WHEN e.user_id IS NULL THEN 'extra_in_new'
            ELSE 'changed' END AS difference
FROM venue_interactions_expected e
FULL JOIN venue_interactions vi ON vi.user_id = e.user_id AND vi.venue_id = e.venue_id
WHERE e.user_id IS NULL OR vi.user_id IS NULL
   OR (vi.check_in_count, vi.last_check_in_at, vi.review_count, vi.last_review_at, vi.current_rating,
       vi.is_favorited, vi.favorited_at, vi.collection_count, vi.flash_offer_claim_count, vi.last_claim_at,
       vi.first_interaction_at, vi.last_interaction_at)
      IS DISTINCT FROM
      (e.check_in_count, e.last_check_in_at, e.review_count, e.last_review_at, e.current_rating,
       e.is_favorited, e.favorited_at, e.collection_count, e.flash_offer_claim_count, e.last_claim_at,
       e.first_interaction_at, e.last_interaction_at)
ORDER BY 1
