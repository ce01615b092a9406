package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// What a run measured, as it is written in JSON (bench/results/*.json),
// and writeResults, which writes it and its Markdown report.

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
	// RedisBytesPerKey is Redis's used_memory after the run over the
	// drivers written (each driver's hash and, with aggregations, its
	// state and share of the refresh index); absent from older results.
	RedisBytesPerKey float64 `json:"redis_bytes_per_key,omitempty"`
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
	// ToWriter and InWriter split Pipeline for a sample of the records
	// (SplitSampled of them) where feathr handed them to its writer:
	// fetch wait, sarama and processing before; batch, writes in flight
	// and Redis after. Absent: feathr did not report them.
	ToWriter     *percentiles `json:"to_writer_ms,omitempty"`
	InWriter     *percentiles `json:"in_writer_ms,omitempty"`
	SplitSampled int          `json:"split_sampled,omitempty"`
	Poller       *percentiles `json:"poller_freshness_ms"`  // produce → visible in Redis
	ProduceAck   *percentiles `json:"kafka_produce_ack_ms"` // produce → broker ack, for diagnosis
	AppendCheck  *appendCheck `json:"append_check,omitempty"`
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
