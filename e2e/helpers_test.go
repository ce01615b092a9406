package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/feathrgo/feathr/internal/testenv"
)

// python is Debian's interpreter, which has Debian's python3-* packages;
// a pyenv or virtualenv python3 first on PATH would not.
const python = "/usr/bin/python3"

// runTimeout bounds one foreground run of feathr or of a peer.
const runTimeout = 2 * time.Minute

// driverTripsSchema is the seed's DriverTrips schema.
const driverTripsSchema = `{"type": "record", "name": "DriverTrips", "fields": [
  {"name": "driver_id", "type": "long"},
  {"name": "trips_today", "type": "int"},
  {"name": "datetime", "type": {"type": "long", "logicalType": "timestamp-micros"}}]}`

// baseMicros is the event time of the first test event, in microseconds
// since the epoch (2026-11-26T12:00:00Z).
var baseMicros = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC).UnixMicro()

// trip is one DriverTrips event, in the JSON form produce.py reads.
type trip struct {
	DriverID   int64 `json:"driver_id"`
	TripsToday int32 `json:"trips_today"`
	Datetime   int64 `json:"datetime"` // microseconds since the epoch
}

// makeTrips returns n DriverTrips events for drivers 1..drivers, event i
// belonging to driver i%drivers+1 and happening i seconds after start (in
// microseconds), with varied trip counts.
func makeTrips(n, drivers int, start int64) []trip {
	trips := make([]trip, n)
	for i := range trips {
		trips[i] = trip{
			DriverID:   int64(i%drivers + 1),
			TripsToday: int32((i*7 + 3) % 23),
			Datetime:   start + int64(i)*int64(time.Second/time.Microsecond),
		}
	}
	return trips
}

// newestTrips returns each driver's event with the latest event time.
func newestTrips(trips []trip) map[int64]trip {
	m := map[int64]trip{}
	for _, tr := range trips {
		if old, ok := m[tr.DriverID]; !ok || tr.Datetime > old.Datetime {
			m[tr.DriverID] = tr
		}
	}
	return m
}

// result is the outcome of one run of a program.
type result struct {
	code   int
	stdout string
	stderr string
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
}

// run runs name with args and stdin, in the environment of the test plus
// env, and returns its exit code and output. It fails the test when the
// program cannot start or exceeds runTimeout.
func run(t *testing.T, env []string, stdin, name string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errOut.String()}
	var exit *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("%s %s: still running after %v\n%s", name, strings.Join(args, " "), runTimeout, r)
	case errors.As(err, &exit):
		r.code = exit.ExitCode()
	case err != nil:
		t.Fatalf("%s: %v", name, err)
	}
	return r
}

// feathr runs the feathr binary with args and stdin.
func feathr(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	return run(t, nil, stdin, feathrBin, args...)
}

// mustFeathr runs feathr and fails the test unless it exits 0.
func mustFeathr(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	r := feathr(t, stdin, args...)
	if r.code != 0 {
		t.Fatalf("feathr %s: %s", strings.Join(args, " "), r)
	}
	return r
}

// proc is feathr running in the background.
type proc struct {
	cmd      *exec.Cmd
	stdout   bytes.Buffer
	assigned chan struct{} // closed once stderr says "partitions assigned"
	done     chan struct{} // closed once the process exited
	err      error         // of cmd.Wait, set before done is closed

	mu     sync.Mutex
	stderr bytes.Buffer
}

// startFeathr starts feathr with args in the background. The process is
// killed, if still running, when the test ends.
func startFeathr(t *testing.T, args ...string) *proc {
	t.Helper()
	p := &proc{
		cmd:      exec.Command(feathrBin, args...),
		assigned: make(chan struct{}),
		done:     make(chan struct{}),
	}
	p.cmd.Stdout = &p.stdout
	pipe, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start feathr: %v", err)
	}
	go func() {
		sc := bufio.NewScanner(pipe)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		seen := false
		for sc.Scan() {
			p.mu.Lock()
			p.stderr.Write(sc.Bytes())
			p.stderr.WriteByte('\n')
			p.mu.Unlock()
			if !seen && strings.Contains(sc.Text(), "partitions assigned") {
				seen = true
				close(p.assigned)
			}
		}
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// stderrText returns what the process wrote to stderr so far.
func (p *proc) stderrText() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

// waitAssigned waits until the consumer group assigned partitions to the
// process, failing the test when it exits first or timeout passes.
func (p *proc) waitAssigned(t *testing.T, timeout time.Duration) {
	t.Helper()
	select {
	case <-p.assigned:
	case <-p.done:
		t.Fatalf("feathr exited before partitions were assigned: %v\nstdout: %s\nstderr: %s", p.err, p.stdout.String(), p.stderrText())
	case <-time.After(timeout):
		t.Fatalf("no partitions assigned after %v\nstderr: %s", timeout, p.stderrText())
	}
}

// signal sends sig to the process.
func (p *proc) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal %v: %v", sig, err)
	}
}

