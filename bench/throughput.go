package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"github.com/gomodule/redigo/redis"
)

// The throughput measure: for each profile, its events produced once, the
// catch-up runs of every binary over them (feathr materialize
// --until-caught-up under GNU time, with the CPU of every process and
// Redis's commands), the checks of what each wrote, and the ceiling.

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
	if name == aggProfile {
		aggRatio(pr, res.Profiles)
		if pr.Check != "" {
			return pr, errors.New(pr.Check)
		}
		return pr, b.flush()
	}

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
	memBefore, err := usedMemory(b.rc)
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
		"materialize", "-f", b.fileFor(name), "--start", "earliest", "--until-caught-up")
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
	if memAfter, err := usedMemory(b.rc); err == nil && keys > 0 {
		rr.RedisBytesPerKey = round(float64(memAfter-memBefore)/float64(keys), 0)
	}
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
	if want := keysOf(name, keys); rr.KeysInRedis != int64(want) {
		problems = append(problems, fmt.Sprintf("%d keys in Redis, want %d", rr.KeysInRedis, want))
	}
	if sum.Late > 0 {
		problems = append(problems, fmt.Sprintf("%d late events: event times must be near now", sum.Late))
	}
	rr.Check = strings.Join(problems, "; ")
	return rr, nil
}
