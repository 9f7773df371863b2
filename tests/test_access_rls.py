"""Venue owners see only their own venues' rows, enforced by PostgreSQL (row-level security, grants and a
security-barrier view), whatever SQL runs on the owner connection; the reader role cannot write."""

from __future__ import annotations

import re
import uuid

import psycopg
import pytest

from tests.fixtures.access_world import VENUE_KEYED, build_world
from venuepulse.dashboard.context import Account, ScopedDatabase
from venuepulse.errors import QueryError
from venuepulse.queries.access.roles import ensure_login_roles
from venuepulse.queries.core.registry import registry
from venuepulse.queries.core.runner import Database

SCOPED_READS = {  # what an owner may select, and the column that names the venue
    "venues": "id", "venue_owners": "venue_id", "flash_offers": "venue_id", "check_ins": "venue_id",
    "reviews": "venue_id", "favorites": "venue_id", "collection_venues": "venue_id", "event_stream": "venue_id",
    "venue_interactions": "venue_id", "notifications": "venue_id", "venue_stats_visible": "venue_id",
    "venue_counter_shards": "venue_id", "venue_stats_rows": "venue_id",
}

CRAFTED = [
    "' OR 1=1 --",
    "%",
    "%%",
    "*",
    "x" * 100_000,
    "a\x00b",
    "') ; SELECT set_config('venuepulse.venue_ids', NULL, false); --",
    "RESET venuepulse.venue_ids",
]


@pytest.fixture
def world(conn):
    return build_world(conn)


@pytest.fixture
def roles(db_url):
    return ensure_login_roles(db_url)


@pytest.fixture
def owner_conn(roles):
    with psycopg.connect(roles["owner_url"], autocommit=True) as c:
        yield c


@pytest.fixture
def reader_conn(roles):
    with psycopg.connect(roles["reader_url"], autocommit=True) as c:
        yield c


def scoped(c: psycopg.Connection, setting: str | None):
    """A transaction on ``c`` with ``venuepulse.venue_ids`` set to ``setting`` (None: not set)."""
    tx = c.transaction()
    tx.__enter__()
    if setting is not None:
        c.execute("SELECT set_config('venuepulse.venue_ids', %s, true)", (setting,))
    return tx


def venue_ids_seen(c: psycopg.Connection, table: str, col: str) -> set[uuid.UUID]:
    return {r[0] for r in c.execute(f"SELECT DISTINCT {col} FROM {table}").fetchall()}


def test_owner_connection_reads_only_its_venues_rows_in_every_table(world, owner_conn):
    with owner_conn.transaction():
        owner_conn.execute("SELECT set_config('venuepulse.venue_ids', %s, true)", (str(world.a.venue_id),))
        for table, col in SCOPED_READS.items():
            assert venue_ids_seen(owner_conn, table, col) == {world.a.venue_id}, table
        claims = owner_conn.execute("SELECT offer_id FROM flash_offer_claims").fetchall()
        assert {r[0] for r in claims} == {world.a.offer_id}
        assert owner_conn.execute("SELECT count(*) FROM flash_offer_claims").fetchone()[0] == 2
        # only offer notifications of the venue, not the friend request that names venue A
        cats = owner_conn.execute("SELECT DISTINCT category FROM notifications").fetchall()
        assert cats == [("flash_offer",)]
        # events without a venue (social ones) never
        assert owner_conn.execute("SELECT count(*) FROM event_stream WHERE venue_id IS NULL").fetchone()[0] == 0


def test_owner_of_several_venues_sees_exactly_those(world, owner_conn):
    with owner_conn.transaction():
        owner_conn.execute("SELECT set_config('venuepulse.venue_ids', %s, true)",
                           (f"{world.a.venue_id},{world.b.venue_id}",))
        assert venue_ids_seen(owner_conn, "venues", "id") == {world.a.venue_id, world.b.venue_id}


@pytest.mark.parametrize("setting", [None, "", " ", "not-a-uuid", "' OR 1=1 --", "%", "*", "true",
                                     "x" * 100_000, "00000000-0000-0000-0000-000000000000",
                                     "{A},not-a-uuid", "{A};{B}", "{A}, {B}", "'{A}'", "{A},"])
