package main

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The reads measure: the wall time of whole feathr get and multi-get
// processes against what a profile wrote.

// reads times feathr get of one key and multi-get of many, whole
// processes, against what the last profile wrote.
func (b *bench) reads(ctx context.Context) (*readResult, error) {
	rr := &readResult{Keys: b.o.multiKeys}
	url := "redis://" + b.o.redis
	feats := strings.Join(b.feats, ",")
	logPath := filepath.Join(b.o.work, "reads.log")
	var get []time.Duration
	for i := range b.o.getRuns {
		key := strconv.Itoa(1 + i*37%b.o.multiKeys)
		r, err := runFeathr(ctx, b.primary().Path, nil, nil, logPath, false, "get", "--redis", url, b.table, key, feats)
		if err != nil {
			return rr, err
		}
		var m map[string]any
		if err := json.Unmarshal(r.stdout, &m); err != nil || len(m) != len(b.feats) {
			return rr, fmt.Errorf("feathr get printed %q", r.stdout)
		}
		get = append(get, r.wall)
	}
	keys := make([]byte, 0, 8*b.o.multiKeys)
	for i := 1; i <= b.o.multiKeys; i++ {
		keys = strconv.AppendInt(keys, int64(i), 10)
		keys = append(keys, '\n')
	}
	var multi []time.Duration
	for range b.o.multiRuns {
		r, err := runFeathr(ctx, b.primary().Path, nil, strings.NewReader(string(keys)), logPath, false,
			"multi-get", "--redis", url, b.table, "-", feats)
		if err != nil {
			return rr, err
		}
		var m map[string]map[string]any
		if err := json.Unmarshal(r.stdout, &m); err != nil || len(m) != b.o.multiKeys {
			return rr, fmt.Errorf("feathr multi-get printed %d bytes that are not %d keys (%v)", len(r.stdout), b.o.multiKeys, err)
		}
		rr.MultiMissing = 0
		for _, v := range m {
			if v == nil || v[b.feats[0]] == nil {
				rr.MultiMissing++
			}
		}
		multi = append(multi, r.wall)
	}
	rr.GetMs, rr.GetP50, rr.GetMax = msStats(get)
	rr.MultiMs, rr.MultiP50, rr.MultiMax = msStats(multi)
	logf("reads: get p50 %.1f ms (max %.1f); multi-get %d keys p50 %.1f ms (max %.1f)",
		rr.GetP50, rr.GetMax, rr.Keys, rr.MultiP50, rr.MultiMax)
	return rr, nil
}

// msStats returns ds in ms, their median and their max.
func msStats(ds []time.Duration) (all []float64, p50, mx float64) {
	for _, d := range ds {
		all = append(all, round(float64(d.Microseconds())/1000, 2))
	}
	s := slices.Clone(all)
	slices.Sort(s)
	if len(s) == 0 {
		return all, 0, 0
	}
	return all, s[(len(s)-1)/2], s[len(s)-1]
}
