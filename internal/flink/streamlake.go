package flink

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sort"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/aiflow-dev/aiflow/fault"
	"github.com/aiflow-dev/aiflow/internal/config"
	"github.com/aiflow-dev/aiflow/internal/kafka"
	"github.com/aiflow-dev/aiflow/ir"
	"github.com/aiflow-dev/aiflow/plugin"
)

// The lake sink of a streaming pipeline (sink: onelake in mode: streaming).
//
// Flink 2.2 has no Delta (nor Parquet) connector here, so the job does not write the table.
// It writes the sink's rows exactly-once into the sink's changelog topic (Flink's
// transactional producer: a checkpoint's rows in one transaction), and a scheduled load task
// moves the committed rows into the table as an ordinary batch run: a Kafka source pins the
// topic's range from its consumer group, the onelake sink commits it through its ledger, and
// the group's offsets move only after that commit. A retry of a load, or a rerun of its run
// id, adds nothing; the next load starts where the last committed one ended; an upgrade of
// the job (stop with savepoint, resume) neither loses nor repeats a changelog record. Rows
// reach the table about a checkpoint interval plus the load schedule after they are read.

// ChangelogTopic is the topic a streaming pipeline's lake sink writes its rows to.
func ChangelogTopic(pipeline, sink string) string { return "aiflow.changelog." + pipeline + "." + sink }

// LoadGroup is the consumer group whose committed offsets start a lake sink's next load.
func LoadGroup(pipeline, sink string) string { return "aiflow." + pipeline + "." + sink + ".load" }

// LoadPipelineID is the id of the batch pipeline a lake sink's load runs as: its runs,
// attempts and commits are recorded under it.
func LoadPipelineID(pipeline, sink string) string { return pipeline + "__load_" + sink }

// The load pipeline's own nodes (the sink node keeps its id).
const (
	loadSourceNode = "changelog"
	loadSelectNode = "columns"
)

func init() {
	StreamSinks[onelakeKind] = StreamSinkKind{Check: checkLakeStreamSink, Table: lakeStreamSink, Prepare: createChangelog, Column: changelogField, Load: true}
}

// changelogField is the changelog's JSON field of a sink column: a column named like one of
// the Kafka columns the load's source adds (key, partition, offset, timestamp, headers: a sink
// fed straight by a source has them) gets a prefix, and the load renames it back.
func changelogField(name string) string {
	if kafka.IsMetaColumn(name) {
		return "aiflow_col_" + name
	}
	return name
}

// checkLakeStreamSink refuses a lake sink the load cannot honour: each load appends what the
// job wrote since the last one, so the mode is append (overwrite would replace earlier loads'
// rows). (A table name cannot hold templates: the onelake sink refuses them.)
func checkLakeStreamSink(n *ir.Node, _ plugin.Config) *plugin.FieldError {
	if mode, _ := n.Params["mode"].(string); mode != "append" {
		if mode == "" {
			mode = "overwrite (the default)"
		}
		return &plugin.FieldError{Field: "mode", Msg: fmt.Sprintf("a streaming pipeline's lake sink appends each load of the job's output: set mode: append (not %s)", mode)}
	}
	return nil
}

// lakeStreamSink is the sink table of a lake sink: an exactly-once Kafka table on the sink's
// changelog topic (JSON rows the load decodes with the sink's input's columns).
func lakeStreamSink(p *ir.Pipeline, n *ir.Node, _ plugin.Config, c *config.Config) (map[string]string, string, error) {
	brokers, err := kafka.Brokers(nil, c)
	if err != nil {
		return nil, "", err
	}
	opts := KafkaSinkOptions(ChangelogTopic(p.ID, n.ID), brokers, TransactionalPrefix(p.ID, n.ID))
	opts["json.timestamp-format.standard"] = "ISO-8601"
	opts["json.encode.decimal-as-plain-number"] = "true"
	return opts, "", nil
}

// ChangelogPartitions is how many partitions a changelog topic is created with.
var ChangelogPartitions int32 = 1

// createChangelog creates the sink's changelog topic when it does not exist (a deploy, before
// the job writes it): the load reads it from its start, and a broker that does not create
// topics on first use would fail the job.
func createChangelog(ctx context.Context, p *ir.Pipeline, n *ir.Node, _ plugin.Config, c *config.Config) error {
	brokers, err := kafka.Brokers(nil, c)
	if err != nil {
		return err
	}
	cl, err := kgo.NewClient(kafka.ClientOpts(brokers)...)
	if err != nil {
		return fault.Wrap(fault.Config, err, "kafka client")
	}
	defer cl.Close()
	topic := ChangelogTopic(p.ID, n.ID)
	cctx, cancel := context.WithTimeout(ctx, kafka.AdminTimeout)
	defer cancel()
	r, err := kadm.NewClient(cl).CreateTopic(cctx, ChangelogPartitions, -1, nil, topic)
	if err == nil {
		err = r.Err
	}
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return kafka.Classify(err, "create the changelog topic %s of sink %s", topic, n.ID)
	}
	return nil
}

