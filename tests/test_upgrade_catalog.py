"""The legacy upgrade path ends with exactly the schema revision 0001 creates from scratch.

Compared through a catalog description: tables and their kind and partition key, columns (type,
default, nullability, generation), constraints, indexes, functions, triggers and views.  Left out on
purpose: the order of columns (a live upgrade adds columns at the end of existing tables and does not
rewrite them to reorder), month partitions (they depend on the data's dates; the default partitions
are compared), the bookkeeping tables of the two Alembic histories and the upgrade's progress table.
"""

from __future__ import annotations

import uuid

import psycopg
import pytest

from venuepulse.queries.schema import legacy
from venuepulse.queries.schema.migrate import migrate

BOOKKEEPING = ("alembic_version", "venuepulse_upgrade_version", "venuepulse_upgrade_progress")

# Relations of the public schema that are not month partitions (partitions of a table other than the
# default one).
_RELATIONS = """
SELECT c.oid, c.relname, c.relkind::text, pg_get_partkeydef(c.oid) AS partkey,
       (SELECT p.relname FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhparent WHERE i.inhrelid = c.oid) AS parent
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm')
  AND NOT (c.relispartition AND c.relname NOT LIKE '%%\\_default')
  AND c.relname <> ALL (%(skip)s)
"""


def describe_catalog(url: str) -> dict[str, object]:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET search_path = public")
        rels = conn.execute(_RELATIONS, {"skip": list(BOOKKEEPING)}).fetchall()
        oids = [r[0] for r in rels]
        tables = {r[1]: (r[2], r[3], r[4]) for r in rels}
        columns = {
            (t, a): (typ, default, notnull, gen, ident)
            for t, a, typ, default, notnull, gen, ident in conn.execute(
                """SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod),
                          pg_get_expr(d.adbin, d.adrelid), a.attnotnull, a.attgenerated::text, a.attidentity::text
                   FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
                   LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
                   WHERE a.attrelid = ANY(%s) AND a.attnum > 0 AND NOT a.attisdropped""", (oids,))
        }
        constraints = {
            (t, name): (contype, definition, validated)
            for t, name, contype, definition, validated in conn.execute(
                """SELECT c.relname, k.conname, k.contype::text, pg_get_constraintdef(k.oid), k.convalidated
                   FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
                   WHERE k.conrelid = ANY(%s)""", (oids,))
        }
        indexes = {
            name: (t, definition)
            for name, t, definition in conn.execute(
                """SELECT i.relname, c.relname, pg_get_indexdef(i.oid)
                   FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class c ON c.oid = x.indrelid
                   WHERE x.indrelid = ANY(%s)""", (oids,))
        }
        functions = {
            sig: definition
            for sig, definition in conn.execute(
                """SELECT p.oid::regprocedure::text, pg_get_functiondef(p.oid)
                   FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                   WHERE n.nspname = 'public' AND p.prokind IN ('f', 'p')""")
        }
        triggers = {
            (t, name): (definition, enabled)
            for t, name, definition, enabled in conn.execute(
                """SELECT c.relname, t.tgname, pg_get_triggerdef(t.oid), t.tgenabled::text
                   FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
                   WHERE t.tgrelid = ANY(%s) AND NOT t.tgisinternal AND t.tgparentid = 0""", (oids,))
        }
        views = {
            name: definition
            for name, definition in conn.execute(
                """SELECT c.relname, pg_get_viewdef(c.oid) FROM pg_class c
                   WHERE c.oid = ANY(%s) AND c.relkind IN ('v', 'm')""", (oids,))
        }
        policies = conn.execute(
            "SELECT parent_table, partition_key, period, ahead, retention FROM partition_policies ORDER BY 1"
        ).fetchall() if conn.execute("SELECT to_regclass('partition_policies')").fetchone()[0] else []
    return {"tables": tables, "columns": columns, "constraints": constraints, "indexes": indexes,
            "functions": functions, "triggers": triggers, "views": views, "partition_policies": policies}


def assert_same_catalog(actual: dict, expected: dict) -> None:
    for part in expected:
        a, e = actual[part], expected[part]
        if isinstance(e, dict):
            missing = sorted(str(k) for k in e.keys() - a.keys())
            extra = sorted(str(k) for k in a.keys() - e.keys())
            different = sorted(str(k) for k in e.keys() & a.keys() if e[k] != a[k])
            assert not (missing or extra or different), (
                f"{part}: missing {missing}, extra {extra}, different "
                + "; ".join(f"{k}: {a[k]!r} != {e[k]!r}" for k in e.keys() & a.keys() if e[k] != a[k])
            )
        else:
            assert a == e, f"{part}: {a!r} != {e!r}"


@pytest.fixture(scope="session")
def legacy_template(pg_server_url: str) -> str:
    """Name of a database holding the tiny legacy app database (L0), seeded once per session."""
    from tests.conftest import create_database, drop_database
    from venuepulse.jobs.legacy_seed import seed_legacy

    name = f"vp_legacy_tmpl_{uuid.uuid4().hex[:8]}"
    url = create_database(pg_server_url, name)
    try:
        seed_legacy(url, "tiny", seed=7)
        with psycopg.connect(pg_server_url, autocommit=True) as conn:
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                         "WHERE datname = %s AND pid <> pg_backend_pid()", (name,))
        yield name
    finally:
        drop_database(pg_server_url, name)


@pytest.fixture
def legacy_url(pg_server_url: str, legacy_template: str) -> str:
    """A fresh copy of the seeded legacy database (at L0); dropped after the test."""
    from tests.conftest import create_database, drop_database

    name = f"vp_l_{uuid.uuid4().hex[:12]}"
    url = create_database(pg_server_url, name, template=legacy_template)
    try:
        yield url
    finally:
        drop_database(pg_server_url, name)


def test_an_upgraded_legacy_database_has_exactly_the_schema_of_revision_0001(legacy_url, empty_db_url):
    migrate(empty_db_url, "0001")
    legacy.upgrade(legacy_url, 4)
    assert_same_catalog(describe_catalog(legacy_url), describe_catalog(empty_db_url))


def test_after_the_upgrade_the_main_history_continues_from_0001(legacy_url):
    from venuepulse.queries.schema.migrate import current, heads

    legacy.upgrade(legacy_url, 4)
    assert current(legacy_url) == "0001"
    migrate(legacy_url, "head")
    assert current(legacy_url) in heads()
    assert legacy.plan(legacy_url).state.version == "L4"
