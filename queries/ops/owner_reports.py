"""Owners' weekly report: a venue owner subscribes on their Offers page and gets, every week, an e-mail with
the funnels of their offers that ran in the week before, the table attached as CSV (docs/dashboard-engagement-offers.md).

- **Subscriptions** (:func:`subscribe`, :func:`unsubscribe`, :func:`subscription`, :func:`history`) run on the
  sign-in role's connection, through SECURITY DEFINER functions of migration 0014, for the signed-in owner's
  account: the dashboard's reader and owner roles can neither read nor write them.
- **The report's numbers** are read through the owners' row-level-security role (``venuepulse_owner``), with
  the owner's venues set as the transaction's scope — exactly as the dashboard reads an owner's Offers page —
  never through the jobs' role: PostgreSQL, not this code, keeps another owner's venues out of it.
- **Exactly once per owner and week.** The week's ``owner_reports`` row (unique per account and week) and its
  outbox row (idempotency key ``owner-report:<account>:<week>``) are written in one transaction, so two
  schedulers running the job at once write one report; the outbox delivers it (at least once on the wire,
  with a stable Message-ID, as every notification) and marks it delivered.
- **Nothing to report** (no offer of the owner's venues ran in the week, or the account owns no venues): the
  week's row says ``skipped`` with the reason, and no e-mail is written.

The week is the last complete Monday-to-Monday week in UTC before the run; running the job again any time in
the following week sends nothing new.
"""

from __future__ import annotations

import html
import io
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import pandas as pd

from venuepulse.errors import DatabaseUnavailable, QueryError, VenuePulseError
from venuepulse.queries.core.runner import Database
from venuepulse.queries.ops import delivery, outbox
from venuepulse.queries.ops.job_runs import dedicated_connection, run_on
from venuepulse.queries.pages import offers

REPORT_CHANNEL_ENV = "VENUEPULSE_REPORT_CHANNEL"
OWNER_URL_ENV = "VENUEPULSE_OWNER_DATABASE_URL"
DEFAULT_CHANNEL = "reports"
EMAIL_RE = re.compile(r"^[^@\s<>,;]+@[^@\s<>,;]+\.[^@\s<>,;]+$")
MAX_EMAIL = 254
CSV_COLUMNS = {
    "offer_id": "offer_id", "title": "offer", "venue_id": "venue_id", "venue_name": "venue", "status": "status",
    "start_time": "start_time", "end_time": "end_time", "is_final": "final", "targeted": "targeted",
    "viewed_users": "viewed_users", "clicked_users": "clicked_users", "claimed_users": "claimed_users",
    "redeemed_users": "redeemed_users", "view_count": "views", "click_count": "clicks",
    "claimed_count": "claims", "redeemed_count": "redemptions", "time_to_claim_p50_s": "time_to_claim_p50_s",
    "time_to_redeem_p50_s": "time_to_redeem_p50_s",
}


class ReportError(VenuePulseError):
    """A subscription change was refused, or reports cannot be sent; the message says why and what to do."""


# -- subscriptions (the sign-in role's connection, for the signed-in owner) ---------------------------------


def check_email(email: Any) -> str:
    """The address as stored (trimmed, lower case), or a ReportError saying what is wrong with it."""
    if not isinstance(email, str) or not email.strip():
        raise ReportError("enter the e-mail address the weekly report should go to")
    text = email.strip().lower()
    if len(text) > MAX_EMAIL:
        raise ReportError(f"that e-mail address is too long (at most {MAX_EMAIL} characters)")
    if not EMAIL_RE.fullmatch(text):
        raise ReportError(f"{email.strip()[:80]!r} is not an e-mail address (like name@example.com)")
    return text


def _username(username: Any) -> str:
    if not isinstance(username, str) or not username.strip() or len(username) > 64 or "\x00" in username:
        raise ReportError("weekly reports need the signed-in venue owner's username")
    return username.strip().lower()


def _set(db: Database, username: str, email: str | None, active: bool) -> dict[str, Any]:
    try:
        rows = db.run("reports.set_subscription", {"username": username, "email": email, "active": active})
    except QueryError as exc:
        if exc.reason in ("not_owner", "bad_email"):
            raise ReportError(exc.detail.split(": ", 1)[-1][:200]) from None
        raise
    return rows[0] if rows else {"email": None, "active": False, "updated_at": None}


def subscribe(db: Database, username: str, email: Any) -> dict[str, Any]:
    """Subscribe venue-owner account ``username`` to the weekly report at ``email``; its subscription row."""
    return _set(db, _username(username), check_email(email), True)


