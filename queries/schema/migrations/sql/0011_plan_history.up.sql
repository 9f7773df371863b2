-- Plans over time (issue 15; docs/queries.md "Plans over time"): the capture_plans job EXPLAINs every
-- registered read query (its generic plan) and keeps the plan's shape — node types, relations, indexes,
-- join types, never costs or row estimates — under a fingerprint of that shape.  A plan change is a
-- capture whose fingerprint differs from the query's previous one.
--
-- Grants: readable by venuepulse_reader (the engineers' Query performance page); only the jobs write.

-- Each distinct shape once: the normalized tree, one node per line (queries/ops/plans.py writes it).
CREATE TABLE plan_shapes (
  fingerprint   text PRIMARY KEY CHECK (fingerprint ~ '^[0-9a-f]{16,64}$'),
  shape         text NOT NULL,
  first_seen_at timestamptz NOT NULL DEFAULT now()
);

-- The latest capture per named query: its plan since `since` (the first capture that saw it).
CREATE TABLE query_plans (
  query_name  text PRIMARY KEY,
  fingerprint text NOT NULL REFERENCES plan_shapes(fingerprint),
  since       timestamptz NOT NULL,
  captured_at timestamptz NOT NULL,
  captures    bigint NOT NULL DEFAULT 1 CHECK (captures >= 1)
);

-- The plan of `query_name` changed between `previous_captured_at` (last capture with the old plan) and
-- `detected_at`.
CREATE TABLE plan_changes (
  id                   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  query_name           text NOT NULL,
  detected_at          timestamptz NOT NULL,
  previous_captured_at timestamptz NOT NULL,
  before_fingerprint   text NOT NULL REFERENCES plan_shapes(fingerprint),
  after_fingerprint    text NOT NULL REFERENCES plan_shapes(fingerprint),
  CHECK (before_fingerprint <> after_fingerprint),
  CHECK (previous_captured_at <= detected_at)
);
CREATE INDEX idx_plan_changes_detected ON plan_changes (detected_at DESC);
CREATE INDEX idx_plan_changes_query_detected ON plan_changes (query_name, detected_at DESC);

GRANT SELECT ON plan_shapes, query_plans, plan_changes TO venuepulse_reader;
