package arrowops

import (
	"context"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// ordersSchema is the main input of most tests.
var ordersSchema = arrow.NewSchema([]arrow.Field{
	{Name: "user_id", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	{Name: "item_id", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	{Name: "amount", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
	{Name: "status", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "dt", Type: arrow.FixedWidthTypes.Date32, Nullable: true},
	{Name: "qty", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
}, nil)

// ordersBatches are three batches, to prove that operators work across batch boundaries.
var ordersBatches = []string{
	`[{"user_id":1,"item_id":10,"amount":50,"status":"paid","dt":"2024-01-05","qty":1},
	  {"user_id":2,"item_id":11,"amount":150,"status":"paid","dt":"2024-02-01","qty":2},
	  {"user_id":1,"item_id":10,"amount":-5,"status":"refund","dt":"2024-01-06","qty":1}]`,
	`[{"user_id":3,"item_id":12,"amount":20,"status":"open","dt":"2023-12-31","qty":null},
	  {"user_id":1,"item_id":13,"amount":100,"status":"paid","dt":"2024-03-01","qty":3},
	  {"user_id":null,"item_id":14,"amount":7.5,"status":"paid","dt":"2024-01-10","qty":1}]`,
	`[{"user_id":2,"item_id":11,"amount":null,"status":"paid","dt":"2024-02-02","qty":5},
	  {"user_id":4,"item_id":15,"amount":30,"status":null,"dt":"2024-04-01","qty":2}]`,
}

var usersSchema = arrow.NewSchema([]arrow.Field{
	{Name: "user_id", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
	{Name: "name", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "amount", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
}, nil)

var usersBatches = []string{
	`[{"user_id":1,"name":"ann","amount":1},{"user_id":2,"name":"bob","amount":2}]`,
	`[{"user_id":2,"name":"bob2","amount":3},{"user_id":null,"name":"nobody","amount":4},{"user_id":5,"name":"eve","amount":5}]`,
}

func reader(t testing.TB, mem memory.Allocator, schema *arrow.Schema, batches []string) array.RecordReader {
	t.Helper()
	recs := make([]arrow.RecordBatch, 0, len(batches))
	for _, b := range batches {
		rec, _, err := array.RecordFromJSON(mem, schema, strings.NewReader(b))
		if err != nil {
			t.Fatalf("RecordFromJSON: %v", err)
		}
		recs = append(recs, rec)
	}
	rr, err := array.NewRecordReader(schema, recs)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		r.Release()
	}
	return rr
}

// drain reads all batches and renders each row as "v1 | v2 | ...", nulls as "null".
func drain(t testing.TB, rr array.RecordReader) ([]string, error) {
	t.Helper()
	var rows []string
	for rr.Next() {
		rec := rr.RecordBatch()
		for i := range int(rec.NumRows()) {
			vals := make([]string, rec.NumCols())
			for c, col := range rec.Columns() {
				if col.IsNull(i) {
					vals[c] = "null"
				} else {
					vals[c] = col.ValueStr(i)
				}
			}
			rows = append(rows, strings.Join(vals, " | "))
		}
	}
	return rows, rr.Err()
}

func schemaString(s *arrow.Schema) string {
	parts := make([]string, s.NumFields())
	for i, f := range s.Fields() {
		parts[i] = f.Name + ":" + f.Type.String()
	}
	return strings.Join(parts, ", ")
}

// run compiles steps (JSON) against orders (main) and users, and runs them.
func run(t *testing.T, mem memory.Allocator, stepsJSON string, orders, users []string) (*Plan, []string, error) {
	t.Helper()
	steps, err := DecodeSteps([]byte(stepsJSON))
	if err != nil {
		t.Fatalf("DecodeSteps: %v", err)
	}
	p, err := Compile(steps, map[string]*arrow.Schema{"orders": ordersSchema, "users": usersSchema}, "orders")
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	or := reader(t, mem, ordersSchema, orders)
	defer or.Release()
	ur := reader(t, mem, usersSchema, users)
	defer ur.Release()
	out, err := p.Run(context.Background(), map[string]array.RecordReader{"orders": or, "users": ur}, mem)
	if err != nil {
		return p, nil, err
	}
	defer out.Release()
	if !out.Schema().Equal(p.Schema()) {
		t.Errorf("reader schema %s != plan schema %s", out.Schema(), p.Schema())
	}
	rows, err := drain(t, out)
	return p, rows, err
}
