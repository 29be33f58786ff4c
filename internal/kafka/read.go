package kafka

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/aiflow-dev/aiflow/fault"
	"github.com/aiflow-dev/aiflow/internal/arrowops"
	"github.com/aiflow-dev/aiflow/internal/config"
	"github.com/aiflow-dev/aiflow/internal/manifest"
	"github.com/aiflow-dev/aiflow/internal/objstore"
	"github.com/aiflow-dev/aiflow/internal/readers"
)

// Reading a pinned Kafka range (manifest.KindKafka). The source node (Source) pins, per
// partition, [start, end) with end the last stable offset at pin time and copies how to decode
// the values into the manifest (Details["kafka"], a ValueSpec). Every consumer reads exactly that
// range, read-committed, so a retry sees the same records. Columns: key (string), partition
// (int32), offset (int64), timestamp (timestamp[ms, UTC]), headers (JSON object as a string),
// then the value: typed columns decoded from a JSON object, or value (binary) for raw values.

// BatchRows is how many records go into one Arrow batch at most.
const BatchRows = 64 << 10

// BatchBytes closes a batch early once its records' keys and values reach this many bytes,
// so wide records (1 KB and more) make batches of a few MiB, not 64k rows of 64+ MiB.
const BatchBytes = 8 << 20

// Fetch sizes of the reader's client. They count compressed bytes, and the client holds a whole
// fetch decompressed in memory while the reader consumes the previous one: with a 10-20× codec
// ratio, 2 MiB fetches are 20-40 MiB in memory each. Variables so tests can make a read take
// many small fetches.
var (
	FetchMaxBytes          int32 = 2 << 20
	FetchMaxPartitionBytes int32 = 1 << 20
)

// IdleTimeout bounds how long a read waits without receiving anything before it gives up
// (fault.Temporary): long enough to ride out a broker restart.
var IdleTimeout = 90 * time.Second

// Detail is the manifest detail holding the ValueSpec.
const Detail = "kafka"

// ValueSpec tells readers how to decode the values of a pinned range.
type ValueSpec struct {
	// ValueFormat is json or raw.
	ValueFormat string `json:"value_format"`
	// Fields are the value columns (json), in column order.
	Fields []ValueField `json:"value_fields,omitempty"`
	// Inferred says the fields were inferred from the first records of the range.
	Inferred bool `json:"inferred,omitempty"`
	// OnError is fail or dead_letter; DeadLetter is kafka://topic or a folder URI.
	OnError    string `json:"on_error"`
	DeadLetter string `json:"dead_letter,omitempty"`
}

// ValueField is one value column: the JSON field it comes from and its Arrow type.
type ValueField struct {
	Name  string `json:"name"`
	Field string `json:"field"`
	Type  string `json:"type"`
}

// Kafka metadata columns, ahead of the value columns.
var kafkaMetaFields = []arrow.Field{
	{Name: "key", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "partition", Type: arrow.PrimitiveTypes.Int32},
	{Name: "offset", Type: arrow.PrimitiveTypes.Int64},
	{Name: "timestamp", Type: &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"}},
	{Name: "headers", Type: arrow.BinaryTypes.String, Nullable: true},
}

// IsMetaColumn reports whether name is one of the metadata columns of a Kafka read.
func IsMetaColumn(name string) bool {
	for _, f := range kafkaMetaFields {
		if f.Name == name {
			return true
		}
	}
	return false
}

// ValueSpecOf returns the ValueSpec of a KindKafka manifest.
func ValueSpecOf(m *manifest.Manifest) (*ValueSpec, error) {
	s := &ValueSpec{ValueFormat: "json", OnError: "fail"}
	if v, ok := m.Details[Detail]; ok {
		b, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		if err := json.Unmarshal(b, s); err != nil {
			return nil, fault.Wrap(fault.Data, err, "manifest of %s: kafka detail", m.Node)
		}
	}
	return s, nil
}

// ValueType parses a value column type: the arrow engine's type names, binary, and timestamps
// with a zone as Arrow prints them (timestamp[ms, tz=UTC]).
func ValueType(name string) (arrow.DataType, error) {
	n := strings.ToLower(strings.TrimSpace(name))
	switch n {
	case "binary", "bytes":
		return arrow.BinaryTypes.Binary, nil
	case "timestamp":
		return &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}, nil
	}
	if rest, ok := strings.CutPrefix(n, "timestamp["); ok && strings.HasSuffix(rest, "]") {
		unit, zone, _ := strings.Cut(strings.TrimSuffix(rest, "]"), ",")
		units := map[string]arrow.TimeUnit{"s": arrow.Second, "ms": arrow.Millisecond, "us": arrow.Microsecond, "ns": arrow.Nanosecond}
		u, ok := units[strings.TrimSpace(unit)]
		if !ok {
			return nil, fmt.Errorf("unknown type %q", name)
		}
		if zone != "" {
			_, orig, _ := strings.Cut(strings.TrimSuffix(strings.TrimSpace(name), "]"), ",")
			zone = strings.TrimPrefix(strings.TrimSpace(orig), "tz=")
		}
		return &arrow.TimestampType{Unit: u, TimeZone: zone}, nil
	}
	t, err := arrowops.ParseType(name)
	if err != nil {
		return nil, err
	}
	return t, nil
}

