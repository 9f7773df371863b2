"""Reads behind the "Database health" page (engineers): sessions, blocking chains, indexes, tables,
wraparound, sequences and cache hit ratios, each finding with the statement that fixes it (as text: nothing
here runs one).

Sessions of other roles are visible only to members of pg_read_all_stats (pg_monitor includes it);
:func:`viewer` says whether the connected role is one, and :func:`missing_stats` gives the sentence a panel
shows when it is not.  The rest reads statistics views and catalogs any role may read.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from venuepulse.queries.core.runner import Database

LONG_RUNNING_S = 60.0
# Tables smaller than this are cheap to scan sequentially: their seq scans are not a finding.
LARGE_TABLE_BYTES = 10 * 1024 * 1024
DEAD_SHARE = 0.2
DEAD_MIN_ROWS = 1_000
WRAPAROUND_SHARE = 0.5  # of autovacuum_freeze_max_age: autovacuum is late freezing
WRAPAROUND_LIMIT = 2**31 - 1  # transaction IDs: the server stops assigning new ones near here
SEQUENCE_SHARE = 0.5
CACHE_HIT_TARGET = 0.99
CACHE_MIN_BLOCKS = 10_000


def viewer(db: Database) -> dict[str, Any]:
    """The connected role, whether it reads all roles' statistics, max_connections and the stats reset time."""
    row = dict(db.one("dbhealth.viewer", cache=False) or {})
    row["reads_all_stats"] = bool(row.get("pg_monitor") or row.get("pg_read_all_stats"))
    return row


def missing_stats(role: str, what: str) -> str:
    """The 'not available' sentence for a panel that needs other roles' sessions."""
    return (f"{what} not available: the dashboard's role {role} is not a member of pg_monitor or "
            "pg_read_all_stats, so other roles' sessions show no state, query or waits to it. "
            f"GRANT pg_monitor TO {role} (or GRANT pg_read_all_stats TO venuepulse_reader) as a superuser or "
            "the provider's admin user (see docs/managed-postgresql.md).")


def _float(rows: list[dict[str, Any]], *keys: str) -> list[dict[str, Any]]:
    for r in rows:
        for k in keys:
            if r.get(k) is not None:
                r[k] = float(r[k])
    return rows


# -- sessions -------------------------------------------------------------------------------------------------


def connections(db: Database) -> list[dict[str, Any]]:
    """Client sessions of the server by database, role, application and state (``hidden``: state not visible)."""
    return db.run("dbhealth.connections", cache=False)


def long_running(db: Database, min_seconds: float = LONG_RUNNING_S) -> list[dict[str, Any]]:
    """Statements running, or transactions left idle, for at least ``min_seconds``; each with ``fix``."""
    rows = _float(db.run("dbhealth.long_running", {"min_seconds": float(min_seconds)}, cache=False),
                  "seconds", "xact_seconds")
    for r in rows:
        r["fix"] = _stop(r["pid"], r["state"])
    return rows


def _stop(pid: int, state: str | None) -> str:
    # an idle transaction has no statement to cancel: only ending the session releases its locks
    if state and state.startswith("idle in transaction"):
        return f"SELECT pg_terminate_backend({pid});"
    return f"SELECT pg_cancel_backend({pid});"


def blocking(db: Database) -> list[dict[str, Any]]:
    """One row per blocked session: who blocks it directly, the chain up to the session at its root
    (``chain``: pids, blocked first) and ``fix``, the statement that ends the root blocker."""
    sessions = {r["pid"]: r for r in _float(db.run("dbhealth.blocking", cache=False), "query_seconds", "xact_seconds")}
    out = []
    for pid, r in sessions.items():
        if not r["blocking_pids"]:
            continue
        chain, seen = [pid], {pid}
        current = r
        while current is not None and current["blocking_pids"]:
            nxt = min(current["blocking_pids"])
            if nxt in seen:  # a deadlock cycle: the server resolves it within deadlock_timeout
                break
            chain.append(nxt)
            seen.add(nxt)
            current = sessions.get(nxt)
        root = sessions.get(chain[-1], {})
        out.append({**r, "blocking_pids": list(r["blocking_pids"]), "chain": chain, "root_pid": chain[-1],
                    "root_state": root.get("state"), "root_query_name": root.get("query_name"),
                    "root_application": root.get("application"),
                    "fix": _stop(chain[-1], root.get("state"))})
    out.sort(key=lambda r: -(r["query_seconds"] or 0))
    return out


