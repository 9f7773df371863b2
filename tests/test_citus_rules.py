"""The migrated schema against the rules Citus imposes (venuepulse.queries.schema.citus, docs/scaling.md).

Each check reads the catalog of a copy of the migrated template and lists what breaks its rule; the list
must equal the deviations the map documents (with what changes on Citus) — a new violation fails, and so
does a documented one that no longer happens, so docs/scaling.md stays true as the schema changes.
"""

from __future__ import annotations

import re
from pathlib import Path

import psycopg
import pytest

from tests.fixtures.databases import new_database
from venuepulse.queries.schema import citus

ROOT = Path(__file__).resolve().parents[1]
SCHEMAS = ["public", "venuepulse_auth", "venuepulse_secrets"]
# non-immutable functions whose value means the same whichever node computes it (Citus computes a routed
# INSERT's on the coordinator); nextval is checked by the bigint-sequences rule
NODE_INDEPENDENT = {"gen_random_uuid", "now", "clock_timestamp", "statement_timestamp", "transaction_timestamp",
                    "nextval"}

_TABLES = """
SELECT c.oid, CASE WHEN n.nspname = 'public' THEN c.relname ELSE n.nspname || '.' || c.relname END
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = ANY(%s) AND c.relkind IN ('r', 'p') AND NOT c.relispartition
"""


@pytest.fixture(scope="module")
def catalog(pg_server_url: str, template_db: str):
    """A connection to a copy of the migrated template (read only) and its tables by oid."""
    with new_database(pg_server_url, "vp_citus_", template_db) as (_, url):
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("SET search_path = public")
            names = dict(conn.execute(_TABLES, (SCHEMAS,)).fetchall())
            yield conn, names


def _oids(names: dict[int, str], tables) -> list[int]:
    return [oid for oid, name in names.items() if name in tables]


def _citus_tables() -> set[str]:
    return set(citus.DISTRIBUTED) | set(citus.REFERENCE)


def _dist_attnum(conn, oid: int, table: str) -> int | None:
    column = citus.DISTRIBUTED[table][0]
    row = conn.execute("SELECT attnum FROM pg_attribute WHERE attrelid = %s AND attname = %s AND NOT attisdropped",
                       (oid, column)).fetchone()
    return row[0] if row else None


def _found(rule: str, subjects: set[str]) -> None:
    documented = {s for (r, s) in citus.DEVIATIONS if r == rule}
    new, gone = sorted(subjects - documented), sorted(documented - subjects)
    assert not new and not gone, (
        f"rule {rule!r} ({citus.RULES[rule].says}): "
        + (f"broken by {new} — change the schema or add each to citus.DEVIATIONS with what changes on Citus; "
           if new else "")
        + (f"documented as broken but no longer: {gone} — drop them from citus.DEVIATIONS" if gone else ""))


def test_every_table_is_placed_exactly_once_and_every_placed_table_exists(catalog):
    _, names = catalog
    places = [set(citus.DISTRIBUTED), set(citus.REFERENCE), set(citus.LOCAL)]
    twice = {t for i, a in enumerate(places) for b in places[i + 1:] for t in a & b}
    placed = set().union(*places)
    assert not twice, f"placed more than once: {sorted(twice)}"
    _found("classified", (set(names.values()) ^ placed))


def test_distributed_tables_have_a_non_null_hashable_distribution_column(catalog):
    conn, names = catalog
    broken = set()
    for oid in _oids(names, citus.DISTRIBUTED):
        table = names[oid]
        column = citus.DISTRIBUTED[table][0]
        row = conn.execute(
            """SELECT a.attnotnull, EXISTS (SELECT 1 FROM pg_opclass o JOIN pg_am m ON m.oid = o.opcmethod
                                            WHERE m.amname = 'hash' AND o.opcdefault AND o.opcintype = a.atttypid)
               FROM pg_attribute a WHERE a.attrelid = %s AND a.attname = %s AND NOT a.attisdropped""",
            (oid, column)).fetchone()
        if row is None:
            broken.add(f"{table}.{column} (missing)")
        else:
            notnull, hashable = row
            if not notnull:
                broken.add(f"{table}.{column} (nullable)")
            if not hashable:
                broken.add(f"{table}.{column} (no hash operator class)")
    _found("distribution-column", broken)


