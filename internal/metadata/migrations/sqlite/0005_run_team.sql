-- Each run carries its pipeline version's team, so that a team's newest runs are the first entries
-- of one index on (team, started) instead of a join of every run with its version. The team is
-- copied when the run is recorded (node pods record the version first); a run recorded before its
-- version (started by hand) gets it when the version is recorded; runs recorded before this
-- migration are filled here. A version's team never changes (it is part of the hashed IR).

ALTER TABLE aiflow_runs ADD COLUMN team TEXT NOT NULL DEFAULT '';

UPDATE aiflow_runs SET team = COALESCE((SELECT p.team FROM aiflow_pipeline_versions p
    WHERE p.pipeline_id = aiflow_runs.pipeline_id AND p.ir_hash = aiflow_runs.ir_hash), '');

CREATE INDEX aiflow_runs_team_started ON aiflow_runs (team, started_us DESC);

-- Fires on a version's first recording only (an upsert of a known version is an update).
CREATE TRIGGER aiflow_runs_team_fill AFTER INSERT ON aiflow_pipeline_versions WHEN NEW.team <> ''
BEGIN
    UPDATE aiflow_runs SET team = NEW.team
    WHERE pipeline_id = NEW.pipeline_id AND ir_hash = NEW.ir_hash AND team = '';
END;