// LoadPipeline is the batch pipeline that loads lake sink sinkID of streaming pipeline p: a
// kafka source on the sink's changelog topic (its group LoadGroup; the columns are those of
// the sink's input, which the gateway describes from the job's own declarations), an arrow
// transform keeping just those columns, and the sink node itself, unchanged.
func LoadPipeline(ctx context.Context, r *plugin.Registry, p *ir.Pipeline, sinkID string, cfg *config.Config) (*ir.Pipeline, error) {
	if !p.Streaming() {
		return nil, fault.Configf("pipeline %s is not a streaming pipeline: its sinks load in its own runs", p.ID)
	}
	sink := p.Nodes[sinkID]
	if sink == nil || sink.Type != ir.Sink || sink.Kind() != onelakeKind {
		var lakes []string
		for _, id := range p.NodeIDs() {
			if n := p.Nodes[id]; n.Type == ir.Sink && n.Kind() == onelakeKind {
				lakes = append(lakes, id)
			}
		}
		return nil, fault.Configf("pipeline %s has no lake sink %q (its onelake sinks: %s)%s", p.ID, sinkID, strings.Join(lakes, ", "), ir.Suggest(sinkID, lakes))
	}
	if len(sink.InputIDs) != 1 {
		return nil, fault.Configf("sink %s reads %d inputs: a streaming sink reads one", sinkID, len(sink.InputIDs))
	}
	id := LoadPipelineID(p.ID, sinkID)
	if !ir.ValidID(id) {
		return nil, fault.Configf("the load pipeline id %s of sink %s is longer than an Airflow id may be: shorten the pipeline or sink id", id, sinkID)
	}
	job, err := PlanStream(r, p, cfg)
	if err != nil {
		return nil, err
	}
	// A load before the job's first deploy (or with the topic deleted) finds an empty topic
	// rather than failing on a missing one.
	if err := createChangelog(ctx, p, sink, nil, cfg); err != nil {
		return nil, err
	}
	if err := checkChangelogKept(ctx, cfg, ChangelogTopic(p.ID, sinkID), LoadGroup(p.ID, sinkID)); err != nil {
		return nil, fmt.Errorf("sink %s: %w", sinkID, err)
	}
	schema, err := describeStream(ctx, cfg, job, sink.InputIDs[0])
	if err != nil {
		return nil, fmt.Errorf("sink %s: %w", sinkID, err)
	}
	cols := map[string]any{}
	var names []any
	renames := map[string]any{}
	for _, f := range schema.Fields() {
		if !changelogType(f.Type) {
			return nil, fault.Configf("sink %s: column %s of type %s does not travel through the changelog topic's JSON: cast it in the query (DOUBLE, BIGINT, STRING, TIMESTAMP)", sinkID, f.Name, f.Type)
		}
		field := changelogField(f.Name)
		if _, dup := cols[field]; dup {
			return nil, fault.Configf("sink %s: columns %s and %s meet in the changelog topic: rename %s in the query", sinkID, f.Name, field, field)
		}
		cols[field] = f.Type.String()
		names = append(names, field)
		if field != f.Name {
			renames[field] = f.Name
		}
	}
	brokers, err := kafka.Brokers(nil, cfg)
	if err != nil {
		return nil, err
	}
	arrowEngine := "arrow"
	steps := []any{map[string]any{"select": names}}
	if len(renames) > 0 {
		steps = append(steps, map[string]any{"rename": renames})
	}
	out := &ir.Pipeline{APIVersion: p.APIVersion, ID: id, Schedule: p.Schedule, Owner: p.Owner, SLAMinutes: p.SLAMinutes,
		Tags: p.Tags, Extra: maps.Clone(p.Extra), Nodes: map[string]*ir.Node{}}
	delete(out.Extra, ir.ModeKey)
	out.Nodes[loadSourceNode] = &ir.Node{ID: loadSourceNode, Type: ir.Source, Params: map[string]any{
		"kind": kafka.TopicKind.Kind, "topic": ChangelogTopic(p.ID, sinkID), "brokers": toAny(brokers),
		"group_id": LoadGroup(p.ID, sinkID), "starting_offsets": "earliest", "schema": cols,
	}, Resources: map[string]any{}}
	out.Nodes[loadSelectNode] = &ir.Node{ID: loadSelectNode, Type: ir.Transform, Engine: &arrowEngine,
		Params: map[string]any{"steps": steps}, Resources: map[string]any{}, InputIDs: []string{loadSourceNode}}
	s := *sink
	s.InputIDs = []string{loadSelectNode}
	out.Nodes[sinkID] = &s
	out.Edges = [][2]string{{loadSourceNode, loadSelectNode}, {loadSelectNode, sinkID}}
	if sinkID == loadSourceNode || sinkID == loadSelectNode {
		return nil, fault.Configf("sink %s: the load pipeline names its own nodes %s and %s: rename the sink", sinkID, loadSourceNode, loadSelectNode)
	}
	return out, nil
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// changelogType reports whether a column of this type is written by Flink's JSON format in a
// form the load's Kafka decoder reads back as the same type.
func changelogType(dt arrow.DataType) bool {
	switch dt.ID() {
	case arrow.BOOL, arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64, arrow.FLOAT32, arrow.FLOAT64,
		arrow.STRING, arrow.LARGE_STRING, arrow.DATE32, arrow.TIMESTAMP:
		return true
	}
	return false
}

// describeStream returns the columns of view input of a streaming job, as the job declares
// it: the job's statements run in a gateway session (declarations only: no job starts).
func describeStream(ctx context.Context, cfg *config.Config, job StreamJob, input string) (*arrow.Schema, error) {
	if cfg.FlinkGateway == "" {
		return nil, fault.Configf("loading a streaming lake sink needs AIFLOW_FLINK_GATEWAY (the Flink SQL Gateway, http://host:8083) to describe the sink's columns")
	}
	c, err := NewClient(cfg.FlinkGateway, nil)
	if err != nil {
		return nil, err
	}
	props := maps.Clone(job.Settings)
	if props == nil {
		props = map[string]string{}
	}
	props["execution.runtime-mode"] = "streaming"
	dctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	s, err := c.OpenSession(dctx, job.Name+" (describe)", props)
	if err != nil {
		return nil, err
	}
	defer s.release(dctx)
	for _, st := range job.Statements {
		if _, err := s.Execute(dctx, st, nil); err != nil {
			return nil, err
		}
	}
	in, err := ident(input)
	if err != nil {
		return nil, err
	}
	schema, _, err := describe(dctx, s, in)
	return schema, err
}

// checkChangelogKept fails (65) when the changelog topic no longer holds rows the load has not
// moved yet: retention (or a deletion) removed offsets between the load group's committed
// offset (0 before the first load: the job wrote the topic from its start) and the log start.
// A Kafka source would start at the log start and the table would silently miss them.
func checkChangelogKept(ctx context.Context, cfg *config.Config, topic, group string) error {
	brokers, err := kafka.Brokers(nil, cfg)
	if err != nil {
		return err
	}
	cl, err := kgo.NewClient(kafka.ClientOpts(brokers)...)
	if err != nil {
		return fault.Wrap(fault.Config, err, "kafka client")
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	actx, cancel := context.WithTimeout(ctx, kafka.AdminTimeout)
	defer cancel()
	lows, err := adm.ListStartOffsets(actx, topic)
	if err == nil {
		err = lows.Error()
	}
	if err != nil {
		return kafka.Classify(err, "start offsets of %s", topic)
	}
	committed, err := adm.FetchOffsets(actx, group)
	if err != nil && !errors.Is(err, kerr.GroupIDNotFound) {
		return kafka.Classify(err, "committed offsets of group %s", group)
	}
	var gone []string
	lows.Each(func(lo kadm.ListedOffset) {
		at := int64(0)
		if c, ok := committed.Lookup(topic, lo.Partition); ok && c.Err == nil && c.At >= 0 {
			at = c.At
		}
		if lo.Offset > at {
			gone = append(gone, fmt.Sprintf("partition %d offsets [%d, %d)", lo.Partition, at, lo.Offset))
		}
	})
	if len(gone) > 0 {
		sort.Strings(gone)
		return fault.Dataf("the changelog topic %s lost rows no load has moved yet (retention shorter than the pause of the loads): %s; the table misses them. To load on without them, move group %s to the log start (kafka-consumer-groups --group %s --topic %s --reset-offsets --to-earliest --execute)",
			topic, strings.Join(gone, ", "), group, group, topic)
	}
	return nil
}
