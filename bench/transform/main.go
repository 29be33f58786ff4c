// Command transform runs one node of a pipeline exactly as `aiflow-runner run` does, with CPU
// and allocation profiles around it: how bench/transform's notes were taken.
//
//	go run ./bench/transform -ir p.yaml -pipeline bench -node agg -run-id r1 -cpuprofile cpu.pprof -memprofile mem.pprof
//
// The node's inputs must be committed first (run the upstream nodes with the same run id).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"

	"github.com/aiflow-dev/aiflow/internal/cli"
	"github.com/aiflow-dev/aiflow/plugin"
)

func main() {
	ir := flag.String("ir", "", "pipeline spec")
	pipeline := flag.String("pipeline", "", "pipeline id")
	node := flag.String("node", "", "node id")
	runID := flag.String("run-id", "", "run id whose inputs are committed")
	cpu := flag.String("cpuprofile", "", "write a CPU profile here")
	mem := flag.String("memprofile", "", "write an allocation profile here")
	flag.Parse()
	if *cpu != "" {
		f, err := os.Create(*cpu)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	// The benchmark's entry point: like the runner's, it hands the process environment to the CLI as its lookup.
	code := cli.RunWith(&cli.Env{Ctx: context.Background(), Stdin: strings.NewReader(""), Stdout: os.Stdout, Stderr: os.Stderr,
		Registry: plugin.Default, Lookup: os.LookupEnv},
		[]string{"run", "--pipeline", *pipeline, "--node", *node, "--ir", *ir, "--run-id", *runID})
	if *cpu != "" {
		pprof.StopCPUProfile()
	}
	if *mem != "" {
		runtime.GC()
		f, err := os.Create(*mem)
		if err == nil {
			err = pprof.Lookup("allocs").WriteTo(f, 0)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	os.Exit(code)
}
