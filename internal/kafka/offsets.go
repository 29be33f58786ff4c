package kafka

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/aiflow-dev/aiflow/fault"
	"github.com/aiflow-dev/aiflow/internal/manifest"
	"github.com/aiflow-dev/aiflow/ir"
	"github.com/aiflow-dev/aiflow/plugin"
)

// CommitUpstreamOffsets is the after-commit hook (plugin.OnCommitted) of every sink: once every
// sink downstream of a Kafka source has committed in this run, it commits the source's pinned
// end offsets for the source's consumer group. It is idempotent (it commits the same offsets
// again), never moves a group backwards (a partition whose committed offset is already at or past
// the pinned end is left alone), and does nothing for non-sinks, replays without --publish and
// runs whose sources are not Kafka.
func CommitUpstreamOffsets(ctx context.Context, env *plugin.Env) error {
	if env.Node == nil || env.Node.Type != ir.Sink || !env.Publish || env.Meta == nil {
		return nil
	}
	p := env.Pipeline
	for _, src := range kafkaSourcesAbove(p, env.Node.ID) {
		c, err := env.Meta.LookupCommit(ctx, p.ID, env.RunID, src)
		if err != nil {
			return err
		}
		if c == nil {
			continue // the sink read another run's source (replay): that run commits its offsets
		}
		m, err := manifest.Unmarshal(c.Manifest)
		if err != nil {
			return err
		}
		if m.Kind != manifest.KindKafka || m.Kafka == nil {
			continue
		}
		waiting := ""
		for _, sink := range sinksBelow(p, src) {
			if sink == env.Node.ID {
				continue
			}
			sc, err := env.Meta.LookupCommit(ctx, p.ID, env.RunID, sink)
			if err != nil {
				return err
			}
			if sc == nil {
				waiting = sink
				break
			}
		}
		if waiting != "" {
			env.Log.Info("kafka offsets wait for another sink of the source", "source", src, "sink", waiting)
			continue
		}
		n, err := CommitRange(ctx, m.Kafka)
		if err != nil {
			return fmt.Errorf("commit the offsets read by %s (group %s): %w", src, m.Kafka.Group, err)
		}
		env.Log.Info("committed kafka offsets", "source", src, "topic", m.Kafka.Topic, "group", m.Kafka.Group, "partitions", n)
	}
	return nil
}

// CommitRange commits the end offsets of a pinned range for its group, skipping partitions whose
// committed offset is already at or past the end. It returns how many partitions it committed.
func CommitRange(ctx context.Context, kr *manifest.KafkaRange) (int, error) {
	cl, adm, err := newAdmin(kr.Brokers)
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, AdminTimeout)
	defer cancel()
	cur, err := retriable(ctx, func() (kadm.OffsetResponses, error) { return adm.FetchOffsets(ctx, kr.Group) })
	if err != nil && !errors.Is(err, kerr.GroupIDNotFound) {
		return 0, classifyAdmin(ctx, err, "fetch committed offsets")
	}
	var os kadm.Offsets
	for _, p := range kr.Partitions {
		if c, ok := cur.Lookup(kr.Topic, p.Partition); ok && c.Err == nil && c.At >= p.End {
			continue
		}
		os.AddOffset(kr.Topic, p.Partition, p.End, -1)
	}
	if len(os) == 0 {
		return 0, nil
	}
	_, err = retriable(ctx, func() (kadm.OffsetResponses, error) {
		resp, err := adm.CommitOffsets(ctx, kr.Group, os)
		if err == nil {
			err = resp.Error()
		}
		return resp, err
	})
	if err != nil {
		if errors.Is(err, kerr.UnknownMemberID) || errors.Is(err, kerr.IllegalGeneration) || errors.Is(err, kerr.RebalanceInProgress) {
			return 0, fault.Wrap(fault.Config, err, "group %s has active members: an aiflow source needs a group of its own", kr.Group)
		}
		return 0, classifyAdmin(ctx, err, "commit offsets")
	}
	n := 0
	for _, ps := range os {
		n += len(ps)
	}
	return n, nil
}

func classifyAdmin(ctx context.Context, err error, what string) error {
	if ctx.Err() != nil {
		return fault.Wrap(fault.Temporary, err, "kafka %s: no answer within %s", what, AdminTimeout)
	}
	if fault.Classified(err) {
		return err
	}
	return wrapKafka(err, "kafka %s", what)
}

// kafkaSourcesAbove lists the Kafka sources (onestream, kafka) among the ancestors of a node.
func kafkaSourcesAbove(p *ir.Pipeline, id string) []string {
	var out []string
	seen := map[string]bool{}
	var walk func(string)
	walk = func(id string) {
		n := p.Nodes[id]
		if n == nil {
			return
		}
		for _, in := range n.InputIDs {
			if seen[in] {
				continue
			}
			seen[in] = true
			if up := p.Nodes[in]; up != nil && up.Type == ir.Source && (up.Kind() == "onestream" || up.Kind() == "kafka") {
				out = append(out, in)
			}
			walk(in)
		}
	}
	walk(id)
	slices.Sort(out)
	return out
}

// sinksBelow lists the sinks among the descendants of a node.
func sinksBelow(p *ir.Pipeline, id string) []string {
	var out []string
	seen := map[string]bool{}
	var walk func(string)
	walk = func(id string) {
		for _, d := range p.Downstream(id) {
			if seen[d] {
				continue
			}
			seen[d] = true
			if n := p.Nodes[d]; n != nil && n.Type == ir.Sink {
				out = append(out, d)
			}
			walk(d)
		}
	}
	walk(id)
	slices.Sort(out)
	return out
}