def test_missing_or_malformed_venue_setting_shows_no_rows(world, owner_conn, setting):
    if setting is not None:
        setting = setting.replace("{A}", str(world.a.venue_id)).replace("{B}", str(world.b.venue_id))
    with owner_conn.transaction():
        if setting is not None:
            owner_conn.execute("SELECT set_config('venuepulse.venue_ids', %s, true)", (setting,))
        for table, col in SCOPED_READS.items():
            assert venue_ids_seen(owner_conn, table, col) == set(), (table, setting[:40] if setting else setting)
        assert owner_conn.execute("SELECT count(*) FROM flash_offer_claims").fetchone()[0] == 0


def test_a_setting_made_for_one_transaction_is_gone_in_the_next(world, owner_conn):
    with owner_conn.transaction():
        owner_conn.execute("SELECT set_config('venuepulse.venue_ids', %s, true)", (str(world.a.venue_id),))
        assert venue_ids_seen(owner_conn, "venues", "id") == {world.a.venue_id}
    assert venue_ids_seen(owner_conn, "venues", "id") == set()
    owner_conn.execute("RESET venuepulse.venue_ids")
    assert venue_ids_seen(owner_conn, "venues", "id") == set()
    owner_conn.execute("RESET ALL")
    assert venue_ids_seen(owner_conn, "venues", "id") == set()


@pytest.mark.parametrize("relation", [
    "venue_stats",  # the materialized view cannot carry RLS: owners use venue_stats_visible
    "users", "user_privacy", "friendships", "collections", "device_tokens", "notification_settings",
    "check_ins_default", "event_stream_default",  # a partition read directly would skip the parent's policy
    "venue_counters_expected", "flash_offer_counters_expected", "venue_interactions_expected",
    "query_performance_log", "job_runs", "partition_inventory", "venuepulse_auth.accounts",
])
def test_owner_cannot_read_relations_outside_its_allow_list(world, owner_conn, relation):
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        with owner_conn.transaction():
            owner_conn.execute("SELECT set_config('venuepulse.venue_ids', %s, true)", (str(world.a.venue_id),))
            owner_conn.execute(f"SELECT * FROM {relation} LIMIT 1")


def test_owner_cannot_read_any_time_partition_directly(world, conn, owner_conn):
    parts = [r[0] for r in conn.execute("SELECT partition_name FROM partition_inventory "
                                         "WHERE parent_table IN ('check_ins', 'event_stream')").fetchall()]
    assert len(parts) >= 4
    for p in parts:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            owner_conn.execute(f'SELECT 1 FROM "{p}" LIMIT 1')


def test_functions_do_not_widen_an_owners_view(world, owner_conn):
    with owner_conn.transaction():
        owner_conn.execute("SELECT set_config('venuepulse.venue_ids', %s, true)", (str(world.a.venue_id),))
        # functions run as the caller: RLS applies inside them
        assert owner_conn.execute("SELECT vp_venue_visible(%s), vp_venue_visible(%s)",
                                  (world.a.venue_id, world.b.venue_id)).fetchone() == (True, False)
        rows = owner_conn.execute("SELECT o.status, o.title FROM flash_offers o").fetchall()
        assert [r[1] for r in rows] == [f"Offer at {world.a.name}"]
    for call in ("SELECT * FROM flash_offer_recipients(%s)", "SELECT vp_visibility_for(%s, 'check_ins')",
                 "SELECT * FROM venuepulse_auth.sign_in_lookup(%s::text)"):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            arg = world.b.offer_id if "recipients" in call else world.b.owner_user_id
            owner_conn.execute(call, (arg if "sign_in" not in call else "demo-pm",))


