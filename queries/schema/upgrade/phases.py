"""What each revision of the upgrade path does (called from ``queries/upgrade/versions/L*.py``).

A phase runs inside its Alembic revision: its DDL in the revision's transaction (recorded as the step
``L<n>.ddl`` in ``venuepulse_upgrade_progress``, so a re-run after an interruption skips it), then its
backfills outside any long transaction (Alembic's autocommit block; each batch commits with its progress
row), then whatever must happen once the data is in (validation, the swap), after which Alembic stamps
the revision.  An interrupted phase leaves the database at the previous revision with its progress kept;
running the upgrade again continues where it stopped.
"""

from __future__ import annotations

import re
import time
from typing import Any

from psycopg.rows import tuple_row

from venuepulse.errors import UpgradeRefused
from venuepulse.queries.core.execute import execute, sql_statement
from venuepulse.queries.schema.migrations.sqlfile import read_sql_file as read_main_sql_file
from venuepulse.queries.schema.upgrade import schema0001
from venuepulse.queries.schema.upgrade.sqlfile import read_sql_file

# 0001's functions that phase 1 installs (the rest need phase 2's tables, status() phase 3's column drop).
PHASE1_FUNCTIONS = [
    "vp_is_valid_timezone", "vp_is_visibility", "vp_is_valid_privacy", "vp_distance_miles", "vp_triggers_paused",
    "vp_partition_name", "vp_ensure_partition", "vp_ensure_partitions", "refresh_venue_stats",
]
PHASE1_TABLES = ["query_performance_log", "query_performance_log_default", "job_runs", "partition_policies"]
PHASE2_TABLES = ["notification_settings", "notifications", "venue_interactions", "user_privacy"]
PARTITIONED = {"check_ins": "checked_in_at", "event_stream": "created_at"}
SWAP_LOCK_TIMEOUT = "3s"
SWAP_ATTEMPTS = 20
DDL_LOCK_TIMEOUT = "5s"
PHASE1_LOCKS = ["users", "venues", "check_ins", "flash_offers", "flash_offer_claims", "flash_offer_events"]
PHASE2_LOCKS = ["users", "venues", "check_ins", "reviews", "favorites", "collections", "collection_venues",
                "flash_offers", "flash_offer_claims", "flash_offer_events", "notification_preferences",
                "social_notifications", "activity_feed"]
PHASE4_LOCKS = ["users", "venues", "check_ins", "event_stream"]


# --- running SQL on the revision's connection --------------------------------------------------------------


def _context() -> tuple[Any, dict[str, Any]]:
    from alembic import context, op

    if op.get_context().as_sql:
        raise UpgradeRefused("the legacy upgrade backfills data in batches and cannot be rendered as a SQL script")
    raw = op.get_bind().connection.driver_connection
    return raw, context.config.attributes


def _exec(raw, name: str, sql: str) -> None:
    """SQL built here (DDL from 0001's text and the fixed table lists) as statement ``name``, no timeout."""
    execute(raw, sql_statement(name, sql), row_factory=tuple_row)


def _named(raw, name: str, params: dict | None = None) -> list[tuple]:
    return execute(raw, name, params, row_factory=tuple_row)


def _file(raw, filename: str) -> None:
    """One of the upgrade's SQL files, named after it (``L1_computed.up.sql`` -> ``upgrade.l1_computed.up``)."""
    _exec(raw, "upgrade." + filename.removesuffix(".sql").lower(), read_sql_file(filename))


