-- Phase 2 (new tables): the consolidated tables exist beside the old ones.  Runs in three parts:
-- part A here (event_stream, unpartitioned until phase 4), then 0001's new tables, functions, views
-- and triggers (taken from 0001's text), then part B (L2_mirror.up.sql): mappings and mirror triggers.

-- The unified event stream, with 0001's columns and checks but a plain primary key: phase 4 moves it
-- into monthly partitions with a batched copy.
CREATE TABLE event_stream (
  id                 uuid NOT NULL DEFAULT gen_random_uuid(),
  event_type         varchar(50) NOT NULL CHECK (event_type ~ '^[a-z][a-z_]*$'),
  category           varchar(20) NOT NULL CHECK (category IN ('social', 'commerce', 'engagement')),
  user_id            uuid NOT NULL,
  target_type        varchar(50) CHECK (target_type IN ('venue', 'user', 'collection', 'offer', 'review')),
  target_id          uuid,
  venue_id           uuid,
  source_id          uuid,
  visibility         varchar(20) NOT NULL DEFAULT 'friends' CHECK (vp_is_visibility(visibility)),
  metadata           jsonb NOT NULL DEFAULT '{}'::jsonb,
  is_analytics_event boolean NOT NULL DEFAULT false,
  created_at         timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (id)
);
