package flink

import (
	"strings"
	"unicode/utf8"

	"github.com/aiflow-dev/aiflow/fault"
)

// maxMessage bounds Flink's message in an error (a plan or a stack can be long).
const maxMessage = 2000

// dataCauses are exceptions that mean the statement or its data is wrong: retrying cannot help.
var dataCauses = []string{
	"org.apache.flink.table.api.ValidationException",
	"org.apache.flink.table.api.SqlParserException",
	"org.apache.flink.sql.parser.error.SqlValidateException",
	"org.apache.calcite.sql.validate.SqlValidatorException",
	"org.apache.calcite.runtime.CalciteContextException",
	"org.apache.flink.table.api.TableException: Unsupported",
	"org.apache.flink.formats.json.JsonParseException",
	"Failed to deserialize JSON",
	"java.lang.NumberFormatException",
	"java.lang.ArithmeticException",
	"org.apache.flink.table.api.TableRuntimeException",
	// A streaming query whose result updates (a GROUP BY without a window) into an append-only
	// sink: the plan, not the cluster, is wrong.
	"doesn't support consuming update changes",
}

// classifyGateway gives a gateway error its fault class:
//
//   - the statement does not parse or validate, or its data cannot be read (a JSON value that
//     does not decode, a bad cast): fault.Data with Flink's root cause (exit 65, no retry);
//   - a session or operation the gateway no longer knows (the gateway restarted), a job that
//     failed for any other reason (a TaskManager lost, no slot free in time), the gateway or the
//     cluster overloaded: fault.Temporary (exit 75, Airflow retries);
//   - 4xx answers to a request aiflow built: fault.Internal (a bug of this client).
func classifyGateway(status int, errs []string, base string) error {
	e := &ErrGateway{Status: status, Causes: causes(errs)}
	text := strings.Join(errs, "\n")
	for _, c := range dataCauses {
		if strings.Contains(text, c) {
			return fault.Wrap(fault.Data, e, "flink")
		}
	}
	switch {
	case strings.Contains(text, "Session") && strings.Contains(text, "does not exist"),
		strings.Contains(text, "Can not find the submitted operation"):
		return fault.Wrap(fault.Temporary, e, "flink gateway %s lost the session (restarted?)", base)
	case status == 404 || status == 400 || status == 405:
		return fault.Wrap(fault.Internal, e, "flink gateway %s: HTTP %d", base, status)
	}
	return fault.Wrap(fault.Temporary, e, "flink gateway %s", base)
}

// causes extracts the exception lines of Flink's error strings: the message of each error and
// every "Caused by:" of its stack trace, cut to maxMessage.
func causes(errs []string) []string {
	var out []string
	for _, e := range errs {
		for i, line := range strings.Split(e, "\n") {
			line = strings.TrimSpace(line)
			switch {
			case strings.HasPrefix(line, "Caused by: "):
				out = append(out, cut(strings.TrimPrefix(line, "Caused by: ")))
			case i == 0 && line != "" && line != "Internal server error.":
				out = append(out, cut(line))
			case strings.HasPrefix(line, "org.apache.flink.") && strings.Contains(line, "Exception") && len(out) == 0:
				out = append(out, cut(line))
			}
		}
	}
	return out
}

func cut(s string) string {
	if len(s) <= maxMessage {
		return s
	}
	n := maxMessage
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
