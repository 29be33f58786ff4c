package flink

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/aiflow-dev/aiflow/fault"
	"github.com/aiflow-dev/aiflow/internal/dataset"
	"github.com/aiflow-dev/aiflow/internal/kafka"
	"github.com/aiflow-dev/aiflow/internal/manifest"
	"github.com/aiflow-dev/aiflow/internal/readers"
	"github.com/aiflow-dev/aiflow/internal/sqltext"
	"github.com/aiflow-dev/aiflow/ir"
	"github.com/aiflow-dev/aiflow/plugin"
)

// Register adds the flink engine to r.
func Register(r *plugin.Registry) {
	plugin.RegisterEngine(r, Kind, Engine{})
	r.RegisterMode(ir.ModeStreaming, plugin.Mode{Check: checkStreaming, Tasks: streamTasks})
}

var _ plugin.Engine[*Config, *plugin.PodResources] = Engine{}

// Engine is the flink transform runtime.
type Engine struct{}

// Names of the engine's own objects in a node's session (a node id never starts with
// "aiflow_": the temporary tables of the inputs are named by their node ids).
const (
	resultView  = "aiflow_result"
	outputTable = "aiflow_output"
)

// Transform runs the node's SQL on the Flink cluster in batch mode and stages its result.
func (Engine) Transform(ctx context.Context, env *plugin.Env, cfg *Config, _ *plugin.PodResources) (*plugin.Output, error) {
	if env.Config.FlinkGateway == "" {
		return nil, fault.Configf("the flink engine needs AIFLOW_FLINK_GATEWAY (the Flink SQL Gateway, http://host:8083)")
	}
	outDir, err := localDir(env.OutDir)
	if err != nil {
		return nil, err
	}
	c, err := NewClient(env.Config.FlinkGateway, nil)
	if err != nil {
		return nil, err
	}
	props := map[string]string{}
	for k, v := range cfg.Settings {
		props[k] = v
	}
	props["execution.runtime-mode"] = "batch"
	props["table.dml-sync"] = "true"
	props["pipeline.name"] = fmt.Sprintf("aiflow %s.%s %s try %d", env.Pipeline.ID, env.Node.ID, env.RunID, env.Try)
	if cfg.Parallelism > 0 {
		props["parallelism.default"] = fmt.Sprint(cfg.Parallelism)
	}
	s, err := c.OpenSession(ctx, "aiflow-"+env.Pipeline.ID+"-"+env.Node.ID, props)
	if err != nil {
		return nil, err
	}
	defer s.release(ctx)
	out := &plugin.Output{}
	inputs := map[string]any{}
	for _, id := range env.InputOrder {
		st, err := declareInput(ctx, s, env, id, outDir, out)
		if err != nil {
			return nil, fmt.Errorf("input %s: %w", id, err)
		}
		inputs[id] = st
	}
	if _, err := s.Execute(ctx, "CREATE TEMPORARY VIEW "+resultView+" AS "+cfg.SQL, nil); err != nil {
		return nil, fmt.Errorf("flink sql of %s: %w", env.Node.ID, err)
	}
	schema, cols, err := describe(ctx, s, resultView)
	if err != nil {
		return nil, fmt.Errorf("flink sql of %s: %w", env.Node.ID, err)
	}
	rawDir := filepath.Join(outDir, "flink")
	if err := os.MkdirAll(rawDir, 0o755); err != nil {
		return nil, fault.Wrap(fault.Temporary, err, "staging")
	}
	ddl := "CREATE TEMPORARY TABLE " + outputTable + " (" + strings.Join(cols, ", ") + ") WITH (" + options(map[string]string{
		"connector": "filesystem", "path": fileURI(rawDir), "format": "json",
		"json.timestamp-format.standard": "ISO-8601", "json.encode.decimal-as-plain-number": "true",
	}) + ")"
	if _, err := s.Execute(ctx, ddl, nil); err != nil {
		return nil, err
	}
	res, err := s.Execute(ctx, "INSERT INTO "+outputTable+" SELECT * FROM "+resultView, nil)
	if err != nil {
		return nil, fmt.Errorf("flink job of %s: %w", env.Node.ID, err)
	}
	// A topic re-created while the job read it: the connector read other records under the
	// pinned offsets (its own check ran before the job started).
	for _, id := range env.InputOrder {
		if err := checkTopicID(ctx, env, env.Inputs[id]); err != nil {
			return nil, fmt.Errorf("input %s: %w", id, err)
		}
	}
	env.Log.Info("flink job finished", "job_id", res.JobID, "gateway", c.Base())
	m, err := stage(ctx, env, rawDir, schema)
	if err != nil {
		return nil, err
	}
	m.Dataset = &manifest.DatasetRef{Namespace: "aiflow", Name: env.Pipeline.ID + "." + env.Node.ID}
	m.Details = map[string]any{"engine": Name, "gateway": c.Base(), "job_id": res.JobID, "inputs": inputs}
	out.Manifest = m
	return out, nil
}

