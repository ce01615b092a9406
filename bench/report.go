package main

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// The Markdown report of a run's results, and the formatting of its
// numbers.

// markdown renders the results as a short report: the machine, the
// summary table against the targets, and the per-profile details.
func markdown(res *results) string {
	var b bytes.Buffer
	m := res.Machine
	fmt.Fprintf(&b, "### feathr bench, %s\n\n", res.Date)
	fmt.Fprintf(&b, "Machine: %s, %d cores, %s GB RAM, Linux %s; load average %s before, %s after. ",
		m.CPU, m.Cores, num(m.RAMGB), m.Kernel, m.LoadBefore, m.LoadAfter)
	fmt.Fprintf(&b, "Redis %s, Kafka %s, %s, feathr %s.\n", m.Redis, orDash(m.Kafka), m.Go, orDash(m.Commit))
	s := res.Settings
	zipf := ""
	if s.ZipfKeys > 0 {
		zipf = fmt.Sprintf(", zipf = %s drivers (exponent %s)", humanInt(s.ZipfKeys), num(s.ZipfExponent))
	}
	fresh := fmt.Sprintf("freshness at %s events/s for %s", humanInt(s.Rate), s.Fresh)
	if s.Fresh == "0s" {
		fresh = "no freshness run"
	}
	fmt.Fprintf(&b, "Settings: %s events per profile, %d partitions, hot = %s drivers%s, batch %d, %d Redis connections; %s.\n",
		humanInt(s.Events), s.Partitions, humanInt(s.HotKeys), zipf, s.Batch, s.Clients, fresh)
	if len(s.Bins) > 0 {
		names := make([]string, len(s.Bins))
		for i, bin := range s.Bins {
			names[i] = bin.String()
		}
		fmt.Fprintf(&b, "Binaries: %s; %d runs of each per profile, alternating. The rows below are %s's (its run of median events/s), and reads and freshness ran with it.\n",
			strings.Join(names, ", "), s.Repeat, s.Bins[len(s.Bins)-1].Label)
	}

	b.WriteString("\n| measure | result | target | | issue |\n|---|---|---|---|---|\n")
	for _, r := range targetRows(res) {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", r.what, r.result, r.target, r.mark, r.issue)
	}

	if len(res.Profiles) > 0 {
		b.WriteString("\n| profile | events | keys | produce | run | events/s | CPU s (µs/event) | peak RSS | updates → key writes (coalesced) | Redis commands | Redis B/driver | ceiling |\n")
		b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|\n")
		for _, p := range res.Profiles {
			ceiling, perDriver := humanCount(p.Ceiling.OpsPerSec)+"/s", "–"
			if p.Name == aggProfile {
				ceiling = "–"
			}
			if p.RedisBytesPerKey > 0 {
				perDriver = num(p.RedisBytesPerKey)
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s s | %s s | %s | %s (%s) | %s MB | %s | %s | %s | %s |\n",
				p.Name, humanInt(p.Events), humanInt(p.Keys), num(p.ProduceSeconds), num(p.RunSeconds),
				humanCount(p.EventsPerSec), num(p.CPUSeconds), num(p.CPUMicrosPerEvent), num(p.PeakRSSMB),
				coalescing(p.UpdatesWritten, p.KeysWritten),
				strings.ReplaceAll(formatCommands(p.RedisByCommand), "|", "\\|"), perDriver, ceiling)
		}
	}
	if t := abTable(res); t != "" {
		b.WriteString("\n" + t)
	}
	if t := cpuTable(res.Profiles); t != "" {
		b.WriteString("\n" + t)
	}
	if f := res.Freshness; f != nil {
		fmt.Fprintf(&b, "\nFreshness run: %s events at %s/s, feathr read %s, CPU %s s, RSS after warm-up %s MB, end %s MB; poller: one sample per 10 ms, polled every %s ms, %d missing; Kafka produce→ack p50 / p99 / max %s ms.\n",
			humanInt(f.Produced), humanCount(f.ProducedPerSec), humanInt(int(f.Read)), num(f.CPUSeconds), num(f.RSSWarmMB), num(f.RSSEndMB), num(f.PollIntervalMs), f.Missing, f.ProduceAck.String())
		if f.ownShare() {
			b.WriteString("\n" + f.latencyTable())
		}
	}
	for _, e := range res.Errors {
		fmt.Fprintf(&b, "\n**error**: %s\n", e)
	}
	for _, p := range res.Profiles {
		if p.Check != "" {
			fmt.Fprintf(&b, "\n**check failed** (%s): %s\n", p.Name, p.Check)
		}
	}
	return b.String()
}