def unsubscribe(db: Database, username: str) -> dict[str, Any]:
    """Stop the weekly report of ``username`` (the address is kept, to subscribe again with one click)."""
    return _set(db, _username(username), None, False)


def subscription(db: Database, username: str) -> dict[str, Any] | None:
    """``{account_email, email, active, updated_at}``, or None when ``username`` is no enabled venue owner."""
    rows = db.run("reports.subscription", {"username": _username(username)}, cache=False)
    return rows[0] if rows else None


def history(db: Database, username: str, limit: int = 8) -> pd.DataFrame:
    """The account's last reports: week_start, status (queued / skipped), reason, offers, delivery (the outbox
    row's status: pending / delivered / failed / dropped), delivered_at."""
    rows = db.run("reports.history", {"username": _username(username), "limit": int(limit)}, cache=False)
    return pd.DataFrame(rows, columns=["week_start", "status", "reason", "offers", "delivery", "delivered_at"])


# -- the report ------------------------------------------------------------------------------------------


def report_week(now: datetime) -> tuple[date, datetime, datetime]:
    """The last complete week before ``now``: its Monday and [Monday 00:00 UTC, next Monday 00:00 UTC)."""
    today = now.astimezone(UTC).date()
    this_monday = today - timedelta(days=today.weekday())
    start = this_monday - timedelta(days=7)
    lo = datetime.combine(start, time(), UTC)
    return start, lo, lo + timedelta(days=7)


class _Scoped:
    """Named queries with one owner's venues as the transaction's scope (what dashboard.context.ScopedDatabase
    does for a signed-in owner; ``queries`` may not import the dashboard)."""

    def __init__(self, db: Database, venue_ids: Sequence[UUID]):
        self._db, self._scope = db, list(venue_ids)

    def run(self, name: str, params: Any = None, **kw: Any) -> list[dict[str, Any]]:
        return self._db.run(name, params, venue_scope=self._scope, cache=False, **kw)


@dataclass
class Report:
    """One owner's report of one week: the table (one row per offer that ran) and the e-mail built from it."""

    week_start: date
    table: pd.DataFrame
    total: dict[str, Any]

    @property
    def empty(self) -> bool:
        return self.table.empty

    def csv(self) -> str:
        buf = io.StringIO()
        self.table.to_csv(buf, index=False, date_format="%Y-%m-%dT%H:%M:%S%z")
        return buf.getvalue()

    def message(self, key: str, to: str) -> delivery.Message:
        week_end = self.week_start + timedelta(days=6)
        title = f"VenuePulse: your offers, week of {self.week_start:%d %B %Y}"
        t = self.total
        viewed, claimed, redeemed = (int(t.get(k) or 0) for k in ("viewed_users", "claimed_users", "redeemed_users"))
        share = f" ({claimed / viewed:.1%} of viewers)" if viewed else ""
        head = (f"Your offers from Monday {self.week_start:%Y-%m-%d} to Sunday {week_end:%Y-%m-%d} (UTC): "
                f"{len(self.table)} offer{'s' if len(self.table) != 1 else ''} ran at your venues; "
                f"{viewed} people viewed them, {claimed} claimed{share}, {redeemed} redeemed.")
        lines = [head, "", "Offer (venue): viewed → clicked → claimed → redeemed"]
        for r in self.table.to_dict("records"):
            lines.append(f"- {r['offer']} ({r['venue']}): {r['viewed_users']} → {r['clicked_users']} → "
                         f"{r['claimed_users']} → {r['redeemed_users']}" + ("" if r["final"] else " (still running)"))
        foot = ("The attached CSV has one row per offer: every funnel step (people, in order, within the offer's "
                "window) and the raw counters. To stop these e-mails, open Your offers in VenuePulse and choose "
                "Unsubscribe.")
        lines += ["", foot]
        cells = "".join(
            f"<tr><td>{html.escape(str(r['offer']))}</td><td>{html.escape(str(r['venue']))}</td>"
            f"<td>{r['viewed_users']}</td><td>{r['clicked_users']}</td><td>{r['claimed_users']}</td>"
            f"<td>{r['redeemed_users']}</td></tr>" for r in self.table.to_dict("records"))
        body = (f"<p>{html.escape(head)}</p><table><tr><th>Offer</th><th>Venue</th><th>Viewed</th><th>Clicked</th>"
                f"<th>Claimed</th><th>Redeemed</th></tr>{cells}</table><p>{html.escape(foot)}</p>")
        attachment = delivery.Attachment(f"offers-{self.week_start:%Y-%m-%d}.csv", "text/csv",
                                         self.csv().encode("utf-8"))
        return delivery.Message(key, title, "\n".join(lines), body,
                                {"source": "report", "week_start": self.week_start.isoformat(),
                                 "offers": len(self.table)}, (to,), (attachment,))


