"""Plans over time (issue 15), against a real server: a dropped index is a detected plan change whose diff
names it, unchanged plans are no change, the capture job records its run, a regression lists the plan
change near its start, and the Query performance page shows the changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.fixtures import pages
from venuepulse.queries.core.registry import parse
from venuepulse.queries.ops import plans
from venuepulse.queries.pages import query_performance as performance

# A test-only named query on a table the test makes: its generic plan uses plan_t_k_idx.
TEST_QUERIES = parse("""
-- name: t.plan_by_k --
SELECT id, v FROM plan_t WHERE k = %(k)s::integer
""", "test")
NAME = "t.plan_by_k"


@pytest.fixture
def plan_table(conn):
    conn.execute("CREATE TABLE plan_t (id integer PRIMARY KEY, k integer NOT NULL, v text NOT NULL)")
    conn.execute("INSERT INTO plan_t SELECT i, i, md5(i::text) FROM generate_series(1, 5000) AS i")
    conn.execute("CREATE INDEX plan_t_k_idx ON plan_t (k)")
    conn.execute("ANALYZE plan_t")
    return conn


def _log(conn, name: str, ms: float, at: datetime) -> None:
    conn.execute("INSERT INTO query_performance_log (query_name, execution_time_ms, row_count, created_at)"
                 " VALUES (%s, %s, 1, %s)", (name, ms, at))


def test_shape_keeps_nodes_relations_and_indexes_but_not_costs_or_partitions():
    def scan(rel, idx=None, rows=10.0):
        node = {"Node Type": "Index Scan" if idx else "Seq Scan", "Relation Name": rel, "Total Cost": rows * 3,
                "Plan Rows": rows, "Alias": rel + "_1", "Parent Relationship": "Member"}
        return {**node, "Index Name": idx} if idx else node

    def plan(rows, partitions):
        return [{"Plan": {"Node Type": "Hash Join", "Join Type": "Left", "Total Cost": rows, "Plans": [
            {"Node Type": "Append", "Plans": [scan(p, p + "_k_idx", rows) for p in partitions]},
            {"Node Type": "Hash", "Plans": [scan("venues", rows=rows)]}]}}]

    roots = {f"ci_{m}": "check_ins" for m in ("p1", "p2", "p3")} | {f"ci_{m}_k_idx": "ci_k_idx" for m in ("p1", "p2", "p3")}
    two, three = plans.shape(plan(5.0, ["ci_p1", "ci_p2"]), roots), plans.shape(plan(900.0, ["ci_p1", "ci_p2", "ci_p3"]), roots)
    assert two == three == ("Hash Left Join\n  -> Append\n    -> Index Scan using ci_k_idx on check_ins\n"
                            "  -> Hash\n    -> Seq Scan on venues")
    assert plans.fingerprint(two) == plans.fingerprint(three)


def test_only_read_queries_that_change_nothing_are_captured():
    qs = parse("""
