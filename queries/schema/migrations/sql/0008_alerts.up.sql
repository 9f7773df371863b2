-- Alerts and delivery (issue 16; docs/alerts.md): rules, their state per subject, the transitions' history,
-- channels, and a durable outbox of notifications with every delivery attempt.
--
-- Grants: these public tables are readable by venuepulse_reader (the pm and engineer dashboard) through the
-- default privileges of 0004 and the explicit grant below; venue owners' role gets nothing here.  Channel
-- secrets (webhook URLs, signing secrets, SMTP passwords) live in schema venuepulse_secrets, on which no
-- dashboard role has USAGE: only the migrating role (jobs and the CLI) reads them.

-- ---------------------------------------------------------------------------------------------------
-- Channels: where notifications go.  `settings` holds nothing secret (format, timeouts, SMTP host, port,
-- TLS mode, user name, sender, recipients, and `target`, a redacted description for people).
-- ---------------------------------------------------------------------------------------------------

CREATE TABLE alert_channels (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name        varchar(64) NOT NULL UNIQUE CHECK (name ~ '^[a-z0-9][a-z0-9_.-]*$'),
  kind        varchar(10) NOT NULL CHECK (kind IN ('webhook', 'email')),
  settings    jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(settings) = 'object'),
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE SCHEMA venuepulse_secrets;
REVOKE ALL ON SCHEMA venuepulse_secrets FROM PUBLIC;

CREATE TABLE venuepulse_secrets.channel_secrets (
  channel_id  bigint PRIMARY KEY REFERENCES public.alert_channels(id) ON DELETE CASCADE,
  secrets     jsonb NOT NULL CHECK (jsonb_typeof(secrets) = 'object')
);
REVOKE ALL ON venuepulse_secrets.channel_secrets FROM PUBLIC;

-- ---------------------------------------------------------------------------------------------------
-- Rules.  `params` are the kind's thresholds and windows, validated by queries/ops/alerts.py before they
-- are stored (the CHECKs here are the last line, not the messages people read).
-- ---------------------------------------------------------------------------------------------------

CREATE TABLE alert_rules (
  id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name            varchar(64) NOT NULL UNIQUE CHECK (name ~ '^[a-z0-9][a-z0-9_.-]*$'),
  kind            varchar(40) NOT NULL CHECK (kind IN (
                    'query_p95_regression', 'new_slow_query', 'job_failed', 'job_not_run', 'counter_drift',
                    'stale_data', 'partitions_ahead', 'offer_conversion_drop', 'custom_sql')),
  params          jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(params) = 'object'),
  severity        varchar(10) NOT NULL DEFAULT 'warning' CHECK (severity IN ('info', 'warning', 'critical')),
  pending_for     interval NOT NULL DEFAULT '0' CHECK (pending_for >= interval '0'),
  keep_firing_for interval NOT NULL DEFAULT '0' CHECK (keep_firing_for >= interval '0'),
  description     text NOT NULL DEFAULT '',
  muted_until     timestamptz,
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now(),
  -- the last evaluation of the rule as a whole (a rule whose query fails keeps its states and says why)
  last_evaluated_at timestamptz,
  last_error      text
);

-- Where a rule's notifications go; a rule without rows here notifies every channel.
CREATE TABLE alert_rule_channels (
  rule_id     bigint NOT NULL REFERENCES alert_rules(id) ON DELETE CASCADE,
  channel_id  bigint NOT NULL REFERENCES alert_channels(id) ON DELETE RESTRICT,
  PRIMARY KEY (rule_id, channel_id)
);
CREATE INDEX idx_alert_rule_channels_channel ON alert_rule_channels (channel_id);

-- ---------------------------------------------------------------------------------------------------
-- State per rule and subject (a query name, a job, a venue; '' for rules without subjects):
--   ok -> pending (condition true) -> firing (true for pending_for) -> resolved (false for keep_firing_for)
--   pending -> ok when the condition clears before pending_for; resolved -> pending when it returns.
-- `episode` counts the firings of this subject: a notification's idempotency key carries it, so one
-- transition can never be written to the outbox twice, whatever evaluates it.
-- ---------------------------------------------------------------------------------------------------