def _ddl(raw, step: str, tables: list[str], work) -> None:
    """Run a phase's DDL once (recorded as ``step``), with every table it alters locked up front.

    Taking all the locks first, each wait bounded by DDL_LOCK_TIMEOUT, keeps the DDL from deadlocking
    with the app's transactions halfway through (they would otherwise interleave lock by lock); a
    timeout or deadlock rolls back to a savepoint and tries again.
    """
    if _step_done(raw, step):
        return

    def attempt() -> None:
        _named(raw, "legacy.lock_wait", {"timeout": DDL_LOCK_TIMEOUT})
        _exec(raw, "upgrade.lock_tables", f"LOCK TABLE {', '.join(tables)} IN ACCESS EXCLUSIVE MODE")
        _named(raw, "legacy.lock_wait", {"timeout": "0"})
        work()
        _mark_done(raw, step)

    _with_retry(raw, step.replace(".", "_"), attempt)


def _step_done(raw, step: str) -> bool:
    rows = _named(raw, "legacy.progress_get", {"step": step})
    return bool(rows and rows[0][4] is not None)


def _mark_done(raw, step: str) -> None:
    _named(raw, "legacy.progress_start", {"step": step})
    _named(raw, "legacy.progress_finish", {"step": step})


def _run_backfills(phase: int, attributes: dict[str, Any]) -> None:
    from alembic import op

    from venuepulse.queries.schema import legacy

    with op.get_context().autocommit_block():
        legacy.run_phase_backfills(attributes["url"], phase, batch_sizes=attributes.get("batch_sizes"),
                                   on_batch=attributes.get("on_batch"))


# --- converging on 0001 ------------------------------------------------------------------------------------


def _exists(raw, kind: str, name: str) -> bool:
    if kind == "TRIGGER":
        return bool(_named(raw, "legacy.trigger_exists", {"name": name}))
    return _named(raw, "legacy.relation_exists", {"name": name})[0][0]


def converge(raw, *, matview_no_data: bool = False) -> None:
    """Make every object 0001 creates exist as 0001 defines it, in 0001's order.

    Functions are (re)defined from 0001's text; tables, views, indexes and triggers are created when
    missing; 0001's policy rows and partition calls are repeated idempotently.  A statement of a kind
    this does not know is refused, so a later edit of 0001 cannot be skipped silently.
    """
    for stmt in schema0001.split_sql(read_main_sql_file("0001_schema.up.sql")):
        m = schema0001._CREATE.match(stmt)
        if m:
            kind, name = re.sub(r"\s+", " ", m.group(1).upper()), m.group(2)
            if kind == "FUNCTION":
                _exec(raw, "upgrade.converge_function", schema0001.statement(kind, name, replace=True))
            elif not _exists(raw, kind, name):
                text = stmt
                if kind == "MATERIALIZED VIEW" and matview_no_data:
                    text = stmt.rstrip().rstrip(";") + "\nWITH NO DATA"
                _exec(raw, "upgrade.converge_create", text)
        elif re.match(r"^INSERT\s+INTO\s+partition_policies\b", stmt, re.IGNORECASE):
            _exec(raw, "upgrade.converge_policies", stmt.rstrip().rstrip(";") + "\nON CONFLICT DO NOTHING")
        elif re.match(r"^SELECT\s+vp_ensure_partitions\(", stmt, re.IGNORECASE):
            _exec(raw, "upgrade.converge_partitions", stmt)
        else:
            raise UpgradeRefused(
                f"the legacy upgrade does not know how to apply this statement of 0001_schema.up.sql: {stmt[:80]!r}"
            )


# --- phases ------------------------------------------------------------------------------------------------


def upgrade_phase(phase: int) -> None:
    raw, attributes = _context()
    if phase == 0:
        _file(raw, "L0_legacy.up.sql")
        return
    _named(raw, "legacy.progress_table")
    {1: _phase1, 2: _phase2, 3: _phase3, 4: _phase4}[phase](raw, attributes)