// Schema is the Arrow schema a Kafka range reads as.
func Schema(s *ValueSpec) (*arrow.Schema, error) {
	fs := append([]arrow.Field(nil), kafkaMetaFields...)
	if s.ValueFormat == "raw" {
		return arrow.NewSchema(append(fs, arrow.Field{Name: "value", Type: arrow.BinaryTypes.Binary, Nullable: true}), nil), nil
	}
	seen := map[string]bool{}
	for _, f := range fs {
		seen[f.Name] = true
	}
	for _, f := range s.Fields {
		if seen[f.Name] {
			return nil, fault.Configf("value column %q collides with a Kafka column (key, partition, offset, timestamp, headers): rename it in the schema", f.Name)
		}
		seen[f.Name] = true
		dt, err := ValueType(f.Type)
		if err != nil {
			return nil, fault.Wrap(fault.Config, err, "schema column %s", f.Name)
		}
		if !supportedValueType(dt) {
			return nil, fault.Configf("schema column %s: type %s cannot be decoded from JSON", f.Name, dt)
		}
		fs = append(fs, arrow.Field{Name: f.Name, Type: dt, Nullable: true})
	}
	return arrow.NewSchema(fs, nil), nil
}

func supportedValueType(dt arrow.DataType) bool {
	switch dt.ID() {
	case arrow.BOOL, arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64, arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64,
		arrow.FLOAT32, arrow.FLOAT64, arrow.STRING, arrow.LARGE_STRING, arrow.BINARY, arrow.DATE32, arrow.TIMESTAMP:
		return true
	}
	return false
}

// ---- client ----

// ClientOpts are the client options every aiflow Kafka client starts from: bounded dial and
// retry times, so that an unreachable cluster fails within seconds as fault.Temporary instead of
// hanging, while a broker restart (a few seconds) is ridden out.
func ClientOpts(brokers []string) []kgo.Opt {
	return []kgo.Opt{
		kgo.SeedBrokers(brokers...),
		kgo.DialTimeout(5 * time.Second),
		kgo.RetryTimeout(60 * time.Second),
		kgo.RequestTimeoutOverhead(10 * time.Second),
		kgo.MetadataMinAge(250 * time.Millisecond),
		kgo.ClientID("aiflow-runner"),
	}
}

// Classify classifies a Kafka client error: a missing topic or partition is configuration
// (78), a connection problem, a timeout or a retriable broker error is temporary (75),
// authorization is configuration, the rest internal.
func Classify(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	if fault.Classified(err) {
		return fmt.Errorf(format+": %w", append(args, err)...)
	}
	class := fault.Internal
	var ne net.Error
	var ke *kerr.Error
	switch {
	case errors.Is(err, kerr.UnknownTopicOrPartition), errors.Is(err, kerr.UnknownTopicID):
		class = fault.Config
	case errors.Is(err, kerr.TopicAuthorizationFailed), errors.Is(err, kerr.GroupAuthorizationFailed),
		errors.Is(err, kerr.TransactionalIDAuthorizationFailed), errors.Is(err, kerr.ClusterAuthorizationFailed),
		errors.Is(err, kerr.SaslAuthenticationFailed):
		class = fault.Config
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled), errors.As(err, &ne),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, net.ErrClosed),
		errors.Is(err, kgo.ErrClientClosed), strings.Contains(err.Error(), "unable to dial"),
		strings.Contains(err.Error(), "connection refused"), strings.Contains(err.Error(), "EOF"):
		class = fault.Temporary
	case errors.As(err, &ke) && ke.Retriable:
		class = fault.Temporary
	case errors.Is(err, kerr.ProducerFenced), errors.Is(err, kerr.InvalidProducerEpoch), errors.Is(err, kerr.TransactionAbortable),
		errors.Is(err, kerr.CoordinatorLoadInProgress), errors.Is(err, kerr.CoordinatorNotAvailable), errors.Is(err, kerr.NotCoordinator),
		errors.Is(err, kerr.ConcurrentTransactions), errors.Is(err, kerr.OperationNotAttempted):
		class = fault.Temporary
	}
	return fault.Wrap(class, err, format, args...)
}

