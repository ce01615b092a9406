package e2e

import (
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/gomodule/redigo/redis"

	"github.com/feathrgo/feathr/internal/testenv"
)

// redisDo runs one command on addr; the error is the connection's or the
// command's.
func redisDo(addr, cmd string, args ...any) (any, error) {
	c, err := redis.Dial("tcp", addr, redis.DialConnectTimeout(2*time.Second), redis.DialReadTimeout(5*time.Second))
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.Do(cmd, args...)
}

// dbSize returns the number of keys on addr, or -1 when Redis does not
// answer.
func dbSize(addr string) int {
	n, err := redis.Int(redisDo(addr, "DBSIZE"))
	if err != nil {
		return -1
	}
	return n
}

// waitFor polls cond every 200ms until it holds, failing the test with
// what after timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", timeout, what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// committedSum is the sum of the offsets group committed on topic's
// partitions, a partition without a commit counting 0.
func committedSum(t *testing.T, brokers, group, topic string, partitions int) int64 {
	t.Helper()
	var sum int64
	for _, o := range committedOffsets(t, brokers, group, topic, partitions) {
		sum += max(o, 0)
	}
	return sum
}

// TestFaultRedisDown stops Redis for 20 s while events of hot keys
// arrive: the run keeps retrying, commits nothing that it did not write
// while Redis is down, and once Redis is back (empty: it keeps no data)
// every key holds the value of its newest event of the outage, no value
// having gone back to an older event at any time.
func TestFaultRedisDown(t *testing.T) {
	t.Parallel()
	brokers := testenv.Kafka(t)
	rs := testenv.StartRedis(t)
	d := startHotDrill(t, brokers, rs.Addr())
	h, p := d.h, d.p
	d.warmUp(t, 200)
	committed := func() int64 { return d.committed(t) }

	rs.Stop()
	h.lost() // the server keeps no data: only the events from now on are expected
	down := time.Now()
	h.produce(t, brokers, 200)
	holdDuring(t, down, 20*time.Second, 2*time.Second, "while Redis was down", 200, committed, p)
	rs.Start()
	h.waitNewest(t, time.Minute, "the events of the outage are not in Redis after it")
	outage := time.Since(down)
	waitFor(t, 15*time.Second, "the events of the outage are not committed", func() bool { return committed() == 400 })

	p.signal(t, syscall.SIGTERM)
	r := p.wait(t, time.Minute)
	s := checkSummary(t, r, wantSummary{read: 400, written: 400, stopped: "signal"})
	t.Logf("20 s outage: %d retries, %d log lines about writes", s.RedisRetries, logLines(r.stderr, "redis write"))
	if s.RedisRetries == 0 || s.RedisRetries > maxRetries(outage) {
		t.Errorf("%d Redis retries in a %v outage; want some, at most %d (the backoff's bound)", s.RedisRetries, outage, maxRetries(outage))
	}
	if n := logLines(r.stderr, "redis write"); n == 0 || n > 8 {
		t.Errorf("%d log lines about failed Redis writes in a 20 s outage, want 1 to 8:\n%s", n, r.stderr)
	}
	checkCommittedAtEnd(t, brokers, d.group, d.topic, d.partitions, 400)
	h.check(t)
}

