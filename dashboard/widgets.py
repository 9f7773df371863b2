"""Shared page pieces: filters kept in the URL, CSV downloads, freshness, empty states, degrading panels."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pandas as pd
import streamlit as st

from venuepulse.durations import format_duration
from venuepulse.errors import DatabaseUnavailable, QueryError, QueryTimeout

log = logging.getLogger("venuepulse.dashboard")

MAX_TEXT = 200  # longest free-text filter accepted from a URL or a text box


# -- filters kept in the URL ---------------------------------------------------------------------------


def _warn_bad(param: str, value: str, why: str) -> None:
    st.warning(f"Ignored `{param}={value[:40]}` in the address: {why}.")


def _parse_date(param: str) -> date | None:
    raw = st.query_params.get(param)
    if raw is None:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        _warn_bad(param, raw, "not a date like 2026-01-31")
        return None


def url_date_range(default_days: int = 30, *, max_days: int = 3660, key: str = "range") -> tuple[date, date]:
    """A date range picker whose value lives in ``?from=&to=``; returns (start, end) inclusive."""
    today = datetime.now(UTC).date()
    start = _parse_date("from") or today - timedelta(days=default_days - 1)
    end = _parse_date("to") or today
    if start > end:
        _warn_bad("from", start.isoformat(), "it is after `to`")
        start, end = end - timedelta(days=default_days - 1), end
    if (end - start).days > max_days:
        _warn_bad("from", start.isoformat(), f"ranges are limited to {max_days} days")
        start = end - timedelta(days=max_days)
    picked = st.date_input("Date range", value=(start, end), key=f"{key}_input", format="YYYY-MM-DD")
    if isinstance(picked, (tuple, list)) and len(picked) == 2:
        start, end = picked
    st.query_params["from"] = start.isoformat()
    st.query_params["to"] = end.isoformat()
    return start, end


def range_bounds(start: date, end: date) -> tuple[datetime, datetime]:
    """Inclusive dates as a half-open UTC timestamp range [start 00:00, end+1 00:00)."""
    return (datetime.combine(start, datetime.min.time(), tzinfo=UTC),
            datetime.combine(end + timedelta(days=1), datetime.min.time(), tzinfo=UTC))


def url_select(label: str, options: Sequence[str], *, param: str, default: str | None = None,
               format_func=str) -> str | None:
    """A selectbox whose choice lives in ``?<param>=``; unknown values fall back to the default."""
    options = list(options)
    if not options:
        return None
    raw = st.query_params.get(param)
    value = default if default in options else options[0]
    if raw is not None:
        if raw in options:
            value = raw
        else:
            _warn_bad(param, raw, "not one of the choices")
    chosen = st.selectbox(label, options, index=options.index(value), key=f"url_{param}", format_func=format_func)
    st.query_params[param] = chosen
    return chosen


def url_text(label: str, *, param: str, placeholder: str = "") -> str:
    """A text box whose value lives in ``?<param>=``; trimmed, NUL-free and at most MAX_TEXT characters."""
    raw = st.query_params.get(param, "")
    value = st.text_input(label, value=raw, key=f"url_{param}", placeholder=placeholder, max_chars=MAX_TEXT)
    clean = value.replace("\x00", "").strip()[:MAX_TEXT]
    if clean:
        st.query_params[param] = clean
    elif param in st.query_params:
        del st.query_params[param]
    return clean


def url_int(label: str, *, param: str, default: int, min_value: int, max_value: int, step: int = 1) -> int:
    raw = st.query_params.get(param)
    value = default
    if raw is not None:
        try:
            value = min(max(int(raw), min_value), max_value)
        except ValueError:
            _warn_bad(param, raw, "not a whole number")
    chosen = int(st.number_input(label, min_value=min_value, max_value=max_value, value=value, step=step,
                                 key=f"url_{param}"))
    st.query_params[param] = str(chosen)
    return chosen


# -- output ------------------------------------------------------------------------------------------


def download_csv(data: pd.DataFrame | list[dict[str, Any]], filename: str, *, key: str | None = None) -> None:
    """A CSV download of exactly the rows shown."""
    df = data if isinstance(data, pd.DataFrame) else pd.DataFrame(data)
    st.download_button("Download CSV", df.to_csv(index=False).encode("utf-8"), file_name=filename,
                       mime="text/csv", key=key or f"csv_{filename}", icon=":material/download:")


def freshness(as_of: datetime | None, what: str = "Data") -> None:
    """'Data as of … (n minutes ago)' — or a note that it has never been computed."""
    if as_of is None:
        st.caption(f"{what}: not computed yet.")
        return
    age = datetime.now(UTC) - as_of
    ago = "just now" if age < timedelta(minutes=1) else f"{format_duration(age.total_seconds())} ago"
    st.caption(f"{what} as of {as_of.astimezone(UTC):%Y-%m-%d %H:%M} UTC ({ago}){read_source_note()}.")


def read_source_note() -> str:
    """'; read from the replica, 0.3 s behind the primary' when the page reads through a replica (the shell
    keeps the page's ReadRouter in the session); '' otherwise. Never fails the page."""
    reads = st.session_state.get("vp_reads")
    if reads is None or getattr(reads, "replica", None) is None:
        return ""
    try:
        status = reads.status()
    except Exception:  # the note is a courtesy: the page's own data decides whether it can be shown
        log.debug("read source note not shown", exc_info=True)
        return ""
    if status.source == "replica":
        if status.lag_seconds is None:
            return "; read from the replica (lag unknown)"
        lag = status.lag_seconds
        return f"; read from the replica, {lag:.1f} s behind the primary" if lag < 60 else \
            f"; read from the replica, {format_duration(lag)} behind the primary"
    if status.source == "fallback":
        return "; read from the primary: the replica is unreachable"
    return ""


def empty_state(message: str, hint: str = "") -> None:
    st.info(f"{message}  \n{hint}" if hint else message, icon=":material/info:")


@contextmanager
def panel(title: str | None = None) -> Iterator[None]:
    """A section of a page that degrades to 'not available' on its own when its query fails or times out."""
    if title:
        st.subheader(title)
    try:
        yield
    except QueryError as exc:
        if isinstance(exc, QueryTimeout):
            st.warning(f"{title or 'This panel'} is not available right now: its query took too long.")
        else:
            st.warning(f"{title or 'This panel'} is not available right now: {exc}")
        log.warning("panel %s failed: %s", title, exc)
    except DatabaseUnavailable as exc:
        st.warning(f"{title or 'This panel'} is not available: {exc}")


def alerts_banner(ctx: Any, page: str) -> None:
    """A warning at the top of ``page`` while alerts about it are firing (not for venue owners). Never fails
    the page: when the alerts cannot be read, it shows nothing."""
    if ctx.account.is_owner:
        return
    from venuepulse.queries.pages import alerts

    try:
        rows = alerts.firing_for_page(ctx.db, page)
    except (QueryError, DatabaseUnavailable) as exc:
        log.warning("alerts banner of %s not shown: %s", page, exc)
        return
    if not rows:
        return
    names = [f"**{r['rule_name']}**" + (f" ({(r['value'] or {}).get('venue_name') or r['subject']})"
                                         if r["subject"] else "") for r in rows[:5]]
    more = f" and {len(rows) - 5} more" if len(rows) > 5 else ""
    st.warning(f"{len(rows)} alert(s) firing here: {', '.join(names)}{more}. Details on the Alerts page.",
               icon=":material/notifications_active:")


def fmt_int(n: Any) -> str:
    return "–" if n is None else f"{int(n):,}"


def fmt_pct(x: Any, digits: int = 1) -> str:
    return "–" if x is None else f"{100 * float(x):.{digits}f}%"
