"""How the schema maps onto Citus: every table's place, the rules Citus imposes, and where we break them.

The one place that says which table is distributed (on which column, in which co-location group), which
is a reference table and which stays a plain table on the coordinator. ``docs/scaling.md`` ("Citus")
embeds :func:`render_markdown`'s output and ``tests/test_citus_rules.py`` checks the migrated catalog
against :data:`RULES`: a violation not listed in :data:`DEVIATIONS` (with what changes on Citus) fails,
and so does a listed deviation that no longer happens, or a table nobody classified.

Sources are Citus's documentation (citusdata/citus_docs, published at docs.citusdata.com) and, where
the docs are silent, the check in Citus's source (citusdata/citus) that raises the error.
"""

from __future__ import annotations

from dataclasses import dataclass

DOCS = "https://docs.citusdata.com/en/stable/"
SRC = "https://github.com/citusdata/citus/blob/main/src/backend/distributed/"

# table: (distribution column, co-location group). One group per column type and meaning: tables of a
# group hash the same value to the same shard, so a venue's rows, rollups and counters live together.
DISTRIBUTED: dict[str, tuple[str, str]] = {
    "venues": ("id", "venue"),
    "venue_owners": ("venue_id", "venue"),
    "check_ins": ("venue_id", "venue"),
    "reviews": ("venue_id", "venue"),
    "favorites": ("venue_id", "venue"),
    "collection_venues": ("venue_id", "venue"),
    "flash_offers": ("venue_id", "venue"),
    "flash_offer_claims": ("venue_id", "venue"),
    "event_stream": ("venue_id", "venue"),
    "venue_interactions": ("venue_id", "venue"),
    "venue_counter_shards": ("venue_id", "venue"),
    "rollup_log": ("venue_id", "venue"),
    "rollup_venue_daily": ("venue_id", "venue"),
    "rollup_offer_funnel": ("venue_id", "venue"),
    "rollup_offer_days": ("venue_id", "venue"),
    "rollup_offer_when": ("venue_id", "venue"),
    "rollup_pair_venues": ("venue_id", "venue"),
    "venue_stats_rows": ("venue_id", "venue"),
    "venue_stats_recent": ("venue_id", "venue"),
    # most notifications concern no venue; they are read per user (inbox) and per offer (funnel)
    "notifications": ("user_id", "user"),
}

# table: why it is replicated to every node (small, shared, or referenced by distributed tables).
REFERENCE: dict[str, str] = {
    "users": "every venue-keyed table references it; joined everywhere",
    "collections": "collection_venues (distributed) references it; a user's lists are few",
    "friendships": "joined with event_stream for the feed's visibility",
    "user_privacy": "joined with event_stream for the feed's visibility",
    "notification_settings": "joined with favorites by flash_offer_recipients()",
    "device_tokens": "per user, small; references users",
}

# table: why it stays a plain table on the coordinator (operations, bookkeeping, all-venue rollups).
LOCAL: dict[str, str] = {
    "alembic_version": "migration bookkeeping",
    "partition_policies": "jobs' configuration",
    "job_runs": "jobs' history",
    "counter_drift": "reconcile job's findings",
    "query_performance_log": "the recorder's timings, written by the coordinator's clients",
    "query_perf_hourly": "rollup of query_performance_log",
    "query_perf_hourly_buckets": "rollup of query_performance_log",
    "query_perf_rollups": "rollup of query_performance_log",
    "query_perf_daily": "rollup of query_performance_log",
    "query_perf_daily_marks": "rollup of query_performance_log",
    "pgss_snapshots": "pg_stat_statements history (per node on Citus)",
    "pgss_queries": "pg_stat_statements history",
    "pgss_latest": "pg_stat_statements history",
    "pgss_deltas": "pg_stat_statements history",
    "rollup_consumers": "fold positions",
    "rollup_rebuilds": "rebuild progress",
    "rollup_hourly": "all-venue rollup: a row per hour",
    "rollup_daily": "all-venue rollup: a row per day",
    "rollup_weekly": "all-venue rollup: a row per week",
    "rollup_notifications_daily": "all-venue rollup: day x category x channel",
    "rollup_pair_scores": "all-venue rollup: category x score",
    "rollup_pair_totals": "all-venue rollup: a row per category",
    "rollup_pair_users": "distinct users per category (users are not co-located with venues)",
    "venue_stats_scores": "all-venue rollup: category x score",
    "venue_stats_score_summary": "all-venue rollup: a row per category (score percentiles)",
    "rollup_offer_when_days": "all-venue rollup: offer start day x weekday x hour",
    "alert_rules": "alerting",
    "alert_channels": "alerting",
    "alert_rule_channels": "alerting",
    "alert_states": "alerting",
    "alert_events": "alerting",
    "notification_outbox": "alert delivery",
    "notification_attempts": "alert delivery",
    "venuepulse_auth.accounts": "dashboard sign-in (references users: allowed from a local table)",
    "venuepulse_secrets.channel_secrets": "alert channel secrets",
    # added by revisions 0011-0016 (plan history, change markers, wait samples, owner reports, rollups)
    "plan_shapes": "query plan history",
    "query_plans": "query plan history",
    "plan_changes": "query plan history",
    "change_markers": "schema and settings changes",
    "schema_catalog": "schema and settings changes",
    "schema_catalog_snapshots": "schema and settings changes",
    "pgss_entry_gaps": "pg_stat_statements history",
    "wait_samples": "wait-event samples of the coordinator's sessions",
    "owner_reports": "weekly owner reports (references accounts and the outbox, both local)",
    "venuepulse_auth.report_subscriptions": "weekly owner reports",
    "rollup_notification_delays": "all-venue rollup: notification delays",
    "rollup_notification_delay_bins": "all-venue rollup: notification delays",
}