def build_report(owner_db: Database, venue_ids: Sequence[UUID], week_start: date) -> Report:
    """The week's report of the venues ``venue_ids``, read through ``owner_db`` (the row-level-security role)
    with those venues as the scope."""
    scoped = _Scoped(owner_db, venue_ids)
    lo = datetime.combine(week_start, time(), UTC)
    hi = lo + timedelta(days=7)
    listed = offers.offer_list(scoped, lo, hi, limit=offers.MAX_LIST)
    if listed.empty:
        return Report(week_start, pd.DataFrame(columns=list(CSV_COLUMNS.values())), {})
    result = offers.funnel(scoped, lo, hi)
    per = result["offers"].drop(columns=["title", "as_of", "view_count", "click_count", "claimed_count",
                                         "redeemed_count"])  # the list's raw counters are the same numbers
    merged = listed.drop(columns=["as_of"]).merge(per, on="offer_id", how="left")
    merged["title"] = merged["title"].fillna("")
    merged = merged.sort_values(["venue_name", "start_time", "title"], kind="stable")
    table = merged[list(CSV_COLUMNS)].rename(columns=CSV_COLUMNS)
    for col in ("viewed_users", "clicked_users", "claimed_users", "redeemed_users"):
        table[col] = table[col].fillna(0).astype(int)
    return Report(week_start, table.reset_index(drop=True), result["total"])


# -- sending ---------------------------------------------------------------------------------------------


def owner_database_url(admin_url: str) -> str:
    """The owners' row-level-security role's URL: ``VENUEPULSE_OWNER_DATABASE_URL``, else the dashboard's
    owner login role as `venuepulse up` / `dashboard` make it (same passwords file, so nothing changes)."""
    found = os.environ.get(OWNER_URL_ENV)
    if found:
        return found
    from venuepulse.config import data_dir
    from venuepulse.queries.access.roles import ensure_login_roles

    return ensure_login_roles(admin_url, passwords_file=Path(data_dir()) / "dashboard-roles.json")["owner_url"]


def report_channel(db: Database, name: str | None = None) -> dict[str, Any]:
    """The e-mail channel reports go through: ``name``, else ``VENUEPULSE_REPORT_CHANNEL``, else the e-mail
    channel named ``reports``, else the only e-mail channel; a ReportError saying how to add one."""
    name = name or os.environ.get(REPORT_CHANNEL_ENV) or None
    emails = [c for c in db.run("alerts.channels", {"name": None}, cache=False) if c["kind"] == "email"]
    if name:
        found = [c for c in emails if c["name"] == name]
        if not found:
            raise ReportError(f"{REPORT_CHANNEL_ENV}: {name!r} is not an e-mail channel "
                              "(see `venuepulse alerts channel list`)")
        return found[0]
    named = [c for c in emails if c["name"] == DEFAULT_CHANNEL]
    if named or len(emails) == 1:
        return (named or emails)[0]
    if not emails:
        raise ReportError("owners' weekly reports need an e-mail channel: add one with `venuepulse alerts channel "
                          f"add {DEFAULT_CHANNEL} --smtp HOST[:PORT] --from ADDRESS --to ADDRESS` (docs/dashboard-engagement-offers.md)")
    raise ReportError(f"there are {len(emails)} e-mail channels: name the one for owners' reports "
                      f"{DEFAULT_CHANNEL!r}, or set {REPORT_CHANNEL_ENV}")


def _check_scoped(owner_db: Database) -> None:
    from venuepulse.queries.access.accounts import connection_scope

    scope = connection_scope(owner_db)
    if not scope["scoped"] or scope["superuser"]:
        raise ReportError(f"the owner reports' database role {scope['role_name']} is not subject to row-level "
                          f"security (a member of venuepulse_owner): set {OWNER_URL_ENV} to the owner role's URL")


