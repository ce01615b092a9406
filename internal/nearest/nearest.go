// Package nearest finds the known name closest to a mistyped one, for
// "did you mean …?" hints in error messages. It imports only the standard
// library; config, plan and transform use it.
package nearest

import "strings"

// Name returns the candidate closest to name by edit distance, ignoring
// case, or "" when none is close enough to be a likely typo: at most two
// edits, and fewer than half the candidate's length.
func Name(name string, candidates []string) string {
	best, bestD := "", 3
	lname := strings.ToLower(name)
	for _, c := range candidates {
		if d := Distance(lname, strings.ToLower(c)); d < bestD && d <= max(len(name), len(c))/2 {
			best, bestD = c, d
		}
	}
	return best
}

// Distance is the Levenshtein distance between a and b, in bytes. Strings
// longer than 64 bytes count as 64 apart, which bounds the work.
func Distance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 64
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
