package cmd

import (
	"context"
	"encoding/json"
	"errors"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/feathrgo/feathr/internal/testenv"
)

func TestVersion(t *testing.T) {
	old := version
	t.Cleanup(func() { version = old })
	tests := []struct {
		name    string
		ldflags string // the value -ldflags -X sets
		args    []string
		code    int
		want    string // stdout prefix
		err     string // stderr prefix
	}{
		{"ldflags text", "v1.2.3-4-gabcdef", []string{"version"}, ExitOK, "feathr v1.2.3-4-gabcdef ", ""},
		{"ldflags json", "v1.2.3", []string{"version", "-o", "json"}, ExitOK, `{"version":"v1.2.3",`, ""},
		{"no ldflags", "", []string{"version"}, ExitOK, "feathr devel", ""},
		{"--version", "v2.0.0", []string{"--version"}, ExitOK, "feathr v2.0.0\n", ""},
		{"bad output", "v1", []string{"version", "-o", "yaml"}, ExitUsage, "", `feathr: --output must be text or json, not "yaml"`},
		{"extra arg", "v1", []string{"version", "x"}, ExitUsage, "", `feathr: unknown command "x" for "feathr version"`},
		{"bad flag", "v1", []string{"version", "--json"}, ExitUsage, "", "feathr: unknown flag: --json\nRun 'feathr version --help' for usage."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			version = tt.ldflags
			code, out, errOut := runCmd(t, context.Background(), "", nil, tt.args...)
			if code != tt.code || !strings.HasPrefix(out, tt.want) || !strings.HasPrefix(errOut, tt.err) {
				t.Errorf("exit %d, stdout %q, stderr %q; want %d, %q... and %q...", code, out, errOut, tt.code, tt.want, tt.err)
			}
		})
	}
	version = "v1.2.3"
	_, out, _ := runCmd(t, context.Background(), "", nil, "version", "-o", "json")
	var v VersionInfo
	decodeJSON(t, out, &v)
	if v.Version != "v1.2.3" || v.Go != runtime.Version() || v.Platform != runtime.GOOS+"/"+runtime.GOARCH {
		t.Errorf("version -o json = %+v", v)
	}
}

func TestCompletion(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ shell, want string }{
		{"bash", "__start_feathr"},
		{"zsh", "#compdef feathr"},
		{"fish", "complete -c feathr"},
		{"powershell", "Register-ArgumentCompleter"},
	} {
		code, out, errOut := runCmd(t, context.Background(), "", nil, "completion", tt.shell)
		if code != ExitOK || !strings.Contains(out, tt.want) {
			t.Errorf("completion %s: exit %d, output without %q\nstderr: %s", tt.shell, code, tt.want, errOut)
		}
	}
	cfg := writeFile(t, "f.yaml", strings.Replace(seedConfig("127.0.0.1:1", "t", "127.0.0.1:1", ""),
		"materializations:\n", "materializations:\n  other:\n    sink: {redis: {table: o}}\n    features: [f_busy]\n", 1))
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"materialize", "-f", cfg, ""}, []string{"other", "kafkaSampleDemo"}},
		{[]string{"materialize", "-f", cfg, "other", ""}, []string{"kafkaSampleDemo"}},
		{[]string{"materialize", "-f", cfg, "k"}, []string{"kafkaSampleDemo"}},
		{[]string{"materialize", "--rebalance-strategy", ""}, []string{"range", "roundrobin", "sticky", "cooperative-sticky"}},
		{[]string{"materialize", "--start", ""}, []string{"earliest", "latest"}},
		{[]string{""}, []string{"completion", "dev", "get", "materialize", "multi-get", "validate", "version"}},
	}
	for _, tt := range tests {
		code, out, errOut := runCmd(t, context.Background(), "", nil, append([]string{"__complete"}, tt.args...)...)
		var got []string
		for _, line := range strings.Split(out, "\n") {
			if line == "" || strings.HasPrefix(line, ":") {
				continue
			}
			got = append(got, strings.SplitN(line, "\t", 2)[0])
		}
		got = slices.DeleteFunc(got, func(s string) bool { return s == "help" })
		if code != ExitOK || !slices.Equal(got, tt.want) {
			t.Errorf("__complete %q: exit %d, %q, want %q\nstderr: %s", tt.args, code, got, tt.want, errOut)
		}
	}
}

