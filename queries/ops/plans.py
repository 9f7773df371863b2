"""Plans over time: the capture_plans job's work and the plan shapes' diffs (docs/queries.md, "Plans over time").

A capture pass EXPLAINs the generic plan (``Database.generic_plan``: no values needed, nothing runs) of every
registered query it can — read queries that are a SELECT/WITH/VALUES/TABLE and modify no data — and reduces
each plan to its **shape**: one line per node with its type (join type, aggregate strategy, parallel and
partial modes folded in as EXPLAIN prints them), the relation, the index, the CTE or function it scans, and
the subplan it belongs to. Costs, row estimates, conditions and aliases are left out, so statistics moving
do not count as a change; partitions are named by their partitioned table (and their indexes by its index)
and identical branches of an Append are listed once, so making next month's partition does not either.
The shape's fingerprint is a hash of its text; a **plan change** is a capture whose fingerprint differs from
the query's previous one (stored by ``plans.record``).
"""

from __future__ import annotations

import difflib
import hashlib
import re
import time
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from venuepulse.errors import QueryError
from venuepulse.queries.core.registry import NamedQuery, registry
from venuepulse.queries.core.runner import Database
from venuepulse.queries.ops.job_runs import jsonb

PLANNABLE = ("SELECT", "WITH", "VALUES", "TABLE")
# a data-modifying statement anywhere in the query (a WITH ... INSERT, say) keeps it out of the capture
_MODIFIES = re.compile(r"\b(INSERT\s+INTO|UPDATE\s+[\w.\"]+(\s+(AS\s+)?\w+)?\s+SET|DELETE\s+FROM|MERGE\s+INTO)\b",
                       re.IGNORECASE)
_COMMENTS = re.compile(r"--[^\n]*|/\*.*?\*/", re.DOTALL)
_INDEX = re.compile(r" using (\S+)")
_RELATION = re.compile(r" on (\S+)")
_SUBPLAN = re.compile(r"^((?:InitPlan|SubPlan|CTE)\s+\S+)")
_AGGREGATES = {"Hashed": "HashAggregate", "Sorted": "GroupAggregate", "Mixed": "MixedAggregate"}
FINGERPRINT_CHARS = 16
TOOLING = ("bench",)  # subjects whose queries read tables that exist only while `venuepulse bench` runs


def skip_reason(q: NamedQuery) -> str | None:
    """Why a plan of ``q`` is not captured (None: it is): writes and maintenance are left alone."""
    if q.kind != "read":
        return f"a {q.kind} query"
    if q.name.split(".", 1)[0] in TOOLING:
        return "the bench's own"
    text = _COMMENTS.sub(" ", q.sql).strip().lstrip("(").strip()
    first = text.split(None, 1)[0].upper() if text else ""
    if first not in PLANNABLE:
        return f"not a query ({first or 'empty'})"
    if _MODIFIES.search(text):
        return "modifies data"
    return None


def capturable(queries: Mapping[str, NamedQuery] | None = None) -> list[NamedQuery]:
    """The queries (default: the registry) whose plans a capture pass takes, by name."""
    queries = registry() if queries is None else queries
    return [q for _, q in sorted(queries.items()) if skip_reason(q) is None]


# -- shapes ----------------------------------------------------------------------------------------------


def _label(node: Mapping[str, Any], roots: Mapping[str, str]) -> str:
    kind = node.get("Node Type", "?")
    strategy = node.get("Strategy")
    if kind == "Aggregate":
        kind = _AGGREGATES.get(strategy, kind)
    elif kind == "SetOp" and strategy == "Hashed":
        kind = "HashSetOp"
    join = node.get("Join Type")
    if join and join != "Inner":
        kind = kind.replace(" Join", f" {join} Join") if kind.endswith(" Join") else f"{kind} {join} Join"
    if node.get("Partial Mode") and node["Partial Mode"] != "Simple":
        kind = f"{node['Partial Mode']} {kind}"
    if node.get("Parallel Aware"):
        kind = f"Parallel {kind}"
    if node.get("Scan Direction") == "Backward":
        kind += " Backward"
    parts = [kind]
    if node.get("Index Name"):
        parts.append(f"using {roots.get(node['Index Name'], node['Index Name'])}")
    for key in ("Relation Name", "CTE Name", "Function Name"):
        if node.get(key):
            parts.append(f"on {roots.get(node[key], node[key])}")
            break
    sub = _SUBPLAN.match(node.get("Subplan Name") or "")
    if sub:
        parts.append(f"[{sub.group(1)}]")
    return " ".join(parts)


def _lines(node: Mapping[str, Any], roots: Mapping[str, str], depth: int) -> list[str]:
    prefix = "  " * depth + ("-> " if depth else "")
    out = [prefix + _label(node, roots)]
    children = [_lines(child, roots, depth + 1) for child in node.get("Plans") or ()]
    if node.get("Node Type") in ("Append", "Merge Append"):
        # a partitioned table's scans differ only in the partition: one of each kind stands for them all
        unique: list[list[str]] = []
        for child in children:
            if child not in unique:
                unique.append(child)
        children = unique
    for child in children:
        out.extend(child)
    return out


def _walk(node: Mapping[str, Any]) -> Iterable[Mapping[str, Any]]:
    yield node
    for child in node.get("Plans") or ():
        yield from _walk(child)