def test_user_label_names_only_users_who_keep_that_activity_public(world, owner_conn, conn):
    public_name = conn.execute("SELECT username FROM users WHERE id = %s", (world.public_user,)).fetchone()[0]
    q = "SELECT vp_user_label(%s, %s)"
    assert owner_conn.execute(q, (world.public_user, "check_ins")).fetchone()[0] == public_name
    assert owner_conn.execute(q, (world.private_user, "check_ins")).fetchone()[0] is None
    assert owner_conn.execute(q, (world.private_user, "reviews")).fetchone()[0] is None
    assert owner_conn.execute(q, (world.public_user, "email")).fetchone()[0] is None  # not a privacy feature
    assert owner_conn.execute(q, (uuid.uuid4(), "check_ins")).fetchone()[0] is None
    # defaults (no user_privacy row): reviews public, check-ins friends-only
    assert owner_conn.execute(q, (world.a.owner_user_id, "reviews")).fetchone()[0] is not None
    assert owner_conn.execute(q, (world.a.owner_user_id, "check_ins")).fetchone()[0] is None
    # a private profile hides every feature, even one marked public
    conn.execute("UPDATE user_privacy SET visibility = visibility || '{\"profile\": \"private\"}' WHERE user_id = %s",
                 (world.public_user,))
    assert owner_conn.execute(q, (world.public_user, "check_ins")).fetchone()[0] is None


# --- through the dashboard's own query path --------------------------------------------------------------


def _owner_db(roles, account_venues):
    account = Account("owner-test", "venue_owner", "Owner", tuple(account_venues))
    return Database(roles["owner_url"], max_size=2), account


def test_scoped_database_shows_an_owner_only_their_venues_and_an_owner_without_venues_nothing(world, roles):
    db, account = _owner_db(roles, [world.a.venue_id])
    with db:
        sdb = ScopedDatabase(db, account)
        rows = sdb.run("accounts.connection_scope")
        assert rows[0]["scoped"] is True
        lonely = ScopedDatabase(db, Account("lonely", "venue_owner", "", ()))
        with db.connection() as c:  # raw SQL on the pool's connection, scope set as the runner does
            c.execute("SELECT set_config('venuepulse.venue_ids', %s, true)", (str(world.a.venue_id),))
            assert {r[0] for r in c.execute("SELECT id FROM venues")} == {world.a.venue_id}
        assert lonely.run("accounts.connection_scope")[0]["scoped"] is True


def test_a_session_level_set_on_a_pooled_connection_does_not_outlive_the_runners_scope(world, roles):
    db = Database(roles["owner_url"], min_size=1, max_size=1)
    with db:
        with db.connection() as c:  # poison the only pooled connection with a session-wide setting
            c.execute("SELECT set_config('venuepulse.venue_ids', %s, false)", (str(world.b.venue_id),))
            c.commit()
        with db.connection() as c:
            c.execute("SELECT set_config('venuepulse.venue_ids', %s, true)", (str(world.a.venue_id),))
            assert {r[0] for r in c.execute("SELECT id FROM venues")} == {world.a.venue_id}


# Server-wide facts (sizes, statistics) move with any write and describe the server, not a venue; queries
# that pick rows at random cannot be compared run to run.
SERVER_WIDE = re.compile(r"pg_database_size|pg_total_relation_size|pg_relation_size|pg_stat_|pg_class|random\(\)")


def _read_queries():
    return [q for q in registry().values() if q.kind == "read" and not SERVER_WIDE.search(q.sql)]


def _params_of(sql: str) -> list[str]:
    return sorted(set(re.findall(r"%\((\w+)\)s", sql)))


# What each parameter name means in the registry, so every query gets values of the right type.
UUID_PARAMS = {"venue_id", "offer_id", "before_id", "last", "viewer_id"}
UUID_LISTS = {"venue_ids", "ids"}
TIMES = {"before_at", "end", "from", "to", "start", "since", "now"}
INTERVALS = {"bucket", "window", "step"}
NUMBERS = {"buckets": 10, "factor": 2, "threshold_ms": 0, "limit": 50, "min_calls": 0, "n": 10, "offset": 0,
           "timeout": 5000, "account_id": 1}
TEXT_LISTS = {"names", "tables"}


