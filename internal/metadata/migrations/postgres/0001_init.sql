-- The metadata store's first schema (PostgreSQL). Timestamps are BIGINT unix microseconds, UTC, in
-- every column named *_us, on both backends, so that durations are plain subtraction in SQL.
-- Pins, manifests and schemas are jsonb (queryable: which runs read snapshot X?); the IR is text
-- because it must stay byte for byte the canonical form its hash was computed over.

CREATE TABLE aiflow_pipeline_versions (
    pipeline_id   TEXT    NOT NULL,
    ir_hash       TEXT    NOT NULL,
    ir_json       TEXT    NOT NULL,
    team          TEXT    NOT NULL DEFAULT '',
    env           TEXT    NOT NULL DEFAULT '',
    project       TEXT    NOT NULL DEFAULT '',
    cost_center   TEXT    NOT NULL DEFAULT '',
    first_seen_us BIGINT  NOT NULL,
    last_seen_us  BIGINT  NOT NULL,
    PRIMARY KEY (pipeline_id, ir_hash)
);

CREATE TABLE aiflow_runs (
    pipeline_id     TEXT    NOT NULL,
    run_id          TEXT    NOT NULL,
    logical_date_us BIGINT,
    ir_hash         TEXT    NOT NULL,
    status          TEXT    NOT NULL,
    started_us      BIGINT  NOT NULL,
    ended_us        BIGINT,
    PRIMARY KEY (pipeline_id, run_id)
);
CREATE INDEX aiflow_runs_started ON aiflow_runs (started_us);
CREATE INDEX aiflow_runs_run_id ON aiflow_runs (run_id);

CREATE TABLE aiflow_node_attempts (
    pipeline_id   TEXT    NOT NULL,
    run_id        TEXT    NOT NULL,
    node_id       TEXT    NOT NULL,
    try           INTEGER NOT NULL,
    ir_hash       TEXT    NOT NULL,
    status        TEXT    NOT NULL,
    exit_code     INTEGER,
    error_class   TEXT    NOT NULL DEFAULT '',
    error_message TEXT    NOT NULL DEFAULT '',
    started_us    BIGINT  NOT NULL,
    ended_us      BIGINT,
    rows_in       BIGINT  NOT NULL DEFAULT 0,
    rows_out      BIGINT  NOT NULL DEFAULT 0,
    bytes_in      BIGINT  NOT NULL DEFAULT 0,
    bytes_out     BIGINT  NOT NULL DEFAULT 0,
    engine        TEXT    NOT NULL DEFAULT '',
    pod_name      TEXT    NOT NULL DEFAULT '',
    host          TEXT    NOT NULL DEFAULT '',
    PRIMARY KEY (pipeline_id, run_id, node_id, try)
);
CREATE INDEX aiflow_node_attempts_started ON aiflow_node_attempts (started_us);

CREATE TABLE aiflow_input_pins (
    pipeline_id TEXT    NOT NULL,
    run_id      TEXT    NOT NULL,
    node_id     TEXT    NOT NULL,
    try         INTEGER NOT NULL,
    input_id    TEXT    NOT NULL,
    pin_json    JSONB   NOT NULL,
    recorded_us BIGINT  NOT NULL,
    PRIMARY KEY (pipeline_id, run_id, node_id, try, input_id)
);

-- The exactly-once ledger: one row per (pipeline, run, node), ever.
CREATE TABLE aiflow_commits (
    pipeline_id   TEXT    NOT NULL,
    run_id        TEXT    NOT NULL,
    node_id       TEXT    NOT NULL,
    try           INTEGER NOT NULL,
    manifest_json JSONB   NOT NULL,
    committed_us  BIGINT  NOT NULL,
    CONSTRAINT aiflow_commits_once UNIQUE (pipeline_id, run_id, node_id)
);

CREATE TABLE aiflow_lineage (
    pipeline_id TEXT    NOT NULL,
    run_id      TEXT    NOT NULL,
    node_id     TEXT    NOT NULL,
    try         INTEGER NOT NULL,
    direction   TEXT    NOT NULL,
    namespace   TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    row_count   BIGINT  NOT NULL DEFAULT 0,
    byte_count  BIGINT  NOT NULL DEFAULT 0,
    schema_json JSONB,
    recorded_us BIGINT  NOT NULL,
    PRIMARY KEY (pipeline_id, run_id, node_id, try, direction, namespace, name)
);
