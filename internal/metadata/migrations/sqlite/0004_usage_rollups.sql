-- Usage rollups: node-seconds, rows and bytes of ended attempts per tenancy (team, project,
-- cost_center) per hour and per UTC day of the attempt's start, kept by triggers on
-- aiflow_node_attempts, so that `usage` over 30 days reads a few thousand rollup rows instead of
-- summing every attempt (30M of them at a million attempts a day: seconds, not milliseconds).
-- Every change of an attempt row is applied as "minus the old row, plus the new one", so an
-- attempt ended twice, restarted in place, marked interrupted or deleted by retention is counted
-- once, as it is now. The tenancy is the one of the attempt's pipeline version when the row
-- changes (recorded before any attempt of that version starts).

CREATE TABLE aiflow_usage_hourly (
    bucket_us   INTEGER NOT NULL,
    team        TEXT   NOT NULL,
    project     TEXT   NOT NULL,
    cost_center TEXT   NOT NULL,
    attempts    INTEGER NOT NULL,
    node_us     INTEGER NOT NULL,
    rows_in     INTEGER NOT NULL,
    rows_out    INTEGER NOT NULL,
    bytes_in    INTEGER NOT NULL,
    bytes_out   INTEGER NOT NULL,
    PRIMARY KEY (bucket_us, team, project, cost_center)
);

CREATE TABLE aiflow_usage_daily (
    bucket_us   INTEGER NOT NULL,
    team        TEXT   NOT NULL,
    project     TEXT   NOT NULL,
    cost_center TEXT   NOT NULL,
    attempts    INTEGER NOT NULL,
    node_us     INTEGER NOT NULL,
    rows_in     INTEGER NOT NULL,
    rows_out    INTEGER NOT NULL,
    bytes_in    INTEGER NOT NULL,
    bytes_out   INTEGER NOT NULL,
    PRIMARY KEY (bucket_us, team, project, cost_center)
);

CREATE TRIGGER aiflow_usage_insert AFTER INSERT ON aiflow_node_attempts WHEN NEW.ended_us IS NOT NULL
BEGIN
    INSERT INTO aiflow_usage_hourly
    SELECT NEW.started_us - NEW.started_us % 3600000000, COALESCE(p.team, ''), COALESCE(p.project, ''), COALESCE(p.cost_center, ''),
           1, (NEW.ended_us - NEW.started_us), NEW.rows_in, NEW.rows_out, NEW.bytes_in, NEW.bytes_out
    FROM (SELECT 1) LEFT JOIN aiflow_pipeline_versions p ON p.pipeline_id = NEW.pipeline_id AND p.ir_hash = NEW.ir_hash
    WHERE true
    ON CONFLICT (bucket_us, team, project, cost_center) DO UPDATE SET attempts = aiflow_usage_hourly.attempts + excluded.attempts, node_us = aiflow_usage_hourly.node_us + excluded.node_us, rows_in = aiflow_usage_hourly.rows_in + excluded.rows_in, rows_out = aiflow_usage_hourly.rows_out + excluded.rows_out, bytes_in = aiflow_usage_hourly.bytes_in + excluded.bytes_in, bytes_out = aiflow_usage_hourly.bytes_out + excluded.bytes_out;
    INSERT INTO aiflow_usage_daily
    SELECT NEW.started_us - NEW.started_us % 86400000000, COALESCE(p.team, ''), COALESCE(p.project, ''), COALESCE(p.cost_center, ''),
           1, (NEW.ended_us - NEW.started_us), NEW.rows_in, NEW.rows_out, NEW.bytes_in, NEW.bytes_out
    FROM (SELECT 1) LEFT JOIN aiflow_pipeline_versions p ON p.pipeline_id = NEW.pipeline_id AND p.ir_hash = NEW.ir_hash
    WHERE true
    ON CONFLICT (bucket_us, team, project, cost_center) DO UPDATE SET attempts = aiflow_usage_daily.attempts + excluded.attempts, node_us = aiflow_usage_daily.node_us + excluded.node_us, rows_in = aiflow_usage_daily.rows_in + excluded.rows_in, rows_out = aiflow_usage_daily.rows_out + excluded.rows_out, bytes_in = aiflow_usage_daily.bytes_in + excluded.bytes_in, bytes_out = aiflow_usage_daily.bytes_out + excluded.bytes_out;
END;

CREATE TRIGGER aiflow_usage_delete AFTER DELETE ON aiflow_node_attempts WHEN OLD.ended_us IS NOT NULL
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

CREATE TRIGGER aiflow_usage_update AFTER UPDATE ON aiflow_node_attempts WHEN (OLD.ended_us IS NOT NEW.ended_us OR OLD.started_us <> NEW.started_us OR OLD.rows_in <> NEW.rows_in
    OR OLD.rows_out <> NEW.rows_out OR OLD.bytes_in <> NEW.bytes_in OR OLD.bytes_out <> NEW.bytes_out OR OLD.ir_hash <> NEW.ir_hash)