@dataclass
class SendSummary:
    week_start: date
    queued: int = 0
    skipped: int = 0
    already: int = 0  # written by another run first
    delivered: int = 0
    retrying: int = 0
    reports: list[dict[str, Any]] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)  # not written: the next run tries again

    def text(self) -> str:
        out = (f"week of {self.week_start}: {self.queued} report(s) queued, {self.delivered} delivered, "
               f"{self.skipped} skipped (nothing to report)")
        if self.already:
            out += f", {self.already} already written by another run"
        if self.retrying:
            out += f"; {self.retrying} waiting for the e-mail channel (retried by deliver_notifications)"
        if self.failed:
            out += f"; {len(self.failed)} could not be built (first: {self.failed[0]['error']})"
        return out


def send_weekly(db: Database, *, now: datetime | None = None, owner_url: str | None = None,
                channel: str | None = None, job_run_id: int | None = None, deliver: bool = True) -> SendSummary:
    """Write each due owner's report of the last complete week, then deliver the report channel.

    ``db`` is the jobs' (administrative) database: it lists who is due and writes ``owner_reports`` and the
    outbox. Every number in a report is read through ``owner_url`` (default :func:`owner_database_url`), a
    role that row-level security scopes, which is checked before anything is read.
    """
    now = now or datetime.now(UTC)
    week_start, _, _ = report_week(now)
    summary = SendSummary(week_start)
    due = db.run("reports.due", {"week_start": week_start}, cache=False)
    if not due:
        return summary
    ch = report_channel(db, channel)
    with Database(owner_url or owner_database_url(db.url), record=False, max_size=2,
                  application_name="venuepulse-owner-reports") as owner_db:
        _check_scoped(owner_db)
        with dedicated_connection(db.url, application_name="venuepulse-owner-reports") as conn:
            for sub in due:
                try:
                    summary.reports.append(_one(owner_db, conn, sub, week_start, ch, now, job_run_id, summary))
                except DatabaseUnavailable:
                    raise
                except VenuePulseError as exc:  # this owner's report waits for the next run; the others go
                    summary.failed.append({"account": sub["username"], "status": "failed", "error": str(exc)})
    if deliver and summary.queued:
        sent = outbox.deliver(db, now=now, channel=ch["name"])
        summary.delivered, summary.retrying = sent.delivered, sent.retrying
    return summary


def _one(owner_db: Database, conn: Any, sub: dict[str, Any], week_start: date, ch: dict[str, Any],
         now: datetime, job_run_id: int | None, summary: SendSummary) -> dict[str, Any]:
    who = {"account": sub["username"]}
    report = build_report(owner_db, sub["venue_ids"], week_start) if sub["venue_ids"] else None
    if report is None or report.empty:
        reason = "the account owns no venues" if report is None else "no offer of your venues ran that week"
        status, n = "skipped", 0
    else:
        reason, status, n = "", "queued", len(report.table)
    key = f"owner-report:{sub['account_id']}:{week_start.isoformat()}"
    with conn.transaction():
        rows = run_on(conn, "reports.record", {"account_id": sub["account_id"], "week_start": week_start,
                                               "status": status, "reason": reason, "offers": n,
                                               "job_run_id": job_run_id})
        if not rows:
            summary.already += 1
            return {**who, "status": "already written"}
        if status == "queued":
            outbox_id = outbox.enqueue(conn, key=key, channel_id=ch["id"], message=report.message(key, sub["email"]),
                                       source="report", subject=sub["username"], at=now)
            if outbox_id is None:  # the channel went away meanwhile: write nothing, say why
                raise ReportError(f"the e-mail channel {ch['name']!r} was removed while reports were written")
            run_on(conn, "reports.link_outbox", {"id": rows[0]["id"], "outbox_id": outbox_id})
    if status == "queued":
        summary.queued += 1
        return {**who, "status": "queued", "offers": n}
    summary.skipped += 1
    return {**who, "status": "skipped", "reason": reason}


def week_reports(db: Database, week_start: date) -> list[dict[str, Any]]:
    """Every owner's row for the week starting ``week_start``, with its delivery."""
    return db.run("reports.week", {"week_start": week_start}, cache=False)


def send_job(db: Database, run_id: int | None = None, now: datetime | None = None):
    """The ``send_owner_reports`` job: :func:`send_weekly` at the clock's time."""
    from venuepulse.queries.ops.maintenance import MaintenanceError, Outcome

    s = send_weekly(db, now=now, job_run_id=run_id)
    details = {"week_start": s.week_start, "queued": s.queued, "skipped": s.skipped, "already": s.already,
               "delivered": s.delivered, "retrying": s.retrying, "reports": (s.reports + s.failed)[:200]}
    if s.failed:  # a failed run, so job_failed alerts and Jobs & health show it; the rest went out
        raise MaintenanceError(s.text(), details)
    return Outcome(s.queued, s.text(), details)
