-- Access control: dashboard accounts, read-only database roles, and row-level security that keeps
-- venue owners apart.  See docs/access.md.
--
-- Roles are cluster-wide and many databases (every test database, for one) share them: they are
-- created only when missing and never dropped by the downgrade, which revokes this database's grants.

-- ---------------------------------------------------------------------------------------------------
-- Group roles (NOLOGIN).  Login roles that belong to them are made by queries/access.py.
--   venuepulse_reader  SELECT on the public schema: the dashboard of product managers and engineers
--   venuepulse_owner   venue owners' dashboard role: SELECT on venue-keyed tables only, under RLS
--   venuepulse_signin  may only call the sign-in functions of venuepulse_auth
--   venuepulse_recorder may only append query timings to query_performance_log (the dashboard's
--                      timings: its readers may not write)
-- ---------------------------------------------------------------------------------------------------

DO $$
DECLARE
  r text;
BEGIN
  FOREACH r IN ARRAY ARRAY['venuepulse_reader', 'venuepulse_owner', 'venuepulse_signin', 'venuepulse_recorder'] LOOP
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
      BEGIN
        EXECUTE format('CREATE ROLE %I NOLOGIN', r);
      EXCEPTION
        WHEN duplicate_object OR unique_violation THEN
          NULL;  -- another database's migration created it at the same moment
        WHEN insufficient_privilege THEN
          RAISE EXCEPTION 'access control needs a migrating role that may create roles (CREATEROLE): could not create role %', r;
      END;
    END IF;
  END LOOP;
END;
$$;

-- The readers must never create objects (PostgreSQL 15+ already refuses PUBLIC; older clusters did not),
-- not even temporary tables, which PUBLIC may make by default and read-only transactions allow.  The
-- migrating role (jobs and the CLI use it) keeps them.
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
DO $$
BEGIN
  EXECUTE format('REVOKE TEMPORARY ON DATABASE %I FROM PUBLIC', current_database());
  EXECUTE format('GRANT TEMPORARY ON DATABASE %I TO %I', current_database(), current_user);
END;
$$;

-- ---------------------------------------------------------------------------------------------------
-- Reader: every table, view and materialized view of the public schema, now and later (default
-- privileges cover tables the migrating role creates afterwards, such as new partitions).
-- ---------------------------------------------------------------------------------------------------

GRANT USAGE ON SCHEMA public TO venuepulse_reader;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO venuepulse_reader;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO venuepulse_reader;

-- Engineers' query-performance page reads every statement of pg_stat_statements.  Granting a
-- predefined role needs ADMIN on it; where the migrating role lacks that, the page sees only the
-- reader's own statements, which is not worth failing the migration for.
DO $$
BEGIN
  GRANT pg_read_all_stats TO venuepulse_reader;
EXCEPTION WHEN insufficient_privilege OR invalid_grant_operation THEN
  RAISE NOTICE 'could not grant pg_read_all_stats to venuepulse_reader; pg_stat_statements shows only its own statements';
END;
$$;

