package e2e

import (
	"encoding/binary"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/linkedin/goavro/v2"

	"github.com/feathrgo/feathr/internal/testenv"
)

// The fault drills of issue 12 beyond faults_test.go: each drives the
// built binary against the real broker and redis-server and checks the
// values of hot keys (hotkeys_test.go), with the bounds as numbers.

// TestFaultRedisHung stops redis-server with SIGSTOP for 20 s while events
// of hot keys arrive, then continues it: the server keeps its port and
// connections but answers nothing, so every write waits for its read
// timeout. Nothing is committed while it hangs; afterwards nothing is
// lost, no value ever went back to an older event, and the log has at
// most 8 lines about Redis writes.
func TestFaultRedisHung(t *testing.T) {
	t.Parallel()
	brokers := testenv.Kafka(t)
	rs := testenv.StartRedis(t)
	d := startHotDrill(t, brokers, rs.Addr())
	h, p := d.h, d.p
	d.warmUp(t, 200)
	committed := func() int64 { return d.committed(t) }

	rs.Pause()
	hung := time.Now()
	h.produce(t, brokers, 200)
	holdDuring(t, hung, 20*time.Second, 2*time.Second, "while Redis hung", 200, committed, p)
	rs.Resume()
	h.waitNewest(t, time.Minute, "the events produced while Redis hung are not in Redis after it")
	outage := time.Since(hung)
	waitFor(t, 15*time.Second, "the events produced while Redis hung are not committed", func() bool { return committed() == 400 })

	p.signal(t, syscall.SIGTERM)
	r := p.wait(t, time.Minute)
	s := checkSummary(t, r, wantSummary{read: 400, written: 400, stopped: "signal"})
	writes, lines := logLines(r.stderr, "redis write"), strings.Count(r.stderr, "\n")
	t.Logf("Redis hung for 20 s (%v until every value was back): %d retries, %d log lines about Redis writes, %d log lines in all",
		outage.Round(100*time.Millisecond), s.RedisRetries, writes, lines)
	if s.RedisRetries == 0 || s.RedisRetries > maxRetries(outage) {
		t.Errorf("%d Redis retries while Redis hung for %v; want some, at most %d (the backoff's bound)", s.RedisRetries, outage, maxRetries(outage))
	}
	if writes == 0 || writes > 8 {
		t.Errorf("%d log lines about Redis writes while Redis hung for 20 s, want 1 to 8:\n%s", writes, r.stderr)
	}
	if lines > 20 {
		t.Errorf("%d log lines in a run with Redis hung for 20 s, want at most 20:\n%s", lines, r.stderr)
	}
	checkCommittedAtEnd(t, brokers, d.group, d.topic, d.partitions, 400)
	h.check(t)
}

// TestFaultRedisRestartedWithData kills a redis-server that keeps an
// append-only file (fsynced before each reply) while events of hot keys
// arrive, and starts it again 5 s later with its data: right after the
// restart every key holds at least what it held before, nothing goes back
// to an older event at any time, and every event of the outage lands.
func TestFaultRedisRestartedWithData(t *testing.T) {
	t.Parallel()
	brokers := testenv.Kafka(t)
	rs := testenv.StartRedisWith(t, testenv.RedisOptions{AppendOnly: true})
	d := startHotDrill(t, brokers, rs.Addr())
	h, p := d.h, d.p
	d.warmUp(t, 200)
	committed := func() int64 { return d.committed(t) }
	before := h.expected()

	rs.Stop() // SIGKILL: a crash
	down := time.Now()
	h.produce(t, brokers, 200)
	holdDuring(t, down, 5*time.Second, time.Second, "while Redis was down", 200, committed, nil)
	rs.Start()
	h.checkAtLeast(t, before, "right after Redis restarted with its data")
	h.waitNewest(t, time.Minute, "the events of the outage are not in Redis after it")
	waitFor(t, 15*time.Second, "the events of the outage are not committed", func() bool { return committed() == 400 })

	p.signal(t, syscall.SIGTERM)
	r := p.wait(t, time.Minute)
	s := checkSummary(t, r, wantSummary{read: 400, written: 400, stopped: "signal"})
	t.Logf("Redis down 5 s, restarted with its data: %d retries, %d log lines about Redis writes", s.RedisRetries, logLines(r.stderr, "redis write"))
	checkCommittedAtEnd(t, brokers, d.group, d.topic, d.partitions, 400)
	h.check(t)
}

