package ir_test

import (
	"testing"

	"github.com/aiflow-dev/aiflow/ir"
)

func TestClosest(t *testing.T) {
	fields := []string{"table", "mode", "partition_by", "format"}
	tests := []struct {
		got        string
		candidates []string
		want       string
	}{
		{"partiton_by", fields, "partition_by"},
		{"partition_by", fields, ""}, // exact: nothing to suggest
		{"tabel", fields, "table"},   // transposition is one edit
		{"sprak", []string{"arrow", "python", "spark"}, "spark"},
		{"formt", fields, "format"},
		{"zzzzzz", fields, ""},
		{"mod", fields, "mode"},
		{"", fields, ""},
		{"x", nil, ""},
	}
	for _, tt := range tests {
		if got := ir.Closest(tt.got, tt.candidates); got != tt.want {
			t.Errorf("Closest(%q) = %q, want %q", tt.got, got, tt.want)
		}
	}
	if got := ir.Suggest("onelak", []string{"onelake", "files"}); got != ` (did you mean "onelake"?)` {
		t.Errorf("Suggest = %q", got)
	}
}