// ---- reading ----

// Open opens a pinned Kafka range as a record reader.
func Open(ctx context.Context, st *objstore.Store, _ *config.Config, m *manifest.Manifest, c *readers.Counter, mem memory.Allocator) (array.RecordReader, *arrow.Schema, error) {
	kr := m.Kafka
	if kr == nil {
		return nil, nil, fault.Dataf("input %s: kafka manifest without a range", m.Node)
	}
	spec, err := ValueSpecOf(m)
	if err != nil {
		return nil, nil, err
	}
	schema, err := Schema(spec)
	if err != nil {
		return nil, nil, err
	}
	r := &kafkaReader{ctx: ctx, m: m, spec: spec, schema: schema, mem: mem, counter: c, ends: map[int32]int64{}, refs: 1}
	r.dead = &deadLetters{st: st, m: m, spec: spec, files: map[int32]*bytes.Buffer{}}
	offsets := map[int32]kgo.Offset{}
	for _, p := range kr.Partitions {
		if p.End > p.Start {
			offsets[p.Partition] = kgo.NewOffset().At(p.Start)
			r.ends[p.Partition] = p.End
		}
	}
	if r.dec, err = newValueDecoder(spec, schema, mem); err != nil {
		return nil, nil, err
	}
	if len(offsets) == 0 {
		return r, schema, nil
	}
	if len(kr.Brokers) == 0 {
		return nil, nil, fault.Configf("input %s: kafka manifest names no brokers", m.Node)
	}
	opts := append(ClientOpts(kr.Brokers),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{kr.Topic: offsets}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(), // the last offset of a range may be a commit marker: see Next
		kgo.ConsumeResetOffset(kgo.NoResetOffset()),
		kgo.FetchMaxBytes(FetchMaxBytes), kgo.FetchMaxPartitionBytes(FetchMaxPartitionBytes),
		kgo.FetchMaxWait(500*time.Millisecond),
	)
	if r.cl, err = kgo.NewClient(opts...); err != nil {
		return nil, nil, fault.Wrap(fault.Config, err, "kafka client for %s", kr.Topic)
	}
	if kr.TopicID != "" {
		if err := checkTopicID(ctx, kadm.NewClient(r.cl), kr); err != nil {
			r.cl.Close()
			return nil, nil, fmt.Errorf("input %s: %w", m.Node, err)
		}
	}
	return r, schema, nil
}

type kafkaReader struct {
	ctx     context.Context
	m       *manifest.Manifest
	spec    *ValueSpec
	schema  *arrow.Schema
	mem     memory.Allocator
	counter *readers.Counter
	cl      *kgo.Client
	dec     *valueDecoder
	dead    *deadLetters

	ends    map[int32]int64 // partitions still to read → end offset
	pending []*kgo.Record
	cur     arrow.RecordBatch
	err     error
	refs    int64
	rows    int64
	bytes   int64
	done    bool
	maxRows int64 // stop after this many rows (sampling); 0: the whole range
}

func (r *kafkaReader) Retain() { atomic.AddInt64(&r.refs, 1) }

func (r *kafkaReader) Release() {
	if atomic.AddInt64(&r.refs, -1) == 0 {
		if r.cur != nil {
			r.cur.Release()
			r.cur = nil
		}
		if r.cl != nil {
			r.cl.Close()
		}
		r.dec.release()
		r.dead.close()
	}
}

func (r *kafkaReader) Schema() *arrow.Schema          { return r.schema }
func (r *kafkaReader) RecordBatch() arrow.RecordBatch { return r.cur }
func (r *kafkaReader) Record() arrow.RecordBatch      { return r.cur }
func (r *kafkaReader) Err() error                     { return r.err }
func (r *kafkaReader) fail(err error) bool            { r.err = err; return false }
func (r *kafkaReader) topicPart(p int32, o int64) string {
	return fmt.Sprintf("topic %s partition %d offset %d", r.m.Kafka.Topic, p, o)
}

