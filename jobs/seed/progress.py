"""Progress display for the seeder: one bar per table with rows/s, and the closing summary table."""

from __future__ import annotations

import sys
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text


class RowsPerSecond(ProgressColumn):
    def render(self, task: Task) -> Text:
        elapsed = task.finished_time if task.finished else task.elapsed
        speed = task.completed / elapsed if elapsed else None
        if not speed or task.fields.get("step"):
            return Text("      - rows/s", style="progress.data.speed")
        return Text(f"{speed:>9,.0f} rows/s", style="progress.data.speed")


class SeedProgress:
    """Bars while loading (``enabled=False``: silent).  Use as a context manager."""

    def __init__(self, enabled: bool = True, console: Console | None = None):
        self.enabled = enabled
        self.console = console or Console(file=sys.stderr)
        self._progress = Progress(
            TextColumn("{task.description:<24}"), BarColumn(), MofNCompleteColumn(), RowsPerSecond(),
            TimeElapsedColumn(), console=self.console, disable=not enabled)

    def __enter__(self) -> SeedProgress:
        self._progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.__exit__(*exc)

    def say(self, message: str) -> None:
        if self.enabled:
            self._progress.console.print(message)

    def table(self, name: str, rows: int) -> Any:
        task = self._progress.add_task(name, total=max(rows, 1) if rows else 1)
        if not rows:
            self._progress.update(task, completed=1)
        return lambda n: self._progress.advance(task, n)

    def step(self, name: str) -> Any:
        """A one-unit task for a set-based step (recompute, refresh); call the result when done."""
        task = self._progress.add_task(name, total=1, step=True)
        return lambda: self._progress.update(task, completed=1)


def print_summary(summary: dict[str, Any], console: Console | None = None) -> None:
    console = console or Console(file=sys.stderr)
    t = Table(title=f"seeded scale '{summary['scale']}' (seed {summary['seed']}, {summary['days']} days)")
    t.add_column("table")
    t.add_column("rows", justify="right")
    t.add_column("seconds", justify="right")
    t.add_column("rows/s", justify="right")
    for name, info in summary["tables"].items():
        t.add_row(name, f"{info['rows']:,}", f"{info['seconds']:.2f}", f"{info['rows_per_second']:,.0f}")
    t.add_row("[b]total[/b]", f"[b]{summary['total_rows']:,}[/b]", f"{summary['copy_seconds']:.2f}",
              f"{summary['total_rows'] / max(summary['copy_seconds'], 1e-9):,.0f}")
    console.print(t)
    steps = ", ".join(f"{k} {v:.1f}s" for k, v in summary["steps"].items())
    console.print(f"{steps}; total {summary['seconds']:.1f}s; database size {summary['database_size']}")
