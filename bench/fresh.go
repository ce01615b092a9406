package main

import (
	"context"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/gomodule/redigo/redis"
	"github.com/linkedin/goavro/v2"
	"github.com/twmb/franz-go/pkg/kgo"
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
	addr            string
	hiddenTimeField string
	interval        time.Duration
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
			if err := c.Send("HGET", s.key, p.hiddenTimeField); err != nil {
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

// appendCheck is what reading a freshness topic back showed about its
// record timestamps: whether the broker set them (LogAppendTime), and how
// much later than the produce time (the datetime of the event, in µs) it
// appended them.
type appendCheck struct {
	Records       int `json:"records"`         // read back
	LogAppendTime int `json:"log_append_time"` // of those, timestamped by the broker
	Sampled       int `json:"sampled"`         // decoded to compare with the produce time
	// AppendMinusProduce is append time − produce time over the sampled
	// records, in ms; MinMs is its smallest value. An append time is in
	// whole ms, so values down to −1 ms are rounding; a topic with
	// CreateTime would show exactly that, −1 to 0, everywhere.
	AppendMinusProduce *percentiles `json:"append_minus_produce_ms"`
	MinMs              float64      `json:"append_minus_produce_min_ms"`
}

// String renders the check for the report.
func (c *appendCheck) String() string {
	if c == nil {
		return "not checked"
	}
	return fmt.Sprintf("%s of %s records read back carry LogAppendTime; append − produce time p50 / p99 / max %s ms (min %s, %s records)",
		humanInt(c.LogAppendTime), humanInt(c.Records), c.AppendMinusProduce.String(), num(c.MinMs), humanInt(c.Sampled))
}

// checkAppendTimes reads the want records of topic back from the start
// and compares each record's timestamp with its produce time, the
// event's datetime (decoding every one of about 50,000 records spread
// over the topic).
func checkAppendTimes(ctx context.Context, brokers string, codec *goavro.Codec, topic string, want int) (*appendCheck, error) {
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(splitList(brokers)...),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(100*time.Millisecond),
	)
	if err != nil {
		return nil, fmt.Errorf("kafka consumer: %w", err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	every := max(want/50_000, 1)
	c := &appendCheck{}
	var diffs []time.Duration
	for c.Records < want {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return c, fmt.Errorf("reading %s back: %d of %d records: %w", topic, c.Records, want, err)
		}
		if err := fs.Err(); err != nil {
			return c, fmt.Errorf("reading %s back: %w", topic, err)
		}
		for it := fs.RecordIter(); !it.Done(); {
			r := it.Next()
			if r.Attrs.TimestampType() == 1 {
				c.LogAppendTime++
			}
			if c.Records%every == 0 {
				produced, err := produceTime(codec, r.Value)
				if err != nil {
					return c, fmt.Errorf("%s partition %d offset %d: %w", topic, r.Partition, r.Offset, err)
				}
				diffs = append(diffs, r.Timestamp.Sub(produced))
			}
			c.Records++
		}
	}
	c.Sampled = len(diffs)
	c.AppendMinusProduce = latencyPercentiles(diffs)
	if len(diffs) > 0 {
		c.MinMs = round(float64(slices.Min(diffs).Microseconds())/1000, 2)
	}
	return c, nil
}

// produceTime decodes the datetime of a DriverTrips event, which the
// paced producer sets to the event's produce time.
func produceTime(codec *goavro.Codec, value []byte) (time.Time, error) {
	native, _, err := codec.NativeFromBinary(value)
	if err != nil {
		return time.Time{}, fmt.Errorf("avro decode: %w", err)
	}
	m, ok := native.(map[string]any)
	if !ok {
		return time.Time{}, fmt.Errorf("avro decode: %T, want a record", native)
	}
	switch v := m["datetime"].(type) {
	case time.Time:
		return v, nil
	case int64:
		return time.UnixMicro(v), nil
	default:
		return time.Time{}, fmt.Errorf("datetime is %T", v)
	}
}
