"""Alert rules and channels, and their evaluation (docs/alerts.md).

- **Rules** (``alert_rules``) have a kind, per-rule parameters (thresholds, windows), a pending period, a
  keep-firing period, a severity and the channels they notify (none named: every channel). Everything is
  validated here before anything is written; a refusal is an :class:`AlertConfigError` naming the field, and
  nothing changes.
- **Evaluation** (:func:`evaluate`, the ``evaluate_alerts`` job) takes a session advisory lock (a second
  evaluator skips), observes each rule's condition at ``now`` (one instant for the whole run, never the
  clock inside a query), then per rule, in one transaction, moves each subject's state (:func:`step`),
  records the transition in ``alert_events`` and writes its notifications to the outbox. A notification's
  idempotency key is (rule, subject, episode, transition), unique in the outbox: one transition can never be
  notified twice, whatever runs it.
- **Channels** (``alert_channels``) keep their secrets in ``venuepulse_secrets.channel_secrets``, which no
  dashboard role can read; nothing here returns, prints or logs a secret.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
import secrets as _secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from venuepulse.durations import format_duration, parse_duration
from venuepulse.errors import ConfigError, VenuePulseError
from venuepulse.queries.core.execute import execute, sql_statement
from venuepulse.queries.core.runner import Database
from venuepulse.queries.ops import delivery, outbox
from venuepulse.queries.ops.job_runs import dedicated_connection, jsonb, run_on

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
SEVERITIES = ("info", "warning", "critical")
CUSTOM_SQL_TIMEOUT_MS = 10_000
MAX_SQL = 20_000


class AlertConfigError(ConfigError):
    """A rule or channel refused; ``field`` names what was wrong. Nothing was changed."""

    def __init__(self, field_name: str, message: str):
        self.field = field_name
        super().__init__(f"{field_name}: {message}; nothing was changed")


# -- parameters of the built-in kinds ----------------------------------------------------------------------


@dataclass(frozen=True)
class Param:
    name: str
    type: str  # duration (stored in seconds), number, int, text, names, choice, jobs, sql
    default: Any = None
    required: bool = False
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    help: str = ""


@dataclass(frozen=True)
class Kind:
    name: str
    condition: str  # the exact condition, as docs/alerts.md and `alerts list --kinds` print it
    params: tuple[Param, ...]
    pages: tuple[str, ...]  # dashboard pages whose banner shows it firing

    def param(self, name: str) -> Param | None:
        return next((p for p in self.params if p.name == name), None)


KINDS: dict[str, Kind] = {k.name: k for k in (
    Kind("query_p95_regression",
         "per query name: p95 over [now − window, now) is more than factor × the p95 of the baseline — the "
         "previous window [now − 2·window, now − window) and/or the same window a week earlier — with at least "
         "min_calls runs in both",
         (Param("window", "duration", 900, minimum=60), Param("factor", "number", 1.5, minimum=1.0),
          Param("min_calls", "int", 20, minimum=1),
          Param("baseline", "choice", "either", choices=("previous", "week", "either")),
          Param("queries", "names", None, help="only these query names")),
         ("query_performance",)),
    Kind("new_slow_query",
         "per query name: first recorded within [now − window, now) (never before, raw log or rollup), with at "
         "least min_calls runs and a p95 of at least min_p95_ms",
         (Param("window", "duration", 3600, minimum=60), Param("min_p95_ms", "number", 500, minimum=0),
          Param("min_calls", "int", 1, minimum=1)),
         ("query_performance",)),
    Kind("job_failed",
         "per job: its latest finished run (succeeded or failed) started before now failed",
         (Param("jobs", "names", None, help="only these jobs"),),
         ("jobs_health",)),
    Kind("job_not_run",
         "per job: no run (running, succeeded or failed; skipped runs do not count) started in "
         "(now − within, now]; within defaults to twice the job's interval plus its grace time",
         (Param("jobs", "jobs", None, required=True),),
         ("jobs_health",)),
    Kind("counter_drift",
         "per drift kind: reconcile_counters recorded at least min_rows drifted numbers in [now − window, now)",
         (Param("window", "duration", 3600, minimum=60), Param("min_rows", "int", 1, minimum=1)),
         ("jobs_health",)),
    Kind("stale_data",
         "target venue_stats: the view was never populated, or max(refreshed_at) < now − max_age; target "
         "rollups: per consumer, folded_at is NULL or < now − max_age",
         (Param("target", "choice", "venue_stats", choices=("venue_stats", "rollups")),
          Param("max_age", "duration", 900, minimum=60)),
         ("jobs_health", "venues")),
    Kind("partitions_ahead",
         "per partitioned table: whole periods covered without a gap after the current one (at now) is below "
         "min_ahead (default: the table's partition_policies.ahead)",
         (Param("min_ahead", "int", None, minimum=0, maximum=120),),
         ("jobs_health",)),
    Kind("offer_conversion_drop",
         "per venue with at least min_views distinct users viewing its offers (flash_offer_view events) in "
         "[now − window, now): the distinct users who claimed one of its offers in that window ÷ those viewers is "
         "below min_rate, or below below_usual × the same ratio over [now − window − usual, now − window) (when "
         "that period also had min_views viewers)",
         (Param("window", "duration", 86400, minimum=3600), Param("usual", "duration", 28 * 86400, minimum=3600),
          Param("min_views", "int", 20, minimum=1),
          Param("min_rate", "number", None, minimum=0, maximum=1),
          Param("below_usual", "number", None, minimum=0, maximum=1)),
         ("offers",)),
    Kind("custom_sql",
         "the rule's SELECT returns at least one row (run in a READ ONLY transaction with a 10 s timeout); a "
         "column named subject makes one alert per distinct value, a column named summary describes it",
         (Param("sql", "sql", None, required=True),),
         ()),
)}


def _bad(field_name: str, message: str) -> AlertConfigError:
    return AlertConfigError(field_name, message)


def check_name(value: Any, field_name: str = "name") -> str:
    text = str(value or "").strip()
    if not NAME_RE.fullmatch(text):
        raise _bad(field_name, f"{text[:70]!r} is not a name of 1 to 64 characters a-z, 0-9, '_', '.', '-' "
                               "starting with a letter or digit")
    return text


def _duration_s(field_name: str, value: Any) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    else:
        try:
            seconds = parse_duration(str(value), default_unit="s").total_seconds()
        except ValueError as exc:
            raise _bad(field_name, str(exc)) from None
    if seconds != seconds or seconds < 0 or seconds > 366 * 86400:
        raise _bad(field_name, "must be between 0 and 366 days")
    return seconds


def _number(field_name: str, value: Any, integer: bool) -> float | int:
    try:
        number = float(value)
        if integer:
            if number != int(number):
                raise ValueError
            number = int(number)
    except (TypeError, ValueError, OverflowError):
        raise _bad(field_name, f"{str(value)[:40]!r} is not {'a whole number' if integer else 'a number'}") from None
    if number != number:
        raise _bad(field_name, "is not a number")
    return number


def _param_value(p: Param, value: Any) -> Any:
    if p.type == "duration":
        v: Any = _duration_s(p.name, value)
    elif p.type in ("number", "int"):
        v = _number(p.name, value, p.type == "int")
    elif p.type == "choice":
        v = str(value).strip()
        if v not in p.choices:
            raise _bad(p.name, f"{v[:40]!r} is not one of {', '.join(p.choices)}")
        return v
    elif p.type == "names":
        items = [value] if isinstance(value, str) else list(value or [])
        v = [str(i).strip() for i in items if str(i).strip()]
        if not v:
            raise _bad(p.name, "names nothing")
        for item in v:
            if not re.fullmatch(r"[A-Za-z0-9_.:-]{1,200}", item):
                raise _bad(p.name, f"{item[:40]!r} is not a name")
        return sorted(set(v))
    elif p.type == "jobs":
        if not isinstance(value, Mapping) or not value:
            raise _bad(p.name, "needs at least one job with its time limit")
        out = {}
        for job, within in value.items():
            if not re.fullmatch(r"[a-z0-9_]{1,100}", str(job)):
                raise _bad(p.name, f"{str(job)[:40]!r} is not a job name")
            seconds = _duration_s(f"{p.name}.{job}", within)
            if seconds < 60:
                raise _bad(f"{p.name}.{job}", "must be at least 60 seconds")
            out[str(job)] = seconds
        return out
    elif p.type == "sql":
        return check_sql(value)
    else:  # text
        return str(value)
    if p.minimum is not None and v < p.minimum:
        raise _bad(p.name, f"must be at least {p.minimum:g}{' seconds' if p.type == 'duration' else ''}")
    if p.maximum is not None and v > p.maximum:
        raise _bad(p.name, f"must be at most {p.maximum:g}")
    return v


def check_sql(value: Any) -> str:
    """A custom rule's SQL: one SELECT (or WITH … SELECT) statement without placeholders."""
    sql = str(value or "").strip().rstrip(";").strip()
    if not sql:
        raise _bad("sql", "is empty")
    if len(sql) > MAX_SQL:
        raise _bad("sql", f"is longer than {MAX_SQL} characters")
    if ";" in sql:
        raise _bad("sql", "must be one statement (no ';' inside)")
    if not re.match(r"(?is)^(select|with)\b", sql):
        raise _bad("sql", "must be a SELECT (or WITH … SELECT) query")
    if "%(" in sql or "%s" in sql:
        raise _bad("sql", "takes no parameters (write now() for the current time)")
    return sql


