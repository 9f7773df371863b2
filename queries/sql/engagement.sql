-- Engagement page: distributions of venue engagement (venue_stats) and of user-venue engagement
-- (venue_interactions), the leading user-venue pairs (usernames only where the user's privacy allows),
-- and notification delivery -> read -> click by category and channel.
--
-- Histograms are computed here (not by fetching every row): bucket b holds scores in
-- [b * width, (b + 1) * width), width = greatest(ceil((max + 1) / buckets), 1).  Scores are whole numbers.

-- Venue engagement comes from venue_stats_scores (venues per engagement score and category, kept with
-- venue_stats by the same folds: the same numbers as venue_stats, read from a few hundred scores instead
-- of every venue); the summary and per-category figures from venue_stats_score_summary (migration 0015:
-- a dozen rows kept with venue_stats_scores in the same transactions).  A venue owner's connection (no
-- page of theirs reads these) sees no scores there and gets the same numbers from venue_stats_visible
-- instead, under its scope.

-- name: engagement.venue_summary --
WITH sc AS (SELECT (SELECT vp_is_scoped_role()) AS scoped)
SELECT coalesce(m.venues, 0)::bigint AS venues,
       m.min_score::float8 AS min_score,
       m.p50, m.p90, m.p99,
       m.max_score::float8 AS max_score,
       (m.total / nullif(m.venues, 0))::float8 AS mean_score,
       coalesce(m.zero_venues, 0)::bigint AS zero_venues,
       CASE WHEN m.venues > 0 THEN (SELECT as_of FROM rollup_consumers WHERE consumer = 'venue_stats') END AS refreshed_at
FROM (SELECT 1) one
LEFT JOIN venue_stats_score_summary m ON m.category = coalesce(%(category)s::text, '')
WHERE NOT (SELECT scoped FROM sc)
UNION ALL
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
WHERE (SELECT scoped FROM sc) AND (%(category)s::text IS NULL OR category = %(category)s::text)

-- name: engagement.venue_histogram --
WITH sc AS (SELECT (SELECT vp_is_scoped_role()) AS scoped),
s AS (
  SELECT h.score, h.venues FROM venue_stats_scores h
  WHERE h.category = coalesce(%(category)s::text, '') AND NOT (SELECT scoped FROM sc)
  UNION ALL
  SELECT engagement_score, 1 FROM venue_stats_visible
  WHERE (SELECT scoped FROM sc) AND (%(category)s::text IS NULL OR category = %(category)s::text)
),
w AS (
  SELECT greatest(ceil((max(score) + 1) / %(buckets)s::numeric), 1)::numeric AS width FROM s
)
SELECT (floor(s.score / w.width) * w.width)::float8 AS bucket_start,
       ((floor(s.score / w.width) + 1) * w.width)::float8 AS bucket_end,
       sum(s.venues)::bigint AS venues
FROM s CROSS JOIN w
GROUP BY 1, 2
ORDER BY 1

