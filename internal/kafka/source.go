package kafka

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/aiflow-dev/aiflow/fault"
	"github.com/aiflow-dev/aiflow/internal/config"
	"github.com/aiflow-dev/aiflow/internal/manifest"
	"github.com/aiflow-dev/aiflow/internal/readers"
	"github.com/aiflow-dev/aiflow/plugin"
)

// AdminTimeout bounds each round of metadata calls (pin, offset commit, topic checks): an
// unreachable cluster fails within it as fault.Temporary.
var AdminTimeout = 15 * time.Second

// InferSample is how many records of a range a source reads to infer the value schema.
const InferSample = 1000

// Source pins a bounded range of a topic (kinds onestream and kafka).
type Source struct{}

// Brokers returns the configured brokers, else AIFLOW_KAFKA_BROKERS; none is a config error.
func Brokers(params []string, cfg *config.Config) ([]string, error) {
	var out []string
	for _, b := range params {
		for _, s := range strings.Split(b, ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
	}
	if len(out) == 0 && cfg != nil {
		out = append(out, cfg.KafkaBrokers...)
	}
	if len(out) == 0 {
		return nil, fault.Configf("no Kafka brokers: set brokers in the node or AIFLOW_KAFKA_BROKERS")
	}
	return out, nil
}

// DefaultGroup is the consumer group of a source node when group_id is not set.
func DefaultGroup(pipeline, node string) string { return "aiflow." + pipeline + "." + node }

// newAdmin opens a client for metadata and offset calls.
func newAdmin(brokers []string, extra ...kgo.Opt) (*kgo.Client, *kadm.Client, error) {
	cl, err := kgo.NewClient(append(ClientOpts(brokers), extra...)...)
	if err != nil {
		return nil, nil, fault.Wrap(fault.Config, err, "kafka client for %s", strings.Join(brokers, ","))
	}
	return cl, kadm.NewClient(cl), nil
}

// checkTopic fails with fault.Config when the topic does not exist and fault.Temporary when the
// cluster does not answer within AdminTimeout. It returns the topic's partitions.
func checkTopic(ctx context.Context, adm *kadm.Client, brokers []string, topic string) ([]int32, error) {
	d, err := describeTopic(ctx, adm, brokers, topic)
	if err != nil {
		return nil, err
	}
	ps := d.Partitions.Numbers()
	sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
	return ps, nil
}

// topicID is a topic's id as pins record it: a topic deleted and created again under the same
// name has a new id, and its offsets name other records.
func topicID(d kadm.TopicDetail) string {
	if d.ID == (kadm.TopicID{}) {
		return ""
	}
	return d.ID.String()
}

// describeTopic is the topic's metadata; a missing topic is configuration.
func describeTopic(ctx context.Context, adm *kadm.Client, brokers []string, topic string) (kadm.TopicDetail, error) {
	tctx, cancel := context.WithTimeout(ctx, AdminTimeout)
	defer cancel()
	td, err := adm.ListTopics(tctx, topic)
	if err != nil {
		if tctx.Err() != nil && ctx.Err() == nil {
			return kadm.TopicDetail{}, fault.Wrap(fault.Temporary, err, "kafka brokers %s: no answer within %s", strings.Join(brokers, ","), AdminTimeout)
		}
		return kadm.TopicDetail{}, Classify(err, "kafka brokers %s: list topic %s", strings.Join(brokers, ","), topic)
	}
	d, ok := td[topic]
	if !ok || errors.Is(d.Err, kerr.UnknownTopicOrPartition) {
		return d, fault.Configf("kafka topic %s does not exist on %s", topic, strings.Join(brokers, ","))
	}
	if d.Err != nil {
		return d, Classify(d.Err, "kafka topic %s", topic)
	}
	return d, nil
}

// Pin resolves the range: per partition, start at the group's committed offset (else
// starting_offsets), end at the last stable offset now; max_records caps the total.
func (Source) Pin(ctx context.Context, env *plugin.Env, cfg *SourceConfig) (*plugin.Output, error) {
	brokers, err := Brokers(cfg.Brokers, env.Config)
	if err != nil {
		return nil, err
	}
	group := cfg.GroupID
	if group == "" {
		group = DefaultGroup(env.Pipeline.ID, env.Node.ID)
	}
	cl, adm, err := newAdmin(brokers)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	kr, err := PinRange(ctx, adm, brokers, cfg.Topic, group, cfg.StartingOffsets, cfg.MaxRecords)
	if err != nil {
		return nil, err
	}
	spec := ValueSpec{ValueFormat: cfg.ValueFormat, OnError: cfg.OnError, DeadLetter: cfg.DeadLetter}
	m := &manifest.Manifest{Kind: manifest.KindKafka, Kafka: kr, Dataset: DatasetRef(brokers, cfg.Topic)}
	for _, p := range kr.Partitions {
		m.Rows += p.End - p.Start
	}
	if cfg.ValueFormat == "json" {
		if len(cfg.Schema) > 0 {
			names := make([]string, 0, len(cfg.Schema))
			for k := range cfg.Schema {
				names = append(names, k)
			}
			sort.Strings(names)
			for _, k := range names {
				spec.Fields = append(spec.Fields, ValueField{Name: k, Field: k, Type: cfg.Schema[k]})
			}
		} else if m.Rows > 0 {
			sctx, cancel := context.WithTimeout(ctx, 2*AdminTimeout)
			sample, err := Sample(sctx, &manifest.Manifest{Node: env.Node.ID, Kafka: kr}, InferSample)
			cancel()
			if err != nil {
				return nil, fmt.Errorf("infer the value schema of %s: %w", cfg.Topic, err)
			}
			spec.Fields, spec.Inferred = InferFields(sample), true
		}
	}
	schema, err := Schema(&spec)
	if err != nil {
		return nil, err
	}
	m.Schema = readers.Fields(schema)
	m.Details = map[string]any{Detail: spec}
	env.Log.Info("pinned kafka range", "topic", cfg.Topic, "group", group, "partitions", len(kr.Partitions), "offsets", m.Rows, "inferred_schema", spec.Inferred)
	return &plugin.Output{Manifest: m}, nil
}

// DatasetRef names a topic the OpenLineage way: namespace kafka://first-broker, name the topic.
func DatasetRef(brokers []string, topic string) *manifest.DatasetRef {
	return &manifest.DatasetRef{Namespace: "kafka://" + brokers[0], Name: topic}
}

// PinRange computes the pinned range of a topic for a group.
func PinRange(ctx context.Context, adm *kadm.Client, brokers []string, topic, group, starting string, maxRecords int64) (*manifest.KafkaRange, error) {
	td, err := describeTopic(ctx, adm, brokers, topic)
	if err != nil {
		return nil, err
	}
	parts := td.Partitions.Numbers()
	sort.Slice(parts, func(i, j int) bool { return parts[i] < parts[j] })
	ctx, cancel := context.WithTimeout(ctx, AdminTimeout)
	defer cancel()
	wrap := func(err error, what string) error {
		if ctx.Err() != nil {
			return fault.Wrap(fault.Temporary, err, "kafka %s of %s: no answer within %s", what, topic, AdminTimeout)
		}
		return Classify(err, "kafka %s of %s", what, topic)
	}
	ends, err := adm.ListCommittedOffsets(ctx, topic) // read-committed: the last stable offsets
	if err != nil {
		return nil, wrap(err, "end offsets")
	}
	lows, err := adm.ListStartOffsets(ctx, topic)
	if err != nil {
		return nil, wrap(err, "start offsets")
	}
	committed, err := retriable(ctx, func() (kadm.OffsetResponses, error) { return adm.FetchOffsets(ctx, group) })
	if err != nil && !errors.Is(err, kerr.GroupIDNotFound) {
		return nil, wrap(err, "committed offsets of group "+group)
	}
	var fallback kadm.ListedOffsets
	switch {
	case starting == "latest":
		fallback = ends
	case strings.HasPrefix(starting, "timestamp:"):
		ms, perr := strconv.ParseInt(strings.TrimPrefix(starting, "timestamp:"), 10, 64)
		if perr != nil {
			return nil, fault.Configf("starting_offsets %q: want timestamp:<unix ms>", starting)
		}
		if fallback, err = adm.ListOffsetsAfterMilli(ctx, ms, topic); err != nil {
			return nil, wrap(err, "offsets after "+starting)
		}
	default:
		fallback = lows
	}
	kr := &manifest.KafkaRange{Topic: topic, TopicID: topicID(td), Brokers: brokers, Group: group}
	for _, p := range parts {
		end, ok := ends.Lookup(topic, p)
		if !ok || end.Err != nil {
			return nil, wrap(errOr(end.Err, "no end offset"), fmt.Sprintf("end offset of partition %d", p))
		}
		low, _ := lows.Lookup(topic, p)
		start := int64(-1)
		if c, ok := committed.Lookup(topic, p); ok && c.Err == nil && c.At >= 0 {
			start = c.At
		} else if f, ok := fallback.Lookup(topic, p); ok && f.Err == nil && f.Offset >= 0 {
			start = f.Offset
		} else {
			start = end.Offset
		}
		if low.Err == nil && start < low.Offset {
			start = low.Offset // records before it are gone (retention): nothing else to read
		}
		if start > end.Offset {
			start = end.Offset
		}
		kr.Partitions = append(kr.Partitions, manifest.PartitionRange{Partition: p, Start: start, End: end.Offset})
	}
	capRange(kr, maxRecords)
	return kr, nil
}

func errOr(err error, msg string) error {
	if err != nil {
		return err
	}
	return errors.New(msg)
}

// capRange limits the total offsets of a range to max, shared evenly between partitions (a
// partition with fewer leaves its share to the others).
func capRange(kr *manifest.KafkaRange, max int64) {
	if max <= 0 {
		return
	}
	var total int64
	for _, p := range kr.Partitions {
		total += p.End - p.Start
	}
	if total <= max {
		return
	}
	alloc := make([]int64, len(kr.Partitions))
	left := max
	for left > 0 {
		open := 0
		for i, p := range kr.Partitions {
			if alloc[i] < p.End-p.Start {
				open++
			}
		}
		if open == 0 {
			break
		}
		share := left / int64(open)
		if share == 0 {
			share = 1
		}
		for i, p := range kr.Partitions {
			if left == 0 {
				break
			}
			room := p.End - p.Start - alloc[i]
			if room <= 0 {
				continue
			}
			n := min(share, room, left)
			alloc[i] += n
			left -= n
		}
	}
	for i := range kr.Partitions {
		kr.Partitions[i].End = kr.Partitions[i].Start + alloc[i]
	}
}
