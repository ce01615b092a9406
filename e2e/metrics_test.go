package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/feathrgo/feathr/internal/testenv"
	"github.com/feathrgo/feathr/sink"
)

// tableEventsConfig is a JSON source whose events {"id", "v"} each set feature
// val to v, and big to v * 1e11 (an integer overflow, so a record error,
// for v = 1e9), of entity id in table.
func tableEventsConfig(brokers, topic, group, redisAddr, table string) string {
	return fmt.Sprintf(`sources:
  events:
    kafka:
      brokers: [%q]
      topics: [%q]
      group: %q
    format: json
    schema: |
      {"type": "record", "name": "Event", "fields": [{"name": "id", "type": "long"}, {"name": "v", "type": "long"}]}
keys:
  id: {column: id, type: INT64}
anchors:
  a:
    source: events
    key: [id]
    features:
      val: {type: INT64, transform: "v"}
      big: {type: INT64, transform: "v * 100000000000"}
online_store:
  redis: {addr: %q}
materializations:
  events:
    sink: {redis: {table: %s}}
    features: [val, big]
`, brokers, topic, group, redisAddr, table)
}

// event is the record of entity id with value v, keyed by id.
func event(topic string, id, v int64) *kgo.Record {
	return &kgo.Record{Topic: topic, Key: strconv.AppendInt(nil, id, 10), Value: fmt.Appendf(nil, `{"id": %d, "v": %d}`, id, v)}
}

// kgoProducer is a franz-go client (not Sarama, the Kafka client feathr
// consumes with) that partitions records by key.
func kgoProducer(t *testing.T, brokers string) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(brokers, ",")...), kgo.ProducerLinger(5*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func produceSync(t *testing.T, cl *kgo.Client, recs ...*kgo.Record) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
}

