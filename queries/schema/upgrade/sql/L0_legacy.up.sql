-- The app's database as it was before the backend review (the review's "Current State"): separate
-- notification tables, activity_feed and flash_offer_events, a rate-limit table, flash offers without
-- the denormalized counters, venues without check-in counters, check_ins unpartitioned.
-- An existing database that looks like this is stamped here (`venuepulse migrate upgrade-legacy
-- --stamp-legacy`) instead of running this file.

CREATE TABLE users (
  id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  username         varchar(50) NOT NULL UNIQUE,
  display_name     varchar(100) NOT NULL,
  email            varchar(254),
  timezone         text NOT NULL DEFAULT 'UTC',
  home_lat         double precision CHECK (home_lat BETWEEN -90 AND 90),
  home_lng         double precision CHECK (home_lng BETWEEN -180 AND 180),
  last_lat         double precision CHECK (last_lat BETWEEN -90 AND 90),
  last_lng         double precision CHECK (last_lng BETWEEN -180 AND 180),
  last_location_at timestamptz,
  created_at       timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT users_home_location_pair CHECK ((home_lat IS NULL) = (home_lng IS NULL)),
  CONSTRAINT users_last_location_pair CHECK ((last_lat IS NULL) = (last_lng IS NULL))
);

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
  id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name        varchar(200) NOT NULL,
  category    varchar(30) NOT NULL
              CHECK (category IN ('restaurant', 'bar', 'cafe', 'nightclub', 'museum', 'park',
                                  'gym', 'theater', 'shop', 'hotel', 'other')),
  city        varchar(100) NOT NULL,
  address     text,
  lat         double precision NOT NULL CHECK (lat BETWEEN -90 AND 90),
  lng         double precision NOT NULL CHECK (lng BETWEEN -180 AND 180),
  is_featured boolean NOT NULL DEFAULT false,
  created_at  timestamptz NOT NULL DEFAULT now()
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

CREATE TABLE check_ins (
  id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id        uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  venue_id       uuid NOT NULL REFERENCES venues(id) ON DELETE CASCADE,
  checked_in_at  timestamptz NOT NULL DEFAULT now(),
  checked_out_at timestamptz,
  is_active      boolean NOT NULL DEFAULT true,
  CONSTRAINT check_ins_out_after_in CHECK (checked_out_at IS NULL OR checked_out_at >= checked_in_at),
  CONSTRAINT check_ins_active_not_out CHECK (NOT (is_active AND checked_out_at IS NOT NULL))
);
CREATE INDEX idx_check_ins_venue_time ON check_ins (venue_id, checked_in_at DESC);
CREATE INDEX idx_check_ins_user_venue ON check_ins (user_id, venue_id);
CREATE INDEX idx_check_ins_user_active ON check_ins (user_id) WHERE is_active;

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

-- Flash offers before the review: the app kept claimed_count itself (and it drifted) and wrote a
-- status column by hand.
CREATE TABLE flash_offers (
  id                    uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  venue_id              uuid NOT NULL REFERENCES venues(id) ON DELETE CASCADE,
  title                 varchar(100) NOT NULL,
  description           text NOT NULL,
  value_cap             varchar(50),
  max_claims            integer NOT NULL CHECK (max_claims > 0),
  claimed_count         integer NOT NULL DEFAULT 0 CHECK (claimed_count >= 0),
  start_time            timestamptz NOT NULL,
  end_time              timestamptz NOT NULL,
  radius_miles          numeric(5,2) NOT NULL DEFAULT 1.0 CHECK (radius_miles >= 0),
  target_favorites_only boolean NOT NULL DEFAULT false,
  status                varchar(20) NOT NULL DEFAULT 'scheduled',
  created_at            timestamptz NOT NULL DEFAULT now(),
  updated_at            timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT flash_offers_window CHECK (end_time > start_time)
);
CREATE INDEX idx_flash_offers_venue_start ON flash_offers (venue_id, start_time DESC);
CREATE INDEX idx_flash_offers_window ON flash_offers (start_time, end_time);

