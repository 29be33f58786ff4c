package ui_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/aiflow-dev/aiflow/internal/ui"
	"github.com/aiflow-dev/aiflow/ir"
	"github.com/aiflow-dev/aiflow/plugin"
	_ "github.com/aiflow-dev/aiflow/plugin/builtin"
)

// TestDraftRoundTrip: every example spec opened in the authoring page and written back as YAML
// is the same IR (the same ir_hash), and that YAML validates.
func TestDraftRoundTrip(t *testing.T) {
	files, _ := filepath.Glob("../../examples/*/*.yaml")
	if len(files) == 0 {
		t.Fatal("no example specs found")
	}
	for _, f := range files {
		t.Run(filepath.Base(filepath.Dir(f)), func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			specs, ps := ir.Parse(f, b, true)
			if len(ps) > 0 {
				t.Fatal(ps)
			}
			for _, s := range specs {
				want, err := s.Pipeline.Hash()
				if err != nil {
					t.Fatal(err)
				}
				c, err := ui.Check(plugin.Default, nil, "round.yaml", ui.DraftOf(s.Pipeline))
				if err != nil {
					t.Fatal(err)
				}
				if len(c.Problems) > 0 || c.IRHash != want {
					t.Errorf("%s: draft YAML gives ir_hash %s (problems %v), want %s\n%s", s.Pipeline.ID, c.IRHash, c.Problems, want, c.YAML)
				}
			}
		})
	}
}
