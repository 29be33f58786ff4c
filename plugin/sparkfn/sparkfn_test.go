package sparkfn_test

import (
	"context"
	"testing"

	"github.com/apache/spark-connect-go/spark/sql"

	"github.com/aiflow-dev/aiflow/plugin"
	"github.com/aiflow-dev/aiflow/plugin/sparkfn"
)

func noop(ctx context.Context, spark sql.SparkSession, in map[string]sql.DataFrame, p map[string]any) (sql.DataFrame, error) {
	return nil, nil
}

func TestRegisterLookup(t *testing.T) {
	r := plugin.NewRegistry()
	sparkfn.RegisterIn(r, "team:fn", noop)
	if _, err := sparkfn.Lookup(r, "team:fn"); err != nil {
		t.Fatal(err)
	}
	if _, err := sparkfn.Lookup(r, "team:other"); err == nil {
		t.Fatal("lookup of an unregistered name succeeded")
	}
	if _, err := sparkfn.Lookup(r.Clone(), "team:fn"); err != nil {
		t.Fatalf("a cloned registry lost the function: %v", err)
	}
}

func TestRegisterPanics(t *testing.T) {
	for name, f := range map[string]func(r *plugin.Registry){
		"empty name":   func(r *plugin.Registry) { sparkfn.RegisterIn(r, "", noop) },
		"nil function": func(r *plugin.Registry) { sparkfn.RegisterIn(r, "x", nil) },
		"duplicate":    func(r *plugin.Registry) { sparkfn.RegisterIn(r, "x", noop); sparkfn.RegisterIn(r, "x", noop) },
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatal("no panic")
				}
			}()
			f(plugin.NewRegistry())
		})
	}
}