-- name: engagement.venue_by_category --
-- From venue_stats_score_summary (migration 0015: kept per category with venue_stats_scores).  An owner's
-- connection computes the same from venue_stats_visible: one pass over each category's cumulative score
-- counts (the k-th smallest score is the first whose running count exceeds k; percentile_cont
-- interpolates between the scores at floor and ceil of q * (n - 1)).
WITH sc AS (SELECT (SELECT vp_is_scoped_role()) AS scoped),
g AS (
  SELECT category::text AS category, engagement_score AS score, count(*)::bigint AS venues
  FROM venue_stats_visible WHERE (SELECT scoped FROM sc) GROUP BY 1, 2
),
hc AS (SELECT g.category, g.score, sum(g.venues) OVER (PARTITION BY g.category ORDER BY g.score)::bigint AS cum FROM g),
c AS (
  SELECT category, sum(venues)::bigint AS n, max(score) AS max_score, sum(score * venues) AS total FROM g GROUP BY category
),
k AS (
  SELECT c.category, q.q, q.q * (c.n - 1) AS pos, floor(q.q * (c.n - 1))::bigint AS klo,
         ceil(q.q * (c.n - 1))::bigint AS khi
  FROM c CROSS JOIN (VALUES (0.5), (0.9)) AS q(q)
),
q AS (
  SELECT k.category, k.q, k.pos, min(hc.score) FILTER (WHERE hc.cum > k.klo) AS lo,
         min(hc.score) FILTER (WHERE hc.cum > k.khi) AS hi
  FROM k JOIN hc ON hc.category = k.category
  GROUP BY k.category, k.q, k.pos
),
x AS (
  SELECT m.category, m.venues, m.p50, m.p90, m.max_score::float8 AS max_score, m.total::float8 AS total_score
  FROM venue_stats_score_summary m
  WHERE m.category <> '' AND m.venues > 0 AND NOT (SELECT scoped FROM sc)
  UNION ALL
  SELECT c.category,
         c.n,
         (SELECT (q.lo + (q.hi - q.lo) * (q.pos - floor(q.pos)))::float8 FROM q WHERE q.category = c.category AND q.q = 0.5),
         (SELECT (q.lo + (q.hi - q.lo) * (q.pos - floor(q.pos)))::float8 FROM q WHERE q.category = c.category AND q.q = 0.9),
         c.max_score::float8,
         c.total::float8
  FROM c
)
SELECT category, venues, p50, p90, max_score, total_score FROM x
ORDER BY total_score DESC, category

-- User-venue engagement comes from the pair rollups (migration 0007): score histogram, users and venues
-- per venue category ('' = all), plus the pairs changed since their last fold (the live tail of
-- rollup_log), so the numbers are those of venue_interactions now.  A venue that changed category since
-- that fold moves all its pairs: then the numbers are counted from venue_interactions directly.

