// Command copy measures a streaming Parquet → Parquet copy in its own process: rows/s and peak
// RSS (VmHWM from /proc/self/status). `copy -gen DIR -rows N` writes the input first.
//
//	go run ./bench/dataset/copy -gen /tmp/in -rows 10000000
//	go run ./bench/dataset/copy /tmp/in /tmp/out
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	benchdataset "github.com/aiflow-dev/aiflow/bench/dataset"
	"github.com/aiflow-dev/aiflow/internal/config"
	"github.com/aiflow-dev/aiflow/internal/dataset"
	"github.com/aiflow-dev/aiflow/internal/objstore"
)

func main() {
	gen := flag.String("gen", "", "generate the input into this folder URI and exit")
	rows := flag.Int64("rows", 10_000_000, "rows to generate")
	rowGroup := flag.Int64("rowgroup", 0, "Parquet row group rows (0: the writer's default)")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile to this file")
	flag.Parse()
	// A benchmark tool, not the runner: the profile's path comes from its caller's environment.
	if p := os.Getenv("AIFLOW_BENCH_HEAPPROFILE"); p != "" {
		go func() {
			time.Sleep(4 * time.Second)
			if f, err := os.Create(p); err == nil {
				pprof.WriteHeapProfile(f)
				f.Close()
			}
		}()
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err == nil {
			pprof.StartCPUProfile(f)
			defer pprof.StopCPUProfile()
		}
	}
	ctx := context.Background()
	// A benchmark tool, not the runner: the configuration of the environment it runs in.
	cfg, err := config.Load(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	opts, err := cfg.StoreOptions()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	st := objstore.New(opts)
	start := time.Now()
	if *gen != "" {
		rr := benchdataset.Rows(memory.DefaultAllocator, *rows)
		files, err := dataset.WriteFiles(ctx, st, *gen, rr, dataset.WriteOptions{})
		rr.Release()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		report("generate", *rows, files, start)
		return
	}
	if flag.NArg() != 2 {
		fmt.Fprintln(os.Stderr, "usage: copy [-gen DIR -rows N] | SRC DST")
		os.Exit(64)
	}
	ds, err := dataset.Open(ctx, st, flag.Arg(0), dataset.ReadOptions{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	rr, err := ds.Reader(ctx, memory.DefaultAllocator)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	files, err := dataset.WriteFiles(ctx, st, flag.Arg(1), rr, dataset.WriteOptions{RowGroupRows: *rowGroup})
	rr.Release()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	var n int64
	for _, f := range files {
		n += f.Rows
	}
	report("copy", n, files, start)
}

func report(what string, rows int64, files []dataset.WrittenFile, start time.Time) {
	d := time.Since(start)
	var bytes int64
	for _, f := range files {
		bytes += f.Bytes
	}
	fmt.Printf("%s: %d rows, %d files, %.1f MB written, %.2fs, %.2f M rows/s, peak RSS %s\n",
		what, rows, len(files), float64(bytes)/1e6, d.Seconds(), float64(rows)/d.Seconds()/1e6, vmHWM())
}

// vmHWM is the peak resident set size of this process.
func vmHWM() string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "n/a"
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmHWM:") {
			return strings.Join(strings.Fields(strings.TrimPrefix(l, "VmHWM:")), " ")
		}
	}
	return "n/a"
}
