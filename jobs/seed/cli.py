"""``venuepulse seed`` and ``venuepulse simulate``: handlers behind the parsers in cli/commands.py."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from venuepulse.errors import VenuePulseError


def cmd_seed(args: argparse.Namespace, url: str) -> int:
    from .load import seed

    if args.reset and args.append:
        raise VenuePulseError("--reset and --append exclude each other: choose one")
    mode = "reset" if args.reset else "append" if args.append else "empty"
    seed(url, scale=args.scale, seed=args.seed, days=args.days, mode=mode, progress=not args.quiet)
    return 0


def _line(t: dict[str, Any]) -> str:
    acts = ", ".join(f"{k} {v}" for k, v in sorted(t["actions"].items()))
    refs = ", ".join(f"{k} {v}" for k, v in sorted(t["refusals"].items())) or "none"
    errs = sum(t["errors"].values())
    return (f"{t['seconds']:7.1f}s  {t['events']} events ({t['events_per_second']}/s): {acts}; "
            f"refused: {refs}" + (f"; errors: {errs}" if errs else ""))


def cmd_simulate(args: argparse.Namespace, url: str) -> int:
    from venuepulse.jobs.simulate import simulate

    def report(t: dict[str, Any]) -> None:
        print(_line(t), flush=True)

    print(f"simulating about {args.rate:g} events/s"
          + (f" for {args.duration:g}s" if args.duration else " until interrupted (Ctrl-C)"), flush=True)
    totals = simulate(url, rate=args.rate, duration=args.duration, seed=args.seed,
                      report=None if args.quiet else report)
    print("done: " + _line(totals), flush=True)
    for what, n in sorted(totals["errors"].items()):
        print(f"  error x{n}: {what}", file=sys.stderr, flush=True)
    return 0