-- name: engagement.pair_summary --
WITH c AS (SELECT coalesce(%(category)s::text, '') AS c),
snap AS (SELECT snap FROM rollup_consumers WHERE consumer = 'pairs'),
tail AS (
  SELECT coalesce(v.category::text, pv.category) AS category, l.venue_id, l.user_id, l.n AS score, l.sign
  FROM rollup_log l
  LEFT JOIN venues v ON v.id = l.venue_id
  LEFT JOIN rollup_pair_venues pv ON pv.venue_id = l.venue_id
  WHERE l.src = 'p' AND NOT pg_visible_in_snapshot(l.xid, (SELECT snap FROM snap))
),
mine AS (SELECT t.* FROM tail t, c WHERE t.category IS NOT NULL AND (c.c = '' OR t.category = c.c)),
recategorized AS (
  SELECT EXISTS (SELECT 1 FROM rollup_log l
                 WHERE l.src = 'v' AND NOT pg_visible_in_snapshot(l.xid, (SELECT snap FROM snap))
                 GROUP BY l.venue_id HAVING count(DISTINCT l.k) > 1) AS yes
),
h AS (
  SELECT x.score, sum(x.pairs) AS pairs
  FROM (SELECT s.score, s.pairs FROM rollup_pair_scores s, c WHERE s.category = c.c
        UNION ALL SELECT m.score, m.sign FROM mine m) x
  GROUP BY x.score HAVING sum(x.pairs) <> 0
),
hc AS (SELECT h.score, h.pairs, sum(h.pairs) OVER (ORDER BY h.score) AS cum FROM h),
n AS (SELECT coalesce(sum(pairs), 0) AS n, sum(score::numeric * pairs) AS total FROM h),
q AS (
  SELECT q.q, q.q * (n.n - 1) AS pos,
         (SELECT min(hc.score) FROM hc WHERE hc.cum > floor(q.q * (n.n - 1))) AS lo,
         (SELECT min(hc.score) FROM hc WHERE hc.cum > ceil(q.q * (n.n - 1))) AS hi
  FROM (VALUES (0.5), (0.9), (0.99)) AS q(q), n WHERE n.n > 0
),
pct AS (
  SELECT q.q, (q.lo + (q.hi - q.lo) * (q.pos - floor(q.pos)))::float8 AS v FROM q
),
user_n AS (
  SELECT coalesce((SELECT t.users FROM rollup_pair_totals t, c WHERE t.category = c.c), 0)
         + coalesce((SELECT sum((coalesce(u.pairs, 0) + d.d > 0)::int - (coalesce(u.pairs, 0) > 0)::int)
                     FROM (SELECT m.user_id, sum(m.sign) AS d FROM mine m GROUP BY m.user_id) d
                     CROSS JOIN c
                     LEFT JOIN rollup_pair_users u ON u.category = c.c AND u.user_id = d.user_id), 0) AS n
),
venue_n AS (
  SELECT coalesce((SELECT t.venues FROM rollup_pair_totals t, c WHERE t.category = c.c), 0)
         + coalesce((SELECT sum((coalesce(pv.pairs, 0) + d.d > 0)::int - (coalesce(pv.pairs, 0) > 0)::int)
                     FROM (SELECT m.venue_id, sum(m.sign) AS d FROM mine m GROUP BY m.venue_id) d
                     LEFT JOIN rollup_pair_venues pv ON pv.venue_id = d.venue_id), 0) AS n
),
fast AS (
  SELECT n.n::bigint AS pairs, (SELECT n FROM user_n)::bigint AS users, (SELECT n FROM venue_n)::bigint AS venues,
         (SELECT min(score) FROM h)::float8 AS min_score,
         (SELECT v FROM pct WHERE q = 0.5) AS p50,
         (SELECT v FROM pct WHERE q = 0.9) AS p90,
         (SELECT v FROM pct WHERE q = 0.99) AS p99,
         (SELECT max(score) FROM h)::float8 AS max_score,
         (n.total / nullif(n.n, 0))::float8 AS mean_score,
         now() AS as_of
  FROM n
),
counted AS (
  SELECT count(*)::bigint AS pairs,
         count(DISTINCT vi.user_id)::bigint AS users,
         count(DISTINCT vi.venue_id)::bigint AS venues,
         min(vi.engagement_score)::float8 AS min_score,
         percentile_cont(0.5) WITHIN GROUP (ORDER BY vi.engagement_score) AS p50,
         percentile_cont(0.9) WITHIN GROUP (ORDER BY vi.engagement_score) AS p90,
         percentile_cont(0.99) WITHIN GROUP (ORDER BY vi.engagement_score) AS p99,
         max(vi.engagement_score)::float8 AS max_score,
         avg(vi.engagement_score)::float8 AS mean_score,
         now() AS as_of
  FROM venue_interactions vi
  JOIN venues v ON v.id = vi.venue_id
  WHERE (%(category)s::text IS NULL OR v.category = %(category)s::text)
    AND (SELECT yes FROM recategorized)
)
SELECT * FROM fast WHERE NOT (SELECT yes FROM recategorized)
UNION ALL
SELECT * FROM counted