// TestFaultKill9 kills materialize with SIGKILL while it writes events
// of hot keys, then runs it again: every key ends with the value of its
// newest event (at least once), none having gone back meanwhile.
func TestFaultKill9(t *testing.T) {
	t.Parallel()
	brokers := testenv.Kafka(t)
	redisAddr := testenv.Redis(t)
	const partitions, n, keys = 3, 3000, 30
	ht := newHotTopic(t, brokers, redisAddr, partitions, keys, hotOptions{})
	topic, group, cfg, h := ht.topic, ht.group, ht.cfg, ht.h
	p := startFeathr(t, "materialize", "-f", cfg, "--start", "earliest", "--timeout", "3m")
	p.waitAssigned(t, 30*time.Second)

	cfgP := testenv.SaramaConfig()
	cfgP.Producer.Partitioner = sarama.NewManualPartitioner
	cfgP.Producer.RequiredAcks = sarama.WaitForAll
	producer, err := sarama.NewSyncProducer(strings.Split(brokers, ","), cfgP)
	if err != nil {
		t.Fatalf("producer: %v", err)
	}
	defer producer.Close()
	produced := make(chan error, 1)
	go func() { // events keep arriving, before and after the kill
		for i := 0; i < n; i += 300 {
			if err := h.send(producer, 300); err != nil {
				produced <- err
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		produced <- nil
	}()
	waitFor(t, 30*time.Second, "nothing written", func() bool { return dbSize(redisAddr) == keys })
	p.signal(t, syscall.SIGKILL)
	<-p.done
	if err := <-produced; err != nil {
		t.Fatalf("produce: %v", err)
	}

	r := feathr(t, "", "materialize", "-f", cfg, "--start", "earliest", "--until-caught-up")
	s := parseSummary(t, r)
	if r.code != 0 || s.Stopped != "caught-up" || s.Errors != 0 {
		t.Fatalf("restart: %s", r)
	}
	if got := dbSize(redisAddr); got != keys {
		t.Errorf("Redis holds %d keys after the kill and a restart, want %d", got, keys)
	}
	h.check(t)
	// The producer may have written a message twice on a retry.
	var total int64
	for _, o := range highWatermarks(t, brokers, topic, partitions) {
		total += o
	}
	checkCommittedAtEnd(t, brokers, group, topic, partitions, total)
}

// TestFaultGroupMemberKilled runs two materialize processes in one
// consumer group and kills one with SIGKILL: the other takes over its
// partitions after the session timeout, and every hot key ends with the
// value of its newest event, none having gone back meanwhile.
func TestFaultGroupMemberKilled(t *testing.T) {
	t.Parallel()
	brokers := testenv.Kafka(t)
	redisAddr := testenv.Redis(t)
	const partitions = 4
	ht := newHotTopic(t, brokers, redisAddr, partitions, 16, hotOptions{})
	topic, group, cfg, h := ht.topic, ht.group, ht.cfg, ht.h
	a := startFeathr(t, "materialize", "-f", cfg, "--start", "earliest", "--timeout", "3m")
	a.waitAssigned(t, 30*time.Second)
	b := startFeathr(t, "materialize", "-f", cfg, "--start", "earliest", "--timeout", "3m")
	b.waitAssigned(t, 30*time.Second)
	// Both hold partitions once a's session after b joined has begun.
	waitFor(t, 30*time.Second, "the group did not rebalance over both members", func() bool {
		return strings.Count(a.stderrText(), "partitions assigned") >= 2
	})

	h.produce(t, brokers, 400)
	h.waitNewest(t, 30*time.Second, "the first 400 events are not in Redis")
	assignedB := strings.Count(b.stderrText(), "partitions assigned")
	a.signal(t, syscall.SIGKILL)
	<-a.done
	h.produce(t, brokers, 400)
	h.waitNewest(t, time.Minute, "the survivor did not take over")
	if strings.Count(b.stderrText(), "partitions assigned") <= assignedB {
		t.Errorf("the survivor was not assigned partitions again after the kill:\n%s", b.stderrText())
	}
	b.signal(t, syscall.SIGTERM)
	r := b.wait(t, time.Minute)
	if s := parseSummary(t, r); r.code != 0 || s.Errors != 0 || s.Stopped != "signal" {
		t.Errorf("survivor: %s", r)
	}
	checkCommittedAtEnd(t, brokers, group, topic, partitions, 800)
	h.check(t)
}

// TestFaultBrokerRestart restarts a private Kafka broker (scripts/kafka.sh
// on a free port, storage kept) while materialize runs: it reconnects and
// goes on, and every hot key ends with the value of its newest event.
func TestFaultBrokerRestart(t *testing.T) {
	t.Parallel()
	testenv.Kafka(t) // the suite runs only where a broker can run
	port := freePortPair(t)
	kafka := func(cmd string) {
		t.Helper()
		c := exec.Command("../scripts/kafka.sh", cmd)
		c.Env = append(os.Environ(), "FEATHR_KAFKA_PORT="+strconv.Itoa(port))
		if out, err := c.CombinedOutput(); err != nil {
			t.Fatalf("kafka.sh %s: %v\n%s", cmd, err, out)
		}
	}
	kafka("start")
	t.Cleanup(func() {
		kafka("stop")
		// kafka.sh keeps a run directory per port under its cache.
		cache := os.Getenv("FEATHR_CACHE")
		if cache == "" {
			cache = "../.cache"
		}
		os.RemoveAll(filepath.Join(cache, "kafka-run", strconv.Itoa(port)))
	})
	brokers := "127.0.0.1:" + strconv.Itoa(port)
	redisAddr := testenv.Redis(t)
	const partitions = 2
	ht := newHotTopic(t, brokers, redisAddr, partitions, 10, hotOptions{})
	topic, group, cfg, h := ht.topic, ht.group, ht.cfg, ht.h
	p := startFeathr(t, "materialize", "-f", cfg, "--start", "earliest", "--timeout", "4m")
	p.waitAssigned(t, 30*time.Second)

	h.produce(t, brokers, 100)
	h.waitNewest(t, 30*time.Second, "the first 100 events are not in Redis")
	restart := time.Now()
	kafka("restart")
	h.produce(t, brokers, 100)
	h.waitNewest(t, 2*time.Minute, "the events after the broker restart are not in Redis")
	outage := time.Since(restart)

	p.signal(t, syscall.SIGTERM)
	r := p.wait(t, time.Minute)
	s := parseSummary(t, r)
	if r.code != 0 || s.Errors != 0 || s.Stopped != "signal" || s.Read < 200 {
		t.Errorf("materialize: %s", r)
	}
	// sarama reports an error per partition and retry while the broker is
	// down; they are logged 5 per 10 s, plus a line counting the rest.
	periods := int(outage/(10*time.Second)) + 1
	n := logLines(r.stderr, "msg=kafka ")
	if n > 6*periods {
		t.Errorf("%d lines of Kafka errors in a %v outage, want at most %d:\n%s", n, outage, 6*periods, r.stderr)
	}
	t.Logf("%v outage: %d lines of Kafka errors", outage, n)
	checkCommittedAtEnd(t, brokers, group, topic, partitions, 200)
	h.check(t)
}

// freePortPair returns a loopback port p such that p and p+1 (the
// broker's controller port) were free a moment ago. They are drawn below
// Linux's ephemeral range (32768 and up), where the outgoing connections
// of the tests running in parallel take theirs: a port from Listen(":0")
// could be taken by one of them in the seconds the broker takes to bind.
func freePortPair(t *testing.T) int {
	t.Helper()
	for range 50 {
		p := 20000 + rand.IntN(12000)
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			continue
		}
		l2, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p+1))
		l.Close()
		if err == nil {
			l2.Close()
			return p
		}
	}
	t.Fatal("no two free adjacent ports")
	return 0
}
