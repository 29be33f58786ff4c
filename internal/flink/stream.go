package flink

import (
	"context"
	"fmt"
	"strings"

	"github.com/aiflow-dev/aiflow/fault"
)

// StreamJob is a streaming job: the session settings, the statements that declare its tables
// and views, and the INSERT that runs it.
type StreamJob struct {
	// Name is the job's pipeline.name: how SHOW JOBS and the JobManager's UI name it.
	Name string
	// Settings are session settings (execution.checkpointing.interval, ...).
	Settings   map[string]string
	Statements []string
	// Insert runs the job; when empty, the job writes Sinks instead.
	Insert string
	// Sinks are tables declared once the statements ran (their columns are their input's, as
	// DESCRIBE gives them), each written by one INSERT; several run as one statement set.
	Sinks []StreamSink
}

// StreamSink is one sink table of a streaming job.
type StreamSink struct {
	Table string
	// Input is the table or view written to it.
	Input   string
	Options map[string]string
	// KeyColumn, when set, is also written as the record key (Kafka), as a string.
	KeyColumn string
	// Prepare, when set, runs before the job is declared (StreamSinkKind.Prepare).
	Prepare func(ctx context.Context) error
	// Column, when set, names the sink table's column for an input column (the INSERT is
	// positional): StreamSinkKind.Column.
	Column func(name string) string
}

// sinkInsert declares the sink's table with its input's columns and returns its INSERT.
func sinkInsert(ctx context.Context, s *Session, k StreamSink) (string, error) {
	in, err := ident(k.Input)
	if err != nil {
		return "", err
	}
	schema, cols, err := describe(ctx, s, in)
	if err != nil {
		return "", fmt.Errorf("sink of %s: %w", k.Input, err)
	}
	if k.Column != nil {
		for i, f := range schema.Fields() {
			q, err := ident(f.Name)
			if err != nil {
				return "", err
			}
			to, err := ident(k.Column(f.Name))
			if err != nil {
				return "", err
			}
			cols[i] = to + strings.TrimPrefix(cols[i], q)
		}
	}
	table, err := ident(k.Table)
	if err != nil {
		return "", err
	}
	opts := map[string]string{}
	for key, v := range k.Options {
		opts[key] = v
	}
	sel := "*"
	if k.KeyColumn != "" {
		kc, err := ident(k.KeyColumn)
		if err != nil {
			return "", err
		}
		cols = append(cols, "`aiflow_key` STRING")
		opts["key.format"] = "raw"
		opts["key.fields"] = "aiflow_key"
		opts["value.fields-include"] = "EXCEPT_KEY"
		if f, ok := opts["format"]; ok {
			delete(opts, "format")
			opts["value.format"] = f
			for key, v := range k.Options {
				if strings.HasPrefix(key, f+".") {
					delete(opts, key)
					opts["value."+key] = v
				}
			}
		}
		sel = "*, CAST(" + kc + " AS STRING)"
	}
	if _, err := s.Execute(ctx, "CREATE TEMPORARY TABLE "+table+" ("+strings.Join(cols, ", ")+") WITH ("+options(opts)+")", nil); err != nil {
		return "", err
	}
	return "INSERT INTO " + table + " SELECT " + sel + " FROM " + in, nil
}

// JobInfo is one job as SHOW JOBS lists it.
type JobInfo struct {
	ID, Name, Status, StartTime string
}

// Deploy starts job in streaming mode, restoring its state from savepoint when one is given
// (an upgrade, or a redeploy after a stop), and returns the job id. The INSERT returns as soon as
// the job is submitted (table.dml-sync off).
func (c *Client) Deploy(ctx context.Context, job StreamJob, savepoint string) (string, error) {
	for _, k := range job.Sinks {
		if k.Prepare != nil {
			if err := k.Prepare(ctx); err != nil {
				return "", fmt.Errorf("sink table %s: %w", k.Table, err)
			}
		}
	}
	props := map[string]string{}
	for k, v := range job.Settings {
		props[k] = v
	}
	props["execution.runtime-mode"] = "streaming"
	props["table.dml-sync"] = "false"
	props["pipeline.name"] = job.Name
	if savepoint != "" {
		props["execution.savepoint.path"] = savepoint
		// A changed query may drop an operator (a filter folded away): its state is left
		// behind rather than failing the restore; the sources' offsets are kept.
		props["execution.savepoint.ignore-unclaimed-state"] = "true"
	}
	s, err := c.OpenSession(ctx, job.Name, props)
	if err != nil {
		return "", err
	}
	defer s.release(ctx)
	for _, st := range job.Statements {
		if _, err := s.Execute(ctx, st, nil); err != nil {
			return "", err
		}
	}
	insert := job.Insert
	if insert == "" {
		var ins []string
		for _, k := range job.Sinks {
			st, err := sinkInsert(ctx, s, k)
			if err != nil {
				return "", err
			}
			ins = append(ins, st)
		}
		switch len(ins) {
		case 0:
			return "", fault.Configf("streaming job %s writes nothing", job.Name)
		case 1:
			insert = ins[0]
		default:
			insert = "EXECUTE STATEMENT SET BEGIN " + strings.Join(ins, "; ") + "; END"
		}
	}
	res, err := s.Execute(ctx, insert, nil)
	if err != nil {
		return "", err
	}
	if res.JobID == "" {
		return "", fault.New(fault.Temporary, "flink gateway %s started no job for %s", c.base, job.Name)
	}
	return res.JobID, nil
}

