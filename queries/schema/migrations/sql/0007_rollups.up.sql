-- Rollups: pages whose cost follows the size of the answer and of what changed, not the size of history.
-- See docs/rollups.md.  In short:
--   * capture: statement-level AFTER triggers (REFERENCING OLD/NEW TABLE, so a row moving between
--     partitions is one UPDATE seen once) append each changed row's image to rollup_log: +1 for a row
--     as it is now, -1 for a row as it was;
--   * fold: a consumer (activity, pairs, venue_stats) takes the log rows visible in a snapshot and not
--     in the snapshot of its previous fold, applies them, and stores the new snapshot, in one
--     transaction under the consumer's advisory lock: a row is folded by the first fold whose snapshot
--     sees it, never twice, and a transaction still in flight is simply not seen yet;
--   * read: pages read a rollup plus the log rows its consumer has not folded (the live tail), so
--     every number is exact and current;
--   * venue_stats keeps its name, columns and meaning, now a view over a table the venue_stats consumer
--     keeps current in proportion to the changes (and a time slice for the 7-day window).
--
-- Write-path note (issue 14): the capture triggers here are separate from the counter triggers on
-- purpose, so the two can land independently.  One set of statement-level triggers can serve both:
-- once both have landed, each vp_capture_* body below becomes one INSERT INTO rollup_log inside the
-- write path's statement trigger for the same table and event (look for "MERGE POINT").

-- Nobody may write the captured tables while the capture is installed and the rollups are filled:
-- a transaction in flight now would write rows that neither the capture nor the initial fill sees.
LOCK TABLE venues, check_ins, reviews, favorites, collection_venues, flash_offers, flash_offer_claims,
           event_stream, notifications, venue_interactions IN SHARE ROW EXCLUSIVE MODE;

-- ---------------------------------------------------------------------------------------------------
-- Time indexes for the raw reads that remain: the part of a range that is not a whole bucket, dirty
-- distinct-visitor buckets, and rebuilds.  BRIN on the append-mostly partitioned tables (rows arrive,
-- and are seeded, in time order; a BRIN entry costs next to nothing to keep), btree on the small ones.
-- autosummarize: pages filled since the last vacuum are otherwise unsummarized, and an unsummarized
-- range matches every query (at medium, after a burst of writes, a half-hour read rechecked 50,000
-- rows for 224).
-- ---------------------------------------------------------------------------------------------------

CREATE INDEX idx_check_ins_in_brin ON check_ins USING brin (checked_in_at)
  WITH (pages_per_range = 16, autosummarize = on);
CREATE INDEX idx_check_ins_out_brin ON check_ins USING brin (checked_out_at)
  WITH (pages_per_range = 16, autosummarize = on);
CREATE INDEX idx_notifications_created_brin ON notifications USING brin (created_at)
  WITH (pages_per_range = 16, autosummarize = on);
CREATE INDEX idx_reviews_created ON reviews (created_at);
CREATE INDEX idx_favorites_created ON favorites (created_at);
CREATE INDEX idx_flash_offer_claims_created ON flash_offer_claims (created_at);
CREATE INDEX idx_flash_offer_claims_redeemed ON flash_offer_claims (redeemed_at) WHERE redeemed_at IS NOT NULL;

-- ---------------------------------------------------------------------------------------------------
-- The change log and its consumers
-- ---------------------------------------------------------------------------------------------------

-- One row per changed row image.  Append-only for writers; only folds delete (rows every consumer has
-- folded).  No index: writers pay one heap insert, folds and live tails read it whole, and it holds
-- only what changed since the last fold.
--   src  c check-in, r review, f favorite, l collection entry, k offer claim, o offer, e offer view or
--        click event, n notification (one row per channel, plus channel '' for the notification),
--        p user-venue interaction, v venue
--   the other columns hold what that source's rollups need (see vp_capture_* below)
CREATE TABLE rollup_log (
  xid       xid8 NOT NULL DEFAULT pg_current_xact_id(),
  src       "char" NOT NULL,
  sign      smallint NOT NULL CHECK (sign IN (-1, 1)),
  venue_id  uuid,
  user_id   uuid,
  offer_id  uuid,
  t1        timestamptz,
  t2        timestamptz,
  flag      boolean,
  n         integer,
  bits      smallint,
  k         text,
  ch        text,
  logged_at timestamptz NOT NULL DEFAULT now()
) WITH (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 5000,
        autovacuum_vacuum_insert_scale_factor = 0, autovacuum_vacuum_insert_threshold = 20000);

-- Each consumer's position in the log: the snapshot of its last fold.  A log row whose transaction is
-- visible in `snap` is folded into the consumer's rollups; any other row is the live tail.
CREATE TABLE rollup_consumers (
  consumer     text PRIMARY KEY CHECK (consumer IN ('activity', 'pairs', 'venue_stats')),
  snap         pg_snapshot NOT NULL,
  as_of        timestamptz NOT NULL,   -- the clock of the last fold (venue_stats: its 7-day window ends here)
  folded_at    timestamptz,            -- when the last fold finished
  last_changes bigint NOT NULL DEFAULT 0,
  last_ms      double precision,
  last_full_at timestamptz             -- last full recompute from raw rows
);

-- `venuepulse rollups rebuild`: how far the last rebuild got (it resumes from next_day).
CREATE TABLE rollup_rebuilds (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  from_day    timestamptz NOT NULL,
  to_day      timestamptz NOT NULL,
  next_day    timestamptz NOT NULL,
  started_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now(),
  finished_at timestamptz
);

-- ---------------------------------------------------------------------------------------------------
-- Rollup tables.  Buckets are UTC hours, days and (Monday) weeks, stored as their start.
-- ---------------------------------------------------------------------------------------------------

-- All venues together, per hour and per day.  starts/ends/active serve "active check-ins at an
-- instant": a check-in counts from checked_in_at (starts) until checked_out_at (ends), or for ever
-- while is_active; an ended one without a checkout time never counts.  visitors = distinct users
-- checking in within the bucket (recomputed from raw rows for the buckets a change touched).
CREATE TABLE rollup_hourly (
  bucket       timestamptz PRIMARY KEY,
  check_ins    bigint NOT NULL DEFAULT 0,
  reviews      bigint NOT NULL DEFAULT 0,
  favorites    bigint NOT NULL DEFAULT 0,
  claims       bigint NOT NULL DEFAULT 0,
  redemptions  bigint NOT NULL DEFAULT 0,
  offer_views  bigint NOT NULL DEFAULT 0,
  offer_clicks bigint NOT NULL DEFAULT 0,
  starts       bigint NOT NULL DEFAULT 0,
  ends         bigint NOT NULL DEFAULT 0,
  active       bigint NOT NULL DEFAULT 0,
  visitors     bigint NOT NULL DEFAULT 0
);
CREATE TABLE rollup_daily (LIKE rollup_hourly INCLUDING ALL);
CREATE TABLE rollup_weekly (
  bucket   timestamptz PRIMARY KEY,
  visitors bigint NOT NULL DEFAULT 0
);