func TestMaterializeFlagErrors(t *testing.T) {
	t.Parallel()
	// A file that loads, for the checks made once it is read.
	cfg := writeFile(t, "f.yaml", seedConfig("127.0.0.1:1", "t", "127.0.0.1:1", ""))
	for _, tt := range []struct {
		args []string
		msg  string // what stderr starts with, after "feathr: "
	}{
		{[]string{"--rebalance-strategy", "fastest"}, `--rebalance-strategy: rebalance strategy "fastest": want one of range, roundrobin, sticky, cooperative-sticky`},
		{[]string{"--rebalance-strategy", "range,range"}, `--rebalance-strategy: rebalance strategy "range" is listed twice`},
		{[]string{"--dry-run", "--metrics-addr", ":0"}, "--metrics-addr cannot be used with --dry-run"},
		{[]string{"--dry-run-rows", "-1"}, "--dry-run-rows must not be negative"},
		{[]string{"--dry-run-rows", "many"}, `invalid argument "many" for "--dry-run-rows" flag: strconv.ParseInt: parsing "many": invalid syntax`},
		{[]string{"--start", "nowhere"}, `invalid argument "nowhere" for "--start" flag: want earliest or latest, not "nowhere"` + "\nRun 'feathr materialize --help' for usage."},
		{[]string{"--timeout", "-1s"}, "--timeout must not be negative"},
		{[]string{"--timeout", "soon"}, `invalid argument "soon" for "--timeout" flag: time: invalid duration "soon"`},
		{[]string{"--timeout"}, "flag needs an argument: --timeout"},
		{[]string{"--shutdown-timeout", "0"}, "--shutdown-timeout must be more than 0"},
		{[]string{"--shutdown-timeout", "-5s"}, "--shutdown-timeout must be more than 0"},
		{[]string{"--log-format", "xml"}, `--log-format must be text or json, not "xml"`},
		{[]string{"--bogus"}, "unknown flag: --bogus\nRun 'feathr materialize --help' for usage."},
		{[]string{"-x"}, "unknown shorthand flag: 'x' in -x\nRun 'feathr materialize --help' for usage."},
		{[]string{"--until-caught-up=maybe"}, `invalid argument "maybe" for "--until-caught-up" flag`},
		{[]string{"-f", cfg, "--redis", "ftp://h:1"}, `--redis: invalid redis URL: scheme "ftp": want redis, rediss, redis+cluster or rediss+cluster`},
	} {
		code, out, errOut := runCmd(t, context.Background(), "", nil, append([]string{"materialize", "-f", "nothing.yaml"}, tt.args...)...)
		if code != ExitUsage {
			t.Errorf("materialize %q: exit %d, want 2\nstderr: %s", tt.args, code, errOut)
		}
		if want := "feathr: " + tt.msg; !strings.HasPrefix(errOut, want) || out != "" {
			t.Errorf("materialize %q: stdout %q, stderr %q; want nothing, and stderr starting with %q", tt.args, out, errOut, want)
		}
	}
}

// TestGetFlagErrors checks the usage errors of get and multi-get, which
// come before the store is opened.
func TestGetFlagErrors(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		args []string
		msg  string // what stderr starts with, after "feathr: "
	}{
		{[]string{"get", "-o", "yaml", "t", "1", "a"}, `--output must be json or table, not "yaml"`},
		{[]string{"multi-get", "-o", "yaml", "t", "1,2", "a"}, `--output must be json or table, not "yaml"`},
		{[]string{"get", "-o"}, "flag needs an argument: 'o' in -o"},
		{[]string{"get"}, "requires at least 3 arg(s), only received 0\nUsage: feathr get TABLE KEY FEATURE... [flags]"},
		{[]string{"get", "t", "1"}, "requires at least 3 arg(s), only received 2\nUsage: feathr get TABLE KEY FEATURE... [flags]"},
		{[]string{"multi-get", "t"}, "requires at least 3 arg(s), only received 1\nUsage: feathr multi-get TABLE KEYS FEATURE... [flags]"},
		{[]string{"get", "t", "1", ",,"}, "no features given"},
		{[]string{"multi-get", "t", "1", " , "}, "no features given"},
		{[]string{"get", "--nope", "t", "1", "a"}, "unknown flag: --nope\nRun 'feathr get --help' for usage."},
		{[]string{"multi-get", "--nope", "t", "1", "a"}, "unknown flag: --nope\nRun 'feathr multi-get --help' for usage."},
		{[]string{"get", "--redis", "ftp://h:1", "t", "1", "a"}, `--redis: invalid redis URL: scheme "ftp": want redis, rediss, redis+cluster or rediss+cluster`},
		{[]string{"get", "--redis", "redis://h:1/x", "t", "1", "a"}, `--redis: invalid redis URL: database "x": want a number`},
	} {
		st := &fakeStore{}
		r := newFakeRun(st, nil)
		code := r.run(context.Background(), tt.args...)
		if code != ExitUsage {
			t.Errorf("%q: exit %d, want 2\nstderr: %s", tt.args, code, r.err.String())
		}
		if want := "feathr: " + tt.msg; !strings.HasPrefix(r.err.String(), want) || r.out.String() != "" {
			t.Errorf("%q: stdout %q, stderr %q; want nothing, and stderr starting with %q", tt.args, r.out.String(), r.err.String(), want)
		}
		if len(st.opened) != 0 {
			t.Errorf("%q: the store was opened", tt.args)
		}
	}
}