// StopWithSavepoint stops a running job after taking a savepoint (STOP JOB ... WITH SAVEPOINT)
// and returns the savepoint's path: the state the next Deploy resumes from.
func (c *Client) StopWithSavepoint(ctx context.Context, jobID string) (string, error) {
	s, err := c.OpenSession(ctx, "aiflow-stop", nil)
	if err != nil {
		return "", err
	}
	defer s.release(ctx)
	res, err := s.Execute(ctx, "STOP JOB "+literal(jobID)+" WITH SAVEPOINT", nil)
	if err != nil {
		return "", err
	}
	if len(res.Rows) == 0 || len(res.Rows[0].Fields) == 0 {
		return "", fault.New(fault.Temporary, "stop job %s: the gateway returned no savepoint", jobID)
	}
	return unquote(string(res.Rows[0].Fields[0])), nil
}

// Jobs lists the cluster's jobs (SHOW JOBS).
func (c *Client) Jobs(ctx context.Context) ([]JobInfo, error) {
	s, err := c.OpenSession(ctx, "aiflow-jobs", nil)
	if err != nil {
		return nil, err
	}
	defer s.release(ctx)
	res, err := s.Execute(ctx, "SHOW JOBS", nil)
	if err != nil {
		return nil, err
	}
	var out []JobInfo
	for _, r := range res.Rows {
		if len(r.Fields) < 3 {
			continue
		}
		j := JobInfo{ID: unquote(string(r.Fields[0])), Name: unquote(string(r.Fields[1])), Status: unquote(string(r.Fields[2]))}
		if len(r.Fields) > 3 {
			j.StartTime = unquote(string(r.Fields[3]))
		}
		out = append(out, j)
	}
	return out, nil
}

// Job returns the job with the given id.
func (c *Client) Job(ctx context.Context, jobID string) (JobInfo, error) {
	jobs, err := c.Jobs(ctx)
	if err != nil {
		return JobInfo{}, err
	}
	for _, j := range jobs {
		if j.ID == jobID {
			return j, nil
		}
	}
	return JobInfo{}, fault.Configf("flink job %s is not known to the cluster", jobID)
}

// Healthy is nil when the job is RUNNING, else an error naming its state (fault.Data for a job
// that ended: FAILED, CANCELED, FINISHED; fault.Temporary while it restarts or is created).
func (c *Client) Healthy(ctx context.Context, jobID string) error {
	j, err := c.Job(ctx, jobID)
	if err != nil {
		return err
	}
	switch strings.ToUpper(j.Status) {
	case "RUNNING":
		return nil
	case "FAILED", "CANCELED", "FINISHED", "SUSPENDED":
		return fault.Dataf("flink job %s (%s) is %s", j.ID, j.Name, j.Status)
	}
	return fault.New(fault.Temporary, "flink job %s (%s) is %s", j.ID, j.Name, j.Status)
}

// KafkaSinkOptions are the WITH options of an exactly-once Kafka sink table: Flink's
// transactional producer commits each checkpoint's records in one transaction, so a
// read_committed consumer sees every record once across restarts and upgrades. The prefix
// must stay the same across upgrades of one job (a restarted job aborts the transactions its
// predecessor left open under it) and differ between jobs.
func KafkaSinkOptions(topic string, brokers []string, prefix string) map[string]string {
	return map[string]string{
		"connector":                    "kafka",
		"topic":                        topic,
		"properties.bootstrap.servers": strings.Join(brokers, ","),
		"format":                       "json",
		"sink.delivery-guarantee":      "exactly-once",
		"sink.transactional-id-prefix": prefix,
		// Below the brokers' transaction.max.timeout.ms (15 min by default); Flink's default
		// (1 h) is refused by a default broker.
		"properties.transaction.timeout.ms": "600000",
	}
}

// KafkaSourceOptions are the WITH options of an unbounded Kafka source table reading topic
// read_committed from the group's offsets (earliest without any); after a restore the offsets
// come from the job's checkpoint or savepoint, not the group.
func KafkaSourceOptions(topic string, brokers []string, group string) map[string]string {
	return map[string]string{
		"connector":                      "kafka",
		"topic":                          topic,
		"properties.bootstrap.servers":   strings.Join(brokers, ","),
		"properties.group.id":            group,
		"properties.isolation.level":     "read_committed",
		"properties.auto.offset.reset":   "earliest",
		"scan.startup.mode":              "group-offsets",
		"format":                         "json",
		"json.timestamp-format.standard": "ISO-8601",
	}
}

// CreateTable renders CREATE TEMPORARY TABLE name (columns) WITH (options).
func CreateTable(name string, columns []string, opts map[string]string) (string, error) {
	q, err := ident(name)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("CREATE TEMPORARY TABLE %s (%s) WITH (%s)", q, strings.Join(columns, ", "), options(opts)), nil
}
