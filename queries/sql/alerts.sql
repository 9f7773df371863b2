-- Alerts (issue 16; docs/alerts.md): rules and channels, the conditions of the built-in rule kinds (each
-- takes `now`, so evaluation never reads the clock itself), state transitions, the outbox and its
-- delivery, and the Alerts page's reads.

-- ---------------------------------------------------------------------------------------------------
-- Rules and channels
-- ---------------------------------------------------------------------------------------------------

-- name: alerts.rules --
SELECT r.id, r.name, r.kind, r.params, r.severity,
       extract(epoch FROM r.pending_for)::float8 AS pending_seconds,
       extract(epoch FROM r.keep_firing_for)::float8 AS keep_firing_seconds,
       r.description, r.muted_until, r.created_at, r.last_evaluated_at, r.last_error,
       coalesce((SELECT array_agg(c.name ORDER BY c.name) FROM alert_rule_channels rc
                 JOIN alert_channels c ON c.id = rc.channel_id WHERE rc.rule_id = r.id), '{}') AS channels,
       (SELECT count(*) FROM alert_states s WHERE s.rule_id = r.id AND s.state = 'firing') AS firing,
       (SELECT count(*) FROM alert_states s WHERE s.rule_id = r.id AND s.state = 'pending') AS pending
FROM alert_rules r
WHERE (%(name)s::text IS NULL OR r.name = %(name)s::text)
ORDER BY r.name

-- name: alerts.insert_rule --
-- kind: write
INSERT INTO alert_rules (name, kind, params, severity, pending_for, keep_firing_for, description)
VALUES (%(name)s, %(kind)s, %(params)s::jsonb, %(severity)s, make_interval(secs => %(pending_s)s::float8),
        make_interval(secs => %(keep_s)s::float8), %(description)s)
RETURNING id

-- name: alerts.route_rule --
-- kind: write
INSERT INTO alert_rule_channels (rule_id, channel_id)
SELECT %(rule_id)s::bigint, c.id FROM alert_channels c WHERE c.name = ANY (%(channels)s::text[])
RETURNING channel_id

-- name: alerts.delete_rule --
-- kind: write
DELETE FROM alert_rules WHERE name = %(name)s RETURNING id

-- name: alerts.mute_rule --
-- kind: write
UPDATE alert_rules SET muted_until = %(until)s::timestamptz, updated_at = now()
WHERE name = %(name)s
RETURNING id, muted_until

-- name: alerts.channels --
SELECT c.id, c.name, c.kind, c.settings, c.created_at,
       coalesce((SELECT array_agg(r.name ORDER BY r.name) FROM alert_rule_channels rc
                 JOIN alert_rules r ON r.id = rc.rule_id WHERE rc.channel_id = c.id), '{}') AS rules,
       (SELECT count(*) FROM notification_outbox o WHERE o.channel_id = c.id AND o.status = 'pending') AS pending,
       (SELECT max(o.delivered_at) FROM notification_outbox o WHERE o.channel_id = c.id) AS last_delivered_at
FROM alert_channels c
WHERE (%(name)s::text IS NULL OR c.name = %(name)s::text)
ORDER BY c.name

-- name: alerts.channel_names --
SELECT name FROM alert_channels WHERE name = ANY (%(names)s::text[])

-- name: alerts.insert_channel --
-- kind: write
INSERT INTO alert_channels (name, kind, settings) VALUES (%(name)s, %(kind)s, %(settings)s::jsonb)
RETURNING id

-- name: alerts.insert_channel_secrets --
-- kind: write
INSERT INTO venuepulse_secrets.channel_secrets (channel_id, secrets) VALUES (%(channel_id)s, %(secrets)s::jsonb)

-- name: alerts.channel_secrets --
SELECT secrets FROM venuepulse_secrets.channel_secrets WHERE channel_id = %(channel_id)s::bigint

-- name: alerts.delete_channel --
-- kind: write
-- Undelivered notifications of the channel are dropped (they keep its name); delivered ones stay as history.
WITH dropped AS (
  UPDATE notification_outbox SET status = 'dropped', last_error = 'the channel was removed before delivery'
  WHERE channel_id = (SELECT id FROM alert_channels WHERE name = %(name)s) AND status = 'pending'
  RETURNING id)
DELETE FROM alert_channels WHERE name = %(name)s
RETURNING id, (SELECT count(*) FROM dropped) AS dropped

-- ---------------------------------------------------------------------------------------------------
-- Evaluation: one evaluator at a time (session advisory lock), transitions and the outbox in one transaction
-- ---------------------------------------------------------------------------------------------------

