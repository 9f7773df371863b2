-- Venues page: the venue_stats table (read through venue_stats_visible, which keeps venue owners to
-- their venues), the engagement leaderboard, and a venue's check-in trend, offers and interactions.
--
-- Sorting: the sort key arrives as a bound value and is mapped to a column by the fixed CASE below
-- (the Python side only accepts the keys of queries.venue_stats.SORTS).  Numeric keys are multiplied by
-- -1 for descending order, text keys have one ORDER BY item per direction; NULLs always sort last; ties
-- break on name, then venue_id, so pages never overlap.
--
-- Cost follows what the page shows (issue 13): the venue count and the refresh time come from
-- venue_stats_score_summary (venues per category, '' = all; kept in the same statements that change
-- venue_stats_rows) and the consumer's clock, and the default order (engagement score) walks
-- idx_venue_stats_engagement on venue_stats_rows (row-level security keeps owners to their venues, as
-- venue_stats_visible does) for the page's ids before the page's rows are read through
-- venue_stats_visible.  A venue owner's count, categories, score order and leaderboard look their venue
-- ids up (the same rows the view and the policy let them see).  Still a scan of every visible venue:
-- a search text (q) for all venues, and the other sort keys (a top-N sort; no index each, as every
-- index is one more write per changed venue on each fold).

-- name: venue_stats.summary --
-- timeout: 5s
-- max(refreshed_at) over the visible rows is the consumer's clock when any row is visible.
WITH t AS MATERIALIZED (
  SELECT CASE WHEN (SELECT vp_is_scoped_role())
              THEN (SELECT count(*) FROM venue_stats_visible
                    WHERE venue_id = ANY ((SELECT vp_scope_venue_ids())::uuid[]))
              ELSE coalesce((SELECT venues FROM venue_stats_score_summary WHERE category = ''), 0) END AS n)
SELECT n AS venue_count,
       CASE WHEN n > 0 THEN (SELECT as_of FROM rollup_consumers WHERE consumer = 'venue_stats') END AS refreshed_at
FROM t

-- name: venue_stats.categories --
-- cache: 60 venue_stats
-- timeout: 5s
SELECT category FROM venue_stats_score_summary WHERE category <> '' AND NOT (SELECT vp_is_scoped_role())
UNION
SELECT category FROM venue_stats_visible
WHERE (SELECT vp_is_scoped_role()) AND venue_id = ANY ((SELECT vp_scope_venue_ids())::uuid[])
ORDER BY category

-- name: venue_stats.count --
-- cache: 60 venue_stats
-- timeout: 10s
SELECT CASE
  WHEN (SELECT vp_is_scoped_role()) THEN
    (SELECT count(*) FROM venue_stats_visible
     WHERE venue_id = ANY ((SELECT vp_scope_venue_ids())::uuid[])
       AND (%(q)s::text = '' OR strpos(lower(name), lower(%(q)s::text)) > 0
            OR strpos(lower(city), lower(%(q)s::text)) > 0)
       AND (%(category)s::text IS NULL OR category = %(category)s::text))
  WHEN %(q)s::text = '' THEN
    coalesce((SELECT venues FROM venue_stats_score_summary WHERE category = coalesce(%(category)s::text, '')), 0)
  ELSE
    (SELECT count(*) FROM venue_stats_visible
     WHERE (strpos(lower(name), lower(%(q)s::text)) > 0 OR strpos(lower(city), lower(%(q)s::text)) > 0)
       AND (%(category)s::text IS NULL OR category = %(category)s::text))
  END AS total

-- name: venue_stats.page --
-- cache: 60 venue_stats
-- timeout: 10s
SELECT venue_id, name, category, city,
       engagement_score::bigint AS engagement_score,
       total_check_ins, check_ins_last_7_days, active_check_ins, total_unique_visitors,
       review_count, round(avg_rating, 2)::float8 AS avg_rating, verified_review_count,
       favorite_count, collection_count, flash_offer_count, flash_offer_claim_count,
       last_check_in_at, last_review_at
FROM venue_stats_visible
WHERE (%(q)s::text = '' OR strpos(lower(name), lower(%(q)s::text)) > 0
       OR strpos(lower(city), lower(%(q)s::text)) > 0)
  AND (%(category)s::text IS NULL OR category = %(category)s::text)
