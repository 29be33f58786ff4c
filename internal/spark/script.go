//go:build !nospark

package spark

import "strings"

// Statements splits a SQL script (sample data, benchmark set-up) into statements: a statement
// ends with a ";" at the end of a line; lines starting with "--" are comments.
func Statements(script string) []string {
	var out []string
	var cur []string
	for _, line := range strings.Split(script, "\n") {
		t := strings.TrimSpace(line)
		if t == "" || strings.HasPrefix(t, "--") {
			continue
		}
		if body, ok := strings.CutSuffix(t, ";"); ok {
			cur = append(cur, body)
			out = append(out, strings.Join(cur, "\n"))
			cur = nil
			continue
		}
		cur = append(cur, t)
	}
	if len(cur) > 0 {
		out = append(out, strings.Join(cur, "\n"))
	}
	return out
}