-- name: alerts.try_lock --
-- kind: maintenance
SELECT pg_try_advisory_lock(hashtextextended('venuepulse.alerts.evaluate', 0)) AS locked

-- name: alerts.unlock --
-- kind: maintenance
SELECT pg_advisory_unlock(hashtextextended('venuepulse.alerts.evaluate', 0)) AS unlocked

-- name: alerts.read_only --
-- kind: maintenance
SET TRANSACTION READ ONLY

-- name: alerts.states_for_update --
-- kind: maintenance
SELECT rule_id, subject, state, since, active_since, last_true_at, firing_since, resolved_at, episode, value,
       summary, evaluated_at
FROM alert_states WHERE rule_id = %(rule_id)s::bigint
ORDER BY subject
FOR UPDATE

-- name: alerts.rule_for_update --
-- kind: maintenance
SELECT id, muted_until FROM alert_rules WHERE id = %(rule_id)s::bigint FOR UPDATE

-- name: alerts.save_state --
-- kind: maintenance
INSERT INTO alert_states (rule_id, subject, state, since, active_since, last_true_at, firing_since, resolved_at,
                          episode, value, summary, evaluated_at)
VALUES (%(rule_id)s, %(subject)s, %(state)s, %(since)s, %(active_since)s, %(last_true_at)s, %(firing_since)s,
        %(resolved_at)s, %(episode)s, %(value)s::jsonb, %(summary)s, %(evaluated_at)s)
ON CONFLICT (rule_id, subject) DO UPDATE SET
  state = EXCLUDED.state, since = EXCLUDED.since, active_since = EXCLUDED.active_since,
  last_true_at = EXCLUDED.last_true_at, firing_since = EXCLUDED.firing_since, resolved_at = EXCLUDED.resolved_at,
  episode = EXCLUDED.episode, value = EXCLUDED.value, summary = EXCLUDED.summary, evaluated_at = EXCLUDED.evaluated_at

-- name: alerts.forget_state --
-- kind: maintenance
DELETE FROM alert_states WHERE rule_id = %(rule_id)s::bigint AND subject = %(subject)s::text

-- name: alerts.insert_event --
-- kind: maintenance
INSERT INTO alert_events (rule_id, rule_name, rule_kind, severity, subject, from_state, to_state, episode, at,
                          value, summary, notified)
VALUES (%(rule_id)s, %(rule_name)s, %(rule_kind)s, %(severity)s, %(subject)s, %(from_state)s, %(to_state)s,
        %(episode)s, %(at)s, %(value)s::jsonb, %(summary)s, %(notified)s)
RETURNING id

-- One outbox row per channel the rule routes to (every channel when it names none).  The key makes a
-- second write of the same transition a no-op, whoever attempts it.
-- name: alerts.enqueue --
-- kind: maintenance
INSERT INTO notification_outbox (idempotency_key, channel_id, channel_name, source, event_id, rule_id, subject,
                                 transition, payload, created_at, next_attempt_at)
SELECT %(key)s || ':' || c.id, c.id, c.name, 'alert', %(event_id)s, %(rule_id)s, %(subject)s, %(transition)s,
       %(payload)s::jsonb, %(at)s, %(at)s
FROM alert_channels c
WHERE EXISTS (SELECT 1 FROM alert_rule_channels rc WHERE rc.rule_id = %(rule_id)s::bigint AND rc.channel_id = c.id)
   OR NOT EXISTS (SELECT 1 FROM alert_rule_channels rc WHERE rc.rule_id = %(rule_id)s::bigint)
ORDER BY c.id
ON CONFLICT (idempotency_key) DO NOTHING
RETURNING id

-- name: alerts.rule_evaluated --
-- kind: maintenance
UPDATE alert_rules SET last_evaluated_at = %(at)s::timestamptz, last_error = %(error)s::text
WHERE id = %(rule_id)s::bigint

-- ---------------------------------------------------------------------------------------------------
-- Conditions of the built-in kinds: each returns the subjects for which the condition holds at `now`.
-- (query_p95_regression and new_slow_query use performance.regressions and performance.new_queries.)
-- ---------------------------------------------------------------------------------------------------

-- The latest finished run of each job (started before now) failed.
-- name: alerts.job_failed --
SELECT job_name AS subject, started_at, finished_at, error
FROM (
  SELECT DISTINCT ON (job_name) job_name, status, started_at, finished_at, error
  FROM job_runs
  WHERE status IN ('succeeded', 'failed') AND started_at < %(now)s::timestamptz
    AND (%(jobs)s::text[] IS NULL OR job_name = ANY (%(jobs)s::text[]))
  ORDER BY job_name, started_at DESC, id DESC
) last
WHERE status = 'failed'
ORDER BY job_name

