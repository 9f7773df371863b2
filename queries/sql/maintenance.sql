-- Maintenance statements run by the jobs process (see queries/maintenance.py and docs/jobs.md).

-- name: maintenance.refresh_venue_stats --
-- kind: maintenance
-- CONCURRENTLY when the view is populated, a plain refresh the first time (inside the function).
SELECT refresh_venue_stats() IS NULL AS refreshed

-- name: maintenance.venue_stats_summary --
-- kind: maintenance
SELECT count(*) AS venues, max(refreshed_at) AS refreshed_at FROM venue_stats

-- name: maintenance.partition_policies --
-- kind: maintenance
SELECT parent_table, partition_key, period, ahead, retention FROM partition_policies ORDER BY parent_table

-- name: maintenance.ensure_partitions_ahead --
-- kind: maintenance
-- timeout: 5min
-- Partitions of one policy table from the current period to `ahead` periods after it.
SELECT e.partition_name, e.created, e.rows_moved
FROM partition_policies p,
     vp_ensure_partitions(p.parent_table, now(),
                          now() + make_interval(months => CASE WHEN p.period = 'month' THEN %(ahead)s::int ELSE 0 END,
                                                days => CASE WHEN p.period = 'day' THEN %(ahead)s::int ELSE 0 END)) AS e
WHERE p.parent_table = %(parent)s

