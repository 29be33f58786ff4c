package kafka

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/aiflow-dev/aiflow/fault"
	"github.com/aiflow-dev/aiflow/internal/manifest"
	"github.com/aiflow-dev/aiflow/internal/node"
	"github.com/aiflow-dev/aiflow/internal/readers"
	"github.com/aiflow-dev/aiflow/plugin"
)

// LedgerTopic is where the Kafka sink records, inside each write's transaction, which
// (pipeline, node, run) the transaction belongs to; a retry reads it to learn whether an earlier
// attempt's transaction committed (doc.go).
var LedgerTopic = "aiflow.sink-ledger"

// LedgerLookback is how far back (by record time) a retry searches the ledger.
var LedgerLookback = 7 * 24 * time.Hour

// TransactionTimeout is the producer's transaction timeout: a write must finish within it (the
// broker's transaction.max.timeout.ms, 15 minutes by default, caps it).
var TransactionTimeout = 10 * time.Minute

// Sink produces the main input to a topic, exactly once per run for read-committed consumers.
type Sink struct{}

func wrapKafka(err error, format string, args ...any) error {
	return Classify(err, format, args...)
}

// TransactionalID is the producer's transactional id for one run of a sink node: stable across
// the run's attempts (a new attempt fences the previous one), distinct between runs.
func TransactionalID(pipeline, node, runID string) string {
	return "aiflow-" + pipeline + "-" + node + "-" + runID
}

func ledgerKey(pipeline, node, runID string) string {
	return pipeline + "\x00" + node + "\x00" + runID
}

// ledgerEntry is the value of a ledger record.
type ledgerEntry struct {
	Pipeline string             `json:"pipeline"`
	Node     string             `json:"node"`
	RunID    string             `json:"run_id"`
	Try      int                `json:"try"`
	Topic    string             `json:"topic"`
	Rows     int64              `json:"rows"`
	Bytes    int64              `json:"bytes"`
	Offsets  map[int32][2]int64 `json:"offsets,omitempty"` // partition → first, last offset written
}

func compression(name string) kgo.CompressionCodec {
	switch name {
	case "gzip":
		return kgo.GzipCompression()
	case "snappy":
		return kgo.SnappyCompression()
	case "lz4":
		return kgo.Lz4Compression()
	case "zstd":
		return kgo.ZstdCompression()
	}
	return kgo.NoCompression()
}