@dataclass(frozen=True)
class Rule:
    says: str
    sources: tuple[str, ...]


RULES: dict[str, Rule] = {
    "classified": Rule(
        "Every table is distributed, a reference table or local, exactly once (ours: a new table must be "
        "placed before it ships).",
        (f"{DOCS}develop/migration_mt_schema.html (Identify types of tables)",)),
    "distribution-column": Rule(
        "A distributed table has its distribution column, NOT NULL (an INSERT with NULL there is refused), "
        "of a type with a default hash operator class.",
        (f"{DOCS}develop/api_udf.html (create_distributed_table)",
         f"{SRC}planner/multi_router_planner.c (\"cannot perform an INSERT with NULL in the partition column\")",
         f"{SRC}commands/create_distributed_table.c (\"data type %s has no default operator class\")")),
    "co-location": Rule(
        "Tables of one co-location group are distributed on columns of the same type (tables co-locate "
        "by distribution column type and shard count).",
        (f"{DOCS}develop/reference_ddl.html (Co-Locating Tables)",)),
    "unique-includes-distribution-column": Rule(
        "Every PRIMARY KEY, UNIQUE constraint and unique index of a distributed table includes the "
        "distribution column.",
        (f"{DOCS}develop/reference_ddl.html (Coordinated Foreign Keys / note: primary keys and uniqueness "
         "constraints must include the distribution column)",
         f"{DOCS}faq/faq.html (Can I create primary keys on distributed tables?)",
         f"{SRC}commands/table.c (\"Distributed relations cannot have UNIQUE, EXCLUDE, or PRIMARY KEY "
         "constraints that do not include the partition column\")")),
    "fk-between-distributed": Rule(
        "A foreign key between two distributed tables joins co-located tables and includes the "
        "distribution column at the same position on both sides.",
        (f"{DOCS}develop/reference_ddl.html (Coordinated Foreign Keys)",
         f"{SRC}commands/foreign_constraint.c (\"Foreign keys are supported in two cases\")")),
    "fk-from-distributed": Rule(
        "A distributed table references only distributed (co-located) or reference tables, never a "
        "local table.",
        (f"{DOCS}develop/reference_ddl.html (Coordinated Foreign Keys)",
         f"{SRC}commands/foreign_constraint.c (\"referenced table must be a distributed table or a "
         "reference table\")")),
    "fk-to-distributed": Rule(
        "No foreign key from a reference or local table to a distributed table.",
        (f"{DOCS}develop/reference_ddl.html (\"Foreign keys from reference tables to distributed tables "
         "are not supported\")",
         f"{SRC}commands/foreign_constraint.c (\"foreign keys from reference tables and local tables to "
         "distributed tables are not supported\")")),
    "fk-actions-on-distribution-key": Rule(
        "A foreign key whose referencing columns include the distribution column has no ON DELETE SET "
        "NULL/SET DEFAULT and no ON UPDATE SET NULL/SET DEFAULT/CASCADE.",
        (f"{SRC}commands/foreign_constraint.c (EnsureSupportedFKeyOnDistKey)",)),
    "fk-reference-to-local": Rule(
        "A foreign key from a reference table to a local table has no ON DELETE/UPDATE CASCADE.",
        (f"{DOCS}develop/reference_ddl.html (Coordinated Foreign Keys)",)),
    "policy-without-subquery": Rule(
        "Row-level security policies on distributed and reference tables contain no subquery "
        "(supported since Citus 11.0).",
        (f"{DOCS}admin_guide/cluster_management.html (Row-Level Security)",
         f"{SRC}commands/policy.c (\"Subqueries are not supported in policies on distributed tables\")")),
    "no-triggers": Rule(
        "No triggers on distributed or reference tables (refused unless citus.enable_unsafe_triggers, "
        "which Citus documents as risking visibility and deadlock problems).",
        (f"{DOCS}extra/triggers.html (Triggers on Distributed Tables)",
         f"{SRC}commands/trigger.c (\"triggers are not supported on distributed tables\")",
         f"{SRC}shared_library_init.c (citus.enable_unsafe_triggers)")),
    "node-independent-defaults": Rule(
        "A non-immutable function in a DEFAULT of a distributed or reference table means the same on any "
        "node: Citus computes a routed INSERT's functions on the coordinator, so a value that must come "
        "from the node holding the row (a transaction id) is wrong there. (Volatile ones, gen_random_uuid() "
        "included, also keep an INSERT ... SELECT that omits the column from being pushed down to the "
        "shards, and are refused in UPDATE.)",
        (f"{SRC}utils/citus_clauses.c (ExecuteCoordinatorEvaluableExpressions)",
         f"{DOCS}develop/reference_workarounds.html (Functions used in UPDATE queries on distributed "
         "tables must not be VOLATILE)",
         f"{SRC}planner/insert_select_planner.c (\"volatile functions are not allowed in distributed "
         "INSERT ... SELECT queries\")")),
    "bigint-sequences": Rule(
        "Sequence and identity columns of distributed and reference tables are bigint (Citus encodes the "
        "node in the value).",
        (f"{DOCS}develop/reference_workarounds.html (Limitations: sequences smaller than BIGINT)",)),
    "single-level-partitioning": Rule(
        "A distributed partitioned table is partitioned on one level only.",
        (f"{DOCS}develop/reference_workarounds.html (Distributing multi-level partitioned tables is not "
         "supported)",)),
    "no-materialized-views-over-citus-tables": Rule(
        "No materialized view reads a distributed table (Citus keeps materialized views as local tables "
        "on the coordinator; rollups are tables kept with INSERT ... SELECT ... ON CONFLICT).",
        (f"{DOCS}develop/reference_sql.html (Views)",
         f"{DOCS}develop/reference_dml.html (Distributed Rollups)")),
    "no-rules": Rule(
        "No rewrite rules on distributed or reference tables.",
        (f"{DOCS}develop/reference_workarounds.html (The rule system is not supported)",)),
}