-- Per venue and day (what venue owners' pages and the venue ranking read).  visitor_ids: the day's
-- distinct visitors, so "unique visitors of a venue over a range" is a union of a few short sets.
CREATE TABLE rollup_venue_daily (
  venue_id     uuid NOT NULL,
  bucket       timestamptz NOT NULL,
  visitor_ids  uuid[] NOT NULL DEFAULT '{}',
  check_ins    bigint NOT NULL DEFAULT 0,
  reviews      bigint NOT NULL DEFAULT 0,
  favorites    bigint NOT NULL DEFAULT 0,
  claims       bigint NOT NULL DEFAULT 0,
  redemptions  bigint NOT NULL DEFAULT 0,
  offer_views  bigint NOT NULL DEFAULT 0,
  offer_clicks bigint NOT NULL DEFAULT 0,
  starts       bigint NOT NULL DEFAULT 0,
  ends         bigint NOT NULL DEFAULT 0,
  active       bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (venue_id, bucket)
);
CREATE INDEX idx_rollup_venue_daily_bucket ON rollup_venue_daily (bucket, check_ins DESC);

-- Notifications by day of creation, category and channel.  channel '' is the notification itself:
-- sent = notifications, delivered = delivered on at least one channel it was sent on.  For a channel:
-- sent = the channel was asked for, delivered = sent and a delivery time recorded for it, read /
-- clicked = delivered on it and read / clicked.
CREATE TABLE rollup_notifications_daily (
  bucket    timestamptz NOT NULL,
  category  text NOT NULL,
  channel   text NOT NULL,
  sent      bigint NOT NULL DEFAULT 0,
  delivered bigint NOT NULL DEFAULT 0,
  read      bigint NOT NULL DEFAULT 0,
  clicked   bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (bucket, category, channel)
);

-- User-venue engagement (venue_interactions) by venue category; category '' is all of them.
CREATE TABLE rollup_pair_scores (
  category text NOT NULL,
  score    integer NOT NULL,
  pairs    bigint NOT NULL,
  PRIMARY KEY (category, score)
);
CREATE TABLE rollup_pair_users (
  category text NOT NULL,
  user_id  uuid NOT NULL,
  pairs    integer NOT NULL,
  PRIMARY KEY (category, user_id)
);
CREATE TABLE rollup_pair_venues (
  venue_id uuid PRIMARY KEY,
  category text NOT NULL,
  pairs    integer NOT NULL
);
CREATE TABLE rollup_pair_totals (
  category text PRIMARY KEY,
  users    bigint NOT NULL DEFAULT 0,
  venues   bigint NOT NULL DEFAULT 0
);

-- The ordered offer funnel (DESIGN.md) per offer, and by UTC day of each user's first view.  The
-- times to claim and to redeem are kept whole (seconds, one per counted user): percentiles across
-- several offers need every value.  Recomputed per offer from raw events when anything of it changes.
CREATE TABLE rollup_offer_funnel (
  offer_id       uuid PRIMARY KEY,
  venue_id       uuid NOT NULL,
  viewed_users   bigint NOT NULL DEFAULT 0,
  clicked_users  bigint NOT NULL DEFAULT 0,
  claimed_users  bigint NOT NULL DEFAULT 0,
  redeemed_users bigint NOT NULL DEFAULT 0,
  claim_seconds  double precision[] NOT NULL DEFAULT '{}',
  redeem_seconds double precision[] NOT NULL DEFAULT '{}',
  claim_p50_s    double precision,   -- the offer's own percentiles, kept so a list of offers sorts nothing
  claim_p90_s    double precision,
  redeem_p50_s   double precision,
  redeem_p90_s   double precision
);
CREATE INDEX idx_rollup_offer_funnel_venue ON rollup_offer_funnel (venue_id);
CREATE TABLE rollup_offer_days (
  offer_id       uuid NOT NULL,
  bucket         timestamptz NOT NULL,
  venue_id       uuid NOT NULL,
  viewed_users   bigint NOT NULL DEFAULT 0,
  clicked_users  bigint NOT NULL DEFAULT 0,
  claimed_users  bigint NOT NULL DEFAULT 0,
  redeemed_users bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (offer_id, bucket)
);

-- ---------------------------------------------------------------------------------------------------
-- venue_stats: the materialized view becomes a table kept by the venue_stats consumer, read through a
-- view with the same name, columns and meaning.  refreshed_at is the consumer's clock: every row is
-- current as of it, and check_ins_last_7_days counts check-ins after refreshed_at - 7 days.
-- ---------------------------------------------------------------------------------------------------

DROP VIEW venue_stats_visible;
DROP FUNCTION refresh_venue_stats();
DROP MATERIALIZED VIEW venue_stats;

CREATE TABLE venue_stats_rows (
  venue_id                uuid PRIMARY KEY,
  name                    varchar(200) NOT NULL,
  category                varchar(30) NOT NULL,
  city                    varchar(100) NOT NULL,
  total_unique_visitors   bigint NOT NULL DEFAULT 0,
  total_check_ins         bigint NOT NULL DEFAULT 0,
  check_ins_last_7_days   bigint NOT NULL DEFAULT 0,
  active_check_ins        bigint NOT NULL DEFAULT 0,
  review_count            bigint NOT NULL DEFAULT 0,
  rating_sum              bigint NOT NULL DEFAULT 0,
  verified_review_count   bigint NOT NULL DEFAULT 0,
  favorite_count          bigint NOT NULL DEFAULT 0,
  collection_count        bigint NOT NULL DEFAULT 0,
  flash_offer_count       bigint NOT NULL DEFAULT 0,
  flash_offer_claim_count bigint NOT NULL DEFAULT 0,
  engagement_score        numeric GENERATED ALWAYS AS
                            ((total_check_ins + 5 * review_count + 3 * favorite_count
                              + 2 * flash_offer_claim_count)::numeric) STORED,
  last_check_in_at        timestamptz,
  last_review_at          timestamptz
);
-- (the view's (city, category) index is not kept: no page reads venues by it, and every index is one
-- more write per changed venue on each fold)
CREATE INDEX idx_venue_stats_engagement ON venue_stats_rows (engagement_score DESC);

-- venue_stats' engagement scores by venue category ('' = all): the Engagement page's venue distribution
-- (percentiles, histogram, per category) reads these few hundred scores instead of every venue.  Kept
-- by the same statements that keep venue_stats_rows.
CREATE TABLE venue_stats_scores (
  category text NOT NULL,
  score    numeric NOT NULL,
  venues   bigint NOT NULL,   -- (no CHECK: an upsert adding -1 is checked before it meets its row)
  PRIMARY KEY (category, score)
);

-- The check-ins of the last seven days (and a little more), per venue and time: what leaves the
-- 7-day window between two folds is counted here, consistently with the changes the fold applies.
CREATE TABLE venue_stats_recent (
  checked_in_at timestamptz NOT NULL,
  venue_id      uuid NOT NULL,
  n             integer NOT NULL,
  PRIMARY KEY (checked_in_at, venue_id)
);

CREATE VIEW venue_stats AS
SELECT r.venue_id,
       r.name,
       r.category,
       r.city,
       r.total_unique_visitors,
       r.total_check_ins,
       r.check_ins_last_7_days,
       r.active_check_ins,
       r.review_count,
       CASE WHEN r.review_count > 0 THEN r.rating_sum::numeric / r.review_count END AS avg_rating,
       r.verified_review_count,
       r.favorite_count,
       r.collection_count,
       r.flash_offer_count,
       r.flash_offer_claim_count,
       r.engagement_score,
       r.last_check_in_at,
       r.last_review_at,
       c.as_of AS refreshed_at
FROM venue_stats_rows r
CROSS JOIN (SELECT as_of FROM rollup_consumers WHERE consumer = 'venue_stats') c;

-- Owners read venue_stats through this security-barrier view (as before: venue_stats itself carries
-- no row-level security and is not granted to them).
CREATE VIEW venue_stats_visible WITH (security_barrier) AS
SELECT * FROM venue_stats
WHERE (SELECT NOT vp_is_scoped_role()) OR venue_id = ANY ((SELECT vp_scope_venue_ids())::uuid[]);

-- ---------------------------------------------------------------------------------------------------
-- Capture.  MERGE POINT (issue 14): each function below is one INSERT INTO rollup_log per statement
-- and event; where the write path's own statement-level trigger for the same table and event exists,
-- its body can run this INSERT instead of a second trigger firing.  Until then they are separate.
-- An UPDATE logs only images that changed (EXCEPT ALL): a checkout logs -1 active / +1 ended, an
-- UPDATE that moves a row to another partition logs the old and the new image once each, and an
-- UPDATE touching nothing the rollups read logs nothing.
-- Paused with the counter triggers (vp_triggers_paused: bulk loads rebuild the rollups afterwards,
-- rows moved out of a default partition are not changes).  Writes made directly on a partition
-- bypass statement triggers of the parent: the reconcile job finds and repairs what they leave.
-- ---------------------------------------------------------------------------------------------------

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

-- A claim's venue is its offer's, looked up while the offer exists (deleting an offer deletes its
-- claims first, in vp_offers_deleting); an offer moving venue logs its claims' move (below).
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

CREATE FUNCTION vp_capture_offers() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF vp_triggers_paused() THEN
    RETURN NULL;
  END IF;
  IF TG_OP = 'INSERT' THEN
    INSERT INTO rollup_log (src, sign, venue_id, offer_id, t1, t2)
    SELECT 'o', 1, venue_id, id, start_time, end_time FROM new_rows;
  ELSE
    INSERT INTO rollup_log (src, sign, venue_id, offer_id, t1, t2)
    SELECT 'o', -1, venue_id, id, start_time, end_time FROM old_rows;
  END IF;
  RETURN NULL;
END;
$$;

-- An offer changing venue or window (rare; row-level, and only when those columns change, so the
-- frequent counter updates on flash_offers never reach it).  Its claims move with it.
CREATE FUNCTION vp_capture_offer_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF vp_triggers_paused() THEN
    RETURN NULL;
  END IF;
  INSERT INTO rollup_log (src, sign, venue_id, offer_id, t1, t2)
  VALUES ('o', -1, OLD.venue_id, OLD.id, OLD.start_time, OLD.end_time),
         ('o', 1, NEW.venue_id, NEW.id, NEW.start_time, NEW.end_time);
  IF OLD.venue_id IS DISTINCT FROM NEW.venue_id THEN
    INSERT INTO rollup_log (src, sign, venue_id, offer_id, user_id, t1, t2)
    SELECT 'k', s.sign, s.venue_id, c.offer_id, c.user_id, c.created_at, c.redeemed_at
    FROM flash_offer_claims c
    CROSS JOIN (VALUES (-1, OLD.venue_id), (1, NEW.venue_id)) AS s(sign, venue_id)
    WHERE c.offer_id = NEW.id;
  END IF;
  RETURN NULL;
END;
$$;

-- Offer views and clicks only (claims and redemptions are captured from the claims themselves).
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

-- What a notification contributes to rollup_notifications_daily: one row for the notification
-- (channel '') and one per channel key it was sent on.  bits: 1 sent, 2 delivered, 4 read, 8 clicked.
CREATE FUNCTION vp_notification_images(p_channels jsonb, p_delivered jsonb, p_read boolean, p_clicked boolean)
RETURNS TABLE (ch text, bits smallint)
LANGUAGE sql IMMUTABLE AS $$
  WITH c AS (
    SELECT e.key,
           e.value = 'true'::jsonb AS sent,
           e.value = 'true'::jsonb AND jsonb_typeof(coalesce(p_delivered, '{}'::jsonb) -> e.key) = 'string' AS delivered
    FROM jsonb_each(p_channels) e
  )
  SELECT ''::text, (1 + CASE WHEN EXISTS (SELECT 1 FROM c WHERE c.delivered) THEN 2 ELSE 0 END
                      + CASE WHEN p_read THEN 4 ELSE 0 END + CASE WHEN p_clicked THEN 8 ELSE 0 END)::smallint
  UNION ALL
  SELECT c.key, (1 + CASE WHEN c.delivered THEN 2 + CASE WHEN p_read THEN 4 ELSE 0 END
                                                   + CASE WHEN p_clicked THEN 8 ELSE 0 END ELSE 0 END)::smallint
  FROM c WHERE c.sent
$$;

CREATE FUNCTION vp_capture_notifications() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF vp_triggers_paused() THEN
    RETURN NULL;
  END IF;
  IF TG_OP = 'INSERT' THEN
    INSERT INTO rollup_log (src, sign, venue_id, t1, k, ch, bits)
    SELECT 'n', 1, r.venue_id, r.created_at, r.category, i.ch, i.bits
    FROM new_rows r CROSS JOIN LATERAL vp_notification_images(r.channels, r.delivered_at, r.read, r.clicked) i;
  ELSIF TG_OP = 'DELETE' THEN
    INSERT INTO rollup_log (src, sign, venue_id, t1, k, ch, bits)
    SELECT 'n', -1, r.venue_id, r.created_at, r.category, i.ch, i.bits
    FROM old_rows r CROSS JOIN LATERAL vp_notification_images(r.channels, r.delivered_at, r.read, r.clicked) i;
  ELSE
    INSERT INTO rollup_log (src, sign, venue_id, t1, k, ch, bits)
    SELECT 'n', -1, * FROM (
      SELECT r.venue_id, r.created_at, r.category::text, i.ch, i.bits
      FROM old_rows r CROSS JOIN LATERAL vp_notification_images(r.channels, r.delivered_at, r.read, r.clicked) i
      EXCEPT ALL
      SELECT r.venue_id, r.created_at, r.category::text, i.ch, i.bits
      FROM new_rows r CROSS JOIN LATERAL vp_notification_images(r.channels, r.delivered_at, r.read, r.clicked) i) o
    UNION ALL
    SELECT 'n', 1, * FROM (
      SELECT r.venue_id, r.created_at, r.category::text, i.ch, i.bits
      FROM new_rows r CROSS JOIN LATERAL vp_notification_images(r.channels, r.delivered_at, r.read, r.clicked) i
      EXCEPT ALL
      SELECT r.venue_id, r.created_at, r.category::text, i.ch, i.bits
      FROM old_rows r CROSS JOIN LATERAL vp_notification_images(r.channels, r.delivered_at, r.read, r.clicked) i) n;
  END IF;
  RETURN NULL;
END;
$$;

-- User-venue pairs as the write path keeps them: the pair's score, whether it has check-ins (bit 1:
-- counts the user among the venue's unique visitors) and claims (bit 2: among its claiming users).
CREATE FUNCTION vp_capture_interactions() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF vp_triggers_paused() THEN
    RETURN NULL;
  END IF;
  IF TG_OP = 'INSERT' THEN
    INSERT INTO rollup_log (src, sign, venue_id, user_id, n, bits)
    SELECT 'p', 1, venue_id, user_id, engagement_score,
           ((check_in_count > 0)::int + 2 * (flash_offer_claim_count > 0)::int)::smallint FROM new_rows;
  ELSIF TG_OP = 'DELETE' THEN
    INSERT INTO rollup_log (src, sign, venue_id, user_id, n, bits)
    SELECT 'p', -1, venue_id, user_id, engagement_score,
           ((check_in_count > 0)::int + 2 * (flash_offer_claim_count > 0)::int)::smallint FROM old_rows;
  ELSE
    INSERT INTO rollup_log (src, sign, venue_id, user_id, n, bits)
    SELECT 'p', -1, * FROM (
      SELECT venue_id, user_id, engagement_score,
             ((check_in_count > 0)::int + 2 * (flash_offer_claim_count > 0)::int)::smallint FROM old_rows
      EXCEPT ALL
      SELECT venue_id, user_id, engagement_score,
             ((check_in_count > 0)::int + 2 * (flash_offer_claim_count > 0)::int)::smallint FROM new_rows) o
    UNION ALL
    SELECT 'p', 1, * FROM (
      SELECT venue_id, user_id, engagement_score,
             ((check_in_count > 0)::int + 2 * (flash_offer_claim_count > 0)::int)::smallint FROM new_rows
      EXCEPT ALL
      SELECT venue_id, user_id, engagement_score,
             ((check_in_count > 0)::int + 2 * (flash_offer_claim_count > 0)::int)::smallint FROM old_rows) n;
  END IF;
  RETURN NULL;
END;
$$;

CREATE FUNCTION vp_capture_venues() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF vp_triggers_paused() THEN
    RETURN NULL;
  END IF;
  IF TG_OP = 'INSERT' THEN
    INSERT INTO rollup_log (src, sign, venue_id, k) SELECT 'v', 1, id, category FROM new_rows;
  ELSIF TG_OP = 'DELETE' THEN
    INSERT INTO rollup_log (src, sign, venue_id, k) SELECT 'v', -1, id, category FROM old_rows;
  ELSE  -- row-level: a venue's name, category or city changed (never the counters)
    INSERT INTO rollup_log (src, sign, venue_id, k)
    VALUES ('v', -1, OLD.id, OLD.category), ('v', 1, NEW.id, NEW.category);
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

CREATE TRIGGER vp_capture_offers_ins AFTER INSERT ON flash_offers REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION vp_capture_offers();
CREATE TRIGGER vp_capture_offers_del AFTER DELETE ON flash_offers REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION vp_capture_offers();
CREATE TRIGGER vp_capture_offers_upd AFTER UPDATE OF venue_id, start_time, end_time ON flash_offers
  FOR EACH ROW WHEN ((OLD.venue_id, OLD.start_time, OLD.end_time) IS DISTINCT FROM (NEW.venue_id, NEW.start_time, NEW.end_time))
  EXECUTE FUNCTION vp_capture_offer_changed();

CREATE TRIGGER vp_capture_offer_events_ins AFTER INSERT ON event_stream REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION vp_capture_offer_events();
CREATE TRIGGER vp_capture_offer_events_upd AFTER UPDATE ON event_stream REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION vp_capture_offer_events();
CREATE TRIGGER vp_capture_offer_events_del AFTER DELETE ON event_stream REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION vp_capture_offer_events();

CREATE TRIGGER vp_capture_notifications_ins AFTER INSERT ON notifications REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION vp_capture_notifications();
CREATE TRIGGER vp_capture_notifications_upd AFTER UPDATE ON notifications
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION vp_capture_notifications();
CREATE TRIGGER vp_capture_notifications_del AFTER DELETE ON notifications REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION vp_capture_notifications();

CREATE TRIGGER vp_capture_interactions_ins AFTER INSERT ON venue_interactions REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION vp_capture_interactions();
CREATE TRIGGER vp_capture_interactions_upd AFTER UPDATE ON venue_interactions
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION vp_capture_interactions();
CREATE TRIGGER vp_capture_interactions_del AFTER DELETE ON venue_interactions REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION vp_capture_interactions();

CREATE TRIGGER vp_capture_venues_ins AFTER INSERT ON venues REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION vp_capture_venues();
CREATE TRIGGER vp_capture_venues_del AFTER DELETE ON venues REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION vp_capture_venues();
CREATE TRIGGER vp_capture_venues_upd AFTER UPDATE OF name, category, city ON venues
  FOR EACH ROW WHEN ((OLD.name, OLD.category, OLD.city) IS DISTINCT FROM (NEW.name, NEW.category, NEW.city))
  EXECUTE FUNCTION vp_capture_venues();

-- ---------------------------------------------------------------------------------------------------
-- Helpers
-- ---------------------------------------------------------------------------------------------------

-- The advisory lock a consumer's fold (and any rebuild of its rollups) holds to its commit.
CREATE FUNCTION vp_rollup_lock_key(p_consumer text) RETURNS bigint
LANGUAGE sql IMMUTABLE AS $$
  SELECT hashtextextended('venuepulse.rollups.' || p_consumer, 0)
$$;

-- Drops a temporary table of this session if there is one (quietly: DROP ... IF EXISTS would notice).
CREATE FUNCTION vp_drop_temp(p_name text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  IF to_regclass('pg_temp.' || quote_ident(p_name)) IS NOT NULL THEN
    EXECUTE format('DROP TABLE pg_temp.%I', p_name);
  END IF;
END;
$$;

-- Deletes the log rows every consumer has folded (no one's live tail any more).  Any fold may run it:
-- two at once delete disjoint or already-deleted rows (READ COMMITTED skips those), never a row some
-- consumer still needs.  Not in a REPEATABLE READ transaction (a rebuild batch), where a row another
-- fold deleted meanwhile would be a serialization failure: the next fold collects.
CREATE FUNCTION vp_rollup_log_gc() RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
  v_n bigint;
BEGIN
  IF current_setting('transaction_isolation') <> 'read committed' THEN
    RETURN 0;
  END IF;
  DELETE FROM rollup_log l
  WHERE NOT EXISTS (SELECT 1 FROM rollup_consumers c WHERE NOT pg_visible_in_snapshot(l.xid, c.snap));
  GET DIAGNOSTICS v_n = ROW_COUNT;
  RETURN v_n;
END;
$$;

-- A fold's snapshot with the folding transaction's own changes counted as visible: a transaction that
-- writes and then folds (or recounts) in the same transaction folds its own rows now, and records them
-- as folded, so they are never applied again after it commits.  (A snapshot does not list its own
-- transaction; whether it counts as visible would otherwise depend on whether a later transaction had
-- finished.)  The transactions numbered between the snapshot's xmax and ours were running then: they
-- stay invisible.
CREATE FUNCTION vp_snapshot_with_own(p_snap pg_snapshot) RETURNS pg_snapshot
LANGUAGE plpgsql STABLE AS $$
DECLARE
  v_me   xid8 := pg_current_xact_id_if_assigned();
  v_xmax xid8 := pg_snapshot_xmax(p_snap);
  v_xip  text;
BEGIN
  IF v_me IS NULL OR pg_visible_in_snapshot(v_me, p_snap) THEN
    RETURN p_snap;
  END IF;
  IF v_me < v_xmax THEN
    v_xip := (SELECT string_agg(x::text, ',' ORDER BY x) FROM pg_snapshot_xip(p_snap) AS x WHERE x <> v_me);
    RETURN (pg_snapshot_xmin(p_snap)::text || ':' || v_xmax::text || ':' || coalesce(v_xip, ''))::pg_snapshot;
  END IF;
  v_xip := (SELECT string_agg(x::text, ',' ORDER BY x::text::numeric)
            FROM (SELECT x::text AS x FROM pg_snapshot_xip(p_snap) AS x
                  UNION
                  SELECT g::text FROM generate_series(v_xmax::text::numeric, v_me::text::numeric - 1) AS g) y);
  RETURN (pg_snapshot_xmin(p_snap)::text || ':' || (v_me::text::numeric + 1)::text || ':'
          || coalesce(v_xip, ''))::pg_snapshot;
END;
$$;

-- What one log row adds to the time-bucketed counts, at the time it counts (a check-in adds a start
-- at checked_in_at and an end at checked_out_at; a claim a claim at created_at and a redemption at
-- redeemed_at).  Reused by folds and by the pages' live tails, so both count alike.
CREATE FUNCTION vp_log_measures(p_src "char", p_sign smallint, p_t1 timestamptz, p_t2 timestamptz,
                                p_flag boolean, p_k text)
RETURNS TABLE (at timestamptz, check_ins integer, reviews integer, favorites integer, claims integer,
               redemptions integer, offer_views integer, offer_clicks integer, starts integer, ends integer,
               active integer)
LANGUAGE sql IMMUTABLE AS $$
  SELECT p_t1, p_sign::int, 0, 0, 0, 0, 0, 0,
         CASE WHEN p_flag OR p_t2 IS NOT NULL THEN p_sign::int ELSE 0 END, 0,
         CASE WHEN p_flag THEN p_sign::int ELSE 0 END
  WHERE p_src = 'c'
  UNION ALL
  SELECT p_t2, 0, 0, 0, 0, 0, 0, 0, 0, p_sign::int, 0 WHERE p_src = 'c' AND p_t2 IS NOT NULL
  UNION ALL
  SELECT p_t1, 0, p_sign::int, 0, 0, 0, 0, 0, 0, 0, 0 WHERE p_src = 'r'
  UNION ALL
  SELECT p_t1, 0, 0, p_sign::int, 0, 0, 0, 0, 0, 0, 0 WHERE p_src = 'f'
  UNION ALL
  SELECT p_t1, 0, 0, 0, p_sign::int, 0, 0, 0, 0, 0, 0 WHERE p_src = 'k'
  UNION ALL
  SELECT p_t2, 0, 0, 0, 0, p_sign::int, 0, 0, 0, 0, 0 WHERE p_src = 'k' AND p_t2 IS NOT NULL
  UNION ALL
  SELECT p_t1, 0, 0, 0, 0, 0,
         CASE WHEN p_k = 'flash_offer_view' THEN p_sign::int ELSE 0 END,
         CASE WHEN p_k = 'flash_offer_click' THEN p_sign::int ELSE 0 END, 0, 0, 0
  WHERE p_src = 'e'
$$;

-- ---------------------------------------------------------------------------------------------------
-- Reading rollups: whole buckets from the rollups, the changes not folded yet from rollup_log (the live
-- tail), the rest of a range from raw rows -- so every number is exact and current.  SECURITY INVOKER:
-- for a venue owner, row-level security keeps every part to their venues (the all-venue rollups show
-- them nothing; they get whole days per venue instead of whole hours).
-- ---------------------------------------------------------------------------------------------------

-- The first `p_unit` boundary at or after p_at (UTC; 'hour', 'day' or 'week').
CREATE FUNCTION vp_ceil_bucket(p_unit text, p_at timestamptz) RETURNS timestamptz
LANGUAGE sql STABLE AS $$
  SELECT CASE WHEN date_trunc(p_unit, p_at, 'UTC') = p_at THEN p_at
              ELSE date_trunc(p_unit, p_at, 'UTC')
                   + CASE p_unit WHEN 'hour' THEN interval '1 hour' WHEN 'day' THEN interval '24 hours'
                                 ELSE interval '168 hours' END END
$$;

-- The activity consumer's unfolded changes, as measures at their time (see vp_log_measures).
CREATE FUNCTION vp_activity_tail() RETURNS TABLE (xid xid8, venue_id uuid, user_id uuid, src "char", sign smallint,
  t1 timestamptz, at timestamptz, check_ins integer, reviews integer, favorites integer, claims integer,
  redemptions integer, offer_views integer, offer_clicks integer, starts integer, ends integer, active integer)
LANGUAGE sql STABLE AS $$
  SELECT l.xid, l.venue_id, l.user_id, l.src, l.sign, l.t1, m.*
  FROM rollup_log l
  CROSS JOIN LATERAL vp_log_measures(l.src, l.sign, l.t1, l.t2, l.flag, l.k) m
  WHERE l.src IN ('c', 'r', 'f', 'k', 'e')
    AND NOT pg_visible_in_snapshot(l.xid, (SELECT c.snap FROM rollup_consumers c WHERE c.consumer = 'activity'))
$$;

-- Activity counts at `at` times in [p_from, p_to), one row per part: whole days and hours from the
-- rollups (owners: whole days of their venues), unfolded changes inside them, raw rows for the rest.
-- `p_unit` is the finest bucket a caller may split the rows into ('hour': no whole days are used).
-- A range ending inside a bucket that is still filling (the current hour of "today so far") takes
-- that whole bucket and subtracts the raw rows after p_to (normally none: nothing has happened yet)
-- instead of reading the raw rows before p_to, so its cost does not grow with the current write rate;
-- so does a range ending in the later half of a past bucket (fewer rows to read after p_to than
-- before).  The subtracted rows sit at times in [p_to, end of bucket), in the same `p_unit` bucket as
-- the bucket they come out of.  A range inside one bucket is read from raw rows only.
-- (Offer views and clicks are rolled up too but not counted here: no page reads them by time yet.)
CREATE FUNCTION vp_activity_parts(p_from timestamptz, p_to timestamptz, p_unit text DEFAULT 'day')
RETURNS TABLE (at timestamptz, check_ins bigint, reviews bigint, favorites bigint, claims bigint,
               redemptions bigint, starts bigint, ends bigint, active bigint)
-- plpgsql with generic plans: planned once per session (inlined SQL was re-planned on every call, and
-- the partitions of check_ins make that plan large); partitions are pruned when it runs
LANGUAGE plpgsql STABLE SET plan_cache_mode = force_generic_plan AS $$
#variable_conflict use_column
BEGIN
RETURN QUERY
WITH s AS (SELECT (SELECT vp_is_scoped_role()) AS scoped),
r AS (
  SELECT s.scoped,
         CASE WHEN s.scoped THEN interval '24 hours' ELSE interval '1 hour' END AS u,
         vp_ceil_bucket(CASE WHEN s.scoped THEN 'day' ELSE 'hour' END, p_from) AS lo,
         date_trunc(CASE WHEN s.scoped THEN 'day' ELSE 'hour' END, p_to, 'UTC') AS hi
  FROM s
),
w AS (  -- whole buckets usable: not for owners asking hours, not inside one bucket
  SELECT r.*, NOT (r.scoped AND p_unit = 'hour') AND r.lo <= r.hi AS whole,
         r.hi < p_to AND (r.hi + r.u > now() OR p_to - r.hi > r.u / 2) AS sub
  FROM r
),
k AS (  -- whole buckets [lo, hi); whole days [dlo, dhi) within
  SELECT w.scoped, w.whole, w.sub AND w.whole AS sub, w.lo,
         CASE WHEN NOT w.whole THEN w.lo WHEN w.sub THEN w.hi + w.u ELSE w.hi END AS hi,
         CASE WHEN p_unit = 'hour' OR NOT w.whole THEN 'infinity'::timestamptz ELSE vp_ceil_bucket('day', w.lo) END AS dlo,
         CASE WHEN p_unit = 'hour' OR NOT w.whole THEN 'infinity'::timestamptz
              ELSE greatest(date_trunc('day', CASE WHEN w.sub THEN w.hi + w.u ELSE w.hi END, 'UTC'),
                            vp_ceil_bucket('day', w.lo)) END AS dhi
  FROM w
),
raw AS (  -- the rest of the range, [x, y) pieces with their sign (each read through a time index)
  SELECT p_from AS x, p_to AS y, 1 AS sg FROM k WHERE NOT k.whole AND p_from < p_to
  UNION ALL
  SELECT p_from, k.lo, 1 FROM k WHERE k.whole AND p_from < k.lo
  UNION ALL
  SELECT k.hi, p_to, 1 FROM k WHERE k.whole AND NOT k.sub AND k.hi < p_to
  UNION ALL
  SELECT p_to, k.hi, -1 FROM k WHERE k.sub
)
SELECT d.bucket, d.check_ins, d.reviews, d.favorites, d.claims, d.redemptions, d.starts, d.ends, d.active
FROM rollup_daily d, k
WHERE NOT k.scoped AND d.bucket >= k.dlo AND d.bucket < k.dhi
UNION ALL
SELECT h.bucket, h.check_ins, h.reviews, h.favorites, h.claims, h.redemptions, h.starts, h.ends, h.active
FROM rollup_hourly h, k
WHERE NOT k.scoped AND h.bucket >= k.lo AND h.bucket < least(k.hi, k.dlo)
UNION ALL
SELECT h.bucket, h.check_ins, h.reviews, h.favorites, h.claims, h.redemptions, h.starts, h.ends, h.active
FROM rollup_hourly h, k
WHERE NOT k.scoped AND h.bucket >= greatest(k.lo, k.dhi) AND h.bucket < k.hi AND k.dhi < 'infinity'
UNION ALL
SELECT v.bucket, v.check_ins, v.reviews, v.favorites, v.claims, v.redemptions, v.starts, v.ends, v.active
FROM rollup_venue_daily v, k
WHERE k.scoped AND v.bucket >= k.lo AND v.bucket < k.hi
UNION ALL
SELECT t.at, t.check_ins, t.reviews, t.favorites, t.claims, t.redemptions, t.starts, t.ends, t.active
FROM vp_activity_tail() t, k
WHERE t.src IN ('c', 'r', 'f', 'k') AND t.at >= k.lo AND t.at < k.hi
UNION ALL
-- (LATERAL ... OFFSET 0: the pieces drive the reads, so an empty piece reads nothing; joined the other
-- way round, a generic plan may scan a whole table to meet no piece)
SELECT q.at, q.sg * q.check_ins, q.sg * q.reviews, q.sg * q.favorites, q.sg * q.claims, q.sg * q.redemptions,
       q.sg * q.starts, q.sg * q.ends, q.sg * q.active
FROM raw CROSS JOIN LATERAL (
  SELECT c.checked_in_at AS at, raw.sg::bigint AS sg, 1::bigint AS check_ins, 0::bigint AS reviews,
         0::bigint AS favorites, 0::bigint AS claims, 0::bigint AS redemptions,
         (c.checked_out_at IS NOT NULL OR c.is_active)::int::bigint AS starts, 0::bigint AS ends,
         c.is_active::int::bigint AS active
  FROM check_ins c WHERE c.checked_in_at >= raw.x AND c.checked_in_at < raw.y
  UNION ALL
  SELECT c.checked_out_at, raw.sg, 0, 0, 0, 0, 0, 0, 1, 0
  FROM check_ins c WHERE c.checked_out_at >= raw.x AND c.checked_out_at < raw.y
  UNION ALL
  SELECT rv.created_at, raw.sg, 0, 1, 0, 0, 0, 0, 0, 0
  FROM reviews rv WHERE rv.created_at >= raw.x AND rv.created_at < raw.y
  UNION ALL
  SELECT f.created_at, raw.sg, 0, 0, 1, 0, 0, 0, 0, 0
  FROM favorites f WHERE f.created_at >= raw.x AND f.created_at < raw.y
  UNION ALL
  SELECT fc.created_at, raw.sg, 0, 0, 0, 1, 0, 0, 0, 0
  FROM flash_offer_claims fc WHERE fc.created_at >= raw.x AND fc.created_at < raw.y
  UNION ALL
  SELECT fc.redeemed_at, raw.sg, 0, 0, 0, 0, 1, 0, 0, 0
  FROM flash_offer_claims fc WHERE fc.redeemed_at >= raw.x AND fc.redeemed_at < raw.y
  OFFSET 0) q;
END;
$$;

-- Activity counts of [p_from, p_to) (see vp_activity_parts).
CREATE FUNCTION vp_activity_counts(p_from timestamptz, p_to timestamptz)
RETURNS TABLE (check_ins bigint, reviews bigint, favorites bigint, claims bigint, redemptions bigint,
               starts bigint, ends bigint, active bigint)
LANGUAGE sql STABLE AS $$
  SELECT coalesce(sum(p.check_ins), 0)::bigint, coalesce(sum(p.reviews), 0)::bigint,
         coalesce(sum(p.favorites), 0)::bigint, coalesce(sum(p.claims), 0)::bigint,
         coalesce(sum(p.redemptions), 0)::bigint, coalesce(sum(p.starts), 0)::bigint,
         coalesce(sum(p.ends), 0)::bigint, coalesce(sum(p.active), 0)::bigint
  FROM vp_activity_parts(p_from, p_to) p
$$;

-- Distinct visitors of each `p_grain` bucket of [p_from, p_to) (a bucket cut by the range counts its part):
-- from the rollup where the bucket is whole and no unfolded change altered a user's check-ins in it,
-- from raw check-ins otherwise (always for owners: distinct across their venues is not a sum).
CREATE FUNCTION vp_visitors_series(p_from timestamptz, p_to timestamptz, p_grain text)
RETURNS TABLE (bucket timestamptz, visitors bigint)
LANGUAGE plpgsql STABLE SET plan_cache_mode = force_generic_plan AS $$
#variable_conflict use_column
BEGIN
RETURN QUERY
WITH b AS (
  SELECT gs AS bucket, greatest(gs, p_from) AS ws,
         least(gs + CASE p_grain WHEN 'hour' THEN interval '1 hour' WHEN 'day' THEN interval '24 hours'
                                 ELSE interval '168 hours' END, p_to) AS we,
         gs + CASE p_grain WHEN 'hour' THEN interval '1 hour' WHEN 'day' THEN interval '24 hours'
                           ELSE interval '168 hours' END AS be
  FROM generate_series(date_trunc(p_grain, p_from, 'UTC'), p_to - interval '1 microsecond',
                       CASE p_grain WHEN 'hour' THEN interval '1 hour' WHEN 'day' THEN interval '24 hours'
                                    ELSE interval '168 hours' END) AS gs
),
-- changed: some transaction changed some user's number of check-ins in the bucket (a checkout, -1 and
-- +1 in one transaction, does not; an insert and a later delete do, even though they cancel out: the
-- folded count may have been recounted between them)
dirty AS (
  SELECT DISTINCT x.b FROM (
    SELECT date_trunc(p_grain, t.t1, 'UTC') AS b, t.user_id, t.xid, sum(t.sign) AS s
    FROM vp_activity_tail() t WHERE t.src = 'c' AND t.check_ins <> 0 GROUP BY 1, 2, 3) x
  WHERE x.s <> 0
),
k AS (
  SELECT b.*, (SELECT vp_is_scoped_role()) OR b.ws <> b.bucket OR b.we <> b.be
              OR b.bucket IN (SELECT dirty.b FROM dirty) AS raw
  FROM b
),
folded AS (
  SELECT k.bucket, coalesce(CASE p_grain
           WHEN 'hour' THEN (SELECT h.visitors FROM rollup_hourly h WHERE h.bucket = k.bucket)
           WHEN 'day' THEN (SELECT d.visitors FROM rollup_daily d WHERE d.bucket = k.bucket)
           ELSE (SELECT w.visitors FROM rollup_weekly w WHERE w.bucket = k.bucket) END, 0) AS visitors
  FROM k WHERE NOT k.raw
),
counted AS (
  SELECT k.bucket, (SELECT count(DISTINCT c.user_id) FROM check_ins c
                    WHERE c.checked_in_at >= k.ws AND c.checked_in_at < k.we) AS visitors
  FROM k WHERE k.raw
)
SELECT folded.bucket, folded.visitors FROM folded
UNION ALL
SELECT counted.bucket, counted.visitors FROM counted;
END;
$$;

-- The `p_limit` venues with the most check-ins in [p_from, p_to) and their counts (ties: name, id), without
-- adding up every venue: Fagin's threshold algorithm over the per-day lists of rollup_venue_daily
-- (index (bucket, check_ins DESC)).  Candidates are the top k venues of each whole day plus every venue
-- with check-ins in the parts of days at the ends or among the unfolded changes; a venue outside them
-- has at most the k-th count on each day, so when the last listed candidate has more than the sum of
-- those k-th counts, the list is exact.  Otherwise k grows, and past 4,096 every venue is added up.
CREATE FUNCTION vp_top_venues(p_from timestamptz, p_to timestamptz, p_limit integer)
RETURNS TABLE (venue_id uuid, check_ins bigint)
LANGUAGE plpgsql STABLE SET plan_cache_mode = force_generic_plan AS $$
#variable_conflict use_column
DECLARE
  v_lo    timestamptz := vp_ceil_bucket('day', p_from);
  v_hi    timestamptz := greatest(date_trunc('day', p_to, 'UTC'), vp_ceil_bucket('day', p_from));
  v_e     timestamptz := least(vp_ceil_bucket('day', p_from), p_to);  -- end of the first part-day
  v_k     integer := greatest(4 * p_limit, 32);
  v_bound bigint;
  v_ids   uuid[];
  v_cnt   bigint[];
BEGIN
  LOOP
    EXIT WHEN v_k > 4096;
    WITH lists AS (
      SELECT t.venue_id, t.check_ins, t.day, t.rn
      FROM generate_series(v_lo, v_hi - interval '24 hours', interval '24 hours') AS d(day)
      CROSS JOIN LATERAL (
        SELECT v.venue_id, v.check_ins, d.day, row_number() OVER (ORDER BY v.check_ins DESC) AS rn
        FROM rollup_venue_daily v WHERE v.bucket = d.day AND v.check_ins > 0
        ORDER BY v.check_ins DESC LIMIT v_k) t
    ),
    -- (each end read only when it is not empty: a BRIN scan of an empty range still reads its edges)
    edge AS (
      SELECT c.venue_id FROM check_ins c
      WHERE p_from < v_e AND c.checked_in_at >= p_from AND c.checked_in_at < v_e
      UNION
      SELECT c.venue_id FROM check_ins c
      WHERE v_hi < p_to AND c.checked_in_at >= v_hi AND c.checked_in_at < p_to
      UNION
      SELECT t.venue_id FROM vp_activity_tail() t WHERE t.src = 'c' AND t.at >= p_from AND t.at < p_to
    ),
    cand AS (SELECT DISTINCT l.venue_id FROM lists l UNION SELECT e.venue_id FROM edge e),
    totals AS (
      SELECT c.venue_id,
             coalesce((SELECT sum(v.check_ins) FROM rollup_venue_daily v
                       WHERE v.venue_id = c.venue_id AND v.bucket >= v_lo AND v.bucket < v_hi), 0)
             + coalesce((SELECT sum(t.check_ins) FROM vp_activity_tail() t
                         WHERE t.venue_id = c.venue_id AND t.src = 'c' AND t.at >= v_lo AND t.at < v_hi), 0)
             + (SELECT count(*) FROM check_ins x
                WHERE p_from < v_e AND x.venue_id = c.venue_id AND x.checked_in_at >= p_from
                  AND x.checked_in_at < v_e)
             + (SELECT count(*) FROM check_ins x
                WHERE v_hi < p_to AND x.venue_id = c.venue_id AND x.checked_in_at >= v_hi
                  AND x.checked_in_at < p_to) AS n
      FROM cand c
    ),
    ranked AS (
      SELECT t.venue_id, t.n FROM totals t JOIN venues v ON v.id = t.venue_id
      WHERE t.n > 0 ORDER BY t.n DESC, v.name, v.id LIMIT p_limit
    )
    SELECT (SELECT coalesce(sum(x.kth), 0) FROM (SELECT min(l.check_ins) AS kth FROM lists l GROUP BY l.day
                                                   HAVING count(*) = v_k) x),
           ARRAY(SELECT r.venue_id FROM ranked r ORDER BY r.n DESC),
           ARRAY(SELECT r.n FROM ranked r ORDER BY r.n DESC)
    INTO v_bound, v_ids, v_cnt;
    IF v_bound = 0 OR (cardinality(v_cnt) = p_limit AND v_cnt[p_limit] > v_bound) THEN
      RETURN QUERY SELECT u.id, u.n FROM unnest(v_ids, v_cnt) AS u(id, n);
      RETURN;
    END IF;
    v_k := v_k * 4;
  END LOOP;
  RETURN QUERY
  SELECT x.venue_id, sum(x.n)::bigint FROM (
    SELECT v.venue_id, v.check_ins AS n FROM rollup_venue_daily v WHERE v.bucket >= v_lo AND v.bucket < v_hi
    UNION ALL
    SELECT t.venue_id, t.check_ins FROM vp_activity_tail() t WHERE t.src = 'c' AND t.at >= v_lo AND t.at < v_hi
    UNION ALL
    SELECT c.venue_id, 1 FROM check_ins c
    WHERE p_from < v_e AND c.checked_in_at >= p_from AND c.checked_in_at < v_e
    UNION ALL
    SELECT c.venue_id, 1 FROM check_ins c
    WHERE v_hi < p_to AND c.checked_in_at >= v_hi AND c.checked_in_at < p_to
  ) x JOIN venues v ON v.id = x.venue_id
  GROUP BY x.venue_id, v.name, v.id HAVING sum(x.n) > 0
  ORDER BY sum(x.n) DESC, v.name, v.id LIMIT p_limit;
END;
$$;

-- Distinct visitors of one venue in [p_from, p_to): the visitor sets of its whole days (recounted from
-- its check-ins for a day with unfolded changes to someone's check-ins), plus the users of the parts
-- of days at either end.  Cost: the venue's own daily visitors, not its history.
CREATE FUNCTION vp_venue_visitors(p_venue uuid, p_from timestamptz, p_to timestamptz) RETURNS bigint
LANGUAGE plpgsql STABLE SET plan_cache_mode = force_generic_plan AS $$
DECLARE
  v_lo    timestamptz := vp_ceil_bucket('day', p_from);
  v_hi    timestamptz := greatest(date_trunc('day', p_to, 'UTC'), vp_ceil_bucket('day', p_from));
  v_e     timestamptz := least(vp_ceil_bucket('day', p_from), p_to);  -- end of the first part-day
  v_dirty timestamptz[];
  v_n     bigint;
BEGIN
  v_dirty := ARRAY(
    SELECT x.b FROM (SELECT date_trunc('day', t.t1, 'UTC') AS b, t.user_id, t.xid, sum(t.sign) AS s
                     FROM vp_activity_tail() t
                     WHERE t.src = 'c' AND t.venue_id = p_venue AND t.check_ins <> 0
                     GROUP BY 1, 2, 3) x
    WHERE x.s <> 0 AND x.b >= v_lo AND x.b < v_hi);
  SELECT count(DISTINCT u.user_id) INTO v_n FROM (
    SELECT unnest(v.visitor_ids) AS user_id FROM rollup_venue_daily v
    WHERE v.venue_id = p_venue AND v.bucket >= v_lo AND v.bucket < v_hi AND v.bucket <> ALL (v_dirty)
    UNION ALL
    SELECT c.user_id FROM check_ins c
    WHERE p_from < v_e AND c.venue_id = p_venue AND c.checked_in_at >= p_from AND c.checked_in_at < v_e
    UNION ALL
    SELECT c.user_id FROM check_ins c
    WHERE v_hi < p_to AND c.venue_id = p_venue AND c.checked_in_at >= v_hi AND c.checked_in_at < p_to
    UNION ALL
    SELECT c.user_id FROM unnest(v_dirty) AS d(day)
    JOIN check_ins c ON c.venue_id = p_venue AND c.checked_in_at >= d.day AND c.checked_in_at < d.day + interval '24 hours'
  ) u;
  RETURN v_n;
END;
$$;

-- ---------------------------------------------------------------------------------------------------
-- Recomputations from raw rows (folds use them for what cannot be added up; rebuilds for everything).
-- A caller that needs the result to match a consumer's snapshot runs them in the same REPEATABLE READ
-- transaction as that consumer's fold (venuepulse rollups rebuild, the seed) or with writers locked
-- out (this migration).
-- ---------------------------------------------------------------------------------------------------

-- Distinct visitors of the given UTC buckets ('hour', 'day' or 'week'), recounted from check_ins.
CREATE FUNCTION vp_recount_visitors(p_grain text, p_buckets timestamptz[]) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
  v_n bigint;
BEGIN
  IF p_buckets IS NULL OR cardinality(p_buckets) = 0 THEN
    RETURN 0;
  END IF;
  IF p_grain = 'hour' THEN
    INSERT INTO rollup_hourly AS r (bucket, visitors)
    SELECT b, (SELECT count(DISTINCT c.user_id) FROM check_ins c
               WHERE c.checked_in_at >= b AND c.checked_in_at < b + interval '1 hour')
    FROM unnest(p_buckets) AS b
    ON CONFLICT (bucket) DO UPDATE SET visitors = EXCLUDED.visitors;
  ELSIF p_grain = 'day' THEN
    INSERT INTO rollup_daily AS r (bucket, visitors)
    SELECT b, (SELECT count(DISTINCT c.user_id) FROM check_ins c
               WHERE c.checked_in_at >= b AND c.checked_in_at < b + interval '24 hours')
    FROM unnest(p_buckets) AS b
    ON CONFLICT (bucket) DO UPDATE SET visitors = EXCLUDED.visitors;
  ELSIF p_grain = 'week' THEN
    INSERT INTO rollup_weekly AS r (bucket, visitors)
    SELECT b, (SELECT count(DISTINCT c.user_id) FROM check_ins c
               WHERE c.checked_in_at >= b AND c.checked_in_at < b + interval '168 hours')
    FROM unnest(p_buckets) AS b
    ON CONFLICT (bucket) DO UPDATE SET visitors = EXCLUDED.visitors;
  ELSE
    RAISE EXCEPTION 'bad_grain: % is not hour, day or week', p_grain;
  END IF;
  GET DIAGNOSTICS v_n = ROW_COUNT;
  RETURN v_n;
END;
$$;

-- The funnel rows of the given offers (NULL: all offers), recomputed from raw events and claims with
-- offer_funnel_users (0005, the funnel's one definition); offers that no longer exist lose theirs.
CREATE FUNCTION vp_recompute_offer_funnels(p_offers uuid[]) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
  v_n bigint;
BEGIN
  IF p_offers IS NOT NULL AND cardinality(p_offers) = 0 THEN
    RETURN 0;
  END IF;
  PERFORM vp_drop_temp('vp_funnel_users');
  IF p_offers IS NULL THEN
    DELETE FROM rollup_offer_funnel;
    DELETE FROM rollup_offer_days;
    p_offers := ARRAY(SELECT id FROM flash_offers);
    CREATE TEMP TABLE vp_funnel_users ON COMMIT DROP AS
    SELECT * FROM offer_funnel_users('-infinity', 'infinity', NULL, NULL);
  ELSE
    DELETE FROM rollup_offer_funnel WHERE offer_id = ANY (p_offers);
    DELETE FROM rollup_offer_days WHERE offer_id = ANY (p_offers);
    CREATE TEMP TABLE vp_funnel_users ON COMMIT DROP AS
    SELECT f.* FROM unnest(p_offers) AS o(id)
    CROSS JOIN LATERAL offer_funnel_users('-infinity', 'infinity', NULL, o.id) f;
  END IF;
  INSERT INTO rollup_offer_funnel (offer_id, venue_id, viewed_users, clicked_users, claimed_users, redeemed_users,
                                   claim_seconds, redeem_seconds, claim_p50_s, claim_p90_s, redeem_p50_s,
                                   redeem_p90_s)
  SELECT o.id, o.venue_id, count(u.user_id), count(u.first_click), count(u.claimed_at), count(u.redeemed_at),
         coalesce(array_agg(extract(epoch FROM u.claimed_at - u.first_view)::float8 ORDER BY u.user_id)
                    FILTER (WHERE u.claimed_at IS NOT NULL), '{}'),
         coalesce(array_agg(extract(epoch FROM u.redeemed_at - u.claimed_at)::float8 ORDER BY u.user_id)
                    FILTER (WHERE u.redeemed_at IS NOT NULL), '{}'),
         percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM u.claimed_at - u.first_view)),
         percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM u.claimed_at - u.first_view)),
         percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM u.redeemed_at - u.claimed_at)),
         percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM u.redeemed_at - u.claimed_at))
  FROM flash_offers o
  LEFT JOIN vp_funnel_users u ON u.offer_id = o.id
  WHERE o.id = ANY (p_offers)
  GROUP BY o.id, o.venue_id;
  GET DIAGNOSTICS v_n = ROW_COUNT;
  INSERT INTO rollup_offer_days (offer_id, bucket, venue_id, viewed_users, clicked_users, claimed_users, redeemed_users)
  SELECT u.offer_id, date_trunc('day', u.first_view, 'UTC'), o.venue_id,
         count(*), count(u.first_click), count(u.claimed_at), count(u.redeemed_at)
  FROM vp_funnel_users u
  JOIN flash_offers o ON o.id = u.offer_id
  GROUP BY 1, 2, 3;
  RETURN v_n;