-- No run of the job (running, succeeded or failed; a run skipped because another scheduler held the job
-- is not one) started in (now - within, now].  `jobs` maps each job name to its `within` in seconds.
-- name: alerts.job_not_run --
SELECT j.key AS subject, j.value::float8 AS within_seconds, last.started_at AS last_run_at
FROM jsonb_each_text(%(jobs)s::jsonb) j
LEFT JOIN LATERAL (
  SELECT max(r.started_at) AS started_at FROM job_runs r
  WHERE r.job_name = j.key AND r.status IN ('running', 'succeeded', 'failed')
    AND r.started_at <= %(now)s::timestamptz) last ON true
WHERE last.started_at IS NULL
   OR last.started_at <= %(now)s::timestamptz - make_interval(secs => j.value::float8)
ORDER BY j.key

-- name: alerts.counter_drift --
SELECT kind AS subject, count(*)::bigint AS drifted, count(*) FILTER (WHERE repaired)::bigint AS repaired,
       max(detected_at) AS last_detected_at
FROM counter_drift
WHERE detected_at >= %(now)s::timestamptz - make_interval(secs => %(window_s)s::float8)
  AND detected_at < %(now)s::timestamptz
GROUP BY kind
HAVING count(*) >= %(min_rows)s::integer
ORDER BY kind

-- Only when the view is populated (jobs.view_populated): scanning an unpopulated materialized view fails.
-- name: alerts.venue_stats_refreshed --
SELECT max(refreshed_at) AS refreshed_at, count(*)::bigint AS venues FROM venue_stats

-- name: alerts.rollups_installed --
SELECT to_regclass('public.rollup_consumers') IS NOT NULL AS installed

-- Only when rollups are installed (alerts.rollups_installed).
-- name: alerts.rollups_folded --
SELECT consumer AS subject, folded_at FROM rollup_consumers ORDER BY consumer

-- Per partitioned table, how many whole periods after the current one (at `now`) are covered without a
-- gap (the same walk as jobs.partition_status, at a given instant).
-- name: alerts.partitions_ahead --
WITH parts AS (
  SELECT i.parent_table, i.range_start, i.range_end FROM partition_inventory i WHERE NOT i.is_default),
