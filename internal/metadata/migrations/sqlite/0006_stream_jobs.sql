-- Streaming pipelines: one Flink job per pipeline, deployed, upgraded, checked and stopped by the
-- runner's `stream` commands. aiflow_stream_jobs is each pipeline's current deployment (the IR
-- it runs, the Flink job id, its last known state, the savepoint the next deploy resumes from)
-- and the lease that keeps two concurrent deploys from starting two jobs; aiflow_stream_events
-- is the history of what the commands did.

CREATE TABLE aiflow_stream_jobs (
    pipeline_id    TEXT    PRIMARY KEY,
    team           TEXT    NOT NULL DEFAULT '',
    ir_hash        TEXT    NOT NULL DEFAULT '',
    job_id         TEXT    NOT NULL DEFAULT '',
    state          TEXT    NOT NULL DEFAULT '',
    savepoint      TEXT    NOT NULL DEFAULT '',
    message        TEXT    NOT NULL DEFAULT '',
    deployed_us    BIGINT,
    stopped_us     BIGINT,
    checked_us     BIGINT,
    updated_us     BIGINT  NOT NULL,
    lease_owner    TEXT    NOT NULL DEFAULT '',
    lease_until_us BIGINT  NOT NULL DEFAULT 0
);

CREATE TABLE aiflow_stream_events (
    id          INTEGER PRIMARY KEY,
    pipeline_id TEXT    NOT NULL,
    at_us       BIGINT  NOT NULL,
    action      TEXT    NOT NULL,
    ir_hash     TEXT    NOT NULL DEFAULT '',
    job_id      TEXT    NOT NULL DEFAULT '',
    savepoint   TEXT    NOT NULL DEFAULT '',
    state       TEXT    NOT NULL DEFAULT '',
    message     TEXT    NOT NULL DEFAULT ''
);

CREATE INDEX aiflow_stream_events_pipeline ON aiflow_stream_events (pipeline_id, id DESC);