func (Sink) Publish(ctx context.Context, env *plugin.Env, cfg *SinkConfig) (*plugin.Output, error) {
	brokers, err := Brokers(cfg.Brokers, env.Config)
	if err != nil {
		return nil, err
	}
	main := env.Inputs[env.InputOrder[0]]
	ref := DatasetRef(brokers, cfg.Topic)
	if !env.Publish {
		return stageOnly(ctx, env, main, cfg, ref)
	}
	txnID := TransactionalID(env.Pipeline.ID, env.Node.ID, env.RunID)
	// A broker that dies and does not come back must not keep the node waiting for ever: records
	// not acknowledged within the delivery timeout fail the write (exit 75), and the delivery
	// timeout ends with the node's own deadline.
	delivery := TransactionTimeout
	if dl, ok := ctx.Deadline(); ok {
		delivery = max(min(delivery, time.Until(dl)), time.Second)
	}
	cl, adm, err := newAdmin(brokers,
		kgo.RecordDeliveryTimeout(delivery),
		kgo.TransactionalID(txnID),
		kgo.TransactionTimeout(TransactionTimeout),
		kgo.DefaultProduceTopic(cfg.Topic),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerBatchCompression(compression(cfg.Compression)),
		kgo.ProducerLinger(5*time.Millisecond),
		kgo.ProducerBatchMaxBytes(1<<20),
		kgo.MaxBufferedRecords(100_000),
		kgo.RecordRetries(math.MaxInt32),
	)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	if _, err := checkTopic(ctx, adm, brokers, cfg.Topic); err != nil {
		return nil, err
	}
	if err := ensureLedger(ctx, adm); err != nil {
		return nil, err
	}
	// Fence: initialising the producer id bumps the epoch of this run's transactional id, which
	// aborts an earlier attempt's open transaction (or waits for its commit to complete) and
	// makes that attempt's later writes fail. Only then is the ledger conclusive.
	ictx, cancel := context.WithTimeout(ctx, 2*AdminTimeout)
	_, _, err = cl.ProducerID(ictx)
	cancel()
	if err != nil {
		return nil, classifyAdmin(ictx, err, "init transactional producer "+txnID)
	}
	key := ledgerKey(env.Pipeline.ID, env.Node.ID, env.RunID)
	if prev, err := findLedger(ctx, brokers, key); err != nil {
		return nil, err
	} else if prev != nil {
		env.Log.Info("an earlier attempt's transaction committed this run's records; recording the commit only", "topic", cfg.Topic, "rows", prev.Rows, "try", prev.Try)
		return &plugin.Output{Manifest: sinkManifest(prev, ref, txnID)}, nil
	}

	c := &readers.Counter{}
	rr, schema, err := readers.Reader(ctx, env.Store, env.Config, main, c, memory.DefaultAllocator)
	if err != nil {
		return nil, fmt.Errorf("open input %s: %w", main.Node, err)
	}
	defer rr.Release()
	keyCol := -1
	if cfg.KeyColumn != "" {
		idx := schema.FieldIndices(cfg.KeyColumn)
		if len(idx) == 0 {
			return nil, fault.Dataf("key_column %q is not in the input (columns: %s)", cfg.KeyColumn, columnNames(schema))
		}
		keyCol = idx[0]
	}
	if err := cl.BeginTransaction(); err != nil {
		return nil, wrapKafka(err, "begin transaction")
	}
	var acked atomic.Int64
	waited := node.Waiting(ctx, env.Log, "Kafka to acknowledge records", acked.Load, "topic", cfg.Topic)
	defer waited()
	entry := &ledgerEntry{Pipeline: env.Pipeline.ID, Node: env.Node.ID, RunID: env.RunID, Try: env.Try, Topic: cfg.Topic, Offsets: map[int32][2]int64{}}
	var (
		mu      sync.Mutex
		prodErr error
	)
	promise := func(r *kgo.Record, err error) {
		acked.Add(1)
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			if prodErr == nil {
				prodErr = err
			}
			return
		}
		o, ok := entry.Offsets[r.Partition]
		if !ok {
			o = [2]int64{r.Offset, r.Offset}
		}
		o[0], o[1] = min(o[0], r.Offset), max(o[1], r.Offset)
		entry.Offsets[r.Partition] = o
	}
	abort := func(cause error) (*plugin.Output, error) {
		// Best effort (the retry fences this transaction anyway): within the node's deadline.
		budget := AdminTimeout
		if dl, ok := ctx.Deadline(); ok {
			budget = min(budget, max(time.Until(dl), 2*time.Second))
		}
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), budget)
		defer cancel()
		_ = cl.AbortBufferedRecords(actx)
		_ = cl.EndTransaction(actx, kgo.TryAbort)
		return nil, cause
	}
	hdrs := []kgo.RecordHeader{{Key: "aiflow.run", Value: []byte(env.RunID)}, {Key: "aiflow.pipeline", Value: []byte(env.Pipeline.ID)}, {Key: "aiflow.node", Value: []byte(env.Node.ID)}}
	enc := newRowEncoder(schema)
	for rr.Next() {
		rec := rr.RecordBatch()
		for i := 0; i < int(rec.NumRows()); i++ {
			val := enc.encode(rec, i)
			r := &kgo.Record{Value: val, Headers: hdrs}
			if keyCol >= 0 {
				r.Key = keyBytes(rec.Column(keyCol), i)
			}
			entry.Rows++
			entry.Bytes += int64(len(val) + len(r.Key))
			cl.Produce(ctx, r, promise)
		}
		if env.Progress != nil {
			env.Progress(entry.Rows, entry.Bytes)
		}
		mu.Lock()
		err := prodErr
		mu.Unlock()
		if err != nil {
			return abort(wrapKafka(err, "produce to %s", cfg.Topic))
		}
	}
	if err := rr.Err(); err != nil {
		return abort(err)
	}
	err = cl.Flush(ctx)
	waited()
	waited()
	if err == nil {
		mu.Lock()
		err = prodErr
		mu.Unlock()
	}
	if errors.Is(err, kgo.ErrRecordTimeout) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return abort(fault.Wrap(fault.Temporary, err, "produce to %s: Kafka did not acknowledge the %d records within %s (broker down?)", cfg.Topic, entry.Rows, delivery))
	}
	if err != nil {
		return abort(wrapKafka(err, "produce to %s", cfg.Topic))
	}
	lv, _ := json.Marshal(entry)
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: LedgerTopic, Key: []byte(key), Value: lv}).FirstErr(); err != nil {
		return abort(wrapKafka(err, "write the ledger record to %s", LedgerTopic))
	}
	waited = node.Waiting(ctx, env.Log, "Kafka to commit the transaction", nil, "topic", cfg.Topic)
	err = cl.EndTransaction(ctx, kgo.TryCommit)
	waited()
	if err != nil {
		// The outcome may be unknown (the commit may have landed): the retry fences and reads
		// the ledger, so it never writes twice.
		return abort(wrapKafka(err, "commit the transaction of %s", cfg.Topic))
	}
	env.Log.Info("produced", "topic", cfg.Topic, "rows", entry.Rows, "transactional_id", txnID)
	out := &plugin.Output{Manifest: sinkManifest(entry, ref, txnID), RowsIn: c.Rows.Load(), BytesIn: c.Bytes.Load()}
	return out, nil
}