// wait waits for the process to exit and returns its result, failing the
// test when timeout passes first.
func (p *proc) wait(t *testing.T, timeout time.Duration) result {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		t.Fatalf("feathr still running after %v\nstderr: %s", timeout, p.stderrText())
	}
	r := result{stdout: p.stdout.String(), stderr: p.stderrText()}
	var exit *exec.ExitError
	if errors.As(p.err, &exit) {
		r.code = exit.ExitCode()
	} else if p.err != nil {
		t.Fatalf("feathr: %v", p.err)
	}
	return r
}

// summary is the JSON line feathr materialize prints at exit.
type summary struct {
	Materializations []string `json:"materializations"`
	Read             int64    `json:"records_read"`
	Written          int64    `json:"updates_written"`
	Skipped          int64    `json:"records_skipped"`
	Errors           int64    `json:"record_errors"`
	DeadLettered     int64    `json:"records_dead_lettered"`
	Keys             int64    `json:"keys_written"`
	Stale            int64    `json:"stale_updates_skipped"`
	RedisRetries     int64    `json:"redis_retries"`
	Stopped          string   `json:"stopped"`
	Error            string   `json:"error"`
}

// parseSummary decodes the summary, the only line of r's stdout.
func parseSummary(t *testing.T, r result) summary {
	t.Helper()
	out := strings.TrimSpace(r.stdout)
	if strings.Count(out, "\n") != 0 {
		t.Fatalf("materialize printed more than one line on stdout:\n%s", r)
	}
	var s summary
	dec := json.NewDecoder(strings.NewReader(out))
	if err := dec.Decode(&s); err != nil {
		t.Fatalf("materialize summary is not JSON: %v\n%s", err, r)
	}
	return s
}

// wantSummary is what a test expects of a materialize summary.
type wantSummary struct {
	read, written, errors int64
	stopped               string
}

// checkSummary runs the materialize result through the checks that every
// run must pass (exit 0, no error, no dead letters) and compares the counts.
func checkSummary(t *testing.T, r result, want wantSummary) summary {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("materialize: %s", r)
	}
	s := parseSummary(t, r)
	if s.Read != want.read || s.Written != want.written || s.Errors != want.errors || s.Stopped != want.stopped || s.Error != "" {
		t.Errorf("summary: read %d, written %d, errors %d, stopped %q, error %q; want read %d, written %d, errors %d, stopped %q\n%s",
			s.Read, s.Written, s.Errors, s.Stopped, s.Error, want.read, want.written, want.errors, want.stopped, r)
	}
	return s
}

// writeFile writes content to name in a temporary directory of the test
// and returns its path.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// writeEvents writes events as JSON lines and returns the file's path.
func writeEvents[E any](t *testing.T, events []E) string {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	for _, e := range events {
		if err := enc.Encode(e); err != nil {
			t.Fatal(err)
		}
	}
	return writeFile(t, "events.jsonl", b.String())
}

// requirePeers fails the test, with the command that installs them, when
// a peer client is missing.
func requirePeers(t *testing.T) {
	t.Helper()
	peerOnce.Do(func() {
		var missing []string
		if _, err := exec.LookPath("kcat"); err != nil {
			missing = append(missing, "kcat")
		}
		if _, err := exec.LookPath("protoc"); err != nil {
			missing = append(missing, "protoc")
		}
		check := "import confluent_kafka, redis, google.protobuf\ntry:\n import fastavro\nexcept ImportError:\n import avro.io"
		if out, err := exec.Command(python, "-c", check).CombinedOutput(); err != nil {
			missing = append(missing, fmt.Sprintf("%s modules (%v: %s)", python, err, bytes.TrimSpace(out)))
		}
		if len(missing) > 0 {
			peerErr = fmt.Sprintf("peer clients missing: %s; run scripts/peers.sh install", strings.Join(missing, ", "))
		}
	})
	if peerErr != "" {
		t.Fatal(peerErr)
	}
}