-- name: engagement.pair_histogram --
WITH c AS (SELECT coalesce(%(category)s::text, '') AS c),
snap AS (SELECT snap FROM rollup_consumers WHERE consumer = 'pairs'),
recategorized AS (
  SELECT EXISTS (SELECT 1 FROM rollup_log l
                 WHERE l.src = 'v' AND NOT pg_visible_in_snapshot(l.xid, (SELECT snap FROM snap))
                 GROUP BY l.venue_id HAVING count(DISTINCT l.k) > 1) AS yes
),
s AS (
  SELECT x.score::numeric AS score, sum(x.pairs) AS pairs
  FROM (SELECT r.score, r.pairs FROM rollup_pair_scores r, c WHERE r.category = c.c AND NOT (SELECT yes FROM recategorized)
        UNION ALL
        SELECT l.n, l.sign
        FROM rollup_log l
        LEFT JOIN venues v ON v.id = l.venue_id
        LEFT JOIN rollup_pair_venues pv ON pv.venue_id = l.venue_id
        CROSS JOIN c
        WHERE l.src = 'p' AND NOT pg_visible_in_snapshot(l.xid, (SELECT snap FROM snap))
          AND NOT (SELECT yes FROM recategorized)
          AND coalesce(v.category::text, pv.category) IS NOT NULL
          AND (c.c = '' OR coalesce(v.category::text, pv.category) = c.c)
        UNION ALL
        SELECT vi.engagement_score, 1
        FROM venue_interactions vi JOIN venues v ON v.id = vi.venue_id
        WHERE (SELECT yes FROM recategorized)
          AND (%(category)s::text IS NULL OR v.category = %(category)s::text)) x
  GROUP BY 1 HAVING sum(x.pairs) <> 0
),
w AS (
  SELECT greatest(ceil((max(score) + 1) / %(buckets)s::numeric), 1)::numeric AS width FROM s
)
SELECT (floor(s.score / w.width) * w.width)::float8 AS bucket_start,
       ((floor(s.score / w.width) + 1) * w.width)::float8 AS bucket_end,
       sum(s.pairs)::bigint AS pairs
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
-- one delivered on two channels counts under both).  Whole UTC days come from
-- rollup_notifications_daily, the notifications changed since its last fold from rollup_log, the parts
-- of days at either end of the range from the notifications themselves (vp_notification_images defines
-- the flags for all three).
WITH p AS (
  SELECT %(from)s::timestamptz AS a, %(to)s::timestamptz AS b,
         vp_ceil_bucket('day', %(from)s::timestamptz) AS lo,
         greatest(date_trunc('day', %(to)s::timestamptz, 'UTC'), vp_ceil_bucket('day', %(from)s::timestamptz)) AS hi
),
raw AS (  -- the parts of days at the ends (or the whole range, inside one day), read only when not empty
  SELECT p.a AS x, least(p.lo, p.b) AS y FROM p WHERE p.a < least(p.lo, p.b)
  UNION ALL
  SELECT p.hi, p.b FROM p WHERE p.hi < p.b
),
x AS (
  SELECT r.category, r.channel, r.sent, r.delivered, r.read, r.clicked
  FROM rollup_notifications_daily r, p
  WHERE r.bucket >= p.lo AND r.bucket < p.hi AND r.channel <> ''
  UNION ALL
  SELECT l.k, l.ch, l.sign * (l.bits & 1 <> 0)::int, l.sign * (l.bits & 2 <> 0)::int,
         l.sign * (l.bits & 4 <> 0)::int, l.sign * (l.bits & 8 <> 0)::int
  FROM rollup_log l, p
  WHERE l.src = 'n' AND l.ch <> '' AND l.t1 >= p.lo AND l.t1 < p.hi
    AND NOT pg_visible_in_snapshot(l.xid, (SELECT c.snap FROM rollup_consumers c WHERE c.consumer = 'activity'))
  UNION ALL
  SELECT q.category, q.ch, (q.bits & 1 <> 0)::int, (q.bits & 2 <> 0)::int, (q.bits & 4 <> 0)::int,
         (q.bits & 8 <> 0)::int
  FROM raw
  CROSS JOIN LATERAL (  -- (OFFSET 0: the pieces drive the read, so no piece reads nothing)
    SELECT n.category, i.ch, i.bits
    FROM notifications n
    CROSS JOIN LATERAL vp_notification_images(n.channels, n.delivered_at, n.read, n.clicked) i
    WHERE n.created_at >= raw.x AND n.created_at < raw.y AND i.ch <> ''
    OFFSET 0) q
)
SELECT category, channel,
       sum(sent)::bigint AS sent,
       sum(delivered)::bigint AS delivered,
       sum(read)::bigint AS read,
       sum(clicked)::bigint AS clicked
FROM x
WHERE (%(category)s::text IS NULL OR category = %(category)s::text)
  AND (%(channel)s::text IS NULL OR channel = %(channel)s::text)
GROUP BY category, channel
HAVING sum(sent) > 0
ORDER BY category, channel