END;
$$;

-- The time-bucketed rollups (hourly, daily, weekly visitors, per venue and day, notifications) of
-- [p_from, p_to), widened to whole UTC days (and whole weeks for weekly visitors), from raw rows.
CREATE FUNCTION vp_rebuild_activity(p_from timestamptz, p_to timestamptz) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
  v_from timestamptz := date_trunc('day', p_from, 'UTC');
  v_to   timestamptz := CASE WHEN date_trunc('day', p_to, 'UTC') = p_to THEN p_to
                             ELSE date_trunc('day', p_to, 'UTC') + interval '24 hours' END;
  v_n    bigint;
BEGIN
  DELETE FROM rollup_hourly WHERE bucket >= v_from AND bucket < v_to;
  DELETE FROM rollup_daily WHERE bucket >= v_from AND bucket < v_to;
  DELETE FROM rollup_venue_daily WHERE bucket >= v_from AND bucket < v_to;
  DELETE FROM rollup_notifications_daily WHERE bucket >= v_from AND bucket < v_to;
  DELETE FROM rollup_weekly WHERE bucket < v_to AND bucket > v_from - interval '168 hours';

  PERFORM vp_drop_temp('vp_rebuild_m');
  CREATE TEMP TABLE vp_rebuild_m ON COMMIT DROP AS
  SELECT venue_id, checked_in_at AS at, 1 AS check_ins, 0 AS reviews, 0 AS favorites, 0 AS claims, 0 AS redemptions,
         0 AS offer_views, 0 AS offer_clicks, (checked_out_at IS NOT NULL OR is_active)::int AS starts, 0 AS ends,
         is_active::int AS active
  FROM check_ins WHERE checked_in_at >= v_from AND checked_in_at < v_to
  UNION ALL
  SELECT venue_id, checked_out_at, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0
  FROM check_ins WHERE checked_out_at >= v_from AND checked_out_at < v_to
  UNION ALL
  SELECT venue_id, created_at, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0 FROM reviews WHERE created_at >= v_from AND created_at < v_to
  UNION ALL
  SELECT venue_id, created_at, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0 FROM favorites WHERE created_at >= v_from AND created_at < v_to
  UNION ALL
  SELECT o.venue_id, c.created_at, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0
  FROM flash_offer_claims c JOIN flash_offers o ON o.id = c.offer_id
  WHERE c.created_at >= v_from AND c.created_at < v_to
  UNION ALL
  SELECT o.venue_id, c.redeemed_at, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0
  FROM flash_offer_claims c JOIN flash_offers o ON o.id = c.offer_id
  WHERE c.redeemed_at >= v_from AND c.redeemed_at < v_to
  UNION ALL
  SELECT venue_id, created_at, 0, 0, 0, 0, 0, (event_type = 'flash_offer_view')::int, (event_type = 'flash_offer_click')::int,
         0, 0, 0
  FROM event_stream
  WHERE is_analytics_event AND target_type = 'offer' AND event_type IN ('flash_offer_view', 'flash_offer_click')
    AND created_at >= v_from AND created_at < v_to;

  INSERT INTO rollup_hourly (bucket, check_ins, reviews, favorites, claims, redemptions, offer_views, offer_clicks,
                             starts, ends, active)
  SELECT date_trunc('hour', at, 'UTC'), sum(check_ins), sum(reviews), sum(favorites), sum(claims), sum(redemptions),
         sum(offer_views), sum(offer_clicks), sum(starts), sum(ends), sum(active)
  FROM vp_rebuild_m GROUP BY 1;
  GET DIAGNOSTICS v_n = ROW_COUNT;
  INSERT INTO rollup_daily (bucket, check_ins, reviews, favorites, claims, redemptions, offer_views, offer_clicks,
                            starts, ends, active)
  SELECT date_trunc('day', at, 'UTC'), sum(check_ins), sum(reviews), sum(favorites), sum(claims), sum(redemptions),
         sum(offer_views), sum(offer_clicks), sum(starts), sum(ends), sum(active)
  FROM vp_rebuild_m GROUP BY 1;
  INSERT INTO rollup_venue_daily (venue_id, bucket, check_ins, reviews, favorites, claims, redemptions, offer_views,
                                  offer_clicks, starts, ends, active)
  SELECT venue_id, date_trunc('day', at, 'UTC'), sum(check_ins), sum(reviews), sum(favorites), sum(claims),
         sum(redemptions), sum(offer_views), sum(offer_clicks), sum(starts), sum(ends), sum(active)
  FROM vp_rebuild_m WHERE venue_id IS NOT NULL GROUP BY 1, 2;

  UPDATE rollup_venue_daily r SET visitor_ids = x.ids
  FROM (SELECT venue_id, date_trunc('day', checked_in_at, 'UTC') AS bucket,
               array_agg(DISTINCT user_id ORDER BY user_id) AS ids
        FROM check_ins WHERE checked_in_at >= v_from AND checked_in_at < v_to GROUP BY 1, 2) x
  WHERE r.venue_id = x.venue_id AND r.bucket = x.bucket;

  -- distinct visitors: hours and days of the range, whole weeks overlapping it
  INSERT INTO rollup_hourly AS r (bucket, visitors)
  SELECT date_trunc('hour', checked_in_at, 'UTC'), count(DISTINCT user_id)
  FROM check_ins WHERE checked_in_at >= v_from AND checked_in_at < v_to GROUP BY 1
  ON CONFLICT (bucket) DO UPDATE SET visitors = EXCLUDED.visitors;
  INSERT INTO rollup_daily AS r (bucket, visitors)
  SELECT date_trunc('day', checked_in_at, 'UTC'), count(DISTINCT user_id)
  FROM check_ins WHERE checked_in_at >= v_from AND checked_in_at < v_to GROUP BY 1
  ON CONFLICT (bucket) DO UPDATE SET visitors = EXCLUDED.visitors;
  INSERT INTO rollup_weekly (bucket, visitors)
  SELECT date_trunc('week', checked_in_at, 'UTC'), count(DISTINCT user_id)
  FROM check_ins
  WHERE checked_in_at >= date_trunc('week', v_from, 'UTC')
    AND checked_in_at < date_trunc('week', v_to - interval '1 microsecond', 'UTC') + interval '168 hours'
  GROUP BY 1;

  INSERT INTO rollup_notifications_daily (bucket, category, channel, sent, delivered, read, clicked)
  SELECT date_trunc('day', n.created_at, 'UTC'), n.category, i.ch,
         count(*) FILTER (WHERE i.bits & 1 <> 0), count(*) FILTER (WHERE i.bits & 2 <> 0),
         count(*) FILTER (WHERE i.bits & 4 <> 0), count(*) FILTER (WHERE i.bits & 8 <> 0)
  FROM notifications n
  CROSS JOIN LATERAL vp_notification_images(n.channels, n.delivered_at, n.read, n.clicked) i
  WHERE n.created_at >= v_from AND n.created_at < v_to
  GROUP BY 1, 2, 3;
  RETURN v_n;