def _params(sql: str, w, scenario: str, crafted: str | None = None) -> dict[str, object]:
    """``scenario``: "A" / "B" point id parameters at that venue; "crafted" puts ``crafted`` into every
    text parameter; "crafted_ids" into the id parameters too."""
    from datetime import UTC, datetime, timedelta

    now = datetime.now(UTC)
    v = w.a if scenario == "A" else w.b
    out: dict[str, object] = {}
    for name in _params_of(sql):
        if name in UUID_PARAMS:
            if scenario == "crafted_ids":
                out[name] = crafted
            elif scenario in ("A", "B"):
                out[name] = {"venue_id": v.venue_id, "offer_id": v.offer_id}.get(name)
            else:
                out[name] = None
        elif name in UUID_LISTS:
            out[name] = [crafted] if scenario == "crafted_ids" else [w.a.venue_id, w.b.venue_id]
        elif name in TIMES:
            out[name] = {"start": now - timedelta(days=30), "from": now - timedelta(days=30),
                         "since": now - timedelta(days=30)}.get(name, now + timedelta(days=1))
        elif name in INTERVALS:
            out[name] = timedelta(days=1)
        elif name in NUMBERS:
            out[name] = NUMBERS[name]
        elif name == "descending":
            out[name] = True
        elif name in TEXT_LISTS:
            out[name] = [crafted] if crafted is not None else []
        else:  # text filters: empty / unset normally, the crafted string when crafting
            out[name] = crafted if crafted is not None else ("" if name == "q" else None)
    return out


def _scenarios():
    return [("A", None), ("B", None), *[("crafted", c) for c in CRAFTED], *[("crafted_ids", c) for c in CRAFTED[:3]]]


def _run_all(db: Database, w, scope) -> dict[tuple[str, int], object]:
    out: dict[tuple[str, int], object] = {}
    for q in _read_queries():
        for i, (scenario, crafted) in enumerate(_scenarios()):
            try:
                out[(q.name, i)] = db.run(q.name, _params(q.sql, w, scenario, crafted), venue_scope=scope)
            except (QueryError, psycopg.Error, ValueError, TypeError) as exc:
                out[(q.name, i)] = ("error", type(exc).__name__, getattr(exc, "reason", None))
    return out


def _mask_unstable(first: dict, second: dict, third: dict) -> tuple[dict, dict]:
    """Drop values that differ between two identical runs (now(), refreshed_at, timings)."""
    def key_cells(rows):
        if not isinstance(rows, list):
            return rows
        return [tuple(sorted((k, repr(v)) for k, v in r.items())) for r in rows]

    a, b = {}, {}
    for k in first:
        x, y, z = key_cells(first[k]), key_cells(second[k]), key_cells(third[k])
        if isinstance(x, list) and isinstance(y, list) and isinstance(z, list) and len(x) == len(y):
            stable = [[c for c, c2 in zip(r1, r2, strict=True) if c == c2] for r1, r2 in zip(x, y, strict=True)]
            keys = [{c[0] for c in row} for row in stable]
            a[k] = sorted(tuple(c for c in row) for row in stable)
            if len(z) == len(x):
                b[k] = sorted(tuple(c for c in r if c[0] in ks) for r, ks in zip(z, keys, strict=True))
            else:
                b[k] = z
        else:
            a[k], b[k] = x, z
    return a, b


def test_every_named_read_query_under_an_owner_scope_ignores_other_venues_whatever_the_filter(world, roles, conn):
    """Each read query of the registry, with every parameter set to venue B's ids or crafted strings, gives
    venue A's owner exactly the same result before and after venue B and all its rows are deleted."""
    queries = _read_queries()
    assert queries, "the registry has read queries"
    db = Database(roles["owner_url"], max_size=2)
    with db:
        first = _run_all(db, world, [world.a.venue_id])
        conn.execute("SELECT refresh_venue_stats()")  # so refresh times show up as unstable columns
        second = _run_all(db, world, [world.a.venue_id])
        text = repr(first)
        for marker in world.b.ids - {str(world.b.venue_id), str(world.b.offer_id)}:
            assert marker not in text, f"venue B's {marker!r} reached venue A's owner"
        conn.execute("DELETE FROM event_stream WHERE venue_id = %s", (world.b.venue_id,))
        # claims, then offers: deleting an offer that has claims trips 0001's claim trigger (reported)
        conn.execute("DELETE FROM flash_offer_claims WHERE offer_id = %s", (world.b.offer_id,))
        conn.execute("DELETE FROM flash_offers WHERE venue_id = %s", (world.b.venue_id,))
        conn.execute("DELETE FROM venues WHERE id = %s", (world.b.venue_id,))
        conn.execute("SELECT refresh_venue_stats()")
        third = _run_all(db, world, [world.a.venue_id])
    before, after = _mask_unstable(first, second, third)
    changed = [k for k in before if before[k] != after[k]]
    assert not changed, f"results that depended on venue B's rows: {changed[:5]}"