func (r *kafkaReader) Next() bool {
	if r.cur != nil {
		r.cur.Release()
		r.cur = nil
	}
	if r.err != nil || r.done {
		return false
	}
	n, size := 0, 0
	for n < BatchRows && size < BatchBytes {
		if r.maxRows > 0 && r.rows >= r.maxRows {
			r.ends, r.pending = nil, nil
			break
		}
		if len(r.pending) == 0 {
			if len(r.ends) == 0 {
				break
			}
			if err := r.poll(); err != nil {
				return r.fail(err)
			}
			continue
		}
		rec := r.pending[0]
		r.pending = r.pending[1:]
		end, reading := r.ends[rec.Partition]
		if !reading || rec.Topic != r.m.Kafka.Topic {
			continue
		}
		if rec.Offset >= end-1 {
			// The range's last offset (or past it: a gap left by compaction) closes the partition.
			delete(r.ends, rec.Partition)
			r.cl.PauseFetchPartitions(map[string][]int32{rec.Topic: {rec.Partition}})
			if rec.Offset >= end {
				continue
			}
		}
		if rec.Attrs.IsControl() {
			continue
		}
		ok, err := r.dec.append(rec)
		if err != nil {
			return r.fail(err)
		}
		if !ok {
			if r.spec.OnError != "dead_letter" {
				return r.fail(fault.Dataf("%s: undecodable value: %v (on_error: fail; on_error: dead_letter sets such records aside)", r.topicPart(rec.Partition, rec.Offset), r.dec.lastErr))
			}
			if err := r.dead.add(r.ctx, rec, r.dec.lastErr); err != nil {
				return r.fail(err)
			}
			if r.counter != nil {
				r.counter.DeadLetters.Add(1)
			}
			continue
		}
		n++
		size += len(rec.Value) + len(rec.Key)
		r.rows++
		r.bytes += int64(len(rec.Value) + len(rec.Key))
	}
	if len(r.ends) == 0 && len(r.pending) == 0 {
		r.done = true
		if err := r.dead.flush(r.ctx); err != nil {
			return r.fail(err)
		}
	}
	if r.counter != nil {
		r.counter.Rows.Store(r.rows)
		r.counter.Bytes.Store(r.bytes)
	}
	if n == 0 {
		return false
	}
	r.cur = r.dec.batch()
	return true
}

// Sample returns the values of up to n records from the start of a pinned range (for
// schema inference at pin time).
func Sample(ctx context.Context, m *manifest.Manifest, n int64) ([][]byte, error) {
	mm := *m
	mm.Details = map[string]any{Detail: ValueSpec{ValueFormat: "raw", OnError: "fail"}}
	rr, _, err := Open(ctx, nil, nil, &mm, nil, memory.DefaultAllocator)
	if err != nil {
		return nil, err
	}
	defer rr.Release()
	rr.(*kafkaReader).maxRows = n
	var out [][]byte
	for rr.Next() {
		col := rr.RecordBatch().Column(len(kafkaMetaFields)).(*array.Binary)
		for i := 0; i < col.Len(); i++ {
			if col.IsValid(i) {
				out = append(out, bytes.Clone(col.Value(i)))
			}
		}
	}
	return out, rr.Err()
}

// poll fetches the next records, waiting at most IdleTimeout for any.
func (r *kafkaReader) poll() error {
	ctx, cancel := context.WithTimeout(r.ctx, IdleTimeout)
	defer cancel()
	fs := r.cl.PollFetches(ctx)
	if r.ctx.Err() != nil {
		return fault.Wrap(fault.Temporary, r.ctx.Err(), "read %s", r.m.Kafka.Topic)
	}
	var errs []string
	var first error
	fs.EachError(func(t string, p int32, err error) {
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
			return
		}
		if first == nil {
			first = err
		}
		errs = append(errs, fmt.Sprintf("partition %d: %v", p, err))
		if errors.Is(err, kerr.OffsetOutOfRange) {
			first = fault.Wrap(fault.Data, err, "topic %s partition %d: records of the pinned range were deleted (retention) before they were read", t, p)
		}
	})
	if first != nil {
		return Classify(first, "read topic %s: %s", r.m.Kafka.Topic, strings.Join(errs, "; "))
	}
	recs := fs.Records()
	if len(recs) == 0 && ctx.Err() != nil {
		var left []string
		for p, e := range r.ends {
			left = append(left, fmt.Sprintf("%d (to offset %d)", p, e))
		}
		sort.Strings(left)
		return fault.Temporaryf("read topic %s: nothing received for %s; partitions left: %s (broker down?)", r.m.Kafka.Topic, IdleTimeout, strings.Join(left, ", "))
	}
	r.pending = recs
	return nil
}

