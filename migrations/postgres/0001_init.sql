-- Threadline schema, PostgreSQL flavour. migrations/sqlite/0001_init.sql is the same design.
-- Times are epoch microseconds (spans: nanoseconds), costs nano-USD: integers keep sums exact.

CREATE TABLE projects (
    id          BIGSERIAL PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL
);
INSERT INTO projects (id, name, created_at) VALUES (1, 'default', 0);

-- Only a SHA-256 of each key is kept; `prefix` (the first characters) lets people tell keys apart.
CREATE TABLE api_keys (
    id          BIGSERIAL PRIMARY KEY,
    project_id  BIGINT NOT NULL REFERENCES projects(id),
    name        TEXT NOT NULL,
    prefix      TEXT NOT NULL,
    hash        TEXT NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL,
    revoked_at  BIGINT
);

-- One row per session with its aggregates materialised at ingestion (SPEC §4 rule 5), so the
-- list never scans runs. `kind` is 'explicit' or 'automatic'; `grouped_by` names the key that
-- supplied an explicit id; automatic sessions remember the API key whose inactivity defines them.
CREATE TABLE sessions (
    id               BIGSERIAL PRIMARY KEY,
    project_id       BIGINT NOT NULL REFERENCES projects(id),
    -- Byte order, as SQLite sorts: the list's order must not depend on the server's locale.
    public_id        TEXT COLLATE "C" NOT NULL,
    kind             TEXT NOT NULL,
    grouped_by       TEXT,
    api_key_id       BIGINT,
    run_count        BIGINT NOT NULL DEFAULT 0,
    first_run        BIGINT NOT NULL DEFAULT 0,
    last_activity    BIGINT NOT NULL DEFAULT 0,
    total_duration   BIGINT NOT NULL DEFAULT 0,
    total_cost       BIGINT NOT NULL DEFAULT 0,
    input_tokens     BIGINT NOT NULL DEFAULT 0,
    output_tokens    BIGINT NOT NULL DEFAULT 0,
    total_tokens     BIGINT NOT NULL DEFAULT 0,
    tokens_saved     BIGINT NOT NULL DEFAULT 0,
    error_count      BIGINT NOT NULL DEFAULT 0,
    overhead_us      BIGINT NOT NULL DEFAULT 0,
    request_us       BIGINT NOT NULL DEFAULT 0,
    gateway_runs     BIGINT NOT NULL DEFAULT 0,
    UNIQUE (project_id, public_id)
);
-- One index per sort key; the session id breaks ties so pages are stable.
CREATE INDEX sessions_by_last_activity ON sessions (project_id, last_activity, public_id);
CREATE INDEX sessions_by_first_run     ON sessions (project_id, first_run, public_id);
CREATE INDEX sessions_by_run_count     ON sessions (project_id, run_count, public_id);
CREATE INDEX sessions_by_duration      ON sessions (project_id, total_duration, public_id);
CREATE INDEX sessions_by_cost          ON sessions (project_id, total_cost, public_id);
CREATE INDEX sessions_by_tokens        ON sessions (project_id, total_tokens, public_id);

-- Ids of automatic sessions merged into another: they keep resolving to the survivor.
CREATE TABLE session_aliases (
    project_id  BIGINT NOT NULL,
    alias       TEXT NOT NULL,
    session_id  BIGINT NOT NULL,
    PRIMARY KEY (project_id, alias)
);
CREATE INDEX session_aliases_by_session ON session_aliases (session_id);

-- Distinct agents (0), models (1), tools called (2) and users (3) of each session, with how many
-- runs have each so removals stay exact. The second index answers "sessions that used tool X".
CREATE TABLE session_facets (
    session_id  BIGINT NOT NULL,
    kind        BIGINT NOT NULL,
    value       TEXT NOT NULL,
    runs        BIGINT NOT NULL,
    project_id  BIGINT NOT NULL,
    PRIMARY KEY (session_id, kind, value)
);
CREATE INDEX session_facets_lookup ON session_facets (project_id, kind, value, session_id);

-- Activity chains of an API key (see src/sessionize): runs at most the inactivity gap apart.
-- Chains are disjoint intervals of start times, so a run's chain follows from its start.
CREATE TABLE chains (
    id               BIGSERIAL PRIMARY KEY,
    project_id       BIGINT NOT NULL,
    api_key_id       BIGINT NOT NULL,
    first_start      BIGINT NOT NULL,
    last_start       BIGINT NOT NULL,
    auto_session_id  BIGINT
);
CREATE INDEX chains_by_end ON chains (api_key_id, last_start);
CREATE INDEX chains_by_auto_session ON chains (auto_session_id);

-- Runs hold their effective fields for display plus `native`, the fields a native client sent,
-- so spans arriving later can be combined with them again.
CREATE TABLE runs (
    id               BIGSERIAL PRIMARY KEY,
    project_id       BIGINT NOT NULL,
    run_key          TEXT NOT NULL,
    session_id       BIGINT NOT NULL,
    api_key_id       BIGINT NOT NULL,
    explicit         BIGINT NOT NULL,
    session_source   TEXT,
    user_id          TEXT,
    agent_name       TEXT NOT NULL,
    workflow_name    TEXT NOT NULL,
    started_at       BIGINT NOT NULL,
    completed_at     BIGINT,
    duration_us      BIGINT,
    failed           BIGINT NOT NULL,
    error            TEXT,
    model            TEXT,
    models           TEXT NOT NULL,
    routed           BIGINT,
    input_tokens     BIGINT NOT NULL,
    output_tokens    BIGINT NOT NULL,
    tokens_saved     BIGINT NOT NULL,
    cost_nanos       BIGINT NOT NULL,
    tools_sent       BIGINT,
    tools_forwarded  TEXT,
    tools_called     TEXT NOT NULL,
    lat_dedup        BIGINT,
    lat_compression  BIGINT,
    lat_tool_routing BIGINT,
    lat_upstream     BIGINT,
    overhead_us      BIGINT,
    request_us       BIGINT,
    trace_id         TEXT,
    input            TEXT,
    output           TEXT,
    attributes       TEXT NOT NULL,
    native           TEXT,
    UNIQUE (project_id, run_key)
);
CREATE INDEX runs_by_session ON runs (session_id, started_at);
CREATE INDEX runs_by_key_start ON runs (api_key_id, started_at);
CREATE INDEX runs_by_trace ON runs (project_id, trace_id) WHERE trace_id IS NOT NULL;

-- Spans are stored once per (trace, span): a re-sent span is ignored.
CREATE TABLE spans (
    project_id      BIGINT NOT NULL,
    trace_id        TEXT NOT NULL,
    span_id         TEXT NOT NULL,
    parent_span_id  TEXT,
    name            TEXT NOT NULL,
    kind            TEXT NOT NULL,
    category        TEXT NOT NULL,
    start_ns        BIGINT NOT NULL,
    end_ns          BIGINT NOT NULL,
    status_code     TEXT NOT NULL,
    status_message  TEXT,
    attributes      TEXT NOT NULL,
    resource        TEXT NOT NULL,
    scope           TEXT,
    events          TEXT NOT NULL,
    PRIMARY KEY (project_id, trace_id, span_id)
);

-- The mergeable summary of every span received for a trace (src/ingest/otlp/mapping.rs).
CREATE TABLE trace_rollups (
    project_id  BIGINT NOT NULL,
    trace_id    TEXT NOT NULL,
    rollup      TEXT NOT NULL,
    PRIMARY KEY (project_id, trace_id)
);

-- The default project was inserted with an explicit id; move the sequence past it.
SELECT setval(pg_get_serial_sequence('projects', 'id'), 1);
