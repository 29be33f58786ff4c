// Command kafka benchmarks the streaming runtimes against the real test services:
//
//	source .services/env && go run ./bench/kafka -records 1000000 -rows 1000000
//
// read: a pinned range of N JSON records of about 1 KB (12 fields) is read through the Kafka
// reader and written as zstd Parquet (what a Kafka → files pipeline does); write: the feature
// store upserts N rows (COPY into a temporary table, one INSERT … ON CONFLICT). It prints wall
// time, CPU time (user+sys) and peak RSS for each phase; producing the input is not timed.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/aiflow-dev/aiflow/internal/dataset"
	"github.com/aiflow-dev/aiflow/internal/featurestore"
	"github.com/aiflow-dev/aiflow/internal/kafka"
	"github.com/aiflow-dev/aiflow/internal/manifest"
	"github.com/aiflow-dev/aiflow/internal/objstore"
	"github.com/aiflow-dev/aiflow/internal/readers"
)

var discard *bool

func main() {
	records := flag.Int("records", 1_000_000, "records to read from Kafka (0: skip)")
	rows := flag.Int("rows", 1_000_000, "rows to upsert into the feature store (0: skip)")
	partitions := flag.Int("partitions", 6, "partitions of the benchmark topic")
	produceOnly := flag.Bool("produce", false, "only produce the records to a new topic, print its name and keep it")
	discard = flag.Bool("discard", false, "read and decode only: no Parquet (isolates the reader)")
	topic := flag.String("topic", "", "read this topic (made by -produce) instead of producing one; deleted afterwards")
	memprofile := flag.String("memprofile", "", "write a heap profile taken at the peak of the live heap to this file")
	flag.Parse()
	ctx := context.Background()
	if *memprofile != "" {
		stop := peakHeapProfile(*memprofile)
		defer stop()
	}
	if *records > 0 {
		// A benchmark tool, not the runner: it runs against the services make test started.
		brokers := strings.Split(os.Getenv("AIFLOW_TEST_KAFKA_BROKERS"), ",")
		if brokers[0] == "" {
			log.Fatal("AIFLOW_TEST_KAFKA_BROKERS is not set (source .services/env)")
		}
		benchRead(ctx, brokers, *records, int32(*partitions), *topic, *produceOnly)
	}
	if *rows > 0 {
		// The test services' PostgreSQL, as above.
		dsn := os.Getenv("AIFLOW_TEST_PG_DSN")
		if dsn == "" {
			log.Fatal("AIFLOW_TEST_PG_DSN is not set (source .services/env)")
		}
		benchUpsert(ctx, dsn, *rows)
	}
}

// peakHeapProfile samples the live heap every 100 ms and keeps a heap profile of its peak.
func peakHeapProfile(path string) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		var peak uint64
		var ms runtime.MemStats
		for {
			select {
			case <-done:
				fmt.Printf("peak live heap %d MiB (profile: %s)\n", peak>>20, path)
				return
			case <-time.After(100 * time.Millisecond):
			}
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > peak+peak/20 {
				peak = ms.HeapAlloc
				runtime.GC() // the profile shows the heap as of the last GC
				if f, err := os.Create(path); err == nil {
					_ = pprof.WriteHeapProfile(f)
					f.Close()
				}
			}
		}
	}()
	return func() { close(done); <-finished }
}

type usage struct {
	wall     time.Time
	cpu      time.Duration
	maxRSSKB int64
}

func now() usage {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	return usage{wall: time.Now(), cpu: cpu, maxRSSKB: ru.Maxrss}
}

func report(name string, n int, bytes int64, from usage) {
	to := now()
	wall := to.wall.Sub(from.wall)
	fmt.Printf("%-8s %9d rows  %7.2fs wall  %7.2fs cpu  %9.0f rows/s  %7.1f MB/s  peak RSS %d MiB\n",
		name, n, wall.Seconds(), (to.cpu - from.cpu).Seconds(), float64(n)/wall.Seconds(), float64(bytes)/1e6/wall.Seconds(), to.maxRSSKB/1024)
}

func value(i int, pad string) []byte {
	return fmt.Appendf(nil, `{"event_id":%d,"user_id":%d,"session":"s-%08x","kind":"%s","amount":%d.%02d,"currency":"EUR","country":"DE","device":"android","ok":true,"ts":"2024-05-01T%02d:%02d:%02dZ","score":%g,"payload":"%s"}`,
		i, i%100_000, rand.Uint32(), []string{"view", "click", "purchase"}[i%3], i%500, i%100, i/3600%24, i/60%60, i%60, rand.Float64(), pad)
}

