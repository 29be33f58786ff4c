package flink

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/aiflow-dev/aiflow/fault"
	"github.com/aiflow-dev/aiflow/internal/config"
	"github.com/aiflow-dev/aiflow/internal/kafka"
	"github.com/aiflow-dev/aiflow/ir"
	"github.com/aiflow-dev/aiflow/plugin"
)

// A streaming pipeline (mode: streaming) is one Flink streaming job: each source a table of
// Flink's Kafka connector reading from the job's consumer group (then its checkpoints), each
// flink transform a temporary view named by its node id, each sink a table written
// exactly-once, and one INSERT per sink (a statement set when there are several).

// DefaultCheckpointInterval is a streaming job's checkpoint interval when no flink node sets
// checkpoint_interval: Kafka sinks commit, and their output becomes visible to read_committed
// consumers, at each checkpoint.
const DefaultCheckpointInterval = 10 * time.Second

// StreamSinkKind is how a sink kind is written by a streaming job: Check refuses, at validate,
// a sink node's params the job cannot honour; Table returns the WITH options of its sink table
// (the columns are the sink's input's) and the column written as the record key ("" for none).
type StreamSinkKind struct {
	Check func(n *ir.Node, cfg plugin.Config) *plugin.FieldError
	Table func(p *ir.Pipeline, n *ir.Node, cfg plugin.Config, c *config.Config) (opts map[string]string, keyColumn string, err error)
	// Prepare, when set, runs at each deploy before the job's tables are declared (the lake
	// sink creates its changelog topic); it must be idempotent.
	Prepare func(ctx context.Context, p *ir.Pipeline, n *ir.Node, cfg plugin.Config, c *config.Config) error
	// Column, when set, names the sink table's column for each column of the sink's input
	// (the lake sink keeps its changelog's fields clear of the load's Kafka columns).
	Column func(name string) string
	// Load, when set, says the job writes the sink's rows to an intermediate place and a
	// scheduled task (`aiflow-runner stream-load --sink ID`) moves them to the destination:
	// the compiled DAG gets a load_<sink id> task per such sink.
	Load bool
}

// StreamSinks are the sink kinds a streaming pipeline writes, by kind.
var StreamSinks = map[string]StreamSinkKind{
	kafka.SinkKind.Kind: {Check: checkKafkaStreamSink, Table: kafkaStreamSink},
}

// streamSourceKinds are the source kinds a streaming pipeline reads.
var streamSourceKinds = []string{kafka.StreamKind.Kind, kafka.TopicKind.Kind}

// checkStreaming is the check of mode: streaming (plugin.RegisterMode): what PlanStream would
// refuse, found at validate with the node and field it is about.
func checkStreaming(r *plugin.Registry, p *ir.Pipeline) []plugin.ModeProblem {
	var out []plugin.ModeProblem
	add := func(node, field, format string, args ...any) {
		out = append(out, plugin.ModeProblem{Node: node, FieldError: plugin.FieldError{Field: field, Msg: fmt.Sprintf(format, args...)}})
	}
	sinks := slices.Sorted(maps.Keys(StreamSinks))
	var job *jobSettings
	var jobNode string
	nsinks := 0
	for _, id := range p.NodeIDs() {
		n := p.Nodes[id]
		if n == nil {
			continue
		}
		if n.Type != ir.Transform && n.Engine != nil && *n.Engine != Name {
			add(id, "", "a streaming pipeline runs every node in its Flink job: drop engine: %s", *n.Engine)
			continue
		}
		switch n.Type {
		case ir.Source:
			if !slices.Contains(streamSourceKinds, n.Kind()) {
				add(id, "", "a streaming pipeline reads %s sources, not %s (read it in a batch pipeline)", strings.Join(streamSourceKinds, " or "), quoteKind(n.Kind()))
				continue
			}
			if d, err := r.DecodeNode(n); err == nil {
				for _, fe := range checkStreamSource(d.Params.(*kafka.SourceConfig)) {
					out = append(out, plugin.ModeProblem{Node: id, FieldError: fe})
				}
			}
		case ir.Transform:
			if n.EngineName() != Name {
				add(id, "", "a streaming pipeline runs its transforms on flink, not %s (use transform: flink, or a batch pipeline)", quoteKind(n.EngineName()))
				continue
			}
			d, err := r.DecodeNode(n)
			if err != nil {
				continue
			}
			js, err := settingsOf(d.Params.(*Config))
			if err != nil {
				add(id, "checkpoint_interval", "%v", err)
				continue
			}
			if job == nil {
				job, jobNode = js, id
			} else if !job.equal(js) {
				add(id, "", "the flink nodes of a streaming pipeline are one job: parallelism, checkpoint_interval and settings must be the same on each (%s has others)", jobNode)
			}
		case ir.Sink:
			nsinks++
			sk, ok := StreamSinks[n.Kind()]
			if !ok {
				add(id, "", "a streaming pipeline writes %s sinks, not %s (write it from a batch pipeline)", strings.Join(sinks, " or "), quoteKind(n.Kind()))
				continue
			}
			if d, err := r.DecodeNode(n); err == nil && sk.Check != nil {
				if fe := sk.Check(n, d.Params); fe != nil {
					out = append(out, plugin.ModeProblem{Node: id, FieldError: *fe})
				}
			}
		}
	}
	if nsinks == 0 && len(p.Nodes) > 0 {
		add("", "", "a streaming pipeline needs at least one sink (%s)", strings.Join(sinks, ", "))
	}
	return out
}

