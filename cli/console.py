"""Talking to the person at the terminal."""

from __future__ import annotations


def say(msg: str = "") -> None:
    """Print one line at once (flushed: the output is often a pipe or a log file)."""
    print(msg, flush=True)
