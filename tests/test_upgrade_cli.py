"""The upgrade as a person runs it: seed --legacy, migrate plan / verify / upgrade-legacy, stamping."""

from __future__ import annotations

import psycopg

from venuepulse.queries.schema import legacy


def test_rehearsal_from_the_command_line(run_cli, empty_db_url):
    out = run_cli("migrate", "plan", "--database-url", empty_db_url)
    assert out.returncode == 0 and "empty database" in out.stdout

    out = run_cli("seed", "--legacy", "--scale", "tiny", "--database-url", empty_db_url)
    assert out.returncode == 0, out.stderr
    assert "legacy tables" in out.stdout

    out = run_cli("migrate", "plan", "--database-url", empty_db_url)
    assert "L0" in out.stdout and "upgrade-legacy --phase 1" in out.stdout

    # the main history would try to create tables that exist: refused with what to do instead
    out = run_cli("migrate", "--database-url", empty_db_url)
    assert out.returncode == 2 and "upgrade-legacy" in out.stderr

    out = run_cli("migrate", "verify", "--database-url", empty_db_url)
    assert out.returncode == 2 and "phase 2" in out.stderr

    out = run_cli("migrate", "upgrade-legacy", "--phase", "2", "--database-url", empty_db_url)
    assert out.returncode == 0, out.stderr
    assert "L0 -> L2" in out.stdout and "L2.notifications" in out.stdout

    out = run_cli("migrate", "plan", "--database-url", empty_db_url)
    assert "phase 3 (deprecation)" in out.stdout and "L2.venue_interactions" in out.stdout

    out = run_cli("migrate", "verify", "--database-url", empty_db_url)
    assert out.returncode == 0 and "verify: no differences" in out.stdout

    out = run_cli("migrate", "upgrade-legacy", "--database-url", empty_db_url)
    assert out.returncode == 0, out.stderr
    assert "L2 -> L4" in out.stdout
    out = run_cli("migrate", "--database-url", empty_db_url)
    assert out.returncode == 0 and "migrate: 0001 ->" in out.stdout


def test_seed_legacy_refuses_a_database_that_has_tables(run_cli, db_url):
    out = run_cli("seed", "--legacy", "--scale", "tiny", "--database-url", db_url)
    assert out.returncode == 2 and "empty database" in out.stderr


def test_an_existing_legacy_database_is_stamped_before_it_is_upgraded(run_cli, empty_db_url):
    legacy.upgrade(empty_db_url, 0)  # the legacy tables, as an existing app database has them
    with psycopg.connect(empty_db_url, autocommit=True) as conn:
        conn.execute("DROP TABLE venuepulse_upgrade_version")
    assert "not yet on the upgrade path" in legacy.plan(empty_db_url).summary

    out = run_cli("migrate", "upgrade-legacy", "--phase", "1", "--database-url", empty_db_url)
    assert out.returncode == 2 and "--stamp-legacy" in out.stderr

    out = run_cli("migrate", "upgrade-legacy", "--stamp-legacy", "--phase", "1", "--database-url", empty_db_url)
    assert out.returncode == 0, out.stderr
    assert "stamped" in out.stdout and "L0 -> L1" in out.stdout


def test_stamping_refuses_databases_that_are_not_the_legacy_app(run_cli, db_url, empty_db_url):
    out = run_cli("migrate", "upgrade-legacy", "--stamp-legacy", "--database-url", db_url)
    assert out.returncode == 2 and "already has VenuePulse's schema" in out.stderr
    with psycopg.connect(empty_db_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE users (id uuid PRIMARY KEY)")
    out = run_cli("migrate", "upgrade-legacy", "--stamp-legacy", "--database-url", empty_db_url)
    assert out.returncode == 2 and "not the legacy app database" in out.stderr


def test_plain_migrate_and_migrate_to_still_work(run_cli, empty_db_url):
    out = run_cli("migrate", "--to", "0001", "--database-url", empty_db_url)
    assert out.returncode == 0 and "base -> 0001" in out.stdout
    out = run_cli("migrate", "--database-url", empty_db_url)
    assert out.returncode == 0
    out = run_cli("migrate", "plan", "--database-url", empty_db_url)
    assert "not a legacy database" in out.stdout


def test_upgrading_an_empty_database_is_refused_with_what_to_do(run_cli, empty_db_url):
    out = run_cli("migrate", "upgrade-legacy", "--database-url", empty_db_url)
    assert out.returncode == 2 and "seed --legacy" in out.stderr
    assert legacy.status(empty_db_url).version is None
