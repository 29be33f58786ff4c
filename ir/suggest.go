package ir

import "fmt"

// suggest returns ` (did you mean "x"?)` for the closest candidate within a small edit distance,
// or "". Used for misspelt fields, kinds and node ids.
func suggest(got string, candidates []string) string {
	if best := Closest(got, candidates); best != "" {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	return ""
}

// Closest returns the candidate nearest to got by edit distance, if it is close enough to be a
// plausible typo (distance ≤ max(1, len/3)), else "".
func Closest(got string, candidates []string) string {
	return ClosestWithin(got, candidates, max(1, len(got)/3))
}

// ClosestWithin returns the candidate nearest to got if it is at most limit edits away (and not
// got itself), else "". Long ids that share most of their shape (Airflow's run ids differ in a
// few digits) need a tighter limit than Closest's.
func ClosestWithin(got string, candidates []string, limit int) string {
	best, bestD := "", 1<<30
	for _, c := range candidates {
		if d := levenshtein(got, c); d < bestD {
			best, bestD = c, d
		}
	}
	if bestD <= limit && bestD > 0 {
		return best
	}
	return ""
}

// Suggest is suggest for other packages: ` (did you mean "x"?)` or "".
func Suggest(got string, candidates []string) string { return suggest(got, candidates) }

// levenshtein is the optimal-string-alignment edit distance: insertions, deletions,
// substitutions and transpositions of neighbours ("sprak" is one edit from "spark").
func levenshtein(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}