END;
$$;

-- Every pair rollup from venue_interactions, in one snapshot that becomes the pairs consumer's.
CREATE FUNCTION vp_rebuild_pairs() RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
  v_snap pg_snapshot;
  v_n    bigint;
BEGIN
  PERFORM vp_drop_temp('vp_pairs_src');
  -- one statement: the snapshot it reads is the one recorded
  CREATE TEMP TABLE vp_pairs_src ON COMMIT DROP AS
  WITH s AS MATERIALIZED (SELECT vp_snapshot_with_own(pg_current_snapshot()) AS snap)
  SELECT s.snap, p.category, p.venue_id, p.user_id, p.score
  FROM s
  LEFT JOIN (SELECT v.category::text AS category, vi.venue_id, vi.user_id, vi.engagement_score AS score
             FROM venue_interactions vi JOIN venues v ON v.id = vi.venue_id) p ON true;
  SELECT snap INTO v_snap FROM vp_pairs_src LIMIT 1;
  DELETE FROM vp_pairs_src WHERE venue_id IS NULL;

  DELETE FROM rollup_pair_scores;
  DELETE FROM rollup_pair_users;
  DELETE FROM rollup_pair_venues;
  DELETE FROM rollup_pair_totals;
  INSERT INTO rollup_pair_scores (category, score, pairs)
  SELECT coalesce(category, ''), score, count(*) FROM vp_pairs_src GROUP BY GROUPING SETS ((category, score), (score));
  INSERT INTO rollup_pair_users (category, user_id, pairs)
  SELECT coalesce(category, ''), user_id, count(*) FROM vp_pairs_src GROUP BY GROUPING SETS ((category, user_id), (user_id));
  INSERT INTO rollup_pair_venues (venue_id, category, pairs)
  SELECT venue_id, min(category), count(*) FROM vp_pairs_src GROUP BY venue_id;
  GET DIAGNOSTICS v_n = ROW_COUNT;
  INSERT INTO rollup_pair_totals (category, users, venues)
  SELECT u.category, u.users, coalesce(v.venues, 0)
  FROM (SELECT category, count(*) AS users FROM rollup_pair_users GROUP BY category) u
  LEFT JOIN (SELECT coalesce(category, '') AS category, count(*) AS venues FROM rollup_pair_venues
             GROUP BY GROUPING SETS ((category), ())) v ON v.category = u.category;
  UPDATE rollup_consumers SET snap = v_snap, as_of = now(), folded_at = clock_timestamp(), last_full_at = now()
  WHERE consumer = 'pairs';
  RETURN v_n;