// dryRow is a row feathr materialize --dry-run prints.
type dryRow struct {
	Materialization string         `json:"materialization"`
	Key             string         `json:"key"`
	Features        map[string]any `json:"features"`
	EventTime       time.Time      `json:"event_time"`
	Topic           string         `json:"topic"`
	Partition       int32          `json:"partition"`
	Offset          int64          `json:"offset"`
}

// dryRun runs materialize --dry-run and returns its rows and summary.
func dryRun(t *testing.T, args ...string) ([]dryRow, runSummary) {
	t.Helper()
	code, out, errOut := runCmd(t, context.Background(), "", nil, append([]string{"materialize", "--dry-run"}, args...)...)
	if code != ExitOK {
		t.Fatalf("dry run %q: exit %d\nstdout: %s\nstderr: %s", args, code, out, errOut)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	var rows []dryRow
	for _, l := range lines[:len(lines)-1] {
		var r dryRow
		decodeJSON(t, l, &r)
		rows = append(rows, r)
	}
	var sum struct {
		runSummary
		DryRun bool `json:"dry_run"`
	}
	decodeJSON(t, lines[len(lines)-1], &sum)
	if !sum.DryRun {
		t.Errorf("summary %s: dry_run is not true", lines[len(lines)-1])
	}
	return rows, sum.runSummary
}

func TestMaterializeDryRun(t *testing.T) {
	t.Parallel()
	topic := testenv.TopicName(t)
	brokers := testenv.KFake(t, 2, topic)
	cl := producer(t, brokers)
	base := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	for i := range 10 {
		produce(t, cl, tripRecord(t, topic, int32(i%2), trip{driver: int64(i), trips: int32(i), at: base.Add(time.Duration(i) * time.Second)}))
	}
	group := "feathr-test-" + topic

	// No Redis at all: the online store's port is closed.
	noRedis := writeFile(t, "no-redis.yaml", seedConfig(brokers, topic, "127.0.0.1:1", ""))
	rows, sum := dryRun(t, "-f", noRedis, "--start", "earliest", "--dry-run-rows", "4")
	if len(rows) != 4 || sum.Written != 4 || sum.Stopped != "rows" {
		t.Fatalf("%d rows, summary %+v; want 4 rows, stopped rows", len(rows), sum)
	}
	for _, r := range rows {
		d := r.Offset*2 + int64(r.Partition) // driver i is at partition i%2, offset i/2
		want := dryRow{
			Materialization: "kafkaSampleDemo", Key: "kafkaSampleDemoFeature:" + strconv.FormatInt(d, 10),
			EventTime: base.Add(time.Duration(d) * time.Second), Topic: topic, Partition: r.Partition, Offset: r.Offset,
		}
		if r.Materialization != want.Materialization || r.Key != want.Key || !r.EventTime.Equal(want.EventTime) || r.Topic != topic {
			t.Errorf("row %+v, want %+v", r, want)
		}
		if got := r.Features["f_modified_streaming_count"]; got != float64(d+1) {
			t.Errorf("row %+v: f_modified_streaming_count %v, want %d", r, got, d+1)
		}
		if got := r.Features["f_busy"]; got != false {
			t.Errorf("row %+v: f_busy %v, want false", r, got)
		}
	}

	// With a Redis there, still nothing is written.
	redisAddr := testenv.Redis(t)
	cfg := writeFile(t, "f.yaml", seedConfig(brokers, topic, redisAddr, ""))
	rows, sum = dryRun(t, "-f", cfg, "--start", "earliest", "--until-caught-up", "--dry-run-rows", "0")
	if len(rows) != 10 || sum.Read != 10 || sum.Stopped != "caught-up" {
		t.Fatalf("%d rows, summary %+v; want 10 rows, 10 read, caught-up", len(rows), sum)
	}
	if n := dbSize(t, redisConn(t, redisAddr)); n != 0 {
		t.Errorf("dry run: Redis holds %d keys, want none", n)
	}
	checkNoGroup(t, brokers, group)

	// After a real run committed everything, a dry run reads only what
	// came since: it starts at the group's committed offsets.
	mustMaterialize(t, "-f", cfg, "--start", "earliest", "--until-caught-up")
	if got := committedOffsets(t, brokers, group, topic, 2); !slices.Equal(got, []int64{5, 5}) {
		t.Fatalf("group %s committed %v, want [5 5]", group, got)
	}
	produce(t, cl, tripRecord(t, topic, 1, trip{driver: 99, trips: 20, at: base}))
	rows, sum = dryRun(t, "-f", cfg, "--until-caught-up")
	if len(rows) != 1 || rows[0].Key != "kafkaSampleDemoFeature:99" || rows[0].Partition != 1 || rows[0].Offset != 5 || rows[0].Features["f_busy"] != true {
		t.Errorf("rows %+v (summary %+v), want driver 99 at partition 1 offset 5", rows, sum)
	}
	if got := committedOffsets(t, brokers, group, topic, 2); !slices.Equal(got, []int64{5, 5}) {
		t.Errorf("dry run moved the committed offsets to %v", got)
	}
}

func TestMaterializeFreshnessSummary(t *testing.T) {
	t.Parallel()
	redisAddr := testenv.Redis(t)
	topic := testenv.TopicName(t)
	brokers := testenv.KFake(t, 1, topic)
	cfg := writeFile(t, "f.yaml", seedConfig(brokers, topic, redisAddr, ""))
	type summary struct {
		Freshness *struct{ P50, P99, Max float64 } `json:"freshness_ms"`
	}
	// Nothing written: no freshness.
	_, out, _ := runCmd(t, context.Background(), "", nil, "materialize", "-f", cfg, "--until-caught-up")
	var s summary
	decodeJSON(t, out, &s)
	if s.Freshness != nil || strings.Contains(out, "freshness_ms") {
		t.Errorf("summary %s: freshness_ms without a record written", out)
	}

	cl := producer(t, brokers)
	before := time.Now()
	for i := range 20 {
		produce(t, cl, tripRecord(t, topic, 0, trip{driver: int64(i), trips: 1, at: time.Now()}))
	}
	_, out, errOut := runCmd(t, context.Background(), "", nil, "materialize", "-f", cfg, "--start", "earliest", "--until-caught-up")
	elapsed := time.Since(before)
	decodeJSON(t, out, &s)
	f := s.Freshness
	if f == nil {
		t.Fatalf("summary %s: no freshness_ms\nstderr: %s", out, errOut)
	}
	// Each record was produced and written within the test's time.
	if !(0 < f.P50 && f.P50 <= f.P99 && f.P99 <= f.Max && f.Max <= float64(elapsed.Milliseconds())+1) {
		t.Errorf("freshness_ms %+v: want 0 < p50 <= p99 <= max <= %v", *f, elapsed)
	}
	var raw map[string]json.RawMessage
	decodeJSON(t, out, &raw)
	var keys map[string]float64
	decodeJSON(t, string(raw["freshness_ms"]), &keys)
	if len(keys) != 3 {
		t.Errorf("freshness_ms %s: want exactly p50, p99 and max", raw["freshness_ms"])
	}
}

// checkNoGroup fails the test unless the broker knows nothing of group:
// it never committed an offset.
func checkNoGroup(t *testing.T, brokers, group string) {
	t.Helper()
	admin, err := sarama.NewClusterAdmin(strings.Split(brokers, ","), testenv.SaramaConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	resp, err := admin.ListConsumerGroupOffsets(group, nil)
	if errors.Is(err, sarama.ErrGroupIDNotFound) {
		return
	}
	if err != nil {
		t.Fatalf("list offsets of group %s: %v", group, err)
	}
	for topic, parts := range resp.Blocks {
		for p, b := range parts {
			if b.Offset >= 0 {
				t.Errorf("group %s committed %s/%d@%d", group, topic, p, b.Offset)
			}
		}
	}
}