func sinkManifest(e *ledgerEntry, ref *manifest.DatasetRef, txnID string) *manifest.Manifest {
	offs := map[string]any{}
	for p, o := range e.Offsets {
		offs[strconv.Itoa(int(p))] = []int64{o[0], o[1]}
	}
	return &manifest.Manifest{Kind: manifest.KindNone, Dataset: ref, Rows: e.Rows, Bytes: e.Bytes,
		Details: map[string]any{"topic": e.Topic, "transactional_id": txnID, "offsets": offs, "try_produced": e.Try}}
}

// stageOnly is a replay without --publish: the records go to the staging folder as NDJSON.
func stageOnly(ctx context.Context, env *plugin.Env, main *manifest.Manifest, cfg *SinkConfig, ref *manifest.DatasetRef) (*plugin.Output, error) {
	c := &readers.Counter{}
	rr, schema, err := readers.Reader(ctx, env.Store, env.Config, main, c, memory.DefaultAllocator)
	if err != nil {
		return nil, fmt.Errorf("open input %s: %w", main.Node, err)
	}
	defer rr.Release()
	enc := newRowEncoder(schema)
	var buf bytes.Buffer
	var rows int64
	for rr.Next() {
		rec := rr.RecordBatch()
		for i := 0; i < int(rec.NumRows()); i++ {
			buf.Write(enc.encode(rec, i))
			buf.WriteByte('\n')
			rows++
		}
	}
	if err := rr.Err(); err != nil {
		return nil, err
	}
	uri := env.OutDir + "/records.ndjson"
	if err := env.Store.Put(ctx, uri, bytes.NewReader(buf.Bytes())); err != nil {
		return nil, err
	}
	return &plugin.Output{Manifest: &manifest.Manifest{Kind: manifest.KindNone, Dataset: ref, Rows: rows, Bytes: int64(buf.Len()),
		Details: map[string]any{"staged": uri, "topic": cfg.Topic}}, RowsIn: c.Rows.Load(), BytesIn: c.Bytes.Load()}, nil
}

// ensureLedger creates the ledger topic when it is missing (one partition, 30 days).
func ensureLedger(ctx context.Context, adm *kadm.Client) error {
	ctx, cancel := context.WithTimeout(ctx, AdminTimeout)
	defer cancel()
	td, err := adm.ListTopics(ctx, LedgerTopic)
	if err != nil {
		return classifyAdmin(ctx, err, "list "+LedgerTopic)
	}
	if d, ok := td[LedgerTopic]; ok && d.Err == nil {
		return nil
	}
	retention := strconv.FormatInt((30 * 24 * time.Hour).Milliseconds(), 10)
	resp, err := adm.CreateTopic(ctx, 1, -1, map[string]*string{"retention.ms": &retention}, LedgerTopic)
	if err == nil {
		err = resp.Err
	}
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return classifyAdmin(ctx, err, "create the ledger topic "+LedgerTopic)
	}
	return nil
}

