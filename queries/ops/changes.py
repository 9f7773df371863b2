"""Change markers (migration 0012): deploy annotations, the schema snapshot that finds DDL where no event
trigger records it, and the markers the trend charts draw and a regression lists.

Every marker row: at, kind (ddl, deploy, config, incident, note), source (event_trigger, snapshot, annotate),
description, statements (a transaction's DDL is one marker), objects, detected_after (snapshot-found DDL
happened in ``(detected_after, at]``), role_name, application_name.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from venuepulse.errors import QueryError, VenuePulseError
from venuepulse.queries.core.runner import Database

KINDS = ("deploy", "config", "incident", "note")
MAX_TEXT = 500
MAX_AHEAD = timedelta(days=1)
MAX_BACK = timedelta(days=400)


class AnnotationRefused(VenuePulseError):
    """An annotation was refused; ``field`` names what was wrong (text, at or kind)."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


def _refuse(field: str, why: str) -> AnnotationRefused:
    return AnnotationRefused(field, f"{field}: {why}; nothing was recorded")


def check_annotation(text: Any, at: Any, kind: Any, now: datetime | None = None) -> tuple[str, datetime, str]:
    """The annotation's values, cleaned; AnnotationRefused naming the field when one is not acceptable (the same
    rules as vp_annotate, which checks again)."""
    now = now or datetime.now(UTC)
    if not isinstance(text, str) or not text.strip():
        raise _refuse("text", "must not be empty")
    if len(text) > MAX_TEXT:
        raise _refuse("text", f"must be at most {MAX_TEXT} characters (it has {len(text)})")
    if kind not in KINDS:
        raise _refuse("kind", f"must be one of {', '.join(KINDS)}, not {kind!r}")
    if not isinstance(at, datetime) or at.tzinfo is None:
        raise _refuse("at", f"must be a timezone-aware time, not {at!r}")
    if at > now + MAX_AHEAD or at < now - MAX_BACK:
        raise _refuse("at", f"{at.isoformat()} must be within the last {MAX_BACK.days} days and at most "
                            f"{MAX_AHEAD.days} day ahead")
    return text.strip(), at, kind


def annotate(db: Database, text: str, at: datetime | None = None, kind: str = "deploy") -> int:
    """Record an annotation (a deploy marker by default) at ``at`` (default now); returns its id."""
    text, at, kind = check_annotation(text, at or datetime.now(UTC), kind)
    try:
        return int(db.scalar("changes.annotate", {"text": text, "at": at, "kind": kind}))
    except QueryError as exc:
        field = {"bad_text": "text", "bad_kind": "kind", "bad_at": "at"}.get(exc.reason or "")
        if field:
            raise _refuse(field, (exc.detail or "").partition(": ")[2] or str(exc)) from exc
        raise


def snapshot_schema(db: Database) -> int:
    """Compare the catalog with the last schema snapshot; returns the markers recorded (none where the event
    triggers record DDL as it happens, or on the first snapshot, which only sets the baseline)."""
    return int(db.scalar("changes.snapshot_schema") or 0)


def markers(db: Database, start: datetime, end: datetime, *, routine: bool = False, limit: int = 200) -> list[dict]:
    """Changes in ``[start, end)``, newest first; ``routine`` adds the maintenance job's partitions."""
    if start.tzinfo is None or end.tzinfo is None or end <= start:
        raise ValueError("start and end must be timezone-aware, end after start")
    return db.run("changes.markers", {"start": start, "end": end, "routine": routine, "limit": limit})


def near(rows: list[dict], start: datetime, end: datetime) -> list[dict]:
    """The markers of ``rows`` (as :func:`markers` returns them) at or after ``start`` and before ``end``."""
    return [m for m in rows if start <= m["at"] < end]


def capture_status(db: Database) -> dict[str, Any]:
    """``{"event_triggers": bool, "last_schema_snapshot": datetime | None, "markers": int, "message": str}``."""
    state = db.one("changes.capture_state") or {}
    if state.get("event_triggers"):
        how = "DDL is recorded as it happens (event triggers)"
    else:
        last = state.get("last_schema_snapshot")
        when = f"last at {last:%Y-%m-%d %H:%M} UTC" if last else "none taken yet"
        how = ("not available: event triggers (they need a superuser to create); DDL is detected by the "
               f"snapshot_schema job instead, to within its interval ({when})")
    return {**state, "message": how}