var (
	peerOnce sync.Once
	peerErr  string
)

// pyProduce produces events to topic with testdata/produce.py
// (confluent_kafka and an Avro schemaless writer); args are extra flags
// such as --key or --schema-id.
func pyProduce[E any](t *testing.T, brokers, topic, schema string, events []E, args ...string) {
	t.Helper()
	a := append([]string{"testdata/produce.py",
		"--schema", writeFile(t, "schema.avsc", schema),
		"--events", writeEvents(t, events),
		"--brokers", brokers, "--topic", topic,
	}, args...)
	r := run(t, nil, "", python, a...)
	if r.code != 0 {
		t.Fatalf("produce.py: %s", r)
	}
	var out struct {
		Produced int `json:"produced"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || out.Produced != len(events) {
		t.Fatalf("produce.py: produced %d of %d (%v)\n%s", out.Produced, len(events), err, r)
	}
}

// avroFiles encodes each event as plain Avro binary into a file of its
// own with testdata/produce.py, and returns the files in event order.
func avroFiles[E any](t *testing.T, schema string, events []E) []string {
	t.Helper()
	dir := t.TempDir()
	r := run(t, nil, "", python, "testdata/produce.py",
		"--schema", writeFile(t, "schema.avsc", schema),
		"--events", writeEvents(t, events),
		"--out-dir", dir)
	if r.code != 0 {
		t.Fatalf("produce.py --out-dir: %s", r)
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.avro"))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(files)
	if len(files) != len(events) {
		t.Fatalf("produce.py wrote %d files for %d events", len(files), len(events))
	}
	return files
}

// kcatProduce sends each file as one message to topic with kcat, file i
// to partition i%partitions, one kcat run per partition.
func kcatProduce(t *testing.T, brokers, topic string, partitions int, files []string) {
	t.Helper()
	for p := range partitions {
		args := []string{"-P", "-b", brokers, "-t", topic, "-p", strconv.Itoa(p), "-X", "acks=all"}
		for i := p; i < len(files); i += partitions {
			args = append(args, files[i])
		}
		if r := run(t, nil, "", "kcat", args...); r.code != 0 {
			t.Fatalf("kcat: %s", r)
		}
	}
}

// compileProto compiles sink/featurepb/feature_value.proto for Python with
// Debian's protoc and returns the directory of feature_value_pb2.py.
func compileProto(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	r := run(t, nil, "", "protoc", "--python_out="+dir, "-I", "../sink/featurepb", "feature_value.proto")
	if r.code != 0 {
		t.Fatalf("protoc: %s", r)
	}
	return dir
}

// pyReadFeatures reads features with testdata/read_features.py, as
// Feathr's Python client does; keys are strings or, for a composite key,
// lists of parts. It returns {"joined key": {"feature": value}}.
func pyReadFeatures(t *testing.T, pbDir, redisAddr, table string, keys []any, features []string) map[string]map[string]any {
	t.Helper()
	k, err := json.Marshal(keys)
	if err != nil {
		t.Fatal(err)
	}
	r := run(t, nil, "", python, "testdata/read_features.py",
		"--redis", redisAddr, "--pb-dir", pbDir, "--table", table,
		"--features", strings.Join(features, ","), "--keys", string(k))
	if r.code != 0 {
		t.Fatalf("read_features.py: %s", r)
	}
	var out map[string]map[string]any
	decodeJSON(t, r.stdout, &out)
	return out
}

// decodeJSON decodes s into v, failing the test on error.
func decodeJSON(t *testing.T, s string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(s), v); err != nil {
		t.Fatalf("bad JSON %q: %v", s, err)
	}
}

// jsonForm returns v as it reads back from JSON (numbers as float64,
// slices as []any), so that it compares with decoded output.
func jsonForm(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	decodeJSON(t, string(b), &out)
	return out
}

// getFeatures runs feathr get and returns its decoded JSON.
func getFeatures(t *testing.T, redisAddr, table, key string, features []string) map[string]any {
	t.Helper()
	r := mustFeathr(t, "", "get", "--redis", "redis://"+redisAddr, table, key, strings.Join(features, ","))
	var out map[string]any
	decodeJSON(t, r.stdout, &out)
	return out
}

// multiGet runs feathr multi-get with the keys on stdin (KEYS "-") and
// returns its decoded JSON.
func multiGet(t *testing.T, redisAddr, table string, keys []string, features []string) map[string]map[string]any {
	t.Helper()
	args := append([]string{"multi-get", "--redis", "redis://" + redisAddr, table, "-"}, features...)
	r := mustFeathr(t, strings.Join(keys, "\n")+"\n", args...)
	var out map[string]map[string]any
	decodeJSON(t, r.stdout, &out)
	return out
}

// checkEqual fails the test unless got and want are deeply equal in their
// JSON forms.
func checkEqual(t *testing.T, what string, got, want any) {
	t.Helper()
	if g, w := jsonForm(t, got), jsonForm(t, want); !reflect.DeepEqual(g, w) {
		gb, _ := json.Marshal(g)
		wb, _ := json.Marshal(w)
		t.Errorf("%s:\n got %s\nwant %s", what, gb, wb)
	}
}

// committedOffsets returns the offsets group committed for the partitions
// 0..partitions-1 of topic (-1 where it committed none).
func committedOffsets(t *testing.T, brokers, group, topic string, partitions int) map[int32]int64 {
	t.Helper()
	admin, err := sarama.NewClusterAdmin(strings.Split(brokers, ","), testenv.SaramaConfig())
	if err != nil {
		t.Fatalf("admin: %v", err)
	}
	defer admin.Close()
	ps := make([]int32, partitions)
	for i := range ps {
		ps[i] = int32(i)
	}
	resp, err := admin.ListConsumerGroupOffsets(group, map[string][]int32{topic: ps})
	if err != nil {
		t.Fatalf("list offsets of group %s: %v", group, err)
	}
	if resp.Err != sarama.ErrNoError {
		t.Fatalf("list offsets of group %s: %v", group, resp.Err)
	}
	out := map[int32]int64{}
	for _, p := range ps {
		b := resp.GetBlock(topic, p)
		if b == nil {
			t.Fatalf("group %s: no offset block for %s/%d", group, topic, p)
		}
		if b.Err != sarama.ErrNoError {
			t.Fatalf("group %s: %s/%d: %v", group, topic, p, b.Err)
		}
		out[p] = b.Offset
	}
	return out
}

// highWatermarks returns the high watermark (the next offset to be
// written) of each partition 0..partitions-1 of topic.
func highWatermarks(t *testing.T, brokers, topic string, partitions int) map[int32]int64 {
	t.Helper()
	client, err := sarama.NewClient(strings.Split(brokers, ","), testenv.SaramaConfig())
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	defer client.Close()
	out := map[int32]int64{}
	for p := range int32(partitions) {
		off, err := client.GetOffset(topic, p, sarama.OffsetNewest)
		if err != nil {
			t.Fatalf("high watermark of %s/%d: %v", topic, p, err)
		}
		out[p] = off
	}
	return out
}

// checkCommittedAtEnd fails the test unless topic holds total records and
// group committed exactly the high watermark of each of its partitions (or
// nothing, for a partition that holds no record).
func checkCommittedAtEnd(t *testing.T, brokers, group, topic string, partitions int, total int64) {
	t.Helper()
	hw := highWatermarks(t, brokers, topic, partitions)
	var sum int64
	for _, o := range hw {
		sum += o
	}
	if sum != total {
		t.Fatalf("topic %s holds %d records (%v), want %d", topic, sum, hw, total)
	}
	got := committedOffsets(t, brokers, group, topic, partitions)
	for p, o := range got {
		if o == -1 && hw[p] == 0 {
			got[p] = 0 // an empty partition: nothing to commit
		}
	}
	if !reflect.DeepEqual(got, hw) {
		t.Errorf("group %s committed %v, want the high watermarks %v", group, got, hw)
	}
}
