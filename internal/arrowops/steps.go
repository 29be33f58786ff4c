// Package arrowops implements the declarative transform steps of the arrow engine: filter,
// derive, select, drop, rename, cast, group_by, join, sort and limit over Arrow record batches.
//
// A transform is a list of steps applied in order to the node's main input. Compile type-checks
// the steps against the input schemas and computes the output schema before any data is read;
// Plan.Run then streams record batches through them.
//
// Semantics worth knowing:
//   - filter drops rows where the predicate is false or null (SQL).
//   - derive evaluates its expressions against the step's input, in key order; they cannot see
//     each other. A derived name that already exists replaces that column in place; a new name
//     is appended.
//   - group_by outputs the keys, in the order listed, then the aggregates ordered by output
//     name (YAML maps lose their order when decoded). Groups come out in first-seen order.
//     Null keys form their own group. With no keys it aggregates the whole input into one row.
//     sum of integers is int64 (overflow is a data error), of floats float64; avg is float64;
//     sum, avg, min and max of a group with only nulls are null; count(col) counts non-nulls.
//   - join builds a hash table from the whole right input (by convention the smaller
//     dimension side) and streams the left side through it. Keys match by value across integer
//     widths (and across utf8/large_utf8); null keys never match. Output: the left columns, then
//     the right columns except the keys; a right column whose name is taken gets the suffix
//     "_right". The right input is read as is: steps before the join do not apply to it.
//   - sort is stable, ascending unless the name has a "-" prefix, nulls last.
//   - Streaming: filter, derive, select, drop, rename, cast, join (probe side) and limit
//     process one batch at a time; group_by keeps one state per group (never the input) and
//     sort holds its whole input.
package arrowops

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/aiflow-dev/aiflow/fault"
	"github.com/aiflow-dev/aiflow/ir"
)

// Step is one transform step; exactly one field is set.
type Step struct {
	Filter  string            `json:"filter,omitempty"`
	Derive  map[string]string `json:"derive,omitempty"`
	Select  []string          `json:"select,omitempty"`
	Drop    []string          `json:"drop,omitempty"`
	Rename  map[string]string `json:"rename,omitempty"`
	Cast    map[string]string `json:"cast,omitempty"`
	GroupBy *GroupBy          `json:"group_by,omitempty"`
	Join    *Join             `json:"join,omitempty"`
	Sort    []string          `json:"sort,omitempty"`
	Limit   *int64            `json:"limit,omitempty"`
}

// GroupBy is a hash aggregation. Aggs maps an output column name to "fn(col)" or "count(*)".
type GroupBy struct {
	Keys []string          `json:"keys"`
	Aggs map[string]string `json:"aggs"`
}

// Join is a hash join of the main stream (left) with another input (right) on equally named
// key columns. How is "inner" (the default) or "left".
type Join struct {
	Right string   `json:"right"`
	On    []string `json:"on"`
	How   string   `json:"how,omitempty"`
}

// Kind names the step's operation ("filter", "group_by", ...); "" if none or several are set.
func (s Step) Kind() string {
	kinds := s.kinds()
	if len(kinds) != 1 {
		return ""
	}
	return kinds[0]
}

func (s Step) kinds() []string {
	var k []string
	if s.Filter != "" {
		k = append(k, "filter")
	}
	if s.Derive != nil {
		k = append(k, "derive")
	}
	if s.Select != nil {
		k = append(k, "select")
	}
	if s.Drop != nil {
		k = append(k, "drop")
	}
	if s.Rename != nil {
		k = append(k, "rename")
	}
	if s.Cast != nil {
		k = append(k, "cast")
	}
	if s.GroupBy != nil {
		k = append(k, "group_by")
	}
	if s.Join != nil {
		k = append(k, "join")
	}
	if s.Sort != nil {
		k = append(k, "sort")
	}
	if s.Limit != nil {
		k = append(k, "limit")
	}
	return k
}