def test_each_colocation_group_shares_one_distribution_column_type(catalog):
    conn, names = catalog
    types: dict[str, set[str]] = {}
    for oid in _oids(names, citus.DISTRIBUTED):
        column, group = citus.DISTRIBUTED[names[oid]]
        row = conn.execute("SELECT format_type(atttypid, NULL) FROM pg_attribute WHERE attrelid = %s AND attname = %s",
                           (oid, column)).fetchone()
        if row:
            types.setdefault(group, set()).add(row[0])
    _found("co-location", {f"group {g}: {', '.join(sorted(t))}" for g, t in types.items() if len(t) > 1})


def test_unique_indexes_of_distributed_tables_include_the_distribution_column(catalog):
    conn, names = catalog
    broken = set()
    for oid in _oids(names, citus.DISTRIBUTED):
        attnum = _dist_attnum(conn, oid, names[oid])
        for index, keys in conn.execute(
                """SELECT indexrelid::regclass::text, indkey::int2[] FROM pg_index
                   WHERE indrelid = %s AND (indisunique OR indisexclusion)""", (oid,)):
            if attnum is None or attnum not in keys:
                broken.add(f"{names[oid]}.{index}")
    _found("unique-includes-distribution-column", broken)


def _foreign_keys(conn, names):
    for row in conn.execute(
            """SELECT conrelid, confrelid, conname, conkey, confkey, confdeltype::text, confupdtype::text
               FROM pg_constraint WHERE contype = 'f' AND conparentid = 0 AND conrelid = ANY(%s)""",
            (list(names),)):
        src, dst, name, keys, fkeys, on_delete, on_update = row
        yield names[src], names.get(dst, str(dst)), src, dst, name, keys, fkeys, on_delete, on_update


def test_foreign_keys_follow_citus_placement_rules(catalog):
    conn, names = catalog
    found = {r: set() for r in ("fk-between-distributed", "fk-from-distributed", "fk-to-distributed",
                                "fk-actions-on-distribution-key", "fk-reference-to-local")}
    for src, dst, src_oid, dst_oid, name, keys, fkeys, on_delete, on_update in _foreign_keys(conn, names):
        subject = f"{src}.{name}"
        if src in citus.DISTRIBUTED:
            src_att = _dist_attnum(conn, src_oid, src)
            if dst in citus.DISTRIBUTED:
                dst_att = _dist_attnum(conn, dst_oid, dst)
                same_group = citus.DISTRIBUTED[src][1] == citus.DISTRIBUTED[dst][1]
                on_key = any(k == src_att and f == dst_att for k, f in zip(keys, fkeys, strict=True))
                if not (same_group and on_key):
                    found["fk-between-distributed"].add(subject)
            elif dst not in citus.REFERENCE:
                found["fk-from-distributed"].add(subject)
            if src_att in keys and (on_delete in ("n", "d") or on_update in ("n", "d", "c")):
                found["fk-actions-on-distribution-key"].add(subject)
        elif dst in citus.DISTRIBUTED:
            found["fk-to-distributed"].add(subject)
        elif src in citus.REFERENCE and dst in citus.LOCAL and "c" in (on_delete, on_update):
            found["fk-reference-to-local"].add(subject)
    for rule, subjects in found.items():
        _found(rule, subjects)


def test_policies_of_citus_tables_have_no_subquery(catalog):
    conn, names = catalog
    broken = {
        f"{names[rel]}.{pol}"
        for rel, pol in conn.execute(
            """SELECT polrelid, polname FROM pg_policy WHERE polrelid = ANY(%s)
               AND (coalesce(polqual::text, '') LIKE '%%{SUBLINK%%' OR coalesce(polwithcheck::text, '') LIKE '%%{SUBLINK%%')""",
            (_oids(names, _citus_tables()),))
    }
    _found("policy-without-subquery", broken)