-- ---------------------------------------------------------------------------------------------------
-- Owner: an allow-list.  Only tables under row-level security and the security-barrier view over
-- venue_stats; never users (identities), user_privacy, the materialized view itself, the recount
-- views, logs, partitions (reading a partition directly would skip its parent's policies) or accounts.
-- ---------------------------------------------------------------------------------------------------

GRANT USAGE ON SCHEMA public TO venuepulse_recorder;
GRANT INSERT ON query_performance_log TO venuepulse_recorder;

GRANT USAGE ON SCHEMA public TO venuepulse_owner;
GRANT SELECT ON venues, venue_owners, flash_offers, flash_offer_claims, check_ins, reviews, favorites,
                collection_venues, event_stream, venue_interactions, notifications, venue_stats_visible
  TO venuepulse_owner;

-- ---------------------------------------------------------------------------------------------------
-- Row-level security.  Roles that are not scoped (readers, jobs, migrations) see and write every row;
-- a scoped role (member of venuepulse_owner) sees only rows of the venues in `venuepulse.venue_ids`
-- for the transaction, and none when that setting is missing or malformed (vp_scope_venue_ids).
-- The table owner (the migrating role) and superusers bypass RLS anyway.
-- Both functions are wrapped in scalar sub-selects so that PostgreSQL evaluates them once per query
-- (an InitPlan) instead of once per row: on 400k event_stream rows that is the difference between
-- ~1.9 s and ~0.13 s for a reader, and lets an owner's `venue_id = ANY (...)` use the venue indexes.
-- ---------------------------------------------------------------------------------------------------

ALTER TABLE venues ENABLE ROW LEVEL SECURITY;
CREATE POLICY vp_venue_scope ON venues
  USING ((SELECT NOT vp_is_scoped_role()) OR id = ANY ((SELECT vp_scope_venue_ids())::uuid[]));

ALTER TABLE venue_owners ENABLE ROW LEVEL SECURITY;
CREATE POLICY vp_venue_scope ON venue_owners
  USING ((SELECT NOT vp_is_scoped_role()) OR venue_id = ANY ((SELECT vp_scope_venue_ids())::uuid[]));

ALTER TABLE flash_offers ENABLE ROW LEVEL SECURITY;
CREATE POLICY vp_venue_scope ON flash_offers
  USING ((SELECT NOT vp_is_scoped_role()) OR venue_id = ANY ((SELECT vp_scope_venue_ids())::uuid[]));

-- Claims carry no venue: through their offer.
ALTER TABLE flash_offer_claims ENABLE ROW LEVEL SECURITY;
CREATE POLICY vp_venue_scope ON flash_offer_claims
  USING ((SELECT NOT vp_is_scoped_role())
         OR EXISTS (SELECT 1 FROM flash_offers o
                    WHERE o.id = flash_offer_claims.offer_id AND o.venue_id = ANY ((SELECT vp_scope_venue_ids())::uuid[])));

ALTER TABLE check_ins ENABLE ROW LEVEL SECURITY;
CREATE POLICY vp_venue_scope ON check_ins
  USING ((SELECT NOT vp_is_scoped_role()) OR venue_id = ANY ((SELECT vp_scope_venue_ids())::uuid[]));

ALTER TABLE reviews ENABLE ROW LEVEL SECURITY;
CREATE POLICY vp_venue_scope ON reviews
  USING ((SELECT NOT vp_is_scoped_role()) OR venue_id = ANY ((SELECT vp_scope_venue_ids())::uuid[]));

ALTER TABLE favorites ENABLE ROW LEVEL SECURITY;
CREATE POLICY vp_venue_scope ON favorites
  USING ((SELECT NOT vp_is_scoped_role()) OR venue_id = ANY ((SELECT vp_scope_venue_ids())::uuid[]));

ALTER TABLE collection_venues ENABLE ROW LEVEL SECURITY;
CREATE POLICY vp_venue_scope ON collection_venues
  USING ((SELECT NOT vp_is_scoped_role()) OR venue_id = ANY ((SELECT vp_scope_venue_ids())::uuid[]));

-- Events without a venue (social events about people) are never shown to owners.
ALTER TABLE event_stream ENABLE ROW LEVEL SECURITY;
CREATE POLICY vp_venue_scope ON event_stream
  USING ((SELECT NOT vp_is_scoped_role()) OR venue_id = ANY ((SELECT vp_scope_venue_ids())::uuid[]));

ALTER TABLE venue_interactions ENABLE ROW LEVEL SECURITY;
CREATE POLICY vp_venue_scope ON venue_interactions
  USING ((SELECT NOT vp_is_scoped_role()) OR venue_id = ANY ((SELECT vp_scope_venue_ids())::uuid[]));

-- Owners see only the offer notifications of their venues (friend requests and the like are private).
ALTER TABLE notifications ENABLE ROW LEVEL SECURITY;
CREATE POLICY vp_venue_scope ON notifications
  USING ((SELECT NOT vp_is_scoped_role())
         OR (category = 'flash_offer' AND venue_id = ANY ((SELECT vp_scope_venue_ids())::uuid[])));

-- ---------------------------------------------------------------------------------------------------
-- Privacy: how a page may name an app user.
-- vp_user_label(user, feature) is the user's username when the user keeps both their profile and
-- `feature` ('check_ins', 'reviews', 'favorites', 'collections', 'activity_feed') public, NULL
-- otherwise (unknown feature, unknown user, private).  SECURITY DEFINER: owners cannot read users or
-- user_privacy themselves, so this is their only way to a name.
-- ---------------------------------------------------------------------------------------------------

CREATE FUNCTION vp_user_label(p_user uuid, p_feature text) RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT u.username::text
  FROM public.users u
  LEFT JOIN public.user_privacy up ON up.user_id = u.id
  WHERE u.id = p_user
    AND p_feature IN ('check_ins', 'reviews', 'favorites', 'collections', 'activity_feed', 'profile')
    AND coalesce(up.visibility ->> 'profile', 'public') = 'public'
    AND coalesce(up.visibility ->> p_feature,
                 CASE p_feature WHEN 'reviews' THEN 'public' WHEN 'profile' THEN 'public' ELSE 'friends' END)
        = 'public'
$$;
REVOKE ALL ON FUNCTION vp_user_label(uuid, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION vp_user_label(uuid, text) TO venuepulse_reader, venuepulse_owner;

-- ---------------------------------------------------------------------------------------------------
-- Dashboard accounts (separate schema; no dashboard role may read it directly)
-- ---------------------------------------------------------------------------------------------------

CREATE SCHEMA venuepulse_auth;
REVOKE ALL ON SCHEMA venuepulse_auth FROM PUBLIC;

CREATE TABLE venuepulse_auth.accounts (
  id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  username        varchar(64) NOT NULL UNIQUE
                  CHECK (username ~ '^[a-z0-9][a-z0-9._@-]*$'),
  display_name    varchar(100) NOT NULL DEFAULT '',
  -- the identity an OpenID Connect provider signs people in with (st.login), lower case
  email           varchar(254) UNIQUE CHECK (email = lower(email) AND email LIKE '%_@_%'),
  role            varchar(20) NOT NULL CHECK (role IN ('pm', 'engineer', 'venue_owner')),
  -- venue owners: the app user whose venue_owners rows are the venues this account sees
  app_user_id     uuid REFERENCES public.users(id) ON DELETE SET NULL,
  password_hash   text NOT NULL CHECK (password_hash LIKE '$argon2id$%'),
  failed_attempts integer NOT NULL DEFAULT 0 CHECK (failed_attempts >= 0),
  last_failed_at  timestamptz,
  locked_until    timestamptz,
  last_sign_in_at timestamptz,
  created_at      timestamptz NOT NULL DEFAULT now(),
  disabled        boolean NOT NULL DEFAULT false,
  CONSTRAINT accounts_only_owners_link_users CHECK (role = 'venue_owner' OR app_user_id IS NULL)
);

-- Sign-in throttling, enforced here so that every session and process shares it:
--   after n consecutive failures the next attempt is accepted only 2^(n-2) seconds after the last
--   failure (n >= 2: 1 s, 2 s, 4 s ...), and the 5th failure locks the account for 15 minutes.
CREATE FUNCTION venuepulse_auth.retry_delay(p_failures integer) RETURNS interval
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN p_failures < 2 THEN interval '0' ELSE make_interval(secs => power(2, least(p_failures - 2, 5))) END
$$;

-- Step 1 of a password sign-in: the account's hash and whether an attempt is allowed now.
-- `wait_seconds` > 0 means refuse without checking the password.  No row: unknown or disabled.
CREATE FUNCTION venuepulse_auth.sign_in_lookup(p_username text)
RETURNS TABLE (account_id bigint, password_hash text, wait_seconds double precision, locked boolean)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, venuepulse_auth AS $$
  SELECT a.id, a.password_hash,
         greatest(0, extract(epoch FROM
           CASE WHEN a.locked_until > now() THEN a.locked_until - now()
                ELSE a.last_failed_at + retry_delay(a.failed_attempts) - now() END))::double precision,
         coalesce(a.locked_until > now(), false)
  FROM accounts a
  WHERE a.username = lower(p_username) AND NOT a.disabled
$$;

-- Step 2: record the outcome.  A success resets the failures; a failure counts and may lock.
CREATE FUNCTION venuepulse_auth.sign_in_record(p_account bigint, p_success boolean,
                                               OUT failed_attempts integer, OUT locked_until timestamptz)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, venuepulse_auth AS $$
#variable_conflict use_column
BEGIN
  IF p_success THEN
    UPDATE accounts a SET failed_attempts = 0, last_failed_at = NULL, locked_until = NULL,
                          last_sign_in_at = now()
    WHERE a.id = p_account
    RETURNING a.failed_attempts, a.locked_until INTO failed_attempts, locked_until;
  ELSE
    UPDATE accounts a SET
      failed_attempts = CASE WHEN a.locked_until IS NOT NULL AND a.locked_until <= now() THEN 1
                             ELSE a.failed_attempts + 1 END,
      last_failed_at = now(),
      locked_until = CASE WHEN a.locked_until IS NOT NULL AND a.locked_until <= now() THEN NULL
                          WHEN a.failed_attempts + 1 >= 5 THEN now() + interval '15 minutes'
                          ELSE a.locked_until END
    WHERE a.id = p_account
    RETURNING a.failed_attempts, a.locked_until INTO failed_attempts, locked_until;
  END IF;
END;
$$;

-- Who a signed-in session is, re-read on every page run (a disabled or removed account is signed out
-- at once; an owner's venues follow venue_owners).  Never returns the hash.
CREATE FUNCTION venuepulse_auth.session_account(p_account bigint)
RETURNS TABLE (account_id bigint, username text, display_name text, role text, venue_ids uuid[])
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public, venuepulse_auth AS $$
  SELECT a.id, a.username::text, a.display_name::text, a.role::text,
         coalesce((SELECT array_agg(vo.venue_id ORDER BY vo.venue_id) FROM public.venue_owners vo
                   WHERE a.role = 'venue_owner' AND vo.user_id = a.app_user_id), ARRAY[]::uuid[])
  FROM accounts a
  WHERE a.id = p_account AND NOT a.disabled
$$;

-- OpenID Connect: the account an identity provider's e-mail maps to.
CREATE FUNCTION venuepulse_auth.account_id_for_email(p_email text) RETURNS bigint
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, venuepulse_auth AS $$
  SELECT a.id FROM accounts a WHERE a.email = lower(p_email) AND NOT a.disabled
$$;

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA venuepulse_auth FROM PUBLIC;
GRANT USAGE ON SCHEMA venuepulse_auth TO venuepulse_signin;
GRANT EXECUTE ON FUNCTION venuepulse_auth.sign_in_lookup(text), venuepulse_auth.sign_in_record(bigint, boolean),
                          venuepulse_auth.session_account(bigint), venuepulse_auth.account_id_for_email(text)
  TO venuepulse_signin;
