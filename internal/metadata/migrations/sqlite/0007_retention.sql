-- Retention (`aiflow-runner runs prune`): old runs are deleted with their attempts, pins,
-- commits, lineage and check results, in batches, and the usage rollups keep what the pruned
-- attempts counted: usage over the pruned days and the fleet counters of `metrics serve` (the
-- rollups' totals) do not go down. The prune transaction puts a row in aiflow_retention, which
-- only it sees, and the usage trigger leaves the rollups alone for the attempts it deletes; every
-- other deletion (an operator's own DELETE) is still subtracted, as before.

CREATE TABLE aiflow_retention (pruning INTEGER NOT NULL);

DROP TRIGGER aiflow_usage_delete;

CREATE TRIGGER aiflow_usage_delete AFTER DELETE ON aiflow_node_attempts WHEN OLD.ended_us IS NOT NULL AND NOT EXISTS (SELECT 1 FROM aiflow_retention)
BEGIN
    INSERT INTO aiflow_usage_hourly
    SELECT OLD.started_us - OLD.started_us % 3600000000, COALESCE(p.team, ''), COALESCE(p.project, ''), COALESCE(p.cost_center, ''),
           -1, -(OLD.ended_us - OLD.started_us), -OLD.rows_in, -OLD.rows_out, -OLD.bytes_in, -OLD.bytes_out
    FROM (SELECT 1) LEFT JOIN aiflow_pipeline_versions p ON p.pipeline_id = OLD.pipeline_id AND p.ir_hash = OLD.ir_hash
    WHERE true
    ON CONFLICT (bucket_us, team, project, cost_center) DO UPDATE SET attempts = aiflow_usage_hourly.attempts + excluded.attempts, node_us = aiflow_usage_hourly.node_us + excluded.node_us, rows_in = aiflow_usage_hourly.rows_in + excluded.rows_in, rows_out = aiflow_usage_hourly.rows_out + excluded.rows_out, bytes_in = aiflow_usage_hourly.bytes_in + excluded.bytes_in, bytes_out = aiflow_usage_hourly.bytes_out + excluded.bytes_out;
    INSERT INTO aiflow_usage_daily
    SELECT OLD.started_us - OLD.started_us % 86400000000, COALESCE(p.team, ''), COALESCE(p.project, ''), COALESCE(p.cost_center, ''),
           -1, -(OLD.ended_us - OLD.started_us), -OLD.rows_in, -OLD.rows_out, -OLD.bytes_in, -OLD.bytes_out
    FROM (SELECT 1) LEFT JOIN aiflow_pipeline_versions p ON p.pipeline_id = OLD.pipeline_id AND p.ir_hash = OLD.ir_hash
    WHERE true
    ON CONFLICT (bucket_us, team, project, cost_center) DO UPDATE SET attempts = aiflow_usage_daily.attempts + excluded.attempts, node_us = aiflow_usage_daily.node_us + excluded.node_us, rows_in = aiflow_usage_daily.rows_in + excluded.rows_in, rows_out = aiflow_usage_daily.rows_out + excluded.rows_out, bytes_in = aiflow_usage_daily.bytes_in + excluded.bytes_in, bytes_out = aiflow_usage_daily.bytes_out + excluded.bytes_out;
END;