def test_citus_tables_carry_no_triggers(catalog):
    conn, names = catalog
    tables = {names[rel] for (rel,) in conn.execute(
        "SELECT DISTINCT tgrelid FROM pg_trigger WHERE NOT tgisinternal AND tgrelid = ANY(%s)",
        (_oids(names, _citus_tables()),))}
    _found("no-triggers", tables)


def test_defaults_of_citus_tables_call_only_node_independent_functions(catalog):
    conn, names = catalog
    broken = set()
    # built-in functions are pinned (no pg_depend rows): read the function ids from the stored expression
    for rel, column, tree in conn.execute(
            """SELECT d.adrelid, a.attname, d.adbin::text FROM pg_attrdef d
               JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum
               WHERE d.adrelid = ANY(%s)""", (_oids(names, _citus_tables()),)):
        ids = [int(f) for f in re.findall(r":funcid (\d+)", tree)]
        for (function,) in conn.execute("SELECT proname FROM pg_proc WHERE oid = ANY(%s) AND provolatile <> 'i'",
                                        (ids,)):
            if function not in NODE_INDEPENDENT:
                broken.add(f"{names[rel]}.{column}: {function}()")
    _found("node-independent-defaults", broken)


def test_sequences_of_citus_tables_are_bigint(catalog):
    conn, names = catalog
    broken = {
        f"{names[rel]}.{column}"
        for rel, column in conn.execute(
            """SELECT a.attrelid, a.attname FROM pg_attribute a
               WHERE a.attrelid = ANY(%s) AND a.attnum > 0 AND NOT a.attisdropped AND a.atttypid <> 'int8'::regtype
                 AND (a.attidentity <> '' OR pg_get_serial_sequence(a.attrelid::regclass::text, a.attname) IS NOT NULL)""",
            (_oids(names, _citus_tables()),))
    }
    _found("bigint-sequences", broken)


def test_distributed_partitioned_tables_have_one_level(catalog):
    conn, names = catalog
    broken = {
        names[parent]
        for (parent,) in conn.execute(
            """SELECT DISTINCT i.inhparent FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
               WHERE i.inhparent = ANY(%s) AND c.relkind = 'p'""", (_oids(names, citus.DISTRIBUTED),))
    }
    _found("single-level-partitioning", broken)


def test_no_materialized_view_reads_a_distributed_table(catalog):
    conn, names = catalog
    broken = {
        f"{view} reads {names[rel]}"
        for view, rel in conn.execute(
            """SELECT DISTINCT v.oid::regclass::text, d.refobjid
               FROM pg_class v JOIN pg_rewrite r ON r.ev_class = v.oid
               JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid
                               AND d.refclassid = 'pg_class'::regclass
               WHERE v.relkind = 'm' AND d.refobjid = ANY(%s)""", (_oids(names, citus.DISTRIBUTED),))
    }
    _found("no-materialized-views-over-citus-tables", broken)


def test_citus_tables_have_no_rewrite_rules(catalog):
    conn, names = catalog
    broken = {
        f"{names[rel]}.{rule}"
        for rel, rule in conn.execute(
            "SELECT ev_class, rulename FROM pg_rewrite WHERE ev_class = ANY(%s) AND rulename <> '_RETURN'",
            (_oids(names, _citus_tables()),))
    }
    _found("no-rules", broken)


def test_scaling_doc_embeds_the_map_as_the_module_renders_it():
    text = (ROOT / "docs" / "scaling.md").read_text()
    block = re.search(r"<!-- citus-map:begin -->\n(.*?)<!-- citus-map:end -->", text, re.S)
    assert block, "docs/scaling.md has no citus-map block"
    assert block.group(1) == citus.render_markdown(), (
        "docs/scaling.md's Citus map is stale: regenerate it with python -m venuepulse.queries.schema.citus")


def test_every_deviation_names_a_known_rule_and_says_what_changes():
    for (rule, subject), change in citus.DEVIATIONS.items():
        assert rule in citus.RULES, f"{subject}: unknown rule {rule!r}"
        assert change.strip(), f"{rule} {subject}: say what changes on Citus"
