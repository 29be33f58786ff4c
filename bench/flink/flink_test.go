// Package flinkbench measures a streaming Flink SQL job on the test cluster: the records per
// second it moves Kafka → Flink SQL → Kafka (exactly-once) and the end-to-end latency a
// read_committed consumer sees. Run it with the services of make test up:
//
//	go test ./bench/flink -run '^$' -bench . -benchtime 1x
package flinkbench

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/aiflow-dev/aiflow/internal/flink"
	"github.com/aiflow-dev/aiflow/internal/testenv"
)

func BenchmarkStreamingJob(b *testing.B) {
	records := 200_000
	brokers := strings.Split(testenv.Require(b, testenv.KafkaBrokers), ",")
	c, err := flink.NewClient(testenv.Require(b, testenv.FlinkGateway), nil)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ProducerLinger(5*time.Millisecond),
		kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	sfx := fmt.Sprintf("%d_%d", time.Now().UnixNano()%1e9, rand.IntN(1000))
	in, out := "bench_flink_in_"+sfx, "bench_flink_out_"+sfx
	for _, t := range []string{in, out} {
		if _, err := adm.CreateTopic(ctx, 2, 1, nil, t); err != nil {
			b.Fatal(err)
		}
	}
	defer func() { _, _ = adm.DeleteTopics(context.Background(), in, out) }()
	for i := 0; i < b.N; i++ {
		produce(b, cl, in, 0, records, false)
		src, _ := flink.CreateTable("events", []string{"id BIGINT", "user_id BIGINT", "amount BIGINT", "sent BIGINT"},
			flink.KafkaSourceOptions(in, brokers, "bench-"+in))
		snk, _ := flink.CreateTable("out", []string{"id BIGINT", "user_id BIGINT", "amount BIGINT", "sent BIGINT"},
			flink.KafkaSinkOptions(out, brokers, "bench-"+out))
		job := flink.StreamJob{Name: "bench " + in, Statements: []string{src, snk},
			Settings: map[string]string{"execution.checkpointing.interval": "1s"},
			Insert:   "INSERT INTO `out` SELECT id, user_id, amount * 10, sent FROM events WHERE amount >= 0"}
		start := time.Now()
		id, err := c.Deploy(ctx, job, "")
		if err != nil {
			b.Fatal(err)
		}
		cons, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(out),
			kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		if err != nil {
			b.Fatal(err)
		}
		var first time.Time
		seen := 0
		for seen < records && ctx.Err() == nil {
			cons.PollFetches(ctx).EachRecord(func(*kgo.Record) {
				if first.IsZero() {
					first = time.Now()
				}
				seen++
			})
		}
		last := time.Now()
		// Latency: 20 records/s for 15 s once the backlog is gone, each stamped when sent.
		var lat []time.Duration
		done := make(chan struct{})
		go func() {
			defer close(done)
			for j := 0; j < 300; j++ {
				produce(b, cl, in, records+j, records+j+1, true)
				time.Sleep(50 * time.Millisecond)
			}
		}()
		for len(lat) < 300 && ctx.Err() == nil {
			cons.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
				var v struct {
					Sent int64 `json:"sent"`
				}
				if json.Unmarshal(r.Value, &v) == nil && v.Sent > 0 {
					lat = append(lat, time.Since(time.Unix(0, v.Sent)))
				}
			})
		}
		<-done
		cons.Close()
		if _, err := c.StopWithSavepoint(ctx, id); err != nil {
			b.Fatal(err)
		}
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		b.ReportMetric(float64(records)/last.Sub(first).Seconds(), "records/s")
		b.ReportMetric(first.Sub(start).Seconds(), "s-deploy-to-first")
		b.ReportMetric(float64(lat[len(lat)/2].Milliseconds()), "ms-latency-p50")
		b.ReportMetric(float64(lat[len(lat)*95/100].Milliseconds()), "ms-latency-p95")
	}
}

func produce(b *testing.B, cl *kgo.Client, topic string, from, to int, stamp bool) {
	b.Helper()
	recs := make([]*kgo.Record, 0, to-from)
	for i := from; i < to; i++ {
		var sent int64
		if stamp {
			sent = time.Now().UnixNano()
		}
		recs = append(recs, &kgo.Record{Topic: topic,
			Value: []byte(fmt.Sprintf(`{"id": %d, "user_id": %d, "amount": %d, "sent": %d}`, i, i%1000, i%10, sent))})
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		b.Fatal(err)
	}
}