// TestFaultRegistryOutage reads Confluent-framed Avro through a schema
// registry that answers 503 for 15 s mid-stream, while the events coming
// in carry a schema id the run has not fetched yet: the partitions wait
// (nothing is committed past them), and once the registry answers every
// record lands, with records_skipped 0 and feathr_registry_retries_total
// above 0.
func TestFaultRegistryOutage(t *testing.T) {
	t.Parallel()
	brokers := testenv.Kafka(t)
	redisAddr := testenv.Redis(t)
	topic := testenv.TopicName(t)
	const partitions = 2
	testenv.CreateTopic(t, brokers, topic, partitions)
	group := "feathr-e2e-" + topic
	reg, url := newRegistry(t, map[int]string{7: hotSchema, 8: hotSchema})
	cfg := writeFile(t, "features.yaml", hotConfig(brokers, topic, group, redisAddr, hotOptions{
		format: fmt.Sprintf("format: confluent\n    registry: {url: %q}", url),
	}))
	h := newHotKeys(topic, partitions, 10)
	codec, err := goavro.NewCodec(hotSchema)
	if err != nil {
		t.Fatal(err)
	}
	schemaID := uint32(7)
	h.encode = func(e hotEvent) []byte {
		b := binary.BigEndian.AppendUint32([]byte{0}, schemaID)
		b, err := codec.BinaryFromNative(b, map[string]any{"id": int64(e.key), "seq": int64(e.seq), "ts": e.time, "pad": nil})
		if err != nil {
			panic(err)
		}
		return b
	}
	h.watch(t, redisAddr)
	p := startFeathr(t, "materialize", "-f", cfg, "--start", "earliest", "--timeout", "3m", "--metrics-addr", "127.0.0.1:0")
	metrics := p.metricsAddr(t)
	p.waitAssigned(t, 30*time.Second)

	h.produce(t, brokers, 100)
	h.waitNewest(t, 30*time.Second, "the first 100 events are not in Redis")
	waitFor(t, 15*time.Second, "the first 100 events are not committed", func() bool { return committedSum(t, brokers, group, topic, partitions) == 100 })

	reg.down.Store(true)
	down := time.Now()
	schemaID = 8 // not fetched yet: every record of the outage needs the registry
	h.produce(t, brokers, 100)
	holdDuring(t, down, 15*time.Second, time.Second, "while the registry was down", 100,
		func() int64 { return committedSum(t, brokers, group, topic, partitions) }, p)
	const retriesMetric = `feathr_registry_retries_total{source="events"}`
	retries := scrape(t, metrics)[retriesMetric]
	reg.down.Store(false)
	h.waitNewest(t, time.Minute, "the events of the registry outage are not in Redis after it")
	waitFor(t, 15*time.Second, "the events of the registry outage are not committed", func() bool { return committedSum(t, brokers, group, topic, partitions) == 200 })

	p.signal(t, syscall.SIGTERM)
	r := p.wait(t, time.Minute)
	s := checkSummary(t, r, wantSummary{read: 200, written: 200, stopped: "signal"})
	lines := logLines(r.stderr, "schema registry")
	fetches := reg.requests()["GET /schemas/ids/8"]
	t.Logf("registry down 15 s: %s = %v, %d requests for the new schema, %d log lines about the registry", retriesMetric, retries, fetches, lines)
	if s.Skipped != 0 || s.Errors != 0 {
		t.Errorf("records_skipped %d, record_errors %d: a registry outage is not a bad record", s.Skipped, s.Errors)
	}
	if retries <= 0 {
		t.Errorf("%s = %v during the outage, want > 0", retriesMetric, retries)
	}
	if fetches < 2 {
		t.Errorf("the new schema was requested %d times, want it retried", fetches)
	}
	// 5 lines per 10 s and one counting the rest, in the two periods of
	// a 15 s outage.
	if lines == 0 || lines > 12 {
		t.Errorf("%d log lines about the registry in a 15 s outage, want 1 to 12:\n%s", lines, r.stderr)
	}
	checkCommittedAtEnd(t, brokers, group, topic, partitions, 200)
	h.check(t)
}