CREATE TABLE alert_states (
  rule_id        bigint NOT NULL REFERENCES alert_rules(id) ON DELETE CASCADE,
  subject        text NOT NULL DEFAULT '',
  state          varchar(10) NOT NULL CHECK (state IN ('ok', 'pending', 'firing', 'resolved')),
  since          timestamptz NOT NULL,        -- when it entered this state
  active_since   timestamptz,                 -- first true evaluation of the current streak
  last_true_at   timestamptz,                 -- latest evaluation that found the condition true
  firing_since   timestamptz,
  resolved_at    timestamptz,
  episode        integer NOT NULL DEFAULT 0 CHECK (episode >= 0),
  value          jsonb NOT NULL DEFAULT '{}'::jsonb,
  summary        text NOT NULL DEFAULT '',
  evaluated_at   timestamptz NOT NULL,
  PRIMARY KEY (rule_id, subject)
);
CREATE INDEX idx_alert_states_firing ON alert_states (rule_id) WHERE state = 'firing';

-- Every transition, kept after its rule is removed (rule_name stays).
CREATE TABLE alert_events (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  rule_id     bigint REFERENCES alert_rules(id) ON DELETE SET NULL,
  rule_name   varchar(64) NOT NULL,
  rule_kind   varchar(40) NOT NULL,
  severity    varchar(10) NOT NULL,
  subject     text NOT NULL,
  from_state  varchar(10) NOT NULL,
  to_state    varchar(10) NOT NULL,
  episode     integer NOT NULL,
  at          timestamptz NOT NULL,
  value       jsonb NOT NULL DEFAULT '{}'::jsonb,
  summary     text NOT NULL DEFAULT '',
  notified    boolean NOT NULL DEFAULT false,   -- written to the outbox (false: pending, muted, no channel)
  recorded_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX idx_alert_events_at ON alert_events (at DESC, id DESC);
CREATE INDEX idx_alert_events_rule ON alert_events (rule_id, at DESC);

-- ---------------------------------------------------------------------------------------------------
-- The outbox: one row per notification and channel, written in the transaction that records the state
-- change (or, for other producers such as reports, in theirs), delivered afterwards in id order per
-- channel.  `idempotency_key` is unique: producers insert with ON CONFLICT DO NOTHING, and receivers
-- get it with every attempt (X-VenuePulse-Delivery, the e-mail's Message-ID) to drop a repeat.
--   status  pending: waiting or being retried   delivered   failed: given up (see last_error)
--           dropped: its channel was removed before delivery
-- ---------------------------------------------------------------------------------------------------

CREATE TABLE notification_outbox (
  id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  idempotency_key text NOT NULL UNIQUE,
  channel_id      bigint REFERENCES alert_channels(id) ON DELETE SET NULL,
  channel_name    varchar(64) NOT NULL,
  source          varchar(20) NOT NULL CHECK (source IN ('alert', 'test', 'report')),
  event_id        bigint REFERENCES alert_events(id) ON DELETE SET NULL,
  rule_id         bigint REFERENCES alert_rules(id) ON DELETE SET NULL,
  subject         text NOT NULL DEFAULT '',
  transition      varchar(10) CHECK (transition IN ('firing', 'resolved')),
  payload         jsonb NOT NULL CHECK (jsonb_typeof(payload) = 'object'),
  created_at      timestamptz NOT NULL,
  status          varchar(10) NOT NULL DEFAULT 'pending'
                  CHECK (status IN ('pending', 'delivered', 'failed', 'dropped')),
  attempts        integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  next_attempt_at timestamptz NOT NULL,
  last_error      text,
  delivered_at    timestamptz
);
CREATE INDEX idx_outbox_pending ON notification_outbox (channel_id, id) WHERE status = 'pending';
CREATE INDEX idx_outbox_created ON notification_outbox (created_at DESC, id DESC);

-- Every attempt, written before the send (finished_at NULL: the process stopped during it) and completed
-- after.  `error` never holds a secret (the sender scrubs them).
CREATE TABLE notification_attempts (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  outbox_id    bigint NOT NULL REFERENCES notification_outbox(id) ON DELETE CASCADE,
  attempt      integer NOT NULL CHECK (attempt > 0),
  worker       text NOT NULL DEFAULT '',
  started_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
  finished_at  timestamptz,
  ok           boolean,
  status_code  integer,
  error        text,
  UNIQUE (outbox_id, attempt)
);
CREATE INDEX idx_attempts_started ON notification_attempts (started_at DESC);

GRANT SELECT ON alert_channels, alert_rules, alert_rule_channels, alert_states, alert_events,
                notification_outbox, notification_attempts TO venuepulse_reader;