def downgrade_phase(phase: int) -> None:
    raw, _ = _context()
    if phase == 0:
        _file(raw, "L0_legacy.down.sql")
    elif phase == 1:
        _file(raw, "L1_computed.down.sql")
    elif phase == 2:
        _file(raw, "L2_new_tables.down.sql")
        for name in reversed(schema0001.names("VIEW")):
            if name != "partition_inventory":
                _exec(raw, "upgrade.drop_view", f"DROP VIEW IF EXISTS {name}")
        for name in ["event_stream", *reversed(PHASE2_TABLES)]:
            _exec(raw, "upgrade.drop_table", f"DROP TABLE IF EXISTS {name}")
        for name in reversed(schema0001.names("FUNCTION")):
            if name not in PHASE1_FUNCTIONS:
                _exec(raw, "upgrade.drop_function", f"DROP FUNCTION IF EXISTS {name}")
        _file(raw, "L1_triggers.up.sql")
        _named(raw, "legacy.progress_forget_phase", {"prefix": "L2.%"})
    else:
        raise UpgradeRefused(
            f"phase {phase} cannot be undone: "
            + ("the old tables were dropped after verification" if phase == 3
               else "check_ins and event_stream are partitioned now; restore a backup taken before phase 4 instead")
        )


def _phase1(raw, attributes: dict[str, Any]) -> None:
    def ddl() -> None:
        _exec(raw, "upgrade.l1_functions", schema0001.statements("FUNCTION", PHASE1_FUNCTIONS[:5]))
        _exec(raw, "upgrade.l1_tables", schema0001.statements("TABLE", PHASE1_TABLES))
        _exec(raw, "upgrade.l1_indexes", "\n".join(schema0001.statement("INDEX", n) for n in schema0001.names("INDEX")
                                                  if schema0001.index_table(n) in PHASE1_TABLES))
        _exec(raw, "upgrade.l1_partition_functions", schema0001.statements("FUNCTION", PHASE1_FUNCTIONS[5:8]))
        _exec(raw, "upgrade.l1_partition_inventory", schema0001.statement("VIEW", "partition_inventory"))
        # created empty: filled after the locks are gone (building it reads every history table)
        _exec(raw, "upgrade.l1_venue_stats",
              schema0001.statement("MATERIALIZED VIEW", "venue_stats").rstrip().rstrip(";") + "\nWITH NO DATA;")
        _exec(raw, "upgrade.l1_venue_stats_indexes", "\n".join(
            schema0001.statement("INDEX", n) for n in schema0001.names("INDEX")
            if schema0001.index_table(n) == "venue_stats"))
        _exec(raw, "upgrade.l1_refresh_function", schema0001.statement("FUNCTION", "refresh_venue_stats"))
        _file(raw, "L1_computed.up.sql")
        _file(raw, "L1_triggers.up.sql")

    _ddl(raw, "L1.ddl", PHASE1_LOCKS, ddl)
    _run_backfills(1, attributes)
    _refresh_venue_stats()
    # the numbers are real now: validate the checks added NOT VALID (a scan that does not block writes)
    for name in ("legacy.validate_phase1", "legacy.validate_phase2", "legacy.validate_users_timezone",
                 "legacy.validate_claims_fk"):
        _named(raw, name)


def _phase2(raw, attributes: dict[str, Any]) -> None:
    def ddl() -> None:
        _file(raw, "L2_new_tables.up.sql")
        _exec(raw, "upgrade.l2_tables", schema0001.statements("TABLE", PHASE2_TABLES))
        _exec(raw, "upgrade.l2_indexes", "\n".join(schema0001.statement("INDEX", n) for n in schema0001.names("INDEX")
                                                  if schema0001.index_table(n) in [*PHASE2_TABLES, "event_stream"]))
        _exec(raw, "upgrade.l2_functions", "\n".join(schema0001.statement("FUNCTION", n, replace=True)
                                                    for n in schema0001.names("FUNCTION") if n != "status"))
        for name in schema0001.names("VIEW"):
            if not _exists(raw, "VIEW", name):
                _exec(raw, "upgrade.l2_view", schema0001.statement("VIEW", name))
        _exec(raw, "upgrade.l2_triggers", schema0001.statements("TRIGGER", schema0001.names("TRIGGER")))
        _file(raw, "L2_mirror.up.sql")

    _ddl(raw, "L2.ddl", PHASE2_LOCKS, ddl)
    _run_backfills(2, attributes)


