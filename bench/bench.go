package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gomodule/redigo/redis"
	"github.com/linkedin/goavro/v2"

	"github.com/feathrgo/feathr/sink"
)

// bench is one run of the benchmark.
type bench struct {
	o      options
	id     string // unique suffix of this run's topics and groups
	codec  *goavro.Codec
	table  string   // the Redis table the bench file writes
	mat    string   // its materialization
	feats  []string // its features
	rc     redis.Conn
	clock  cpuClock // CPU time of the broker, redis-server and the machine
	topics []string // created, deleted at the end
}

func newBench(o options) (*bench, error) {
	f, err := loadFile(o.file, (&bench{o: o}).env("topic", "group"))
	if err != nil {
		return nil, err
	}
	codec, err := loadCodec(f)
	if err != nil {
		return nil, err
	}
	if len(f.Materializations) != 1 {
		return nil, fmt.Errorf("%s: want one materialization, found %d", o.file, len(f.Materializations))
	}
	m := f.Materializations[0]
	rc, err := dialRedis(o.redis)
	if err != nil {
		return nil, err
	}
	if o.kafkaPID > 0 {
		if _, err := procCPU(o.kafkaPID); err != nil {
			logf("-kafka-pid %d: %v: the broker's CPU is not reported", o.kafkaPID, err)
			o.kafkaPID = 0
		}
	}
	return &bench{
		o:     o,
		id:    strconv.FormatInt(time.Now().Unix(), 36),
		codec: codec,
		table: m.Sink.Table,
		mat:   m.Name,
		feats: m.Features,
		rc:    rc,
		clock: cpuClock{brokerPID: o.kafkaPID, rc: rc},
	}, nil
}

func (b *bench) close() {
	if !b.o.keepTopics {
		if err := deleteTopics(b.o.brokers, b.topics); err != nil {
			fmt.Fprintln(os.Stderr, "bench: cleanup:", err)
		}
	}
	b.rc.Do("FLUSHALL")
	b.rc.Close()
}

// logf prints progress on stderr.
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
}

// env is the environment that points bench.yaml at topic and group.
func (b *bench) env(topic, group string) []string {
	return []string{
		"BENCH_BROKERS=" + b.o.brokers,
		"BENCH_TOPIC=" + topic,
		"BENCH_GROUP=" + group,
		"BENCH_REDIS=" + b.o.redis,
		"BENCH_BATCH=" + strconv.Itoa(b.o.batch),
	}
}

// newTopic creates this run's topic for name with the given topic
// configs (nil: the broker's defaults).
func (b *bench) newTopic(name string, configs map[string]string) (string, error) {
	topic := "feathr-bench-" + name + "-" + b.id
	if err := createTopic(b.o.brokers, topic, b.o.partitions, configs); err != nil {
		return "", err
	}
	b.topics = append(b.topics, topic)
	return topic, nil
}

func (b *bench) flush() error {
	if _, err := b.rc.Do("FLUSHALL"); err != nil {
		return fmt.Errorf("FLUSHALL: %w", err)
	}
	return nil
}

func (b *bench) run(ctx context.Context) (*results, error) {
	start := time.Now()
	res := &results{
		Date:    start.UTC().Format(time.RFC3339),
		Machine: describeMachine(),
		Settings: settings{
			Events: b.o.n, Partitions: b.o.partitions, HotKeys: b.o.hotKeys,
			ZipfKeys: b.o.zipfKeys, ZipfExponent: b.o.zipfS, Batch: b.o.batch,
			Clients: b.o.clients, Rate: b.o.rate, Fresh: b.o.freshFor.String(), Soak: b.o.soak.String(),
		},
	}
	if len(b.o.bins) > 1 || b.o.repeat > 1 {
		res.Settings.Bins, res.Settings.Repeat = b.o.bins, b.o.repeat
	}
	res.Host = res.Machine.Host
	res.Machine.Redis = redisVersion(b.rc)
	res.Machine.Kafka = b.o.kafkaLabel
	res.Machine.Commit = b.o.commit
	var errs []error
	fail := func(what string, err error) {
		logf("%s: %v", what, err)
		res.Errors = append(res.Errors, what+": "+err.Error())
		errs = append(errs, fmt.Errorf("%s: %w", what, err))
	}
	profiles := splitList(b.o.profiles)
	readsAfter := readsProfile(profiles)
	for i, name := range profiles {
		pr, err := b.profile(ctx, name, i == readsAfter, res)
		if pr != nil {
			res.Profiles = append(res.Profiles, *pr)
		}
		if err != nil {
			fail("profile "+name, err)
		}
		if ctx.Err() != nil {
			return res, errors.Join(errs...)
		}
	}
	if b.o.freshFor > 0 {
		fr, err := b.freshness(ctx, "fresh", b.o.freshFor, time.Second)
		res.Freshness = fr
		if err != nil {
			fail("freshness", err)
		}
	}
	if b.o.soak > 0 && ctx.Err() == nil {
		fr, err := b.freshness(ctx, "soak", b.o.soak, 5*time.Second)
		res.Soak = fr
		if err != nil {
			fail("soak", err)
		}
	}
	res.Machine.LoadAfter = loadAvg()
	res.TotalSeconds = round(time.Since(start).Seconds(), 1)
	return res, errors.Join(errs...)
}

