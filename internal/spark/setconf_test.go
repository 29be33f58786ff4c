//go:build !nospark

package spark_test

import (
	"context"
	"testing"

	"github.com/aiflow-dev/aiflow/fault"
)

// SetConf sets every pair (they travel as concurrent Config calls) and a refused pair fails
// classified, as a SQL SET of it would.
func TestSetConf(t *testing.T) {
	w := newWorkspace(t)
	s := w.session()
	ctx := context.Background()
	want := map[string]string{
		"spark.sql.parquet.outputTimestampType":    "TIMESTAMP_MICROS",
		"spark.sql.sources.partitionOverwriteMode": "dynamic",
		"spark.sql.shuffle.partitions":             "3",
	}
	if err := s.SetConf(ctx, want); err != nil {
		t.Fatal(err)
	}
	for k, v := range want {
		got, err := s.Config().Get(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		if got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	// A static configuration cannot be set in a running session.
	err := s.SetConf(ctx, map[string]string{"spark.sql.warehouse.dir": "/nowhere", "spark.sql.shuffle.partitions": "4"})
	if err == nil {
		t.Fatal("setting a static configuration: no error")
	}
	if !fault.Classified(err) {
		t.Errorf("refused setting: unclassified error %v", err)
	}
	t.Logf("refused: %v (class %v)", err, fault.ClassOf(err))
}