_TRIGGERS = ("the write path (counters, venue_interactions, event_stream rows, rollup capture) moves out "
             "of triggers: see 'Write path' below")
_SCOPE = ("policy calls the functions without the scalar-subquery wrapper: NOT vp_is_scoped_role() OR "
          "venue_id = ANY (vp_scope_venue_ids())")

# (rule, subject): what changes on Citus. The subject is what the test reports (table, table.column,
# constraint or index name, trigger name, policy name).
DEVIATIONS: dict[tuple[str, str], str] = {
    ("distribution-column", "event_stream.venue_id (nullable)"):
        "events about no venue (friendships, collections) move to a `user_events` table distributed on "
        "`user_id` (group `user`); `event_stream.venue_id` becomes NOT NULL",
    ("distribution-column", "flash_offer_claims.venue_id (missing)"):
        "claims gain `venue_id NOT NULL`, set by `claim_flash_offer()` from the offer (an offer no longer "
        "changes venue: `trigger_offers_venue_changed` goes)",
    ("distribution-column", "rollup_log.venue_id (nullable)"):
        "changes with no venue (notifications) are logged in a coordinator-local log; the venue log's "
        "`venue_id` becomes NOT NULL",
    ("unique-includes-distribution-column", "check_ins.check_ins_pkey"):
        "primary key `(venue_id, id, checked_in_at)`; `id` stays unique by construction (gen_random_uuid)",
    ("unique-includes-distribution-column", "event_stream.event_stream_pkey"):
        "primary key `(venue_id, id, created_at)`",
    ("unique-includes-distribution-column", "flash_offers.flash_offers_pkey"):
        "primary key `(venue_id, id)` (claims reference it with both columns)",
    ("unique-includes-distribution-column", "flash_offer_claims.flash_offer_claims_pkey"):
        "primary key `(venue_id, id)`",
    ("unique-includes-distribution-column", "flash_offer_claims.unique_user_offer"):
        "`UNIQUE (venue_id, offer_id, user_id)`: the same rule, since an offer has one venue",
    ("unique-includes-distribution-column", "flash_offer_claims.unique_offer_token"):
        "`UNIQUE (venue_id, offer_id, token)`: the same rule, since an offer has one venue",
    ("unique-includes-distribution-column", "notifications.notifications_pkey"):
        "primary key `(user_id, id)`",
    ("unique-includes-distribution-column", "reviews.reviews_pkey"):
        "primary key `(venue_id, id)` (`reviews_one_per_user_venue` already includes `venue_id`)",
    ("unique-includes-distribution-column", "rollup_offer_days.rollup_offer_days_pkey"):
        "primary key `(venue_id, offer_id, bucket)`",
    ("unique-includes-distribution-column", "rollup_offer_funnel.rollup_offer_funnel_pkey"):
        "primary key `(venue_id, offer_id)`",
    ("unique-includes-distribution-column", "rollup_offer_when.rollup_offer_when_pkey"):
        "primary key `(venue_id, offer_id, kind, weekday, hour)`",
    ("unique-includes-distribution-column", "venue_interactions.venue_interactions_pkey"):
        "primary key `(venue_id, id)` (`unique_user_venue` already includes `venue_id`)",
    ("fk-between-distributed", "flash_offer_claims.flash_offer_claims_offer_id_fkey"):
        "`FOREIGN KEY (venue_id, offer_id) REFERENCES flash_offers (venue_id, id) ON DELETE CASCADE`",
    ("fk-between-distributed", "notifications.notifications_venue_id_fkey"):
        "dropped (notifications live with their user); deleting a venue deletes its offer notifications "
        "in the same transaction, by `venue_id`",
    ("node-independent-defaults", "rollup_log.xid: pg_current_xact_id()"):
        "transaction ids and `pg_snapshot` are per node: the log's position becomes a per-shard "
        "`bigserial` and each fold takes the shard's safe point (docs/rollups.md, Citus)",
    **{("no-triggers", t): _TRIGGERS for t in (
        "check_ins", "collection_venues", "collections", "event_stream", "favorites", "flash_offer_claims",
        "flash_offers", "notifications", "reviews", "venue_interactions", "venues")},
    **{("policy-without-subquery", f"{t}.vp_venue_scope"): _SCOPE for t in (
        "check_ins", "collection_venues", "event_stream", "favorites", "flash_offers", "notifications",
        "reviews", "rollup_log", "rollup_offer_days", "rollup_offer_funnel", "rollup_offer_when", "rollup_venue_daily",
        "venue_counter_shards", "venue_interactions", "venue_owners", "venue_stats_rows", "venues")},
    ("policy-without-subquery", "flash_offer_claims.vp_venue_scope"):
        "`venue_id = ANY (vp_scope_venue_ids())` on the claim's own `venue_id` (the EXISTS over "
        "flash_offers is a subquery)",
}


