"""What the page data modules share: the checked time window of a query, rows as a table, a safe ratio."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd


def period(start: datetime, end: datetime) -> dict[str, datetime]:
    """``{"from": start, "to": end}``, the half-open window a query takes; a ValueError says what is wrong."""
    for name, value in (("start", start), ("end", end)):
        if not isinstance(value, datetime):
            raise ValueError(f"{name} must be a datetime, not {type(value).__name__}")
        if value.tzinfo is None:
            raise ValueError(f"{name} must carry a time zone (got {value.isoformat()})")
    if start >= end:
        raise ValueError(f"start ({start.isoformat()}) must be before end ({end.isoformat()})")
    return {"from": start, "to": end}


def frame(rows: list[dict[str, Any]], columns: list[str]) -> pd.DataFrame:
    """``rows`` as a table with exactly ``columns`` (kept when there are no rows)."""
    return pd.DataFrame(rows, columns=columns) if rows else pd.DataFrame(columns=columns)


def ratio(a: Any, b: Any) -> float | None:
    """a / b, or None when b is zero or unknown."""
    if b is None or not b:
        return None
    return float(a) / float(b)
