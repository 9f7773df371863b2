"""Durations as people write and read them: ``"5m"``, ``"1.5 h"``, ``"15 minutes"`` in, ``"12.5 min"`` out.

One grammar for every place a duration is typed (job schedules, query timeouts, chart buckets) and one
reading for every place one is shown.
"""

from __future__ import annotations

import math
import re
from datetime import timedelta
from typing import Any

UNITS = {
    "ms": 0.001,
    "s": 1, "sec": 1, "second": 1, "seconds": 1,
    "m": 60, "min": 60, "minute": 60, "minutes": 60,
    "h": 3600, "hour": 3600, "hours": 3600,
    "d": 86400, "day": 86400, "days": 86400,
}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)?\s*([a-z]*)")
# (below this many seconds, unit, seconds per unit) from the shortest reading to the longest
_READINGS = ((90, "s", 1), (90 * 60, "min", 60), (48 * 3600, "h", 3600), (math.inf, "d", 86400))


def parse_duration(text: str, default_unit: str | None = None) -> timedelta:
    """``"300"``, ``"5m"``, ``"1.5 h"``, ``"15 minutes"``, ``"hour"`` -> a timedelta.

    A bare number is in ``default_unit`` (refused when there is none); a bare unit means one of it.
    Raises ValueError; callers say where the text came from.
    """
    m = _DURATION.fullmatch(str(text).strip().lower())
    unit = (m.group(2) or default_unit) if m else None
    if not m or not (m.group(1) or m.group(2)) or unit not in UNITS:
        raise ValueError(f"{text!r} is not a duration such as 300, 5m, 1.5h or 15 minutes")
    try:
        return timedelta(seconds=float(m.group(1) or 1) * UNITS[unit])
    except OverflowError:
        raise ValueError(f"{text!r} is too long a duration") from None


def format_duration(seconds: Any) -> str:
    """Seconds as a short reading: ``"45 s"``, ``"12.5 min"``, ``"3.0 h"``, ``"4.2 d"``; ``"–"`` when unknown."""
    try:
        s = float(seconds)
    except (TypeError, ValueError):
        return "–"
    if math.isnan(s):
        return "–"
    for below, unit, size in _READINGS:
        if s < below:
            return f"{s:.0f} s" if size == 1 else f"{s / size:.1f} {unit}"
    return "–"  # infinite