func benchRead(ctx context.Context, brokers []string, n int, partitions int32, topic string, produceOnly bool) {
	existing := topic != ""
	if !existing {
		topic = fmt.Sprintf("bench_kafka_%d", time.Now().Unix())
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.DefaultProduceTopic(topic), kgo.ProducerBatchCompression(kgo.Lz4Compression()),
		kgo.ProducerLinger(10*time.Millisecond), kgo.MaxBufferedRecords(200_000))
	if err != nil {
		log.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if !produceOnly {
		defer adm.DeleteTopics(context.Background(), topic) //nolint:errcheck
	}
	if !existing {
		produce(ctx, cl, adm, topic, n, partitions)
	}
	if produceOnly {
		fmt.Println("topic", topic)
		return
	}
	readRange(ctx, adm, brokers, topic, n)
}

func produce(ctx context.Context, cl *kgo.Client, adm *kadm.Client, topic string, n int, partitions int32) {
	if _, err := adm.CreateTopic(ctx, partitions, 1, nil, topic); err != nil {
		log.Fatal(err)
	}
	pad := strings.Repeat("x", 1024-len(value(0, "")))
	var size int64
	start := time.Now()
	for i := 0; i < n; i++ {
		v := value(i, pad)
		size += int64(len(v))
		cl.Produce(ctx, &kgo.Record{Value: v}, func(_ *kgo.Record, err error) {
			if err != nil {
				log.Fatal(err)
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("produced %d records (%.0f MB, %.0f B each) in %.1fs (not timed below)\n", n, float64(size)/1e6, float64(size)/float64(n), time.Since(start).Seconds())
}

func readRange(ctx context.Context, adm *kadm.Client, brokers []string, topic string, n int) {

	kr, err := kafka.PinRange(ctx, adm, brokers, topic, "bench", "earliest", 0)
	if err != nil {
		log.Fatal(err)
	}
	m := &manifest.Manifest{Version: 1, Pipeline: "bench", RunID: "r", Node: "src", Kind: manifest.KindKafka, Kafka: kr}
	sample, err := kafka.Sample(ctx, m, kafka.InferSample)
	if err != nil {
		log.Fatal(err)
	}
	m.Details = map[string]any{kafka.Detail: kafka.ValueSpec{ValueFormat: "json", Fields: kafka.InferFields(sample), OnError: "fail"}}
	dir, _ := os.MkdirTemp("", "bench-kafka-")
	defer os.RemoveAll(dir)
	st := objstore.New(objstore.Options{})
	u := now()
	c := &readers.Counter{}
	rr, _, err := readers.Reader(ctx, st, nil, m, c, memory.DefaultAllocator)
	if err != nil {
		log.Fatal(err)
	}
	var out int64
	if *discard {
		for rr.Next() {
			out += rr.RecordBatch().NumRows()
		}
		if err := rr.Err(); err != nil {
			log.Fatal(err)
		}
		rr.Release()
	} else {
		files, err := dataset.WriteFiles(ctx, st, "file://"+dir, rr, dataset.WriteOptions{Format: dataset.Parquet, FilePrefix: "out"})
		rr.Release()
		if err != nil {
			log.Fatal(err)
		}
		for _, f := range files {
			out += f.Rows
		}
	}
	if out != int64(n) {
		log.Fatalf("wrote %d rows, want %d", out, n)
	}
	report("read", n, c.Bytes.Load(), u)
}

// featureRows makes n feature rows in batches of 64k, event times shifted by shift ms.
func featureRows(n int, shift int64) array.RecordReader {
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "user_id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "purchases", Type: arrow.PrimitiveTypes.Int64},
		{Name: "amount", Type: arrow.PrimitiveTypes.Float64},
		{Name: "country", Type: arrow.BinaryTypes.String},
		{Name: "event_time", Type: &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"}},
	}, nil)
	var recs []arrow.RecordBatch
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer b.Release()
	t0 := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC).UnixMilli() + shift
	for i := 0; i < n; i++ {
		b.Field(0).(*array.Int64Builder).Append(int64(i))
		b.Field(1).(*array.Int64Builder).Append(int64(i % 17))
		b.Field(2).(*array.Float64Builder).Append(float64(i%1000) / 7)
		b.Field(3).(*array.StringBuilder).Append([]string{"DE", "FR", "US"}[i%3])
		b.Field(4).(*array.TimestampBuilder).Append(arrow.Timestamp(t0 + int64(i)))
		if (i+1)%(64<<10) == 0 || i == n-1 {
			recs = append(recs, b.NewRecordBatch())
		}
	}
	rr, _ := array.NewRecordReader(schema, recs)
	return rr
}

func benchUpsert(ctx context.Context, dsn string, n int) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close(ctx)
	table := fmt.Sprintf("bench_features_%d", time.Now().Unix())
	defer conn.Exec(context.Background(), `DROP TABLE IF EXISTS public.`+table) //nolint:errcheck
	t := featurestore.Target{Schema: "public", Table: table, Keys: []string{"user_id"}, EventTime: "event_time", Create: true}
	for _, phase := range []string{"insert", "update"} {
		rr := featureRows(n, map[string]int64{"insert": 0, "update": 1000}[phase])
		u := now()
		tx, err := conn.Begin(ctx)
		if err != nil {
			log.Fatal(err)
		}
		res, err := featurestore.Upsert(ctx, tx, t, rr, rr.Schema(), nil)
		if err != nil {
			log.Fatal(err)
		}
		if err := tx.Commit(ctx); err != nil {
			log.Fatal(err)
		}
		rr.Release()
		report("upsert/"+phase, n, 0, u)
		_ = res
	}
}
