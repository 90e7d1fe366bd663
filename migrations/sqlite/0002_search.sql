-- The sessions list at scale, SQLite flavour (migrations/postgres/0002_search.sql is the same
-- design). src/db/read.rs builds the queries these structures serve; every list shape there
-- walks one index in sort order, checks its filters inside that index, or starts from a small
-- set of candidates (an exact facet value, a rare id substring).

-- Facet values as bits on the session row. Each project's agents (kind 0), models (1) and tools
-- (2) are numbered per kind in `facet_values`: the first 62 values of a kind get bits 0–61 of
-- their own, later ones share bit 62, whose sessions are then confirmed in `session_facets`.
-- So "sessions on model X" is a bit test inside the sort index instead of a lookup per session.
-- The table is also the dictionary that `q` substring-matches before using exact values. Values
-- stay in it after their last session is gone (a stale value only matches no session).
CREATE TABLE facet_values (
    project_id  INTEGER NOT NULL,
    kind        INTEGER NOT NULL,
    value       TEXT NOT NULL,
    bit         INTEGER NOT NULL,
    PRIMARY KEY (project_id, kind, value)
) WITHOUT ROWID;
INSERT INTO facet_values (project_id, kind, value, bit)
SELECT project_id, kind, value,
       MIN(ROW_NUMBER() OVER (PARTITION BY project_id, kind ORDER BY value) - 1, 62)
FROM (SELECT DISTINCT project_id, kind, value FROM session_facets WHERE kind IN (0, 1, 2));

-- Kept by the write path (src/db/write/aggregates.rs) with the aggregates. Each bit is a power
-- of two, so the SUM of the distinct ones is their bitwise OR.
ALTER TABLE sessions ADD COLUMN agent_bits INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN model_bits INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN tool_bits  INTEGER NOT NULL DEFAULT 0;
UPDATE sessions SET
    agent_bits = (SELECT COALESCE(SUM(DISTINCT 1 << v.bit), 0) FROM session_facets f
                  JOIN facet_values v ON v.project_id = f.project_id AND v.kind = f.kind
                                     AND v.value = f.value
                  WHERE f.session_id = sessions.id AND f.kind = 0),
    model_bits = (SELECT COALESCE(SUM(DISTINCT 1 << v.bit), 0) FROM session_facets f
                  JOIN facet_values v ON v.project_id = f.project_id AND v.kind = f.kind
                                     AND v.value = f.value
                  WHERE f.session_id = sessions.id AND f.kind = 1),
    tool_bits  = (SELECT COALESCE(SUM(DISTINCT 1 << v.bit), 0) FROM session_facets f
                  JOIN facet_values v ON v.project_id = f.project_id AND v.kind = f.kind
                                     AND v.value = f.value
                  WHERE f.session_id = sessions.id AND f.kind = 2);

-- Sort indexes, two per sort key: ties are broken by session id ascending in both directions,
-- and an index read backwards would give them descending, which SQLite then re-sorts row by row
-- (measured 10x slower per row on deep pages). Each index carries every filter that lives on
-- the session row (errors, time window, facet bits), so a filtered walk never leaves the index.
DROP INDEX sessions_by_last_activity;
DROP INDEX sessions_by_first_run;
DROP INDEX sessions_by_run_count;
DROP INDEX sessions_by_duration;
DROP INDEX sessions_by_cost;
DROP INDEX sessions_by_tokens;
CREATE INDEX sessions_by_last_activity ON sessions (project_id, last_activity, public_id,
    error_count, first_run, agent_bits, model_bits, tool_bits);
CREATE INDEX sessions_by_last_activity_desc ON sessions (project_id, last_activity DESC, public_id,
    error_count, first_run, agent_bits, model_bits, tool_bits);
CREATE INDEX sessions_by_first_run ON sessions (project_id, first_run, public_id,
    error_count, last_activity, agent_bits, model_bits, tool_bits);
CREATE INDEX sessions_by_first_run_desc ON sessions (project_id, first_run DESC, public_id,
    error_count, last_activity, agent_bits, model_bits, tool_bits);
CREATE INDEX sessions_by_run_count ON sessions (project_id, run_count, public_id,
    error_count, first_run, last_activity, agent_bits, model_bits, tool_bits);
CREATE INDEX sessions_by_run_count_desc ON sessions (project_id, run_count DESC, public_id,
    error_count, first_run, last_activity, agent_bits, model_bits, tool_bits);
CREATE INDEX sessions_by_duration ON sessions (project_id, total_duration, public_id,
    error_count, first_run, last_activity, agent_bits, model_bits, tool_bits);
CREATE INDEX sessions_by_duration_desc ON sessions (project_id, total_duration DESC, public_id,
    error_count, first_run, last_activity, agent_bits, model_bits, tool_bits);
CREATE INDEX sessions_by_cost ON sessions (project_id, total_cost, public_id,
    error_count, first_run, last_activity, agent_bits, model_bits, tool_bits);
CREATE INDEX sessions_by_cost_desc ON sessions (project_id, total_cost DESC, public_id,
    error_count, first_run, last_activity, agent_bits, model_bits, tool_bits);
CREATE INDEX sessions_by_tokens ON sessions (project_id, total_tokens, public_id,
    error_count, first_run, last_activity, agent_bits, model_bits, tool_bits);
CREATE INDEX sessions_by_tokens_desc ON sessions (project_id, total_tokens DESC, public_id,
    error_count, first_run, last_activity, agent_bits, model_bits, tool_bits);
-- Session ids are unique, so one index serves both directions.
CREATE INDEX sessions_by_public_id ON sessions (project_id, public_id,
    error_count, first_run, last_activity, agent_bits, model_bits, tool_bits);
-- Counting `status=error` alone: entries are counted without reading a column from each
-- (~0.3 ms instead of ~5 ms at 100,000 sessions).
CREATE INDEX sessions_with_errors ON sessions (project_id, error_count) WHERE error_count > 0;

-- Session ids by trigram, for `search` and the id part of `q`. The index holds no copy of the
-- ids (external content: `sessions`); it yields candidates that the query confirms with the
-- same LIKE as before, so results do not change: trigrams fold case beyond ASCII, LIKE does not.
-- `detail=none, columnsize=0` keep only which sessions hold each trigram, all a candidate
-- search needs.
CREATE VIRTUAL TABLE session_ids USING fts5(
    public_id, content = 'sessions', content_rowid = 'id',
    tokenize = 'trigram case_sensitive 0', detail = none, columnsize = 0
);
INSERT INTO session_ids (session_ids) VALUES ('rebuild');
-- Ids never change, but sessions come and go (created, merged away, emptied).
CREATE TRIGGER sessions_ids_insert AFTER INSERT ON sessions BEGIN
    INSERT INTO session_ids (rowid, public_id) VALUES (new.id, new.public_id);
END;
CREATE TRIGGER sessions_ids_delete AFTER DELETE ON sessions BEGIN
    INSERT INTO session_ids (session_ids, rowid, public_id) VALUES ('delete', old.id, old.public_id);
END;
CREATE TRIGGER sessions_ids_update AFTER UPDATE OF public_id ON sessions BEGIN
    INSERT INTO session_ids (session_ids, rowid, public_id) VALUES ('delete', old.id, old.public_id);
    INSERT INTO session_ids (rowid, public_id) VALUES (new.id, new.public_id);
END;
