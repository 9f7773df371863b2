-- Rollups (docs/rollups.md): folds of the change log into the rollups, their freshness, rebuilds and the
-- venue_stats reconcile.  The SQL functions live in migration 0007; these statements call them.

-- name: rollups.fold_activity --
-- kind: maintenance
-- timeout: 10min
SELECT changes, offers, gc FROM vp_fold_activity()

-- name: rollups.fold_pairs --
-- kind: maintenance
-- timeout: 10min
SELECT changes, rebuilt FROM vp_fold_pairs()

-- name: rollups.fold_venue_stats --
-- kind: maintenance
-- timeout: 10min
SELECT changes, venues FROM vp_fold_venue_stats()

-- name: rollups.fold_delays --
-- kind: maintenance
-- timeout: 10min
-- (migration 0015: Engagement's notification delays per day and category)
SELECT changes, days FROM vp_fold_delays()

-- name: rollups.status --
-- timeout: 10s
-- Per consumer: the clock and time of its last fold, what that fold took, and its live tail now (log
-- rows it has not folded: how many, and the oldest one's time).
SELECT c.consumer, c.as_of, c.folded_at, c.last_changes, c.last_ms, c.last_full_at,
       t.tail_rows, t.oldest_unfolded_at,
       extract(epoch FROM now() - coalesce(t.oldest_unfolded_at, now()))::float8 AS lag_seconds
FROM rollup_consumers c
CROSS JOIN LATERAL (
  SELECT count(*) AS tail_rows, min(l.logged_at) AS oldest_unfolded_at
  FROM rollup_log l
  WHERE NOT pg_visible_in_snapshot(l.xid, c.snap)
    AND l.src = ANY (CASE c.consumer WHEN 'activity' THEN '{c,r,f,k,e,n,o}'::"char"[]
                                     WHEN 'pairs' THEN '{p,v}'::"char"[]
                                     WHEN 'delays' THEN '{n}'::"char"[]
                                     ELSE '{c,r,f,l,o,p,v}'::"char"[] END)
) t
ORDER BY c.consumer

-- name: rollups.freshness --
-- timeout: 5s
-- What a page says about its numbers: rollups folded up to `folded_at`, the changes since read live.
SELECT c.folded_at, t.live_changes, t.oldest_live_at, now() AS as_of
FROM rollup_consumers c
CROSS JOIN LATERAL (
  SELECT count(*) AS live_changes, min(l.logged_at) AS oldest_live_at
  FROM rollup_log l
  WHERE NOT pg_visible_in_snapshot(l.xid, c.snap)
    AND l.src = ANY (CASE c.consumer WHEN 'activity' THEN '{c,r,f,k,e,n,o}'::"char"[]
                                     WHEN 'pairs' THEN '{p,v}'::"char"[]
                                     WHEN 'delays' THEN '{n}'::"char"[]
                                     ELSE '{c,r,f,l,o,p,v}'::"char"[] END)
) t
WHERE c.consumer = %(consumer)s

-- name: rollups.rebuild_bounds --
-- timeout: 2min
-- The UTC days holding any row the time-bucketed rollups count (first day, day after the last).
WITH t AS (
  SELECT min(checked_in_at) AS lo, greatest(max(checked_in_at), max(checked_out_at)) AS hi FROM check_ins
  UNION ALL SELECT min(created_at), max(created_at) FROM reviews
  UNION ALL SELECT min(created_at), max(created_at) FROM favorites
  UNION ALL SELECT min(created_at), greatest(max(created_at), max(redeemed_at)) FROM flash_offer_claims
  UNION ALL SELECT min(created_at), max(created_at) FROM notifications
  UNION ALL SELECT min(start_time), max(end_time) FROM flash_offers
)
SELECT date_trunc('day', least(min(lo), now()), 'UTC') AS first_day,
       date_trunc('day', greatest(max(hi), now()), 'UTC') + interval '24 hours' AS end_day
FROM t

-- name: rollups.rebuild_resume --
-- kind: maintenance
-- An unfinished rebuild over the same range, to resume.
SELECT id, from_day, to_day, next_day, started_at FROM rollup_rebuilds
WHERE finished_at IS NULL AND from_day = %(from_day)s
ORDER BY id DESC LIMIT 1

-- name: rollups.rebuild_start --
-- kind: maintenance
INSERT INTO rollup_rebuilds (from_day, to_day, next_day) VALUES (%(from_day)s, %(to_day)s, %(from_day)s)
RETURNING id, from_day, to_day, next_day, started_at

-- name: rollups.rebuild_extend --
-- kind: maintenance
UPDATE rollup_rebuilds SET to_day = greatest(to_day, %(to_day)s), updated_at = now() WHERE id = %(id)s
RETURNING to_day

-- name: rollups.rebuild_activity --
-- kind: maintenance
-- timeout: 30min
SELECT vp_rebuild_activity(%(from)s, %(to)s) AS hours

-- name: rollups.rebuild_offers --
-- kind: maintenance
-- timeout: 30min
-- The funnels of the offers starting in [from, to) (every offer when both are NULL).
SELECT vp_recompute_offer_funnels(
         CASE WHEN %(from)s::timestamptz IS NULL THEN NULL
              ELSE ARRAY(SELECT id FROM flash_offers
                         WHERE start_time >= %(from)s::timestamptz AND start_time < %(to)s::timestamptz) END
       ) AS offers

-- name: rollups.rebuild_progress --
-- kind: maintenance
UPDATE rollup_rebuilds SET next_day = %(next_day)s, updated_at = now() WHERE id = %(id)s

-- name: rollups.rebuild_delays --
-- kind: maintenance
-- timeout: 30min
SELECT vp_rebuild_delays(%(from)s, %(to)s) AS rows

-- name: rollups.rebuild_pairs --
-- kind: maintenance
-- timeout: 30min
SELECT vp_rebuild_pairs() AS venues

-- name: rollups.venue_stats_full --
-- kind: maintenance
-- timeout: 30min
SELECT vp_venue_stats_full() AS venues

-- name: rollups.rebuild_finish --
-- kind: maintenance
UPDATE rollup_rebuilds SET finished_at = now(), updated_at = now() WHERE id = %(id)s

-- name: rollups.venue_stats_drift --
-- kind: maintenance
-- timeout: 30min
-- Run after rollups.fold_venue_stats in the same REPEATABLE READ transaction.
SELECT venue_id, stored, expected FROM vp_venue_stats_drift(%(repair)s)

-- name: rollups.lock --
-- kind: maintenance
-- A consumer's lock for this session (a rebuild batch takes it before its snapshot; the fold inside the
-- batch then takes the same lock at once).
SELECT pg_advisory_lock(vp_rollup_lock_key(%(consumer)s)) IS NULL AS locked

-- name: rollups.unlock --
-- kind: maintenance
SELECT pg_advisory_unlock(vp_rollup_lock_key(%(consumer)s)) AS unlocked