current_period AS (
  SELECT p.parent_table, p.period, p.ahead,
         date_trunc(p.period, %(now)s::timestamptz AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS period_start
  FROM partition_policies p),
covered AS (
  WITH RECURSIVE walk AS (
    SELECT c.parent_table, x.range_end FROM current_period c
    JOIN parts x ON x.parent_table = c.parent_table AND x.range_start = c.period_start
    UNION ALL
    SELECT w.parent_table, x.range_end FROM walk w
    JOIN parts x ON x.parent_table = w.parent_table AND x.range_start = w.range_end)
  SELECT parent_table, max(range_end) AS covered_until FROM walk GROUP BY parent_table)
SELECT c.parent_table AS subject, c.period, c.ahead AS ahead_wanted, cv.covered_until,
       CASE WHEN cv.covered_until IS NULL THEN -1
            WHEN c.period = 'month' THEN
              (extract(year FROM age(cv.covered_until AT TIME ZONE 'UTC', c.period_start AT TIME ZONE 'UTC')) * 12
               + extract(month FROM age(cv.covered_until AT TIME ZONE 'UTC', c.period_start AT TIME ZONE 'UTC')))::int - 1
            ELSE (extract(epoch FROM cv.covered_until - c.period_start) / 86400)::int - 1
       END AS periods_ahead
FROM current_period c
LEFT JOIN covered cv ON cv.parent_table = c.parent_table
ORDER BY c.parent_table

-- Per venue: distinct users who viewed any of its offers, and who claimed one, in [now - window, now)
-- and in the `usual` period before it.
-- name: alerts.offer_conversion --
WITH w AS (SELECT %(now)s::timestamptz AS now, make_interval(secs => %(window_s)s::float8) AS win,
                  make_interval(secs => %(usual_s)s::float8) AS usual),
views AS (
  SELECT o.venue_id,
         count(DISTINCT e.user_id) FILTER (WHERE e.created_at >= w.now - w.win) AS viewers,
         count(DISTINCT e.user_id) FILTER (WHERE e.created_at < w.now - w.win) AS usual_viewers
  FROM w, event_stream e JOIN flash_offers o ON o.id = e.target_id
  WHERE e.is_analytics_event AND e.event_type = 'flash_offer_view' AND e.target_type = 'offer'
    AND e.created_at >= w.now - w.win - w.usual AND e.created_at < w.now
  GROUP BY o.venue_id),
claims AS (
  SELECT o.venue_id,
         count(DISTINCT c.user_id) FILTER (WHERE c.created_at >= w.now - w.win) AS claimers,
         count(DISTINCT c.user_id) FILTER (WHERE c.created_at < w.now - w.win) AS usual_claimers
  FROM w, flash_offer_claims c JOIN flash_offers o ON o.id = c.offer_id
  WHERE c.created_at >= w.now - w.win - w.usual AND c.created_at < w.now
  GROUP BY o.venue_id)
SELECT v.venue_id::text AS subject, ven.name AS venue_name, v.viewers, coalesce(c.claimers, 0) AS claimers,
       coalesce(c.claimers, 0)::float8 / v.viewers AS rate,
       v.usual_viewers, coalesce(c.usual_claimers, 0) AS usual_claimers,
       CASE WHEN v.usual_viewers > 0 THEN coalesce(c.usual_claimers, 0)::float8 / v.usual_viewers END AS usual_rate
FROM views v
JOIN venues ven ON ven.id = v.venue_id
LEFT JOIN claims c ON c.venue_id = v.venue_id
WHERE v.viewers >= %(min_views)s::integer
ORDER BY v.venue_id

-- ---------------------------------------------------------------------------------------------------
-- The outbox and its delivery.  Per channel, notifications go out one at a time in id order: a
-- notification waiting for a retry holds back the later ones of its channel (so they arrive in order),
-- never those of another channel.  A session advisory lock per channel keeps two deliverers apart.
-- ---------------------------------------------------------------------------------------------------

-- name: outbox.enqueue --
-- kind: maintenance
-- A notification from another producer (a test message, a report) to one channel.
INSERT INTO notification_outbox (idempotency_key, channel_id, channel_name, source, subject, payload, created_at,
                                 next_attempt_at)
SELECT %(key)s, c.id, c.name, %(source)s, %(subject)s, %(payload)s::jsonb, %(at)s, %(at)s
FROM alert_channels c WHERE c.id = %(channel_id)s::bigint
ON CONFLICT (idempotency_key) DO NOTHING
RETURNING id

-- name: outbox.lock_channel --
-- kind: maintenance
SELECT pg_try_advisory_lock(hashtextextended('venuepulse.outbox.channel:' || %(channel_id)s::text, 0)) AS locked

-- name: outbox.unlock_channel --
-- kind: maintenance
SELECT pg_advisory_unlock(hashtextextended('venuepulse.outbox.channel:' || %(channel_id)s::text, 0)) AS unlocked

-- name: outbox.drop_orphans --
-- kind: maintenance
UPDATE notification_outbox SET status = 'dropped', last_error = 'the channel was removed before delivery'
WHERE status = 'pending' AND channel_id IS NULL
RETURNING id

-- Channels whose first pending notification is due.
-- name: outbox.channels_due --
-- kind: maintenance
SELECT c.id, c.name, c.kind, c.settings
FROM alert_channels c
WHERE (SELECT o.next_attempt_at FROM notification_outbox o
       WHERE o.channel_id = c.id AND o.status = 'pending' ORDER BY o.id LIMIT 1) <= %(now)s::timestamptz
ORDER BY c.id

-- name: outbox.head --
-- kind: maintenance
SELECT id, idempotency_key, channel_id, source, rule_id, subject, transition, payload, created_at, attempts,
       next_attempt_at
FROM notification_outbox
WHERE channel_id = %(channel_id)s::bigint AND status = 'pending'
ORDER BY id
LIMIT 1

-- name: outbox.start_attempt --
-- kind: maintenance
-- Written (and committed) before the send: an attempt with no finish is one the process did not live through.
WITH o AS (
  UPDATE notification_outbox SET attempts = attempts + 1
  WHERE id = %(id)s::bigint AND status = 'pending'
  RETURNING id, attempts)
INSERT INTO notification_attempts (outbox_id, attempt, worker)
SELECT o.id, o.attempts, %(worker)s FROM o
RETURNING id, attempt

-- name: outbox.finish_attempt --
-- kind: maintenance
UPDATE notification_attempts SET finished_at = clock_timestamp(), ok = %(ok)s, status_code = %(status_code)s,
                                 error = %(error)s
WHERE id = %(attempt_id)s::bigint

-- name: outbox.delivered --
-- kind: maintenance
UPDATE notification_outbox SET status = 'delivered', delivered_at = clock_timestamp(), last_error = NULL
WHERE id = %(id)s::bigint

-- name: outbox.retry_later --
-- kind: maintenance
UPDATE notification_outbox SET next_attempt_at = %(next_at)s::timestamptz, last_error = %(error)s
WHERE id = %(id)s::bigint

-- name: outbox.give_up --
-- kind: maintenance
UPDATE notification_outbox SET status = 'failed', last_error = %(error)s
WHERE id = %(id)s::bigint

-- name: outbox.status --
SELECT o.id, o.idempotency_key, o.channel_name, o.source, o.subject, o.transition, o.status, o.attempts,
       o.created_at, o.next_attempt_at, o.delivered_at, o.last_error
FROM notification_outbox o
WHERE (%(ids)s::bigint[] IS NULL OR o.id = ANY (%(ids)s::bigint[]))
ORDER BY o.id

-- ---------------------------------------------------------------------------------------------------
-- The Alerts page and the banners on other pages
-- ---------------------------------------------------------------------------------------------------

-- name: alerts.firing_now --
SELECT r.name AS rule_name, r.kind, r.severity, s.subject, s.state, s.firing_since, s.since, s.summary, s.value,
       s.evaluated_at, r.muted_until, s.episode
FROM alert_states s JOIN alert_rules r ON r.id = s.rule_id
WHERE s.state IN ('firing', 'pending')
  AND (%(kinds)s::text[] IS NULL OR r.kind = ANY (%(kinds)s::text[]))
ORDER BY s.state = 'pending', CASE r.severity WHEN 'critical' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END,
         s.firing_since, r.name, s.subject
LIMIT 500

-- name: alerts.history --
SELECT e.id, e.at, e.rule_name, e.rule_kind, e.severity, e.subject, e.from_state, e.to_state, e.episode,
       e.summary, e.notified
FROM alert_events e
WHERE e.at >= %(start)s::timestamptz AND e.at < %(end)s::timestamptz
  AND (%(rule)s::text IS NULL OR e.rule_name = %(rule)s::text)
ORDER BY e.at DESC, e.id DESC
LIMIT %(limit)s::integer

-- name: alerts.deliveries --
SELECT o.id, o.created_at, o.channel_name, o.source, o.subject, o.transition, o.status, o.attempts,
       o.delivered_at, o.next_attempt_at, o.last_error,
       coalesce(o.payload ->> 'title', '') AS title
FROM notification_outbox o
WHERE o.created_at >= %(start)s::timestamptz AND o.created_at < %(end)s::timestamptz
  AND (%(status)s::text IS NULL OR o.status = %(status)s::text)
ORDER BY o.created_at DESC, o.id DESC
LIMIT %(limit)s::integer

-- name: alerts.failed_attempts --
SELECT a.started_at, a.finished_at, o.channel_name, o.id AS outbox_id, a.attempt, a.status_code,
       coalesce(a.error, CASE WHEN a.finished_at IS NULL THEN 'interrupted: the delivering process stopped' END)
         AS error, o.status AS notification_status
FROM notification_attempts a JOIN notification_outbox o ON o.id = a.outbox_id
WHERE a.started_at >= %(start)s::timestamptz AND a.started_at < %(end)s::timestamptz
  AND a.ok IS NOT TRUE
ORDER BY a.started_at DESC, a.id DESC
LIMIT %(limit)s::integer

-- name: alerts.summary --
SELECT (SELECT count(*) FROM alert_rules) AS rules,
       (SELECT count(*) FROM alert_rules WHERE muted_until > now()) AS muted,
       (SELECT count(*) FROM alert_rules WHERE last_error IS NOT NULL) AS erroring,
       (SELECT count(*) FROM alert_states WHERE state = 'firing') AS firing,
       (SELECT count(*) FROM alert_states WHERE state = 'pending') AS pending,
       (SELECT count(*) FROM alert_channels) AS channels,
       (SELECT count(*) FROM notification_outbox WHERE status = 'pending') AS undelivered,
       (SELECT min(created_at) FROM notification_outbox WHERE status = 'pending') AS oldest_undelivered_at,
       (SELECT count(*) FROM notification_outbox WHERE status = 'failed') AS given_up,
       (SELECT max(last_evaluated_at) FROM alert_rules) AS last_evaluated_at
