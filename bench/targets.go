package main

import (
	"fmt"
	"strings"
	"time"
)

// The targets the report checks the results against, and the rows of its
// first table: each measure with its result, its target and ✓ or ✗.

// The targets of events/s ÷ the ceiling per profile, printed next to the
// results: issue 14's (which lowered hot's from issue 6's 1.5× and gave
// zipf, where coalescing matters, 1.5×).
var targets = map[string]float64{
	"distinct": 0.6,
	"hot":      0.6,
	"zipf":     1.5,
}

const (
	targetFreshP99Ms = 25.0
	targetShareP99Ms = 5.0 // feathr's share of freshness (issue 14)
	targetCPUMicros  = 1.5 // feathr's CPU per event (issue 14)
	targetRSSMB      = 150.0
	targetGetMs      = 15.0
	targetMultiGetMs = 150.0
)

// targetRow is a line of the report's first table: a measure, its
// result, its target, ✓ or ✗ (– when not measured), and the issue that
// set the target.
type targetRow struct {
	what, result, target, mark, issue string
}

// targetRows returns the measures that have targets: every row of issue
// 14's table (throughput against the ceiling per profile, CPU per event,
// feathr's CPU use and the bottleneck, feathr's share of freshness), then
// issue 6's (end-to-end freshness, memory, reads, soak).
func targetRows(res *results) []targetRow {
	var rows []targetRow
	add := func(what, result, target string, ok bool, issue string) {
		rows = append(rows, targetRow{what, result, target, check(ok), issue})
	}
	const i14, i6 = "#14", "#6"
	s := res.Settings
	var peak float64
	for _, p := range res.Profiles {
		peak = max(peak, p.PeakRSSMB)
		if p.Name == aggProfile {
			add("agg (COUNT 10m, SUM 1h, AVG 1d): events/s ÷ hot's in the same run",
				fmt.Sprintf("%s/s = **%s×**", humanCount(p.EventsPerSec), num(p.Ratio)),
				fmt.Sprintf("≥ %s×", num(p.Target)), p.Ratio >= p.Target && p.Check == "", "#13")
			continue
		}
		what := p.Name
		switch {
		case p.Name == "hot" && s.HotKeys > 0:
			what += fmt.Sprintf(" (%s drivers)", humanInt(s.HotKeys))
		case p.Name == "zipf" && s.ZipfKeys > 0:
			what += fmt.Sprintf(" (%s drivers, exponent %s)", humanInt(s.ZipfKeys), num(s.ZipfExponent))
		}
		add(what+": events/s ÷ same-run HSET ceiling",
			fmt.Sprintf("%s/s = **%s×** (ceiling %s HSET/s)", humanCount(p.EventsPerSec), num(p.Ratio), humanCount(p.Ceiling.OpsPerSec)),
			fmt.Sprintf("≥ %s×", num(p.Target)), p.Ratio >= p.Target && p.Check == "", i14)
	}
	if len(res.Profiles) > 0 {
		var each, use []string
		cpuOK, namedOK := true, true
		for _, p := range res.Profiles {
			each = append(each, fmt.Sprintf("%s %s", p.Name, num(p.CPUMicrosPerEvent)))
			cpuOK = cpuOK && p.CPUMicrosPerEvent <= targetCPUMicros
			u := p.CPU
			if u == nil {
				use = append(use, p.Name+": n/a")
				namedOK = false
				continue
			}
			use = append(use, fmt.Sprintf("%s: %s CPU s in %s s = **%s of a core** → %s",
				p.Name, num(round(u.FeathrSeconds, 2)), num(round(u.WallSeconds, 2)), num(round(u.cores(u.FeathrSeconds), 2)), u.bottleneck()))
			namedOK = namedOK && u.BrokerSeconds != nil && u.MachineSeconds != nil
		}
		add("CPU per event (feathr), µs", strings.Join(each, ", "), fmt.Sprintf("≤ %s µs", num(targetCPUMicros)), cpuOK, i14)
		add("feathr's CPU use during catch-up, and the bottleneck (each process's share in the CPU table below)", strings.Join(use, "; "), "the bottleneck is named, with numbers", namedOK, i14)
	}
	if f := res.Freshness; f != nil {
		if f.ownShare() {
			result := f.Pipeline.String() + " ms"
			if f.Poller != nil && f.ProduceAck != nil {
				result += fmt.Sprintf(" (end to end p99 %s, of which the broker's produce ack p99 %s)", num(round(f.Poller.P99, 1)), num(round(f.ProduceAck.P99, 1)))
			}
			add(fmt.Sprintf("freshness at %s events/s: feathr's share, append → Redis ack, p50 / p99 / max", humanInt(f.Rate)),
				result, fmt.Sprintf("p99 ≤ %s ms", num(targetShareP99Ms)), f.Pipeline != nil && f.Pipeline.P99 <= targetShareP99Ms, i14)
		} else { // results from before LogAppendTime: feathr's figure was end to end
			r := targetRow{"freshness p50 / p99 / max, pipeline (ms)", f.Pipeline.String(), fmt.Sprintf("p99 ≤ %s", num(targetFreshP99Ms)), "–", i6}
			if f.Pipeline != nil {
				r.mark = check(f.Pipeline.P99 <= targetFreshP99Ms)
			}
			rows = append(rows, r)
		}
		add(fmt.Sprintf("freshness end to end, poller: produce → visible, p50 / p99 / max (ms, %d samples)", f.Samples), f.Poller.String(),
			fmt.Sprintf("p99 ≤ %s", num(targetFreshP99Ms)), f.Poller != nil && f.Poller.P99 <= targetFreshP99Ms && f.Missing == 0, i6)
		peak = max(peak, f.PeakRSSMB)
	}
	if f := res.Soak; f != nil {
		peak = max(peak, f.PeakRSSMB)
	}
	if peak > 0 {
		add("peak RSS (largest of the runs)", num(peak)+" MB", fmt.Sprintf("≤ %s MB", num(targetRSSMB)), peak <= targetRSSMB, i6)
	}
	if r := res.Reads; r != nil {
		add("`feathr get` 1 key, process wall, p50 (max)", fmt.Sprintf("%s ms (%s)", num(r.GetP50), num(r.GetMax)),
			fmt.Sprintf("≤ %s ms", num(targetGetMs)), r.GetP50 <= targetGetMs, i6)
		add(fmt.Sprintf("`feathr multi-get` %s keys, p50 (max)", humanInt(r.Keys)), fmt.Sprintf("%s ms (%s)", num(r.MultiP50), num(r.MultiMax)),
			fmt.Sprintf("≤ %s ms", num(targetMultiGetMs)), r.MultiP50 <= targetMultiGetMs, i6)
	}
	if f := res.Soak; f != nil {
		add(fmt.Sprintf("soak %s at %s/s: RSS after warm-up → end (max)", time.Duration(f.Seconds*float64(time.Second)), humanInt(f.Rate)),
			fmt.Sprintf("%s → %s MB (%s)", num(f.RSSWarmMB), num(f.RSSEndMB), num(f.RSSMaxMB)), "flat", f.RSSEndMB <= f.RSSWarmMB*1.2+5, i6)
		add(fmt.Sprintf("soak: freshness end to end, poller, p50 / p99 / max (ms, %d samples)", f.Samples), f.Poller.String(),
			fmt.Sprintf("p99 ≤ %s", num(targetFreshP99Ms)), f.Poller != nil && f.Poller.P99 <= targetFreshP99Ms && f.Missing == 0, i6)
	}
	return rows
}

func check(ok bool) string {
	if ok {
		return "✓"
	}
	return "✗"
}