// stage turns the JSON files Flink wrote under rawDir into the node's staged Parquet output,
// through the node's data contract, and removes the JSON files and the handed-over inputs.
func stage(ctx context.Context, env *plugin.Env, rawDir string, schema *arrow.Schema) (*manifest.Manifest, error) {
	entries, err := os.ReadDir(rawDir)
	if err != nil {
		return nil, fault.Wrap(fault.Temporary, err, "read flink output")
	}
	var raw []dataset.FileInfo
	var names []string
	for _, e := range entries {
		// Flink's in-progress and committed-marker files start with "." or "_".
		if e.IsDir() || strings.HasPrefix(e.Name(), ".") || strings.HasPrefix(e.Name(), "_") {
			continue
		}
		names = append(names, e.Name())
	}
	sort.Strings(names)
	for _, n := range names {
		fi, err := os.Stat(filepath.Join(rawDir, n))
		if err != nil {
			return nil, fault.Wrap(fault.Temporary, err, "read flink output")
		}
		raw = append(raw, dataset.FileInfo{URI: fileURI(filepath.Join(rawDir, n)), Size: fi.Size()})
	}
	mem := memory.DefaultAllocator
	var rr array.RecordReader
	if len(raw) == 0 {
		rr, err = array.NewRecordReader(schema, nil)
	} else {
		// Read with the schema Flink described, never inferred from the JSON.
		var ds *dataset.Dataset
		if ds, err = dataset.OpenFiles(ctx, env.Store, raw, dataset.ReadOptions{Format: dataset.NDJSON, Schema: schema}); err == nil {
			rr, err = ds.Reader(ctx, mem)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("read flink output: %w", err)
	}
	defer rr.Release()
	files, err := dataset.WriteFiles(ctx, env.Store, env.OutDir, env.Audit.Watch(ctx, rr), dataset.WriteOptions{Format: dataset.Parquet, FilePrefix: "out", CompressionLevel: 1, Allocator: mem, Progress: env.Progress})
	if err != nil {
		return nil, err
	}
	// The JSON copies are the engine's scratch: only the Parquet files are the output.
	for _, d := range []string{rawDir, filepath.Join(filepath.Dir(rawDir), "inputs")} {
		if err := os.RemoveAll(d); err != nil {
			return nil, fault.Wrap(fault.Temporary, err, "remove flink scratch")
		}
	}
	return readers.StagedManifest(files, schema), nil
}

// describe returns the Arrow schema of a view and its columns as Flink DDL (nullable).
func describe(ctx context.Context, s *Session, view string) (*arrow.Schema, []string, error) {
	res, err := s.Execute(ctx, "DESCRIBE "+view, nil)
	if err != nil {
		return nil, nil, err
	}
	var fs []arrow.Field
	var cols []string
	for _, r := range res.Rows {
		if len(r.Fields) < 2 {
			return nil, nil, fault.New(fault.Temporary, "DESCRIBE %s: unexpected row %v", view, r.Fields)
		}
		name, typ := unquote(string(r.Fields[0])), unquote(string(r.Fields[1]))
		dt, nullable, err := ArrowType(typ)
		if err != nil {
			return nil, nil, fmt.Errorf("column %s: %w", name, err)
		}
		q, err := ident(name)
		if err != nil {
			return nil, nil, err
		}
		fs = append(fs, arrow.Field{Name: name, Type: dt, Nullable: nullable})
		ft, err := SQLType(dt)
		if err != nil {
			return nil, nil, err
		}
		cols = append(cols, q+" "+ft)
	}
	if len(fs) == 0 {
		return nil, nil, fault.Dataf("the query of %s has no columns", view)
	}
	return arrow.NewSchema(fs, nil), cols, nil
}

// declareInput declares input id as a temporary table (or view) named by the id and returns
// what it read, for the manifest's details.
func declareInput(ctx context.Context, s *Session, env *plugin.Env, id, outDir string, out *plugin.Output) (map[string]any, error) {
	m := env.Inputs[id]
	if m == nil {
		return nil, fault.New(fault.Internal, "input %s has no manifest", id)
	}
	name, err := ident(id)
	if err != nil {
		return nil, err
	}
	if m.Kind == manifest.KindKafka {
		return declareKafka(ctx, s, env, name, m, out)
	}
	return handOver(ctx, s, env, id, name, m, outDir, out)
}

// declareKafka declares a pinned Kafka range as a table of Flink's Kafka connector bounded to
// exactly the pinned offsets, with the columns the arrow engine reads (key, partition, offset,
// timestamp, then the value's).
func declareKafka(ctx context.Context, s *Session, env *plugin.Env, name string, m *manifest.Manifest, out *plugin.Output) (map[string]any, error) {
	kr := m.Kafka
	if kr == nil || kr.Topic == "" {
		return nil, fault.Dataf("kafka manifest of %s has no range", m.Node)
	}
	spec, err := kafka.ValueSpecOf(m)
	if err != nil {
		return nil, err
	}
	if spec.OnError == "dead_letter" {
		return nil, fault.Configf("on_error: dead_letter is not supported by the flink engine (use on_error: fail, or read the topic with the arrow engine)")
	}
	brokers, err := kafkaBrokers(env, m)
	if err != nil {
		return nil, err
	}
	// The topic the source pinned, not one created again under its name since: the
	// connector reads by name and offsets only.
	if err := checkTopicID(ctx, env, m); err != nil {
		return nil, err
	}
	var start, end []string
	var records int64
	for _, p := range kr.Partitions {
		start = append(start, fmt.Sprintf("partition:%d,offset:%d", p.Partition, p.Start))
		end = append(end, fmt.Sprintf("partition:%d,offset:%d", p.Partition, p.End))
		records += p.End - p.Start
	}
	if len(kr.Partitions) == 0 {
		return nil, fault.Dataf("kafka manifest of %s pins no partition", m.Node)
	}
	opts := map[string]string{
		"connector":                     "kafka",
		"topic":                         kr.Topic,
		"properties.bootstrap.servers":  strings.Join(brokers, ","),
		"properties.isolation.level":    "read_committed",
		"scan.startup.mode":             "specific-offsets",
		"scan.startup.specific-offsets": strings.Join(start, ";"),
		"scan.bounded.mode":             "specific-offsets",
		"scan.bounded.specific-offsets": strings.Join(end, ";"),
		"key.format":                    "raw",
		"key.fields":                    "aiflow_key",
		"value.fields-include":          "EXCEPT_KEY",
	}
	// The connector's columns carry the aiflow_ prefix in the table, so a JSON field named
	// partition or headers is a value column like any other; the view renames them to the
	// arrow engine's names. headers is a JSON object of the record's headers as a string
	// (values decoded as UTF-8), NULL for a record without headers, as the arrow engine gives.
	cols, sel := kafkaTableColumns()
	switch {
	case spec.ValueFormat == "json" && len(spec.Fields) == 0 && records == 0:
		// An empty range of a topic without a declared schema (nothing to infer from): the
		// arrow engine's columns are then the key and metadata ones; the value is not read.
		opts["value.format"] = "raw"
		cols = append(cols, "`aiflow_value` BYTES")
	case spec.ValueFormat == "raw":
		opts["value.format"] = "raw"
		cols = append(cols, "`value` BYTES")
		sel = append(sel, "`value`")
	default:
		opts["value.format"] = "json"
		opts["value.json.ignore-parse-errors"] = "false"
		opts["value.json.fail-on-missing-field"] = "false"
		opts["value.json.timestamp-format.standard"] = "ISO-8601"
		if len(spec.Fields) == 0 {
			return nil, fault.Dataf("kafka manifest of %s declares no value columns", m.Node)
		}
		for _, f := range spec.Fields {
			dt, err := kafka.ValueType(f.Type)
			if err != nil {
				return nil, fault.Wrap(fault.Config, err, "schema column %s", f.Name)
			}
			ft, err := SQLType(dt)
			if err != nil {
				return nil, fmt.Errorf("schema column %s: %w", f.Name, err)
			}
			field := f.Field
			if field == "" {
				field = f.Name
			}
			if kafkaColumn(field) {
				return nil, fault.Configf("JSON field %q of topic %s: the flink engine names the connector's key and metadata columns %s (rename the field in the producer)", field, kr.Topic, strings.Join(kafkaColumns, ", "))
			}
			qf, err := ident(field)
			if err != nil {
				return nil, err
			}
			qn, err := ident(f.Name)
			if err != nil {
				return nil, err
			}
			cols = append(cols, qf+" "+ft)
			sel = append(sel, qf+" AS "+qn)
		}
	}
	table, _ := ident("aiflow_in_" + strings.Trim(name, "`"))
	if _, err := s.Execute(ctx, "CREATE TEMPORARY TABLE "+table+" ("+strings.Join(cols, ", ")+") WITH ("+options(opts)+")", nil); err != nil {
		return nil, err
	}
	if _, err := s.Execute(ctx, "CREATE TEMPORARY VIEW "+name+" AS SELECT "+strings.Join(sel, ", ")+" FROM "+table, nil); err != nil {
		return nil, err
	}
	// The range may hold transaction markers and aborted records: the rows read are at most
	// this many (the pinned manifest's own count when the source recorded one).
	rows := m.Rows
	if rows == 0 {
		rows = records
	}
	out.RowsIn += rows
	out.BytesIn += m.Bytes
	return map[string]any{"kind": "kafka", "topic": kr.Topic, "partitions": len(kr.Partitions), "offsets": records}, nil
}

// kafkaTableColumns are the Kafka record columns of a Kafka input's table (the connector's metadata,
// named aiflow_* so that none clashes with a value field) and the select list that gives them
// the names a batch read of the topic has on the arrow engine (key, partition, offset,
// timestamp, headers). Batch and streaming reads share them.
func kafkaTableColumns() (cols, sel []string) {
	cols = []string{"`aiflow_key` STRING",
		"`aiflow_partition` INT METADATA FROM 'partition' VIRTUAL",
		"`aiflow_offset` BIGINT METADATA FROM 'offset' VIRTUAL",
		"`aiflow_timestamp` TIMESTAMP_LTZ(3) METADATA FROM 'timestamp' VIRTUAL",
		"`aiflow_headers` MAP<STRING, BYTES> METADATA FROM 'headers' VIRTUAL"}
	sel = []string{"`aiflow_key` AS `key`", "`aiflow_partition` AS `partition`", "`aiflow_offset` AS `offset`",
		"`aiflow_timestamp` AS `timestamp`", headersColumn}
	return cols, sel
}

// headersColumn is the headers column of a Kafka input: the record's headers as a JSON object
// (the arrow engine's column), NULL when the record has none.
const headersColumn = "CASE WHEN `aiflow_headers` IS NULL OR CARDINALITY(`aiflow_headers`) = 0 THEN CAST(NULL AS STRING) " +
	"ELSE JSON_STRING(CAST(`aiflow_headers` AS MAP<STRING, STRING>)) END AS `headers`"

// kafkaColumns are the names of the connector's columns in a Kafka input's table.
var kafkaColumns = []string{"aiflow_key", "aiflow_partition", "aiflow_offset", "aiflow_timestamp", "aiflow_headers"}

func kafkaColumn(field string) bool {
	for _, c := range kafkaColumns {
		if strings.EqualFold(c, field) {
			return true
		}
	}
	return false
}

// kafkaBrokers are the brokers of a pinned range: the pin's own, else the runner's.
func kafkaBrokers(env *plugin.Env, m *manifest.Manifest) ([]string, error) {
	if len(m.Kafka.Brokers) > 0 {
		return m.Kafka.Brokers, nil
	}
	if len(env.Config.KafkaBrokers) > 0 {
		return env.Config.KafkaBrokers, nil
	}
	return nil, fault.Configf("no Kafka brokers for topic %s (AIFLOW_KAFKA_BROKERS)", m.Kafka.Topic)
}

// checkTopicID fails (65, as the arrow engine's reads) when the topic of a pinned Kafka input
// was deleted, or deleted and created again, since the source pinned it; other inputs pass.
func checkTopicID(ctx context.Context, env *plugin.Env, m *manifest.Manifest) error {
	if m == nil || m.Kind != manifest.KindKafka || m.Kafka == nil || m.Kafka.TopicID == "" {
		return nil
	}
	brokers, err := kafkaBrokers(env, m)
	if err != nil {
		return err
	}
	return kafka.CheckTopicID(ctx, m.Kafka, brokers)
}

// handOver writes the pinned rows of an input Flink has no connector for here (files, lake
// tables, upstream outputs) as JSON files under the attempt's staging folder and declares a
// filesystem table over them: Flink reads exactly the pinned rows, never a folder listing.
func handOver(ctx context.Context, s *Session, env *plugin.Env, id, name string, m *manifest.Manifest, outDir string, out *plugin.Output) (map[string]any, error) {
	c := &readers.Counter{Watch: env.ReadProgress(id)}
	rr, sc, err := readers.Reader(ctx, env.Store, env.Config, m, c, memory.DefaultAllocator)
	if err != nil {
		return nil, err
	}
	defer rr.Release()
	var cols []string
	for _, f := range sc.Fields() {
		ft, err := SQLType(f.Type)
		if err != nil {
			return nil, fmt.Errorf("column %s: %w", f.Name, err)
		}
		q, err := ident(f.Name)
		if err != nil {
			return nil, err
		}
		cols = append(cols, q+" "+ft)
	}
	dir := filepath.Join(outDir, "inputs", manifest.Seg(id))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fault.Wrap(fault.Temporary, err, "staging")
	}
	files, err := dataset.WriteFiles(ctx, env.Store, fileURI(dir), rr, dataset.WriteOptions{Format: dataset.NDJSON, FilePrefix: "in"})
	if err != nil {
		return nil, err
	}
	var rows int64
	for _, f := range files {
		rows += f.Rows
	}
	opts := map[string]string{"connector": "filesystem", "path": fileURI(dir), "format": "json",
		"json.timestamp-format.standard": "ISO-8601", "json.fail-on-missing-field": "false"}
	if _, err := s.Execute(ctx, "CREATE TEMPORARY TABLE "+name+" ("+strings.Join(cols, ", ")+") WITH ("+options(opts)+")", nil); err != nil {
		return nil, err
	}
	out.RowsIn += c.Rows.Load()
	out.BytesIn += c.Bytes.Load()
	return map[string]any{"kind": m.Kind, "rows": rows}, nil
}