def _phase3(raw, attributes: dict[str, Any]) -> None:
    from venuepulse.queries.schema import legacy

    unfinished = legacy.unfinished_backfills_on(raw, 2)
    if unfinished:
        raise UpgradeRefused(f"phase 2's backfills have not finished ({', '.join(unfinished)}); "
                             "run the upgrade to phase 2 again first")
    # Nothing touches the old tables between verifying and dropping them (by now the app reads the new
    # ones).  A deadlock with the app's writes or a lock wait that runs out is retried from a savepoint.
    def cutover() -> None:
        _named(raw, "legacy.lock_wait", {"timeout": "10s"})
        _exec(raw, "upgrade.l3_lock_old_tables",
              "LOCK TABLE notification_preferences, social_notifications, activity_feed, flash_offer_events, "
              "flash_offer_rate_limits IN ACCESS EXCLUSIVE MODE")
        report = legacy.verify_on(raw)
        if not report.ok:
            raise UpgradeRefused(
                f"verification found {len(report.differences)} difference(s) between the old and the new tables "
                f"(first: {report.differences[0].describe()}); the old tables were not dropped. "
                "Run 'venuepulse migrate verify' for the full list."
            )
        _file(raw, "L3_cutover.up.sql")
        _named(raw, "legacy.lock_wait", {"timeout": "0"})

    _with_retry(raw, "vp_cutover", cutover)
    _exec(raw, "upgrade.l3_status_function", schema0001.statement("FUNCTION", "status"))


def _shadow_ddl(table: str) -> str:
    """0001's partitioned table, default partition and indexes, built as ``<table>_partitioned``."""
    shadow = f"{table}_partitioned"
    parts = [re.sub(rf"^CREATE TABLE {table} \(", f"CREATE TABLE {shadow} (", schema0001.statement("TABLE", table)),
             schema0001.statement("TABLE", f"{table}_default").replace(f"PARTITION OF {table} ", f"PARTITION OF {shadow} ")]
    for name in schema0001.names("INDEX"):
        if schema0001.index_table(name) == table:
            stmt = schema0001.statement("INDEX", name)
            stmt = re.sub(rf"^CREATE (UNIQUE )?INDEX {name} ON {table} ",
                          rf"CREATE \1INDEX {name}_shadow ON {shadow} ", stmt)
            parts.append(stmt)
    return "\n".join(parts)


def _phase4(raw, attributes: dict[str, Any]) -> None:
    unfinished = _named(raw, "legacy.relation_exists", {"name": "notification_preferences"})[0][0]
    if unfinished:
        raise UpgradeRefused("phase 3 has not dropped the old tables yet")

    def ddl() -> None:
        for table in PARTITIONED:
            _exec(raw, "upgrade.l4_shadow_table", _shadow_ddl(table))
        _file(raw, "L4_partitions.up.sql")
        first = _named(raw, "legacy.data_range")[0][0]
        for table in PARTITIONED:
            _named(raw, "legacy.shadow_partitions", {"table": table, "shadow": f"{table}_partitioned", "from": first})

    _ddl(raw, "L4.ddl", PHASE4_LOCKS, ddl)
    _run_backfills(4, attributes)
    _swap(raw)
    _refresh_venue_stats()  # recreated empty inside the swap


def _refresh_venue_stats() -> None:
    """Fill venue_stats outside the phase's locks (commits what the phase did so far)."""
    from alembic import op

    with op.get_context().autocommit_block():
        _named(op.get_bind().connection.driver_connection, "legacy.refresh_venue_stats")


def _sqlstate(exc: BaseException) -> str | None:
    return getattr(exc, "sqlstate", None) or getattr(getattr(exc, "original", None), "sqlstate", None)