ORDER BY
  (CASE WHEN %(descending)s::boolean THEN -1 ELSE 1 END)
  * (CASE %(sort)s::text
       WHEN 'engagement_score' THEN engagement_score
       WHEN 'total_check_ins' THEN total_check_ins
       WHEN 'check_ins_last_7_days' THEN check_ins_last_7_days
       WHEN 'active_check_ins' THEN active_check_ins
       WHEN 'total_unique_visitors' THEN total_unique_visitors
       WHEN 'review_count' THEN review_count
       WHEN 'avg_rating' THEN avg_rating
       WHEN 'favorite_count' THEN favorite_count
       WHEN 'collection_count' THEN collection_count
       WHEN 'flash_offer_count' THEN flash_offer_count
       WHEN 'flash_offer_claim_count' THEN flash_offer_claim_count
       WHEN 'last_check_in_at' THEN extract(epoch FROM last_check_in_at)
       WHEN 'last_review_at' THEN extract(epoch FROM last_review_at)
     END)::numeric ASC NULLS LAST,
  CASE WHEN NOT %(descending)s::boolean THEN
    CASE %(sort)s::text WHEN 'name' THEN lower(name) WHEN 'city' THEN lower(city) WHEN 'category' THEN category END
  END ASC,
  CASE WHEN %(descending)s::boolean THEN
    CASE %(sort)s::text WHEN 'name' THEN lower(name) WHEN 'city' THEN lower(city) WHEN 'category' THEN category END
  END DESC,
  lower(name), venue_id
LIMIT %(limit)s OFFSET %(offset)s

-- name: venue_stats.page_by_score --
-- cache: 60 venue_stats
-- timeout: 10s
-- venue_stats.page's order for sort = 'engagement_score' (never NULL): the page's ids, then their rows
-- through venue_stats_visible.  One branch runs: for all venues an index walk in the requested
-- direction; for a venue owner their venues looked up by id and sorted.
WITH top AS MATERIALIZED (
  (SELECT venue_id FROM venue_stats_rows
   WHERE %(descending)s::boolean AND NOT (SELECT vp_is_scoped_role())
     AND (%(q)s::text = '' OR strpos(lower(name), lower(%(q)s::text)) > 0
          OR strpos(lower(city), lower(%(q)s::text)) > 0)
     AND (%(category)s::text IS NULL OR category = %(category)s::text)
   ORDER BY engagement_score DESC, lower(name), venue_id
   LIMIT %(limit)s OFFSET %(offset)s)
  UNION ALL
  (SELECT venue_id FROM venue_stats_rows
   WHERE NOT %(descending)s::boolean AND NOT (SELECT vp_is_scoped_role())
     AND (%(q)s::text = '' OR strpos(lower(name), lower(%(q)s::text)) > 0
          OR strpos(lower(city), lower(%(q)s::text)) > 0)
     AND (%(category)s::text IS NULL OR category = %(category)s::text)
   ORDER BY engagement_score, lower(name), venue_id
   LIMIT %(limit)s OFFSET %(offset)s)
  UNION ALL
  (SELECT venue_id FROM venue_stats_rows
   WHERE (SELECT vp_is_scoped_role()) AND venue_id = ANY ((SELECT vp_scope_venue_ids())::uuid[])
     AND (%(q)s::text = '' OR strpos(lower(name), lower(%(q)s::text)) > 0
          OR strpos(lower(city), lower(%(q)s::text)) > 0)
     AND (%(category)s::text IS NULL OR category = %(category)s::text)
   ORDER BY (CASE WHEN %(descending)s::boolean THEN -1 ELSE 1 END) * engagement_score, lower(name), venue_id
   LIMIT %(limit)s OFFSET %(offset)s)
)
SELECT venue_id, name, category, city,
       engagement_score::bigint AS engagement_score,
       total_check_ins, check_ins_last_7_days, active_check_ins, total_unique_visitors,
       review_count, round(avg_rating, 2)::float8 AS avg_rating, verified_review_count,
       favorite_count, collection_count, flash_offer_count, flash_offer_claim_count,
       last_check_in_at, last_review_at
FROM venue_stats_visible
WHERE venue_id = ANY (ARRAY(SELECT venue_id FROM top))
ORDER BY (CASE WHEN %(descending)s::boolean THEN -1 ELSE 1 END) * engagement_score, lower(name), venue_id