// readsProfile returns the index of the profile after which reads are
// timed: the last one that writes every driver 1..10,000 that reads ask
// for (not zipf, which leaves rare drivers unwritten), else the last.
func readsProfile(profiles []string) int {
	for i := len(profiles) - 1; i >= 0; i-- {
		if profiles[i] != "zipf" {
			return i
		}
	}
	return len(profiles) - 1
}

// profile produces the profile's events, times the catch-up runs of
// every binary on them (alternately, b.o.repeat rounds), checks what each
// wrote, measures reads (when reads is set) and the ceiling.
func (b *bench) profile(ctx context.Context, name string, reads bool, res *results) (*profileResult, error) {
	spec := profileSpec{name: name, n: b.o.n, hotKeys: b.o.hotKeys, zipfKeys: b.o.zipfKeys, zipfS: b.o.zipfS}
	topic, err := b.newTopic(name, nil)
	if err != nil {
		return nil, err
	}
	logf("%s: producing %d events to %s", name, spec.n, topic)
	ps, err := produceBulk(ctx, b.o.brokers, b.codec, topic, spec)
	if err != nil {
		return nil, err
	}
	pr := &profileResult{
		Name: name, Events: spec.n, Keys: ps.keys, Target: targets[name],
		ProduceSeconds: round(ps.elapsed.Seconds(), 2),
		ProducePerSec:  round(float64(spec.n)/ps.elapsed.Seconds(), 0),
	}
	logf("%s: produced in %.1fs (%.0f/s); materializing", name, ps.elapsed.Seconds(), pr.ProducePerSec)

	var runs []runResult
	for rnd := 1; rnd <= b.o.repeat; rnd++ {
		for _, bin := range b.o.bins {
			rr, err := b.materialize(ctx, bin, rnd, spec, topic, ps.keys)
			runs = append(runs, rr)
			if err != nil {
				pr.setRuns(runs, b.primary().Label)
				return pr, err
			}
		}
	}
	pr.setRuns(runs, b.primary().Label)

	key, err := redis.String(b.rc.Do("RANDOMKEY"))
	if err != nil {
		return pr, fmt.Errorf("RANDOMKEY: %w", err)
	}
	fields, err := sampleFields(b.rc, key)
	if err != nil {
		return pr, err
	}
	if reads {
		rr, err := b.reads(ctx)
		res.Reads = rr
		if err != nil {
			return pr, fmt.Errorf("reads: %w", err)
		}
	}

	if err := b.flush(); err != nil {
		return pr, err
	}
	keySpace := spec.keySpace()
	logf("%s: ceiling: redis-benchmark HSET, %d fields, -P %d -c %d -r %d", name, len(fields)/2, b.o.batch, b.o.clients, keySpace)
	cr, err := ceiling(ctx, b.o.redis, b.table+":", fields, spec.n, b.o.batch, b.o.clients, keySpace)
	if err != nil {
		return pr, err
	}
	if err := b.flush(); err != nil {
		return pr, err
	}
	pr.Ceiling = cr
	pr.Ratio = round(pr.EventsPerSec/cr.OpsPerSec, 3)
	logf("%s: ceiling %.0f HSET/s; ratio %.2f (target %.1f)", name, cr.OpsPerSec, pr.Ratio, pr.Target)
	if pr.Check != "" {
		return pr, errors.New(pr.Check)
	}
	return pr, nil
}

