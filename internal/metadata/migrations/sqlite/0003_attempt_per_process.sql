-- One row per process: a zombie pod and its replacement running the same try are two attempts,
-- each recorded as itself (attempt_id is a random id per runner process attempt). SQLite cannot
-- change a primary key in place: the table is rebuilt.
CREATE TABLE aiflow_node_attempts_v2 (
    pipeline_id   TEXT    NOT NULL,
    run_id        TEXT    NOT NULL,
    node_id       TEXT    NOT NULL,
    try           INTEGER NOT NULL,
    attempt_id    TEXT    NOT NULL DEFAULT '',
    ir_hash       TEXT    NOT NULL,
    status        TEXT    NOT NULL,
    exit_code     INTEGER,
    error_class   TEXT    NOT NULL DEFAULT '',
    error_message TEXT    NOT NULL DEFAULT '',
    started_us    INTEGER NOT NULL,
    ended_us      INTEGER,
    rows_in       INTEGER NOT NULL DEFAULT 0,
    rows_out      INTEGER NOT NULL DEFAULT 0,
    bytes_in      INTEGER NOT NULL DEFAULT 0,
    bytes_out     INTEGER NOT NULL DEFAULT 0,
    engine        TEXT    NOT NULL DEFAULT '',
    pod_name      TEXT    NOT NULL DEFAULT '',
    host          TEXT    NOT NULL DEFAULT '',
    PRIMARY KEY (pipeline_id, run_id, node_id, try, attempt_id)
);
INSERT INTO aiflow_node_attempts_v2
    (pipeline_id, run_id, node_id, try, ir_hash, status, exit_code, error_class, error_message,
     started_us, ended_us, rows_in, rows_out, bytes_in, bytes_out, engine, pod_name, host)
SELECT pipeline_id, run_id, node_id, try, ir_hash, status, exit_code, error_class, error_message,
       started_us, ended_us, rows_in, rows_out, bytes_in, bytes_out, engine, pod_name, host
FROM aiflow_node_attempts;
DROP TABLE aiflow_node_attempts;
ALTER TABLE aiflow_node_attempts_v2 RENAME TO aiflow_node_attempts;
CREATE INDEX aiflow_node_attempts_started ON aiflow_node_attempts (started_us);
