-- Retention (`aiflow-runner runs prune`): old runs are deleted with their attempts, pins,
-- commits, lineage and check results, in batches, and the usage rollups keep what the pruned
-- attempts counted: usage over the pruned days and the fleet counters of `metrics serve` (the
-- rollups' totals) do not go down. The prune transaction puts a row in aiflow_retention, which
-- only it sees, and the usage trigger leaves the rollups alone for the attempts it deletes; every
-- other deletion (an operator's own DELETE) is still subtracted, as before.

CREATE TABLE aiflow_retention (pruning INTEGER NOT NULL);

CREATE OR REPLACE FUNCTION aiflow_usage_track() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND EXISTS (SELECT 1 FROM aiflow_retention) THEN
        RETURN NULL; -- retention: the rollups keep what the pruned attempts counted
    END IF;
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
