-- Each run carries its pipeline version's team, so that a team's newest runs are the first entries
-- of one index on (team, started) instead of the newest runs of each of the team's pipeline
-- versions fetched and merged (which grows with the runs each pipeline has). The team is copied
-- when the run is recorded (node pods record the version first); a run recorded before its
-- version (started by hand) gets it when the version is recorded; runs recorded before this
-- migration are filled here. A version's team never changes (it is part of the hashed IR).

ALTER TABLE aiflow_runs ADD COLUMN team TEXT NOT NULL DEFAULT '';

UPDATE aiflow_runs r SET team = p.team
FROM aiflow_pipeline_versions p
WHERE p.pipeline_id = r.pipeline_id AND p.ir_hash = r.ir_hash AND p.team <> '';

CREATE INDEX aiflow_runs_team_started ON aiflow_runs (team, started_us DESC);

CREATE FUNCTION aiflow_runs_team_fill() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.team <> '' THEN
        UPDATE aiflow_runs SET team = NEW.team
        WHERE pipeline_id = NEW.pipeline_id AND ir_hash = NEW.ir_hash AND team = '';
    END IF;
    RETURN NULL;
END $$;

-- Fires on a version's first recording only (an upsert of a known version is an update).
CREATE TRIGGER aiflow_runs_team_fill AFTER INSERT ON aiflow_pipeline_versions
FOR EACH ROW EXECUTE FUNCTION aiflow_runs_team_fill();