BEGIN
    INSERT INTO aiflow_usage_hourly
    SELECT OLD.started_us - OLD.started_us % 3600000000, COALESCE(p.team, ''), COALESCE(p.project, ''), COALESCE(p.cost_center, ''),
           -1, -(OLD.ended_us - OLD.started_us), -OLD.rows_in, -OLD.rows_out, -OLD.bytes_in, -OLD.bytes_out
    FROM (SELECT 1) LEFT JOIN aiflow_pipeline_versions p ON p.pipeline_id = OLD.pipeline_id AND p.ir_hash = OLD.ir_hash
    WHERE OLD.ended_us IS NOT NULL
    ON CONFLICT (bucket_us, team, project, cost_center) DO UPDATE SET attempts = aiflow_usage_hourly.attempts + excluded.attempts, node_us = aiflow_usage_hourly.node_us + excluded.node_us, rows_in = aiflow_usage_hourly.rows_in + excluded.rows_in, rows_out = aiflow_usage_hourly.rows_out + excluded.rows_out, bytes_in = aiflow_usage_hourly.bytes_in + excluded.bytes_in, bytes_out = aiflow_usage_hourly.bytes_out + excluded.bytes_out;
    INSERT INTO aiflow_usage_daily
    SELECT OLD.started_us - OLD.started_us % 86400000000, COALESCE(p.team, ''), COALESCE(p.project, ''), COALESCE(p.cost_center, ''),
           -1, -(OLD.ended_us - OLD.started_us), -OLD.rows_in, -OLD.rows_out, -OLD.bytes_in, -OLD.bytes_out
    FROM (SELECT 1) LEFT JOIN aiflow_pipeline_versions p ON p.pipeline_id = OLD.pipeline_id AND p.ir_hash = OLD.ir_hash
    WHERE OLD.ended_us IS NOT NULL
    ON CONFLICT (bucket_us, team, project, cost_center) DO UPDATE SET attempts = aiflow_usage_daily.attempts + excluded.attempts, node_us = aiflow_usage_daily.node_us + excluded.node_us, rows_in = aiflow_usage_daily.rows_in + excluded.rows_in, rows_out = aiflow_usage_daily.rows_out + excluded.rows_out, bytes_in = aiflow_usage_daily.bytes_in + excluded.bytes_in, bytes_out = aiflow_usage_daily.bytes_out + excluded.bytes_out;
    INSERT INTO aiflow_usage_hourly
    SELECT NEW.started_us - NEW.started_us % 3600000000, COALESCE(p.team, ''), COALESCE(p.project, ''), COALESCE(p.cost_center, ''),
           1, (NEW.ended_us - NEW.started_us), NEW.rows_in, NEW.rows_out, NEW.bytes_in, NEW.bytes_out
    FROM (SELECT 1) LEFT JOIN aiflow_pipeline_versions p ON p.pipeline_id = NEW.pipeline_id AND p.ir_hash = NEW.ir_hash
    WHERE NEW.ended_us IS NOT NULL
    ON CONFLICT (bucket_us, team, project, cost_center) DO UPDATE SET attempts = aiflow_usage_hourly.attempts + excluded.attempts, node_us = aiflow_usage_hourly.node_us + excluded.node_us, rows_in = aiflow_usage_hourly.rows_in + excluded.rows_in, rows_out = aiflow_usage_hourly.rows_out + excluded.rows_out, bytes_in = aiflow_usage_hourly.bytes_in + excluded.bytes_in, bytes_out = aiflow_usage_hourly.bytes_out + excluded.bytes_out;
    INSERT INTO aiflow_usage_daily
    SELECT NEW.started_us - NEW.started_us % 86400000000, COALESCE(p.team, ''), COALESCE(p.project, ''), COALESCE(p.cost_center, ''),
           1, (NEW.ended_us - NEW.started_us), NEW.rows_in, NEW.rows_out, NEW.bytes_in, NEW.bytes_out
    FROM (SELECT 1) LEFT JOIN aiflow_pipeline_versions p ON p.pipeline_id = NEW.pipeline_id AND p.ir_hash = NEW.ir_hash
    WHERE NEW.ended_us IS NOT NULL
    ON CONFLICT (bucket_us, team, project, cost_center) DO UPDATE SET attempts = aiflow_usage_daily.attempts + excluded.attempts, node_us = aiflow_usage_daily.node_us + excluded.node_us, rows_in = aiflow_usage_daily.rows_in + excluded.rows_in, rows_out = aiflow_usage_daily.rows_out + excluded.rows_out, bytes_in = aiflow_usage_daily.bytes_in + excluded.bytes_in, bytes_out = aiflow_usage_daily.bytes_out + excluded.bytes_out;
END;

-- Attempts recorded before this migration.
INSERT INTO aiflow_usage_hourly
SELECT a.started_us - a.started_us % 3600000000, COALESCE(p.team, ''), COALESCE(p.project, ''), COALESCE(p.cost_center, ''),
       COUNT(*), SUM(a.ended_us - a.started_us), SUM(a.rows_in), SUM(a.rows_out), SUM(a.bytes_in), SUM(a.bytes_out)
FROM aiflow_node_attempts a
LEFT JOIN aiflow_pipeline_versions p ON p.pipeline_id = a.pipeline_id AND p.ir_hash = a.ir_hash
WHERE a.ended_us IS NOT NULL
GROUP BY 1, 2, 3, 4;
INSERT INTO aiflow_usage_daily
SELECT a.started_us - a.started_us % 86400000000, COALESCE(p.team, ''), COALESCE(p.project, ''), COALESCE(p.cost_center, ''),
       COUNT(*), SUM(a.ended_us - a.started_us), SUM(a.rows_in), SUM(a.rows_out), SUM(a.bytes_in), SUM(a.bytes_out)
FROM aiflow_node_attempts a
LEFT JOIN aiflow_pipeline_versions p ON p.pipeline_id = a.pipeline_id AND p.ir_hash = a.ir_hash
WHERE a.ended_us IS NOT NULL
GROUP BY 1, 2, 3, 4;

-- runs list filtered by pipeline or by status, newest first, without sorting all of them.
CREATE INDEX aiflow_runs_pipeline_started ON aiflow_runs (pipeline_id, started_us);
CREATE INDEX aiflow_runs_status_started ON aiflow_runs (status, started_us);