END;
$$;

-- venue_stats from raw rows (the materialized view's query: each source aggregated per venue first),
-- into pg_temp.vp_vs_full and pg_temp.vp_vs_full_recent, in one snapshot (returned) at clock p_at.
CREATE FUNCTION vp_venue_stats_compute(p_at timestamptz) RETURNS pg_snapshot
LANGUAGE plpgsql AS $$
DECLARE
  v_snap pg_snapshot;
BEGIN
  PERFORM vp_drop_temp('vp_vs_full');
  PERFORM vp_drop_temp('vp_vs_full_recent');
  -- no constraints copied: an empty venues table still yields one row, carrying the snapshot
  CREATE TEMP TABLE vp_vs_full ON COMMIT DROP AS SELECT * FROM venue_stats_rows WITH NO DATA;
  ALTER TABLE vp_vs_full DROP COLUMN engagement_score, ADD COLUMN snap pg_snapshot;
  CREATE TEMP TABLE vp_vs_full_recent ON COMMIT DROP AS SELECT * FROM venue_stats_recent WITH NO DATA;
  WITH s AS MATERIALIZED (SELECT vp_snapshot_with_own(pg_current_snapshot()) AS snap),
  recent AS (
    INSERT INTO vp_vs_full_recent (checked_in_at, venue_id, n)
    SELECT checked_in_at, venue_id, count(*) FROM check_ins WHERE checked_in_at > p_at - interval '7 days'
    GROUP BY 1, 2
  ),
  ci AS (
    SELECT venue_id, count(DISTINCT user_id) AS total_unique_visitors, count(*) AS total_check_ins,
           count(*) FILTER (WHERE checked_in_at > p_at - interval '7 days') AS check_ins_last_7_days,
           count(*) FILTER (WHERE is_active) AS active_check_ins, max(checked_in_at) AS last_check_in_at
    FROM check_ins GROUP BY venue_id),
  rv AS (
    SELECT venue_id, count(*) AS review_count, sum(rating) AS rating_sum,
           count(*) FILTER (WHERE is_verified) AS verified_review_count, max(created_at) AS last_review_at
    FROM reviews GROUP BY venue_id),
  fv AS (SELECT venue_id, count(DISTINCT user_id) AS favorite_count FROM favorites GROUP BY venue_id),
  co AS (SELECT venue_id, count(DISTINCT collection_id) AS collection_count FROM collection_venues GROUP BY venue_id),
  fo AS (SELECT venue_id, count(*) AS flash_offer_count FROM flash_offers GROUP BY venue_id),
  cl AS (
    SELECT o.venue_id, count(DISTINCT c.user_id) AS flash_offer_claim_count
    FROM flash_offer_claims c JOIN flash_offers o ON o.id = c.offer_id GROUP BY o.venue_id)
  INSERT INTO vp_vs_full (venue_id, name, category, city, total_unique_visitors, total_check_ins,
                          check_ins_last_7_days, active_check_ins, review_count, rating_sum, verified_review_count,
                          favorite_count, collection_count, flash_offer_count, flash_offer_claim_count,
                          last_check_in_at, last_review_at, snap)
  SELECT x.id, x.name, x.category, x.city,
         coalesce(x.total_unique_visitors, 0), coalesce(x.total_check_ins, 0), coalesce(x.check_ins_last_7_days, 0),
         coalesce(x.active_check_ins, 0), coalesce(x.review_count, 0), coalesce(x.rating_sum, 0),
         coalesce(x.verified_review_count, 0), coalesce(x.favorite_count, 0), coalesce(x.collection_count, 0),
         coalesce(x.flash_offer_count, 0), coalesce(x.flash_offer_claim_count, 0), x.last_check_in_at,
         x.last_review_at, s.snap
  FROM s
  LEFT JOIN (
    SELECT v.id, v.name, v.category, v.city, ci.total_unique_visitors, ci.total_check_ins, ci.check_ins_last_7_days,
           ci.active_check_ins, rv.review_count, rv.rating_sum, rv.verified_review_count, fv.favorite_count,
           co.collection_count, fo.flash_offer_count, cl.flash_offer_claim_count, ci.last_check_in_at,
           rv.last_review_at
    FROM venues v
    LEFT JOIN ci ON ci.venue_id = v.id
    LEFT JOIN rv ON rv.venue_id = v.id
    LEFT JOIN fv ON fv.venue_id = v.id
    LEFT JOIN co ON co.venue_id = v.id
    LEFT JOIN fo ON fo.venue_id = v.id
    LEFT JOIN cl ON cl.venue_id = v.id) x ON true;
  SELECT snap INTO v_snap FROM vp_vs_full LIMIT 1;
  DELETE FROM vp_vs_full WHERE venue_id IS NULL;
  RETURN v_snap;
END;
$$;

-- venue_stats_scores counted again from venue_stats_rows (after a full recompute or a repair).
CREATE FUNCTION vp_venue_stats_scores_rebuild() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM venue_stats_scores;
  INSERT INTO venue_stats_scores (category, score, venues)
  SELECT coalesce(category::text, ''), engagement_score, count(*) FROM venue_stats_rows
  GROUP BY GROUPING SETS ((category, engagement_score), (engagement_score));
END;
$$;

-- venue_stats recomputed in full from raw rows (what `refresh_venue_stats(true)` and `--full` run).
-- Rows are upserted, not truncated: readers keep reading the previous values until it commits.
CREATE FUNCTION vp_venue_stats_full() RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
  v_at   timestamptz;
  v_snap pg_snapshot;
  v_n    bigint;
BEGIN
  PERFORM pg_advisory_xact_lock(vp_rollup_lock_key('venue_stats'));
  SELECT greatest(now(), as_of) INTO v_at FROM rollup_consumers WHERE consumer = 'venue_stats' FOR UPDATE;
  v_snap := vp_venue_stats_compute(v_at);
  DELETE FROM venue_stats_rows s WHERE NOT EXISTS (SELECT 1 FROM vp_vs_full f WHERE f.venue_id = s.venue_id);
  INSERT INTO venue_stats_rows AS s (venue_id, name, category, city, total_unique_visitors, total_check_ins,
                                     check_ins_last_7_days, active_check_ins, review_count, rating_sum,
                                     verified_review_count, favorite_count, collection_count, flash_offer_count,
                                     flash_offer_claim_count, last_check_in_at, last_review_at)
  SELECT venue_id, name, category, city, total_unique_visitors, total_check_ins, check_ins_last_7_days,
         active_check_ins, review_count, rating_sum, verified_review_count, favorite_count, collection_count,
         flash_offer_count, flash_offer_claim_count, last_check_in_at, last_review_at
  FROM vp_vs_full
  ON CONFLICT (venue_id) DO UPDATE SET
    name = EXCLUDED.name, category = EXCLUDED.category, city = EXCLUDED.city,
    total_unique_visitors = EXCLUDED.total_unique_visitors, total_check_ins = EXCLUDED.total_check_ins,
    check_ins_last_7_days = EXCLUDED.check_ins_last_7_days, active_check_ins = EXCLUDED.active_check_ins,
    review_count = EXCLUDED.review_count, rating_sum = EXCLUDED.rating_sum,
    verified_review_count = EXCLUDED.verified_review_count, favorite_count = EXCLUDED.favorite_count,
    collection_count = EXCLUDED.collection_count, flash_offer_count = EXCLUDED.flash_offer_count,
    flash_offer_claim_count = EXCLUDED.flash_offer_claim_count, last_check_in_at = EXCLUDED.last_check_in_at,
    last_review_at = EXCLUDED.last_review_at
  -- rows already right are not rewritten (nor their index entries)
  WHERE (s.name, s.category, s.city, s.total_unique_visitors, s.total_check_ins, s.check_ins_last_7_days,
         s.active_check_ins, s.review_count, s.rating_sum, s.verified_review_count, s.favorite_count,
         s.collection_count, s.flash_offer_count, s.flash_offer_claim_count, s.last_check_in_at, s.last_review_at)
        IS DISTINCT FROM
        (EXCLUDED.name, EXCLUDED.category, EXCLUDED.city, EXCLUDED.total_unique_visitors, EXCLUDED.total_check_ins,
         EXCLUDED.check_ins_last_7_days, EXCLUDED.active_check_ins, EXCLUDED.review_count, EXCLUDED.rating_sum,
         EXCLUDED.verified_review_count, EXCLUDED.favorite_count, EXCLUDED.collection_count,
         EXCLUDED.flash_offer_count, EXCLUDED.flash_offer_claim_count, EXCLUDED.last_check_in_at,
         EXCLUDED.last_review_at);
  GET DIAGNOSTICS v_n = ROW_COUNT;
  DELETE FROM venue_stats_recent r
  WHERE NOT EXISTS (SELECT 1 FROM vp_vs_full_recent f
                    WHERE f.checked_in_at = r.checked_in_at AND f.venue_id = r.venue_id AND f.n = r.n);
  INSERT INTO venue_stats_recent
  SELECT f.* FROM vp_vs_full_recent f
  WHERE NOT EXISTS (SELECT 1 FROM venue_stats_recent r WHERE r.checked_in_at = f.checked_in_at AND r.venue_id = f.venue_id);
  PERFORM vp_venue_stats_scores_rebuild();
  UPDATE rollup_consumers SET snap = v_snap, as_of = v_at, folded_at = clock_timestamp(), last_full_at = v_at
  WHERE consumer = 'venue_stats';
  RETURN v_n;
END;
$$;

-- ---------------------------------------------------------------------------------------------------
-- Folds.  Each takes its consumer's lock, reads its previous snapshot under it, takes a new one, and
-- applies exactly the log rows visible in the new snapshot but not in the old (pg_visible_in_snapshot
-- on the writer's transaction id): a transaction still in flight is not in the new snapshot, so its
-- rows wait for the next fold; a fold that fails or is killed commits nothing, so its rows are still
-- unfolded.  They work at any isolation level (folds apply only log rows, and what they recount from
-- raw rows -- visitors, funnels, a lowered maximum -- is recounted again when its later changes are
-- folded).
-- ---------------------------------------------------------------------------------------------------

CREATE FUNCTION vp_fold_activity(OUT changes bigint, OUT offers bigint, OUT gc bigint)
LANGUAGE plpgsql AS $$
DECLARE
  v_prev    pg_snapshot;
  v_snap    pg_snapshot;
  v_started timestamptz := clock_timestamp();
  v_offers  uuid[];
BEGIN
  PERFORM pg_advisory_xact_lock(vp_rollup_lock_key('activity'));
  SELECT snap INTO v_prev FROM rollup_consumers WHERE consumer = 'activity' FOR UPDATE;
  v_snap := vp_snapshot_with_own(pg_current_snapshot());
  PERFORM vp_drop_temp('vp_fold_rows');
  CREATE TEMP TABLE vp_fold_rows ON COMMIT DROP AS
  SELECT xid, src, sign, venue_id, user_id, offer_id, t1, t2, flag, bits, k, ch FROM rollup_log
  WHERE src IN ('c', 'r', 'f', 'k', 'e', 'n', 'o')
    AND pg_visible_in_snapshot(xid, v_snap) AND NOT pg_visible_in_snapshot(xid, v_prev);
  GET DIAGNOSTICS changes = ROW_COUNT;
  offers := 0;

  IF changes > 0 THEN
    PERFORM vp_drop_temp('vp_fold_m');
    CREATE TEMP TABLE vp_fold_m ON COMMIT DROP AS
    SELECT f.venue_id, m.* FROM vp_fold_rows f
    CROSS JOIN LATERAL vp_log_measures(f.src, f.sign, f.t1, f.t2, f.flag, f.k) m
    WHERE f.src IN ('c', 'r', 'f', 'k', 'e');

    INSERT INTO rollup_hourly AS r (bucket, check_ins, reviews, favorites, claims, redemptions, offer_views,
                                    offer_clicks, starts, ends, active)
    SELECT date_trunc('hour', at, 'UTC'), sum(check_ins), sum(reviews), sum(favorites), sum(claims), sum(redemptions),
           sum(offer_views), sum(offer_clicks), sum(starts), sum(ends), sum(active)
    FROM vp_fold_m GROUP BY 1
    ON CONFLICT (bucket) DO UPDATE SET
      check_ins = r.check_ins + EXCLUDED.check_ins, reviews = r.reviews + EXCLUDED.reviews,
      favorites = r.favorites + EXCLUDED.favorites, claims = r.claims + EXCLUDED.claims,
      redemptions = r.redemptions + EXCLUDED.redemptions, offer_views = r.offer_views + EXCLUDED.offer_views,
      offer_clicks = r.offer_clicks + EXCLUDED.offer_clicks, starts = r.starts + EXCLUDED.starts,
      ends = r.ends + EXCLUDED.ends, active = r.active + EXCLUDED.active;
    INSERT INTO rollup_daily AS r (bucket, check_ins, reviews, favorites, claims, redemptions, offer_views,
                                   offer_clicks, starts, ends, active)
    SELECT date_trunc('day', at, 'UTC'), sum(check_ins), sum(reviews), sum(favorites), sum(claims), sum(redemptions),
           sum(offer_views), sum(offer_clicks), sum(starts), sum(ends), sum(active)
    FROM vp_fold_m GROUP BY 1
    ON CONFLICT (bucket) DO UPDATE SET
      check_ins = r.check_ins + EXCLUDED.check_ins, reviews = r.reviews + EXCLUDED.reviews,
      favorites = r.favorites + EXCLUDED.favorites, claims = r.claims + EXCLUDED.claims,
      redemptions = r.redemptions + EXCLUDED.redemptions, offer_views = r.offer_views + EXCLUDED.offer_views,
      offer_clicks = r.offer_clicks + EXCLUDED.offer_clicks, starts = r.starts + EXCLUDED.starts,
      ends = r.ends + EXCLUDED.ends, active = r.active + EXCLUDED.active;
    INSERT INTO rollup_venue_daily AS r (venue_id, bucket, check_ins, reviews, favorites, claims, redemptions,
                                         offer_views, offer_clicks, starts, ends, active)
    SELECT venue_id, date_trunc('day', at, 'UTC'), sum(check_ins), sum(reviews), sum(favorites), sum(claims),
           sum(redemptions), sum(offer_views), sum(offer_clicks), sum(starts), sum(ends), sum(active)
    FROM vp_fold_m WHERE venue_id IS NOT NULL GROUP BY 1, 2
    ON CONFLICT (venue_id, bucket) DO UPDATE SET
      check_ins = r.check_ins + EXCLUDED.check_ins, reviews = r.reviews + EXCLUDED.reviews,
      favorites = r.favorites + EXCLUDED.favorites, claims = r.claims + EXCLUDED.claims,
      redemptions = r.redemptions + EXCLUDED.redemptions, offer_views = r.offer_views + EXCLUDED.offer_views,
      offer_clicks = r.offer_clicks + EXCLUDED.offer_clicks, starts = r.starts + EXCLUDED.starts,
      ends = r.ends + EXCLUDED.ends, active = r.active + EXCLUDED.active;

    -- a venue-day's visitors: users whose check-ins there that day some transaction raised are added;
    -- where one lowered them (they may have others), the day is recounted from its check-ins.  Per
    -- transaction: an insert folded with a later delete must still recount (an earlier recount may have
    -- seen the insert), a checkout (-1 and +1 in one transaction) changes nobody's count
    WITH n AS (
      SELECT venue_id, date_trunc('day', t1, 'UTC') AS bucket, user_id, xid, sum(sign) AS s
      FROM vp_fold_rows WHERE src = 'c' AND venue_id IS NOT NULL GROUP BY 1, 2, 3, 4 HAVING sum(sign) <> 0),
    k AS (
      SELECT venue_id, bucket, bool_or(s < 0) AS removed, array_agg(DISTINCT user_id) FILTER (WHERE s > 0) AS added
      FROM n GROUP BY 1, 2)
    UPDATE rollup_venue_daily r
    SET visitor_ids = CASE
      WHEN k.removed THEN ARRAY(SELECT DISTINCT c.user_id FROM check_ins c
                                WHERE c.venue_id = r.venue_id AND c.checked_in_at >= r.bucket
                                  AND c.checked_in_at < r.bucket + interval '24 hours' ORDER BY 1)
      ELSE ARRAY(SELECT DISTINCT u FROM unnest(r.visitor_ids || k.added) AS u ORDER BY 1) END
    FROM k WHERE r.venue_id = k.venue_id AND r.bucket = k.bucket;

    -- distinct visitors: buckets where some transaction changed some user's number of check-ins
    PERFORM vp_recount_visitors(g.grain, ARRAY(
      SELECT DISTINCT x.b FROM (SELECT date_trunc(g.grain, t1, 'UTC') AS b, user_id, xid, sum(sign) AS s
                                FROM vp_fold_rows WHERE src = 'c' GROUP BY 1, 2, 3) x
      WHERE x.s <> 0))
    FROM (VALUES ('hour'), ('day'), ('week')) AS g(grain);

    INSERT INTO rollup_notifications_daily AS r (bucket, category, channel, sent, delivered, read, clicked)
    SELECT date_trunc('day', t1, 'UTC'), k, ch,
           sum(sign) FILTER (WHERE bits & 1 <> 0), coalesce(sum(sign) FILTER (WHERE bits & 2 <> 0), 0),
           coalesce(sum(sign) FILTER (WHERE bits & 4 <> 0), 0), coalesce(sum(sign) FILTER (WHERE bits & 8 <> 0), 0)
    FROM vp_fold_rows WHERE src = 'n' GROUP BY 1, 2, 3
    ON CONFLICT (bucket, category, channel) DO UPDATE SET
      sent = r.sent + EXCLUDED.sent, delivered = r.delivered + EXCLUDED.delivered,
      read = r.read + EXCLUDED.read, clicked = r.clicked + EXCLUDED.clicked;

    v_offers := ARRAY(SELECT DISTINCT offer_id FROM vp_fold_rows WHERE src IN ('e', 'k', 'o') AND offer_id IS NOT NULL);
    offers := vp_recompute_offer_funnels(v_offers);
  END IF;

  UPDATE rollup_consumers SET snap = v_snap, as_of = now(), folded_at = clock_timestamp(), last_changes = changes,
                              last_ms = extract(epoch FROM clock_timestamp() - v_started) * 1000
  WHERE consumer = 'activity';
  gc := vp_rollup_log_gc();
END;
$$;

CREATE FUNCTION vp_fold_pairs(OUT changes bigint, OUT rebuilt boolean)
LANGUAGE plpgsql AS $$
DECLARE
  v_prev    pg_snapshot;
  v_snap    pg_snapshot;
  v_started timestamptz := clock_timestamp();
BEGIN
  PERFORM pg_advisory_xact_lock(vp_rollup_lock_key('pairs'));
  SELECT snap INTO v_prev FROM rollup_consumers WHERE consumer = 'pairs' FOR UPDATE;
  v_snap := vp_snapshot_with_own(pg_current_snapshot());
  -- a venue changing category moves all its pairs: rare, so recount them all
  rebuilt := EXISTS (
    SELECT 1 FROM rollup_log
    WHERE src = 'v' AND pg_visible_in_snapshot(xid, v_snap) AND NOT pg_visible_in_snapshot(xid, v_prev)
    GROUP BY venue_id HAVING count(DISTINCT k) > 1);
  IF rebuilt THEN
    changes := vp_rebuild_pairs();
    RETURN;
  END IF;

  PERFORM vp_drop_temp('vp_fold_pairs_rows');
  -- a pair's category is its venue's; a venue deleted since keeps the category it was folded with (a
  -- venue with neither was added and removed between two folds: its rows add up to nothing)
  CREATE TEMP TABLE vp_fold_pairs_rows ON COMMIT DROP AS
  SELECT coalesce(v.category::text, pv.category) AS category, l.venue_id, l.user_id, l.n AS score, l.sign
  FROM rollup_log l
  LEFT JOIN venues v ON v.id = l.venue_id
  LEFT JOIN rollup_pair_venues pv ON pv.venue_id = l.venue_id
  WHERE l.src = 'p' AND pg_visible_in_snapshot(l.xid, v_snap) AND NOT pg_visible_in_snapshot(l.xid, v_prev);
  GET DIAGNOSTICS changes = ROW_COUNT;
  DELETE FROM vp_fold_pairs_rows WHERE category IS NULL;

  IF changes > 0 THEN
    INSERT INTO rollup_pair_scores AS r (category, score, pairs)
    SELECT c, score, sum(sign)
    FROM (SELECT category AS c, score, sign FROM vp_fold_pairs_rows
          UNION ALL SELECT '', score, sign FROM vp_fold_pairs_rows) x
    GROUP BY 1, 2 HAVING sum(sign) <> 0
    ON CONFLICT (category, score) DO UPDATE SET pairs = r.pairs + EXCLUDED.pairs;
    DELETE FROM rollup_pair_scores WHERE pairs = 0;

    WITH d AS (
      SELECT c AS category, user_id, sum(sign)::int AS d
      FROM (SELECT category AS c, user_id, sign FROM vp_fold_pairs_rows
            UNION ALL SELECT '', user_id, sign FROM vp_fold_pairs_rows) x
      GROUP BY 1, 2 HAVING sum(sign) <> 0),
    cur AS (
      SELECT d.category, d.user_id, d.d, coalesce(u.pairs, 0) AS old
      FROM d LEFT JOIN rollup_pair_users u ON u.category = d.category AND u.user_id = d.user_id),
    tot AS (
      INSERT INTO rollup_pair_totals AS t (category, users)
      SELECT category, sum((old + d > 0)::int - (old > 0)::int) FROM cur GROUP BY category
      ON CONFLICT (category) DO UPDATE SET users = t.users + EXCLUDED.users),
    gone AS (
      DELETE FROM rollup_pair_users u USING cur
      WHERE u.category = cur.category AND u.user_id = cur.user_id AND cur.old + cur.d = 0)
    INSERT INTO rollup_pair_users AS u (category, user_id, pairs)
    SELECT category, user_id, old + d FROM cur WHERE old + d <> 0
    ON CONFLICT (category, user_id) DO UPDATE SET pairs = EXCLUDED.pairs;

    WITH d AS (
      SELECT venue_id, min(category) AS category, sum(sign)::int AS d
      FROM vp_fold_pairs_rows GROUP BY venue_id HAVING sum(sign) <> 0),
    cur AS (
      SELECT d.venue_id, d.category, d.d, coalesce(v.pairs, 0) AS old
      FROM d LEFT JOIN rollup_pair_venues v ON v.venue_id = d.venue_id),
    tot AS (
      INSERT INTO rollup_pair_totals AS t (category, venues)
      SELECT c, sum((old + d > 0)::int - (old > 0)::int)
      FROM (SELECT category AS c, old, d FROM cur UNION ALL SELECT '', old, d FROM cur) x GROUP BY c
      ON CONFLICT (category) DO UPDATE SET venues = t.venues + EXCLUDED.venues),
    gone AS (
      DELETE FROM rollup_pair_venues v USING cur WHERE v.venue_id = cur.venue_id AND cur.old + cur.d = 0)
    INSERT INTO rollup_pair_venues AS v (venue_id, category, pairs)
    SELECT venue_id, category, old + d FROM cur WHERE old + d <> 0
    ON CONFLICT (venue_id) DO UPDATE SET pairs = EXCLUDED.pairs;
  END IF;

  UPDATE rollup_consumers SET snap = v_snap, as_of = now(), folded_at = clock_timestamp(), last_changes = changes,
                              last_ms = extract(epoch FROM clock_timestamp() - v_started) * 1000
  WHERE consumer = 'pairs';
  PERFORM vp_rollup_log_gc();
END;
$$;

-- venue_stats brought current: counts move by the folded changes; check_ins_last_7_days also loses
-- the check-ins that left the window since the last fold (counted in venue_stats_recent as it was before
-- this fold: exactly the check-ins of the last fold's snapshot, whatever committed since); a maximum that
-- a removed row may have held is looked up again through the (venue_id, time) indexes.  One statement
-- (one snapshot) reads the log once and writes both tables.  Cost: the changes, plus the check-ins
-- leaving the window.
CREATE FUNCTION vp_fold_venue_stats(OUT changes bigint, OUT venues bigint)
LANGUAGE plpgsql AS $$
DECLARE
  v_prev    pg_snapshot;
  v_snap    pg_snapshot;
  v_t0      timestamptz;
  v_t       timestamptz;
  v_started timestamptz := clock_timestamp();
BEGIN
  PERFORM pg_advisory_xact_lock(vp_rollup_lock_key('venue_stats'));
  SELECT snap, as_of INTO v_prev, v_t0 FROM rollup_consumers WHERE consumer = 'venue_stats' FOR UPDATE;
  v_snap := vp_snapshot_with_own(pg_current_snapshot());
  v_t := greatest(now(), v_t0);

  WITH l AS MATERIALIZED (
    SELECT xid, src, sign, venue_id, t1, flag, n, bits FROM rollup_log
    WHERE src IN ('c', 'r', 'f', 'l', 'o', 'p', 'v') AND venue_id IS NOT NULL
      AND pg_visible_in_snapshot(xid, v_snap) AND NOT pg_visible_in_snapshot(xid, v_prev)
  ),
  recent AS (
    INSERT INTO venue_stats_recent AS r (checked_in_at, venue_id, n)
    SELECT t1, venue_id, sum(sign) FROM l
    WHERE src = 'c' AND t1 > v_t0 - interval '7 days' GROUP BY 1, 2 HAVING sum(sign) <> 0
    ON CONFLICT (checked_in_at, venue_id) DO UPDATE SET n = r.n + EXCLUDED.n
  ),
  -- the latest check-in and review move by the times whose rows a transaction raised or lowered (a
  -- checkout logs -1 and +1 at the same time in one transaction: neither); where one went down, the
  -- maximum is looked up again (per transaction: an insert folded with a later delete of it still
  -- counts as a removal, since an earlier look-up may have seen the insert)
  lowered AS (
    SELECT venue_id, max(t1) FILTER (WHERE src = 'c' AND s < 0) AS ci_removed,
           max(t1) FILTER (WHERE src = 'r' AND s < 0) AS rv_removed,
           max(t1) FILTER (WHERE src = 'c' AND s > 0) AS ci_added,
           max(t1) FILTER (WHERE src = 'r' AND s > 0) AS rv_added
    FROM (SELECT src, venue_id, t1, xid, sum(sign) AS s FROM l WHERE src IN ('c', 'r') GROUP BY 1, 2, 3, 4
          HAVING sum(sign) <> 0) x
    GROUP BY venue_id
  ),
  d AS (
    SELECT venue_id,
           coalesce(sum(sign) FILTER (WHERE src = 'c'), 0) AS ci,
           coalesce(sum(sign) FILTER (WHERE src = 'c' AND flag), 0) AS active,
           coalesce(sum(sign) FILTER (WHERE src = 'c' AND t1 > v_t - interval '7 days'), 0) AS in_window,
           coalesce(sum(sign) FILTER (WHERE src = 'r'), 0) AS reviews,
           coalesce(sum(sign * n) FILTER (WHERE src = 'r'), 0) AS rating,
           coalesce(sum(sign) FILTER (WHERE src = 'r' AND flag), 0) AS verified,
           coalesce(sum(sign) FILTER (WHERE src = 'f'), 0) AS favorites,
           coalesce(sum(sign) FILTER (WHERE src = 'l'), 0) AS collections,
           coalesce(sum(sign) FILTER (WHERE src = 'o'), 0) AS offers,
           coalesce(sum(sign) FILTER (WHERE src = 'p' AND bits & 1 <> 0), 0) AS visitors,
           coalesce(sum(sign) FILTER (WHERE src = 'p' AND bits & 2 <> 0), 0) AS claimers
    FROM l GROUP BY venue_id
  ),
  -- what left the 7-day window, from venue_stats_recent before this statement adds to it
  e AS (
    SELECT venue_id, sum(n) AS expired FROM venue_stats_recent
    WHERE checked_in_at > v_t0 - interval '7 days' AND checked_in_at <= v_t - interval '7 days'
    GROUP BY venue_id
  ),
  k AS (SELECT venue_id FROM d UNION SELECT venue_id FROM e),
  gone AS (
    DELETE FROM venue_stats_rows s
    WHERE s.venue_id IN (SELECT venue_id FROM l WHERE src = 'v' AND sign < 0)
      AND NOT EXISTS (SELECT 1 FROM venues v WHERE v.id = s.venue_id)
    RETURNING s.category, s.engagement_score
  ),
  newrows AS MATERIALIZED (
    SELECT k.venue_id, v.name, v.category, v.city,
           coalesce(cur.total_unique_visitors, 0) + coalesce(d.visitors, 0) AS total_unique_visitors,
           coalesce(cur.total_check_ins, 0) + coalesce(d.ci, 0) AS total_check_ins,
           coalesce(cur.check_ins_last_7_days, 0) + coalesce(d.in_window, 0) - coalesce(e.expired, 0) AS check_ins_last_7_days,
           coalesce(cur.active_check_ins, 0) + coalesce(d.active, 0) AS active_check_ins,
           coalesce(cur.review_count, 0) + coalesce(d.reviews, 0) AS review_count,
           coalesce(cur.rating_sum, 0) + coalesce(d.rating, 0) AS rating_sum,
           coalesce(cur.verified_review_count, 0) + coalesce(d.verified, 0) AS verified_review_count,
           coalesce(cur.favorite_count, 0) + coalesce(d.favorites, 0) AS favorite_count,
           coalesce(cur.collection_count, 0) + coalesce(d.collections, 0) AS collection_count,
           coalesce(cur.flash_offer_count, 0) + coalesce(d.offers, 0) AS flash_offer_count,
           coalesce(cur.flash_offer_claim_count, 0) + coalesce(d.claimers, 0) AS flash_offer_claim_count,
           CASE WHEN lo.ci_removed IS NOT NULL AND (cur.last_check_in_at IS NULL OR lo.ci_removed >= cur.last_check_in_at)
                THEN (SELECT max(c.checked_in_at) FROM check_ins c WHERE c.venue_id = k.venue_id)
                ELSE greatest(cur.last_check_in_at, lo.ci_added) END AS last_check_in_at,
           CASE WHEN lo.rv_removed IS NOT NULL AND (cur.last_review_at IS NULL OR lo.rv_removed >= cur.last_review_at)
                THEN (SELECT max(r.created_at) FROM reviews r WHERE r.venue_id = k.venue_id)
                ELSE greatest(cur.last_review_at, lo.rv_added) END AS last_review_at,
           cur.category AS old_category, cur.engagement_score AS old_score
    FROM k
    JOIN venues v ON v.id = k.venue_id
    LEFT JOIN d ON d.venue_id = k.venue_id
    LEFT JOIN e ON e.venue_id = k.venue_id
    LEFT JOIN lowered lo ON lo.venue_id = k.venue_id
    LEFT JOIN venue_stats_rows cur ON cur.venue_id = k.venue_id
  ),
  up AS (
    INSERT INTO venue_stats_rows AS s (venue_id, name, category, city, total_unique_visitors, total_check_ins,
                                       check_ins_last_7_days, active_check_ins, review_count, rating_sum,
                                       verified_review_count, favorite_count, collection_count, flash_offer_count,
                                       flash_offer_claim_count, last_check_in_at, last_review_at)
    SELECT venue_id, name, category, city, total_unique_visitors, total_check_ins, check_ins_last_7_days,
           active_check_ins, review_count, rating_sum, verified_review_count, favorite_count, collection_count,
           flash_offer_count, flash_offer_claim_count, last_check_in_at, last_review_at
    FROM newrows
    ON CONFLICT (venue_id) DO UPDATE SET
      name = EXCLUDED.name, category = EXCLUDED.category, city = EXCLUDED.city,
      total_unique_visitors = EXCLUDED.total_unique_visitors, total_check_ins = EXCLUDED.total_check_ins,
      check_ins_last_7_days = EXCLUDED.check_ins_last_7_days, active_check_ins = EXCLUDED.active_check_ins,
      review_count = EXCLUDED.review_count, rating_sum = EXCLUDED.rating_sum,
      verified_review_count = EXCLUDED.verified_review_count, favorite_count = EXCLUDED.favorite_count,
      collection_count = EXCLUDED.collection_count, flash_offer_count = EXCLUDED.flash_offer_count,
      flash_offer_claim_count = EXCLUDED.flash_offer_claim_count, last_check_in_at = EXCLUDED.last_check_in_at,
      last_review_at = EXCLUDED.last_review_at
    RETURNING 1
  ),
  -- each changed venue leaves its old score and takes its new one (in its category and in '')
  moves AS (
    SELECT category::text AS category, (total_check_ins + 5 * review_count + 3 * favorite_count
                                        + 2 * flash_offer_claim_count)::numeric AS score, 1 AS d FROM newrows
    UNION ALL
    SELECT old_category::text, old_score, -1 FROM newrows WHERE old_score IS NOT NULL
    UNION ALL
    SELECT category::text, engagement_score, -1 FROM gone
  ),
  scores AS (
    INSERT INTO venue_stats_scores AS h (category, score, venues)
    SELECT c, score, sum(d) FROM (SELECT category AS c, score, d FROM moves UNION ALL SELECT '', score, d FROM moves) x
    GROUP BY 1, 2 HAVING sum(d) <> 0
    ON CONFLICT (category, score) DO UPDATE SET venues = h.venues + EXCLUDED.venues
  )
  SELECT (SELECT count(*) FROM l), (SELECT count(*) FROM up) INTO changes, venues;
  DELETE FROM venue_stats_scores h WHERE h.venues = 0;

  -- check-ins that left the window (and zero counts with them) are no longer needed
  DELETE FROM venue_stats_recent WHERE checked_in_at <= v_t - interval '7 days';

  UPDATE rollup_consumers SET snap = v_snap, as_of = v_t, folded_at = clock_timestamp(), last_changes = changes,
                              last_ms = extract(epoch FROM clock_timestamp() - v_started) * 1000
  WHERE consumer = 'venue_stats';
  PERFORM vp_rollup_log_gc();
END;
$$;

-- The review's function, kept: brings venue_stats current (incrementally; p_full: recomputed from raw).
CREATE FUNCTION refresh_venue_stats(p_full boolean DEFAULT false) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  IF p_full THEN
    PERFORM vp_venue_stats_full();
  ELSE
    PERFORM vp_fold_venue_stats();
  END IF;
END;
$$;

-- Drift between venue_stats and a recount from raw rows.  Meant for a REPEATABLE READ transaction that
-- first runs vp_fold_venue_stats() (then both describe the same snapshot and clock, and any difference
-- is drift); p_repair replaces the drifted rows with the recount.
CREATE FUNCTION vp_venue_stats_drift(p_repair boolean DEFAULT false)
RETURNS TABLE (venue_id uuid, stored jsonb, expected jsonb)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
  v_at timestamptz;
BEGIN
  SELECT as_of INTO v_at FROM rollup_consumers WHERE consumer = 'venue_stats';
  PERFORM vp_venue_stats_compute(v_at);
  PERFORM vp_drop_temp('vp_vs_drift');
  CREATE TEMP TABLE vp_vs_drift ON COMMIT DROP AS
  SELECT coalesce(s.venue_id, f.venue_id) AS venue_id,
         CASE WHEN s.venue_id IS NOT NULL THEN to_jsonb(s) - 'engagement_score' END AS stored,
         CASE WHEN f.venue_id IS NOT NULL THEN to_jsonb(f) - 'snap' END AS expected
  FROM venue_stats_rows s
  FULL JOIN vp_vs_full f ON f.venue_id = s.venue_id
  WHERE s.venue_id IS NULL OR f.venue_id IS NULL
     OR (to_jsonb(s) - 'engagement_score') IS DISTINCT FROM (to_jsonb(f) - 'snap');
  IF p_repair THEN
    DELETE FROM venue_stats_rows s USING vp_vs_drift d WHERE s.venue_id = d.venue_id;
    INSERT INTO venue_stats_rows (venue_id, name, category, city, total_unique_visitors, total_check_ins,
                                  check_ins_last_7_days, active_check_ins, review_count, rating_sum,
                                  verified_review_count, favorite_count, collection_count, flash_offer_count,
                                  flash_offer_claim_count, last_check_in_at, last_review_at)
    SELECT f.venue_id, f.name, f.category, f.city, f.total_unique_visitors, f.total_check_ins,
           f.check_ins_last_7_days, f.active_check_ins, f.review_count, f.rating_sum, f.verified_review_count,
           f.favorite_count, f.collection_count, f.flash_offer_count, f.flash_offer_claim_count,
           f.last_check_in_at, f.last_review_at
    FROM vp_vs_full f JOIN vp_vs_drift d ON d.venue_id = f.venue_id;
    DELETE FROM venue_stats_recent;
    INSERT INTO venue_stats_recent SELECT * FROM vp_vs_full_recent;
    PERFORM vp_venue_stats_scores_rebuild();
  END IF;
  RETURN QUERY SELECT d.venue_id, d.stored, d.expected FROM vp_vs_drift d ORDER BY d.venue_id;
END;
$$;

-- ---------------------------------------------------------------------------------------------------
-- Who may read what.  Readers: everything here.  Venue owners: their venues' rows of the per-venue
-- rollups and of the log (row-level security, as on the raw tables); the all-venue rollups are
-- granted only so one query can serve both roles, and show owners no rows.  Nobody but the owner of
-- the tables (jobs, migrations) writes them; the app's writing role inserts into rollup_log through
-- the capture triggers.
-- ---------------------------------------------------------------------------------------------------

GRANT SELECT ON rollup_log, rollup_consumers, rollup_rebuilds, rollup_hourly, rollup_daily, rollup_weekly,
                rollup_venue_daily, rollup_notifications_daily, rollup_pair_scores, rollup_pair_users,
                rollup_pair_venues, rollup_pair_totals, rollup_offer_funnel, rollup_offer_days,
                venue_stats_rows, venue_stats_recent, venue_stats_scores, venue_stats, venue_stats_visible
  TO venuepulse_reader;
GRANT SELECT ON rollup_log, rollup_consumers, rollup_hourly, rollup_daily, rollup_weekly, rollup_venue_daily,
                rollup_offer_funnel, rollup_offer_days, venue_stats_scores, venue_stats_visible
  TO venuepulse_owner;

ALTER TABLE rollup_log ENABLE ROW LEVEL SECURITY;
CREATE POLICY vp_venue_scope ON rollup_log
  USING ((SELECT NOT vp_is_scoped_role()) OR venue_id = ANY ((SELECT vp_scope_venue_ids())::uuid[]));
ALTER TABLE rollup_venue_daily ENABLE ROW LEVEL SECURITY;
CREATE POLICY vp_venue_scope ON rollup_venue_daily
  USING ((SELECT NOT vp_is_scoped_role()) OR venue_id = ANY ((SELECT vp_scope_venue_ids())::uuid[]));
ALTER TABLE rollup_offer_funnel ENABLE ROW LEVEL SECURITY;
CREATE POLICY vp_venue_scope ON rollup_offer_funnel
  USING ((SELECT NOT vp_is_scoped_role()) OR venue_id = ANY ((SELECT vp_scope_venue_ids())::uuid[]));
ALTER TABLE rollup_offer_days ENABLE ROW LEVEL SECURITY;
CREATE POLICY vp_venue_scope ON rollup_offer_days
  USING ((SELECT NOT vp_is_scoped_role()) OR venue_id = ANY ((SELECT vp_scope_venue_ids())::uuid[]));
ALTER TABLE rollup_hourly ENABLE ROW LEVEL SECURITY;
CREATE POLICY vp_all_venues ON rollup_hourly USING ((SELECT NOT vp_is_scoped_role()));
ALTER TABLE rollup_daily ENABLE ROW LEVEL SECURITY;
CREATE POLICY vp_all_venues ON rollup_daily USING ((SELECT NOT vp_is_scoped_role()));
ALTER TABLE rollup_weekly ENABLE ROW LEVEL SECURITY;
CREATE POLICY vp_all_venues ON rollup_weekly USING ((SELECT NOT vp_is_scoped_role()));
ALTER TABLE venue_stats_scores ENABLE ROW LEVEL SECURITY;
CREATE POLICY vp_all_venues ON venue_stats_scores USING ((SELECT NOT vp_is_scoped_role()));

-- ---------------------------------------------------------------------------------------------------
-- Fill everything from the rows that exist (writers are locked out until this commits).
-- ---------------------------------------------------------------------------------------------------

INSERT INTO rollup_consumers (consumer, snap, as_of, folded_at)
SELECT c, pg_current_snapshot(), now(), now() FROM unnest(ARRAY['activity', 'pairs', 'venue_stats']) AS c;
SELECT vp_rebuild_activity('-infinity', 'infinity');
SELECT vp_recompute_offer_funnels(NULL);
SELECT vp_rebuild_pairs();
SELECT vp_venue_stats_full();
UPDATE rollup_consumers SET last_full_at = now();