// materialize runs bin's `feathr materialize --until-caught-up` over the
// profile's topic, in a consumer group of its own and into an empty Redis,
// under GNU time, with the CPU of the broker, Redis and the machine and
// Redis's commands over the same interval, and checks that it read every
// event and wrote every one of the keys drivers. A failed check is in
// Check; the error is for a run that could not be measured.
func (b *bench) materialize(ctx context.Context, bin binary, rnd int, spec profileSpec, topic string, keys int) (runResult, error) {
	rr := runResult{Bin: bin.Label, Round: rnd}
	name := spec.name
	what := name
	if len(b.o.bins) > 1 || b.o.repeat > 1 {
		what = fmt.Sprintf("%s [%s, round %d]", name, bin.Label, rnd)
	}
	if err := b.flush(); err != nil {
		return rr, err
	}
	before, err := commandStats(b.rc)
	if err != nil {
		return rr, err
	}
	cpuBefore, err := b.clock.read()
	if err != nil {
		return rr, err
	}
	suffix := name + "-" + b.id + "-" + bin.fileLabel() + "-" + strconv.Itoa(rnd)
	mctx, cancel := context.WithTimeout(ctx, b.o.materialize)
	defer cancel()
	r, err := runFeathr(mctx, bin.Path, b.env(topic, "feathr-bench-"+suffix), nil,
		filepath.Join(b.o.work, suffix+".log"), true,
		"materialize", "-f", b.o.file, "--start", "earliest", "--until-caught-up")
	if err != nil {
		return rr, err
	}
	cpuAfter, err := b.clock.read()
	if err != nil {
		return rr, err
	}
	after, err := commandStats(b.rc)
	if err != nil {
		return rr, err
	}
	rr.CPU = b.clock.use(cpuBefore, cpuAfter, r.cpu, r.wall, runtime.NumCPU())
	rr.EvalshaMicrosPerCall = round(usecPerCall(before, after, "evalsha"), 1)
	sum, err := parseSummary(r.stdout)
	if err != nil {
		return rr, err
	}
	rr.Summary = sum.Raw
	rr.WallSeconds = round(r.wall.Seconds(), 2)
	rr.RunSeconds = round(sum.DurationSeconds, 2)
	if sum.DurationSeconds > 0 {
		rr.EventsPerSec = round(float64(sum.Read)/sum.DurationSeconds, 0)
	}
	rr.CPUSeconds = round(r.cpu.Seconds(), 2)
	rr.CPUMicrosPerEvent = round(float64(r.cpu.Microseconds())/float64(spec.n), 2)
	rr.PeakRSSMB = round(float64(r.maxRSSKB)/1024, 1)
	rr.RedisByCommand, rr.RedisCommands = commandDelta(before, after)
	rr.KeysInRedis, _ = redis.Int64(b.rc.Do("DBSIZE"))
	rr.UpdatesWritten, rr.KeysWritten = sum.Written, sum.KeysWritten
	logf("%s: %d events in %.1fs: %.0f events/s, %.1f CPU s, peak RSS %.0f MB, updates → key writes %s, redis %s",
		what, sum.Read, sum.DurationSeconds, rr.EventsPerSec, rr.CPUSeconds, rr.PeakRSSMB,
		coalescing(rr.UpdatesWritten, rr.KeysWritten), formatCommands(rr.RedisByCommand))
	logf("%s: CPU %s; bottleneck: %s", what, rr.CPU.String(), rr.CPU.bottleneck())
	var problems []string
	if sum.Read != int64(spec.n) {
		problems = append(problems, fmt.Sprintf("read %d of %d events", sum.Read, spec.n))
	}
	if sum.Errors != 0 {
		problems = append(problems, fmt.Sprintf("%d record errors", sum.Errors))
	}
	if sum.Stopped != "caught-up" {
		problems = append(problems, "stopped: "+sum.Stopped)
	}
	if rr.KeysInRedis != int64(keys) {
		problems = append(problems, fmt.Sprintf("%d keys in Redis, want %d", rr.KeysInRedis, keys))
	}
	rr.Check = strings.Join(problems, "; ")
	return rr, nil
}

// primary returns the binary that reads, freshness and soak run with, and
// whose runs the profile rows and the targets show: the last of -bins.
func (b *bench) primary() binary { return b.o.bins[len(b.o.bins)-1] }

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

// describeMachine reads the CPU, cores, memory and kernel from /proc.
func describeMachine() machine {
	m := machine{Cores: runtime.NumCPU(), Go: runtime.Version(), LoadBefore: loadAvg()}
	m.Host, _ = os.Hostname()
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				if f := strings.Fields(v); len(f) > 0 {
					kb, _ := strconv.ParseFloat(f[0], 64)
					m.RAMGB = round(kb/1024/1024, 1)
				}
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	return m
}

// loadAvg returns the 1, 5 and 15 minute load averages.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}
