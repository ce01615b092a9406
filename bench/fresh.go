package main

import (
	"context"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/gomodule/redigo/redis"
)

// pollResult is what the outside poller saw.
type pollResult struct {
	latencies []time.Duration // produce time → first poll reply showing the event
	produced  []time.Time     // the produce time of each latency's sample
	missing   int             // samples never seen before the deadline
}

// poller watches Redis for sampled events: every interval it reads, in one
// pipelined round trip, the hidden event-time field of every pending
// sample's key, and a sample is visible once that time is at least its
// own. The latency is taken when the reply arrives, so it is exact to
// within the interval plus a round trip.
type poller struct {
	addr      string
	timeField string
	interval  time.Duration
}

// run polls until in is closed and every sample was seen, or ctx is done
// (the samples still pending are then counted missing).
func (p poller) run(ctx context.Context, in <-chan sample) (pollResult, error) {
	c, err := dialRedis(p.addr)
	if err != nil {
		return pollResult{}, err
	}
	defer c.Close()
	var res pollResult
	var pending []sample
	open := true
	tick := time.NewTicker(p.interval)
	defer tick.Stop()
	for open || len(pending) > 0 {
		select {
		case <-ctx.Done():
			res.missing = len(pending)
			if open {
				for range in { // the producer closes in when it stops
					res.missing++
				}
			}
			return res, nil
		case s, ok := <-in:
			if !ok {
				open, in = false, nil
				continue
			}
			pending = append(pending, s)
			continue
		case <-tick.C:
		}
		if len(pending) == 0 {
			continue
		}
		for _, s := range pending {
			if err := c.Send("HGET", s.key, p.timeField); err != nil {
				return res, fmt.Errorf("poll: %w", err)
			}
		}
		if err := c.Flush(); err != nil {
			return res, fmt.Errorf("poll: %w", err)
		}
		keep := pending[:0]
		var now time.Time
		for i, s := range pending {
			v, err := redis.Int64(c.Receive())
			if i == 0 {
				now = time.Now()
			}
			switch {
			case err == nil && v >= s.eventMs:
				res.latencies = append(res.latencies, now.Sub(s.produced))
				res.produced = append(res.produced, s.produced)
			case err == nil || err == redis.ErrNil:
				keep = append(keep, s)
			default:
				return res, fmt.Errorf("poll HGET %s: %w", s.key, err)
			}
		}
		pending = keep
	}
	return res, nil
}

// latencyPercentiles returns p50, p99 and max of ds in milliseconds.
func latencyPercentiles(ds []time.Duration) *percentiles {
	if len(ds) == 0 {
		return nil
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	ms := func(d time.Duration) float64 { return math.Round(float64(d.Microseconds())/10) / 100 }
	return &percentiles{P50: ms(quantile(s, 0.50)), P99: ms(quantile(s, 0.99)), Max: ms(s[len(s)-1])}
}

// quantile returns the q-quantile of sorted s (nearest rank).
func quantile[T any](s []T, q float64) T {
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// maxBySecond returns the largest latency of the samples produced in each
// second after start, in ms (0 for a second without samples): it shows
// whether slow samples cluster (start-up, stalls) or spread.
func maxBySecond(start time.Time, produced []time.Time, lat []time.Duration) []float64 {
	var out []float64
	for i, t := range produced {
		sec := max(int(t.Sub(start)/time.Second), 0)
		for len(out) <= sec {
			out = append(out, 0)
		}
		out[sec] = max(out[sec], math.Round(float64(lat[i].Microseconds())/100)/10)
	}
	return out
}
