"""What the configured database role can and cannot do for VenuePulse: a checklist, each line with the
feature it gates and, where something is missing, one sentence naming the privilege or extension and what a
managed service's console calls it.

Managed services (RDS, Cloud SQL, Supabase, ...) give an admin role that is not a superuser: VenuePulse needs
only ``CREATEROLE`` and a database the role owns; the rest turns features on (``pg_monitor``) or is
superuser-only and degrades (creating ``pg_stat_statements``, ``ALTER SYSTEM``, event triggers,
``session_replication_role``).  ``venuepulse db status`` prints the checklist; the ``check_privileges`` job
records it so the Jobs & health page (which connects as a read-only role) can show the jobs' role.
See docs/managed-postgresql.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from venuepulse.queries.core.runner import Database

PARAMETER_CONSOLE = "RDS: the DB parameter group; Cloud SQL: database flags; Azure: server parameters"
# how to turn pg_stat_statements on, shared with the Query performance page
PGSS_LOAD_HOW = ("add it to shared_preload_libraries and restart "
                 f"({PARAMETER_CONSOLE}; Supabase loads it already; a server of your own: ALTER SYSTEM SET "
                 "shared_preload_libraries = 'pg_stat_statements', keeping any libraries already listed)")
PGSS_CREATE_HOW = ("CREATE EXTENSION pg_stat_statements, which only a superuser or the provider's admin role may "
                   "run (RDS: the master user; Supabase: Database → Extensions; Cloud SQL: cloudsqlsuperuser)")


@dataclass(frozen=True)
class Check:
    """One line of the checklist. ``ok`` None: not applicable yet (e.g. before the first migration)."""

    key: str
    label: str
    ok: bool | None
    gates: str  # the VenuePulse feature that needs it
    needed: bool  # True: VenuePulse cannot run without it; False: a feature degrades
    missing: str  # one sentence when ok is False, else ""


def role_facts(db: Database) -> dict[str, Any]:
    """The connected role's attributes, memberships and the server's libraries (``privileges.role``)."""
    return dict(db.one("privileges.role", cache=False) or {})


def checks(facts: Mapping[str, Any]) -> list[Check]:
    """The checklist for a role described by :func:`role_facts`."""
    me = facts.get("role_name", "this role")
    db = facts.get("database", "this database")
    lines: list[tuple[str, str, bool | None, str, bool, str]] = [
        ("superuser", "superuser", bool(facts.get("superuser")),
         "nothing VenuePulse needs; only ALTER SYSTEM, event triggers, creating pg_stat_statements and "
         "session_replication_role do", False,
         f"{me} is not a superuser, as on managed services: VenuePulse runs without one and the lines below "
         "say what degrades"),
        ("createrole", "CREATEROLE", bool(facts.get("createrole")),
         "migrate (revision 0004 makes the group roles) and up / dashboard (the dashboard's login roles)", True,
         f"{me} lacks CREATEROLE, so 'venuepulse migrate' cannot make the dashboard's roles: give the user "
         "CREATEROLE (RDS master user and Supabase's postgres role have it; elsewhere ALTER ROLE "
         f"{me} CREATEROLE as an admin)"),
        # Supabase's postgres role does not own its database but may create in it and in schema public
        ("owns_database", "owns the database (or may create schemas and tables in it)",
         bool(facts.get("owns_database") or (facts.get("create_in_database") and facts.get("create_in_public"))),
         "migrate (schemas, tables, row-level security, grants)", True,
         f"{me} neither owns database {db} nor may create schemas and tables in it, so migrate cannot install "
         f"the schema: as an admin run ALTER DATABASE {db} OWNER TO {me} (or create the database as {me})"),
        ("createdb", "CREATEDB", bool(facts.get("createdb")),
         "venuepulse bench (its own databases) and the test suite", False,
         f"{me} lacks CREATEDB, so 'venuepulse bench' and the tests cannot create their databases: "
         f"ALTER ROLE {me} CREATEDB as an admin"),
        ("pg_monitor", "pg_monitor / pg_read_all_stats", bool(facts.get("pg_monitor") or facts.get("pg_read_all_stats")),
         "other roles' sessions in pg_stat_activity (who holds a job's lock, their queries and waits) and "
         "their statements in pg_stat_statements", False,
         f"{me} is not in pg_monitor, so other roles' query text, waits and statements stay hidden from it: "
         f"GRANT pg_monitor TO {me} as the provider's admin user"),
        ("pg_read_all_settings", "pg_read_all_settings", bool(facts.get("pg_read_all_settings")),
         "db status listing shared_preload_libraries (VenuePulse detects its libraries without it)", False,
         f"{me} lacks pg_read_all_settings (part of pg_monitor), so superuser-only settings such as "
         "shared_preload_libraries are hidden; nothing else depends on it"),
        ("readers_read_all_stats", "dashboard readers have pg_read_all_stats",
         None if facts.get("readers_read_all_stats") is None else bool(facts["readers_read_all_stats"]),
         "the Query performance page's pg_stat_statements panel showing every role's statements", False,
         "the dashboard's venuepulse_reader role lacks pg_read_all_stats, so pg_stat_statements shows it only "
         "its own statements: GRANT pg_read_all_stats TO venuepulse_reader as a superuser or a role holding "
         "it WITH ADMIN OPTION (on PostgreSQL 15 any CREATEROLE role may)"),
        ("pgss_loaded", "pg_stat_statements loaded", bool(facts.get("pgss_loaded")),
         "the Query performance page's pg_stat_statements panel and the snapshot_stat_statements job", False,
         f"pg_stat_statements is not loaded: {PGSS_LOAD_HOW}"),
        ("pgss_installed", "pg_stat_statements installed in this database", bool(facts.get("pgss_installed")),
         "the Query performance page's pg_stat_statements panel and the snapshot_stat_statements job", False,
         f"pg_stat_statements is not installed in this database: run {PGSS_CREATE_HOW}"
         if facts.get("pgss_available", True) else
         ("pg_stat_statements is not available on this server: install PostgreSQL's contrib modules "
          "(e.g. the postgresql-contrib package); managed services ship it")),
        ("auto_explain_loaded", "auto_explain loaded", bool(facts.get("auto_explain_loaded")),
         "plans of statements slower than a threshold in the server log", False,
         f"auto_explain is not loaded: add it to shared_preload_libraries ({PARAMETER_CONSOLE}) and set "
         "auto_explain.log_min_duration; only the server log is affected"),
        ("set_session_replication_role", "may set session_replication_role",
         bool(facts.get("set_session_replication_role")),
         "seed skipping foreign-key checks during COPY; bench's bare-insert baseline", False,
         f"{me} may not set session_replication_role, so 'venuepulse seed' keeps foreign-key checks on "
         "(slower, same data) and 'venuepulse bench' skips its bare-insert baseline: a superuser can "
         f"GRANT SET ON PARAMETER session_replication_role TO {me}"),
        ("alter_system", "ALTER SYSTEM", bool(facts.get("alter_system")),
         "the embedded server's settings only (preloading pg_stat_statements and auto_explain)", False,
         f"{me} may not run ALTER SYSTEM, which VenuePulse uses only on its embedded server: set server "
         f"parameters in the provider's console ({PARAMETER_CONSOLE})"),
        ("create_event_trigger", "may create event triggers", bool(facts.get("create_event_trigger")),
         "nothing yet: DDL change markers will use one where allowed and compare catalog snapshots elsewhere",
         False,
         f"{me} may not create event triggers (superuser only in PostgreSQL 15-18); no VenuePulse feature "
         "depends on one"),
    ]
    return [Check(key, label, ok, gates, needed, "" if ok or ok is None else missing)
            for key, label, ok, gates, needed, missing in lines]


def checklist(db: Database) -> dict[str, Any]:
    """``{"role", "database", "server_version_num", "superuser", "checks": [Check as dict, ...]}``."""
    facts = role_facts(db)
    return {"role": facts.get("role_name"), "database": facts.get("database"),
            "server_version_num": facts.get("server_version_num"), "superuser": bool(facts.get("superuser")),
            "checks": [asdict(c) for c in checks(facts)]}


def missing_needed(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The checks VenuePulse cannot run without that the role fails."""
    return [c for c in report["checks"] if c["needed"] and c["ok"] is False]


def degraded(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The optional checks the role fails (a feature degrades), superuser itself left out."""
    return [c for c in report["checks"] if not c["needed"] and c["ok"] is False and c["key"] != "superuser"]


def lines(report: Mapping[str, Any]) -> list[str]:
    """The checklist as text: a mark, the privilege, the feature it gates; what to do when it is missing."""
    out = [f"privileges of role {report['role']} on {report['database']} (what VenuePulse can do with it):"]
    for c in report["checks"]:
        mark = "n/a" if c["ok"] is None else "yes" if c["ok"] else ("NO " if c["needed"] else "no ")
        out.append(f"  {mark} {c['label']} — {c['gates']}")
        if c["missing"] and c["key"] != "superuser":
            out.append(f"      {c['missing']}")
    return out
