//go:build !nospark

// Command sampledata creates the sample table of the user_features example, raw.sales_orders
// (partitioned by dt, 2024-01-01 … 2024-01-03), on a Spark Connect server:
//
//	go run ./examples/user_features/sampledata                   # remote from AIFLOW_SPARK_REMOTE
//	go run ./examples/user_features/sampledata --format delta    # when the server has Delta Lake
package main

import (
	"context"
	_ "embed"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/aiflow-dev/aiflow/fault"
	"github.com/aiflow-dev/aiflow/internal/spark"
)

//go:embed sample_data.sql
var script string

func main() {
	remote := flag.String("remote", os.Getenv("AIFLOW_SPARK_REMOTE"), "Spark Connect remote sc://host:port")
	format := flag.String("format", "parquet", "table format: parquet or delta")
	flag.Parse()
	if err := run(*remote, *format); err != nil {
		fmt.Fprintln(os.Stderr, "sampledata:", err)
		os.Exit(fault.ExitCode(err))
	}
}

func run(remote, format string) error {
	if remote == "" {
		return fault.Configf("no remote: pass --remote sc://host:port or set AIFLOW_SPARK_REMOTE")
	}
	ctx := context.Background()
	s, err := spark.Connect(ctx, spark.Options{Remote: remote, ConnectTimeout: 30 * time.Second})
	if err != nil {
		return err
	}
	defer s.Close()
	if format != "parquet" && format != "delta" {
		return fault.Configf("--format %q: want parquet or delta", format)
	}
	if err := s.Exec(ctx, spark.Statements(strings.ReplaceAll(script, "{{format}}", format))...); err != nil {
		return err
	}
	fmt.Printf("created raw.sales_orders (%s) on %s\n", format, spark.Redact(remote))
	return nil
}
