"""Change markers on a real server: DDL recorded by the event triggers (superuser) or found by the schema
snapshot (where no event trigger may be created), deploy annotations from the CLI and the SQL API, and the
markers in the trend charts' data and beside a regression."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from tests.fixtures import pages
from venuepulse.commands import main
from venuepulse.queries.ops import changes
from venuepulse.queries.pages import overview
from venuepulse.queries.pages import query_performance as performance


def _window() -> tuple[datetime, datetime]:
    now = datetime.now(UTC)
    return now - timedelta(minutes=5), now + timedelta(minutes=5)


def _event_triggers(conn) -> int:
    return conn.execute("SELECT count(*) FROM pg_event_trigger WHERE evtname LIKE 'vp_change_markers_%'").fetchone()[0]


@pytest.mark.superuser("event triggers can only be created by a superuser")
def test_an_alter_table_is_recorded_by_the_event_trigger_as_it_happens(db, conn, pg_role):
    assert _event_triggers(conn) == 2
    assert changes.capture_status(db)["event_triggers"]
    conn.execute("ALTER TABLE venues ADD COLUMN vp_test_note text")
    conn.execute("CREATE TEMP TABLE vp_scratch (x int)")  # temporary objects are never markers
    lo, hi = _window()
    chart = performance.change_markers(db, lo, hi)  # what the Query performance trend draws
    (alter,) = [m for m in chart if m["description"] == "ALTER TABLE public.venues"]
    assert alter["kind"] == "ddl" and alter["source"] == "event_trigger" and alter["detected_after"] is None
    assert alter["role_name"] == pg_role["name"]
    assert not [m for m in chart if "vp_scratch" in m["description"]]
    assert [m["description"] for m in overview.change_markers(db, lo, hi)] == [m["description"] for m in chart]
    # with the triggers recording, the snapshot keeps its baseline and records nothing twice
    assert changes.snapshot_schema(db) == 0
    conn.execute("DROP INDEX idx_change_markers_at")
    assert changes.snapshot_schema(db) == 0
    assert "DROP INDEX public.idx_change_markers_at" in {m["description"] for m in changes.markers(db, *_window())}


def test_without_event_triggers_the_schema_snapshot_detects_an_alter_table(db, conn, pg_role):
    if _event_triggers(conn):  # a superuser's database has them: take them away to see the fallback
        conn.execute("DROP EVENT TRIGGER vp_change_markers_ddl; DROP EVENT TRIGGER vp_change_markers_drop")
    status = changes.capture_status(db)
    assert not status["event_triggers"] and status["message"].startswith("not available: event triggers")
    assert changes.snapshot_schema(db) == 0  # the first snapshot is the baseline
    conn.execute("ALTER TABLE venues ADD COLUMN vp_test_note text")
    conn.execute("CREATE INDEX vp_test_idx ON reviews (rating)")
    conn.execute("CREATE TEMP TABLE vp_scratch (x int)")
    assert changes.snapshot_schema(db) == 2
    # (the template's own migration is in the window too, recorded by its event triggers where it had them)
    chart = [m for m in performance.change_markers(db, *_window()) if m["source"] == "snapshot"]
    assert len(chart) == 1 and chart[0]["statements"] == 2  # one snapshot: one change, its objects listed
    assert set(chart[0]["objects"]) == {"public.venues", "public.vp_test_idx"}
    rows = {r[0]: r[1:] for r in conn.execute(
        "SELECT description, source, detected_after < at, role_name FROM change_markers WHERE source = 'snapshot'")}
    assert set(rows) == {"ALTER TABLE public.venues (detected by snapshot, within 00:00:00)",
                         "CREATE INDEX public.vp_test_idx (detected by snapshot, within 00:00:00)"}
    assert all(r == ("snapshot", True, pg_role["name"]) for r in rows.values())
    conn.execute("DROP INDEX vp_test_idx")
    assert changes.snapshot_schema(db) == 1
    assert changes.snapshot_schema(db) == 0


def test_annotate_cli_records_a_deploy_marker_and_refuses_bad_input_naming_the_field(run_cli, db_url, db, capsys):
    ok = run_cli("annotate", "deploy v1.4.2 (a1b2c3d)", "--database-url", db_url)  # the installed command
    assert ok.returncode == 0, ok.stderr
    assert "deploy marker" in ok.stdout
    at = datetime.now(UTC) - timedelta(hours=2)
    assert main(["annotate", "feature flag on", "--kind", "config", "--at", at.strftime("%Y-%m-%d %H:%M"),
                 "--database-url", db_url]) == 0
    rows = [m for m in changes.markers(db, at - timedelta(minutes=1), datetime.now(UTC) + timedelta(minutes=1))
            if m["kind"] != "ddl"]  # (the template's migration DDL may be in the window too)
    assert [(m["kind"], m["description"]) for m in rows] == [("deploy", "deploy v1.4.2 (a1b2c3d)"),
                                                             ("config", "feature flag on")]
    assert rows[1]["at"] == at.replace(second=0, microsecond=0)
    capsys.readouterr()
    for args, field in ((["  "], "TEXT:"), (["x" * 501], "TEXT:"), (["x", "--at", "yesterday"], "--at:"),
                        (["x", "--at", "2999-01-01"], "--at:")):
        assert main(["annotate", *args, "--database-url", db_url]) == 2, args
        assert field in capsys.readouterr().err, args
    with pytest.raises(SystemExit):
        main(["annotate", "x", "--kind", "party", "--database-url", db_url])
    assert "--kind" in capsys.readouterr().err
    assert conn_count(db_url) == 2


def conn_count(url: str) -> int:
    import psycopg

    with psycopg.connect(url) as c:
        return c.execute("SELECT count(*) FROM change_markers WHERE source = 'annotate'").fetchone()[0]


def test_the_sql_api_refuses_with_the_fields_reason_word_and_is_granted_to_annotators_only(conn, db):
    marker = conn.execute("SELECT vp_annotate('release 7 from CI', now() - interval '1 minute', 'deploy')").fetchone()[0]
    assert marker > 0
    for call, word in (("vp_annotate('')", "bad_text"), ("vp_annotate('x', NULL)", "bad_at"),
                       ("vp_annotate('x', now(), 'party')", "bad_kind"),
                       ("vp_annotate('x', now() + interval '2 days')", "bad_at")):
        with pytest.raises(Exception, match=f"^{word}:"):
            conn.execute(f"SELECT {call}")
    with pytest.raises(changes.AnnotationRefused, match="^kind:"):
        changes.annotate(db, "x", kind="party")
    grants = dict(conn.execute(
        "SELECT r, has_function_privilege(r, 'vp_annotate(text, timestamptz, text)', 'EXECUTE') "
        "FROM unnest(ARRAY['venuepulse_annotator', 'venuepulse_reader', 'venuepulse_owner']) r").fetchall())
    assert grants == {"venuepulse_annotator": True, "venuepulse_reader": False, "venuepulse_owner": False}


def _regressing(conn, now: datetime) -> None:
    for i in range(25):
        for ms, ago in ((10.0, timedelta(minutes=90, seconds=i)), (100.0, timedelta(minutes=30, seconds=i))):
            conn.execute("INSERT INTO query_performance_log (query_name, execution_time_ms, row_count, created_at)"
                         " VALUES ('t.reg', %s, 1, %s)", (ms, now - ago))


def test_the_query_performance_page_draws_markers_and_lists_them_under_a_regression(page_env, conn):
    now = datetime.now(UTC)
    _regressing(conn, now)
    conn.execute("SELECT vp_annotate('deploy v9 (slow build)', %s)", (now - timedelta(minutes=35),))
    conn.execute("SELECT vp_annotate('deploy v8', %s)", (now - timedelta(hours=5),))
    at = pages.run_page("query_performance", username="eng-user", role="engineer")
    text = " ".join(m.value for m in at.markdown)
    assert "deploy v9 (slow build)" in text  # under the regression
    assert "deploy v8" not in text  # hours before it
    shapes = [s for c in at.get("plotly_chart") for s in json.loads(c.proto.spec).get("layout", {}).get("shapes", [])]
    assert len([s for s in shapes if s.get("type") == "line"]) >= 2  # both deploys on the trend
    assert any("Dashed lines:" in c.value for c in at.caption)
    charted = {d for t in at.dataframe for d in (t.value.get("description") if "description" in t.value else [])}
    assert {"deploy v9 (slow build)", "deploy v8"} <= charted  # in the chart data
