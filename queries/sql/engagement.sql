-- Engagement page: distributions of venue engagement (venue_stats) and of user-venue engagement
-- (venue_interactions), the leading user-venue pairs (usernames only where the user's privacy allows),
-- and notification delivery -> read -> click by category and channel.
--
-- Histograms are computed here (not by fetching every row): bucket b holds scores in
-- [b * width, (b + 1) * width), width = greatest(ceil((max + 1) / buckets), 1).  Scores are whole numbers.

-- name: engagement.venue_summary --
SELECT count(*)::bigint AS venues,
       min(engagement_score)::float8 AS min_score,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY engagement_score) AS p50,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY engagement_score) AS p90,
       percentile_cont(0.99) WITHIN GROUP (ORDER BY engagement_score) AS p99,
       max(engagement_score)::float8 AS max_score,
       avg(engagement_score)::float8 AS mean_score,
       count(*) FILTER (WHERE engagement_score = 0)::bigint AS zero_venues,
       max(refreshed_at) AS refreshed_at
FROM venue_stats_visible
WHERE (%(category)s::text IS NULL OR category = %(category)s::text)

-- name: engagement.venue_histogram --
WITH s AS (
  SELECT engagement_score AS score FROM venue_stats_visible
  WHERE (%(category)s::text IS NULL OR category = %(category)s::text)
),
w AS (
  SELECT greatest(ceil((max(score) + 1) / %(buckets)s::numeric), 1)::numeric AS width FROM s
)
SELECT (floor(s.score / w.width) * w.width)::float8 AS bucket_start,
       ((floor(s.score / w.width) + 1) * w.width)::float8 AS bucket_end,
       count(*)::bigint AS venues
FROM s CROSS JOIN w
GROUP BY 1, 2
ORDER BY 1

-- name: engagement.venue_by_category --
SELECT category,
       count(*)::bigint AS venues,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY engagement_score) AS p50,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY engagement_score) AS p90,
       max(engagement_score)::float8 AS max_score,
       sum(engagement_score)::float8 AS total_score
FROM venue_stats_visible
GROUP BY category
ORDER BY total_score DESC, category

-- name: engagement.pair_summary --
SELECT count(*)::bigint AS pairs,
       count(DISTINCT vi.user_id)::bigint AS users,
       count(DISTINCT vi.venue_id)::bigint AS venues,
       min(vi.engagement_score)::float8 AS min_score,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY vi.engagement_score) AS p50,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY vi.engagement_score) AS p90,
       percentile_cont(0.99) WITHIN GROUP (ORDER BY vi.engagement_score) AS p99,
       max(vi.engagement_score)::float8 AS max_score,
       avg(vi.engagement_score)::float8 AS mean_score,
       max(vi.last_interaction_at) AS last_interaction_at,
       now() AS as_of
FROM venue_interactions vi
JOIN venues v ON v.id = vi.venue_id
WHERE (%(category)s::text IS NULL OR v.category = %(category)s::text)

-- name: engagement.pair_histogram --
WITH s AS (
  SELECT vi.engagement_score::numeric AS score
  FROM venue_interactions vi
  JOIN venues v ON v.id = vi.venue_id
  WHERE (%(category)s::text IS NULL OR v.category = %(category)s::text)
),
w AS (
  SELECT greatest(ceil((max(score) + 1) / %(buckets)s::numeric), 1)::numeric AS width FROM s
)
SELECT (floor(s.score / w.width) * w.width)::float8 AS bucket_start,
       ((floor(s.score / w.width) + 1) * w.width)::float8 AS bucket_end,
       count(*)::bigint AS pairs
FROM s CROSS JOIN w
GROUP BY 1, 2
ORDER BY 1

