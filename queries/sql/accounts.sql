-- Dashboard accounts (schema venuepulse_auth).  Management queries run as the admin role (the CLI);
-- sign-in queries go through the SECURITY DEFINER functions the venuepulse_signin role may call.

-- name: accounts.add --
-- kind: write
INSERT INTO venuepulse_auth.accounts (username, display_name, email, role, app_user_id, password_hash)
VALUES (%(username)s, %(display_name)s, %(email)s, %(role)s, %(app_user_id)s, %(password_hash)s)
RETURNING id, username, display_name, email, role, app_user_id, created_at

-- name: accounts.upsert_demo --
-- kind: write
INSERT INTO venuepulse_auth.accounts (username, display_name, role, app_user_id, password_hash)
VALUES (%(username)s, %(display_name)s, %(role)s, %(app_user_id)s, %(password_hash)s)
ON CONFLICT (username) DO UPDATE SET
  display_name = EXCLUDED.display_name,
  role = EXCLUDED.role,
  app_user_id = EXCLUDED.app_user_id,
  password_hash = EXCLUDED.password_hash,
  failed_attempts = 0,
  last_failed_at = NULL,
  locked_until = NULL,
  disabled = false
RETURNING id, username, role

-- name: accounts.list --
SELECT a.username, a.display_name, a.email, a.role, u.username AS app_user,
       (SELECT count(*) FROM venue_owners vo WHERE a.role = 'venue_owner' AND vo.user_id = a.app_user_id)
         AS venue_count,
       a.failed_attempts, a.locked_until > now() AS locked, a.locked_until, a.last_sign_in_at,
       a.created_at, a.disabled
FROM venuepulse_auth.accounts a
LEFT JOIN users u ON u.id = a.app_user_id
ORDER BY a.username

-- name: accounts.get --
SELECT a.id, a.username, a.display_name, a.email, a.role, a.app_user_id, a.failed_attempts,
       a.locked_until, a.last_sign_in_at, a.created_at, a.disabled
FROM venuepulse_auth.accounts a
WHERE a.username = %(username)s

-- name: accounts.set_password --
-- kind: write
UPDATE venuepulse_auth.accounts
SET password_hash = %(password_hash)s, failed_attempts = 0, last_failed_at = NULL, locked_until = NULL
WHERE username = %(username)s
RETURNING id

-- name: accounts.unlock --
-- kind: write
UPDATE venuepulse_auth.accounts
SET failed_attempts = 0, last_failed_at = NULL, locked_until = NULL
WHERE username = %(username)s
RETURNING id

-- name: accounts.set_disabled --
-- kind: write
UPDATE venuepulse_auth.accounts SET disabled = %(disabled)s WHERE username = %(username)s RETURNING id

-- name: accounts.remove --
-- kind: write
DELETE FROM venuepulse_auth.accounts WHERE username = %(username)s RETURNING id

-- name: accounts.app_user --
SELECT u.id, u.username,
       (SELECT count(*) FROM venue_owners vo WHERE vo.user_id = u.id) AS venue_count
FROM users u
WHERE u.id::text = lower(%(ref)s) OR u.username = %(ref)s
ORDER BY (u.id::text = lower(%(ref)s)) DESC
LIMIT 1

-- name: accounts.owner_venue_ids --
SELECT vo.venue_id
FROM venuepulse_auth.accounts a
JOIN venue_owners vo ON vo.user_id = a.app_user_id
WHERE a.username = %(username)s AND a.role = 'venue_owner' AND NOT a.disabled
ORDER BY vo.venue_id

-- name: accounts.sign_in_lookup --
SELECT account_id, password_hash, wait_seconds, locked
FROM venuepulse_auth.sign_in_lookup(%(username)s)

-- name: accounts.sign_in_record --
-- kind: write
SELECT failed_attempts, locked_until,
       greatest(0, extract(epoch FROM locked_until - now()))::double precision AS locked_seconds
FROM venuepulse_auth.sign_in_record(%(account_id)s, %(success)s)

-- name: accounts.session_account --
SELECT account_id, username, display_name, role, venue_ids
FROM venuepulse_auth.session_account(%(account_id)s)

-- name: accounts.id_for_email --
SELECT venuepulse_auth.account_id_for_email(%(email)s) AS account_id

-- name: accounts.connection_scope --
SELECT current_user::text AS role_name, vp_is_scoped_role() AS scoped,
       (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS superuser

-- name: accounts.demo_owner_user --
-- The demo owner: an app user whose venues have offers in the most states (the seed gives one venue
-- every state) and redemptions, then owning a few venues (2-5 preferred); deterministic for the same data.
SELECT vo.user_id
FROM venue_owners vo
LEFT JOIN flash_offers o ON o.venue_id = vo.venue_id
GROUP BY vo.user_id
ORDER BY count(DISTINCT status(o)) FILTER (WHERE o.id IS NOT NULL) DESC,
         (coalesce(sum(o.redeemed_count), 0) > 0) DESC,
         (count(DISTINCT vo.venue_id) BETWEEN 2 AND 5) DESC, count(DISTINCT vo.venue_id) DESC, vo.user_id
LIMIT 1