// cpuTable renders, per profile, the CPU feathr, the broker and
// redis-server used during the run as seconds and cores (seconds ÷ the
// wall seconds of feathr's process), Redis's cost per key written, and
// the bottleneck these name; "" when no profile has CPU figures.
func cpuTable(ps []profileResult) string {
	var b strings.Builder
	for _, p := range ps {
		u := p.CPU
		if u == nil {
			continue
		}
		if b.Len() == 0 {
			b.WriteString("CPU during each run, as CPU seconds = cores (÷ the wall seconds of feathr's process, exec to exit); machine: all cores busy, from /proc/stat.\n\n")
			b.WriteString("| profile | wall | feathr | µs/event | broker | redis-server | machine busy | Redis µs/key written | EVALSHA µs/call | bottleneck |\n")
			b.WriteString("|---|---|---|---|---|---|---|---|---|---|\n")
		}
		broker := "n/a"
		if u.BrokerSeconds != nil {
			broker = u.share(*u.BrokerSeconds)
		}
		perKey := "n/a"
		if p.KeysWritten > 0 {
			perKey = num(round(u.RedisSeconds*1e6/float64(p.KeysWritten), 2))
		}
		evalsha := "–"
		if p.EvalshaMicrosPerCall > 0 {
			evalsha = num(p.EvalshaMicrosPerCall)
		}
		fmt.Fprintf(&b, "| %s | %s s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
			p.Name, num(round(u.WallSeconds, 2)), u.share(u.FeathrSeconds), num(p.CPUMicrosPerEvent), broker,
			u.share(u.RedisSeconds), u.machine(), perKey, evalsha, u.bottleneck())
	}
	return b.String()
}

// coalescing renders updates against the key writes they became:
// "2.00M → 1.21M (39.5%)", the share of updates merged into another
// update of their key before the write; "n/a" when feathr did not say.
func coalescing(updates, keys int64) string {
	if updates <= 0 || keys <= 0 {
		return "n/a"
	}
	merged := 100 * (1 - float64(keys)/float64(updates))
	return fmt.Sprintf("%s → %s (%s%%)", humanCount(float64(updates)), humanCount(float64(keys)), num(round(merged, 1)))
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// round rounds x to d decimals.
func round(x float64, d int) float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return 0
	}
	p := math.Pow(10, float64(d))
	return math.Round(x*p) / p
}

// num formats x without trailing zeros: 12, 0.61, 3.5.
func num(x float64) string {
	return strconv.FormatFloat(x, 'f', -1, 64)
}

// humanInt formats n with thousands separators: 2,000,000.
func humanInt(n int) string {
	s := strconv.Itoa(n)
	if n < 0 {
		return "-" + humanInt(-n)
	}
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// humanCount formats a count compactly: 950, 12.3k, 2.00M.
func humanCount(x float64) string {
	switch {
	case x >= 1e6:
		return strconv.FormatFloat(x/1e6, 'f', 2, 64) + "M"
	case x >= 1e4:
		return strconv.FormatFloat(x/1e3, 'f', 1, 64) + "k"
	case x >= 1e3:
		return strconv.FormatFloat(x/1e3, 'f', 2, 64) + "k"
	}
	return strconv.FormatFloat(x, 'f', 0, 64)
}

// ownShare reports whether the run's record timestamps were append times,
// which makes feathr's freshness_ms its own share.
func (f *freshResult) ownShare() bool { return f.TimestampType == "LogAppendTime" }

// latencyTable renders where a record's time went in a freshness run:
// from its produce time to the broker's append, from the append to
// Redis's ack of feathr's write (feathr's share), and the outside views
// (produce → broker ack, produce → visible in Redis).
func (f *freshResult) latencyTable() string {
	var b strings.Builder
	b.WriteString("| freshness, ms | p50 | p99 | max | measured by |\n|---|---|---|---|---|\n")
	line := func(what string, p *percentiles, by string) {
		if p == nil {
			fmt.Fprintf(&b, "| %s | n/a | n/a | n/a | %s |\n", what, by)
			return
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", what, num(round(p.P50, 1)), num(round(p.P99, 1)), num(round(p.Max, 1)), by)
	}
	var appended *percentiles
	by := "records read back: not checked"
	if c := f.AppendCheck; c != nil {
		appended = c.AppendMinusProduce
		by = fmt.Sprintf("%s records read back (%s of %s with LogAppendTime), append time − datetime", humanInt(c.Sampled), humanInt(c.LogAppendTime), humanInt(c.Records))
	}
	line("produce → broker append", appended, by)
	line("**append → Redis ack (feathr's share)**", f.Pipeline, "feathr's summary, `freshness_ms`")
	if f.ToWriter != nil {
		split := fmt.Sprintf("feathr's summary, `freshness_split_ms`, %s records sampled", humanInt(f.SplitSampled))
		line("of which append → handed to the writer (fetch wait, sarama, decode, transforms)", f.ToWriter, split)
		line("of which handed to the writer → Redis ack (batch, writes in flight, Redis)", f.InWriter, split)
	}
	line("produce → broker ack", f.ProduceAck, "the producer's ack callbacks")
	line("produce → visible in Redis (end to end)", f.Poller, fmt.Sprintf("the poller, %d samples", f.Samples))
	return b.String()
}
