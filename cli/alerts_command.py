"""``venuepulse alerts``: rules (list, add, remove, test, mute) and channels (channel add, list, remove, test).

The work is in ``venuepulse.queries.ops.alerts``; this module turns flags into its arguments, reads secrets
from stdin or a file (never from the output), and names the flag a refusal is about.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from venuepulse.console import say
from venuepulse.errors import ConfigError, VenuePulseError

# rule and channel fields as the command line spells them
FLAGS = {"name": "NAME", "kind": "--kind", "severity": "--severity", "pending": "--pending",
         "keep_firing": "--keep-firing", "channel": "--channel", "description": "--description",
         "window": "--window", "factor": "--factor", "min_calls": "--min-calls", "baseline": "--baseline",
         "queries": "--query", "min_p95_ms": "--min-p95-ms", "jobs": "--job", "min_rows": "--min-rows",
         "target": "--target", "max_age": "--max-age", "min_ahead": "--min-ahead", "usual": "--usual",
         "min_views": "--min-views", "min_rate": "--min-rate", "below_usual": "--below-usual", "sql": "--sql",
         "url": "--webhook", "format": "--format", "signing_secret": "--signing-secret-file", "host": "--smtp",
         "port": "--smtp (port)", "tls": "--tls", "username": "--username", "password": "--password-stdin",
         "from": "--from", "to": "--to", "timeout": "--timeout", "give_up_after": "--give-up-after"}
# rule kind parameters: flag destination -> parameter name
RULE_PARAMS = {"window": "window", "factor": "factor", "min_calls": "min_calls", "baseline": "baseline",
               "query": "queries", "min_p95_ms": "min_p95_ms", "min_rows": "min_rows", "target": "target",
               "max_age": "max_age", "min_ahead": "min_ahead", "usual": "usual", "min_views": "min_views",
               "min_rate": "min_rate", "below_usual": "below_usual", "sql": "sql"}


def _flag(field: str) -> str:
    head, _, rest = field.partition(".")
    return FLAGS.get(head, head) + (f" {rest}" if rest else "")


def _database(args: argparse.Namespace):
    from venuepulse.commands import database_url
    from venuepulse.queries.core.runner import Database

    return Database(database_url(args), record=False, max_size=2, application_name="venuepulse-cli")


def _stdin_line(what: str) -> str:
    line = sys.stdin.readline()
    if not line.strip():
        raise ConfigError(f"{what} was to be read from stdin, but stdin is empty; nothing was changed")
    return line.strip()


def _refusal(verb: str, exc: VenuePulseError) -> VenuePulseError:
    from venuepulse.queries.ops.alert_rules import AlertConfigError

    if isinstance(exc, AlertConfigError):
        message = str(exc).split(": ", 1)[1] if ": " in str(exc) else str(exc)
        return ConfigError(f"alerts {verb}: {_flag(exc.field)}: {message}")
    return exc


# -- rules -----------------------------------------------------------------------------------------------


def _job_limits(names: list[str] | None, within: str | None) -> dict[str, Any]:
    """job_not_run's jobs and their time limits: --within, or twice the job's interval plus its grace time."""
    from venuepulse.jobs import scheduler
    from venuepulse.jobs.definitions import JOBS, get_job

    out: dict[str, Any] = {}
    for name in names or [n for n in JOBS if scheduler.schedules()[n][1] is not None]:
        try:
            spec = get_job(name)
        except ConfigError as exc:
            raise ConfigError(f"alerts add: --job: {str(exc).rstrip('.')}; nothing was changed") from None
        if within is not None:
            out[name] = within
            continue
        trigger = scheduler.schedules()[name][1]
        if trigger is None:
            raise ConfigError(f"alerts add: --job: {name} is switched off (schedule 'off'): give --within; "
                              "nothing was changed")
        first = trigger.get_next_fire_time(None, datetime.now(UTC))
        second = trigger.get_next_fire_time(first, first)
        out[name] = 2 * (second - first).total_seconds() + spec.grace_seconds
    return out


def _rule_params(args: argparse.Namespace) -> dict[str, Any]:
    from venuepulse.jobs.definitions import get_job

    params = {param: getattr(args, dest) for dest, param in RULE_PARAMS.items() if getattr(args, dest) is not None}
    if params.get("sql") == "-":
        params["sql"] = sys.stdin.read()
    if args.kind == "job_not_run":
        params["jobs"] = _job_limits(args.job, args.within)
    else:
        if args.within is not None:
            params["within"] = args.within  # refused below: it does not apply to this kind
        if args.job is not None:
            for name in args.job:
                try:
                    get_job(name)
                except ConfigError as exc:
                    raise ConfigError(f"alerts add: --job: {str(exc).rstrip('.')}; nothing was changed") from None
            params["jobs"] = args.job
    return params


def cmd_alerts_add(args: argparse.Namespace) -> int:
    from venuepulse.queries.ops import alert_rules

    try:
        spec = alert_rules.check_rule(args.name, args.kind, _rule_params(args), severity=args.severity,
                                 pending=args.pending, keep_firing=args.keep_firing, channels=args.channel or (),
                                 description=args.description)
        with _database(args) as db:
            alert_rules.add_rule(db, spec)
    except VenuePulseError as exc:
        raise _refusal("add", exc) from None
    routes = ", ".join(spec.channels) if spec.channels else "every channel"
    say(f"added rule {spec.name} ({spec.kind}, {spec.severity}) notifying {routes}; "
        f"params {json.dumps(spec.params, sort_keys=True)}")
    return 0


def _when(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if value else "never"


def _default(kind: str, p: Any) -> str:
    from venuepulse.durations import format_duration

    if kind == "job_not_run":
        return " (default: every scheduled job) with --within (default: twice its interval plus its grace time)"
    if p.required:
        return " (required)"
    if p.default is None:
        return ""
    return f" (default {format_duration(p.default) if p.type == 'duration' else p.default})"


def cmd_alerts_list(args: argparse.Namespace) -> int:
    from venuepulse.durations import format_duration
    from venuepulse.queries.ops import alert_rules

    if args.kinds:
        for kind in alert_rules.KINDS.values():
            say(f"{kind.name}: {kind.condition}")
            takes = ", ".join(_flag(p.name) + _default(kind.name, p) for p in kind.params)
            say(f"    takes {takes}")
        return 0
    with _database(args) as db:
        rows = alert_rules.list_rules(db)
    if not rows:
        say("no alert rules yet; add one with 'venuepulse alerts add NAME --kind KIND' "
            "('venuepulse alerts list --kinds' lists the kinds)")
        return 0
    now = datetime.now(UTC)
    say(f"{'rule':<24} {'kind':<22} {'severity':<9} {'state':<20} {'pending':>8} {'keep':>8}  channels")
    for r in rows:
        state = f"{r['firing']} firing" if r["firing"] else f"{r['pending']} pending" if r["pending"] else "ok"
        if r["muted_until"] and r["muted_until"] > now:
            state += f", muted to {_when(r['muted_until'])}"
        channels = ", ".join(r["channels"]) or "(every channel)"
        say(f"{r['name']:<24} {r['kind']:<22} {r['severity']:<9} {state:<20} "
            f"{format_duration(r['pending_seconds']):>8} {format_duration(r['keep_firing_seconds']):>8}  {channels}")
        say(f"    params {json.dumps(r['params'], sort_keys=True)}; last evaluated {_when(r['last_evaluated_at'])}"
            + (f"; error: {r['last_error']}" if r["last_error"] else ""))
    return 0


def cmd_alerts_remove(args: argparse.Namespace) -> int:
    from venuepulse.queries.ops import alert_rules

    with _database(args) as db:
        try:
            alert_rules.remove_rule(db, args.name)
        except VenuePulseError as exc:
            raise _refusal("remove", exc) from None
    say(f"removed rule {args.name} (its history stays on the Alerts page)")
    return 0


def cmd_alerts_test(args: argparse.Namespace) -> int:
    from venuepulse.queries.ops import alerts

    with _database(args) as db:
        try:
            found = alerts.test_rule(db, args.name)
        except VenuePulseError as exc:
            raise _refusal("test", exc) from None
    if not found:
        say(f"{args.name}: the condition does not hold now (nothing would fire); nothing was changed")
        return 0
    say(f"{args.name}: the condition holds now for {len(found)} subject(s) (it fires once it has held for its "
        "pending period); nothing was changed:")
    for o in found:
        say(f"  {o.subject or '(rule)'}: {o.summary}")
    return 0


def cmd_alerts_mute(args: argparse.Namespace) -> int:
    from datetime import timedelta

    from venuepulse.durations import parse_duration
    from venuepulse.queries.ops import alert_rules

    until: datetime | None = None
    if args.off:
        pass
    elif args.until:
        try:
            until = datetime.fromisoformat(args.until)
        except ValueError:
            raise ConfigError(f"alerts mute: --until: {args.until!r} is not a time such as 2026-07-01T09:00; "
                              "nothing was changed") from None
        until = until if until.tzinfo else until.replace(tzinfo=UTC)
    else:
        try:
            until = datetime.now(UTC) + timedelta(seconds=parse_duration(args.for_, default_unit="m").total_seconds())
        except ValueError as exc:
            raise ConfigError(f"alerts mute: --for: {exc}; nothing was changed") from None
    with _database(args) as db:
        try:
            alert_rules.mute_rule(db, args.name, until)
        except VenuePulseError as exc:
            raise _refusal("mute", exc) from None
    say(f"{args.name} unmuted" if until is None else
        f"{args.name} muted until {_when(until)} UTC: it keeps evaluating and recording, and sends nothing")
    return 0


# -- channels --------------------------------------------------------------------------------------------


def _signing_secret(path: str | None) -> str | None:
    """Read the signing secret from ``path``; when the file does not exist, write a new random one there."""
    if path is None:
        return None
    p = Path(path)
    if p.exists():
        return p.read_text(encoding="utf-8").strip()
    value = secrets.token_urlsafe(32)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(value + "\n")
    say(f"wrote a new signing secret to {p} (give it to the receiver to check X-VenuePulse-Signature)")
    return value


def cmd_channel_add(args: argparse.Namespace) -> int:
    from venuepulse.queries.ops import alert_rules

    try:
        if bool(args.webhook) == bool(args.smtp):
            raise ConfigError("alerts channel add: give either --webhook URL or --smtp HOST[:PORT]; nothing was changed")
        if args.webhook:
            url = _stdin_line("--webhook -") if args.webhook == "-" else args.webhook
            spec = alert_rules.check_webhook(args.name, url, fmt=args.format or "json",
                                        signing_secret=_signing_secret(args.signing_secret_file),
                                        timeout_s=args.timeout, give_up_after=args.give_up_after)
        else:
            if args.format or args.signing_secret_file:
                raise ConfigError("alerts channel add: --format and --signing-secret-file are for webhooks; "
                                  "nothing was changed")
            host, _, port = args.smtp.rpartition(":") if ":" in args.smtp else (args.smtp, "", None)
            password = _stdin_line("--password-stdin") if args.password_stdin else None
            spec = alert_rules.check_email(args.name, host=host, port=port or None, tls=args.tls,
                                      username=args.username, password=password, sender=args.from_,
                                      to=[t for item in args.to or () for t in item.split(",")],
                                      ca_file=args.ca_file, timeout_s=args.timeout, give_up_after=args.give_up_after)
        with _database(args) as db:
            alert_rules.add_channel(db, spec)
    except VenuePulseError as exc:
        raise _refusal("channel add", exc) from None
    say(f"added {spec.kind} channel {spec.name} → {spec.settings['target']}; "
        f"test it with 'venuepulse alerts channel test {spec.name}'")
    return 0


def cmd_channel_list(args: argparse.Namespace) -> int:
    from venuepulse.queries.ops import alert_rules

    with _database(args) as db:
        rows = alert_rules.list_channels(db)
    if not rows:
        say("no channels yet; add one with 'venuepulse alerts channel add NAME --webhook URL' or '--smtp HOST'")
        return 0
    say(f"{'channel':<20} {'kind':<8} {'target':<44} {'undelivered':>11}  {'last delivered':<17} rules")
    for r in rows:
        s = r["settings"]
        detail = s.get("format", "") if r["kind"] == "webhook" else s.get("tls", "")
        target = f"{s.get('target', '')} ({detail})"
        say(f"{r['name']:<20} {r['kind']:<8} {target[:44]:<44} {r['pending']:>11}  {_when(r['last_delivered_at']):<17} "
            f"{', '.join(r['rules']) or '(rules without channels)'}")
    return 0


def cmd_channel_remove(args: argparse.Namespace) -> int:
    from venuepulse.queries.ops import alert_rules

    with _database(args) as db:
        try:
            dropped = alert_rules.remove_channel(db, args.name)
        except VenuePulseError as exc:
            raise _refusal("channel remove", exc) from None
    say(f"removed channel {args.name}" + (f"; {dropped} undelivered notification(s) dropped" if dropped else ""))
    return 0


def cmd_channel_test(args: argparse.Namespace) -> int:
    from venuepulse.queries.ops import alert_rules

    with _database(args) as db:
        try:
            row = alert_rules.send_test(db, args.name)
        except VenuePulseError as exc:
            raise _refusal("channel test", exc) from None
    if row["status"] == "delivered":
        say(f"test notification delivered to {args.name}")
        return 0
    say(f"test notification not delivered to {args.name}: {row['last_error'] or row['status']}")
    if row["status"] == "pending":
        say("it stays in the outbox: the deliver_notifications job retries it with backoff")
    return 1


# -- wiring ----------------------------------------------------------------------------------------------


def register_alerts(sub: Any) -> None:
    from venuepulse.commands import COMMON, add_command
    from venuepulse.queries.ops.alert_rules import KINDS, SEVERITIES

    p = sub.add_parser("alerts", parents=[COMMON], help="alert rules and notification channels (docs/alerts.md)")
    al = p.add_subparsers(dest="alerts_command", metavar="{list,add,remove,test,mute,channel}", required=True)
    lst = add_command(al, "list", cmd_alerts_list, help="rules, their state and channels")
    lst.add_argument("--kinds", action="store_true", help="the rule kinds, their exact conditions and flags")

    a = add_command(al, "add", cmd_alerts_add, help="add a rule (see 'alerts list --kinds')")
    a.add_argument("name")
    a.add_argument("--kind", required=True, choices=list(KINDS))
    a.add_argument("--severity", default="warning", choices=SEVERITIES)
    a.add_argument("--pending", default="0", metavar="DURATION",
                   help="how long the condition must hold before the rule fires (e.g. 5m; default 0)")
    a.add_argument("--keep-firing", default="0", metavar="DURATION",
                   help="how long it keeps firing after the condition stops holding (default 0)")
    a.add_argument("--channel", action="append", metavar="NAME", help="a channel to notify (repeatable; "
                   "default: every channel)")
    a.add_argument("--description", default="")
    g = a.add_argument_group("kind parameters (each kind takes some; 'alerts list --kinds')")
    g.add_argument("--window", metavar="DURATION")
    g.add_argument("--factor", metavar="X")
    g.add_argument("--min-calls", metavar="N")
    g.add_argument("--baseline", metavar="previous|week|either")
    g.add_argument("--query", action="append", metavar="NAME", help="only this query name (repeatable)")
    g.add_argument("--min-p95-ms", metavar="MS")
    g.add_argument("--job", action="append", metavar="NAME", help="only this job (repeatable; default every job)")
    g.add_argument("--within", metavar="DURATION", help="job_not_run: the time limit for every --job")
    g.add_argument("--min-rows", metavar="N")
    g.add_argument("--target", metavar="venue_stats|rollups")
    g.add_argument("--max-age", metavar="DURATION")
    g.add_argument("--min-ahead", metavar="N")
    g.add_argument("--usual", metavar="DURATION")
    g.add_argument("--min-views", metavar="N")
    g.add_argument("--min-rate", metavar="RATIO", help="e.g. 0.05 for 5%%")
    g.add_argument("--below-usual", metavar="RATIO", help="e.g. 0.5: below half the venue's usual rate")
    g.add_argument("--sql", metavar="SELECT", help="custom_sql: the query ('-' reads it from stdin)")

    add_command(al, "remove", cmd_alerts_remove, help="remove a rule (its history stays)").add_argument("name")
    add_command(al, "test", cmd_alerts_test, help="what a rule's condition finds now; changes nothing") \
        .add_argument("name")
    m = add_command(al, "mute", cmd_alerts_mute, help="stop a rule's notifications for a while")
    m.add_argument("name")
    mg = m.add_mutually_exclusive_group(required=True)
    mg.add_argument("--for", dest="for_", metavar="DURATION", help="e.g. 2h")
    mg.add_argument("--until", metavar="TIME", help="ISO time, UTC unless it says otherwise")
    mg.add_argument("--off", action="store_true", help="unmute")

    ch = al.add_parser("channel", parents=[COMMON], help="notification channels: add, list, remove, test")
    chs = ch.add_subparsers(dest="channel_command", metavar="{add,list,remove,test}", required=True)
    c = add_command(chs, "add", cmd_channel_add, help="add a webhook or SMTP channel")
    c.add_argument("name")
    c.add_argument("--webhook", metavar="URL", help="webhook URL ('-' reads it from stdin); kept secret")
    c.add_argument("--format", choices=("json", "slack"), help="webhook body: json (default) or slack")
    c.add_argument("--signing-secret-file", metavar="PATH",
                   help="HMAC secret for X-VenuePulse-Signature, read from PATH (a new one is written there "
                        "when PATH does not exist; default: a random secret nobody sees)")
    c.add_argument("--smtp", metavar="HOST[:PORT]", help="SMTP server (port default 587, or 465 with --tls tls)")
    c.add_argument("--tls", default="starttls", choices=("starttls", "tls", "none"))
    c.add_argument("--username")
    c.add_argument("--password-stdin", action="store_true", help="read the SMTP password from stdin's first line")
    c.add_argument("--from", dest="from_", metavar="ADDRESS")
    c.add_argument("--to", action="append", metavar="ADDRESS", help="recipient (repeatable or comma-separated)")
    c.add_argument("--ca-file", metavar="PATH", help="CA bundle to verify the SMTP server's certificate with")
    c.add_argument("--timeout", default="10s", metavar="DURATION", help="per attempt (default 10s)")
    c.add_argument("--give-up-after", metavar="DURATION", help="stop retrying a notification this long after "
                   "it was written (default 24h)")
    add_command(chs, "list", cmd_channel_list, help="channels (never their secrets)")
    add_command(chs, "remove", cmd_channel_remove, help="remove a channel no rule names").add_argument("name")
    add_command(chs, "test", cmd_channel_test, help="send a test notification now").add_argument("name")