CREATE TABLE flash_offer_claims (
  id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  offer_id    uuid NOT NULL REFERENCES flash_offers(id) ON DELETE CASCADE,
  user_id     uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  token       varchar(6) NOT NULL CHECK (token ~ '^[ABCDEFGHJKLMNPQRSTUVWXYZ23456789]{6}$'),
  status      varchar(20) NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'redeemed', 'expired')),
  redeemed_at timestamptz,
  expires_at  timestamptz NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT unique_user_offer UNIQUE (offer_id, user_id),
  CONSTRAINT unique_offer_token UNIQUE (offer_id, token),
  CONSTRAINT flash_offer_claims_redeemed CHECK ((status = 'redeemed') = (redeemed_at IS NOT NULL))
);
CREATE INDEX idx_flash_offer_claims_user ON flash_offer_claims (user_id);
CREATE INDEX idx_flash_offer_claims_expiring ON flash_offer_claims (expires_at) WHERE status = 'active';

-- Offer analytics: one row per view or click.
CREATE TABLE flash_offer_events (
  id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  offer_id   uuid NOT NULL REFERENCES flash_offers(id) ON DELETE CASCADE,
  user_id    uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  event_type varchar(20) NOT NULL CHECK (event_type IN ('view', 'click')),
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX idx_flash_offer_events_offer ON flash_offer_events (offer_id, event_type);

-- Push throttling: how often a user was notified about a venue's offers.
CREATE TABLE flash_offer_rate_limits (
  user_id          uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  venue_id         uuid NOT NULL REFERENCES venues(id) ON DELETE CASCADE,
  last_notified_at timestamptz NOT NULL,
  notified_today   integer NOT NULL DEFAULT 1,
  PRIMARY KEY (user_id, venue_id)
);

-- Flash-offer push settings, quiet hours and distance, with the social notification switches
-- scattered in as extra columns.
CREATE TABLE notification_preferences (
  user_id                     uuid PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
  flash_offers_enabled        boolean NOT NULL DEFAULT true,
  push_enabled                boolean NOT NULL DEFAULT true,
  email_enabled               boolean NOT NULL DEFAULT false,
  quiet_hours_start           time,
  quiet_hours_end             time,
  timezone                    text,
  max_distance_miles          numeric(5,2),
  friend_request_notifications boolean NOT NULL DEFAULT true,
  venue_share_notifications   boolean NOT NULL DEFAULT true,
  collection_notifications    boolean NOT NULL DEFAULT true,
  review_response_notifications boolean NOT NULL DEFAULT true,
  nearby_notifications        boolean NOT NULL DEFAULT true,
  created_at                  timestamptz NOT NULL DEFAULT now(),
  updated_at                  timestamptz NOT NULL DEFAULT now()
);

-- In-app notifications.  Offer pushes were recorded here too (type 'flash_offer').
CREATE TABLE social_notifications (
  id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id        uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  type           varchar(50) NOT NULL,
  title          varchar(200) NOT NULL,
  body           text NOT NULL,
  actor_id       uuid REFERENCES users(id) ON DELETE SET NULL,
  reference_id   uuid,
  reference_type varchar(50),
  data           jsonb NOT NULL DEFAULT '{}'::jsonb,
  is_read        boolean NOT NULL DEFAULT false,
  read_at        timestamptz,
  created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX idx_social_notifications_user ON social_notifications (user_id, created_at DESC);

-- Social activity: check-ins, reviews and favorites as posted to friends, plus social-only kinds.
CREATE TABLE activity_feed (
  id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id       uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  activity_type varchar(50) NOT NULL,
  venue_id      uuid REFERENCES venues(id) ON DELETE SET NULL,
  target_type   varchar(50),
  target_id     uuid,
  reference_id  uuid,
  visibility    varchar(20) NOT NULL DEFAULT 'friends',
  metadata      jsonb NOT NULL DEFAULT '{}'::jsonb,
  created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX idx_activity_feed_user ON activity_feed (user_id, created_at DESC);
