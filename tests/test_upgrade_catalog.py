"""The legacy upgrade path ends with exactly the schema revision 0001 creates from scratch (compared through
tests/fixtures/catalog.py's description of the catalog)."""

from __future__ import annotations

from tests.fixtures.catalog import assert_same_catalog, describe_catalog
from venuepulse.queries.schema import legacy
from venuepulse.queries.schema.migrate import migrate


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
