package main

import (
	"debug/buildinfo"
	"fmt"
	"os"
	"slices"
	"strings"
)

// binary is a feathr binary under test, with the label that names it in
// the report.
type binary struct {
	Label string `json:"label"`
	Path  string `json:"path"`
	// Revision is the commit it was built from (vcs.revision of its build
	// info, shortened, with "+dirty" for a modified tree); "" when it was
	// built without version control information.
	Revision string `json:"revision,omitempty"`
}

// parseBins parses -bins: comma-separated label=path pairs, such as
// "old=/tmp/feathr-old,new=bin/feathr". Labels are unique and every path
// is a readable file.
func parseBins(s string) ([]binary, error) {
	var bins []binary
	for _, item := range splitList(s) {
		label, path, ok := strings.Cut(item, "=")
		label, path = strings.TrimSpace(label), strings.TrimSpace(path)
		if !ok || label == "" || path == "" {
			return nil, fmt.Errorf("-bins: %q: want label=path", item)
		}
		if slices.ContainsFunc(bins, func(b binary) bool { return b.Label == label }) {
			return nil, fmt.Errorf("-bins: label %q given twice", label)
		}
		bins = append(bins, binary{Label: label, Path: path})
	}
	if len(bins) == 0 {
		return nil, fmt.Errorf("-bins: no binaries in %q", s)
	}
	return bins, nil
}

// check fails unless the binary is a regular file, and sets its Revision.
func (b *binary) check() error {
	st, err := os.Stat(b.Path)
	if err != nil {
		return fmt.Errorf("feathr binary %s: %w", b.Label, err)
	}
	if !st.Mode().IsRegular() || st.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("feathr binary %s: %s is not an executable file", b.Label, b.Path)
	}
	b.Revision = revision(b.Path)
	return nil
}

// revision returns the short commit the Go binary at path was built from,
// with "+dirty" when its tree was modified, or "".
func revision(path string) string {
	info, err := buildinfo.ReadFile(path)
	if err != nil {
		return ""
	}
	var rev, modified string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	if len(rev) > 7 {
		rev = rev[:7]
	}
	if rev != "" && modified == "true" {
		rev += "+dirty"
	}
	return rev
}

// fileLabel is the label made safe for file and consumer group names.
func (b binary) fileLabel() string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			return r
		}
		return '_'
	}, b.Label)
}

// String renders the binary for the report: "old = /tmp/feathr-old (59ab925)".
func (b binary) String() string {
	s := b.Label + " = " + b.Path
	if b.Revision != "" {
		s += " (" + b.Revision + ")"
	}
	return s
}

// setRuns records the profile's runs: the embedded run, which the profile
// rows and targets show, is primary's run of median events/s (the slower
// of the middle two), with Check listing what any run got wrong; Runs
// keeps them all when there was more than one.
func (p *profileResult) setRuns(runs []runResult, primary string) {
	if len(runs) == 0 {
		return
	}
	var mine []runResult
	for _, r := range runs {
		if r.Bin == primary {
			mine = append(mine, r)
		}
	}
	if len(mine) == 0 {
		mine = runs // primary's first run failed to run
	}
	slices.SortStableFunc(mine, func(a, b runResult) int {
		switch {
		case a.EventsPerSec < b.EventsPerSec:
			return -1
		case a.EventsPerSec > b.EventsPerSec:
			return 1
		}
		return 0
	})
	p.runResult = mine[(len(mine)-1)/2]
	var problems []string
	for _, r := range runs {
		if r.Check == "" {
			continue
		}
		if len(runs) > 1 {
			problems = append(problems, fmt.Sprintf("%s round %d: %s", r.Bin, r.Round, r.Check))
		} else {
			problems = append(problems, r.Check)
		}
	}
	p.Check = strings.Join(problems, "; ")
	p.Runs = nil
	if len(runs) > 1 {
		p.Runs = runs
	}
}

// median returns the median of xs (the mean of the middle two for an even
// count), 0 for none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// abTable renders, per profile, the median events/s, CPU per event and
// peak RSS of each binary over its runs, and each against the first
// binary's as a ratio; "" for results with a single run per profile.
func abTable(res *results) string {
	var b strings.Builder
	labels := make([]string, 0, len(res.Settings.Bins))
	for _, bin := range res.Settings.Bins {
		labels = append(labels, bin.Label)
	}
	for _, p := range res.Profiles {
		if len(p.Runs) == 0 {
			continue
		}
		if b.Len() == 0 {
			base := "the first"
			if len(labels) > 0 {
				base = labels[0]
			}
			fmt.Fprintf(&b, "Binaries run alternately on the same topics, a consumer group per run; medians over each binary's runs, ratios against %s.\n\n", base)
			b.WriteString("| profile | binary | events/s of each run | events/s | CPU µs/event | peak RSS | events/s ratio | CPU/event ratio | RSS ratio |\n")
			b.WriteString("|---|---|---|---|---|---|---|---|---|\n")
		}
		order := labels
		if len(order) == 0 { // not recorded: in the order they ran
			for _, r := range p.Runs {
				if !slices.Contains(order, r.Bin) {
					order = append(order, r.Bin)
				}
			}
		}
		var baseEPS, baseCPU, baseRSS float64
		for i, label := range order {
			var eps, cpu, rss []float64
			var each []string
			for _, r := range p.Runs {
				if r.Bin != label {
					continue
				}
				eps, cpu, rss = append(eps, r.EventsPerSec), append(cpu, r.CPUMicrosPerEvent), append(rss, r.PeakRSSMB)
				each = append(each, humanCount(r.EventsPerSec))
			}
			if len(eps) == 0 {
				continue
			}
			mEPS, mCPU, mRSS := median(eps), median(cpu), median(rss)
			ratios := "– | – | –"
			if i == 0 {
				baseEPS, baseCPU, baseRSS = mEPS, mCPU, mRSS
			} else {
				ratios = fmt.Sprintf("%s | %s | %s", ratio(mEPS, baseEPS), ratio(mCPU, baseCPU), ratio(mRSS, baseRSS))
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s MB | %s |\n",
				p.Name, label, strings.Join(each, ", "), humanCount(mEPS), num(round(mCPU, 2)), num(round(mRSS, 1)), ratios)
		}
	}
	return b.String()
}

// ratio renders x ÷ base as "1.08×", "n/a" without a base.
func ratio(x, base float64) string {
	if base <= 0 {
		return "n/a"
	}
	return num(round(x/base, 2)) + "×"
}