def classification(table: str) -> str:
    if table in DISTRIBUTED:
        column, group = DISTRIBUTED[table]
        return f"distributed on {column} (group {group})"
    if table in REFERENCE:
        return "reference"
    if table in LOCAL:
        return "local (coordinator)"
    return "unclassified"


def render_markdown() -> str:
    """The Citus map as docs/scaling.md embeds it (between the citus-map markers)."""
    out = ["| table | on Citus | why |", "|---|---|---|"]
    for t, (col, group) in DISTRIBUTED.items():
        out.append(f"| `{t}` | distributed on `{col}` (group `{group}`) | |")
    for t, why in REFERENCE.items():
        out.append(f"| `{t}` | reference | {why} |")
    for t, why in LOCAL.items():
        out.append(f"| `{t}` | local (coordinator) | {why} |")
    out += ["", "| rule | says | sources |", "|---|---|---|"]
    for rid, rule in RULES.items():
        out.append(f"| `{rid}` | {rule.says} | {'; '.join(rule.sources)} |")
    out += ["", "| rule | where the schema breaks it today | what changes on Citus |", "|---|---|---|"]
    for (rid, subject), change in sorted(DEVIATIONS.items()):
        out.append(f"| `{rid}` | `{subject}` | {change} |")
    return "\n".join(out) + "\n"


if __name__ == "__main__":  # python -m venuepulse.queries.schema.citus > the block in docs/scaling.md
    print(render_markdown(), end="")