// StepKinds lists the step operations.
var StepKinds = []string{"filter", "derive", "select", "drop", "rename", "cast", "group_by", "join", "sort", "limit"}

// Validate checks that exactly one operation is set.
func (s Step) Validate() error {
	switch k := s.kinds(); len(k) {
	case 1:
		return nil
	case 0:
		return fault.Configf("step has no operation (one of: %s)", strings.Join(StepKinds, ", "))
	default:
		return fault.Configf("step has several operations (%s); write one per step", strings.Join(k, ", "))
	}
}

// StepError is a problem with one step; Index is its position in the list (0-based), so that
// validate can point at the step's own line.
type StepError struct {
	Index int
	Kind  string // the step's operation, "" when it has none or several
	// Field, when set, is the part of the step the problem is in, as a path below the step
	// ("derive.total", "group_by.aggs.n", "cast.amount"): validate points at its own line.
	Field string
	Err   error
}

func (e *StepError) Error() string {
	if e.Kind == "" {
		return fmt.Sprintf("step %d: %v", e.Index+1, e.Err)
	}
	return fmt.Sprintf("step %d (%s): %v", e.Index+1, e.Kind, e.Err)
}

func (e *StepError) Unwrap() error { return e.Err }

// StepErrors is every problem found in a list of steps, in step order (a step may have several):
// validate reports them all at once, each at its own step's line, so a user fixes them in one
// round instead of one per run of validate.
type StepErrors []*StepError

func (e StepErrors) Error() string {
	msgs := make([]string, len(e))
	for i, se := range e {
		msgs[i] = se.Error()
	}
	return strings.Join(msgs, "; ")
}

// Unwrap lets errors.As find the first *StepError, for callers that place one problem.
func (e StepErrors) Unwrap() []error {
	out := make([]error, len(e))
	for i, se := range e {
		out[i] = se
	}
	return out
}

// stepErr is nil without problems, else the StepErrors as fault.Config.
func stepErr(errs StepErrors) error {
	if len(errs) == 0 {
		return nil
	}
	return fault.Wrap(fault.Config, errs, "")
}

// stepFields are the fields of the steps whose value is an object.
var stepFields = map[string][]string{"group_by": {"keys", "aggs"}, "join": {"right", "on", "how"}}

// checkStepKeys names every misspelt operation or field of step i with the nearest known one:
// the JSON decoder's own error says only `unknown field "filtr"`, not where nor what was meant.
func checkStepKeys(i int, raw json.RawMessage) StepErrors {
	var step map[string]json.RawMessage
	if json.Unmarshal(raw, &step) != nil {
		return nil // not an object: the strict decode says what is wrong
	}
	var errs StepErrors
	for _, k := range slices.Sorted(maps.Keys(step)) {
		if !slices.Contains(StepKinds, k) {
			errs = append(errs, &StepError{Index: i, Err: fmt.Errorf("unknown operation %q%s (one of: %s)", k, ir.Suggest(k, StepKinds), strings.Join(StepKinds, ", "))})
			continue
		}
		fields, ok := stepFields[k]
		if !ok {
			continue
		}
		var obj map[string]json.RawMessage
		if json.Unmarshal(step[k], &obj) != nil {
			continue
		}
		for _, f := range slices.Sorted(maps.Keys(obj)) {
			if !slices.Contains(fields, f) {
				errs = append(errs, &StepError{Index: i, Kind: k, Err: fmt.Errorf("unknown field %q%s (%s takes %s)", f, ir.Suggest(f, fields), k, strings.Join(fields, ", "))})
			}
		}
	}
	return errs
}