-- name: engagement.notification_categories --
-- Per category, each notification once: created in [from, to), delivered on at least one channel it was
-- sent on, read, clicked (rollup_notifications_daily's channel '' for whole UTC days, the activity
-- consumer's live tail, the notifications themselves for the parts of days at the ends), the latest
-- creation time (one index probe per category), and the median minutes from creation to read and to
-- click as the page shows them: each notification's minutes to the nearest 0.1, the middle one (the lower
-- of the two middle ones: percentile_disc(0.5)).  The medians come from the delay rollups (migration
-- 0015): the bins of the range's whole days (read as a few aligned spans of days) find the bin holding the
-- median and its rank there, then the exact delays of that one bin give the value.  Whole days with read
-- or click changes the delays consumer has not folded (their stored counts taken out of their spans), and
-- the parts of days at the ends, are counted from the notifications.
WITH p AS (
  SELECT %(from)s::timestamptz AS a, %(to)s::timestamptz AS b, %(category)s::text AS cat,
         vp_ceil_bucket('day', %(from)s::timestamptz) AS lo,
         greatest(date_trunc('day', %(to)s::timestamptz, 'UTC'), vp_ceil_bucket('day', %(from)s::timestamptz)) AS hi
),
raw AS (  -- the parts of days at the ends (or the whole range, inside one day), read only when not empty
  SELECT p.a AS x, least(p.lo, p.b) AS y FROM p WHERE p.a < least(p.lo, p.b)
  UNION ALL
  SELECT p.hi, p.b FROM p WHERE p.hi < p.b
),
counts AS (
  SELECT r.category, r.sent, r.delivered, r.read, r.clicked
  FROM rollup_notifications_daily r, p
  WHERE r.bucket >= p.lo AND r.bucket < p.hi AND r.channel = ''
  UNION ALL
  SELECT l.k, l.sign, l.sign * (l.bits & 2 <> 0)::int, l.sign * (l.bits & 4 <> 0)::int, l.sign * (l.bits & 8 <> 0)::int
  FROM rollup_log l, p
  WHERE l.src = 'n' AND l.ch = '' AND l.t1 >= p.lo AND l.t1 < p.hi
    AND NOT pg_visible_in_snapshot(l.xid, (SELECT c.snap FROM rollup_consumers c WHERE c.consumer = 'activity'))
  UNION ALL
  SELECT q.category, 1, (q.bits & 2 <> 0)::int, (q.bits & 4 <> 0)::int, (q.bits & 8 <> 0)::int
  FROM raw
  CROSS JOIN LATERAL (  -- (OFFSET 0: the pieces drive the read, so no piece reads nothing)
    SELECT n.category::text AS category, i.bits
    FROM notifications n
    CROSS JOIN LATERAL vp_notification_images(n.channels, n.delivered_at, n.read, n.clicked) i
    WHERE n.created_at >= raw.x AND n.created_at < raw.y AND i.ch = ''
    OFFSET 0) q
),
cats AS (
  SELECT c.category, sum(c.sent) AS notifications, sum(c.delivered) AS delivered, sum(c.read) AS read,
         sum(c.clicked) AS clicked
  FROM counts c, p
  WHERE p.cat IS NULL OR c.category = p.cat
  GROUP BY c.category
  HAVING sum(c.sent) > 0
),
-- whole days whose delays changed since the delays consumer's last fold
dirty AS MATERIALIZED (
  SELECT DISTINCT date_trunc('day', l.t1, 'UTC') AS bucket, l.k AS category
  FROM rollup_log l, p
  WHERE l.src = 'n' AND l.ch = '' AND l.bits & 12 <> 0 AND l.t1 >= p.lo AND l.t1 < p.hi
    AND (p.cat IS NULL OR l.k = p.cat)
    AND NOT pg_visible_in_snapshot(l.xid, (SELECT c.snap FROM rollup_consumers c WHERE c.consumer = 'delays'))
),
pieces AS (
  SELECT raw.x, raw.y, p.cat AS category FROM raw, p
  UNION ALL
  SELECT d.bucket, d.bucket + interval '24 hours', d.category FROM dirty d
),
rawd AS MATERIALIZED (  -- the delays read from the notifications
  SELECT q.category, q.kind, q.tenths, vp_delay_bin(q.tenths) AS bin
  FROM pieces
  CROSS JOIN LATERAL (
    SELECT n.category::text AS category, d.kind, d.tenths
    FROM notifications n
    CROSS JOIN LATERAL vp_notification_delays(n.created_at, n.read_at, n.clicked_at) d
    WHERE n.created_at >= pieces.x AND n.created_at < pieces.y
      AND (pieces.category IS NULL OR n.category = pieces.category)
    OFFSET 0) q
),
-- the range's whole days as aligned spans (about 2 per level: 8 for 30 days)
nodes AS MATERIALIZED (SELECT n.level::smallint AS level, n.bucket FROM p, vp_day_nodes(p.lo, p.hi) n),
-- a changed day's stored counts come out of its span, its recount from raw rows goes in
bins AS (
  SELECT x.category, x.kind, x.bin, sum(x.n) AS n
  FROM (SELECT b.category, b.kind, b.bin, b.n
        FROM nodes s
        CROSS JOIN LATERAL (  -- (each span read through the primary key)
          SELECT b.category, b.kind, b.bin, b.n FROM rollup_notification_delay_bins b
          WHERE b.level = s.level AND b.bucket = s.bucket
            AND (%(category)s::text IS NULL OR b.category = %(category)s::text)
          OFFSET 0) b
        UNION ALL
        SELECT b.category, b.kind, b.bin, -b.n
        FROM dirty d JOIN rollup_notification_delay_bins b ON b.level = 0 AND b.bucket = d.bucket AND b.category = d.category
        UNION ALL
        SELECT r.category, r.kind, r.bin, 1 FROM rawd r) x
  GROUP BY 1, 2, 3 HAVING sum(x.n) <> 0
),
cum AS (
  SELECT b.*, sum(b.n) OVER w AS cum, sum(b.n) OVER (PARTITION BY b.category, b.kind) AS total
  FROM bins b WINDOW w AS (PARTITION BY b.category, b.kind ORDER BY b.bin)
),
target AS (  -- the bin holding the median (the ceil(total / 2)-th smallest delay) and its rank in the bin
  SELECT DISTINCT ON (c.category, c.kind) c.category, c.kind, c.bin, ceil(c.total / 2) - (c.cum - c.n) AS rank
  FROM cum c WHERE c.cum >= ceil(c.total / 2)
  ORDER BY c.category, c.kind, c.bin
),
vals AS (
  SELECT t.category, t.kind, t.rank, v.tenths, sum(v.n) AS n
  FROM target t
  CROSS JOIN LATERAL (
    SELECT d.tenths, d.n
    FROM nodes s
    CROSS JOIN LATERAL (
      SELECT d.tenths, d.n FROM rollup_notification_delays d
      WHERE d.category = t.category AND d.kind = t.kind AND d.bin = t.bin AND d.level = s.level AND d.bucket = s.bucket
      OFFSET 0) d
    UNION ALL
    SELECT d.tenths, -d.n
    FROM dirty x JOIN rollup_notification_delays d
      ON d.category = t.category AND d.kind = t.kind AND d.bin = t.bin AND d.level = 0 AND d.bucket = x.bucket
    WHERE x.category = t.category
    UNION ALL
    SELECT r.tenths, 1 FROM rawd r WHERE r.category = t.category AND r.kind = t.kind AND r.bin = t.bin) v
  GROUP BY 1, 2, 3, 4 HAVING sum(v.n) <> 0
),
medians AS (
  SELECT DISTINCT ON (m.category, m.kind) m.category, m.kind, m.tenths / 10.0 AS minutes
  FROM (SELECT v.*, sum(v.n) OVER (PARTITION BY v.category, v.kind ORDER BY v.tenths) AS cum FROM vals v) m
  WHERE m.cum >= m.rank
  ORDER BY m.category, m.kind, m.tenths
)
SELECT c.category,
       c.notifications::bigint AS notifications,
       c.delivered::bigint AS delivered,
       c.read::bigint AS read,
       c.clicked::bigint AS clicked,
       (SELECT m.minutes FROM medians m WHERE m.category = c.category AND m.kind = 'r')::float8 AS minutes_to_read_p50,
       (SELECT m.minutes FROM medians m WHERE m.category = c.category AND m.kind = 'c')::float8 AS minutes_to_click_p50,
       (SELECT n.created_at FROM notifications n
        WHERE n.category = c.category AND n.created_at >= %(from)s::timestamptz AND n.created_at < %(to)s::timestamptz
        ORDER BY n.created_at DESC LIMIT 1) AS last_created_at
FROM cats c
ORDER BY c.notifications DESC, c.category
