-- One row per process: a zombie pod and its replacement running the same try are two attempts,
-- each recorded as itself (attempt_id is a random id per runner process attempt).
ALTER TABLE aiflow_node_attempts ADD COLUMN attempt_id TEXT NOT NULL DEFAULT '';
ALTER TABLE aiflow_node_attempts DROP CONSTRAINT aiflow_node_attempts_pkey;
ALTER TABLE aiflow_node_attempts ADD PRIMARY KEY (pipeline_id, run_id, node_id, try, attempt_id);
