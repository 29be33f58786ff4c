-- Data-contract and quality-check results, one row per check per node attempt, recorded whether
-- the attempt committed or failed (a failed error-severity check is why it failed).
CREATE TABLE aiflow_check_results (
    pipeline_id TEXT             NOT NULL,
    run_id      TEXT             NOT NULL,
    node_id     TEXT             NOT NULL,
    try         INTEGER          NOT NULL,
    name        TEXT             NOT NULL,
    kind        TEXT             NOT NULL,
    severity    TEXT             NOT NULL,
    status      TEXT             NOT NULL,
    observed    DOUBLE PRECISION,
    message     TEXT             NOT NULL DEFAULT '',
    recorded_us BIGINT           NOT NULL,
    PRIMARY KEY (pipeline_id, run_id, node_id, try, name)
);
