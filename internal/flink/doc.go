// Package flink is the flink engine: Flink SQL over a node's inputs, run on a Flink session
// cluster through the cluster's SQL Gateway.
//
// # Why the SQL Gateway and not the JobManager REST API
//
// The JobManager's REST API runs jobs that are already compiled: it takes a jar (or a JobGraph)
// and has no SQL planner. Submitting SQL through it would mean shipping a Java program that
// embeds Flink's table planner, built and versioned next to the runner. The SQL Gateway is the
// cluster's own SQL front end: its REST API (v1: open a session, submit a statement, poll the
// operation's result pages, close) plans the statement with the cluster's own planner and
// connectors and submits the job to the JobManager; temporary tables declared in a session are
// the node's inputs, and `STOP JOB ... WITH SAVEPOINT`, `SHOW JOBS` and
// `SET 'execution.savepoint.path'` cover a job's lifecycle. The runner stays a static Go
// binary speaking JSON over HTTP, and the cluster, not the runner, decides which connector
// jars exist. The JobManager REST API (port `rest.port`) remains what an operator reads for
// job states and checkpoints.
//
// # A batch node
//
// The engine opens a gateway session in batch mode (`execution.runtime-mode: batch`,
// `table.dml-sync: true`, so an INSERT returns when its job finished and a failed job is the
// statement's error), declares each input as a temporary table named by its node id, runs
// the node's SQL into a filesystem table in the attempt's staging folder (JSON: the Flink
// distribution carries no Parquet format), and the runner turns that into the staged Parquet
// output every engine commits, checking the node's data contract on the way. Inputs:
//
//   - kafka and onestream sources: Flink's Kafka connector reading exactly the offsets the
//     source node pinned (`scan.startup.mode` and `scan.bounded.mode` `specific-offsets`,
//     read_committed), JSON values with the pinned schema, plus the `partition`, `offset`
//     and `timestamp` metadata columns;
//   - every other input the runner can open (files of any format, onelake Delta tables,
//     upstream outputs): the pinned rows handed over as JSON files in the attempt's staging
//     folder, read by Flink's filesystem connector.
//
// The cluster must see the staging folder at the same path (file:// staging on a shared
// volume); s3:// staging needs Flink's S3 file system plugin on the cluster, which the test
// distribution does not carry, and is refused with exit 78.
package flink