# -- indexes --------------------------------------------------------------------------------------------------


def _enforces(ix: dict[str, Any]) -> bool:
    return bool(ix["is_unique"] or ix["is_primary"] or ix["constraint_name"])


def _drop(ix: dict[str, Any]) -> str:
    if ix["constraint_name"]:
        return f"ALTER TABLE {ix['qualified_table']} DROP CONSTRAINT {ix['constraint_name']};"
    if ix["is_partitioned"]:  # CONCURRENTLY is refused on a partitioned index
        return f"DROP INDEX {ix['qualified_name']};"
    return f"DROP INDEX CONCURRENTLY {ix['qualified_name']};"


def _covers(big: dict[str, Any], small: dict[str, Any]) -> bool:
    """Whether ``big`` answers every lookup ``small`` does: same table, method, predicate and expressions,
    and ``small``'s key columns (with their operator classes and collations) a leading prefix of ``big``'s."""
    if (big["schema"], big["table_name"], big["method"], big["predicate"], big["expressions"]) != \
            (small["schema"], small["table_name"], small["method"], small["predicate"], small["expressions"]):
        return False
    if small["method"] not in ("btree", "hash") and small["columns"] != big["columns"]:
        return False  # only ordered key columns make a prefix answer the same lookups
    n = small["key_columns"]
    if n > big["key_columns"]:
        return False
    if small["method"] == "hash" and n != big["key_columns"]:
        return False
    return all(big[k][:n] == small[k][:n] for k in ("columns", "opclasses", "collations"))


def indexes(db: Database) -> dict[str, list[dict[str, Any]]]:
    """``{"all": every index with sizes and scans, "unused": never scanned since the stats reset and
    enforcing nothing, "duplicates": an index another index covers (``covered_by``), each with ``fix``}``."""
    rows = db.run("dbhealth.indexes", cache=False)
    for r in rows:
        r["columns"], r["opclasses"], r["collations"] = list(r["columns"]), list(r["opclasses"]), list(r["collations"])
    by_table: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        if r["is_valid"]:
            by_table[(r["schema"], r["table_name"])].append(r)
    duplicates = []
    for group in by_table.values():
        for small in group:
            if small["is_partition_index"]:
                continue
            for big in group:
                if big is small or big["is_partition_index"] or not _covers(big, small):
                    continue
                same = (big["key_columns"] == small["key_columns"] and big["columns"] == small["columns"])
                if same:
                    # two identical indexes: keep the one enforcing something, else the first by name
                    keep_big = _enforces(big) and not _enforces(small) or (
                        _enforces(big) == _enforces(small) and big["index_name"] < small["index_name"])
                    if not keep_big:
                        continue
                elif small["is_unique"] or small["is_primary"]:
                    continue  # a longer index does not enforce the shorter one's uniqueness
                duplicates.append({**small, "covered_by": big["index_name"],
                                   "covered_by_definition": big["definition"],
                                   "kind": "duplicate" if same else "covered", "fix": _drop(small)})
                break
    unused = [{**r, "fix": _drop(r)} for r in rows
              if r["is_valid"] and not r["idx_scan"] and not _enforces(r) and not r["is_partition_index"]
              and not r["is_partitioned"]]
    return {"all": rows, "unused": unused, "duplicates": duplicates}


# -- tables ---------------------------------------------------------------------------------------------------


def tables(db: Database) -> list[dict[str, Any]]:
    """Every table's sizes, scans, dead rows and last (auto)vacuum and analyze; ``findings``: what to do."""
    rows = db.run("dbhealth.tables", cache=False)
    for r in rows:
        findings = []
        name = r["qualified_name"]
        if r["table_bytes"] >= LARGE_TABLE_BYTES and r["seq_scan"] > r["idx_scan"]:
            findings.append(f"{r['seq_scan']:,} sequential scans against {r['idx_scan']:,} index scans on a "
                            "large table: find the query on the Query performance page (EXPLAIN) and index "
                            f"what it filters on: CREATE INDEX CONCURRENTLY ON {name} (…);")
        if r["dead_rows"] >= DEAD_MIN_ROWS and r["dead_rows"] > DEAD_SHARE * max(r["live_rows"], 1):
            findings.append(f"{r['dead_rows']:,} dead rows ({r['live_rows']:,} live): VACUUM (ANALYZE) {name};")
        if r["live_rows"] and not (r["last_analyze"] or r["last_autoanalyze"]):
            findings.append(f"never analyzed, so the planner guesses its row counts: ANALYZE {name};")
        r["findings"] = findings
    return rows


