-- Owners' weekly report (issue 17; docs/dashboard-engagement-offers.md): who wants it, and what each week's run did for each owner.
--
-- Subscriptions hold e-mail addresses, so they live beside the accounts in venuepulse_auth, which no dashboard
-- role may read: the dashboard changes them only through the SECURITY DEFINER functions below, on the
-- sign-in role's connection (the only dashboard role that writes, narrowly), for the signed-in owner's
-- account.  The report itself is built through the owners' row-level-security role (queries/ops/owner_reports.py)
-- and sent through the alerts' outbox (0008).

CREATE TABLE venuepulse_auth.report_subscriptions (
  account_id  bigint PRIMARY KEY REFERENCES venuepulse_auth.accounts(id) ON DELETE CASCADE,
  email       varchar(254) NOT NULL CHECK (email = lower(email) AND email ~ '^[^@[:space:]]+@[^@[:space:]]+$'),
  active      boolean NOT NULL DEFAULT true,
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now()
);
REVOKE ALL ON venuepulse_auth.report_subscriptions FROM PUBLIC;

-- One row per owner and reported week (Monday 00:00 UTC to the next), whatever the run did with it:
-- queued (its outbox row is outbox_id; the outbox says whether it was delivered) or skipped (reason).
-- The unique (account, week) is what makes two schedulers running the job at once write one report: the
-- row and its outbox row are written in one transaction, and the second writer finds the row there.
CREATE TABLE owner_reports (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  account_id  bigint NOT NULL REFERENCES venuepulse_auth.accounts(id) ON DELETE CASCADE,
  week_start  date NOT NULL CHECK (extract(isodow FROM week_start) = 1),
  status      varchar(10) NOT NULL CHECK (status IN ('queued', 'skipped')),
  reason      text NOT NULL DEFAULT '',
  offers      integer NOT NULL DEFAULT 0 CHECK (offers >= 0),
  outbox_id   bigint REFERENCES notification_outbox(id) ON DELETE SET NULL,
  job_run_id  bigint,
  created_at  timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT owner_reports_once_per_week UNIQUE (account_id, week_start),
  CONSTRAINT owner_reports_only_queued_have_mail CHECK (status = 'queued' OR outbox_id IS NULL)
);
CREATE INDEX idx_owner_reports_outbox ON owner_reports (outbox_id);

-- The signed-in owner's subscription (no row: the account is not an enabled venue owner).
CREATE FUNCTION venuepulse_auth.report_subscription(p_username text)
RETURNS TABLE (account_email text, email text, active boolean, updated_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, venuepulse_auth AS $$
  SELECT a.email::text, s.email::text, coalesce(s.active, false), s.updated_at
  FROM accounts a LEFT JOIN report_subscriptions s ON s.account_id = a.id
  WHERE a.username = lower(p_username) AND a.role = 'venue_owner' AND NOT a.disabled
$$;

-- Subscribe (p_active: the address is required) or unsubscribe (the address is kept for next time).
-- Refusals start with their reason word: not_owner, bad_email.
CREATE FUNCTION venuepulse_auth.set_report_subscription(p_username text, p_email text, p_active boolean)
RETURNS TABLE (email text, active boolean, updated_at timestamptz)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, venuepulse_auth AS $$
#variable_conflict use_column
DECLARE
  v_account bigint;
  v_email text := lower(btrim(p_email));
BEGIN
  SELECT a.id INTO v_account FROM accounts a
  WHERE a.username = lower(p_username) AND a.role = 'venue_owner' AND NOT a.disabled;
  IF v_account IS NULL THEN
    RAISE EXCEPTION 'not_owner: only an enabled venue-owner account has a weekly report';
  END IF;
  IF p_active THEN
    IF v_email IS NULL OR length(v_email) > 254 OR v_email !~ '^[^@[:space:]]+@[^@[:space:]]+$' THEN
      RAISE EXCEPTION 'bad_email: the weekly report needs an e-mail address';
    END IF;
    INSERT INTO report_subscriptions (account_id, email, active) VALUES (v_account, v_email, true)
    ON CONFLICT (account_id) DO UPDATE SET email = EXCLUDED.email, active = true, updated_at = now();
  ELSE
    UPDATE report_subscriptions s SET active = false, updated_at = now()
    WHERE s.account_id = v_account AND s.active;
  END IF;
  RETURN QUERY SELECT s.email::text, s.active, s.updated_at FROM report_subscriptions s WHERE s.account_id = v_account;
END;
$$;

-- The signed-in owner's last reports, with what the outbox did with each.
CREATE FUNCTION venuepulse_auth.report_history(p_username text, p_limit integer)
RETURNS TABLE (week_start date, status text, reason text, offers integer, delivery text, delivered_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public, venuepulse_auth AS $$
  SELECT r.week_start, r.status::text, r.reason, r.offers, o.status::text, o.delivered_at
  FROM public.owner_reports r
  JOIN accounts a ON a.id = r.account_id
  LEFT JOIN public.notification_outbox o ON o.id = r.outbox_id
  WHERE a.username = lower(p_username) AND a.role = 'venue_owner'
  ORDER BY r.week_start DESC
  LIMIT least(greatest(coalesce(p_limit, 8), 1), 52)
$$;

REVOKE ALL ON FUNCTION venuepulse_auth.report_subscription(text), venuepulse_auth.set_report_subscription(text, text, boolean),
                       venuepulse_auth.report_history(text, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION venuepulse_auth.report_subscription(text),
                          venuepulse_auth.set_report_subscription(text, text, boolean),
                          venuepulse_auth.report_history(text, integer) TO venuepulse_signin;