// ---- value decoding ----

type colScratch struct {
	state uint8 // 0 absent, 1 null, 2 value
	i     int64
	u     uint64
	f     float64
	b     bool
	s     []byte
}

type valueDecoder struct {
	spec    *ValueSpec
	bld     *array.RecordBuilder
	index   map[string]int // JSON field → value column
	types   []arrow.DataType
	scratch []colScratch
	bufs    [][]byte
	lastErr error
	hdr     []byte
}

func newValueDecoder(spec *ValueSpec, schema *arrow.Schema, mem memory.Allocator) (*valueDecoder, error) {
	d := &valueDecoder{spec: spec, bld: array.NewRecordBuilder(mem, schema), index: map[string]int{}}
	for i, f := range spec.Fields {
		if spec.ValueFormat == "raw" {
			break
		}
		field := f.Field
		if field == "" {
			field = f.Name
		}
		d.index[field] = i
		d.types = append(d.types, schema.Field(len(kafkaMetaFields)+i).Type)
	}
	d.scratch = make([]colScratch, len(d.types))
	d.bufs = make([][]byte, len(d.types))
	return d, nil
}

func (d *valueDecoder) release() { d.bld.Release() }

func (d *valueDecoder) batch() arrow.RecordBatch { return d.bld.NewRecordBatch() }

// append decodes rec and appends it; ok=false (lastErr set) for a poison record, which leaves the
// builders untouched.
func (d *valueDecoder) append(rec *kgo.Record) (ok bool, err error) {
	nm := len(kafkaMetaFields)
	if d.spec.ValueFormat == "raw" {
		d.appendMeta(rec)
		vb := d.bld.Field(nm).(*array.BinaryBuilder)
		if rec.Value == nil {
			vb.AppendNull()
		} else {
			vb.Append(rec.Value)
		}
		return true, nil
	}
	for i := range d.scratch {
		d.scratch[i].state = 0
	}
	var kbuf []byte
	err = scanObject(rec.Value, func(key []byte, keyEsc bool, v jsonToken) error {
		if keyEsc {
			var err error
			if kbuf, err = unquote(jsonToken{kind: jsonString, raw: append(append([]byte{'"'}, key...), '"'), esc: true}, kbuf); err != nil {
				return err
			}
			key = kbuf
		}
		i, ok := d.index[string(key)]
		if !ok {
			return nil
		}
		if err := d.parse(i, v); err != nil {
			return fmt.Errorf("field %q: %w", key, err)
		}
		return nil
	})
	if err != nil {
		d.lastErr = err
		return false, nil
	}
	d.appendMeta(rec)
	for i, dt := range d.types {
		d.put(d.bld.Field(nm+i), dt, &d.scratch[i])
	}
	return true, nil
}

func (d *valueDecoder) appendMeta(rec *kgo.Record) {
	kb := d.bld.Field(0).(*array.StringBuilder)
	if rec.Key == nil {
		kb.AppendNull()
	} else {
		kb.BinaryBuilder.Append(rec.Key)
	}
	d.bld.Field(1).(*array.Int32Builder).Append(rec.Partition)
	d.bld.Field(2).(*array.Int64Builder).Append(rec.Offset)
	d.bld.Field(3).(*array.TimestampBuilder).Append(arrow.Timestamp(rec.Timestamp.UnixMilli()))
	hb := d.bld.Field(4).(*array.StringBuilder)
	if len(rec.Headers) == 0 {
		hb.AppendNull()
	} else {
		d.hdr = append(d.hdr[:0], '{')
		for i, h := range rec.Headers {
			if i > 0 {
				d.hdr = append(d.hdr, ',')
			}
			d.hdr = appendJSONString(d.hdr, h.Key)
			d.hdr = append(d.hdr, ':')
			d.hdr = appendJSONString(d.hdr, string(h.Value))
		}
		d.hdr = append(d.hdr, '}')
		hb.BinaryBuilder.Append(d.hdr)
	}
}

func appendJSONString(dst []byte, s string) []byte {
	b, _ := json.Marshal(s)
	return append(dst, b...)
}