def plan_relations(plan: Any) -> set[str]:
    """Every relation and index name an EXPLAIN (FORMAT JSON) result mentions."""
    root = _root(plan)
    return {n[k] for n in _walk(root) for k in ("Relation Name", "Index Name") if n.get(k)}


def _root(plan: Any) -> Mapping[str, Any]:
    top = plan[0] if isinstance(plan, list) else plan
    return top["Plan"] if "Plan" in top else top


def shape(plan: Any, roots: Mapping[str, str] | None = None) -> str:
    """The shape of an EXPLAIN (FORMAT JSON) result: one line per node, children indented under ``->``;
    ``roots`` maps partition (and partition index) names to their partitioned table's (index's)."""
    return "\n".join(_lines(_root(plan), roots or {}, 0))


def fingerprint(shape_text: str) -> str:
    return hashlib.sha256(shape_text.encode("utf-8")).hexdigest()[:FINGERPRINT_CHARS]


def _names(shape_text: str, pattern: re.Pattern[str]) -> set[str]:
    return {m.group(1) for line in shape_text.splitlines() for m in [pattern.search(line)] if m}


def diff(before: str, after: str) -> str:
    """The whole tree with the lines only the old plan has marked ``-`` and those only the new one has
    ``+`` (the rest indented by two spaces), like a unified diff of the two shapes."""
    lines = difflib.ndiff(before.splitlines(), after.splitlines())
    return "\n".join(line.rstrip() for line in lines if not line.startswith("? "))


def summary(before: str, after: str) -> str:
    """One sentence on what changed: indexes and relations no longer used or newly used, else the nodes."""
    said = []
    for what, pattern in (("index", _INDEX), ("relation", _RELATION)):
        old, new = _names(before, pattern), _names(after, pattern)
        if old - new:
            said.append(f"no longer uses {what} " + ", ".join(sorted(old - new)))
        if new - old:
            said.append(f"now uses {what} " + ", ".join(sorted(new - old)))
    if not said:
        kinds = lambda text: {re.sub(r"^\s*(-> )?", "", line) for line in text.splitlines()}  # noqa: E731
        gone, came = sorted(kinds(before) - kinds(after)), sorted(kinds(after) - kinds(before))
        if gone:
            said.append("no longer: " + "; ".join(gone))
        if came:
            said.append("now: " + "; ".join(came))
    return "; ".join(said) or "the nodes were reordered"


# -- capture ---------------------------------------------------------------------------------------------


def partition_roots(db: Database, names: Iterable[str]) -> dict[str, str]:
    names = sorted(set(names))
    if not names:
        return {}
    return {r["name"]: r["root"] for r in db.run("plans.partition_roots", {"names": names})}


def capture(db: Database, queries: Mapping[str, NamedQuery] | None = None,
            at: datetime | None = None) -> dict[str, Any]:
    """One capture pass over ``queries`` (default: the registry): their generic plans' shapes stored, plan
    changes recorded. Returns captured (count), skipped (count), failed ({name: why}), changes
    ([{query_name, before, after}]), new_shapes, ms (the pass's wall time)."""
    started = time.perf_counter()
    chosen = capturable(queries)
    plans: dict[str, Any] = {}
    failed: dict[str, str] = {}
    explain_ms: dict[str, float] = {}
    for q in chosen:
        t0 = time.perf_counter()
        try:
            plans[q.name] = db.generic_plan(q)
        except QueryError as exc:  # e.g. an extension's view that this server lacks
            failed[q.name] = exc.detail or str(exc)
        explain_ms[q.name] = (time.perf_counter() - t0) * 1000.0
    roots = partition_roots(db, (n for p in plans.values() for n in plan_relations(p)))
    rows = []
    for name, plan in plans.items():
        text = shape(plan, roots)
        rows.append({"query_name": name, "fingerprint": fingerprint(text), "shape": text})
    result = db.one("plans.record", {"plans": jsonb(rows), "at": at}) or {}
    total = len(registry()) if queries is None else len(queries)
    return {"captured": int(result.get("captured") or 0), "skipped": total - len(chosen), "failed": failed,
            "changes": result.get("changes") or [], "new_shapes": int(result.get("new_shapes") or 0),
            "ms": (time.perf_counter() - started) * 1000.0, "explain_ms": explain_ms}


def capture_job(db: Database) -> Any:
    """The capture_plans job: one pass over the registry; an Outcome (rows: plan changes detected)."""
    # imported here: maintenance imports the pages' module, which imports this one
    from venuepulse.queries.ops.maintenance import Outcome

    r = capture(db)
    changed = ", ".join(c["query_name"] for c in r["changes"])
    text = f"{r['captured']} plans captured, {len(r['changes'])} changed" + (f" ({changed})" if changed else "")
    if r["failed"]:
        text += f"; {len(r['failed'])} could not be explained (see details)"
    return Outcome(len(r["changes"]), text, {k: r[k] for k in ("captured", "skipped", "failed", "changes", "ms")})


# -- reading ---------------------------------------------------------------------------------------------


def with_diffs(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """plans.changes rows with ``summary`` and ``diff`` added (the shapes kept)."""
    for r in rows:
        r["summary"] = summary(r["before_shape"], r["after_shape"])
        r["diff"] = diff(r["before_shape"], r["after_shape"])
    return rows
