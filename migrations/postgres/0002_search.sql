-- The sessions list at scale, PostgreSQL flavour (migrations/sqlite/0002_search.sql is the same
-- design and explains it). src/db/read.rs builds the queries these structures serve.

-- Facet values as bits on the session row: a project's first 62 agents (kind 0), models (1)
-- and tools (2) of each kind get a bit each, later ones share bit 62, whose sessions are then
-- confirmed in `session_facets`. Also the dictionary `q` substring-matches before using exact
-- values. Values stay after their last session is gone (a stale value matches no session).
CREATE TABLE facet_values (
    project_id  BIGINT NOT NULL,
    kind        BIGINT NOT NULL,
    value       TEXT NOT NULL,
    bit         BIGINT NOT NULL,
    PRIMARY KEY (project_id, kind, value)
);
INSERT INTO facet_values (project_id, kind, value, bit)
SELECT project_id, kind, value,
       LEAST(ROW_NUMBER() OVER (PARTITION BY project_id, kind ORDER BY value) - 1, 62)
FROM (SELECT DISTINCT project_id, kind, value FROM session_facets WHERE kind IN (0, 1, 2)) d;

-- Kept by the write path (src/db/write/aggregates.rs) with the aggregates.
ALTER TABLE sessions
    ADD COLUMN agent_bits BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN model_bits BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN tool_bits  BIGINT NOT NULL DEFAULT 0;
UPDATE sessions SET
    agent_bits = b.agent_bits, model_bits = b.model_bits, tool_bits = b.tool_bits
FROM (
    SELECT f.session_id,
           COALESCE(BIT_OR(CAST(1 AS BIGINT) << CAST(v.bit AS INT)) FILTER (WHERE f.kind = 0), 0) AS agent_bits,
           COALESCE(BIT_OR(CAST(1 AS BIGINT) << CAST(v.bit AS INT)) FILTER (WHERE f.kind = 1), 0) AS model_bits,
           COALESCE(BIT_OR(CAST(1 AS BIGINT) << CAST(v.bit AS INT)) FILTER (WHERE f.kind = 2), 0) AS tool_bits
    FROM session_facets f
    JOIN facet_values v ON v.project_id = f.project_id AND v.kind = f.kind AND v.value = f.value
    GROUP BY f.session_id
) b
WHERE sessions.id = b.session_id;

-- Sort indexes, two per sort key (ties go by session id ascending in both directions), each
-- carrying the row id and the filters that live on the session row, so a page is chosen by an
-- index-only scan.
DROP INDEX sessions_by_last_activity;
DROP INDEX sessions_by_first_run;
DROP INDEX sessions_by_run_count;
DROP INDEX sessions_by_duration;
DROP INDEX sessions_by_cost;
DROP INDEX sessions_by_tokens;
CREATE INDEX sessions_by_last_activity ON sessions (project_id, last_activity, public_id)
    INCLUDE (id, error_count, first_run, agent_bits, model_bits, tool_bits);
CREATE INDEX sessions_by_last_activity_desc ON sessions (project_id, last_activity DESC, public_id)
    INCLUDE (id, error_count, first_run, agent_bits, model_bits, tool_bits);
CREATE INDEX sessions_by_first_run ON sessions (project_id, first_run, public_id)
    INCLUDE (id, error_count, last_activity, agent_bits, model_bits, tool_bits);
CREATE INDEX sessions_by_first_run_desc ON sessions (project_id, first_run DESC, public_id)
    INCLUDE (id, error_count, last_activity, agent_bits, model_bits, tool_bits);
CREATE INDEX sessions_by_run_count ON sessions (project_id, run_count, public_id)
    INCLUDE (id, error_count, first_run, last_activity, agent_bits, model_bits, tool_bits);
CREATE INDEX sessions_by_run_count_desc ON sessions (project_id, run_count DESC, public_id)
    INCLUDE (id, error_count, first_run, last_activity, agent_bits, model_bits, tool_bits);
CREATE INDEX sessions_by_duration ON sessions (project_id, total_duration, public_id)
    INCLUDE (id, error_count, first_run, last_activity, agent_bits, model_bits, tool_bits);
CREATE INDEX sessions_by_duration_desc ON sessions (project_id, total_duration DESC, public_id)
    INCLUDE (id, error_count, first_run, last_activity, agent_bits, model_bits, tool_bits);
CREATE INDEX sessions_by_cost ON sessions (project_id, total_cost, public_id)
    INCLUDE (id, error_count, first_run, last_activity, agent_bits, model_bits, tool_bits);
CREATE INDEX sessions_by_cost_desc ON sessions (project_id, total_cost DESC, public_id)
    INCLUDE (id, error_count, first_run, last_activity, agent_bits, model_bits, tool_bits);
CREATE INDEX sessions_by_tokens ON sessions (project_id, total_tokens, public_id)
    INCLUDE (id, error_count, first_run, last_activity, agent_bits, model_bits, tool_bits);
CREATE INDEX sessions_by_tokens_desc ON sessions (project_id, total_tokens DESC, public_id)
    INCLUDE (id, error_count, first_run, last_activity, agent_bits, model_bits, tool_bits);
CREATE INDEX sessions_by_public_id ON sessions (project_id, public_id)
    INCLUDE (id, error_count, first_run, last_activity, agent_bits, model_bits, tool_bits);
-- Counting `status=error` alone without reading every session.
CREATE INDEX sessions_with_errors ON sessions (project_id, error_count) WHERE error_count > 0;

-- Session ids by trigram, for `search` and the id part of `q`: the planner uses it for
-- `public_id ILIKE '%…%'` (three characters or more) and rechecks every candidate itself.
-- pg_trgm is a trusted extension: the database owner may create it.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX sessions_id_trigrams ON sessions USING gin (public_id gin_trgm_ops);
