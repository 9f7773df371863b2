-- The activity feed event_stream exists for: a viewer's feed of friends' events, newest first,
-- keyset-paged on (created_at, id), and bounded below by %(since)s so only recent partitions are read.
--
-- Whose events: the viewer's accepted friends (friendships viewer -> author), never the viewer's own,
-- minus anyone either side has blocked (user_privacy.blocked_user_ids).  Which events: the viewer's
-- access to an author is 'close_friends' when the author marked the viewer a close friend, 'friends'
-- when the author has accepted the viewer, 'public' otherwise; an event shows when both its own
-- visibility and the author's activity_feed privacy setting are within that access.  'private'
-- never shows.  Analytics events (offer views, claims, ...) never show.
-- name: feed.activity --
WITH viewer AS (
  SELECT %(viewer_id)s::uuid AS id,
         coalesce((SELECT blocked_user_ids FROM user_privacy WHERE user_id = %(viewer_id)s::uuid),
                  ARRAY[]::uuid[]) AS blocked
),
authors AS (
  SELECT f.friend_id AS author_id,
         CASE WHEN back.is_close_friend THEN 2 WHEN back.user_id IS NOT NULL THEN 1 ELSE 0 END AS access,
         CASE coalesce(p.visibility ->> 'activity_feed', 'friends')
           WHEN 'public' THEN 0 WHEN 'friends' THEN 1 WHEN 'close_friends' THEN 2 ELSE 3 END AS feed_level
  FROM viewer
  JOIN friendships f ON f.user_id = viewer.id AND f.status = 'accepted'
  LEFT JOIN friendships back
         ON back.user_id = f.friend_id AND back.friend_id = viewer.id AND back.status = 'accepted'
  LEFT JOIN user_privacy p ON p.user_id = f.friend_id
  WHERE f.friend_id <> ALL (viewer.blocked)
    AND NOT (viewer.id = ANY (coalesce(p.blocked_user_ids, ARRAY[]::uuid[])))
)
SELECT e.id, e.created_at, e.event_type, e.category, e.user_id AS author_id, u.username AS author_username,
       u.display_name AS author_display_name, e.target_type, e.target_id, e.venue_id,
       ven.name AS venue_name, e.visibility, e.metadata
FROM authors a
CROSS JOIN LATERAL (
  SELECT ev.*
  FROM event_stream ev
  WHERE ev.user_id = a.author_id
    AND ev.created_at >= %(since)s::timestamptz
    AND (ev.created_at < %(before_at)s::timestamptz
         OR (ev.created_at = %(before_at)s::timestamptz AND ev.id < %(before_id)s::uuid))
    AND NOT ev.is_analytics_event
    AND a.feed_level <= a.access
    AND CASE ev.visibility WHEN 'public' THEN 0 WHEN 'friends' THEN 1 WHEN 'close_friends' THEN 2 ELSE 3 END
        <= a.access
  ORDER BY ev.created_at DESC, ev.id DESC
  LIMIT %(limit)s::integer
) e
JOIN users u ON u.id = e.user_id
LEFT JOIN venues ven ON ven.id = e.venue_id
ORDER BY e.created_at DESC, e.id DESC
LIMIT %(limit)s::integer