-- name: maintenance.default_partition_periods --
-- kind: maintenance
-- Rows that landed in a default partition, per period of their policy (each period becomes a partition).
SELECT d.parent_table, d.period_start, d.row_count
FROM (
  SELECT 'check_ins' AS parent_table,
         date_trunc(p.period, c.checked_in_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS period_start,
         count(*) AS row_count
  FROM check_ins_default c, partition_policies p WHERE p.parent_table = 'check_ins' GROUP BY 1, 2
  UNION ALL
  SELECT 'event_stream',
         date_trunc(p.period, e.created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', count(*)
  FROM event_stream_default e, partition_policies p WHERE p.parent_table = 'event_stream' GROUP BY 1, 2
  UNION ALL
  SELECT 'query_performance_log',
         date_trunc(p.period, q.created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', count(*)
  FROM query_performance_log_default q, partition_policies p
  WHERE p.parent_table = 'query_performance_log' GROUP BY 1, 2
  UNION ALL
  SELECT 'wait_samples',
         date_trunc(p.period, w.bucket AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', count(*)
  FROM wait_samples_default w, partition_policies p
  WHERE p.parent_table = 'wait_samples' GROUP BY 1, 2
) d
ORDER BY d.parent_table, d.period_start
LIMIT %(limit)s

-- name: maintenance.move_default_rows --
-- kind: maintenance
-- timeout: 5min
-- Makes the partition holding `at`; rows of its range in the default partition move into it.
-- rows_moved is -1 when a table of the partition's name already exists (then nothing could move).
SELECT vp_ensure_partition(p.parent_table, %(at)s) AS rows_moved,
       vp_partition_name(p.parent_table, p.period,
                         date_trunc(p.period, %(at)s::timestamptz AT TIME ZONE 'UTC') AT TIME ZONE 'UTC') AS partition_name
FROM partition_policies p WHERE p.parent_table = %(parent)s

-- name: maintenance.expired_partitions --
-- kind: maintenance
-- Partitions whose whole range is older than their table's retention, oldest first.
SELECT i.parent_table, i.partition_name, i.range_start, i.range_end
FROM partition_inventory i
JOIN partition_policies p ON p.parent_table = i.parent_table
WHERE p.retention IS NOT NULL AND NOT i.is_default AND i.range_end <= now() - p.retention
ORDER BY i.parent_table, i.range_start

-- name: maintenance.unrolled_hours --
-- kind: maintenance
-- timeout: 2min
-- Hours of query_performance_log in [start, end) holding rows but not rolled into the histograms.
SELECT count(DISTINCT date_trunc('hour', l.created_at, 'UTC')) AS hours
FROM query_performance_log l
WHERE l.created_at >= %(start)s AND l.created_at < %(end)s
  AND NOT EXISTS (SELECT 1 FROM query_perf_rollups r WHERE r.hour = date_trunc('hour', l.created_at, 'UTC'))

-- name: maintenance.drop_expired_partition --
-- kind: maintenance
-- timeout: 2min
SELECT vp_drop_expired_partition(%(parent)s, %(partition)s) AS range_end

-- name: maintenance.venue_counter_drift --
-- kind: maintenance
-- timeout: 10min
-- One snapshot: counters and the rows they count change in the same transaction, so any difference is drift.
-- Stored = what venues.active_check_in_count, .total_check_in_count and .last_check_in_at read (the
-- documented read path: sharded total, active and last from check_ins).
SELECT v.id AS venue_id,
       jsonb_build_object('active_check_in_count', v.active_check_in_count,
                          'total_check_in_count', v.total_check_in_count,
                          'last_check_in_at', v.last_check_in_at) AS stored,
       jsonb_build_object('active_check_in_count', e.active_check_in_count,
                          'total_check_in_count', e.total_check_in_count,
                          'last_check_in_at', e.last_check_in_at) AS expected
FROM venues v
JOIN venue_counters_expected e ON e.venue_id = v.id
WHERE (v.active_check_in_count, v.total_check_in_count, v.last_check_in_at)
      IS DISTINCT FROM (e.active_check_in_count, e.total_check_in_count, e.last_check_in_at)
ORDER BY v.id

-- name: maintenance.offer_counter_drift --
-- kind: maintenance
-- timeout: 10min
SELECT o.id AS offer_id,
       jsonb_build_object('claimed_count', o.claimed_count, 'redeemed_count', o.redeemed_count,
                          'view_count', o.view_count, 'click_count', o.click_count) AS stored,
       jsonb_build_object('claimed_count', e.claimed_count, 'redeemed_count', e.redeemed_count,
                          'view_count', e.view_count, 'click_count', e.click_count) AS expected
FROM flash_offers o
JOIN flash_offer_counters_expected e ON e.offer_id = o.id
WHERE (o.claimed_count, o.redeemed_count, o.view_count, o.click_count)
      IS DISTINCT FROM (e.claimed_count, e.redeemed_count, e.view_count, e.click_count)
ORDER BY o.id

-- name: maintenance.interaction_drift --
-- kind: maintenance
-- timeout: 10min
-- Rows that differ, rows missing (stored NULL) and rows that should not exist (expected NULL); the
-- documents are built only for drifted rows.
SELECT coalesce(s.user_id, e.user_id) AS user_id, coalesce(s.venue_id, e.venue_id) AS venue_id,
       CASE WHEN s.user_id IS NOT NULL THEN
         jsonb_build_object('check_in_count', s.check_in_count, 'last_check_in_at', s.last_check_in_at,
                              'review_count', s.review_count, 'last_review_at', s.last_review_at,
                              'current_rating', s.current_rating, 'is_favorited', s.is_favorited,
                              'favorited_at', s.favorited_at, 'collection_count', s.collection_count,
                              'flash_offer_claim_count', s.flash_offer_claim_count,
                              'last_claim_at', s.last_claim_at, 'first_interaction_at', s.first_interaction_at,
                              'last_interaction_at', s.last_interaction_at) END AS stored,
       CASE WHEN e.user_id IS NOT NULL THEN
         jsonb_build_object('check_in_count', e.check_in_count, 'last_check_in_at', e.last_check_in_at,
                              'review_count', e.review_count, 'last_review_at', e.last_review_at,
                              'current_rating', e.current_rating, 'is_favorited', e.is_favorited,
                              'favorited_at', e.favorited_at, 'collection_count', e.collection_count,
                              'flash_offer_claim_count', e.flash_offer_claim_count,
                              'last_claim_at', e.last_claim_at, 'first_interaction_at', e.first_interaction_at,
                              'last_interaction_at', e.last_interaction_at) END AS expected
FROM venue_interactions s
FULL JOIN venue_interactions_expected e ON e.user_id = s.user_id AND e.venue_id = s.venue_id
WHERE s.user_id IS NULL OR e.user_id IS NULL
   OR (s.check_in_count, s.last_check_in_at, s.review_count, s.last_review_at, s.current_rating, s.is_favorited, s.favorited_at, s.collection_count, s.flash_offer_claim_count, s.last_claim_at, s.first_interaction_at, s.last_interaction_at)
      IS DISTINCT FROM
      (e.check_in_count, e.last_check_in_at, e.review_count, e.last_review_at, e.current_rating, e.is_favorited, e.favorited_at, e.collection_count, e.flash_offer_claim_count, e.last_claim_at, e.first_interaction_at, e.last_interaction_at)
ORDER BY 1, 2

-- name: maintenance.lock_venues --
-- kind: maintenance
-- timeout: 1min
-- Keeps the venues from being deleted during the repair.  Check-ins are not held up (a KEY SHARE lock is
-- what their foreign-key check takes too): the repair below needs no lock against them.
SELECT id FROM venues WHERE id = ANY(%(ids)s::uuid[]) ORDER BY id FOR KEY SHARE

-- name: maintenance.repair_venue_counters --
-- kind: maintenance
-- timeout: 10min
-- Only the total is stored (sharded; active and last are read from check_ins).  The correction is the
-- recount minus the shards' sum, both read in this statement's one snapshot, and it is ADDED to a shard:
-- check-ins committing meanwhile add their own +1 on top, so nothing is lost and no lock is needed.
INSERT INTO venue_counter_shards AS s (venue_id, shard, total_check_ins)
SELECT e.venue_id, vp_counter_shard(), e.total_check_in_count - coalesce(c.total, 0)
FROM venue_counters_expected e
LEFT JOIN (SELECT venue_id, sum(total_check_ins) AS total FROM venue_counter_shards
           WHERE venue_id = ANY(%(ids)s::uuid[]) GROUP BY venue_id) c ON c.venue_id = e.venue_id
WHERE e.venue_id = ANY(%(ids)s::uuid[]) AND e.total_check_in_count <> coalesce(c.total, 0)
ON CONFLICT (venue_id, shard) DO UPDATE SET total_check_ins = s.total_check_ins + EXCLUDED.total_check_ins
RETURNING s.venue_id AS id

-- name: maintenance.lock_offers --
-- kind: maintenance
-- timeout: 1min
SELECT id FROM flash_offers WHERE id = ANY(%(ids)s::uuid[]) ORDER BY id FOR UPDATE

-- name: maintenance.repair_offer_counters --
-- kind: maintenance
-- timeout: 10min
UPDATE flash_offers o SET claimed_count = e.claimed_count, redeemed_count = e.redeemed_count,
                          view_count = e.view_count, click_count = e.click_count
FROM flash_offer_counters_expected e
WHERE e.offer_id = o.id AND o.id = ANY(%(ids)s::uuid[])
  AND (o.claimed_count, o.redeemed_count, o.view_count, o.click_count)
      IS DISTINCT FROM (e.claimed_count, e.redeemed_count, e.view_count, e.click_count)
RETURNING o.id

-- name: maintenance.repair_interactions --
-- kind: maintenance
-- timeout: 10min
-- vp_sync_interaction takes the pair's lock and recounts it (deleting the row when nothing is left).
SELECT p.user_id, p.venue_id, vp_sync_interaction(p.user_id, p.venue_id) IS NULL AS synced
FROM unnest(%(users)s::uuid[], %(venues)s::uuid[]) AS p(user_id, venue_id)
ORDER BY p.user_id, p.venue_id

-- name: maintenance.record_drift --
-- kind: maintenance
INSERT INTO counter_drift (job_run_id, kind, entity, stored, expected, repaired)
SELECT %(run_id)s, %(kind)s, d.entity, d.stored, d.expected, d.repaired
FROM jsonb_to_recordset(%(rows)s::jsonb) AS d(entity jsonb, stored jsonb, expected jsonb, repaired boolean)

-- name: maintenance.expire_claims --
-- kind: maintenance
-- timeout: 2min
-- Active claims past expires_at become expired (at most `limit` per run; rows being redeemed are skipped).
UPDATE flash_offer_claims SET status = 'expired'
WHERE id IN (SELECT id FROM flash_offer_claims
             WHERE status = 'active' AND expires_at <= now()
             ORDER BY expires_at LIMIT %(limit)s FOR UPDATE SKIP LOCKED)
RETURNING id

-- name: maintenance.expire_notifications --
-- kind: maintenance
-- timeout: 2min
UPDATE notifications SET is_expired = true
WHERE id IN (SELECT id FROM notifications
             WHERE NOT is_expired AND expires_at <= now()
             ORDER BY expires_at LIMIT %(limit)s FOR UPDATE SKIP LOCKED)
RETURNING id

-- name: maintenance.due_offer_pushes --
-- kind: maintenance
-- Offers that have started, are still running and have not been pushed.
SELECT id FROM flash_offers
WHERE NOT push_sent AND start_time <= now() AND end_time > now()
ORDER BY start_time, id
LIMIT %(limit)s

-- name: maintenance.claim_offer_push --
-- kind: maintenance
-- The offer row is the push's lock: only the transaction that flips push_sent sends it.
UPDATE flash_offers SET push_sent = true, push_sent_at = now(), updated_at = now()
WHERE id = %(offer_id)s AND NOT push_sent AND start_time <= now() AND end_time > now()
RETURNING id, venue_id, title, description, start_time, end_time

-- name: maintenance.insert_offer_notifications --
-- kind: maintenance
-- timeout: 5min
-- One notification per recipient, on the channels the recipient's settings allow (defaults without settings).
INSERT INTO notifications (user_id, category, title, body, channels, reference_id, reference_type, venue_id,
                           data, expires_at)
SELECT r.user_id, 'flash_offer', o.title, o.description,
       jsonb_build_object('push', coalesce(s.push_enabled, true),
                          'in_app', coalesce(s.in_app_enabled, true),
                          'email', coalesce(s.email_enabled, false)),
       o.id, 'flash_offer', o.venue_id,
       jsonb_build_object('offer_id', o.id, 'venue_id', o.venue_id, 'end_time', o.end_time),
       o.end_time
FROM flash_offers o
CROSS JOIN LATERAL flash_offer_recipients(o.id) AS r(user_id)
LEFT JOIN notification_settings s ON s.user_id = r.user_id
WHERE o.id = %(offer_id)s
ON CONFLICT (reference_id, user_id) WHERE category = 'flash_offer' AND reference_type = 'flash_offer'
DO NOTHING
RETURNING user_id

-- name: maintenance.set_push_recipient_count --
-- kind: maintenance
UPDATE flash_offers SET push_recipient_count = %(count)s WHERE id = %(offer_id)s
RETURNING push_recipient_count

-- name: maintenance.probe_sample --
-- Representative ids for probing the app's read queries (the busiest venue, a user, a recent offer).
SELECT coalesce((SELECT venue_id FROM venue_counter_shards GROUP BY venue_id
                  ORDER BY sum(total_check_ins) DESC, venue_id LIMIT 1),
                 (SELECT id FROM venues ORDER BY id LIMIT 1)) AS venue_id,
       (SELECT id FROM users ORDER BY id LIMIT 1) AS user_id,
       (SELECT id FROM flash_offers ORDER BY start_time DESC, id LIMIT 1) AS offer_id