-- name: t.read --
SELECT 1
-- name: t.cte_write --
WITH gone AS (DELETE FROM plan_t RETURNING id) SELECT count(*) FROM gone
-- name: t.write --
-- kind: write
UPDATE plan_t SET v = 'x'
-- name: t.maint --
-- kind: maintenance
SELECT 1
-- name: t.show --
SHOW work_mem
""", "test")
    assert [q.name for q in plans.capturable(qs)] == ["t.read"]
    assert plans.skip_reason(qs["t.cte_write"]) == "modifies data"


def test_dropping_an_index_a_query_uses_is_a_plan_change_whose_diff_names_it(db, plan_table):
    first = plans.capture(db, TEST_QUERIES)
    assert (first["captured"], first["changes"], first["failed"]) == (1, [], {})
    assert "plan_t_k_idx" in db.one("plans.current", {"name": NAME})["shape"]

    again = plans.capture(db, TEST_QUERIES)
    assert again["changes"] == [] and again["new_shapes"] == 0
    assert db.one("plans.status")["changes"] == 0

    plan_table.execute("DROP INDEX plan_t_k_idx")
    after = plans.capture(db, TEST_QUERIES)
    assert [c["query_name"] for c in after["changes"]] == [NAME]

    now = datetime.now(UTC)
    (change,) = performance.plan_changes(db, now - timedelta(hours=1), now + timedelta(minutes=1))
    assert change["query_name"] == NAME
    assert change["summary"] == "no longer uses index plan_t_k_idx"
    removed = [line for line in change["diff"].splitlines() if line.startswith("- ")]
    added = [line for line in change["diff"].splitlines() if line.startswith("+ ")]
    assert any("plan_t_k_idx" in line for line in removed)
    assert added and not any("plan_t_k_idx" in line for line in added)
    assert any("Seq Scan on plan_t" in line for line in added)
    current = db.one("plans.current", {"name": NAME})
    assert current["fingerprint"] == change["after_fingerprint"] and current["captures"] == 3


def test_a_regression_lists_the_plan_change_near_its_start(db, plan_table):
    now = datetime.now(UTC).replace(microsecond=0)
    for i in range(25):  # 10 ms in the previous hour, 100 ms in this one: a regression over a 1-hour window
        _log(plan_table, NAME, 10.0, now - timedelta(minutes=90, seconds=i))
        _log(plan_table, NAME, 100.0, now - timedelta(minutes=30, seconds=i))
    plans.capture(db, TEST_QUERIES, at=now - timedelta(hours=3))
    plan_table.execute("DROP INDEX plan_t_k_idx")
    plans.capture(db, TEST_QUERIES, at=now - timedelta(minutes=35))

    regs = performance.regressions(db, now=now, window=timedelta(hours=1))
    assert NAME in [r["query_name"] for r in regs]
    near = performance.regression_plan_changes(db, regs, now=now, window=timedelta(hours=1))
    (change,) = near[NAME]
    assert change["detected_at"] == now - timedelta(minutes=35)
    assert "plan_t_k_idx" in change["summary"]
    # a change long before the regression's windows is not near it
    assert performance.regression_plan_changes(db, regs, now=now + timedelta(hours=3), window=timedelta(hours=1)) == {}


def test_capture_job_over_the_registry_records_its_run_and_repeats_without_changes(db_url, conn):
    from venuepulse.jobs.scheduler import run_once

    # The capture writes the plan tables, and autovacuum may analyze them at any moment after: the plans of
    # the queries reading them (plans.*) may then change, and rightly so.  Every other query reads data the
    # capture does not change, so with the statistics settled (ANALYZE before each run, as autovacuum would
    # sooner or later) the second run must find the plans the first stored.
    conn.execute("ANALYZE")
    first = run_once(db_url, "capture_plans")
    conn.execute("ANALYZE")
    second = run_once(db_url, "capture_plans")
    runs = conn.execute("SELECT status, rows_affected, details FROM job_runs WHERE job_name = 'capture_plans'"
                        " ORDER BY id").fetchall()
    assert [r[0] for r in runs] == ["succeeded", "succeeded"], (first, second)
    assert runs[0][2]["failed"] == {}
    assert runs[0][2]["captured"] == len(plans.capturable()) >= 50
    changes = runs[1][2]["changes"]
    assert runs[1][1] == len(changes)
    assert [c for c in changes if not c["query_name"].startswith("plans.")] == []


@pytest.mark.clock  # the change and the timings are placed relative to now(), inside the page's windows
def test_query_performance_page_lists_plan_changes_and_links_the_regression_to_its_change(db, plan_table, page_env):
    now = datetime.now(UTC)
    for i in range(25):
        _log(plan_table, NAME, 10.0, now - timedelta(minutes=90, seconds=i))
        _log(plan_table, NAME, 100.0, now - timedelta(minutes=20, seconds=i))
    plans.capture(db, TEST_QUERIES, at=now - timedelta(hours=2))
    plan_table.execute("DROP INDEX plan_t_k_idx")
    plans.capture(db, TEST_QUERIES, at=now - timedelta(minutes=25))
    at = pages.run_page("query_performance", username="eng-user", role="engineer")
    assert "Plan changes" in [h.value for h in at.subheader]
    assert any(e.label.endswith(f"{NAME} — no longer uses index plan_t_k_idx") for e in at.expander)
    codes = "\n".join(c.value for c in at.code)
    assert "- " in codes and "plan_t_k_idx" in codes and "+ " in codes
    # the regression of the same query lists the change, linking to the section
    links = [m.value for m in at.markdown if "(#plan-changes)" in m.value]
    assert links and "no longer uses index plan_t_k_idx" in links[0]


def test_bench_reports_a_capture_pass_over_the_registry(db_url):
    from venuepulse.jobs import bench
    from venuepulse.queries.ops import bench as qb

    result = qb.plan_capture(db_url, passes=1)
    assert result["captured"] == len(plans.capturable()) and result["failed"] == 0 and result["changes"] == 0
    assert len(result["pass_ms"]) == 1 and result["ping_ms"] > 0 and len(result["slowest_explain_ms"]) == 3
    rows = bench.table_rows({"scenarios": {"plans": {**result, "pass_ms": bench._spread(result["pass_ms"])}}})
    assert [r[0] for r in rows] == ["plans"] * 3 and "named queries' generic plans" in rows[0][1]