func quoteKind(k string) string {
	if k == "" {
		return "none"
	}
	return k
}

// checkStreamSource refuses what an unbounded Kafka source table cannot do.
func checkStreamSource(c *kafka.SourceConfig) []plugin.FieldError {
	var out []plugin.FieldError
	add := func(field, msg string) { out = append(out, plugin.FieldError{Field: field, Msg: msg}) }
	if c.ValueFormat == "json" && len(c.Schema) == 0 {
		add("schema", "a streaming source declares its value schema (there are no records to infer it from before the job starts)")
	}
	if c.OnError == "dead_letter" {
		add("on_error", "a streaming job cannot set undecodable records aside (use on_error: fail: the job fails and the health task says so)")
	}
	if strings.HasPrefix(c.StartingOffsets, "timestamp:") {
		add("starting_offsets", "a streaming source starts at earliest or latest (without committed offsets), not at a timestamp")
	}
	if c.MaxRecords != 0 {
		add("max_records", "a streaming source is unbounded: drop max_records")
	}
	for _, name := range slices.Sorted(maps.Keys(c.Schema)) {
		if kafka.IsMetaColumn(name) || kafkaColumn(name) {
			add("schema", fmt.Sprintf("column %s: the source's rows already have a column of this name (the Kafka columns key, partition, offset, timestamp and headers; the job's own %s): rename the field in the producer", name, strings.Join(kafkaColumns, ", ")))
			continue
		}
		dt, err := kafka.ValueType(c.Schema[name])
		if err == nil {
			_, err = SQLType(dt)
		}
		if err != nil {
			add("schema", fmt.Sprintf("column %s: %v", name, err))
		}
	}
	return out
}

// streamCompressions are the Kafka compressions Flink's Kafka connector writes as installed:
// its jar carries no zstd (nor snappy, lz4) native library, and a producer asked for one fails.
var streamCompressions = []string{"none", "gzip"}

func checkKafkaStreamSink(n *ir.Node, cfg plugin.Config) *plugin.FieldError {
	c := cfg.(*kafka.SinkConfig)
	if c.Topic == "" || plugin.Untemplated(c.Topic) != c.Topic {
		return &plugin.FieldError{Field: "topic", Msg: "a streaming sink writes one topic for the job's life: no templates"}
	}
	if _, set := n.Params["compression"]; set && !slices.Contains(streamCompressions, c.Compression) {
		return &plugin.FieldError{Field: "compression", Msg: fmt.Sprintf("a streaming job writes %s (Flink's Kafka connector has no %s codec), not %s", strings.Join(streamCompressions, " or "), c.Compression, c.Compression)}
	}
	return nil
}

// kafkaStreamSink is an exactly-once Kafka sink table: the transactional-id prefix is the
// pipeline's and node's, the same across upgrades of the job (its restart aborts what the
// previous one left open) and different from every other job's.
func kafkaStreamSink(p *ir.Pipeline, n *ir.Node, cfg plugin.Config, c *config.Config) (map[string]string, string, error) {
	sc := cfg.(*kafka.SinkConfig)
	brokers, err := kafka.Brokers(sc.Brokers, c)
	if err != nil {
		return nil, "", err
	}
	opts := KafkaSinkOptions(sc.Topic, brokers, TransactionalPrefix(p.ID, n.ID))
	opts["json.timestamp-format.standard"] = "ISO-8601"
	opts["json.encode.decimal-as-plain-number"] = "true"
	// The batch sink's default (zstd) is left out: the connector has no zstd codec.
	if _, set := n.Params["compression"]; set && slices.Contains(streamCompressions, sc.Compression) {
		opts["properties.compression.type"] = sc.Compression
	}
	return opts, sc.KeyColumn, nil
}