-- name: venue_stats.leaderboard --
-- cache: 60 venue_stats
-- timeout: 10s
-- Venues by engagement_score (ties share a rank), with the score split into its weighted parts.  The
-- top rows' ids are picked first (idx_venue_stats_engagement order on venue_stats_rows: the
-- security-barrier view would be read whole and sorted), then their rows read and ranked: every venue
-- that outranks a top row is itself among the top rows, so the rank is the same as over all venues.
SELECT rank() OVER (ORDER BY engagement_score DESC) AS rank,
       venue_id, name, category, city,
       engagement_score::bigint AS engagement_score,
       total_check_ins AS from_check_ins,
       5 * review_count AS from_reviews,
       3 * favorite_count AS from_favorites,
       2 * flash_offer_claim_count AS from_claims
FROM venue_stats_visible
WHERE venue_id = ANY (ARRAY(
  (SELECT venue_id FROM venue_stats_rows
   WHERE NOT (SELECT vp_is_scoped_role()) AND engagement_score > 0
     AND (%(category)s::text IS NULL OR category = %(category)s::text)
   ORDER BY engagement_score DESC, lower(name), venue_id
   LIMIT %(limit)s)
  UNION ALL
  (SELECT venue_id FROM venue_stats_rows  -- a venue owner's: looked up by id
   WHERE (SELECT vp_is_scoped_role()) AND venue_id = ANY ((SELECT vp_scope_venue_ids())::uuid[])
     AND engagement_score > 0 AND (%(category)s::text IS NULL OR category = %(category)s::text)
   ORDER BY engagement_score DESC, lower(name), venue_id
   LIMIT %(limit)s)))
ORDER BY engagement_score DESC, lower(name), venue_id

-- name: venue_stats.live_counters --
-- timeout: 5s
-- A venue's live counters (current to the last committed check-in, unlike venue_stats).
SELECT v.id AS venue_id, v.active_check_in_count, v.total_check_in_count, v.last_check_in_at
FROM venues v WHERE v.id = %(venue_id)s

-- name: venue_stats.check_in_trend --
-- timeout: 10s
-- One venue's check-ins and distinct visitors per UTC day in [start, end); days without any are zeros.
WITH days AS (
  SELECT gs AS day
  FROM generate_series(date_trunc('day', %(start)s::timestamptz AT TIME ZONE 'UTC'),
                       (%(end)s::timestamptz AT TIME ZONE 'UTC') - interval '1 microsecond',
                       interval '1 day') AS gs
),
ci AS (
  SELECT date_trunc('day', checked_in_at AT TIME ZONE 'UTC') AS day, count(*) AS n,
         count(DISTINCT user_id) AS visitors
  FROM check_ins
  WHERE venue_id = %(venue_id)s AND checked_in_at >= %(start)s AND checked_in_at < %(end)s
  GROUP BY 1
)
SELECT d.day AT TIME ZONE 'UTC' AS day, coalesce(ci.n, 0) AS check_ins, coalesce(ci.visitors, 0) AS unique_visitors
FROM days d LEFT JOIN ci ON ci.day = d.day
ORDER BY d.day

-- name: venue_stats.offers --
-- timeout: 10s
-- A venue's flash offers, newest first, with read-time status and their counters.
SELECT o.id AS offer_id, o.title, status(o) AS status, o.start_time, o.end_time,
       o.max_claims, o.claimed_count, o.redeemed_count, o.view_count, o.click_count,
       o.push_recipient_count
FROM flash_offers o
WHERE o.venue_id = %(venue_id)s
ORDER BY o.start_time DESC, o.id
LIMIT %(limit)s

-- name: venue_stats.interaction_summary --
-- timeout: 10s
-- How people engage with one venue, from venue_interactions (one row per user and venue).
SELECT count(*) AS users,
       count(*) FILTER (WHERE check_in_count >= 2) AS repeat_visitors,
       count(*) FILTER (WHERE is_favorited) AS favorited,
       count(*) FILTER (WHERE collection_count > 0) AS in_collections,
       count(*) FILTER (WHERE flash_offer_claim_count > 0) AS claimers,
       round(avg(engagement_score), 1)::float8 AS avg_engagement_score,
       max(engagement_score) AS max_engagement_score
FROM venue_interactions
WHERE venue_id = %(venue_id)s