def test_crafted_venue_scopes_are_refused_before_reaching_the_database(world, roles):
    db = Database(roles["owner_url"], max_size=1)
    with db:
        for bad in ["' OR 1=1 --", "%", "x" * 10_000, "a\x00b", f"{world.b.venue_id},{world.b.venue_id}x"]:
            with pytest.raises(ValueError):
                db.run("accounts.connection_scope", venue_scope=[bad])


# --- the reader role -------------------------------------------------------------------------------------


def test_reader_sees_every_venue_and_no_account_hashes(world, reader_conn):
    assert venue_ids_seen(reader_conn, "venues", "id") >= {world.a.venue_id, world.b.venue_id}
    assert venue_ids_seen(reader_conn, "venue_stats", "venue_id") >= {world.a.venue_id, world.b.venue_id}
    assert venue_ids_seen(reader_conn, "venue_stats_visible", "venue_id") >= {world.a.venue_id, world.b.venue_id}
    for table in VENUE_KEYED:
        reader_conn.execute(f"SELECT 1 FROM {table} LIMIT 1")
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        reader_conn.execute("SELECT password_hash FROM venuepulse_auth.accounts")
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        reader_conn.execute("SELECT * FROM venuepulse_auth.sign_in_lookup('demo-pm')")


WRITES = [
    "INSERT INTO venues (name, category, city, lat, lng) VALUES ('x', 'bar', 'x', 0, 0)",
    "UPDATE venues SET name = 'x'",
    "DELETE FROM reviews",
    "TRUNCATE event_stream",
    "INSERT INTO query_performance_log (query_name, execution_time_ms) VALUES ('x', 1)",
    "CREATE TABLE sneaky (id int)",
    "CREATE FUNCTION sneaky() RETURNS int LANGUAGE sql AS 'SELECT 1'",
    "CREATE TEMP TABLE sneaky (id int)",
    "DROP TABLE job_runs",
    "ALTER TABLE venues DISABLE ROW LEVEL SECURITY",
    "UPDATE venue_stats_rows SET total_check_ins = 0",
    "SELECT refresh_venue_stats()",
    "INSERT INTO rollup_log (src, sign) VALUES ('c', 1)",
    "SELECT vp_fold_activity()",
    "SELECT vp_recompute_denormalized()",
    "SELECT check_in((SELECT id FROM users LIMIT 1), (SELECT id FROM venues LIMIT 1))",
    "SELECT vp_ensure_partitions('check_ins', now() + interval '2 years', now() + interval '2 years')",
    "GRANT venuepulse_owner TO venuepulse_dashboard",
    "SELECT set_config('venuepulse.bulk_load', 'on', false); DELETE FROM favorites",
]


@pytest.mark.parametrize("statement", WRITES)
@pytest.mark.parametrize("who", ["reader", "owner"])
def test_dashboard_roles_cannot_write_even_in_a_read_write_transaction(world, roles, conn, statement, who):
    with psycopg.connect(roles[f"{who}_url"], autocommit=True) as c:
        c.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE")
        c.execute("SET default_transaction_read_only = off")
        with pytest.raises(psycopg.Error) as err:
            c.execute(statement)
        assert isinstance(err.value, psycopg.errors.InsufficientPrivilege | psycopg.errors.UndefinedTable |
                          psycopg.errors.ReadOnlySqlTransaction), (statement, err.value)
    assert conn.execute("SELECT count(*) FROM venues WHERE name = 'x'").fetchone()[0] == 0
    assert conn.execute("SELECT to_regclass('sneaky')").fetchone()[0] is None