def check_params(kind: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """The kind's parameters, defaults filled in and values normalized (durations in seconds)."""
    spec = KINDS.get(kind)
    if spec is None:
        raise _bad("kind", f"{str(kind)[:40]!r} is not a rule kind; kinds are {', '.join(KINDS)}")
    unknown = sorted(set(params) - {p.name for p in spec.params})
    if unknown:
        takes = ", ".join(p.name for p in spec.params) or "nothing"
        raise _bad(unknown[0], f"does not apply to kind {kind} (it takes {takes})")
    out: dict[str, Any] = {}
    for p in spec.params:
        value = params.get(p.name)
        if value is None:
            if p.required:
                raise _bad(p.name, f"is required for kind {kind}")
            if p.default is not None:
                out[p.name] = p.default
            continue
        out[p.name] = _param_value(p, value)
    if kind == "offer_conversion_drop" and out.get("min_rate") is None and out.get("below_usual") is None:
        raise _bad("min_rate", "offer_conversion_drop needs min_rate, below_usual or both")
    return out


@dataclass(frozen=True)
class RuleSpec:
    name: str
    kind: str
    params: dict[str, Any]
    severity: str = "warning"
    pending_s: float = 0.0
    keep_firing_s: float = 0.0
    channels: tuple[str, ...] = ()
    description: str = ""


def check_rule(name: Any, kind: Any, params: Mapping[str, Any] | None = None, *, severity: Any = "warning",
               pending: Any = 0, keep_firing: Any = 0, channels: Iterable[Any] = (),
               description: Any = "") -> RuleSpec:
    """Validate a rule without touching the database (see :func:`add_rule` for what needs it)."""
    name = check_name(name)
    params = check_params(str(kind or ""), dict(params or {}))
    severity = str(severity or "").strip()
    if severity not in SEVERITIES:
        raise _bad("severity", f"{severity[:20]!r} is not one of {', '.join(SEVERITIES)}")
    pending_s = _duration_s("pending", pending)
    keep_s = _duration_s("keep_firing", keep_firing)
    chans = tuple(sorted({check_name(c, "channel") for c in channels}))
    description = str(description or "")
    if len(description) > 500:
        raise _bad("description", "is longer than 500 characters")
    return RuleSpec(name, str(kind), params, severity, pending_s, keep_s, chans, description)


# -- rules in the database ---------------------------------------------------------------------------------


def _try_custom_sql(conn: psycopg.Connection, name: str, sql: str) -> list[dict[str, Any]]:
    """Run a custom rule's SELECT in a READ ONLY transaction that is rolled back; its rows."""
    stmt = sql_statement(f"alert_rule.{_label(name)}", sql, kind="read", timeout_ms=CUSTOM_SQL_TIMEOUT_MS)
    with conn.transaction(force_rollback=True):
        run_on(conn, "alerts.read_only")
        return execute(conn, stmt)


def _label(name: str) -> str:
    return re.sub(r"[^a-z0-9_]", "_", name)


def add_rule(db: Database, spec: RuleSpec) -> int:
    """Store a validated rule; refuses (AlertConfigError, nothing written) a taken name, an unknown channel
    or custom SQL that does not run read-only."""
    with db.connection() as conn:
        if run_on(conn, "alerts.rules", {"name": spec.name}):
            raise _bad("name", f"a rule named {spec.name!r} exists already (remove it first)")
        if spec.channels:
            known = {r["name"] for r in run_on(conn, "alerts.channel_names", {"names": list(spec.channels)})}
            missing = [c for c in spec.channels if c not in known]
            if missing:
                raise _bad("channel", f"there is no channel named {missing[0]!r} "
                                      "(add it with 'venuepulse alerts channel add')")
        conn.commit()
        if spec.kind == "custom_sql":
            try:
                _try_custom_sql(conn, spec.name, spec.params["sql"])
            except VenuePulseError as exc:
                detail = getattr(exc, "detail", None) or str(exc)
                raise _bad("sql", f"does not run read-only: {detail}") from None
        with conn.transaction():
            try:
                rule_id = run_on(conn, "alerts.insert_rule", {
                    "name": spec.name, "kind": spec.kind, "params": jsonb(spec.params), "severity": spec.severity,
                    "pending_s": spec.pending_s, "keep_s": spec.keep_firing_s,
                    "description": spec.description})[0]["id"]
            except VenuePulseError as exc:
                if "alert_rules_name_key" in str(exc):
                    raise _bad("name", f"a rule named {spec.name!r} exists already") from None
                raise
            if spec.channels:
                routed = run_on(conn, "alerts.route_rule", {"rule_id": rule_id, "channels": list(spec.channels)})
                if len(routed) != len(spec.channels):
                    raise _bad("channel", "a channel was removed while the rule was added")
    return rule_id


def list_rules(db: Database, name: str | None = None) -> list[dict[str, Any]]:
    return db.run("alerts.rules", {"name": name})


def remove_rule(db: Database, name: str) -> None:
    if not db.run("alerts.delete_rule", {"name": name}):
        raise _bad("name", f"there is no rule named {name!r}")


def mute_rule(db: Database, name: str, until: datetime | None) -> datetime | None:
    """Mute rule ``name`` until ``until`` (None: unmute). Muted rules keep evaluating and recording their
    transitions; they write no notifications."""
    rows = db.run("alerts.mute_rule", {"name": name, "until": until})
    if not rows:
        raise _bad("name", f"there is no rule named {name!r}")
    return rows[0]["muted_until"]


# -- channels ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChannelSpec:
    name: str
    kind: str
    settings: dict[str, Any]
    secrets: dict[str, str] = field(repr=False)

    def __repr__(self) -> str:  # never the secrets
        return f"ChannelSpec({self.name!r}, {self.kind!r}, {self.settings!r})"


def check_webhook(name: Any, url: Any, *, fmt: str = "json", signing_secret: str | None = None,
                  timeout_s: Any = delivery.DEFAULT_TIMEOUT_S, give_up_after: Any = None) -> ChannelSpec:
    """A webhook channel. Without ``signing_secret`` a random one is made (keep your own to verify)."""
    name = check_name(name)
    try:
        url = delivery.check_webhook_url(str(url or ""))
    except ValueError as exc:
        raise _bad("url", str(exc)) from None
    if fmt not in delivery.WEBHOOK_FORMATS:
        raise _bad("format", f"{str(fmt)[:20]!r} is not one of {', '.join(delivery.WEBHOOK_FORMATS)}")
    if signing_secret is not None and len(signing_secret) < 16:
        raise _bad("signing_secret", "must be at least 16 characters")
    settings = {"format": fmt, "target": delivery.describe_url(url), **_common_settings(timeout_s, give_up_after)}
    return ChannelSpec(name, "webhook", settings,
                       {"url": url, "signing_secret": signing_secret or _secrets.token_urlsafe(32)})


def check_email(name: Any, *, host: Any, port: Any = None, tls: str = "starttls", username: str | None = None,
                password: str | None = None, sender: Any = None, to: Iterable[Any] = (), ca_file: str | None = None,
                timeout_s: Any = delivery.DEFAULT_TIMEOUT_S, give_up_after: Any = None) -> ChannelSpec:
    name = check_name(name)
    host = str(host or "").strip()
    if not re.fullmatch(r"[A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]+\]", host):
        raise _bad("host", f"{host[:60]!r} is not a host name")
    if tls not in delivery.TLS_MODES:
        raise _bad("tls", f"{str(tls)[:20]!r} is not one of {', '.join(delivery.TLS_MODES)}")
    port_n = _number("port", port if port is not None else (465 if tls == "tls" else 587), integer=True)
    if not 1 <= port_n <= 65535:
        raise _bad("port", "must be from 1 to 65535")
    if username and not password:
        raise _bad("password", "is required with a user name")
    if password and not username:
        raise _bad("username", "is required with a password")
    email_re = r"[^@\s<>,;]+@[^@\s<>,;]+\.?[^@\s<>,;]*"
    sender = str(sender or "").strip()
    if not re.fullmatch(email_re, sender):
        raise _bad("from", f"{sender[:60]!r} is not an e-mail address")
    recipients = [str(t).strip() for t in to if str(t).strip()]
    if not recipients:
        raise _bad("to", "names no recipient")
    for t in recipients:
        if not re.fullmatch(email_re, t):
            raise _bad("to", f"{t[:60]!r} is not an e-mail address")
    settings: dict[str, Any] = {"host": host, "port": port_n, "tls": tls, "from": sender, "to": recipients,
                                "target": f"{host}:{port_n} → {', '.join(recipients)}",
                                **_common_settings(timeout_s, give_up_after)}
    if username:
        settings["username"] = str(username)
    if ca_file:
        settings["ca_file"] = str(ca_file)
    return ChannelSpec(name, "email", settings, {"password": password} if password else {})


def _common_settings(timeout_s: Any, give_up_after: Any) -> dict[str, Any]:
    timeout = _duration_s("timeout", timeout_s)
    if not 0.1 <= timeout <= 120:
        raise _bad("timeout", "must be between 0.1 and 120 seconds")
    out: dict[str, Any] = {"timeout_s": timeout}
    if give_up_after is not None:
        give_up = _duration_s("give_up_after", give_up_after)
        if give_up < 60:
            raise _bad("give_up_after", "must be at least 60 seconds")
        out["give_up_after_s"] = give_up
    return out


def add_channel(db: Database, spec: ChannelSpec) -> int:
    """Store a validated channel and its secrets in one transaction."""
    with db.connection() as conn, conn.transaction():
        if run_on(conn, "alerts.channel_names", {"names": [spec.name]}):
            raise _bad("name", f"a channel named {spec.name!r} exists already (remove it first)")
        channel_id = run_on(conn, "alerts.insert_channel", {"name": spec.name, "kind": spec.kind,
                                                            "settings": jsonb(spec.settings)})[0]["id"]
        run_on(conn, "alerts.insert_channel_secrets", {"channel_id": channel_id, "secrets": jsonb(spec.secrets)})
    return channel_id


def list_channels(db: Database, name: str | None = None) -> list[dict[str, Any]]:
    """Channels with their settings (no secrets: they are not even read), rules and pending notifications."""
    return db.run("alerts.channels", {"name": name})


def remove_channel(db: Database, name: str) -> int:
    """Remove a channel (its undelivered notifications are dropped); refused while a rule names it."""
    found = list_channels(db, name)
    if not found:
        raise _bad("name", f"there is no channel named {name!r}")
    if found[0]["rules"]:
        raise _bad("name", f"rules {', '.join(found[0]['rules'])} send to {name!r}: remove them or add them "
                           "again without it first")
    rows = db.run("alerts.delete_channel", {"name": name})
    return int(rows[0]["dropped"]) if rows else 0


def send_test(db: Database, channel: str, now: datetime | None = None) -> dict[str, Any]:
    """Write a test notification for ``channel`` to the outbox and deliver that channel now.

    Returns the test row's outbox status (``delivered``, or ``pending`` with ``last_error``).
    """
    found = list_channels(db, channel)
    if not found:
        raise _bad("channel", f"there is no channel named {channel!r}")
    now = now or datetime.now(UTC)
    key = f"test:{found[0]['id']}:{now.isoformat()}:{_secrets.token_hex(4)}"
    message = delivery.Message(key, f"[TEST] VenuePulse channel {channel}",
                               f"A test notification from VenuePulse to channel {channel}, sent {now:%Y-%m-%d %H:%M:%S} UTC.",
                               data={"source": "test", "channel": channel, "at": now.isoformat()})
    with db.connection() as conn:
        outbox_id = outbox.enqueue(conn, key=key, channel_id=found[0]["id"], message=message, source="test",
                                   at=now)
    report = outbox.deliver(db, now=now, channel=channel)
    row = outbox.status(db, [outbox_id])[0]
    row["report"] = report
    return row


# -- observing conditions ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Observation:
    """The condition holds for ``subject`` now; ``summary`` says how, ``value`` holds the numbers."""

    subject: str
    summary: str
    value: dict[str, Any] = field(default_factory=dict)


def _fmt_ms(v: Any) -> str:
    return "–" if v is None else f"{float(v):,.1f} ms"


def _plain(row: Mapping[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(dict(row), default=str))


def observe(conn: psycopg.Connection, rule: Mapping[str, Any], now: datetime) -> list[Observation]:
    """The subjects for which ``rule``'s condition holds at ``now`` (raises VenuePulseError if it cannot tell)."""
    p = rule["params"]
    kind = rule["kind"]
    if kind == "query_p95_regression":
        rows = run_on(conn, "performance.regressions", {"now": now, "window": timedelta(seconds=p["window"]),
                                                        "min_calls": p["min_calls"], "factor": p["factor"]})
        want = {"previous": ("slower_than_previous",), "week": ("slower_than_week_ago",),
                "either": ("slower_than_previous", "slower_than_week_ago")}[p.get("baseline", "either")]
        out = []
        for r in rows:
            if p.get("queries") and r["query_name"] not in p["queries"]:
                continue
            if not any(r[w] for w in want):
                continue
            base = ("previous window", r["prev_p95_ms"], r["vs_previous"]) if r["slower_than_previous"] and \
                "slower_than_previous" in want else ("same window a week ago", r["week_p95_ms"], r["vs_week_ago"])
            out.append(Observation(r["query_name"],
                                   f"p95 {_fmt_ms(r['p95_ms'])} over the last {format_duration(p['window'])} "
                                   f"({r['calls']} calls), {float(base[2]):.1f}× the {base[0]} ({_fmt_ms(base[1])})",
                                   _plain(r)))
        return out
    if kind == "new_slow_query":
        rows = run_on(conn, "performance.new_queries", {"now": now, "window": timedelta(seconds=p["window"])})
        return [Observation(r["query_name"], f"new query, first seen {r['first_seen']:%Y-%m-%d %H:%M} UTC: "
                                             f"p95 {_fmt_ms(r['p95_ms'])} over {r['calls']} calls", _plain(r))
                for r in rows if r["calls"] >= p["min_calls"] and float(r["p95_ms"] or 0) >= p["min_p95_ms"]]
    if kind == "job_failed":
        rows = run_on(conn, "alerts.job_failed", {"now": now, "jobs": p.get("jobs")})
        return [Observation(r["subject"], f"last run at {r['started_at']:%Y-%m-%d %H:%M} UTC failed: "
                                          f"{(r['error'] or 'no error recorded').splitlines()[0][:300]}", _plain(r))
                for r in rows]
    if kind == "job_not_run":
        rows = run_on(conn, "alerts.job_not_run", {"now": now, "jobs": jsonb(p["jobs"])})
        return [Observation(r["subject"], (f"no run since {r['last_run_at']:%Y-%m-%d %H:%M} UTC" if r["last_run_at"]
                                           else "never ran") + f" (expected within {format_duration(r['within_seconds'])})",
                            _plain(r)) for r in rows]
    if kind == "counter_drift":
        rows = run_on(conn, "alerts.counter_drift", {"now": now, "window_s": p["window"], "min_rows": p["min_rows"]})
        return [Observation(r["subject"], f"{r['drifted']} drifted numbers found in the last "
                                          f"{format_duration(p['window'])} ({r['repaired']} repaired)", _plain(r))
                for r in rows]
    if kind == "stale_data":
        return _stale(conn, p, now)
    if kind == "partitions_ahead":
        out = []
        for r in run_on(conn, "alerts.partitions_ahead", {"now": now}):
            wanted = p.get("min_ahead") if p.get("min_ahead") is not None else r["ahead_wanted"]
            ahead = max(int(r["periods_ahead"]), 0) if r["periods_ahead"] >= 0 else 0
            if (r["periods_ahead"] < 0) or ahead < wanted:
                out.append(Observation(r["subject"], f"partitions cover {ahead} {r['period']}(s) ahead, fewer than "
                                                     f"{wanted}", _plain(r)))
        return out
    if kind == "offer_conversion_drop":
        return _conversion(conn, p, now)
    if kind == "custom_sql":
        return _custom(conn, rule)
    raise ConfigError(f"rule {rule['name']}: unknown kind {kind!r}")


def _stale(conn: psycopg.Connection, p: Mapping[str, Any], now: datetime) -> list[Observation]:
    max_age = timedelta(seconds=p["max_age"])
    if p.get("target", "venue_stats") == "venue_stats":
        if not run_on(conn, "jobs.view_populated")[0]["populated"]:
            return [Observation("venue_stats", "venue_stats has never been refreshed", {})]
        row = run_on(conn, "alerts.venue_stats_refreshed")[0]
        at = row["refreshed_at"]
        if at is not None and at < now - max_age:
            return [Observation("venue_stats", f"venue_stats last refreshed {format_duration((now - at).total_seconds())}"
                                               f" ago (limit {format_duration(p['max_age'])})", _plain(row))]
        return []
    if not run_on(conn, "alerts.rollups_installed")[0]["installed"]:
        return []
    out = []
    for r in run_on(conn, "alerts.rollups_folded"):
        at = r["folded_at"]
        if at is None or at < now - max_age:
            when = "never folded" if at is None else f"last folded {format_duration((now - at).total_seconds())} ago"
            out.append(Observation(r["subject"], f"rollup consumer {r['subject']} {when} "
                                                 f"(limit {format_duration(p['max_age'])})", _plain(r)))
    return out


def _conversion(conn: psycopg.Connection, p: Mapping[str, Any], now: datetime) -> list[Observation]:
    rows = run_on(conn, "alerts.offer_conversion", {"now": now, "window_s": p["window"], "usual_s": p["usual"],
                                                    "min_views": p["min_views"]})
    out = []
    for r in rows:
        rate = float(r["rate"])
        reasons = []
        if p.get("min_rate") is not None and rate < p["min_rate"]:
            reasons.append(f"below {100 * p['min_rate']:.1f}%")
        usual = r["usual_rate"]
        if (p.get("below_usual") is not None and usual is not None and r["usual_viewers"] >= p["min_views"]
                and rate < p["below_usual"] * float(usual)):
            reasons.append(f"below {p['below_usual']:g} × its usual {100 * float(usual):.1f}%")
        if reasons:
            out.append(Observation(r["subject"], f"{r['venue_name']}: {r['claimers']} of {r['viewers']} offer viewers "
                                                 f"claimed ({100 * rate:.1f}%), {' and '.join(reasons)}", _plain(r)))
    return out


def _custom(conn: psycopg.Connection, rule: Mapping[str, Any]) -> list[Observation]:
    rows = _try_custom_sql(conn, rule["name"], rule["params"]["sql"])
    if not rows:
        return []
    if "subject" not in rows[0]:
        summary = str(rows[0].get("summary") or f"{len(rows)} row(s) returned")
        return [Observation("", summary[:500], {"rows": len(rows), "first": _plain(rows[0])})]
    grouped: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        grouped.setdefault(str(r["subject"]), []).append(r)
    return [Observation(s[:200], str(rs[0].get("summary") or f"{len(rs)} row(s) returned")[:500],
                        {"rows": len(rs), "first": _plain(rs[0])}) for s, rs in grouped.items()]


# -- the state machine -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class State:
    subject: str
    state: str = "ok"
    since: datetime | None = None
    active_since: datetime | None = None
    last_true_at: datetime | None = None
    firing_since: datetime | None = None
    resolved_at: datetime | None = None
    episode: int = 0
    value: dict[str, Any] = field(default_factory=dict)
    summary: str = ""


def step(prev: State, holds: Observation | None, now: datetime, pending_for: timedelta,
         keep_firing_for: timedelta) -> State:
    """The subject's next state, given whether the condition holds at ``now``.

    ok/resolved → pending when it holds (→ firing at once when ``pending_for`` is 0); pending → firing once it
    has held for ``pending_for``, → ok when it stops first; firing → resolved once it has not held for
    ``keep_firing_for`` (at once when 0).
    """
    s = prev
    if holds is not None:
        s = replace(s, last_true_at=now, value=holds.value, summary=holds.summary)
        if s.state in ("ok", "resolved"):
            s = replace(s, state="pending", since=now, active_since=now)
        if s.state == "pending" and now - s.active_since >= pending_for:
            s = replace(s, state="firing", since=now, firing_since=now, resolved_at=None, episode=s.episode + 1)
        return s
    if s.state == "pending":
        return replace(s, state="ok", since=now, active_since=None)
    if s.state == "firing" and (s.last_true_at is None or now - s.last_true_at >= keep_firing_for):
        return replace(s, state="resolved", since=now, resolved_at=now, active_since=None)
    return s


# -- evaluation --------------------------------------------------------------------------------------------


@dataclass
class EvaluationReport:
    skipped: bool = False  # another evaluator held the lock
    rules: int = 0
    transitions: int = 0
    notifications: int = 0
    firing: int = 0
    errors: dict[str, str] = field(default_factory=dict)  # rule name -> why it could not be evaluated

    def summary(self) -> str:
        if self.skipped:
            return "skipped: another evaluation is running"
        text = (f"{self.rules} rule(s): {self.firing} firing, {self.transitions} transition(s), "
                f"{self.notifications} notification(s) written")
        if self.errors:
            text += f"; {len(self.errors)} rule(s) could not be evaluated ({', '.join(sorted(self.errors))})"
        return text


def evaluate(db: Database | str, now: datetime | None = None, *, rules: Sequence[str] | None = None) -> EvaluationReport:
    """Evaluate every rule (or those named) at ``now`` (default: the clock) and record the transitions.

    One evaluator at a time: under a session advisory lock, which a second evaluator does not wait for (it
    returns ``skipped``). A rule whose condition cannot be observed keeps its states and records the error.
    """
    url = db if isinstance(db, str) else db.url
    now = now or datetime.now(UTC)
    report = EvaluationReport()
    with dedicated_connection(url, application_name="venuepulse-alerts") as conn:
        if not run_on(conn, "alerts.try_lock")[0]["locked"]:
            report.skipped = True
            return report
        try:
            for rule in run_on(conn, "alerts.rules", {"name": None}):
                if rules is not None and rule["name"] not in rules:
                    continue
                report.rules += 1
                try:
                    observed = observe(conn, rule, now)
                except VenuePulseError as exc:
                    report.errors[rule["name"]] = str(exc)
                    run_on(conn, "alerts.rule_evaluated", {"rule_id": rule["id"], "at": now, "error": str(exc)[:1000]})
                    continue
                _apply(conn, rule, observed, now, report)
        finally:
            if not conn.closed:
                run_on(conn, "alerts.unlock")
    return report


def _apply(conn: psycopg.Connection, rule: Mapping[str, Any], observed: list[Observation], now: datetime,
           report: EvaluationReport) -> None:
    """One rule's transitions, events and notifications, in one transaction."""
    holds = {o.subject: o for o in observed}
    with conn.transaction():
        locked = run_on(conn, "alerts.rule_for_update", {"rule_id": rule["id"]})
        if not locked:
            return  # removed meanwhile
        muted = locked[0]["muted_until"] is not None and locked[0]["muted_until"] > now
        stored = {r["subject"]: State(r["subject"], r["state"], r["since"], r["active_since"], r["last_true_at"],
                                      r["firing_since"], r["resolved_at"], r["episode"], r["value"], r["summary"])
                  for r in run_on(conn, "alerts.states_for_update", {"rule_id": rule["id"]})}
        pending_for = timedelta(seconds=rule["pending_seconds"])
        keep_for = timedelta(seconds=rule["keep_firing_seconds"])
        for subject in sorted(set(holds) | set(stored)):
            prev = stored.get(subject, State(subject))
            new = step(prev, holds.get(subject), now, pending_for, keep_for)
            if new.state == "firing":
                report.firing += 1
            if new == prev:
                continue  # nothing to record (a subject that never held, ok or resolved and still not holding)
            _save(conn, rule, new, now)
            if new.state != prev.state:
                report.transitions += 1
                report.notifications += _record_transition(conn, rule, prev, new, now, muted)
        run_on(conn, "alerts.rule_evaluated", {"rule_id": rule["id"], "at": now, "error": None})


def _save(conn: psycopg.Connection, rule: Mapping[str, Any], s: State, now: datetime) -> None:
    run_on(conn, "alerts.save_state", {
        "rule_id": rule["id"], "subject": s.subject, "state": s.state, "since": s.since or now,
        "active_since": s.active_since, "last_true_at": s.last_true_at, "firing_since": s.firing_since,
        "resolved_at": s.resolved_at, "episode": s.episode, "value": jsonb(s.value), "summary": s.summary,
        "evaluated_at": now})


def _record_transition(conn: psycopg.Connection, rule: Mapping[str, Any], prev: State, new: State, now: datetime,
                       muted: bool) -> int:
    """The event, and for firing/resolved the outbox rows; returns how many notifications were written."""
    transition = new.state if new.state in ("firing", "resolved") else None
    notify = transition is not None and not muted
    event_id = run_on(conn, "alerts.insert_event", {
        "rule_id": rule["id"], "rule_name": rule["name"], "rule_kind": rule["kind"], "severity": rule["severity"],
        "subject": new.subject, "from_state": prev.state, "to_state": new.state, "episode": new.episode, "at": now,
        "value": jsonb(new.value), "summary": new.summary, "notified": notify})[0]["id"]
    if not notify:
        return 0
    key = notification_key(rule["id"], new.subject, new.episode, transition)
    message = alert_message(rule, new, transition, now, key)
    rows = run_on(conn, "alerts.enqueue", {"key": key, "event_id": event_id, "rule_id": rule["id"],
                                           "subject": new.subject, "transition": transition,
                                           "payload": jsonb(message.payload()), "at": now})
    return len(rows)


def notification_key(rule_id: int, subject: str, episode: int, transition: str) -> str:
    """rule, subject (hashed: any text), episode, transition; the outbox appends the channel."""
    digest = hashlib.sha256(subject.encode("utf-8")).hexdigest()[:16]
    return f"alert:{rule_id}:{digest}:{episode}:{transition}"


def alert_message(rule: Mapping[str, Any], s: State, transition: str, now: datetime, key: str) -> delivery.Message:
    label = f"{rule['name']}" + (f": {s.subject}" if s.subject else "")
    title = f"[{transition.upper()}] {label}"
    if transition == "firing":
        text = s.summary
    else:
        text = f"Resolved: the condition has not held since {s.last_true_at:%Y-%m-%d %H:%M:%S} UTC. Last seen: {s.summary}"
    condition = KINDS[rule["kind"]].condition if rule["kind"] in KINDS else ""
    text_full = (f"{text}\n\nRule {rule['name']} ({rule['kind']}, {rule['severity']}), subject "
                 f"{s.subject or '–'}, at {now:%Y-%m-%d %H:%M:%S} UTC.\nCondition: {condition}")
    rows = [("Rule", rule["name"]), ("Kind", rule["kind"]), ("Severity", rule["severity"]),
            ("Subject", s.subject or "–"), ("State", transition), ("At", f"{now:%Y-%m-%d %H:%M:%S} UTC")]
    html_body = (f"<p><strong>{html.escape(title)}</strong></p><p>{html.escape(text)}</p><table>"
                 + "".join(f"<tr><th align='left'>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>"
                           for k, v in rows)
                 + f"</table><p><small>Condition: {html.escape(condition)}</small></p>")
    data = {"source": "alert", "rule": rule["name"], "kind": rule["kind"], "severity": rule["severity"],
            "subject": s.subject, "state": transition, "episode": s.episode, "at": now.isoformat(),
            "firing_since": s.firing_since.isoformat() if s.firing_since else None,
            "summary": s.summary, "value": s.value}
    return delivery.Message(key, title, text_full, html_body, data)


def test_rule(db: Database | str, name: str, now: datetime | None = None) -> list[Observation]:
    """What rule ``name``'s condition finds at ``now``, changing nothing."""
    url = db if isinstance(db, str) else db.url
    now = now or datetime.now(UTC)
    with dedicated_connection(url, application_name="venuepulse-alerts") as conn:
        found = run_on(conn, "alerts.rules", {"name": name})
        if not found:
            raise _bad("name", f"there is no rule named {name!r}")
        return observe(conn, found[0], now)


def kinds_for_page(page: str) -> list[str]:
    """The rule kinds whose firing alerts a page's banner shows."""
    return [k.name for k in KINDS.values() if page in k.pages]


def evaluate_job(db: Database, now: datetime | None = None):
    """The ``evaluate_alerts`` job: :func:`evaluate` at the clock's time; fails (after evaluating every other
    rule) when a rule could not be evaluated, so the failure shows where jobs' failures show."""
    from venuepulse.queries.ops.maintenance import MaintenanceError, Outcome

    report = evaluate(db, now)
    details = {"rules": report.rules, "firing": report.firing, "transitions": report.transitions,
               "notifications": report.notifications, "skipped": report.skipped, "errors": report.errors}
    if report.errors:
        raise MaintenanceError(report.summary(), details)
    return Outcome(report.notifications, report.summary(), details)
