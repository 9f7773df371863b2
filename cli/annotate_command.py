"""``venuepulse annotate "TEXT" [--at TIME] [--kind deploy]``: a change marker the trend charts draw.

The work is in ``venuepulse.queries.ops.changes``; a refusal names the argument it is about.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any

from venuepulse.console import say
from venuepulse.errors import ConfigError

FLAGS = {"text": "TEXT", "at": "--at", "kind": "--kind"}


def parse_at(value: str | None) -> datetime | None:
    """ISO 8601 (``2026-03-02T09:30:00+01:00``, ``2026-03-02 09:30``); a time without offset is UTC."""
    if value is None:
        return None
    try:
        at = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ConfigError(f"--at: {value!r} is not a time such as 2026-03-02T09:30:00Z or '2026-03-02 09:30' (UTC); "
                          "nothing was recorded") from None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def cmd_annotate(args: argparse.Namespace) -> int:
    from venuepulse.commands import database_url
    from venuepulse.queries.core.runner import Database
    from venuepulse.queries.ops import changes

    at = parse_at(args.at)
    try:
        text, at, kind = changes.check_annotation(args.text, at or datetime.now(UTC), args.kind)
    except changes.AnnotationRefused as exc:
        raise ConfigError(f"{FLAGS[exc.field]}: {str(exc).partition(': ')[2]}") from None
    with Database(database_url(args), record=False, max_size=1, application_name="venuepulse-cli") as db:
        try:
            marker = changes.annotate(db, text, at, kind)
        except changes.AnnotationRefused as exc:
            raise ConfigError(f"{FLAGS[exc.field]}: {str(exc).partition(': ')[2]}") from None
    say(f"annotate: {kind} marker {marker} recorded at {at.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC: {text}")
    return 0


def register_annotate(sub: Any) -> None:
    from venuepulse.commands import add_command
    from venuepulse.queries.ops.changes import KINDS

    p = add_command(sub, "annotate", cmd_annotate,
                    help="record a deploy (or config, incident, note) marker shown on the trend charts")
    p.add_argument("text", metavar="TEXT", help="what happened, e.g. 'deploy v1.4.2 (a1b2c3d)'; 1 to 500 characters")
    p.add_argument("--at", default=None, metavar="TIME",
                   help="when, ISO 8601 (default now; a time without offset is UTC)")
    p.add_argument("--kind", default="deploy", choices=KINDS, help="default deploy")
