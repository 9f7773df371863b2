-- VenuePulse target schema: the backend review's consolidated design, with the corrections listed in
-- DESIGN.md ("Corrections to the review's SQL") and docs/schema.md.  Hand-written PostgreSQL DDL.

-- ---------------------------------------------------------------------------------------------------
-- Validation helpers used by CHECK constraints
-- ---------------------------------------------------------------------------------------------------

-- A time zone PostgreSQL knows.  Declared IMMUTABLE so CHECK constraints may use it: the tz database
-- only grows between server upgrades, and a name that was valid stays valid.
CREATE FUNCTION vp_is_valid_timezone(tz text) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
  IF tz IS NULL THEN
    RETURN true;
  END IF;
  PERFORM now() AT TIME ZONE tz;
  RETURN true;
EXCEPTION WHEN invalid_parameter_value THEN
  RETURN false;
END;
$$;

CREATE FUNCTION vp_is_visibility(v text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT v IN ('public', 'friends', 'close_friends', 'private')
$$;

-- user_privacy.visibility: an object whose values are known visibility levels.
CREATE FUNCTION vp_is_valid_privacy(doc jsonb) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT jsonb_typeof(doc) = 'object'
     AND NOT EXISTS (
       SELECT 1 FROM jsonb_each(doc) AS e(k, v)
       WHERE jsonb_typeof(e.v) <> 'string' OR NOT vp_is_visibility(e.v #>> '{}'))
$$;

-- Great-circle distance in miles (haversine); NULL when either point is unknown.
CREATE FUNCTION vp_distance_miles(lat1 double precision, lng1 double precision,
                                  lat2 double precision, lng2 double precision)
RETURNS double precision LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT 2 * 3958.8 * asin(sqrt(
           power(sin(radians(lat2 - lat1) / 2), 2)
         + cos(radians(lat1)) * cos(radians(lat2)) * power(sin(radians(lng2 - lng1) / 2), 2)))
$$;

-- ---------------------------------------------------------------------------------------------------
-- Core app tables (the ones the review refers to)
-- ---------------------------------------------------------------------------------------------------

CREATE TABLE users (
  id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  username         varchar(50) NOT NULL UNIQUE,
  display_name     varchar(100) NOT NULL,
  email            varchar(254),
  timezone         text NOT NULL DEFAULT 'UTC' CHECK (vp_is_valid_timezone(timezone)),
  home_lat         double precision CHECK (home_lat BETWEEN -90 AND 90),
  home_lng         double precision CHECK (home_lng BETWEEN -180 AND 180),
  last_lat         double precision CHECK (last_lat BETWEEN -90 AND 90),
  last_lng         double precision CHECK (last_lng BETWEEN -180 AND 180),
  last_location_at timestamptz,
  created_at       timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT users_home_location_pair CHECK ((home_lat IS NULL) = (home_lng IS NULL)),
  CONSTRAINT users_last_location_pair CHECK ((last_lat IS NULL) = (last_lng IS NULL))
);

-- One row per direction: (a, b) accepted means a counts b as a friend; is_close_friend is a's choice.
CREATE TABLE friendships (
  user_id         uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  friend_id       uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  status          varchar(20) NOT NULL DEFAULT 'accepted'
                  CHECK (status IN ('pending', 'accepted')),
  is_close_friend boolean NOT NULL DEFAULT false,
  created_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (user_id, friend_id),
  CONSTRAINT friendships_not_self CHECK (user_id <> friend_id)
);
CREATE INDEX idx_friendships_friend ON friendships (friend_id) WHERE status = 'accepted';

CREATE TABLE venues (
  id                    uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name                  varchar(200) NOT NULL,
  category              varchar(30) NOT NULL
                        CHECK (category IN ('restaurant', 'bar', 'cafe', 'nightclub', 'museum', 'park',
                                            'gym', 'theater', 'shop', 'hotel', 'other')),
  city                  varchar(100) NOT NULL,
  address               text,
  lat                   double precision NOT NULL CHECK (lat BETWEEN -90 AND 90),
  lng                   double precision NOT NULL CHECK (lng BETWEEN -180 AND 180),
  is_featured           boolean NOT NULL DEFAULT false,
  created_at            timestamptz NOT NULL DEFAULT now(),
  -- review 3.2: check-in counters kept by trigger (every case, not only INSERT and active->inactive)
  active_check_in_count integer NOT NULL DEFAULT 0 CHECK (active_check_in_count >= 0),
  total_check_in_count  integer NOT NULL DEFAULT 0 CHECK (total_check_in_count >= 0),
  last_check_in_at      timestamptz,
  CONSTRAINT venues_active_le_total CHECK (active_check_in_count <= total_check_in_count)
);
CREATE INDEX idx_venues_featured ON venues (is_featured) WHERE is_featured;
CREATE INDEX idx_venues_city_category ON venues (city, category);

CREATE TABLE venue_owners (
  venue_id   uuid NOT NULL REFERENCES venues(id) ON DELETE CASCADE,
  user_id    uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  role       varchar(20) NOT NULL DEFAULT 'owner' CHECK (role IN ('owner', 'manager', 'staff')),
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (venue_id, user_id)
);
CREATE INDEX idx_venue_owners_user ON venue_owners (user_id);

-- Partitioned by month.  The review's LIKE ... INCLUDING ALL copy is rejected because a partitioned
-- table's primary key must include the partition column: the key is (id, checked_in_at).
CREATE TABLE check_ins (
  id             uuid NOT NULL DEFAULT gen_random_uuid(),
  user_id        uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  venue_id       uuid NOT NULL REFERENCES venues(id) ON DELETE CASCADE,
  checked_in_at  timestamptz NOT NULL DEFAULT now(),
  checked_out_at timestamptz,
  is_active      boolean NOT NULL DEFAULT true,
  PRIMARY KEY (id, checked_in_at),
  CONSTRAINT check_ins_out_after_in CHECK (checked_out_at IS NULL OR checked_out_at >= checked_in_at),
  CONSTRAINT check_ins_active_not_out CHECK (NOT (is_active AND checked_out_at IS NOT NULL))
) PARTITION BY RANGE (checked_in_at);
CREATE TABLE check_ins_default PARTITION OF check_ins DEFAULT;
CREATE INDEX idx_check_ins_venue_time ON check_ins (venue_id, checked_in_at DESC);
CREATE INDEX idx_check_ins_user_venue ON check_ins (user_id, venue_id);
CREATE INDEX idx_check_ins_user_active ON check_ins (user_id) WHERE is_active;
CREATE INDEX idx_check_ins_id ON check_ins (id);

-- Reviews stay unpartitioned: partitioning by created_at (as the review suggests) would make the
-- one-review-per-user-and-venue rule impossible to enforce.
CREATE TABLE reviews (
  id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id       uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  venue_id      uuid NOT NULL REFERENCES venues(id) ON DELETE CASCADE,
  rating        smallint NOT NULL CHECK (rating BETWEEN 1 AND 5),
  body          text NOT NULL DEFAULT '',
  is_verified   boolean NOT NULL DEFAULT false,
  helpful_count integer NOT NULL DEFAULT 0 CHECK (helpful_count >= 0),
  created_at    timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT reviews_one_per_user_venue UNIQUE (user_id, venue_id)
);
CREATE INDEX idx_reviews_venue_helpful ON reviews (venue_id, helpful_count DESC, created_at DESC);
CREATE INDEX idx_reviews_venue_created ON reviews (venue_id, created_at DESC);

CREATE TABLE favorites (
  user_id    uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  venue_id   uuid NOT NULL REFERENCES venues(id) ON DELETE CASCADE,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (user_id, venue_id)
);
CREATE INDEX idx_favorites_venue ON favorites (venue_id);

CREATE TABLE collections (
  id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id    uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  name       varchar(100) NOT NULL,
  visibility varchar(20) NOT NULL DEFAULT 'friends'
             CHECK (visibility IN ('public', 'friends', 'close_friends', 'private')),
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX idx_collections_user ON collections (user_id);

CREATE TABLE collection_venues (
  collection_id uuid NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
  venue_id      uuid NOT NULL REFERENCES venues(id) ON DELETE CASCADE,
  added_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (collection_id, venue_id)
);
CREATE INDEX idx_collection_venues_venue ON collection_venues (venue_id);

CREATE TABLE device_tokens (
  id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id      uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  token        text NOT NULL UNIQUE CHECK (length(token) BETWEEN 8 AND 4096),
  platform     varchar(10) NOT NULL CHECK (platform IN ('ios', 'android', 'web')),
  created_at   timestamptz NOT NULL DEFAULT now(),
  last_seen_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX idx_device_tokens_user ON device_tokens (user_id);

-- ---------------------------------------------------------------------------------------------------
-- 1.1 Unified notifications
-- ---------------------------------------------------------------------------------------------------

CREATE TABLE notification_settings (
  user_id             uuid PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
  push_enabled        boolean NOT NULL DEFAULT true,
  in_app_enabled      boolean NOT NULL DEFAULT true,
  email_enabled       boolean NOT NULL DEFAULT false,
  flash_offers        boolean NOT NULL DEFAULT true,
  friend_requests     boolean NOT NULL DEFAULT true,
  venue_shares        boolean NOT NULL DEFAULT true,
  collection_activity boolean NOT NULL DEFAULT true,
  reviews_responses   boolean NOT NULL DEFAULT true,
  check_in_nearby     boolean NOT NULL DEFAULT true,
  quiet_hours_start   time,
  quiet_hours_end     time,
  timezone            text NOT NULL DEFAULT 'UTC' CHECK (vp_is_valid_timezone(timezone)),
  max_distance_miles  numeric(5,2) CHECK (max_distance_miles >= 0),
  created_at          timestamptz NOT NULL DEFAULT now(),
  updated_at          timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT notification_settings_quiet_hours_pair
    CHECK ((quiet_hours_start IS NULL) = (quiet_hours_end IS NULL))
);

CREATE TABLE notifications (
  id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id        uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  category       varchar(50) NOT NULL
                 CHECK (category IN ('flash_offer', 'friend_request', 'venue_share', 'collection_activity',
                                     'review_response', 'check_in_nearby', 'system')),
  title          varchar(200) NOT NULL,
  body           text NOT NULL,
  channels       jsonb NOT NULL DEFAULT '{"push": false, "in_app": false, "email": false}'::jsonb
                 CHECK (jsonb_typeof(channels) = 'object'),
  delivered_at   jsonb CHECK (delivered_at IS NULL OR jsonb_typeof(delivered_at) = 'object'),
  read           boolean NOT NULL DEFAULT false,
  read_at        timestamptz,
  clicked        boolean NOT NULL DEFAULT false,
  clicked_at     timestamptz,
  actor_id       uuid REFERENCES users(id) ON DELETE SET NULL,
  reference_id   uuid,
  reference_type varchar(50)
                 CHECK (reference_type IN ('flash_offer', 'friend_request', 'venue', 'collection',
                                           'review', 'check_in', 'user')),
  -- the venue a notification is about (offer pushes): lets row-level security keep owners apart
  venue_id       uuid REFERENCES venues(id) ON DELETE CASCADE,
  data           jsonb NOT NULL DEFAULT '{}'::jsonb,
  created_at     timestamptz NOT NULL DEFAULT now(),
  expires_at     timestamptz,
  is_expired     boolean NOT NULL DEFAULT false,
  CONSTRAINT notifications_read_at CHECK (read = (read_at IS NOT NULL)),
  CONSTRAINT notifications_clicked_at CHECK (clicked = (clicked_at IS NOT NULL)),
  CONSTRAINT notifications_reference_pair CHECK ((reference_id IS NULL) = (reference_type IS NULL))
);
CREATE INDEX idx_notifications_user_created ON notifications (user_id, created_at DESC);
CREATE INDEX idx_notifications_category_created ON notifications (category, created_at DESC);
CREATE INDEX idx_notifications_reference ON notifications (reference_type, reference_id);
CREATE INDEX idx_notifications_expiring ON notifications (expires_at) WHERE NOT is_expired;
CREATE UNIQUE INDEX idx_notifications_one_offer_push
  ON notifications (reference_id, user_id) WHERE category = 'flash_offer' AND reference_type = 'flash_offer';

-- ---------------------------------------------------------------------------------------------------
-- 1.2 Unified event stream (partitioned by month; key includes created_at)
-- ---------------------------------------------------------------------------------------------------

CREATE TABLE event_stream (
  id                 uuid NOT NULL DEFAULT gen_random_uuid(),
  event_type         varchar(50) NOT NULL CHECK (event_type ~ '^[a-z][a-z_]*$'),
  category           varchar(20) NOT NULL CHECK (category IN ('social', 'commerce', 'engagement')),
  user_id            uuid NOT NULL,
  target_type        varchar(50) CHECK (target_type IN ('venue', 'user', 'collection', 'offer', 'review')),
  target_id          uuid,
  -- additions: the venue the event concerns (analytics and row-level security) and the row it came
  -- from (so deleting a check-in, review or favorite removes its event)
  venue_id           uuid,
  source_id          uuid,
  visibility         varchar(20) NOT NULL DEFAULT 'friends' CHECK (vp_is_visibility(visibility)),
  metadata           jsonb NOT NULL DEFAULT '{}'::jsonb,
  is_analytics_event boolean NOT NULL DEFAULT false,
  created_at         timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (id, created_at)
) PARTITION BY RANGE (created_at);
CREATE TABLE event_stream_default PARTITION OF event_stream DEFAULT;
CREATE INDEX idx_event_stream_user_created ON event_stream (user_id, created_at DESC);
CREATE INDEX idx_event_stream_type_created ON event_stream (event_type, created_at DESC);
CREATE INDEX idx_event_stream_target ON event_stream (target_type, target_id);
CREATE INDEX idx_event_stream_analytics ON event_stream (target_id, event_type) WHERE is_analytics_event = true;
CREATE INDEX idx_event_stream_source ON event_stream (source_id) WHERE source_id IS NOT NULL;
CREATE INDEX idx_event_stream_venue_created ON event_stream (venue_id, created_at DESC) WHERE venue_id IS NOT NULL;
-- idx_event_stream_visibility (visibility WHERE visibility != 'private') is not created: a 3-valued
-- column matches most of the table, so the planner never picks it; feeds filter by user first.

-- ---------------------------------------------------------------------------------------------------
-- 1.3 Flash offers, denormalized
-- ---------------------------------------------------------------------------------------------------

CREATE TABLE flash_offers (
  id                    uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  venue_id              uuid NOT NULL REFERENCES venues(id) ON DELETE CASCADE,
  title                 varchar(100) NOT NULL,
  description           text NOT NULL,
  value_cap             varchar(50),
  max_claims            integer NOT NULL CHECK (max_claims > 0),
  claimed_count         integer NOT NULL DEFAULT 0 CHECK (claimed_count >= 0),
  redeemed_count        integer NOT NULL DEFAULT 0 CHECK (redeemed_count >= 0),
  start_time            timestamptz NOT NULL,
  end_time              timestamptz NOT NULL,
  radius_miles          numeric(5,2) NOT NULL DEFAULT 1.0 CHECK (radius_miles >= 0),
  target_favorites_only boolean NOT NULL DEFAULT false,
  -- status is computed at read time by status(flash_offers): a STORED generated column may not call
  -- now() (the review's version is rejected as not immutable).
  view_count            integer NOT NULL DEFAULT 0 CHECK (view_count >= 0),
  click_count           integer NOT NULL DEFAULT 0 CHECK (click_count >= 0),
  push_sent             boolean NOT NULL DEFAULT false,
  push_sent_at          timestamptz,
  push_recipient_count  integer NOT NULL DEFAULT 0 CHECK (push_recipient_count >= 0),
  created_at            timestamptz NOT NULL DEFAULT now(),
  updated_at            timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT flash_offers_window CHECK (end_time > start_time),
  CONSTRAINT flash_offers_never_over CHECK (claimed_count <= max_claims),
  CONSTRAINT flash_offers_redeemed_le_claimed CHECK (redeemed_count <= claimed_count),
  CONSTRAINT flash_offers_push_pair CHECK (push_sent = (push_sent_at IS NOT NULL))
);
CREATE INDEX idx_flash_offers_venue_start ON flash_offers (venue_id, start_time DESC);
CREATE INDEX idx_flash_offers_window ON flash_offers (start_time, end_time);
CREATE INDEX idx_flash_offers_push_due ON flash_offers (start_time) WHERE NOT push_sent;

CREATE TABLE flash_offer_claims (
  id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  offer_id            uuid NOT NULL REFERENCES flash_offers(id) ON DELETE CASCADE,
  user_id             uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  -- 6 characters from an alphabet without look-alikes (no 0/O, 1/I)
  token               varchar(6) NOT NULL CHECK (token ~ '^[ABCDEFGHJKLMNPQRSTUVWXYZ23456789]{6}$'),
  status              varchar(20) NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'redeemed', 'expired')),
  redeemed_at         timestamptz,
  redeemed_by_user_id uuid REFERENCES users(id) ON DELETE SET NULL,
  expires_at          timestamptz NOT NULL,
  created_at          timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT unique_user_offer UNIQUE (offer_id, user_id),
  CONSTRAINT unique_offer_token UNIQUE (offer_id, token),
  CONSTRAINT flash_offer_claims_redeemed CHECK ((status = 'redeemed') = (redeemed_at IS NOT NULL))
);
CREATE INDEX idx_flash_offer_claims_user ON flash_offer_claims (user_id);
CREATE INDEX idx_flash_offer_claims_expiring ON flash_offer_claims (expires_at) WHERE status = 'active';

-- Read-time status (review's generated column, corrected).  `SELECT o.status FROM flash_offers o`
-- works through PostgreSQL's functional notation.
CREATE FUNCTION status(o flash_offers) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT CASE
           WHEN now() < o.start_time THEN 'scheduled'
           WHEN now() >= o.end_time THEN 'expired'
           WHEN o.claimed_count >= o.max_claims THEN 'full'
           ELSE 'active'
         END
$$;

-- ---------------------------------------------------------------------------------------------------
-- 2.1 Per user-venue interactions; 2.2 privacy
-- ---------------------------------------------------------------------------------------------------

CREATE TABLE venue_interactions (
  id                      uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id                 uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  venue_id                uuid NOT NULL REFERENCES venues(id) ON DELETE CASCADE,
  check_in_count          integer NOT NULL DEFAULT 0 CHECK (check_in_count >= 0),
  last_check_in_at        timestamptz,
  review_count            integer NOT NULL DEFAULT 0 CHECK (review_count IN (0, 1)),
  last_review_at          timestamptz,
  current_rating          integer CHECK (current_rating BETWEEN 1 AND 5),
  is_favorited            boolean NOT NULL DEFAULT false,
  favorited_at            timestamptz,
  collection_count        integer NOT NULL DEFAULT 0 CHECK (collection_count >= 0),
  flash_offer_claim_count integer NOT NULL DEFAULT 0 CHECK (flash_offer_claim_count >= 0),
  last_claim_at           timestamptz,
  engagement_score        integer GENERATED ALWAYS AS (
                            (check_in_count * 10) +
                            (review_count * 50) +
                            (CASE WHEN is_favorited THEN 100 ELSE 0 END) +
                            (collection_count * 25) +
                            (flash_offer_claim_count * 5)
                          ) STORED,
  first_interaction_at    timestamptz NOT NULL DEFAULT now(),
  last_interaction_at     timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT unique_user_venue UNIQUE (user_id, venue_id)
);
CREATE INDEX idx_venue_interactions_user ON venue_interactions (user_id, last_interaction_at DESC);
CREATE INDEX idx_venue_interactions_venue ON venue_interactions (venue_id, engagement_score DESC);
CREATE INDEX idx_venue_interactions_engagement ON venue_interactions (engagement_score DESC);

CREATE TABLE user_privacy (
  user_id               uuid PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
  visibility            jsonb NOT NULL DEFAULT '{
    "profile": "public",
    "check_ins": "friends",
    "favorites": "friends",
    "collections": "friends",
    "reviews": "public",
    "activity_feed": "friends"
  }'::jsonb CHECK (vp_is_valid_privacy(visibility)),
  allow_friend_requests boolean NOT NULL DEFAULT true,
  show_activity_status  boolean NOT NULL DEFAULT true,
  allow_venue_tagging   boolean NOT NULL DEFAULT true,
  blocked_user_ids      uuid[] NOT NULL DEFAULT ARRAY[]::uuid[],
  created_at            timestamptz NOT NULL DEFAULT now(),
  updated_at            timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX idx_user_privacy_visibility ON user_privacy USING GIN (visibility);

-- The visibility an event of `feature` gets, from the user's privacy settings.
CREATE FUNCTION vp_visibility_for(p_user uuid, p_feature text) RETURNS text
LANGUAGE sql STABLE AS $$
  SELECT coalesce(
    (SELECT up.visibility ->> p_feature FROM user_privacy up WHERE up.user_id = p_user),
    CASE p_feature WHEN 'reviews' THEN 'public' WHEN 'profile' THEN 'public' ELSE 'friends' END)
$$;

-- ---------------------------------------------------------------------------------------------------
-- 6 Monitoring: query_performance_log (partitioned by day) and job runs
-- ---------------------------------------------------------------------------------------------------

-- execution_time_ms is double precision, not the review's INTEGER: most named queries take well under a
-- millisecond, and integer milliseconds would make every percentile 0.
CREATE TABLE query_performance_log (
  id                uuid NOT NULL DEFAULT gen_random_uuid(),
  query_name        varchar(100) NOT NULL,
  execution_time_ms double precision NOT NULL CHECK (execution_time_ms >= 0),
  row_count         integer CHECK (row_count >= 0),
  user_id           uuid,
  created_at        timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (id, created_at)
) PARTITION BY RANGE (created_at);
CREATE TABLE query_performance_log_default PARTITION OF query_performance_log DEFAULT;
CREATE INDEX idx_query_perf_name ON query_performance_log (query_name, created_at DESC);
CREATE INDEX idx_query_perf_slow ON query_performance_log (execution_time_ms DESC) WHERE execution_time_ms > 1000;
CREATE INDEX idx_query_perf_created ON query_performance_log (created_at);

CREATE TABLE job_runs (
  id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  job_name      varchar(100) NOT NULL,
  scheduled_at  timestamptz,
  started_at    timestamptz NOT NULL DEFAULT now(),
  finished_at   timestamptz,
  status        varchar(20) NOT NULL DEFAULT 'running'
                CHECK (status IN ('running', 'succeeded', 'failed', 'skipped')),
  rows_affected bigint CHECK (rows_affected >= 0),
  error         text,
  details       jsonb NOT NULL DEFAULT '{}'::jsonb,
  CONSTRAINT job_runs_finished CHECK (finished_at IS NULL OR finished_at >= started_at)
);
CREATE INDEX idx_job_runs_job_started ON job_runs (job_name, started_at DESC);
CREATE INDEX idx_job_runs_failed ON job_runs (started_at DESC) WHERE status = 'failed';

-- ---------------------------------------------------------------------------------------------------
-- Partitions: made ahead by maintenance; rows that landed in a default partition are moved, not lost
-- ---------------------------------------------------------------------------------------------------

-- Which tables are time-partitioned, by which column and period.  Functions below only ever build
-- identifiers from this table, never from their arguments.
CREATE TABLE partition_policies (
  parent_table  text PRIMARY KEY,
  partition_key text NOT NULL,
  period        text NOT NULL CHECK (period IN ('month', 'day')),
  ahead         integer NOT NULL CHECK (ahead >= 0),
  retention     interval
);
INSERT INTO partition_policies (parent_table, partition_key, period, ahead, retention) VALUES
  ('check_ins', 'checked_in_at', 'month', 3, NULL),
  ('event_stream', 'created_at', 'month', 3, NULL),
  ('query_performance_log', 'created_at', 'day', 7, interval '30 days');

CREATE FUNCTION vp_partition_name(p_parent text, p_period text, p_start timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT p_parent || '_p' || to_char(p_start AT TIME ZONE 'UTC',
                                     CASE p_period WHEN 'month' THEN 'YYYY_MM' ELSE 'YYYY_MM_DD' END)
$$;

-- Makes the partition of p_parent that holds p_at (UTC periods).  Rows of that range found in the
-- default partition are moved into the new partition first (ATTACH would fail otherwise).  Returns
-- the number of rows moved, or -1 when the partition already existed.
CREATE FUNCTION vp_ensure_partition(p_parent text, p_at timestamptz) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
  pol       partition_policies;
  v_start   timestamptz;
  v_end     timestamptz;
  v_name    text;
  v_default text;
  v_moved   bigint := 0;
BEGIN
  SELECT * INTO pol FROM partition_policies WHERE parent_table = p_parent;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'unknown_partitioned_table: %', p_parent;
  END IF;
  v_start := date_trunc(pol.period, p_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
  v_end := ((v_start AT TIME ZONE 'UTC') + ('1 ' || pol.period)::interval) AT TIME ZONE 'UTC';
  v_name := vp_partition_name(pol.parent_table, pol.period, v_start);
  IF to_regclass(quote_ident(v_name)) IS NOT NULL THEN
    RETURN -1;
  END IF;
  v_default := pol.parent_table || '_default';
  -- Moving rows out of the default partition must not look like deletes and inserts to the
  -- counter triggers.
  PERFORM set_config('venuepulse.moving_rows', 'on', true);
  EXECUTE format('LOCK TABLE %I IN SHARE ROW EXCLUSIVE MODE', pol.parent_table);
  EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS INCLUDING CONSTRAINTS)',
                 v_name, pol.parent_table);
  EXECUTE format('WITH moved AS (DELETE FROM %I WHERE %I >= $1 AND %I < $2 RETURNING *)
                  INSERT INTO %I SELECT * FROM moved',
                 v_default, pol.partition_key, pol.partition_key, v_name)
    USING v_start, v_end;
  GET DIAGNOSTICS v_moved = ROW_COUNT;
  EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                 pol.parent_table, v_name, v_start, v_end);
  PERFORM set_config('venuepulse.moving_rows', 'off', true);
  RETURN v_moved;
END;
$$;

-- Makes every partition of p_parent from p_from to p_to (inclusive of the periods they fall in).
CREATE FUNCTION vp_ensure_partitions(p_parent text, p_from timestamptz, p_to timestamptz)
RETURNS TABLE (partition_name text, created boolean, rows_moved bigint)
LANGUAGE plpgsql AS $$
DECLARE
  pol partition_policies;
  v_at timestamptz;
  v_res bigint;
BEGIN
  SELECT * INTO pol FROM partition_policies WHERE parent_table = p_parent;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'unknown_partitioned_table: %', p_parent;
  END IF;
  v_at := date_trunc(pol.period, p_from AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
  WHILE v_at <= p_to LOOP
    v_res := vp_ensure_partition(p_parent, v_at);
    partition_name := vp_partition_name(p_parent, pol.period, v_at);
    created := v_res >= 0;
    rows_moved := greatest(v_res, 0);
    RETURN NEXT;
    v_at := ((v_at AT TIME ZONE 'UTC') + ('1 ' || pol.period)::interval) AT TIME ZONE 'UTC';
  END LOOP;
END;
$$;

-- Partitions of every policy table, with their bounds and whether they are the default.
CREATE VIEW partition_inventory AS
SELECT pol.parent_table,
       c.relname::text AS partition_name,
       pg_get_expr(c.relpartbound, c.oid) AS bound,
       c.relpartbound IS NOT NULL AND pg_get_expr(c.relpartbound, c.oid) = 'DEFAULT' AS is_default,
       CASE WHEN pg_get_expr(c.relpartbound, c.oid) = 'DEFAULT' THEN NULL
            ELSE (regexp_match(pg_get_expr(c.relpartbound, c.oid), $re$FROM \('([^']+)'\)$re$))[1]::timestamptz
       END AS range_start,
       CASE WHEN pg_get_expr(c.relpartbound, c.oid) = 'DEFAULT' THEN NULL
            ELSE (regexp_match(pg_get_expr(c.relpartbound, c.oid), $re$TO \('([^']+)'\)$re$))[1]::timestamptz
       END AS range_end
FROM partition_policies pol
JOIN pg_inherits i ON i.inhparent = to_regclass(quote_ident(pol.parent_table))
JOIN pg_class c ON c.oid = i.inhrelid;

SELECT vp_ensure_partitions('check_ins', now(), now() + interval '3 months');
SELECT vp_ensure_partitions('event_stream', now(), now() + interval '3 months');
SELECT vp_ensure_partitions('query_performance_log', now() - interval '1 day', now() + interval '7 days');

-- ---------------------------------------------------------------------------------------------------
-- Denormalized numbers: recount definitions (used by triggers per key, by reconcile for all keys)
-- ---------------------------------------------------------------------------------------------------

-- Venue check-in counters as they should be.
CREATE VIEW venue_counters_expected AS
SELECT v.id AS venue_id,
       coalesce(c.active, 0)::integer AS active_check_in_count,
       coalesce(c.total, 0)::integer AS total_check_in_count,
       c.last_at AS last_check_in_at
FROM venues v
LEFT JOIN (SELECT venue_id, count(*) FILTER (WHERE is_active) AS active, count(*) AS total,
                  max(checked_in_at) AS last_at
           FROM check_ins GROUP BY venue_id) c ON c.venue_id = v.id;

-- Offer counters as they should be (views and clicks are analytics events in event_stream).
CREATE VIEW flash_offer_counters_expected AS
SELECT o.id AS offer_id,
       coalesce(c.claimed, 0)::integer AS claimed_count,
       coalesce(c.redeemed, 0)::integer AS redeemed_count,
       coalesce(e.views, 0)::integer AS view_count,
       coalesce(e.clicks, 0)::integer AS click_count
FROM flash_offers o
LEFT JOIN (SELECT offer_id, count(*) AS claimed, count(*) FILTER (WHERE status = 'redeemed') AS redeemed
           FROM flash_offer_claims GROUP BY offer_id) c ON c.offer_id = o.id
LEFT JOIN (SELECT target_id, count(*) FILTER (WHERE event_type = 'flash_offer_view') AS views,
                  count(*) FILTER (WHERE event_type = 'flash_offer_click') AS clicks
           FROM event_stream
           WHERE is_analytics_event AND target_type = 'offer'
             AND event_type IN ('flash_offer_view', 'flash_offer_click')
           GROUP BY target_id) e ON e.target_id = o.id;

-- venue_interactions as it should be: one row per (user, venue) with any interaction.
CREATE VIEW venue_interactions_expected AS
WITH ci AS (
  SELECT user_id, venue_id, count(*)::integer AS n, max(checked_in_at) AS last_at, min(checked_in_at) AS first_at
  FROM check_ins GROUP BY user_id, venue_id),
rv AS (
  SELECT user_id, venue_id, 1 AS n, created_at AS last_at, rating::integer AS rating FROM reviews),
fv AS (
  SELECT user_id, venue_id, created_at FROM favorites),
co AS (
  SELECT c.user_id, cv.venue_id, count(*)::integer AS n, min(cv.added_at) AS first_at, max(cv.added_at) AS last_at
  FROM collection_venues cv JOIN collections c ON c.id = cv.collection_id GROUP BY c.user_id, cv.venue_id),
cl AS (
  SELECT c.user_id, o.venue_id, count(*)::integer AS n, max(c.created_at) AS last_at, min(c.created_at) AS first_at
  FROM flash_offer_claims c JOIN flash_offers o ON o.id = c.offer_id GROUP BY c.user_id, o.venue_id),
pairs AS (
  SELECT user_id, venue_id FROM ci UNION SELECT user_id, venue_id FROM rv UNION
  SELECT user_id, venue_id FROM fv UNION SELECT user_id, venue_id FROM co UNION
  SELECT user_id, venue_id FROM cl)
SELECT p.user_id, p.venue_id,
       coalesce(ci.n, 0) AS check_in_count, ci.last_at AS last_check_in_at,
       coalesce(rv.n, 0) AS review_count, rv.last_at AS last_review_at, rv.rating AS current_rating,
       fv.user_id IS NOT NULL AS is_favorited, fv.created_at AS favorited_at,
       coalesce(co.n, 0) AS collection_count,
       coalesce(cl.n, 0) AS flash_offer_claim_count, cl.last_at AS last_claim_at,
       least(ci.first_at, rv.last_at, fv.created_at, co.first_at, cl.first_at) AS first_interaction_at,
       greatest(ci.last_at, rv.last_at, fv.created_at, co.last_at, cl.last_at) AS last_interaction_at
FROM pairs p
LEFT JOIN ci ON ci.user_id = p.user_id AND ci.venue_id = p.venue_id
LEFT JOIN rv ON rv.user_id = p.user_id AND rv.venue_id = p.venue_id
LEFT JOIN fv ON fv.user_id = p.user_id AND fv.venue_id = p.venue_id
LEFT JOIN co ON co.user_id = p.user_id AND co.venue_id = p.venue_id
LEFT JOIN cl ON cl.user_id = p.user_id AND cl.venue_id = p.venue_id;

-- Recounts one (user, venue) pair into venue_interactions; deletes the row when nothing is left.
-- Callers hold the pair's advisory lock, so the recount sees every committed change to the pair.
CREATE FUNCTION vp_sync_interaction(p_user uuid, p_venue uuid) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  r record;
BEGIN
  IF p_user IS NULL OR p_venue IS NULL THEN
    RETURN;
  END IF;
  PERFORM pg_advisory_xact_lock(hashtextextended(p_user::text || '/' || p_venue::text, 7));
  SELECT
    (SELECT count(*) FROM check_ins WHERE user_id = p_user AND venue_id = p_venue)::integer AS ci_n,
    (SELECT max(checked_in_at) FROM check_ins WHERE user_id = p_user AND venue_id = p_venue) AS ci_last,
    (SELECT min(checked_in_at) FROM check_ins WHERE user_id = p_user AND venue_id = p_venue) AS ci_first,
    (SELECT created_at FROM reviews WHERE user_id = p_user AND venue_id = p_venue) AS rv_at,
    (SELECT rating FROM reviews WHERE user_id = p_user AND venue_id = p_venue)::integer AS rv_rating,
    (SELECT created_at FROM favorites WHERE user_id = p_user AND venue_id = p_venue) AS fv_at,
    (SELECT count(*) FROM collection_venues cv JOIN collections c ON c.id = cv.collection_id
      WHERE c.user_id = p_user AND cv.venue_id = p_venue)::integer AS co_n,
    (SELECT min(cv.added_at) FROM collection_venues cv JOIN collections c ON c.id = cv.collection_id
      WHERE c.user_id = p_user AND cv.venue_id = p_venue) AS co_first,
    (SELECT max(cv.added_at) FROM collection_venues cv JOIN collections c ON c.id = cv.collection_id
      WHERE c.user_id = p_user AND cv.venue_id = p_venue) AS co_last,
    (SELECT count(*) FROM flash_offer_claims fc JOIN flash_offers o ON o.id = fc.offer_id
      WHERE fc.user_id = p_user AND o.venue_id = p_venue)::integer AS cl_n,
    (SELECT min(fc.created_at) FROM flash_offer_claims fc JOIN flash_offers o ON o.id = fc.offer_id
      WHERE fc.user_id = p_user AND o.venue_id = p_venue) AS cl_first,
    (SELECT max(fc.created_at) FROM flash_offer_claims fc JOIN flash_offers o ON o.id = fc.offer_id
      WHERE fc.user_id = p_user AND o.venue_id = p_venue) AS cl_last
  INTO r;

  IF r.ci_n = 0 AND r.rv_at IS NULL AND r.fv_at IS NULL AND r.co_n = 0 AND r.cl_n = 0
     OR NOT EXISTS (SELECT 1 FROM users WHERE id = p_user)
     OR NOT EXISTS (SELECT 1 FROM venues WHERE id = p_venue) THEN
    DELETE FROM venue_interactions WHERE user_id = p_user AND venue_id = p_venue;
    RETURN;
  END IF;

  INSERT INTO venue_interactions AS vi (
    user_id, venue_id, check_in_count, last_check_in_at, review_count, last_review_at, current_rating,
    is_favorited, favorited_at, collection_count, flash_offer_claim_count, last_claim_at,
    first_interaction_at, last_interaction_at)
  VALUES (
    p_user, p_venue, r.ci_n, r.ci_last, CASE WHEN r.rv_at IS NULL THEN 0 ELSE 1 END, r.rv_at, r.rv_rating,
    r.fv_at IS NOT NULL, r.fv_at, r.co_n, r.cl_n, r.cl_last,
    least(r.ci_first, r.rv_at, r.fv_at, r.co_first, r.cl_first),
    greatest(r.ci_last, r.rv_at, r.fv_at, r.co_last, r.cl_last))
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
    last_interaction_at = EXCLUDED.last_interaction_at;
END;
$$;

-- True while maintenance moves rows between partitions or a bulk load recomputes afterwards: the
-- triggers then leave the numbers alone.
CREATE FUNCTION vp_triggers_paused() RETURNS boolean
LANGUAGE sql STABLE AS $$
  SELECT coalesce(current_setting('venuepulse.moving_rows', true), '') = 'on'
      OR coalesce(current_setting('venuepulse.bulk_load', true), '') = 'on'
$$;

-- Set-based recomputation of every denormalized number (after a bulk load, or to repair drift).
-- Returns how many rows of each kind it changed.
CREATE FUNCTION vp_recompute_denormalized(
  OUT venues_fixed bigint, OUT offers_fixed bigint,
  OUT interactions_upserted bigint, OUT interactions_deleted bigint)
LANGUAGE plpgsql AS $$
BEGIN
  UPDATE venues v SET active_check_in_count = e.active_check_in_count,
                      total_check_in_count = e.total_check_in_count,
                      last_check_in_at = e.last_check_in_at
  FROM venue_counters_expected e
  WHERE e.venue_id = v.id
    AND (v.active_check_in_count, v.total_check_in_count, v.last_check_in_at)
        IS DISTINCT FROM (e.active_check_in_count, e.total_check_in_count, e.last_check_in_at);
  GET DIAGNOSTICS venues_fixed = ROW_COUNT;

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

-- ---------------------------------------------------------------------------------------------------
-- Triggers: every denormalized number moves in the same transaction as the change that moves it
-- ---------------------------------------------------------------------------------------------------

-- Venue check-in counters: an UPDATE is the removal of OLD plus the addition of NEW, which covers
-- check-out, re-activation, venue change and time change alike (the review handled only INSERT and
-- active -> inactive, so counters drifted on everything else).
CREATE FUNCTION vp_check_ins_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF vp_triggers_paused() THEN
    RETURN NULL;
  END IF;
  -- Check-out or re-activation at the same venue and time: only the active count moves.
  IF TG_OP = 'UPDATE' AND (OLD.user_id, OLD.venue_id, OLD.checked_in_at)
                          = (NEW.user_id, NEW.venue_id, NEW.checked_in_at) THEN
    IF OLD.is_active <> NEW.is_active THEN
      UPDATE venues SET active_check_in_count = active_check_in_count + CASE WHEN NEW.is_active THEN 1 ELSE -1 END
      WHERE id = NEW.venue_id;
    END IF;
    RETURN NULL;
  END IF;

  -- The pair and the event first: the venue's row lock (taken below, held to commit) is what
  -- serialises check-ins at a busy venue, so it is taken as late as possible.
  IF TG_OP = 'INSERT' THEN
    PERFORM vp_sync_interaction(NEW.user_id, NEW.venue_id);
    INSERT INTO event_stream (event_type, category, user_id, target_type, target_id, venue_id, source_id,
                              visibility, created_at)
    VALUES ('check_in', 'social', NEW.user_id, 'venue', NEW.venue_id, NEW.venue_id, NEW.id,
            vp_visibility_for(NEW.user_id, 'check_ins'), NEW.checked_in_at);
  ELSIF TG_OP = 'DELETE' THEN
    PERFORM vp_sync_interaction(OLD.user_id, OLD.venue_id);
    DELETE FROM event_stream WHERE source_id = OLD.id AND event_type = 'check_in';
  ELSE
    PERFORM vp_sync_interaction(OLD.user_id, OLD.venue_id);
    IF (OLD.user_id, OLD.venue_id) IS DISTINCT FROM (NEW.user_id, NEW.venue_id) THEN
      PERFORM vp_sync_interaction(NEW.user_id, NEW.venue_id);
    END IF;
    UPDATE event_stream SET user_id = NEW.user_id, target_id = NEW.venue_id, venue_id = NEW.venue_id
    WHERE source_id = OLD.id AND event_type = 'check_in';
  END IF;

  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    UPDATE venues SET
      total_check_in_count = total_check_in_count - 1,
      active_check_in_count = active_check_in_count - CASE WHEN OLD.is_active THEN 1 ELSE 0 END,
      last_check_in_at = CASE
        WHEN last_check_in_at IS NULL OR OLD.checked_in_at < last_check_in_at THEN last_check_in_at
        ELSE (SELECT max(checked_in_at) FROM check_ins WHERE venue_id = OLD.venue_id) END
    WHERE id = OLD.venue_id;
  END IF;
  IF TG_OP IN ('UPDATE', 'INSERT') THEN
    UPDATE venues SET
      total_check_in_count = total_check_in_count + 1,
      active_check_in_count = active_check_in_count + CASE WHEN NEW.is_active THEN 1 ELSE 0 END,
      last_check_in_at = CASE
        WHEN TG_OP = 'UPDATE' AND OLD.venue_id = NEW.venue_id
          THEN (SELECT max(checked_in_at) FROM check_ins WHERE venue_id = NEW.venue_id)
        ELSE greatest(last_check_in_at, NEW.checked_in_at) END
    WHERE id = NEW.venue_id;
  END IF;
  RETURN NULL;
END;
$$;
CREATE TRIGGER trigger_update_venue_check_in_stats
AFTER INSERT OR DELETE ON check_ins FOR EACH ROW EXECUTE FUNCTION vp_check_ins_changed();
CREATE TRIGGER trigger_update_venue_check_in_stats_upd
AFTER UPDATE OF user_id, venue_id, checked_in_at, is_active ON check_ins
FOR EACH ROW EXECUTE FUNCTION vp_check_ins_changed();

-- Reviews: interactions (count, rating, time) and the review event.
CREATE FUNCTION vp_reviews_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF vp_triggers_paused() THEN
    RETURN NULL;
  END IF;
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    PERFORM vp_sync_interaction(OLD.user_id, OLD.venue_id);
  END IF;
  IF TG_OP IN ('UPDATE', 'INSERT') THEN
    PERFORM vp_sync_interaction(NEW.user_id, NEW.venue_id);
  END IF;
  IF TG_OP = 'INSERT' THEN
    INSERT INTO event_stream (event_type, category, user_id, target_type, target_id, venue_id, source_id,
                              visibility, metadata, created_at)
    VALUES ('review', 'social', NEW.user_id, 'venue', NEW.venue_id, NEW.venue_id, NEW.id,
            vp_visibility_for(NEW.user_id, 'reviews'), jsonb_build_object('rating', NEW.rating),
            NEW.created_at);
  ELSIF TG_OP = 'DELETE' THEN
    DELETE FROM event_stream WHERE source_id = OLD.id AND event_type = 'review';
  ELSIF (OLD.user_id, OLD.venue_id, OLD.rating) IS DISTINCT FROM (NEW.user_id, NEW.venue_id, NEW.rating) THEN
    UPDATE event_stream SET user_id = NEW.user_id, target_id = NEW.venue_id, venue_id = NEW.venue_id,
                            metadata = metadata || jsonb_build_object('rating', NEW.rating)
    WHERE source_id = OLD.id AND event_type = 'review';
  END IF;
  RETURN NULL;
END;
$$;
CREATE TRIGGER trigger_reviews_changed
AFTER INSERT OR DELETE ON reviews FOR EACH ROW EXECUTE FUNCTION vp_reviews_changed();
CREATE TRIGGER trigger_reviews_changed_upd
AFTER UPDATE OF user_id, venue_id, rating, created_at ON reviews
FOR EACH ROW EXECUTE FUNCTION vp_reviews_changed();

-- Favorites (PRIMARY KEY (user_id, venue_id) doubles as the event's source key via a derived uuid).
CREATE FUNCTION vp_favorite_source_id(p_user uuid, p_venue uuid) RETURNS uuid
LANGUAGE sql IMMUTABLE AS $$
  SELECT md5('favorite/' || p_user::text || '/' || p_venue::text)::uuid
$$;

CREATE FUNCTION vp_favorites_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF vp_triggers_paused() THEN
    RETURN NULL;
  END IF;
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    PERFORM vp_sync_interaction(OLD.user_id, OLD.venue_id);
    DELETE FROM event_stream
    WHERE source_id = vp_favorite_source_id(OLD.user_id, OLD.venue_id) AND event_type = 'favorite';
  END IF;
  IF TG_OP IN ('UPDATE', 'INSERT') THEN
    PERFORM vp_sync_interaction(NEW.user_id, NEW.venue_id);
    INSERT INTO event_stream (event_type, category, user_id, target_type, target_id, venue_id, source_id,
                              visibility, created_at)
    VALUES ('favorite', 'engagement', NEW.user_id, 'venue', NEW.venue_id, NEW.venue_id,
            vp_favorite_source_id(NEW.user_id, NEW.venue_id), vp_visibility_for(NEW.user_id, 'favorites'),
            NEW.created_at);
  END IF;
  RETURN NULL;
END;
$$;
CREATE TRIGGER trigger_favorites_changed
AFTER INSERT OR UPDATE OR DELETE ON favorites FOR EACH ROW EXECUTE FUNCTION vp_favorites_changed();

-- Collection entries count for the collection owner's pair with the venue.
CREATE FUNCTION vp_collection_venues_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF vp_triggers_paused() THEN
    RETURN NULL;
  END IF;
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    PERFORM vp_sync_interaction((SELECT user_id FROM collections WHERE id = OLD.collection_id), OLD.venue_id);
  END IF;
  IF TG_OP IN ('UPDATE', 'INSERT') THEN
    PERFORM vp_sync_interaction((SELECT user_id FROM collections WHERE id = NEW.collection_id), NEW.venue_id);
  END IF;
  RETURN NULL;
END;
$$;
CREATE TRIGGER trigger_collection_venues_changed
AFTER INSERT OR UPDATE OR DELETE ON collection_venues
FOR EACH ROW EXECUTE FUNCTION vp_collection_venues_changed();

-- Deleting a collection: remove its entries first, while the collection (and so its owner) still
-- exists, so each entry's trigger can recount the owner's pairs.  The FK cascade would run too late.
CREATE FUNCTION vp_collections_deleting() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM collection_venues WHERE collection_id = OLD.id;
  RETURN OLD;
END;
$$;
CREATE TRIGGER trigger_collections_deleting
BEFORE DELETE ON collections FOR EACH ROW EXECUTE FUNCTION vp_collections_deleting();

-- A collection changing hands moves its entries between the two owners' pairs.
CREATE FUNCTION vp_collections_owner_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  v uuid;
BEGIN
  IF vp_triggers_paused() THEN
    RETURN NULL;
  END IF;
  FOR v IN SELECT venue_id FROM collection_venues WHERE collection_id = NEW.id LOOP
    PERFORM vp_sync_interaction(OLD.user_id, v);
    PERFORM vp_sync_interaction(NEW.user_id, v);
  END LOOP;
  RETURN NULL;
END;
$$;
CREATE TRIGGER trigger_collections_owner_changed
AFTER UPDATE OF user_id ON collections FOR EACH ROW
WHEN (OLD.user_id IS DISTINCT FROM NEW.user_id) EXECUTE FUNCTION vp_collections_owner_changed();

-- Claims: the offer's claimed/redeemed counts, the pair's claim count, claim and redeem events.
CREATE FUNCTION vp_claims_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  v_venue uuid;
BEGIN
  IF vp_triggers_paused() THEN
    RETURN NULL;
  END IF;
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    UPDATE flash_offers SET
      claimed_count = claimed_count - 1,
      redeemed_count = redeemed_count - CASE WHEN OLD.status = 'redeemed' THEN 1 ELSE 0 END
    WHERE id = OLD.offer_id
      AND id::text IS DISTINCT FROM nullif(current_setting('venuepulse.deleting_offer', true), '');
  END IF;
  IF TG_OP IN ('UPDATE', 'INSERT') THEN
    UPDATE flash_offers SET
      claimed_count = claimed_count + 1,
      redeemed_count = redeemed_count + CASE WHEN NEW.status = 'redeemed' THEN 1 ELSE 0 END
    WHERE id = NEW.offer_id;
  END IF;

  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    PERFORM vp_sync_interaction(OLD.user_id, (SELECT venue_id FROM flash_offers WHERE id = OLD.offer_id));
  END IF;
  IF TG_OP IN ('UPDATE', 'INSERT') THEN
    SELECT venue_id INTO v_venue FROM flash_offers WHERE id = NEW.offer_id;
    PERFORM vp_sync_interaction(NEW.user_id, v_venue);
  END IF;

  IF TG_OP = 'INSERT' THEN
    INSERT INTO event_stream (event_type, category, user_id, target_type, target_id, venue_id, source_id,
                              visibility, is_analytics_event, created_at)
    VALUES ('flash_offer_claim', 'commerce', NEW.user_id, 'offer', NEW.offer_id, v_venue, NEW.id,
            'private', true, NEW.created_at);
    IF NEW.status = 'redeemed' THEN
      INSERT INTO event_stream (event_type, category, user_id, target_type, target_id, venue_id, source_id,
                                visibility, is_analytics_event, created_at)
      VALUES ('flash_offer_redeem', 'commerce', NEW.user_id, 'offer', NEW.offer_id, v_venue, NEW.id,
              'private', true, NEW.redeemed_at);
    END IF;
  ELSIF TG_OP = 'DELETE' THEN
    DELETE FROM event_stream
    WHERE source_id = OLD.id AND event_type IN ('flash_offer_claim', 'flash_offer_redeem');
  ELSE
    IF OLD.status = 'redeemed' AND NEW.status <> 'redeemed' THEN
      DELETE FROM event_stream WHERE source_id = OLD.id AND event_type = 'flash_offer_redeem';
    ELSIF NEW.status = 'redeemed' AND OLD.status <> 'redeemed' THEN
      INSERT INTO event_stream (event_type, category, user_id, target_type, target_id, venue_id, source_id,
                                visibility, is_analytics_event, metadata, created_at)
      VALUES ('flash_offer_redeem', 'commerce', NEW.user_id, 'offer', NEW.offer_id, v_venue, NEW.id,
              'private', true, jsonb_build_object('staff_id', NEW.redeemed_by_user_id), NEW.redeemed_at);
    END IF;
  END IF;
  RETURN NULL;
END;
$$;
CREATE TRIGGER trigger_claims_changed
AFTER INSERT OR DELETE ON flash_offer_claims FOR EACH ROW EXECUTE FUNCTION vp_claims_changed();
CREATE TRIGGER trigger_claims_changed_upd
AFTER UPDATE OF offer_id, user_id, status, created_at ON flash_offer_claims
FOR EACH ROW EXECUTE FUNCTION vp_claims_changed();

-- Deleting an offer: remove its claims first, while the offer (and so its venue) is still known.
CREATE FUNCTION vp_offers_deleting() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  -- the claims' trigger must not update this offer's counters: the row is being deleted, and
  -- touching it here would make the DELETE itself fail
  PERFORM set_config('venuepulse.deleting_offer', OLD.id::text, true);
  DELETE FROM flash_offer_claims WHERE offer_id = OLD.id;
  PERFORM set_config('venuepulse.deleting_offer', '', true);
  RETURN OLD;
END;
$$;
CREATE TRIGGER trigger_offers_deleting
BEFORE DELETE ON flash_offers FOR EACH ROW EXECUTE FUNCTION vp_offers_deleting();

-- An offer moving to another venue moves its claimers' pairs too.
CREATE FUNCTION vp_offers_venue_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  u uuid;
BEGIN
  IF vp_triggers_paused() THEN
    RETURN NULL;
  END IF;
  FOR u IN SELECT user_id FROM flash_offer_claims WHERE offer_id = NEW.id LOOP
    PERFORM vp_sync_interaction(u, OLD.venue_id);
    PERFORM vp_sync_interaction(u, NEW.venue_id);
  END LOOP;
  UPDATE event_stream SET venue_id = NEW.venue_id WHERE target_type = 'offer' AND target_id = NEW.id;
  RETURN NULL;
END;
$$;
CREATE TRIGGER trigger_offers_venue_changed
AFTER UPDATE OF venue_id ON flash_offers FOR EACH ROW
WHEN (OLD.venue_id IS DISTINCT FROM NEW.venue_id) EXECUTE FUNCTION vp_offers_venue_changed();

-- Offer views and clicks are analytics events; the offer's counters follow them.
CREATE FUNCTION vp_offer_events_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF vp_triggers_paused() THEN
    RETURN NULL;
  END IF;
  IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.is_analytics_event AND OLD.target_type = 'offer' THEN
    UPDATE flash_offers SET
      view_count = view_count - CASE WHEN OLD.event_type = 'flash_offer_view' THEN 1 ELSE 0 END,
      click_count = click_count - CASE WHEN OLD.event_type = 'flash_offer_click' THEN 1 ELSE 0 END
    WHERE id = OLD.target_id AND OLD.event_type IN ('flash_offer_view', 'flash_offer_click');
  END IF;
  IF TG_OP IN ('UPDATE', 'INSERT') AND NEW.is_analytics_event AND NEW.target_type = 'offer' THEN
    UPDATE flash_offers SET
      view_count = view_count + CASE WHEN NEW.event_type = 'flash_offer_view' THEN 1 ELSE 0 END,
      click_count = click_count + CASE WHEN NEW.event_type = 'flash_offer_click' THEN 1 ELSE 0 END
    WHERE id = NEW.target_id AND NEW.event_type IN ('flash_offer_view', 'flash_offer_click');
  END IF;
  RETURN NULL;
END;
$$;
CREATE TRIGGER trigger_offer_events_ins
AFTER INSERT ON event_stream FOR EACH ROW
WHEN (NEW.is_analytics_event AND NEW.event_type IN ('flash_offer_view', 'flash_offer_click'))
EXECUTE FUNCTION vp_offer_events_changed();
CREATE TRIGGER trigger_offer_events_del
AFTER DELETE ON event_stream FOR EACH ROW
WHEN (OLD.is_analytics_event AND OLD.event_type IN ('flash_offer_view', 'flash_offer_click'))
EXECUTE FUNCTION vp_offer_events_changed();
CREATE TRIGGER trigger_offer_events_upd
AFTER UPDATE OF event_type, target_type, target_id, is_analytics_event ON event_stream FOR EACH ROW
WHEN ((OLD.is_analytics_event AND OLD.event_type IN ('flash_offer_view', 'flash_offer_click'))
   OR (NEW.is_analytics_event AND NEW.event_type IN ('flash_offer_view', 'flash_offer_click')))
EXECUTE FUNCTION vp_offer_events_changed();

-- ---------------------------------------------------------------------------------------------------
-- 3.1 venue_stats: each source aggregated per venue first, then joined (the review joined six tables
-- and then counted, multiplying every count by the other tables' row counts)
-- ---------------------------------------------------------------------------------------------------

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

-- Unique: REFRESH ... CONCURRENTLY needs it (the review's plain index makes the refresh fail).
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

-- ---------------------------------------------------------------------------------------------------
-- The database contract: the app's writes, with the same rules for every client
-- ---------------------------------------------------------------------------------------------------

CREATE FUNCTION check_in(p_user uuid, p_venue uuid, p_at timestamptz DEFAULT now()) RETURNS uuid
LANGUAGE plpgsql AS $$
DECLARE
  v_id uuid;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM venues WHERE id = p_venue) THEN
    RAISE EXCEPTION 'unknown_venue: no venue %', p_venue USING ERRCODE = 'P0001';
  END IF;
  -- the user's row lock serialises one user's check-ins: at most one stays active
  PERFORM 1 FROM users WHERE id = p_user FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'unknown_user: no user %', p_user USING ERRCODE = 'P0001';
  END IF;
  UPDATE check_ins SET is_active = false, checked_out_at = greatest(p_at, checked_in_at)
  WHERE user_id = p_user AND is_active;
  INSERT INTO check_ins (user_id, venue_id, checked_in_at) VALUES (p_user, p_venue, p_at)
  RETURNING id INTO v_id;
  RETURN v_id;
END;
$$;

CREATE FUNCTION check_out(p_check_in uuid) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  UPDATE check_ins SET is_active = false, checked_out_at = greatest(now(), checked_in_at)
  WHERE id = p_check_in AND is_active;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'not_active: check-in % is not active', p_check_in USING ERRCODE = 'P0001';
  END IF;
END;
$$;

CREATE FUNCTION vp_new_claim_token() RETURNS text
LANGUAGE sql VOLATILE AS $$
  SELECT string_agg(substr('ABCDEFGHJKLMNPQRSTUVWXYZ23456789', 1 + floor(random() * 32)::int, 1), '')
  FROM generate_series(1, 6)
$$;

CREATE FUNCTION claim_flash_offer(p_offer uuid, p_user uuid) RETURNS flash_offer_claims
LANGUAGE plpgsql AS $$
DECLARE
  o flash_offers;
  c flash_offer_claims;
  v_token text;
BEGIN
  -- Lock the offer: claim and count happen under one lock, so concurrent claims never overshoot.
  SELECT * INTO o FROM flash_offers WHERE id = p_offer FOR UPDATE;
  IF NOT FOUND OR now() < o.start_time OR now() >= o.end_time THEN
    RAISE EXCEPTION 'offer_not_active: offer % is not running', p_offer USING ERRCODE = 'P0001';
  END IF;
  IF EXISTS (SELECT 1 FROM flash_offer_claims WHERE offer_id = p_offer AND user_id = p_user) THEN
    RAISE EXCEPTION 'already_claimed: user % already claimed offer %', p_user, p_offer USING ERRCODE = 'P0001';
  END IF;
  IF o.claimed_count >= o.max_claims THEN
    RAISE EXCEPTION 'offer_full: offer % has no claims left', p_offer USING ERRCODE = 'P0001';
  END IF;
  LOOP
    v_token := vp_new_claim_token();
    EXIT WHEN NOT EXISTS (SELECT 1 FROM flash_offer_claims WHERE offer_id = p_offer AND token = v_token);
  END LOOP;
  INSERT INTO flash_offer_claims (offer_id, user_id, token, expires_at)
  VALUES (p_offer, p_user, v_token, least(now() + interval '2 hours', o.end_time + interval '1 hour'))
  RETURNING * INTO c;
  RETURN c;
END;
$$;

CREATE FUNCTION redeem_flash_offer_claim(p_offer uuid, p_token text, p_staff uuid) RETURNS flash_offer_claims
LANGUAGE plpgsql AS $$
DECLARE
  c flash_offer_claims;
BEGIN
  SELECT * INTO c FROM flash_offer_claims WHERE offer_id = p_offer AND token = upper(p_token) FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'unknown_token: no claim with that token on offer %', p_offer USING ERRCODE = 'P0001';
  END IF;
  IF c.status = 'redeemed' THEN
    RAISE EXCEPTION 'already_redeemed: claim was redeemed at %', c.redeemed_at USING ERRCODE = 'P0001';
  END IF;
  IF c.status = 'expired' OR c.expires_at <= now() THEN
    RAISE EXCEPTION 'claim_expired: claim expired at %', c.expires_at USING ERRCODE = 'P0001';
  END IF;
  UPDATE flash_offer_claims SET status = 'redeemed', redeemed_at = now(), redeemed_by_user_id = p_staff
  WHERE id = c.id RETURNING * INTO c;
  RETURN c;
END;
$$;

CREATE FUNCTION record_offer_event(p_offer uuid, p_user uuid, p_kind text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  v_venue uuid;
BEGIN
  IF p_kind IS NULL OR p_kind NOT IN ('view', 'click') THEN
    RAISE EXCEPTION 'bad_kind: % is not view or click', coalesce(p_kind, 'NULL') USING ERRCODE = 'P0001';
  END IF;
  SELECT venue_id INTO v_venue FROM flash_offers WHERE id = p_offer;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'unknown_offer: no offer %', p_offer USING ERRCODE = 'P0001';
  END IF;
  -- the event's trigger moves view_count / click_count
  INSERT INTO event_stream (event_type, category, user_id, target_type, target_id, venue_id,
                            visibility, is_analytics_event)
  VALUES ('flash_offer_' || p_kind, 'commerce', p_user, 'offer', p_offer, v_venue, 'private', true);
END;
$$;

-- Users an offer's push may go to: their settings allow flash-offer notifications on some channel,
-- it is not quiet hours in their time zone now, they are within the offer's radius (and their own
-- max distance) of the venue, and, for favorites-only offers, they favorited the venue.
CREATE FUNCTION flash_offer_recipients(p_offer uuid) RETURNS SETOF uuid
LANGUAGE sql STABLE AS $$
  SELECT u.id
  FROM flash_offers o
  JOIN venues v ON v.id = o.venue_id
  CROSS JOIN users u
  LEFT JOIN notification_settings s ON s.user_id = u.id
  WHERE o.id = p_offer
    AND coalesce(s.flash_offers, true)
    AND (coalesce(s.push_enabled, true) OR coalesce(s.in_app_enabled, true) OR coalesce(s.email_enabled, false))
    AND NOT (
      s.quiet_hours_start IS NOT NULL AND (
        CASE WHEN s.quiet_hours_start <= s.quiet_hours_end
             THEN (now() AT TIME ZONE coalesce(s.timezone, u.timezone))::time >= s.quiet_hours_start
              AND (now() AT TIME ZONE coalesce(s.timezone, u.timezone))::time < s.quiet_hours_end
             ELSE (now() AT TIME ZONE coalesce(s.timezone, u.timezone))::time >= s.quiet_hours_start
               OR (now() AT TIME ZONE coalesce(s.timezone, u.timezone))::time < s.quiet_hours_end
        END))
    AND coalesce(u.last_lat, u.home_lat) IS NOT NULL
    AND vp_distance_miles(coalesce(u.last_lat, u.home_lat), coalesce(u.last_lng, u.home_lng), v.lat, v.lng)
        <= least(o.radius_miles, coalesce(s.max_distance_miles, o.radius_miles))
    AND (NOT o.target_favorites_only
         OR EXISTS (SELECT 1 FROM favorites f WHERE f.user_id = u.id AND f.venue_id = o.venue_id))
$$;

-- ---------------------------------------------------------------------------------------------------
-- Venue scope: which venues the current connection may see
-- ---------------------------------------------------------------------------------------------------

-- The venue ids set for this transaction (`venuepulse.venue_ids`, comma-separated uuids).  Missing,
-- empty or malformed means no venues at all — never all venues.
CREATE FUNCTION vp_scope_venue_ids() RETURNS uuid[]
LANGUAGE plpgsql STABLE AS $$
DECLARE
  raw text := current_setting('venuepulse.venue_ids', true);
BEGIN
  IF raw IS NULL OR raw !~ '^[0-9a-fA-F-]{36}(,[0-9a-fA-F-]{36})*$' THEN
    RETURN ARRAY[]::uuid[];
  END IF;
  RETURN string_to_array(raw, ',')::uuid[];
EXCEPTION WHEN invalid_text_representation THEN
  RETURN ARRAY[]::uuid[];
END;
$$;

-- Connections of a role that has the privileges of `venuepulse_owner` (venue owners' dashboard role) are
-- scoped; superusers and the other roles are not.  The role itself is created by the access-control
-- revision; until it exists nobody is scoped.  'USAGE', not 'MEMBER': on PostgreSQL 16+ a non-superuser
-- CREATEROLE admin (a managed service's) is a member of the roles it creates, with ADMIN OPTION but
-- without their privileges, and must not be scoped.
CREATE FUNCTION vp_is_scoped_role() RETURNS boolean
LANGUAGE sql STABLE AS $$
  SELECT EXISTS (SELECT 1 FROM pg_roles r WHERE r.rolname = 'venuepulse_owner'
                   AND pg_has_role(current_user, r.oid, 'USAGE'))
     AND NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)
$$;

CREATE FUNCTION vp_venue_visible(p_venue uuid) RETURNS boolean
LANGUAGE sql STABLE AS $$
  SELECT NOT vp_is_scoped_role() OR p_venue = ANY (vp_scope_venue_ids())
$$;

-- A materialized view cannot carry row-level security: readers use this security-barrier view.
-- The scope functions sit in sub-selects so they run once per query (an InitPlan), not once per row.
CREATE VIEW venue_stats_visible WITH (security_barrier) AS
SELECT * FROM venue_stats
WHERE (SELECT NOT vp_is_scoped_role()) OR venue_id = ANY ((SELECT vp_scope_venue_ids())::uuid[]);
