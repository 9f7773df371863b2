-- Phase 2, part B: how each old row maps to its new row (one definition used by the backfill, the
-- mirror triggers and `venuepulse migrate verify`), and the mirror triggers of the parallel run.

-- The interim counter triggers of phase 1 give way to 0001's (installed just before this file).
DROP TRIGGER vp_upgrade_check_ins_counters ON check_ins;
DROP TRIGGER vp_upgrade_check_ins_counters_upd ON check_ins;
DROP TRIGGER vp_upgrade_claims_counters ON flash_offer_claims;
DROP TRIGGER vp_upgrade_offer_events_counters ON flash_offer_events;
DROP FUNCTION vp_upgrade_check_ins_counters();
DROP FUNCTION vp_upgrade_offer_rows_changed();
DROP FUNCTION vp_upgrade_offer_recount(uuid);

-- notification_preferences -> notification_settings.  Half-set quiet hours, unknown time zones and
-- negative distances (which the new checks refuse) become "not set".
CREATE FUNCTION vp_upgrade_map_settings(p notification_preferences) RETURNS notification_settings
LANGUAGE sql STABLE AS $$
  SELECT ROW(
    p.user_id, p.push_enabled, true, p.email_enabled, p.flash_offers_enabled,
    p.friend_request_notifications, p.venue_share_notifications, p.collection_notifications,
    p.review_response_notifications, p.nearby_notifications,
    CASE WHEN p.quiet_hours_end IS NOT NULL THEN p.quiet_hours_start END,
    CASE WHEN p.quiet_hours_start IS NOT NULL THEN p.quiet_hours_end END,
    CASE WHEN p.timezone IS NOT NULL AND vp_is_valid_timezone(p.timezone) THEN p.timezone ELSE 'UTC' END,
    CASE WHEN p.max_distance_miles >= 0 THEN p.max_distance_miles END,
    p.created_at, p.updated_at)::notification_settings
$$;

