-- Owners' weekly report (queries/ops/owner_reports.py; migration 0014).  The subscription queries run on the
-- sign-in role's connection, through venuepulse_auth's SECURITY DEFINER functions, for the signed-in owner;
-- the rest run as the jobs' role.  The report's numbers are never read here: offers.* queries read them
-- through the owners' row-level-security role.

-- name: reports.subscription --
SELECT account_email, email, active, updated_at
FROM venuepulse_auth.report_subscription(%(username)s::text)

-- name: reports.set_subscription --
-- kind: write
SELECT email, active, updated_at
FROM venuepulse_auth.set_report_subscription(%(username)s::text, %(email)s::text, %(active)s::boolean)

-- name: reports.history --
SELECT week_start, status, reason, offers, delivery, delivered_at
FROM venuepulse_auth.report_history(%(username)s::text, %(limit)s::integer)

-- Active subscriptions of enabled owner accounts without a report for the week yet, with the venues the
-- account sees (as venuepulse_auth.session_account gives the dashboard).
-- name: reports.due --
-- kind: maintenance
SELECT a.id AS account_id, a.username::text AS username, s.email::text AS email,
       coalesce((SELECT array_agg(vo.venue_id ORDER BY vo.venue_id) FROM venue_owners vo
                 WHERE vo.user_id = a.app_user_id), ARRAY[]::uuid[]) AS venue_ids
FROM venuepulse_auth.report_subscriptions s
JOIN venuepulse_auth.accounts a ON a.id = s.account_id
WHERE s.active AND NOT a.disabled AND a.role = 'venue_owner'
  AND NOT EXISTS (SELECT 1 FROM owner_reports r WHERE r.account_id = a.id AND r.week_start = %(week_start)s::date)
ORDER BY a.id

-- The week's row for one owner; nothing returned: another run wrote it first (it stays as that run left it).
-- name: reports.record --
-- kind: maintenance
INSERT INTO owner_reports (account_id, week_start, status, reason, offers, job_run_id)
VALUES (%(account_id)s::bigint, %(week_start)s::date, %(status)s::text, %(reason)s::text, %(offers)s::integer,
        %(job_run_id)s::bigint)
ON CONFLICT (account_id, week_start) DO NOTHING
RETURNING id

-- name: reports.link_outbox --
-- kind: maintenance
UPDATE owner_reports SET outbox_id = %(outbox_id)s::bigint WHERE id = %(id)s::bigint

-- Every owner's report of a week, with its delivery (for the CLI and the tests).
-- name: reports.week --
-- kind: maintenance
SELECT r.id, r.account_id, a.username::text AS username, r.week_start, r.status, r.reason, r.offers, r.outbox_id,
       o.status AS delivery, o.delivered_at, o.attempts, o.last_error
FROM owner_reports r
JOIN venuepulse_auth.accounts a ON a.id = r.account_id
LEFT JOIN notification_outbox o ON o.id = r.outbox_id
WHERE r.week_start = %(week_start)s::date
ORDER BY r.account_id