# -- wraparound, sequences, cache -------------------------------------------------------------------------------


def wraparound(db: Database) -> dict[str, list[dict[str, Any]]]:
    """``{"databases": [...], "tables": [...]}``: transaction-ID and multixact ages against
    autovacuum_freeze_max_age (``xid_share``) and the hard limit (``xid_limit_share``), with ``fix``."""
    dbs = db.run("dbhealth.wraparound_databases", cache=False)
    freeze = int(dbs[0]["freeze_max_age"]) if dbs else 200_000_000
    mfreeze = int(dbs[0]["multixact_freeze_max_age"]) if dbs else 400_000_000
    for r in dbs:
        r["xid_share"] = r["xid_age"] / r["freeze_max_age"]
        r["mxid_share"] = r["mxid_age"] / r["multixact_freeze_max_age"]
        r["xid_limit_share"] = r["xid_age"] / WRAPAROUND_LIMIT
        r["fix"] = (f"connect to {r['database']} and freeze its oldest tables (below): VACUUM (FREEZE) …;"
                    if max(r["xid_share"], r["mxid_share"]) >= WRAPAROUND_SHARE else "")
    tabs = db.run("dbhealth.wraparound_tables", cache=False)
    for r in tabs:
        r["xid_share"] = r["xid_age"] / freeze
        r["mxid_share"] = r["mxid_age"] / mfreeze
        r["fix"] = (f"VACUUM (FREEZE, VERBOSE) {r['qualified_name']};"
                    if max(r["xid_share"], r["mxid_share"]) >= WRAPAROUND_SHARE else "")
    return {"databases": dbs, "tables": tabs}


def sequences(db: Database) -> list[dict[str, Any]]:
    """Every sequence with the share of its range used (``used_share``, None when unreadable) and ``fix``."""
    rows = db.run("dbhealth.sequences", cache=False)
    for r in rows:
        last, lo, hi, inc = r["last_value"], r["min_value"], r["max_value"], r["increment_by"]
        r["used_share"] = None if last is None else (
            (last - lo) / (hi - lo) if inc > 0 else (hi - last) / (hi - lo))
        r["fix"] = ""
        if r["used_share"] is not None and r["used_share"] >= SEQUENCE_SHARE:
            if r["data_type"] != "bigint" and r["owned_by_table"]:
                r["fix"] = (f"ALTER TABLE {r['owned_by_table']} ALTER COLUMN {r['owned_by_column']} TYPE bigint; "
                            f"ALTER SEQUENCE {r['qualified_name']} AS bigint;")
            elif r["data_type"] != "bigint":
                r["fix"] = f"ALTER SEQUENCE {r['qualified_name']} AS bigint;"
            else:
                r["fix"] = f"ALTER SEQUENCE {r['qualified_name']} MAXVALUE …; (or plan a new key)"
    return rows


def cache_hits(db: Database) -> list[dict[str, Any]]:
    """Buffer cache hit ratio of the database, its tables and its indexes (``ratio`` None without reads)."""
    row = db.one("dbhealth.cache_hits", cache=False) or {}
    out = []
    for scope in ("database", "table", "index"):
        hit, read = int(row.get(f"{scope}_hit") or 0), int(row.get(f"{scope}_read") or 0)
        ratio = hit / (hit + read) if hit + read else None
        low = ratio is not None and hit + read >= CACHE_MIN_BLOCKS and ratio < CACHE_HIT_TARGET
        out.append({"scope": {"database": "whole database", "table": "tables", "index": "indexes"}[scope],
                    "hits": hit, "reads": read, "ratio": ratio,
                    "fix": ("below 99%: the working set does not fit in shared_buffers; look for sequential scans "
                            "(Tables) or raise it: ALTER SYSTEM SET shared_buffers = '…'; then restart"
                            if low else "")})
    return out