-- social_notifications -> notifications.  Unknown kinds become 'system'; read without a time gets the
-- creation time; offer notifications were pushed and carry their offer's venue.
CREATE FUNCTION vp_upgrade_map_notification(s social_notifications) RETURNS notifications
LANGUAGE sql STABLE AS $$
  SELECT ROW(
    s.id, s.user_id,
    CASE WHEN s.type IN ('flash_offer', 'friend_request', 'venue_share', 'collection_activity',
                         'review_response', 'check_in_nearby', 'system') THEN s.type ELSE 'system' END,
    s.title, s.body,
    jsonb_build_object('push', s.type = 'flash_offer', 'in_app', true, 'email', false),
    jsonb_build_object('in_app', to_char(s.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')),
    s.is_read, CASE WHEN s.is_read THEN coalesce(s.read_at, s.created_at) END,
    false, NULL::timestamptz,
    s.actor_id,
    CASE WHEN s.reference_id IS NOT NULL AND s.reference_type IN
              ('flash_offer', 'friend_request', 'venue', 'collection', 'review', 'check_in', 'user')
         THEN s.reference_id END,
    CASE WHEN s.reference_id IS NOT NULL AND s.reference_type IN
              ('flash_offer', 'friend_request', 'venue', 'collection', 'review', 'check_in', 'user')
         THEN s.reference_type END,
    CASE WHEN s.reference_type = 'flash_offer'
         THEN (SELECT o.venue_id FROM flash_offers o WHERE o.id = s.reference_id) END,
    s.data, s.created_at, NULL::timestamptz, false)::notifications
$$;

-- activity_feed -> event_stream.  Check-ins, reviews and favorites keep a link to their row
-- (source_id), so the target's triggers find and maintain their events.
CREATE FUNCTION vp_upgrade_map_activity(a activity_feed) RETURNS event_stream
LANGUAGE sql STABLE AS $$
  SELECT ROW(
    a.id,
    CASE WHEN a.activity_type ~ '^[a-z][a-z_]*$' THEN a.activity_type ELSE 'activity' END,
    CASE WHEN a.activity_type = 'favorite' THEN 'engagement' ELSE 'social' END,
    a.user_id,
    CASE WHEN a.target_type IN ('venue', 'user', 'collection', 'offer', 'review') THEN a.target_type END,
    CASE WHEN a.target_type IN ('venue', 'user', 'collection', 'offer', 'review') THEN a.target_id END,
    a.venue_id,
    CASE a.activity_type WHEN 'favorite' THEN vp_favorite_source_id(a.user_id, a.venue_id)
                         WHEN 'check_in' THEN a.reference_id
                         WHEN 'review' THEN a.reference_id END,
    CASE WHEN vp_is_visibility(a.visibility) THEN a.visibility ELSE 'friends' END,
    a.metadata, false, a.created_at)::event_stream
$$;

-- flash_offer_events -> analytics events of event_stream.
CREATE FUNCTION vp_upgrade_map_offer_event(f flash_offer_events) RETURNS event_stream
LANGUAGE sql STABLE AS $$
  SELECT ROW(
    f.id, 'flash_offer_' || f.event_type, 'commerce', f.user_id, 'offer', f.offer_id,
    (SELECT o.venue_id FROM flash_offers o WHERE o.id = f.offer_id), NULL::uuid, 'private', '{}'::jsonb,
    true, f.created_at)::event_stream
$$;

-- ---------------------------------------------------------------------------------------------------
-- Mirror triggers: while the old tables take the app's writes, each write reaches the new table in the
-- same transaction.  A new row that a new constraint refuses is skipped (ON CONFLICT DO NOTHING / the
-- checks) rather than failing the app's write; `venuepulse migrate verify` lists it.
-- ---------------------------------------------------------------------------------------------------

CREATE FUNCTION vp_upgrade_mirror_settings() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  m notification_settings;
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    DELETE FROM notification_settings WHERE user_id = OLD.user_id;
  END IF;
  IF TG_OP IN ('UPDATE', 'INSERT') THEN
    m := vp_upgrade_map_settings(NEW);
    INSERT INTO notification_settings SELECT (m).* ON CONFLICT DO NOTHING;
  END IF;
  RETURN NULL;
END;
$$;
CREATE TRIGGER vp_upgrade_mirror_settings
AFTER INSERT OR UPDATE OR DELETE ON notification_preferences
FOR EACH ROW EXECUTE FUNCTION vp_upgrade_mirror_settings();

CREATE FUNCTION vp_upgrade_mirror_notifications() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  m notifications;
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    DELETE FROM notifications WHERE id = OLD.id;
  END IF;
  IF TG_OP IN ('UPDATE', 'INSERT') THEN
    m := vp_upgrade_map_notification(NEW);
    INSERT INTO notifications SELECT (m).* ON CONFLICT DO NOTHING;
  END IF;
  RETURN NULL;
END;
$$;
CREATE TRIGGER vp_upgrade_mirror_notifications
AFTER INSERT OR UPDATE OR DELETE ON social_notifications
FOR EACH ROW EXECUTE FUNCTION vp_upgrade_mirror_notifications();

-- A feed row about a check-in, review or favorite takes the place of the event the target's trigger
-- made for that row (same source), so each source row keeps exactly one event.
CREATE FUNCTION vp_upgrade_mirror_activity() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  m event_stream;
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    DELETE FROM event_stream WHERE id = OLD.id;
  END IF;
  IF TG_OP IN ('UPDATE', 'INSERT') THEN
    m := vp_upgrade_map_activity(NEW);
    IF m.source_id IS NOT NULL THEN
      DELETE FROM event_stream WHERE source_id = m.source_id AND event_type = m.event_type AND id <> m.id;
    END IF;
    INSERT INTO event_stream SELECT (m).* ON CONFLICT DO NOTHING;
  END IF;
  RETURN NULL;
END;
$$;
CREATE TRIGGER vp_upgrade_mirror_activity
AFTER INSERT OR UPDATE OR DELETE ON activity_feed
FOR EACH ROW EXECUTE FUNCTION vp_upgrade_mirror_activity();

-- The offer's view/click counters follow event_stream's analytics events (0001's trigger).  A view or
-- click the backfill has not copied yet was counted in phase 1, so when it goes before being copied the
-- counter is taken down here.
CREATE FUNCTION vp_upgrade_mirror_offer_events() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  m event_stream;
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    DELETE FROM event_stream WHERE id = OLD.id;
    IF NOT FOUND AND NOT vp_triggers_paused() THEN
      UPDATE flash_offers SET
        view_count = greatest(view_count - CASE WHEN OLD.event_type = 'view' THEN 1 ELSE 0 END, 0),
        click_count = greatest(click_count - CASE WHEN OLD.event_type = 'click' THEN 1 ELSE 0 END, 0)
      WHERE id = OLD.offer_id;
    END IF;
  END IF;
  IF TG_OP IN ('UPDATE', 'INSERT') THEN
    m := vp_upgrade_map_offer_event(NEW);
    INSERT INTO event_stream SELECT (m).* ON CONFLICT DO NOTHING;
  END IF;
  RETURN NULL;
END;
$$;
CREATE TRIGGER vp_upgrade_mirror_offer_events
AFTER INSERT OR UPDATE OR DELETE ON flash_offer_events
FOR EACH ROW EXECUTE FUNCTION vp_upgrade_mirror_offer_events();