def _with_retry(raw, savepoint: str, work) -> None:
    """Run ``work`` under a savepoint; on a deadlock or lock timeout roll back to it and try again."""
    for attempt in range(SWAP_ATTEMPTS):
        _exec(raw, "upgrade.savepoint", f"SAVEPOINT {savepoint}")
        try:
            work()
        except Exception as exc:
            if _sqlstate(exc) not in ("40P01", "55P03") or attempt == SWAP_ATTEMPTS - 1:
                raise
            _exec(raw, "upgrade.rollback_to_savepoint", f"ROLLBACK TO SAVEPOINT {savepoint}")
            time.sleep(min(0.2 * (attempt + 1), 3))
        else:
            _exec(raw, "upgrade.release_savepoint", f"RELEASE SAVEPOINT {savepoint}")
            return


def _swap(raw) -> None:
    """Replace check_ins and event_stream by their partitioned copies under one short lock.

    Every lock is waited for at most SWAP_LOCK_TIMEOUT, so the app is never held up longer; a timeout or
    deadlock rolls the attempt back and tries again.
    """

    def work() -> None:
        _named(raw, "legacy.lock_wait", {"timeout": SWAP_LOCK_TIMEOUT})
        _exec(raw, "upgrade.l4_lock_swap", "LOCK TABLE check_ins, event_stream IN ACCESS EXCLUSIVE MODE")
        counts = _named(raw, "legacy.partition_copy_counts")[0]
        if counts[0] != counts[1] or counts[2] != counts[3]:
            raise UpgradeRefused(
                f"the partitioned copies do not match (check_ins {counts[0]} vs {counts[1]}, event_stream "
                f"{counts[2]} vs {counts[3]}); nothing was swapped"
            )
        _exec(raw, "upgrade.l4_drop_venue_stats", "DROP MATERIALIZED VIEW venue_stats CASCADE")
        for name in schema0001.names("VIEW"):
            if name != "partition_inventory":
                _exec(raw, "upgrade.drop_view", f"DROP VIEW IF EXISTS {name} CASCADE")
        _exec(raw, "upgrade.l4_drop_unpartitioned", "DROP TABLE check_ins, event_stream")
        _exec(raw, "upgrade.l4_drop_sync_functions",
              "DROP FUNCTION vp_upgrade_sync_check_ins(), vp_upgrade_sync_event_stream(), "
              "vp_upgrade_shadow_partitions(text, text, timestamptz, timestamptz)")
        for table in PARTITIONED:
            shadow = f"{table}_partitioned"
            _exec(raw, "upgrade.l4_rename_table", f"ALTER TABLE {shadow} RENAME TO {table}")
            # constraints named after the replacement, its own and their copies on its partitions (renaming
            # the parent's renames the inherited copies too, so look again after each rename)
            while True:
                rows = _named(raw, "legacy.shadow_constraint", {"table": table, "prefix": f"{shadow}\\_%"})
                if not rows:
                    break
                relname, conname = rows[0]
                _exec(raw, "upgrade.l4_rename_constraint",
                      f'ALTER TABLE "{relname}" RENAME CONSTRAINT "{conname}" TO "{table}{conname[len(shadow):]}"')
            for name in schema0001.names("INDEX"):
                if schema0001.index_table(name) == table:
                    _exec(raw, "upgrade.l4_rename_index", f"ALTER INDEX {name}_shadow RENAME TO {name}")
        converge(raw, matview_no_data=True)
        _exec(raw, "upgrade.l4_alembic_version_table",
              "CREATE TABLE IF NOT EXISTS alembic_version (version_num VARCHAR(32) NOT NULL, "
              "CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))")
        _exec(raw, "upgrade.l4_clear_alembic_version", "DELETE FROM alembic_version")
        _exec(raw, "upgrade.l4_stamp_0001", "INSERT INTO alembic_version (version_num) VALUES ('0001')")
        _named(raw, "legacy.lock_wait", {"timeout": "0"})

    _with_retry(raw, "vp_swap", work)
