// Package kafka holds the Kafka runtimes (github.com/twmb/franz-go): the source of kinds
// onestream and kafka, the kafka sink, and the hook that commits consumer-group offsets after the
// sinks committed. Reading a pinned range is Open (read.go), registered as the opener of
// Kafka manifests, so every Go-side consumer opens one through readers.Reader.
//
// # Source: a pinned, bounded range
//
// The source node copies nothing. It pins, per partition, [start, end): start is the consumer
// group's committed offset (group_id, default aiflow.<pipeline>.<node>), else starting_offsets
// (earliest, latest, timestamp:<ms>), never below the log start; end is the last stable offset at
// pin time (read-committed high watermark); max_records caps the total, shared evenly. The range,
// the brokers, the group and how to decode values (declared schema, or one inferred from the
// first 1000 records of the range, on_error, dead_letter) go into the KindKafka manifest, which
// the lifecycle commits. Consumers read exactly that range read-committed, so every attempt and
// every consumer sees the same records. Missing topic: fault.Config (78); no answer from the
// brokers within AdminTimeout: fault.Temporary (75).
//
// # Offsets: committed after the sinks
//
// CommitUpstreamOffsets runs after a sink's commit (plugin.OnCommitted): when every sink below a
// Kafka source has committed in the run, it commits the source's pinned end offsets for its group.
// The lifecycle runs the hook after a fresh commit and again when a retry finds the node already
// committed, so a pod that died between the sink commit and the offset commit is repaired by its
// retry, which is otherwise a no-op. The commit is idempotent and never moves a group backwards.
// Guarantee: the records of a range reach the sinks exactly once per run; the next run starts
// where the previous one's offsets were committed. Runs of one pipeline must not overlap (Airflow
// max_active_runs=1): a run pinned before the previous run committed its offsets reads the same
// records again.
//
// # Sink: one Kafka transaction per run
//
// The sink produces with an idempotent, transactional producer (acks=all), transactional id
// aiflow-<pipeline>-<node>-<run_id>: stable across the attempts of a run, so a new attempt's
// InitProducerID fences the previous attempt (its open transaction is aborted, or its commit
// completed, before the new attempt goes on, and its later writes fail). All rows of the run, plus
// one record keyed (pipeline, node, run_id) in the ledger topic aiflow.sink-ledger, are written in
// ONE transaction. A Kafka transaction and the metadata commit cannot be atomic, so a retry,
// after fencing, reads the ledger (read-committed, the last 7 days): if the run's record is there,
// an earlier attempt's transaction committed and the pod died before the metadata commit — the
// retry writes nothing and only records the commit. Guarantee: a consumer reading with
// isolation.level=read_committed sees each run's rows exactly once; read_uncommitted consumers may
// see the records of aborted attempts. Limits: one transaction per run, so a write must finish
// within TransactionTimeout (10 min; the broker caps it with transaction.max.timeout.ms); the
// runner needs rights to create (once) and write the ledger topic; re-running a run id whose
// ledger record exists writes nothing, even with a fresh metadata store.
//
// # Poison records
//
// A value that is not a JSON object or whose field does not fit its column is poison. on_error:
// fail stops the read with fault.Data (65) naming topic, partition and offset; on_error:
// dead_letter sets it aside and counts it (readers.Counter.DeadLetters): to kafka://topic
// (at least once across retries, with aiflow.source.topic/partition/offset headers to dedupe), or
// to a folder as NDJSON, one file per partition named by the pinned range (a retry rewrites the
// same files).
package kafka