-- name: engagement.top_pairs --
-- The top `limit` user-venue pairs by engagement_score.  A user is named only when the privacy layer's
-- vp_user_label(user, 'activity_feed') names them (profile and activity feed both public).  Other
-- users' rows come back with user_id and username NULL: they are only counted, never identified.
WITH top AS (
  SELECT vi.id, vi.user_id, vi.venue_id, vi.engagement_score, vi.check_in_count, vi.review_count,
         vi.is_favorited, vi.collection_count, vi.flash_offer_claim_count, vi.last_interaction_at,
         vp_user_label(vi.user_id, 'activity_feed') AS label
  FROM venue_interactions vi
  JOIN venues v ON v.id = vi.venue_id
  WHERE (%(category)s::text IS NULL OR v.category = %(category)s::text)
  ORDER BY vi.engagement_score DESC, vi.last_interaction_at DESC, vi.id
  LIMIT %(limit)s
)
SELECT row_number() OVER (ORDER BY t.engagement_score DESC, t.last_interaction_at DESC, t.id)::bigint AS rank,
       t.label IS NOT NULL AS is_public,
       CASE WHEN t.label IS NOT NULL THEN t.user_id END AS user_id,
       t.label AS username,
       t.venue_id,
       v.name AS venue_name,
       v.category,
       v.city,
       t.engagement_score,
       t.check_in_count,
       t.review_count,
       t.is_favorited,
       t.collection_count,
       t.flash_offer_claim_count,
       t.last_interaction_at,
       (SELECT count(DISTINCT x.user_id) FROM top x WHERE x.label IS NULL)::bigint AS private_users
FROM top t
JOIN venues v ON v.id = t.venue_id
ORDER BY rank

-- name: engagement.notification_channels --
-- Per category and channel, notifications created in [from, to): sent = the channel was asked for
-- (channels->channel is true); delivered = sent and delivered_at has a time for the channel; read /
-- clicked = delivered on the channel and read / clicked (read and click belong to the notification, so
-- one delivered on two channels counts under both).
WITH n AS (
  SELECT n.category, n.channels, coalesce(n.delivered_at, '{}'::jsonb) AS delivered_at, n.read, n.clicked
  FROM notifications n
  WHERE n.created_at >= %(from)s AND n.created_at < %(to)s
    AND (%(category)s::text IS NULL OR n.category = %(category)s::text)
),
per AS (
  SELECT n.category, ch.channel,
         n.channels -> ch.channel = 'true'::jsonb AS sent,
         n.channels -> ch.channel = 'true'::jsonb
           AND jsonb_typeof(n.delivered_at -> ch.channel) = 'string' AS delivered,
         n.read, n.clicked
  FROM n
  CROSS JOIN LATERAL (SELECT jsonb_object_keys(n.channels) AS channel) ch
)
SELECT category, channel,
       count(*) FILTER (WHERE sent)::bigint AS sent,
       count(*) FILTER (WHERE delivered)::bigint AS delivered,
       count(*) FILTER (WHERE delivered AND read)::bigint AS read,
       count(*) FILTER (WHERE delivered AND clicked)::bigint AS clicked
FROM per
WHERE (%(channel)s::text IS NULL OR channel = %(channel)s::text)
GROUP BY category, channel
HAVING count(*) FILTER (WHERE sent) > 0
ORDER BY category, channel

-- name: engagement.notification_categories --
-- Per category, each notification once: created in [from, to), delivered on at least one channel it was
-- sent on, read,
-- clicked, and the median minutes from creation to read and to click.
SELECT n.category,
       count(*)::bigint AS notifications,
       count(*) FILTER (WHERE EXISTS (
         SELECT 1 FROM jsonb_each(n.channels) c
         WHERE c.value = 'true'::jsonb AND jsonb_typeof(n.delivered_at -> c.key) = 'string'))::bigint AS delivered,
       count(*) FILTER (WHERE n.read)::bigint AS read,
       count(*) FILTER (WHERE n.clicked)::bigint AS clicked,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM n.read_at - n.created_at) / 60.0)
         AS minutes_to_read_p50,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM n.clicked_at - n.created_at) / 60.0)
         AS minutes_to_click_p50,
       max(n.created_at) AS last_created_at
FROM notifications n
WHERE n.created_at >= %(from)s AND n.created_at < %(to)s
  AND (%(category)s::text IS NULL OR n.category = %(category)s::text)
GROUP BY n.category
ORDER BY notifications DESC, n.category
