package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

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

// results is everything one run measured; it is written as JSON.
type results struct {
	Date         string          `json:"date"`
	Host         string          `json:"host"`
	Machine      machine         `json:"machine"`
	Settings     settings        `json:"settings"`
	Profiles     []profileResult `json:"profiles"`
	Reads        *readResult     `json:"reads,omitempty"`
	Freshness    *freshResult    `json:"freshness,omitempty"`
	Soak         *freshResult    `json:"soak,omitempty"`
	Errors       []string        `json:"errors,omitempty"`
	TotalSeconds float64         `json:"total_seconds"`
}

type machine struct {
	Host       string  `json:"host"`
	CPU        string  `json:"cpu"`
	Cores      int     `json:"cores"`
	RAMGB      float64 `json:"ram_gb"`
	Kernel     string  `json:"kernel"`
	LoadBefore string  `json:"loadavg_before"`
	LoadAfter  string  `json:"loadavg_after"`
	Go         string  `json:"go"`
	Redis      string  `json:"redis"`
	Kafka      string  `json:"kafka"`
	Commit     string  `json:"feathr_commit"`
}

type settings struct {
	Events     int `json:"events"`
	Partitions int `json:"partitions"`
	HotKeys    int `json:"hot_keys"`
	// ZipfKeys and ZipfExponent describe the zipf profile (absent from
	// results before it existed).
	ZipfKeys     int     `json:"zipf_keys,omitempty"`
	ZipfExponent float64 `json:"zipf_exponent,omitempty"`
	Batch        int     `json:"batch_size"`
	Clients      int     `json:"redis_clients"`
	Rate         int     `json:"fresh_rate"`
	Fresh        string  `json:"fresh_duration"`
	Soak         string  `json:"soak_duration"`
	// Bins are the binaries compared and Repeat the runs of each per
	// profile (absent from results before -bins).
	Bins   []binary `json:"bins,omitempty"`
	Repeat int      `json:"repeat,omitempty"`
}

// profileResult is one throughput profile: its events, the run its rows
// show (embedded: the primary binary's run of median events/s), every run
// when there were several, and the ceiling.
type profileResult struct {
	Name           string  `json:"name"`
	Events         int     `json:"events"`
	Keys           int     `json:"keys"`
	ProduceSeconds float64 `json:"produce_seconds"`
	ProducePerSec  float64 `json:"produce_per_sec"`
	runResult
	// Runs are all the catch-up runs, in the order they ran (rounds of
	// each binary in turn); absent when there was one.
	Runs    []runResult   `json:"runs,omitempty"`
	Ceiling ceilingResult `json:"ceiling"`
	Ratio   float64       `json:"ratio"`
	Target  float64       `json:"target_ratio"`
}

// runResult is one catch-up run of one binary over a profile's topic.
type runResult struct {
	Bin               string           `json:"bin,omitempty"`   // the binary's label (-bins)
	Round             int              `json:"round,omitempty"` // 1, 2, ...
	WallSeconds       float64          `json:"wall_seconds"`
	RunSeconds        float64          `json:"run_seconds"`
	EventsPerSec      float64          `json:"events_per_sec"`
	CPUSeconds        float64          `json:"cpu_seconds"`
	CPUMicrosPerEvent float64          `json:"cpu_us_per_event"`
	PeakRSSMB         float64          `json:"peak_rss_mb"`
	RedisCommands     int64            `json:"redis_commands"`
	RedisByCommand    map[string]int64 `json:"redis_commands_by_name"`
	KeysInRedis       int64            `json:"keys_in_redis"`
	// UpdatesWritten and KeysWritten are feathr's updates_written and
	// keys_written: updates before and Redis key writes after coalescing.
	UpdatesWritten int64 `json:"updates_written,omitempty"`
	KeysWritten    int64 `json:"keys_written,omitempty"`
	// CPU is what feathr, the broker, redis-server and the machine used
	// during the run (absent from older results).
	CPU *cpuUse `json:"cpu,omitempty"`
	// EvalshaMicrosPerCall is INFO commandstats' usec per EVALSHA call
	// over the run (0: none).
	EvalshaMicrosPerCall float64 `json:"evalsha_us_per_call,omitempty"`
	// Check lists what a run got wrong (events unread, keys missing); in
	// a profile, what any of its runs got wrong.
	Check   string          `json:"check,omitempty"`
	Summary json.RawMessage `json:"feathr_summary,omitempty"`
}