// decodeSteps decodes each step on its own, so that one broken step does not hide the others:
// ok[i] says whether steps[i] decoded and has exactly one operation; errs has every problem.
func decodeSteps(data []byte) (steps []Step, ok []bool, errs StepErrors, err error) {
	var raw []json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, nil, nil, fault.Wrap(fault.Config, err, "decode transform steps")
	}
	steps, ok = make([]Step, len(raw)), make([]bool, len(raw))
	for i, r := range raw {
		if kerrs := checkStepKeys(i, r); len(kerrs) > 0 {
			errs = append(errs, kerrs...)
			continue
		}
		dec := json.NewDecoder(bytes.NewReader(r))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&steps[i]); err != nil {
			errs = append(errs, &StepError{Index: i, Err: err})
			continue
		}
		if err := steps[i].Validate(); err != nil {
			errs = append(errs, &StepError{Index: i, Err: err})
			continue
		}
		ok[i] = true
	}
	return steps, ok, errs, nil
}

// DecodeSteps decodes a JSON list of steps strictly: an unknown field is an error, with the
// nearest known name. The error lists every broken step (StepErrors).
func DecodeSteps(data []byte) ([]Step, error) {
	steps, _, errs, err := decodeSteps(data)
	if err != nil {
		return nil, err
	}
	if len(errs) > 0 {
		return nil, stepErr(errs)
	}
	return steps, nil
}

// TypeNames lists the type names cast accepts. Timestamps take a unit (s, ms, us, ns) and an
// optional zone: "timestamp[us]", "timestamp[ms, UTC]".
var TypeNames = []string{
	"bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
	"float32", "float64", "string", "large_string", "date32",
	"timestamp[s]", "timestamp[ms]", "timestamp[us]", "timestamp[ns]",
}

var typeByName = map[string]arrow.DataType{
	"bool": arrow.FixedWidthTypes.Boolean, "boolean": arrow.FixedWidthTypes.Boolean,
	"int8": arrow.PrimitiveTypes.Int8, "int16": arrow.PrimitiveTypes.Int16,
	"int32": arrow.PrimitiveTypes.Int32, "int64": arrow.PrimitiveTypes.Int64,
	"uint8": arrow.PrimitiveTypes.Uint8, "uint16": arrow.PrimitiveTypes.Uint16,
	"uint32": arrow.PrimitiveTypes.Uint32, "uint64": arrow.PrimitiveTypes.Uint64,
	"float32": arrow.PrimitiveTypes.Float32, "float64": arrow.PrimitiveTypes.Float64,
	"double": arrow.PrimitiveTypes.Float64,
	"string": arrow.BinaryTypes.String, "utf8": arrow.BinaryTypes.String,
	"large_string": arrow.BinaryTypes.LargeString, "large_utf8": arrow.BinaryTypes.LargeString,
	"date32": arrow.FixedWidthTypes.Date32, "date": arrow.FixedWidthTypes.Date32,
	"binary": arrow.BinaryTypes.Binary, "large_binary": arrow.BinaryTypes.LargeBinary,
}

// ParseType resolves a type name of TypeNames.
func ParseType(name string) (arrow.DataType, error) {
	n := strings.ToLower(strings.TrimSpace(name))
	if t, ok := typeByName[n]; ok {
		return t, nil
	}
	if rest, ok := strings.CutPrefix(n, "timestamp["); ok && strings.HasSuffix(rest, "]") {
		unit, zone, _ := strings.Cut(strings.TrimSuffix(rest, "]"), ",")
		units := map[string]arrow.TimeUnit{"s": arrow.Second, "ms": arrow.Millisecond, "us": arrow.Microsecond, "ns": arrow.Nanosecond}
		if u, ok := units[strings.TrimSpace(unit)]; ok {
			// Zone names are case-sensitive: take them from the original text. Arrow's own
			// DataType.String() writes "timestamp[ms, tz=UTC]", so accept the tz= form too.
			if zone != "" {
				_, orig, _ := strings.Cut(name, ",")
				zone = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(orig), "]"))
				zone = strings.TrimPrefix(zone, "tz=")
			}
			return &arrow.TimestampType{Unit: u, TimeZone: zone}, nil
		}
	}
	return nil, fmt.Errorf("unknown type %q (known: %s)", name, strings.Join(TypeNames, ", "))
}
