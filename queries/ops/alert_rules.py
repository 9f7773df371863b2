"""Alert rules and channels: the built-in rule kinds with their parameters, validation, and storing, listing,
muting and removing rules and channels (docs/alerts.md). Evaluation is in ``alerts.py``.

Everything is validated here before anything is written; a refusal is an :class:`AlertConfigError` naming the
field, and nothing changes. Channels keep their secrets in ``venuepulse_secrets.channel_secrets``, which no
dashboard role can read; nothing here returns, prints or logs a secret.
"""

from __future__ import annotations

import re
import secrets as _secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import psycopg

from venuepulse.durations import parse_duration
from venuepulse.errors import ConfigError, VenuePulseError
from venuepulse.queries.core.execute import execute, sql_statement
from venuepulse.queries.core.runner import Database
from venuepulse.queries.ops import delivery, outbox
from venuepulse.queries.ops.job_runs import jsonb, run_on

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


def try_custom_sql(conn: psycopg.Connection, name: str, sql: str) -> list[dict[str, Any]]:
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
                try_custom_sql(conn, spec.name, spec.params["sql"])
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


def kinds_for_page(page: str) -> list[str]:
    """The rule kinds whose firing alerts a page's banner shows."""
    return [k.name for k in KINDS.values() if page in k.pages]
