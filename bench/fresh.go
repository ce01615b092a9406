package main

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/gomodule/redigo/redis"
	"github.com/linkedin/goavro/v2"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/feathrgo/feathr/sink"
)

// The freshness and soak measures: a paced run of feathr materialize,
// measured from inside (feathr's summary) and outside (a poller of Redis),
// then the check that the topic's record timestamps are append times.

// freshTopicConfigs make the broker stamp each record of a freshness
// topic with its append time, so that feathr's freshness_ms (record
// timestamp → Redis ack) is feathr's own share of the latency.
var freshTopicConfigs = map[string]string{"message.timestamp.type": "LogAppendTime"}

// freshness runs feathr materialize, produces b.o.rate events per second
// for d with their produce time as event time, to a topic whose record
// timestamps are the broker's append times, and measures latency from
// inside (feathr's summary: append → Redis ack) and outside (a poller of
// Redis: produce → visible), and feathr's RSS every rssEvery. Afterwards
// it reads the topic back to check that its timestamps are append times.
func (b *bench) freshness(ctx context.Context, name string, d, rssEvery time.Duration) (*freshResult, error) {
	topic, err := b.newTopic(name, freshTopicConfigs)
	if err != nil {
		return nil, err
	}
	if err := b.flush(); err != nil {
		return nil, err
	}
	fr := &freshResult{Rate: b.o.rate, Seconds: d.Seconds(), PollIntervalMs: 1, TimestampType: freshTopicConfigs["message.timestamp.type"]}
	p, err := startFeathr(b.primary().Path, b.env(topic, "feathr-bench-"+name+"-"+b.id), filepath.Join(b.o.work, name+".log"),
		"materialize", "-f", b.o.file, "--start", "earliest")
	if err != nil {
		return nil, err
	}
	defer p.stop(time.Minute) // no-op once stopped
	if err := p.waitAssigned(ctx, time.Minute); err != nil {
		return fr, err
	}
	rssCtx, stopRSS := context.WithCancel(ctx)
	defer stopRSS()
	go p.sampleRSS(rssCtx, rssEvery)

	samples := make(chan sample, 1024)
	pollCtx, stopPoll := context.WithCancel(ctx)
	defer stopPoll()
	pl := poller{addr: b.o.redis, hiddenTimeField: sink.HiddenTimeField(b.mat), interval: time.Millisecond}
	type polled struct {
		r   pollResult
		err error
	}
	pollDone := make(chan polled, 1)
	go func() {
		r, err := pl.run(pollCtx, samples)
		pollDone <- polled{r, err}
	}()
	logf("%s: producing %d events/s for %v", name, b.o.rate, d)
	sampleEvery := max(b.o.rate/100, 1) // one every 10 ms
	produceStart := time.Now()
	ps, perr := producePaced(ctx, b.o.brokers, b.codec, topic, b.o.rate, d, 1, sampleEvery,
		func(id int64) string { return sink.Key(b.table, strconv.FormatInt(id, 10)) }, samples)
	close(samples)
	var pr polled
	select {
	case pr = <-pollDone:
	case <-time.After(30 * time.Second):
		stopPoll()
		pr = <-pollDone
	}
	if perr == nil {
		// Every event is a new key: stop feathr once all are written, so
		// that it is not interrupted with events still unread.
		b.waitKeys(ctx, int64(ps.produced), 30*time.Second)
	}
	stopRSS()
	r, err := p.stop(time.Minute)
	if perr != nil {
		return fr, perr
	}
	if pr.err != nil {
		return fr, pr.err
	}
	if err != nil {
		return fr, err
	}
	fr.Produced = ps.produced
	fr.ProducedPerSec = round(float64(ps.produced)/ps.elapsed.Seconds(), 0)
	fr.ProduceAck = latencyPercentiles(ps.acks)
	fr.Poller = latencyPercentiles(pr.r.latencies)
	fr.Samples = len(pr.r.latencies)
	fr.PollerMaxBySecond = maxBySecond(produceStart, pr.r.produced, pr.r.latencies)
	fr.Missing = pr.r.missing
	fr.PeakRSSMB = round(float64(r.maxRSSKB)/1024, 1)
	fr.CPUSeconds = round(r.cpu.Seconds(), 2)
	fr.RSS = p.samples()
	fr.rssFlatness()
	sum, err := parseSummary(r.stdout)
	if err != nil {
		return fr, err
	}
	fr.Summary = sum.Raw
	fr.Read = sum.Read
	fr.Pipeline = sum.Freshness
	if sp := sum.FreshnessSplit; sp != nil {
		fr.ToWriter, fr.InWriter, fr.SplitSampled = sp.ToWriter, sp.InWriter, sp.Sampled
	}
	logf("%s: %d events at %.0f/s; poller p50/p99/max %s ms (%d samples, %d missing); feathr's share %s; Kafka produce ack %s; peak RSS %.0f MB",
		name, fr.Produced, fr.ProducedPerSec, fr.Poller.String(), fr.Samples, fr.Missing, fr.Pipeline.String(), fr.ProduceAck.String(), fr.PeakRSSMB)
	if sum.Read != int64(ps.produced) {
		return fr, fmt.Errorf("feathr read %d of %d events", sum.Read, ps.produced)
	}
	fr.AppendCheck, err = checkAppendTimes(ctx, b.o.brokers, b.codec, topic, ps.produced)
	if err != nil {
		return fr, err
	}
	logf("%s: %s", name, fr.AppendCheck)
	if c := fr.AppendCheck; c.LogAppendTime != c.Records {
		return fr, fmt.Errorf("%s: %d of %d records carry LogAppendTime: feathr's freshness_ms is not its own share", topic, c.LogAppendTime, c.Records)
	}
	return fr, nil
}

// String renders p50/p99/max, or n/a.
func (p *percentiles) String() string {
	if p == nil {
		return "n/a"
	}
	return fmt.Sprintf("%s / %s / %s", num(round(p.P50, 1)), num(round(p.P99, 1)), num(round(p.Max, 1)))
}

// rssFlatness sets the RSS summary from the samples: after warm-up (the
// first sample past 10% of the run), at the end, and the largest.
func (fr *freshResult) rssFlatness() {
	if len(fr.RSS) == 0 {
		return
	}
	warm := fr.RSS[0]
	for _, s := range fr.RSS {
		if s.At >= fr.Seconds/10 {
			warm = s
			break
		}
	}
	last := fr.RSS[len(fr.RSS)-1]
	fr.RSSWarmMB, fr.RSSEndMB = round(warm.RSSMB, 1), round(last.RSSMB, 1)
	for _, s := range fr.RSS {
		fr.RSSMaxMB = max(fr.RSSMaxMB, round(s.RSSMB, 1))
	}
}

// waitKeys waits until Redis holds n keys, ctx is done, or d passes.
func (b *bench) waitKeys(ctx context.Context, n int64, d time.Duration) {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if k, err := redis.Int64(b.rc.Do("DBSIZE")); err != nil || k >= n {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

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
