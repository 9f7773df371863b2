-- name: health.ping --
-- timeout: 2s
SELECT 1 AS ok

-- Run by Database.run before each named query, in the same transaction (set_config(..., true) is
-- transaction-local): the query's statement timeout, and the venue scope row-level security reads.

-- name: session.timeout --
SELECT set_config('statement_timeout', %(timeout)s, true)

-- name: session.timeout_and_scope --
SELECT set_config('statement_timeout', %(timeout)s, true),
       set_config('venuepulse.venue_ids', %(venue_ids)s, true)