// parse reads token v into column i's scratch, checking it against the column type.
func (d *valueDecoder) parse(i int, v jsonToken) error {
	sc := &d.scratch[i]
	if v.kind == jsonNull {
		sc.state = 1
		return nil
	}
	dt := d.types[i]
	switch dt.ID() {
	case arrow.BOOL:
		if v.kind != jsonBool {
			return fmt.Errorf("want a boolean, got %s", v.kind)
		}
		sc.b = v.raw[0] == 't'
	case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64:
		if v.kind != jsonNumber {
			return fmt.Errorf("want an integer, got %s", v.kind)
		}
		n, err := strconv.ParseInt(string(v.raw), 10, bitWidth(dt))
		if err != nil {
			f, ferr := strconv.ParseFloat(string(v.raw), 64)
			if ferr != nil || f != float64(int64(f)) {
				return fmt.Errorf("%s is not a %s", v.raw, dt)
			}
			n = int64(f)
			if bitWidth(dt) < 64 && (n >= 1<<(bitWidth(dt)-1) || n < -(1<<(bitWidth(dt)-1))) {
				return fmt.Errorf("%s is out of range for %s", v.raw, dt)
			}
		}
		sc.i = n
	case arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64:
		if v.kind != jsonNumber {
			return fmt.Errorf("want an unsigned integer, got %s", v.kind)
		}
		n, err := strconv.ParseUint(string(v.raw), 10, bitWidth(dt))
		if err != nil {
			return fmt.Errorf("%s is not a %s", v.raw, dt)
		}
		sc.u = n
	case arrow.FLOAT32, arrow.FLOAT64:
		if v.kind != jsonNumber {
			return fmt.Errorf("want a number, got %s", v.kind)
		}
		f, err := strconv.ParseFloat(string(v.raw), 64)
		if err != nil {
			return fmt.Errorf("%s is not a number", v.raw)
		}
		sc.f = f
	case arrow.STRING, arrow.LARGE_STRING, arrow.BINARY:
		if v.kind == jsonString {
			s, err := unquote(v, d.bufs[i])
			if err != nil {
				return err
			}
			if v.esc {
				d.bufs[i] = s
			}
			sc.s = s
		} else {
			sc.s = v.raw // numbers, booleans, nested JSON: their text
		}
	case arrow.DATE32:
		if v.kind != jsonString {
			return fmt.Errorf("want a date string, got %s", v.kind)
		}
		t, err := time.Parse("2006-01-02", string(v.raw[1:len(v.raw)-1]))
		if err != nil {
			return fmt.Errorf("%s is not a date (YYYY-MM-DD)", v.raw)
		}
		sc.i = int64(arrow.Date32FromTime(t))
	case arrow.TIMESTAMP:
		unit := dt.(*arrow.TimestampType).Unit
		switch v.kind {
		case jsonString:
			t, ok := parseTime(string(v.raw[1 : len(v.raw)-1]))
			if !ok {
				return fmt.Errorf("%s is not an RFC 3339 timestamp", v.raw)
			}
			ts, err := arrow.TimestampFromTime(t, unit)
			if err != nil {
				return err
			}
			sc.i = int64(ts)
		case jsonNumber:
			n, err := strconv.ParseInt(string(v.raw), 10, 64)
			if err != nil {
				return fmt.Errorf("%s is not an integer timestamp (%s since the epoch)", v.raw, unit)
			}
			sc.i = n
		default:
			return fmt.Errorf("want a timestamp, got %s", v.kind)
		}
	default:
		return fmt.Errorf("type %s is not supported", dt)
	}
	sc.state = 2
	return nil
}

func bitWidth(dt arrow.DataType) int {
	if fw, ok := dt.(arrow.FixedWidthDataType); ok {
		return fw.BitWidth()
	}
	return 64
}

