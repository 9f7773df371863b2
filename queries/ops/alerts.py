"""Evaluating alert rules (docs/alerts.md); the rules themselves, their kinds and channels are in
``alert_rules.py``.

:func:`evaluate` (the ``evaluate_alerts`` job) takes a session advisory lock (a second evaluator skips),
observes each rule's condition at ``now`` (one instant for the whole run, never the clock inside a query), then
per rule, in one transaction, moves each subject's state (:func:`step`), records the transition in
``alert_events`` and writes its notifications to the outbox. A notification's idempotency key is (rule,
subject, episode, transition), unique in the outbox: one transition can never be notified twice, whatever runs
it.
"""

from __future__ import annotations

import hashlib
import html
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from venuepulse.durations import format_duration
from venuepulse.errors import ConfigError, VenuePulseError
from venuepulse.queries.core.runner import Database
from venuepulse.queries.ops import delivery
from venuepulse.queries.ops.alert_rules import KINDS, AlertConfigError, try_custom_sql
from venuepulse.queries.ops.job_runs import dedicated_connection, jsonb, run_on

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
            ahead = int(r["periods_ahead"])  # -1: not even the current period has a partition
            if ahead < wanted:
                what = "no partition for the current period" if ahead < 0 else \
                    f"partitions cover {ahead} {r['period']}(s) ahead"
                out.append(Observation(r["subject"], f"{what}, fewer than the {wanted} wanted", _plain(r)))
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
    rows = try_custom_sql(conn, rule["name"], rule["params"]["sql"])
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
            raise AlertConfigError("name", f"there is no rule named {name!r}")
        return observe(conn, found[0], now)


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
