-- Usage rollups: node-seconds, rows and bytes of ended attempts per tenancy (team, project,
-- cost_center) per hour and per UTC day of the attempt's start, kept by triggers on
-- aiflow_node_attempts, so that `usage` over 30 days reads a few thousand rollup rows instead of
-- summing every attempt (30M of them at a million attempts a day: seconds, not milliseconds).
-- Every change of an attempt row is applied as "minus the old row, plus the new one", so an
-- attempt ended twice, restarted in place, marked interrupted or deleted by retention is counted
-- once, as it is now. The tenancy is the one of the attempt's pipeline version when the row
-- changes (recorded before any attempt of that version starts).

CREATE TABLE aiflow_usage_hourly (
    bucket_us   BIGINT NOT NULL,
    team        TEXT   NOT NULL,
    project     TEXT   NOT NULL,
    cost_center TEXT   NOT NULL,
    attempts    BIGINT NOT NULL,
    node_us     BIGINT NOT NULL,
    rows_in     BIGINT NOT NULL,
    rows_out    BIGINT NOT NULL,
    bytes_in    BIGINT NOT NULL,
    bytes_out   BIGINT NOT NULL,
    PRIMARY KEY (bucket_us, team, project, cost_center)
);

CREATE TABLE aiflow_usage_daily (
    bucket_us   BIGINT NOT NULL,
    team        TEXT   NOT NULL,
    project     TEXT   NOT NULL,
    cost_center TEXT   NOT NULL,
    attempts    BIGINT NOT NULL,
    node_us     BIGINT NOT NULL,
    rows_in     BIGINT NOT NULL,
    rows_out    BIGINT NOT NULL,
    bytes_in    BIGINT NOT NULL,
    bytes_out   BIGINT NOT NULL,
    PRIMARY KEY (bucket_us, team, project, cost_center)
);

CREATE FUNCTION aiflow_usage_add(a aiflow_node_attempts, sign BIGINT) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    t  TEXT;
    pr TEXT;
    cc TEXT;
BEGIN
    SELECT p.team, p.project, p.cost_center INTO t, pr, cc
    FROM aiflow_pipeline_versions p WHERE p.pipeline_id = a.pipeline_id AND p.ir_hash = a.ir_hash;
    t := COALESCE(t, ''); pr := COALESCE(pr, ''); cc := COALESCE(cc, '');
    INSERT INTO aiflow_usage_hourly VALUES (a.started_us - a.started_us % 3600000000, t, pr, cc, sign,
        sign * (a.ended_us - a.started_us), sign * a.rows_in, sign * a.rows_out, sign * a.bytes_in, sign * a.bytes_out)
    ON CONFLICT (bucket_us, team, project, cost_center) DO UPDATE SET attempts = aiflow_usage_hourly.attempts + excluded.attempts, node_us = aiflow_usage_hourly.node_us + excluded.node_us, rows_in = aiflow_usage_hourly.rows_in + excluded.rows_in, rows_out = aiflow_usage_hourly.rows_out + excluded.rows_out, bytes_in = aiflow_usage_hourly.bytes_in + excluded.bytes_in, bytes_out = aiflow_usage_hourly.bytes_out + excluded.bytes_out;
    INSERT INTO aiflow_usage_daily VALUES (a.started_us - a.started_us % 86400000000, t, pr, cc, sign,
        sign * (a.ended_us - a.started_us), sign * a.rows_in, sign * a.rows_out, sign * a.bytes_in, sign * a.bytes_out)
    ON CONFLICT (bucket_us, team, project, cost_center) DO UPDATE SET attempts = aiflow_usage_daily.attempts + excluded.attempts, node_us = aiflow_usage_daily.node_us + excluded.node_us, rows_in = aiflow_usage_daily.rows_in + excluded.rows_in, rows_out = aiflow_usage_daily.rows_out + excluded.rows_out, bytes_in = aiflow_usage_daily.bytes_in + excluded.bytes_in, bytes_out = aiflow_usage_daily.bytes_out + excluded.bytes_out;
END $$;

CREATE FUNCTION aiflow_usage_track() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.ended_us IS NOT DISTINCT FROM NEW.ended_us AND OLD.started_us = NEW.started_us
       AND OLD.rows_in = NEW.rows_in AND OLD.rows_out = NEW.rows_out AND OLD.bytes_in = NEW.bytes_in
       AND OLD.bytes_out = NEW.bytes_out AND OLD.ir_hash = NEW.ir_hash THEN
        RETURN NULL; -- nothing usage counts changed (a status or message update)
    END IF;
    IF TG_OP <> 'INSERT' AND OLD.ended_us IS NOT NULL THEN
        PERFORM aiflow_usage_add(OLD, -1);
    END IF;
    IF TG_OP <> 'DELETE' AND NEW.ended_us IS NOT NULL THEN
        PERFORM aiflow_usage_add(NEW, 1);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER aiflow_usage_track AFTER INSERT OR UPDATE OR DELETE ON aiflow_node_attempts
FOR EACH ROW EXECUTE FUNCTION aiflow_usage_track();

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