// TransactionalPrefix is the transactional-id prefix of a streaming job's Kafka sink.
func TransactionalPrefix(pipeline, sink string) string { return "aiflow-" + pipeline + "-" + sink }

// RetentionKey is the Flink setting that decides whether a job's checkpoints outlive it.
const RetentionKey = "execution.checkpointing.externalized-checkpoint-retention"

// JobName is the Flink job name (pipeline.name) of a streaming pipeline.
func JobName(pipeline string) string { return "aiflow-stream " + pipeline }

// jobSettings are the job-wide settings the flink nodes of a streaming pipeline carry.
type jobSettings struct {
	parallelism int
	interval    time.Duration
	settings    map[string]string
}

func (a *jobSettings) equal(b *jobSettings) bool {
	return a.parallelism == b.parallelism && a.interval == b.interval && maps.Equal(a.settings, b.settings)
}

func settingsOf(c *Config) (*jobSettings, error) {
	js := &jobSettings{parallelism: c.Parallelism, interval: DefaultCheckpointInterval, settings: c.Settings}
	if c.CheckpointInterval != "" {
		d, err := time.ParseDuration(c.CheckpointInterval)
		if err != nil || d < 100*time.Millisecond {
			return nil, fmt.Errorf("%q is not a duration of at least 100ms (10s, 1m)", c.CheckpointInterval)
		}
		js.interval = d
	}
	return js, nil
}

// PlanStream turns a streaming pipeline into its Flink job. r decodes the nodes (the pipeline
// validated against it); cfg gives the default Kafka brokers.
func PlanStream(r *plugin.Registry, p *ir.Pipeline, cfg *config.Config) (StreamJob, error) {
	if !p.Streaming() {
		return StreamJob{}, fault.Configf("pipeline %s is not a streaming pipeline (mode: %s)", p.ID, p.Mode())
	}
	if ps := checkStreaming(r, p); len(ps) > 0 {
		msgs := make([]string, len(ps))
		for i, mp := range ps {
			msgs[i] = mp.Node + ": " + mp.Error()
		}
		return StreamJob{}, fault.Configf("pipeline %s cannot stream: %s", p.ID, strings.Join(msgs, "; "))
	}
	order, err := p.TopoOrder()
	if err != nil {
		return StreamJob{}, fault.Wrap(fault.Config, err, "pipeline %s", p.ID)
	}
	job := StreamJob{Name: JobName(p.ID), Settings: map[string]string{}}
	js := &jobSettings{interval: DefaultCheckpointInterval}
	for _, id := range order {
		n := p.Nodes[id]
		d, err := r.DecodeNode(n)
		if err != nil {
			return StreamJob{}, err
		}
		name, err := ident(id)
		if err != nil {
			return StreamJob{}, err
		}
		switch n.Type {
		case ir.Source:
			sts, err := streamSource(p, n, d.Params.(*kafka.SourceConfig), cfg, name)
			if err != nil {
				return StreamJob{}, fmt.Errorf("source %s: %w", id, err)
			}
			job.Statements = append(job.Statements, sts...)
		case ir.Transform:
			c := d.Params.(*Config)
			if js, err = settingsOf(c); err != nil {
				return StreamJob{}, fault.Configf("%s: checkpoint_interval: %v", id, err)
			}
			job.Statements = append(job.Statements, "CREATE TEMPORARY VIEW "+name+" AS "+c.SQL)
		case ir.Sink:
			opts, key, err := StreamSinks[n.Kind()].Table(p, n, d.Params, cfg)
			if err != nil {
				return StreamJob{}, fmt.Errorf("sink %s: %w", id, err)
			}
			if len(n.InputIDs) != 1 {
				return StreamJob{}, fault.Configf("sink %s reads %d inputs: a streaming sink reads one", id, len(n.InputIDs))
			}
			sink := StreamSink{Table: "aiflow_sink_" + id, Input: n.InputIDs[0], Options: opts, KeyColumn: key}
			if prep := StreamSinks[n.Kind()].Prepare; prep != nil {
				params := d.Params
				sink.Prepare = func(ctx context.Context) error { return prep(ctx, p, n, params, cfg) }
			}
			sink.Column = StreamSinks[n.Kind()].Column
			job.Sinks = append(job.Sinks, sink)
		}
	}
	for k, v := range js.settings {
		job.Settings[k] = v
	}
	job.Settings["execution.checkpointing.interval"] = fmt.Sprintf("%dms", js.interval.Milliseconds())
	// A job that fails for good keeps its checkpoints (a stop or cancel deletes them): the next
	// deploy resumes from the latest with nothing lost or written twice (Lifecycle.resumePoint).
	if _, ok := job.Settings[RetentionKey]; !ok {
		job.Settings[RetentionKey] = "DELETE_ON_CANCELLATION"
	}
	if js.parallelism > 0 {
		job.Settings["parallelism.default"] = fmt.Sprint(js.parallelism)
	}
	return job, nil
}