def test_dashboard_roles_are_read_only_by_default(roles):
    for who in ("reader", "owner"):
        with psycopg.connect(roles[f"{who}_url"]) as c:
            assert c.execute("SHOW default_transaction_read_only").fetchone()[0] == "on"


def test_login_roles_belong_to_exactly_one_group_and_are_not_privileged(roles, conn):
    rows = conn.execute("""
        SELECT r.rolname, r.rolsuper, r.rolcreaterole, r.rolcreatedb, r.rolbypassrls,
               array(SELECT g.rolname FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid
                     WHERE m.member = r.oid ORDER BY 1)
        FROM pg_roles r WHERE r.rolname LIKE 'venuepulse_dashboard%' ORDER BY 1""").fetchall()
    assert [(r[0], r[5]) for r in rows] == [
        ("venuepulse_dashboard", ["venuepulse_reader"]),
        ("venuepulse_dashboard_owner", ["venuepulse_owner"]),
        ("venuepulse_dashboard_recorder", ["venuepulse_recorder"]),
        ("venuepulse_dashboard_signin", ["venuepulse_signin"]),
    ]
    assert not any(any(r[1:5]) for r in rows)


def test_the_recorder_role_may_append_timings_and_nothing_else(roles, conn):
    with psycopg.connect(roles["recorder_url"], autocommit=True) as rec:
        rec.execute("INSERT INTO query_performance_log (query_name, execution_time_ms) VALUES ('x.y', 1.5)")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            rec.execute("SELECT count(*) FROM query_performance_log")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            rec.execute("DELETE FROM query_performance_log")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            rec.execute("SELECT count(*) FROM venues")
    assert conn.execute("SELECT count(*) FROM query_performance_log WHERE query_name = 'x.y'").fetchone()[0] == 1


def test_ensure_login_roles_is_repeatable_and_keeps_stored_passwords(db_url, tmp_path):
    path = tmp_path / "roles.json"
    first = ensure_login_roles(db_url, passwords_file=path)
    second = ensure_login_roles(db_url, passwords_file=path)
    assert first == second
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    for url in first.values():
        with psycopg.connect(url) as c:
            assert c.execute("SELECT current_user").fetchone()[0].startswith("venuepulse_dashboard")
    assert "postgres@" not in first["owner_url"]


def test_downgrade_removes_this_databases_access_objects_but_keeps_the_shared_roles(empty_db_url, db_url):
    from venuepulse.queries.schema.migrate import downgrade, upgrade

    policies = "SELECT count(*) FROM pg_policies WHERE policyname = 'vp_venue_scope'"
    with psycopg.connect(db_url) as c:
        before = c.execute(policies).fetchone()[0]
    upgrade(empty_db_url, "head")
    ensure_login_roles(empty_db_url)
    downgrade(empty_db_url, "base")
    with psycopg.connect(empty_db_url) as c:
        assert c.execute("SELECT to_regnamespace('venuepulse_auth')").fetchone()[0] is None
        assert c.execute("SELECT count(*) FROM pg_roles WHERE rolname LIKE 'venuepulse_%'").fetchone()[0] >= 6
    with psycopg.connect(db_url) as c:  # another database on the server still relies on them
        assert before >= 12 and c.execute(policies).fetchone()[0] == before


def test_the_dashboard_reads_as_the_reader_and_records_its_timings_through_the_recorder(roles, conn):
    from venuepulse.queries.core.runner import Database

    with Database(roles["reader_url"], recorder_url=roles["recorder_url"]) as db:
        db.run("health.ping", cache=False)
        db.flush()
        assert db.recorder_stats().get("failed", 0) == 0
    assert conn.execute("SELECT count(*) FROM query_performance_log WHERE query_name = 'health.ping'").fetchone()[0] >= 1
