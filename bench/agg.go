package main

import (
	"fmt"

	"github.com/gomodule/redigo/redis"
)

// The aggregation profile (issue 13): the hot profile's drivers, with
// event times near now, materialized with bench_agg.yaml (COUNT over 10
// minutes, SUM over an hour, AVG over a day). Its target is its events/s
// against the row-level hot profile's in the same run, not a ceiling.

// aggProfile is the aggregation profile's name.
const aggProfile = "agg"

// targetAggRatio is the aggregation profile's target: events/s at least
// this share of the hot profile's (issue 13).
const targetAggRatio = 0.5

// fileFor returns the feature file a profile materializes with.
func (b *bench) fileFor(profile string) string {
	if profile == aggProfile {
		return b.o.aggFile
	}
	return b.o.file
}

// keysOf returns how many Redis keys a profile's run leaves for keys
// drivers: one hash each; with aggregations also each one's state and
// the refresh index.
func keysOf(profile string, keys int) int {
	if profile == aggProfile {
		return 2*keys + 1
	}
	return keys
}

// aggRatio sets the aggregation profile's ratio against the hot
// profile's events/s among done, the profiles run before it.
func aggRatio(pr *profileResult, done []profileResult) {
	pr.Target = targetAggRatio
	for _, p := range done {
		if p.Name == "hot" && p.EventsPerSec > 0 {
			pr.Ratio = round(pr.EventsPerSec/p.EventsPerSec, 3)
			logf("%s: %.0f events/s = %.2f× hot's %.0f (target %.1f)", pr.Name, pr.EventsPerSec, pr.Ratio, p.EventsPerSec, pr.Target)
			return
		}
	}
	logf("%s: no hot profile ran before it: no ratio", pr.Name)
}

// usedMemory returns INFO memory's used_memory, bytes.
func usedMemory(rc redis.Conn) (int64, error) {
	info, err := redis.String(rc.Do("INFO", "memory"))
	if err != nil {
		return 0, fmt.Errorf("INFO memory: %w", err)
	}
	var n int64
	for _, line := range splitLines(info) {
		if _, err := fmt.Sscanf(line, "used_memory:%d", &n); err == nil {
			return n, nil
		}
	}
	return 0, fmt.Errorf("INFO memory: no used_memory")
}

func splitLines(s string) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}
