//go:build !nospark

package spark

import (
	"errors"
	"strings"
	"unicode/utf8"

	"github.com/apache/spark-connect-go/spark/sparkerrors"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/aiflow-dev/aiflow/fault"
)

// maxMessage bounds Spark's message in an error (plans can be long).
const maxMessage = 4000

// Classify gives an error from spark-connect-go its fault class:
//
//   - the server unreachable, a deadline, the server restarted or lost the session, resources
//     exhausted: fault.Temporary naming the remote (exit 75, Airflow retries);
//   - a SQL syntax error, a missing table or column, a bad cast, any error Spark reports with a
//     user-facing SQLSTATE: fault.Data with Spark's own message (exit 65, no retry);
//   - authentication or permission refused: fault.Config (exit 78);
//   - anything else Spark raised without a SQLSTATE (executor lost, OOM): fault.Temporary.
//
// An error that already has a class keeps it.
func Classify(err error, remote string) error {
	if err == nil {
		return nil
	}
	if fault.IsCancel(err) {
		return fault.Wrap(fault.Temporary, err, "Spark Connect %s", remote)
	}
	if fault.Classified(err) {
		return err
	}
	var se *sparkerrors.SparkError
	if errors.As(err, &se) && se != nil {
		return classifySpark(err, se, remote)
	}
	if errors.Is(err, sparkerrors.InvalidServerSideSessionError) {
		return fault.Wrap(fault.Temporary, err, "Spark Connect %s: the server-side session changed (server restarted?)", remote)
	}
	if st, ok := status.FromError(err); ok {
		if c := codeClass(st.Code()); c != 0 {
			return fault.Wrap(c, errors.New(st.Message()), "Spark Connect %s: %s", remote, st.Code())
		}
	}
	return err
}

func codeClass(c codes.Code) fault.Class {
	switch c {
	case codes.Unavailable, codes.DeadlineExceeded, codes.ResourceExhausted, codes.Aborted, codes.Canceled:
		return fault.Temporary
	case codes.Unauthenticated, codes.PermissionDenied:
		return fault.Config
	case codes.InvalidArgument, codes.NotFound, codes.AlreadyExists, codes.FailedPrecondition, codes.OutOfRange:
		return fault.Data
	}
	return 0
}

// Session-level error classes of Spark Connect that mean "the server forgot us".
var sessionLost = []string{"INVALID_HANDLE", "SESSION_CLOSED", "SESSION_NOT_FOUND", "SESSION_CHANGED", "INVALID_CURSOR"}

// deltaConflicts are Delta Lake's optimistic-concurrency conflicts (SQLSTATE 2D521): this commit
// lost to a concurrent one.
var deltaConflicts = []string{"DELTA_CONCURRENT_", "DELTA_PROTOCOL_CHANGED", "DELTA_METADATA_CHANGED"}

func deltaConflict(se *sparkerrors.SparkError) bool {
	for _, c := range deltaConflicts {
		if strings.HasPrefix(se.ErrorClass, c) || strings.Contains(se.Message, "["+c) {
			return true
		}
	}
	return false
}

func classifySpark(err error, se *sparkerrors.SparkError, remote string) error {
	msg := strings.TrimSpace(se.Message)
	if msg == "" {
		msg = err.Error()
	}
	if len(msg) > maxMessage {
		cut := maxMessage
		for cut > 0 && !utf8.RuneStart(msg[cut]) { // never split a character
			cut--
		}
		msg = msg[:cut] + "…"
	}
	if missingFS(msg) {
		// The cluster lacks a file system (hadoop-aws for s3a://): a deployment fix, which no
		// retry brings.
		return fault.Wrap(fault.Config, errors.New(msg), "Spark Connect %s cannot open the path's file system (for s3a:// the cluster needs hadoop-aws and its S3 settings)", remote)
	}
	if deltaConflict(se) {
		// Another writer committed to the same Delta table first (two attempts of one node, a
		// second pipeline): Delta's optimistic concurrency refused this commit. A retry sees the
		// winner's commit (the node's own ledger makes it a no-op) or commits after it.
		return fault.Wrap(fault.Temporary, errors.New(msg), "spark (%s): a concurrent Delta commit", remote)
	}
	for _, s := range sessionLost {
		if strings.Contains(se.ErrorClass, s) || strings.Contains(se.Message, s) {
			return fault.Wrap(fault.Temporary, errors.New(msg), "Spark Connect %s lost the session (server restarted?)", remote)
		}
	}
	if c := codeClass(se.Code); c != 0 && se.SqlState == "" {
		return fault.Wrap(c, errors.New(msg), "Spark Connect %s: %s", remote, se.Code)
	}
	if se.SqlState == "42501" { // insufficient privilege: the deployment's grants, not the data
		return fault.Wrap(fault.Config, errors.New(msg), "spark")
	}
	if se.SqlState != "" && !systemState(se.SqlState) {
		return fault.Wrap(fault.Data, errors.New(msg), "spark")
	}
	return fault.Wrap(fault.Temporary, errors.New(msg), "spark (%s)", remote)
}

// systemState reports SQLSTATE classes about the system rather than the query: connection (08),
// transaction rollback (40), insufficient resources (53), operator intervention (57), system
// error (58), internal (XX).
func systemState(s string) bool {
	for _, p := range []string{"08", "40", "53", "57", "58", "XX"} {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// missingFS: Spark's answer when the cluster has no file system for a URI scheme.
func missingFS(msg string) bool {
	return strings.Contains(msg, "No FileSystem for scheme") || strings.Contains(msg, "UnsupportedFileSystemException") ||
		strings.Contains(msg, "S3AFileSystem not found")
}
