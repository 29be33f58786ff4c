//go:build !nospark

// Command sampledata creates the sample table of the user_features example, raw.sales_orders
// (partitioned by dt, 2024-01-01 … 2024-01-03), on a Spark Connect server with Delta Lake:
//
//	go run ./examples/user_features/sampledata                   # remote from AIFLOW_SPARK_REMOTE
//	go run ./examples/user_features/sampledata --format parquet  # a Spark catalog table instead
//
// The Delta table lands at <lake root>/raw/sales_orders (AIFLOW_LAKE_ROOT, default
// $AIFLOW_HOME/lake), where the onelake source finds it on every engine.
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
	"github.com/aiflow-dev/aiflow/internal/config"
	"github.com/aiflow-dev/aiflow/internal/onelake"
	"github.com/aiflow-dev/aiflow/internal/spark"
)

//go:embed sample_data.sql
var script string

func main() {
	// A sample-data tool, not the runner: the flag defaults to the Spark Connect address the runner uses.
	remote := flag.String("remote", os.Getenv("AIFLOW_SPARK_REMOTE"), "Spark Connect remote sc://host:port")
	format := flag.String("format", "delta", "table format: delta or parquet")
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
	create := "CREATE TABLE raw.sales_orders"
	where := "the catalog"
	if format == "delta" {
		// A tool, not the runner: the lake root of the environment it runs in.
		cfg, err := config.Load(ctx)
		if err != nil {
			return err
		}
		dir, err := onelake.TableDir(cfg.LakeRoot, "raw.sales_orders")
		if err != nil {
			return err
		}
		target, err := spark.DeltaPath(dir)
		if err != nil {
			return err
		}
		create, where = "CREATE OR REPLACE TABLE "+target, dir
	}
	q := strings.NewReplacer("{{create}}", create, "{{format}}", format).Replace(script)
	if err := s.Exec(ctx, spark.Statements(q)...); err != nil {
		return err
	}
	fmt.Printf("created raw.sales_orders (%s) in %s on %s\n", format, where, spark.Redact(remote))
	return nil
}