// eventValues reads feature val of entities ids from table: id → v, for
// the ids Redis holds.
func eventValues(t *testing.T, redisAddr, table string, ids []int64) map[int64]int64 {
	t.Helper()
	c, err := redis.Dial("tcp", redisAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, id := range ids {
		c.Send("HGET", table+":"+strconv.FormatInt(id, 10), "val")
	}
	c.Flush()
	out := map[int64]int64{}
	for _, id := range ids {
		b, err := redis.Bytes(c.Receive())
		if err == redis.ErrNil {
			continue
		}
		if err != nil {
			t.Fatalf("HGET %d: %v", id, err)
		}
		v, err := sink.DecodeValue(b)
		if err != nil {
			t.Fatalf("value of %d: %v", id, err)
		}
		n, ok := v.(int64)
		if !ok {
			t.Fatalf("value of %d is %T %v, want an int64", id, v, v)
		}
		out[id] = n
	}
	return out
}

// redisKeys counts the keys in redisAddr.
func redisKeys(t *testing.T, redisAddr string) int64 {
	t.Helper()
	c, err := redis.Dial("tcp", redisAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	n, err := redis.Int64(c.Do("DBSIZE"))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// waitUntil polls cond every 100ms until it holds, failing the test with
// what() after timeout.
func waitUntil(t *testing.T, timeout time.Duration, cond func() bool, what func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", timeout, what())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

var metricsAddrRE = regexp.MustCompile(`msg="serving metrics" addr=(\S+)`)

// metricsAddr waits for the process to log where it serves metrics.
func (p *proc) metricsAddr(t *testing.T) string {
	t.Helper()
	var addr string
	waitUntil(t, 30*time.Second, func() bool {
		select {
		case <-p.done:
			t.Fatalf("feathr exited: %v\n%s", p.err, p.stderrText())
		default:
		}
		m := metricsAddrRE.FindStringSubmatch(p.stderrText())
		if m != nil {
			addr = m[1]
		}
		return m != nil
	}, func() string { return "no 'serving metrics' line:\n" + p.stderrText() })
	return addr
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	c := http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp.StatusCode, string(b)
}

// scrape reads /metrics: name{labels} (as printed) → value.
func scrape(t *testing.T, addr string) map[string]float64 {
	t.Helper()
	code, body := httpGet(t, "http://"+addr+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d\n%s", code, body)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if i < 0 || err != nil {
			t.Fatalf("/metrics: bad sample line %q", line)
		}
		out[line[:i]] = v
	}
	return out
}

// TestMetrics runs feathr materialize --metrics-addr against the real
// broker and checks, in scrapes taken while it runs, every metric it
// promises, and /healthz and /readyz through a Redis outage.
func TestMetrics(t *testing.T) {
	t.Parallel()
	brokers := testenv.Kafka(t)
	rs := testenv.StartRedis(t)
	topic := testenv.TopicName(t)
	const partitions = 3
	testenv.CreateTopic(t, brokers, topic, partitions)
	group := "feathr-e2e-" + topic
	cfg := writeFile(t, "features.yaml", tableEventsConfig(brokers, topic, group, rs.Addr(), "m"))

	cl := kgoProducer(t, brokers)
	var recs []*kgo.Record
	for id := int64(1); id <= 50; id++ {
		recs = append(recs, event(topic, id, id))
	}
	recs = append(recs,
		&kgo.Record{Topic: topic, Key: []byte("x"), Value: []byte("not json")}, // decode error
		event(topic, 1000, 1e9), // big overflows: feature error
	)
	produceSync(t, cl, recs...)

	p := startFeathr(t, "materialize", "-f", cfg, "--start", "earliest", "--timeout", "2m", "--metrics-addr", "127.0.0.1:0")
	addr := p.metricsAddr(t)
	if code, body := httpGet(t, "http://"+addr+"/healthz"); code != http.StatusOK {
		t.Errorf("/healthz: %d %s", code, body)
	}
	ready := func(want int) func() bool {
		return func() bool { code, _ := httpGet(t, "http://"+addr+"/readyz"); return code == want }
	}
	waitUntil(t, 30*time.Second, ready(http.StatusOK), func() string { return "/readyz is not 200:\n" + p.stderrText() })

	const (
		lbl   = `{materialization="events",source="events"}`
		fresh = "feathr_freshness_seconds"
	)
	var m map[string]float64
	waitUntil(t, 30*time.Second, func() bool {
		m = scrape(t, addr)
		return m["feathr_records_written_total"+lbl] == 50 && m["feathr_records_skipped_total"+lbl] == 2 && m[fresh+"_count"] == 50
	}, func() string {
		return fmt.Sprintf("metrics do not count 50 written and 2 skipped: %v\n%s", m, p.stderrText())
	})
	want := map[string]float64{
		"feathr_records_read_total" + lbl:                                                     52,
		"feathr_records_dead_lettered_total" + lbl:                                            0,
		`feathr_record_errors_total{kind="decode",materialization="events",source="events"}`:  1,
		`feathr_record_errors_total{kind="feature",materialization="events",source="events"}`: 1,
		`feathr_record_errors_total{kind="key",materialization="events",source="events"}`:     0,
		`feathr_partitions_assigned{source="events"}`:                                         partitions,
		`feathr_rebalances_total{source="events"}`:                                            1,
		"feathr_redis_write_retries_total":                                                    0,
		"feathr_redis_write_errors_total":                                                     0,
		fmt.Sprintf(`%s_bucket{le="+Inf"}`, fresh):                                            50,
	}
	for k, v := range want {
		if g, ok := m[k]; !ok || g != v {
			t.Errorf("%s = %v (present: %v), want %v", k, g, ok, v)
		}
	}
	for part := range partitions {
		k := fmt.Sprintf(`feathr_consumer_lag{partition="%d",source="events",topic=%q}`, part, topic)
		if g, ok := m[k]; !ok || g != 0 {
			t.Errorf("%s = %v (present: %v), want 0 once all is consumed", k, g, ok)
		}
	}
	for _, k := range []string{"feathr_redis_batch_updates_count", "feathr_redis_roundtrip_seconds_count", "feathr_redis_batches_total", fresh + "_sum"} {
		if m[k] <= 0 {
			t.Errorf("%s = %v, want > 0", k, m[k])
		}
	}
	if n := m["feathr_redis_batch_updates_sum"]; n != 50 {
		t.Errorf("feathr_redis_batch_updates_sum = %v, want the 50 updates", n)
	}
	for _, k := range []string{"go_goroutines", "process_cpu_seconds_total", "process_resident_memory_bytes", "feathr_build_info"} {
		if !hasMetric(m, k) {
			t.Errorf("%s is missing", k)
		}
	}

	// Redis goes away: not ready, and writes are retried; it comes back
	// (empty): ready again, and the events produced meanwhile are written.
	rs.Stop()
	waitUntil(t, 30*time.Second, ready(http.StatusServiceUnavailable), func() string { return "/readyz is still 200 with Redis stopped" })
	produceSync(t, cl, event(topic, 51, 51), event(topic, 52, 52))
	waitUntil(t, 30*time.Second, func() bool {
		m = scrape(t, addr)
		return m["feathr_redis_write_errors_total"] > 0
	}, func() string { return "no failed Redis write counted with Redis stopped" })
	rs.Start()
	waitUntil(t, 30*time.Second, ready(http.StatusOK), func() string { return "/readyz is not 200 after Redis came back:\n" + p.stderrText() })
	waitUntil(t, 30*time.Second, func() bool { return len(eventValues(t, rs.Addr(), "m", []int64{51, 52})) == 2 },
		func() string { return "events 51 and 52 are not in Redis after it came back:\n" + p.stderrText() })
	m = scrape(t, addr)
	if m["feathr_records_written_total"+lbl] != 52 || m["feathr_redis_write_retries_total"] <= 0 {
		t.Errorf("after the outage: written %v, retries %v; want 52 and > 0", m["feathr_records_written_total"+lbl], m["feathr_redis_write_retries_total"])
	}

	p.signal(t, syscall.SIGTERM)
	r := p.wait(t, 30*time.Second)
	var sum struct {
		Written   int64 `json:"updates_written"`
		Freshness *struct {
			P50, P99, Max float64
		} `json:"freshness_ms"`
	}
	decodeJSON(t, r.stdout, &sum)
	if r.code != 0 || sum.Written != 52 || sum.Freshness == nil || !(sum.Freshness.P50 <= sum.Freshness.P99 && sum.Freshness.P99 <= sum.Freshness.Max && sum.Freshness.Max > 0) {
		t.Errorf("summary: %s", r)
	}
}

// hasMetric reports whether m has a sample of the metric name.
func hasMetric(m map[string]float64, name string) bool {
	for k := range m {
		if k == name || strings.HasPrefix(k, name+"{") {
			return true
		}
	}
	return false
}