// localDir is the local folder of a file:// staging URI: the cluster writes there, so it must
// see the same path (a shared volume). s3:// staging needs Flink's S3 file system on the cluster.
func localDir(uri string) (string, error) {
	u, err := url.Parse(uri)
	if err != nil || u.Scheme != "file" {
		return "", fault.Configf("the flink engine stages through the cluster's file system: AIFLOW_STAGING_URI must be a file:// folder the Flink cluster sees at the same path (is %q; s3:// needs Flink's S3 file system plugin on the cluster)", uri)
	}
	return filepath.FromSlash(u.Path), nil
}

func fileURI(p string) string { return "file://" + filepath.ToSlash(p) }

// ident quotes an identifier with backticks (Flink SQL, like Spark SQL).
func ident(name string) (string, error) {
	q, err := sqltext.Ident(name)
	if err != nil {
		return "", fault.Wrap(fault.Config, err, "")
	}
	return q, nil
}

// literal quotes a Flink SQL string literal: single quotes doubled (Flink, like standard SQL,
// treats no backslash escapes in literals).
func literal(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// options renders a WITH clause's key-value pairs in a stable order.
func options(o map[string]string) string {
	keys := make([]string, 0, len(o))
	for k := range o {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = literal(k) + " = " + literal(o[k])
	}
	return strings.Join(parts, ", ")
}

// unquote reads a JSON string field of a result row.
func unquote(raw string) string {
	var s string
	if err := json.Unmarshal([]byte(raw), &s); err == nil {
		return s
	}
	return raw
}