// readResult is the wall time of whole feathr get/multi-get processes.
type readResult struct {
	GetMs        []float64 `json:"get_ms"`
	GetP50       float64   `json:"get_p50_ms"`
	GetMax       float64   `json:"get_max_ms"`
	Keys         int       `json:"multi_get_keys"`
	MultiMs      []float64 `json:"multi_get_ms"`
	MultiP50     float64   `json:"multi_get_p50_ms"`
	MultiMax     float64   `json:"multi_get_max_ms"`
	MultiMissing int       `json:"multi_get_missing_keys"`
}

// freshResult is a paced run: freshness and memory.
type freshResult struct {
	Rate           int     `json:"rate"`
	Seconds        float64 `json:"seconds"`
	Produced       int     `json:"produced"`
	ProducedPerSec float64 `json:"produced_per_sec"`
	Read           int64   `json:"read"`
	// TimestampType is the topic's message.timestamp.type: with
	// LogAppendTime, Pipeline (feathr's freshness_ms) runs from the
	// broker's append to Redis's ack, feathr's own share; absent (older
	// results), from the produce time, end to end.
	TimestampType string       `json:"timestamp_type,omitempty"`
	Pipeline      *percentiles `json:"pipeline_freshness_ms"` // null: feathr does not report it
	Poller        *percentiles `json:"poller_freshness_ms"`   // produce → visible in Redis
	ProduceAck    *percentiles `json:"kafka_produce_ack_ms"`  // produce → broker ack, for diagnosis
	AppendCheck   *appendCheck `json:"append_check,omitempty"`
	// PollerMaxBySecond is the poller's largest latency (ms) among the
	// samples produced in each second of the run.
	PollerMaxBySecond []float64       `json:"poller_max_ms_by_second"`
	Samples           int             `json:"poller_samples"`
	Missing           int             `json:"poller_missing"`
	PollIntervalMs    float64         `json:"poll_interval_ms"`
	CPUSeconds        float64         `json:"cpu_seconds"`
	PeakRSSMB         float64         `json:"peak_rss_mb"`
	RSSWarmMB         float64         `json:"rss_after_warmup_mb"`
	RSSEndMB          float64         `json:"rss_end_mb"`
	RSSMaxMB          float64         `json:"rss_max_sampled_mb"`
	RSS               []rssSample     `json:"rss_samples"`
	Summary           json.RawMessage `json:"feathr_summary,omitempty"`
}

// writeResults writes OUT/<date>-<host>.json and .md and prints the
// Markdown on w.
func writeResults(out string, res *results, w io.Writer) error {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	t, err := time.Parse(time.RFC3339, res.Date)
	if err != nil {
		t = time.Now()
	}
	host := strings.NewReplacer("/", "_", " ", "_").Replace(res.Host)
	base := filepath.Join(out, t.UTC().Format("2006-01-02T1504Z")+"-"+host)
	js, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(base+".json", append(js, '\n'), 0o644); err != nil {
		return err
	}
	md := markdown(res)
	if err := os.WriteFile(base+".md", []byte(md), 0o644); err != nil {
		return err
	}
	fmt.Fprint(w, md)
	fmt.Fprintf(w, "\nwritten: %s.json, %s.md\n", base, base)
	return nil
}

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
		b.WriteString("\n| profile | events | keys | produce | run | events/s | CPU s (µs/event) | peak RSS | updates → key writes (coalesced) | Redis commands | ceiling |\n")
		b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|\n")
		for _, p := range res.Profiles {
			fmt.Fprintf(&b, "| %s | %s | %s | %s s | %s s | %s | %s (%s) | %s MB | %s | %s | %s/s |\n",
				p.Name, humanInt(p.Events), humanInt(p.Keys), num(p.ProduceSeconds), num(p.RunSeconds),
				humanCount(p.EventsPerSec), num(p.CPUSeconds), num(p.CPUMicrosPerEvent), num(p.PeakRSSMB),
				coalescing(p.UpdatesWritten, p.KeysWritten),
				strings.ReplaceAll(formatCommands(p.RedisByCommand), "|", "\\|"), humanCount(p.Ceiling.OpsPerSec))
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
	line("produce → broker ack", f.ProduceAck, "the producer's ack callbacks")
	line("produce → visible in Redis (end to end)", f.Poller, fmt.Sprintf("the poller, %d samples", f.Samples))
	return b.String()
}