// findLedger reads the ledger (read-committed, the last LedgerLookback) for key.
func findLedger(ctx context.Context, brokers []string, key string) (*ledgerEntry, error) {
	cl, adm, err := newAdmin(brokers)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	lctx, cancel := context.WithTimeout(ctx, AdminTimeout)
	defer cancel()
	ends, err := adm.ListCommittedOffsets(lctx, LedgerTopic)
	if err != nil {
		return nil, classifyAdmin(lctx, err, "ledger end offsets")
	}
	from, err := adm.ListOffsetsAfterMilli(lctx, time.Now().Add(-LedgerLookback).UnixMilli(), LedgerTopic)
	if err != nil {
		return nil, classifyAdmin(lctx, err, "ledger start offsets")
	}
	kr := &manifest.KafkaRange{Topic: LedgerTopic, Brokers: brokers}
	ends.Each(func(o kadm.ListedOffset) {
		start := int64(0)
		if f, ok := from.Lookup(LedgerTopic, o.Partition); ok && f.Err == nil && f.Offset >= 0 {
			start = f.Offset
		}
		if lo, ok := ends.Lookup(LedgerTopic, o.Partition); ok && start > lo.Offset {
			start = lo.Offset
		}
		kr.Partitions = append(kr.Partitions, manifest.PartitionRange{Partition: o.Partition, Start: start, End: o.Offset})
	})
	m := &manifest.Manifest{Node: LedgerTopic, Kafka: kr, Details: map[string]any{Detail: ValueSpec{ValueFormat: "raw", OnError: "fail"}}}
	rr, _, err := Open(ctx, nil, nil, m, nil, memory.DefaultAllocator)
	if err != nil {
		return nil, err
	}
	defer rr.Release()
	var found *ledgerEntry
	for rr.Next() {
		rec := rr.RecordBatch()
		keys := rec.Column(0).(*array.String)
		vals := rec.Column(rec.Schema().NumFields() - 1).(*array.Binary)
		for i := 0; i < int(rec.NumRows()); i++ {
			if keys.IsValid(i) && keys.Value(i) == key {
				var e ledgerEntry
				if err := json.Unmarshal(vals.Value(i), &e); err == nil {
					found = &e
				}
			}
		}
	}
	if err := rr.Err(); err != nil {
		return nil, fmt.Errorf("read the ledger %s: %w", LedgerTopic, err)
	}
	return found, nil
}

func columnNames(s *arrow.Schema) string {
	names := make([]string, s.NumFields())
	for i, f := range s.Fields() {
		names[i] = f.Name
	}
	return strings.Join(names, ", ")
}

// keyBytes renders a key column value: strings and binaries as their bytes, others as text.
func keyBytes(col arrow.Array, i int) []byte {
	if col.IsNull(i) {
		return nil
	}
	switch a := col.(type) {
	case *array.String:
		return []byte(a.Value(i))
	case *array.LargeString:
		return []byte(a.Value(i))
	case *array.Binary:
		return bytes.Clone(a.Value(i))
	}
	return []byte(col.ValueStr(i))
}

// rowEncoder writes a row as a JSON object, with fast paths for the common types.
type rowEncoder struct {
	names [][]byte // `"name":` prefixes
	buf   []byte
}

func newRowEncoder(s *arrow.Schema) *rowEncoder {
	e := &rowEncoder{}
	for i, f := range s.Fields() {
		kb, _ := json.Marshal(f.Name)
		p := []byte{}
		if i > 0 {
			p = append(p, ',')
		}
		e.names = append(e.names, append(append(p, kb...), ':'))
	}
	return e
}

func (e *rowEncoder) encode(rec arrow.RecordBatch, i int) []byte {
	b := append(e.buf[:0], '{')
	for c := 0; c < int(rec.NumCols()); c++ {
		b = append(b, e.names[c]...)
		b = appendJSONValue(b, rec.Column(c), i)
	}
	b = append(b, '}')
	e.buf = b
	return bytes.Clone(b)
}

func appendJSONValue(b []byte, col arrow.Array, i int) []byte {
	if col.IsNull(i) {
		return append(b, "null"...)
	}
	switch a := col.(type) {
	case *array.Int64:
		return strconv.AppendInt(b, a.Value(i), 10)
	case *array.Int32:
		return strconv.AppendInt(b, int64(a.Value(i)), 10)
	case *array.Int16:
		return strconv.AppendInt(b, int64(a.Value(i)), 10)
	case *array.Int8:
		return strconv.AppendInt(b, int64(a.Value(i)), 10)
	case *array.Uint64:
		return strconv.AppendUint(b, a.Value(i), 10)
	case *array.Uint32:
		return strconv.AppendUint(b, uint64(a.Value(i)), 10)
	case *array.Float64:
		return appendFloat(b, a.Value(i), 64)
	case *array.Float32:
		return appendFloat(b, float64(a.Value(i)), 32)
	case *array.Boolean:
		return strconv.AppendBool(b, a.Value(i))
	case *array.String:
		return appendString(b, a.Value(i))
	case *array.LargeString:
		return appendString(b, a.Value(i))
	case *array.Timestamp:
		unit := a.DataType().(*arrow.TimestampType).Unit
		return appendString(b, a.Value(i).ToTime(unit).UTC().Format(time.RFC3339Nano))
	case *array.Date32:
		return appendString(b, a.Value(i).ToTime().Format("2006-01-02"))
	}
	v, err := json.Marshal(col.GetOneForMarshal(i))
	if err != nil {
		return appendString(b, col.ValueStr(i))
	}
	return append(b, v...)
}

func appendFloat(b []byte, f float64, bits int) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(b, "null"...)
	}
	return strconv.AppendFloat(b, f, 'g', -1, bits)
}

const hexDigits = "0123456789abcdef"

func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