// parseTime accepts RFC 3339 (with or without fractions), and the same without a zone (UTC).
func parseTime(s string) (time.Time, bool) {
	if len(s) < 19 {
		return time.Time{}, false
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999Z07:00", "2006-01-02 15:04:05.999999999"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

func (d *valueDecoder) put(b array.Builder, dt arrow.DataType, sc *colScratch) {
	if sc.state != 2 {
		b.AppendNull()
		return
	}
	switch x := b.(type) {
	case *array.BooleanBuilder:
		x.Append(sc.b)
	case *array.Int8Builder:
		x.Append(int8(sc.i))
	case *array.Int16Builder:
		x.Append(int16(sc.i))
	case *array.Int32Builder:
		x.Append(int32(sc.i))
	case *array.Int64Builder:
		x.Append(sc.i)
	case *array.Uint8Builder:
		x.Append(uint8(sc.u))
	case *array.Uint16Builder:
		x.Append(uint16(sc.u))
	case *array.Uint32Builder:
		x.Append(uint32(sc.u))
	case *array.Uint64Builder:
		x.Append(sc.u)
	case *array.Float32Builder:
		x.Append(float32(sc.f))
	case *array.Float64Builder:
		x.Append(sc.f)
	case *array.StringBuilder:
		x.BinaryBuilder.Append(sc.s)
	case *array.LargeStringBuilder:
		x.BinaryBuilder.Append(sc.s)
	case *array.BinaryBuilder:
		x.Append(sc.s)
	case *array.Date32Builder:
		x.Append(arrow.Date32(sc.i))
	case *array.TimestampBuilder:
		x.Append(arrow.Timestamp(sc.i))
	default:
		b.AppendNull()
	}
}

// ---- inference ----

// InferFields infers value columns from sample JSON values: fields in order of first
// appearance; integers → int64, numbers → float64, booleans → bool, strings that are all
// RFC 3339 timestamps → timestamp[us, tz=UTC], other strings, nested values and mixtures → string.
// Values that are not JSON objects are skipped. A field named like a Kafka column is read into
// value_<name>.
func InferFields(values [][]byte) []ValueField {
	type stat struct {
		ints, floats, bools, strs, nested, times int
	}
	var order []string
	stats := map[string]*stat{}
	for _, v := range values {
		_ = scanObject(v, func(key []byte, keyEsc bool, t jsonToken) error {
			k := string(key)
			if keyEsc {
				if u, err := unquote(jsonToken{kind: jsonString, raw: []byte(`"` + k + `"`), esc: true}, nil); err == nil {
					k = string(u)
				}
			}
			s := stats[k]
			if s == nil {
				s = &stat{}
				stats[k] = s
				order = append(order, k)
			}
			switch t.kind {
			case jsonBool:
				s.bools++
			case jsonNumber:
				if bytes.ContainsAny(t.raw, ".eE") {
					s.floats++
				} else {
					s.ints++
				}
			case jsonString:
				s.strs++
				if !t.esc {
					if _, ok := parseTime(string(t.raw[1 : len(t.raw)-1])); ok {
						s.times++
					}
				}
			case jsonObject, jsonArray:
				s.nested++
			}
			return nil
		})
	}
	out := make([]ValueField, 0, len(order))
	for _, k := range order {
		s := stats[k]
		typ := "string"
		switch {
		case s.nested > 0:
		case s.strs > 0 && s.ints+s.floats+s.bools == 0 && s.times == s.strs:
			typ = "timestamp[us, tz=UTC]"
		case s.strs > 0:
		case s.bools > 0 && s.ints+s.floats == 0:
			typ = "bool"
		case s.floats > 0 && s.bools == 0:
			typ = "float64"
		case s.ints > 0 && s.bools == 0:
			typ = "int64"
		}
		name := k
		if IsMetaColumn(name) {
			name = "value_" + name
		}
		out = append(out, ValueField{Name: name, Field: k, Type: typ})
	}
	return out
}

// ---- dead letters ----

// deadLetters sets aside undecodable records: to a topic (kafka://topic, produced as they come,
// at least once across retries, with the source topic, partition and offset in headers so a
// consumer can drop duplicates) or to a folder (one NDJSON file per partition of the pinned
// range, named by the range, so a retry rewrites the same files).
type deadLetters struct {
	st    *objstore.Store
	m     *manifest.Manifest
	spec  *ValueSpec
	files map[int32]*bytes.Buffer
	prod  *kgo.Client
	perr  atomic.Value
	wrote int64
}

func (d *deadLetters) topic() (string, bool) {
	return strings.CutPrefix(d.spec.DeadLetter, "kafka://")
}

func (d *deadLetters) add(ctx context.Context, rec *kgo.Record, cause error) error {
	d.wrote++
	if t, ok := d.topic(); ok {
		if d.prod == nil {
			cl, err := kgo.NewClient(append(ClientOpts(d.m.Kafka.Brokers), kgo.DefaultProduceTopic(t), kgo.RequiredAcks(kgo.AllISRAcks()))...)
			if err != nil {
				return fault.Wrap(fault.Config, err, "dead-letter producer")
			}
			d.prod = cl
		}
		hs := append([]kgo.RecordHeader(nil), rec.Headers...)
		hs = append(hs,
			kgo.RecordHeader{Key: "aiflow.source.topic", Value: []byte(rec.Topic)},
			kgo.RecordHeader{Key: "aiflow.source.partition", Value: []byte(strconv.Itoa(int(rec.Partition)))},
			kgo.RecordHeader{Key: "aiflow.source.offset", Value: []byte(strconv.FormatInt(rec.Offset, 10))},
			kgo.RecordHeader{Key: "aiflow.error", Value: []byte(cause.Error())},
		)
		d.prod.Produce(ctx, &kgo.Record{Key: rec.Key, Value: rec.Value, Headers: hs, Timestamp: rec.Timestamp}, func(_ *kgo.Record, err error) {
			if err != nil {
				d.perr.CompareAndSwap(nil, err)
			}
		})
		return nil
	}
	b := d.files[rec.Partition]
	if b == nil {
		b = &bytes.Buffer{}
		d.files[rec.Partition] = b
	}
	line := map[string]any{"topic": rec.Topic, "partition": rec.Partition, "offset": rec.Offset,
		"timestamp": rec.Timestamp.UTC().Format(time.RFC3339Nano), "error": cause.Error()}
	if rec.Key != nil {
		line["key"] = textOrBase64(rec.Key)
	}
	if utf8.Valid(rec.Value) {
		line["value"] = string(rec.Value)
	} else {
		line["value_base64"] = base64.StdEncoding.EncodeToString(rec.Value)
	}
	enc, _ := json.Marshal(line)
	b.Write(enc)
	b.WriteByte('\n')
	return nil
}

func textOrBase64(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	return "base64:" + base64.StdEncoding.EncodeToString(b)
}

// flush makes the dead letters durable; the read fails if they cannot be.
func (d *deadLetters) flush(ctx context.Context) error {
	if d.prod != nil {
		if err := d.prod.Flush(ctx); err != nil {
			return Classify(err, "dead letters to %s", d.spec.DeadLetter)
		}
		if err, _ := d.perr.Load().(error); err != nil {
			return Classify(err, "dead letters to %s", d.spec.DeadLetter)
		}
	}
	if len(d.files) == 0 {
		return nil
	}
	dir, err := readers.ResolveURI(d.st.Guard(), d.spec.DeadLetter)
	if err != nil {
		return err
	}
	dir = strings.TrimSuffix(dir, "/") + "/" + manifest.Seg(d.m.Pipeline) + "/" + manifest.Seg(d.m.RunID) + "/" + manifest.Seg(d.m.Node)
	for _, p := range d.m.Kafka.Partitions {
		b := d.files[p.Partition]
		if b == nil {
			continue
		}
		uri := fmt.Sprintf("%s/%s-p%d-%d-%d.ndjson", dir, manifest.Seg(d.m.Kafka.Topic), p.Partition, p.Start, p.End)
		if err := d.st.Put(ctx, uri, bytes.NewReader(b.Bytes())); err != nil {
			return fmt.Errorf("write dead letters %s: %w", uri, err)
		}
	}
	return nil
}

func (d *deadLetters) close() {
	if d.prod != nil {
		d.prod.Close()
	}
}

// CheckTopicID refuses (fault.Data, 65) a pinned range whose topic was deleted, or deleted and
// created again, since the pin: for engines that read the range through their own Kafka client
// (the flink engine's connector), before and after they read it. A range pinned without a topic
// id (an old manifest, a broker that has none) passes.
func CheckTopicID(ctx context.Context, kr *manifest.KafkaRange, brokers []string) error {
	if kr.TopicID == "" {
		return nil
	}
	cl, err := kgo.NewClient(ClientOpts(brokers)...)
	if err != nil {
		return fault.Wrap(fault.Config, err, "kafka client for %s", kr.Topic)
	}
	defer cl.Close()
	k := *kr
	k.Brokers = brokers
	return checkTopicID(ctx, kadm.NewClient(cl), &k)
}

// checkTopicID refuses a pin whose topic was deleted and created again since: the same offsets
// now name other records, and reading them would pass them off as the run's data.
func checkTopicID(ctx context.Context, adm *kadm.Client, kr *manifest.KafkaRange) error {
	d, err := describeTopic(ctx, adm, kr.Brokers, kr.Topic)
	if err != nil {
		if fault.ClassOf(err) == fault.Config {
			return fault.Dataf("kafka topic %s (id %s) was deleted since it was pinned: the pinned records are gone", kr.Topic, kr.TopicID)
		}
		return err
	}
	if now := topicID(d); now != "" && now != kr.TopicID {
		return fault.Dataf("kafka topic %s was deleted and created again since it was pinned (topic id %s, now %s): the pinned offsets name other records", kr.Topic, kr.TopicID, now)
	}
	return nil
}
