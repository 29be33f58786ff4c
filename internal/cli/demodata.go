package cli

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/aiflow-dev/aiflow/fault"
	"github.com/aiflow-dev/aiflow/internal/config"
	"github.com/aiflow-dev/aiflow/internal/dataset"
	"github.com/aiflow-dev/aiflow/internal/objstore"
	"github.com/aiflow-dev/aiflow/internal/readers"
)

func init() {
	register(&command{name: "demo-data", summary: "write deterministic sample orders as Parquet (for make demo, examples and benchmarks)",
		new: func() any { return &demoDataCmd{} }})
}

type demoDataCmd struct {
	Out            string `name:"out" placeholder:"DIR" help:"output folder or s3:// prefix (required)"`
	Rows           int64  `name:"rows" default:"1000000" help:"number of orders"`
	Users          int64  `name:"users" default:"100000" help:"number of distinct users"`
	Seed           uint64 `name:"seed" default:"42" help:"random seed (same seed, same bytes)"`
	PartitionByDay bool   `name:"partition-by-day" help:"write Hive partitions dt=YYYY-MM-DD"`
	JSON           bool   `name:"json" help:"print what was written as a JSON object"`
}

// OrdersSchema is the schema of the sample orders.
var OrdersSchema = arrow.NewSchema([]arrow.Field{
	{Name: "order_id", Type: arrow.PrimitiveTypes.Int64},
	{Name: "user_id", Type: arrow.PrimitiveTypes.Int64},
	{Name: "item_id", Type: arrow.PrimitiveTypes.Int64},
	{Name: "amount", Type: arrow.PrimitiveTypes.Float64},
	{Name: "status", Type: arrow.BinaryTypes.String},
	{Name: "dt", Type: arrow.BinaryTypes.String},
}, nil)

var statuses = []string{"paid", "paid", "paid", "refunded", "cancelled", "pending"}

// ordersReader generates rows deterministically from seed, 64k rows per batch.
type ordersReader struct {
	rows, users, next int64
	rng               *rand.Rand
	cur               arrow.RecordBatch
	mem               memory.Allocator
	start             time.Time
}

func (r *ordersReader) Schema() *arrow.Schema          { return OrdersSchema }
func (r *ordersReader) RecordBatch() arrow.RecordBatch { return r.cur }
func (r *ordersReader) Record() arrow.RecordBatch      { return r.cur }
func (r *ordersReader) Err() error                     { return nil }
func (r *ordersReader) Retain()                        {}
func (r *ordersReader) Release() {
	if r.cur != nil {
		r.cur.Release()
		r.cur = nil
	}
}

func (r *ordersReader) Next() bool {
	r.Release()
	if r.next >= r.rows {
		return false
	}
	n := min(int64(64<<10), r.rows-r.next)
	b := array.NewRecordBuilder(r.mem, OrdersSchema)
	defer b.Release()
	oid := b.Field(0).(*array.Int64Builder)
	uid := b.Field(1).(*array.Int64Builder)
	iid := b.Field(2).(*array.Int64Builder)
	amt := b.Field(3).(*array.Float64Builder)
	st := b.Field(4).(*array.StringBuilder)
	dt := b.Field(5).(*array.StringBuilder)
	for i := int64(0); i < n; i++ {
		id := r.next + i
		oid.Append(id + 1)
		uid.Append(1 + r.rng.Int64N(r.users))
		iid.Append(1 + r.rng.Int64N(5000))
		amt.Append(float64(r.rng.IntN(50000)+100) / 100)
		st.Append(statuses[r.rng.IntN(len(statuses))])
		dt.Append(r.start.AddDate(0, 0, int(id*7/r.rows)).Format("2006-01-02"))
	}
	r.next += n
	r.cur = b.NewRecordBatch()
	return true
}

func (c *demoDataCmd) Run(e *Env) error {
	if c.Out == "" {
		return fault.Usagef("demo-data: --out DIR is required")
	}
	if c.Rows < 0 || c.Users < 1 {
		return fault.Usagef("demo-data: --rows must be ≥ 0 and --users ≥ 1")
	}
	cfg, err := config.LoadFrom(e.Ctx, lookuper(e.Lookup))
	if err != nil {
		return err
	}
	stOpts, err := cfg.StoreOptions()
	if err != nil {
		return err
	}
	st := objstore.New(stOpts)
	uri, err := readers.ResolveURI(st.Guard(), c.Out)
	if err != nil {
		return err
	}
	if err := st.DeletePrefix(e.Ctx, uri+"/"); err != nil {
		return err
	}
	rr := &ordersReader{rows: c.Rows, users: c.Users, rng: rand.New(rand.NewPCG(c.Seed, c.Seed^0x9e3779b97f4a7c15)), mem: memory.DefaultAllocator,
		start: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}
	opts := dataset.WriteOptions{Format: dataset.Parquet, FilePrefix: "orders", MaxRowsPerFile: 256 << 10}
	if c.PartitionByDay {
		opts.PartitionBy = []string{"dt"}
	}
	files, err := dataset.WriteFiles(e.Ctx, st, uri, rr, opts)
	if err != nil {
		return err
	}
	var bytes int64
	for _, f := range files {
		bytes += f.Bytes
	}
	if c.JSON {
		b, err := json.Marshal(map[string]any{"rows": c.Rows, "users": c.Users, "files": len(files), "bytes": bytes, "uri": uri})
		if err != nil {
			return err
		}
		fmt.Fprintf(e.Stdout, "%s\n", b)
		return nil
	}
	fmt.Fprintf(e.Stdout, "wrote %d orders of %d users in %d Parquet files (%s) under %s\n", c.Rows, c.Users, len(files), human(bytes), uri)
	return nil
}