// streamSource declares an unbounded, read_committed Kafka source table named by the node id,
// with the columns a batch read gives (key, partition, offset, timestamp, then the value's).
func streamSource(p *ir.Pipeline, n *ir.Node, sc *kafka.SourceConfig, cfg *config.Config, name string) ([]string, error) {
	brokers, err := kafka.Brokers(sc.Brokers, cfg)
	if err != nil {
		return nil, err
	}
	group := sc.GroupID
	if group == "" {
		group = kafka.DefaultGroup(p.ID, n.ID)
	}
	opts := KafkaSourceOptions(sc.Topic, brokers, group)
	delete(opts, "format")
	delete(opts, "json.timestamp-format.standard")
	opts["properties.auto.offset.reset"] = sc.StartingOffsets
	opts["key.format"] = "raw"
	opts["key.fields"] = "aiflow_key"
	opts["value.fields-include"] = "EXCEPT_KEY"
	// The same columns as a batch read of the topic (key, partition, offset, timestamp, headers:
	// a JSON object of the record's headers as a string, NULL without headers), named aiflow_*
	// in the table so none can clash with a value field; the view gives them the batch names.
	cols, sel := kafkaTableColumns()
	if sc.ValueFormat == "raw" {
		opts["value.format"] = "raw"
		cols = append(cols, "`value` BYTES")
		sel = append(sel, "`value`")
	} else {
		opts["value.format"] = "json"
		opts["value.json.ignore-parse-errors"] = "false"
		opts["value.json.fail-on-missing-field"] = "false"
		opts["value.json.timestamp-format.standard"] = "ISO-8601"
		names := slices.Sorted(maps.Keys(sc.Schema))
		for _, col := range names {
			dt, err := kafka.ValueType(sc.Schema[col])
			if err != nil {
				return nil, fault.Wrap(fault.Config, err, "schema column %s", col)
			}
			ft, err := SQLType(dt)
			if err != nil {
				return nil, fault.Wrap(fault.Config, err, "schema column %s", col)
			}
			q, err := ident(col)
			if err != nil {
				return nil, err
			}
			cols = append(cols, q+" "+ft)
			sel = append(sel, q)
		}
	}
	table, err := ident("aiflow_in_" + n.ID)
	if err != nil {
		return nil, err
	}
	return []string{
		"CREATE TEMPORARY TABLE " + table + " (" + strings.Join(cols, ", ") + ") WITH (" + options(opts) + ")",
		"CREATE TEMPORARY VIEW " + name + " AS SELECT " + strings.Join(sel, ", ") + " FROM " + table,
	}, nil
}

// Task ids of a streaming pipeline's DAG.
const (
	DeployTask = "stream_deploy"
	HealthTask = "stream_health"
)

// LoadTask is the task id of the load of a sink whose kind sets StreamSinkKind.Load.
func LoadTask(sink string) string { return "load_" + sink }

// streamTasks is a streaming pipeline's DAG (plugin.Mode.Tasks): the deploy task (all the
// nodes but the loaded sinks: the job it deploys reads the sources and writes the sinks), the
// health task after it, and a load task per loaded sink after the deploy. Each DAG run
// redeploys only when the IR changed, then checks the job; the loads run on the same schedule.
func streamTasks(p *ir.Pipeline) []plugin.ModeTask {
	var deployNodes, loads []string
	for _, id := range p.NodeIDs() {
		n := p.Nodes[id]
		if n != nil && n.Type == ir.Sink && StreamSinks[n.Kind()].Load {
			loads = append(loads, id)
			continue
		}
		deployNodes = append(deployNodes, id)
	}
	tasks := []plugin.ModeTask{
		{ID: DeployTask, Command: []string{"stream", "deploy"}, Nodes: deployNodes},
		{ID: HealthTask, Command: []string{"stream", "health"}, Upstream: []string{DeployTask}},
	}
	for _, id := range loads {
		tasks = append(tasks, plugin.ModeTask{ID: LoadTask(id), Command: []string{"stream-load", "--sink", id}, RunArgs: true,
			Nodes: []string{id}, Upstream: []string{DeployTask}})
	}
	return tasks
}
