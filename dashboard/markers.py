"""Change markers on trend charts: a dashed vertical line per change (DDL, deploy, note), a shaded band where a
schema snapshot only knows the change happened within its interval, and the table under the chart."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from venuepulse.dashboard.widgets import download_csv

MAX_DRAWN = 30
COLORS = {"ddl": "#b45309", "deploy": "#1d4ed8", "config": "#7c3aed", "incident": "#b91c1c", "note": "#4b5563"}


def label(m: dict[str, Any]) -> str:
    """One line: what changed (and how many statements a transaction's DDL held)."""
    more = f" (+{m['statements'] - 1} more)" if m.get("statements", 1) > 1 else ""
    return f"{m['kind']}: {m['description']}{more}"


def draw(fig: go.Figure, markers: list[dict[str, Any]]) -> None:
    """Add ``markers`` (newest first, as queries.ops.changes.markers returns them) to ``fig``, at most MAX_DRAWN."""
    for m in markers[:MAX_DRAWN]:
        color = COLORS.get(m["kind"], "#4b5563")
        if m.get("detected_after") is not None:
            fig.add_shape(type="rect", xref="x", yref="paper", x0=m["detected_after"], x1=m["at"], y0=0, y1=1,
                          fillcolor=color, opacity=0.08, line={"width": 0}, layer="below")
        fig.add_shape(type="line", xref="x", yref="paper", x0=m["at"], x1=m["at"], y0=0, y1=1,
                      line={"color": color, "width": 1, "dash": "dash"})
        fig.add_annotation(x=m["at"], y=1, xref="x", yref="paper", text="◆", showarrow=False, yanchor="bottom",
                           font={"color": color, "size": 10}, hovertext=f"{m['at']:%Y-%m-%d %H:%M} UTC · {label(m)}")


def caption(markers: list[dict[str, Any]]) -> None:
    if not markers:
        return
    more = f" (the {MAX_DRAWN} latest drawn)" if len(markers) > MAX_DRAWN else ""
    st.caption(f"Dashed lines: {len(markers)} change{'s' if len(markers) != 1 else ''}{more} — DDL, deploys and "
               f"notes (`venuepulse annotate`); hover the ◆ for what. A shaded band is a change found by a schema "
               f"snapshot, which only knows it happened within that interval.")


def table(markers: list[dict[str, Any]], key: str) -> None:
    """The markers as a table with a CSV download (inside a chart's "Chart data")."""
    if not markers:
        st.caption("No change markers in this range.")
        return
    shown = pd.DataFrame(markers)[["at", "kind", "description", "statements", "source", "detected_after",
                                   "role_name", "application_name"]]
    st.dataframe(shown, hide_index=True, column_config={
        "at": st.column_config.DatetimeColumn("At (UTC)", format="YYYY-MM-DD HH:mm:ss"), "kind": "Kind",
        "description": st.column_config.TextColumn("Change", width="large"), "statements": "Statements",
        "source": "Recorded by",
        "detected_after": st.column_config.DatetimeColumn("Happened after (UTC)", format="YYYY-MM-DD HH:mm:ss"),
        "role_name": "Role", "application_name": "Application"})
    download_csv(shown, f"{key}.csv", key=f"csv_{key}")


def near_lines(markers: list[dict[str, Any]], start: datetime, end: datetime) -> list[str]:
    """Markdown lines for the changes in ``[start, end)`` (listed under a regression)."""
    return [f"↳ Change at {m['at']:%Y-%m-%d %H:%M} UTC: {label(m)}" for m in markers if start <= m["at"] < end]
