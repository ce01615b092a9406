package e2e

import (
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/gomodule/redigo/redis"

	"github.com/feathrgo/feathr/internal/testenv"
)

// Faults of feathr's own processes: one killed with SIGKILL while it
// writes, one member of a group killed; and the helpers every fault test
// uses. The faults of the servers are in serverfaults_test.go.

// events returns the events with ids from..to-1 as messages to the
// partitions of topic in turn.
func events(topic string, partitions, from, to int) []*sarama.ProducerMessage {
	var msgs []*sarama.ProducerMessage
	for i := from; i < to; i++ {
		msgs = append(msgs, &sarama.ProducerMessage{Topic: topic, Partition: int32(i % partitions), Value: sarama.ByteEncoder(goodEvent(i))})
	}
	return msgs
}

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

// checkIDs fails the test unless Redis holds the events table's keys of
// every id in from..to-1.
func checkIDs(t *testing.T, addr string, from, to int) {
	t.Helper()
	var missing []int
	for i := from; i < to; i++ {
		n, err := redis.Int(redisDo(addr, "EXISTS", eventsTable+":"+strconv.Itoa(i)))
		if err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			missing = append(missing, i)
		}
	}
	if len(missing) > 0 {
		t.Errorf("%d events of %d..%d are not in Redis, the first: %v", len(missing), from, to-1, missing[:min(len(missing), 10)])
	}
}

// TestFaultKill9 kills materialize with SIGKILL while it writes, then runs
// it again: every event ends in Redis (at least once).
func TestFaultKill9(t *testing.T) {
	t.Parallel()
	brokers := testenv.Kafka(t)
	redisAddr := testenv.Redis(t)
	topic := testenv.TopicName(t)
	const partitions, n = 3, 3000
	testenv.CreateTopic(t, brokers, topic, partitions)
	group := "feathr-e2e-" + topic
	cfg := writeFile(t, "features.yaml", eventsConfig(brokers, topic, group, redisAddr, ""))
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
			if err := producer.SendMessages(events(topic, partitions, i, i+300)); err != nil {
				produced <- err
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		produced <- nil
	}()
	waitFor(t, 30*time.Second, "nothing written", func() bool { return dbSize(redisAddr) >= 300 })
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
	if got := dbSize(redisAddr); got != n {
		t.Errorf("Redis holds %d keys after the kill and a restart, want %d", got, n)
	}
	checkIDs(t, redisAddr, 0, n)
	// The producer may have written a message twice on a retry.
	var total int64
	for _, o := range highWatermarks(t, brokers, topic, partitions) {
		total += o
	}
	checkCommittedAtEnd(t, brokers, group, topic, partitions, total)
}

// TestFaultGroupMemberKilled runs two materialize processes in one
// consumer group and kills one with SIGKILL: the other takes over its
// partitions after the session timeout, and nothing is lost.
func TestFaultGroupMemberKilled(t *testing.T) {
	t.Parallel()
	brokers := testenv.Kafka(t)
	redisAddr := testenv.Redis(t)
	topic := testenv.TopicName(t)
	const partitions = 4
	testenv.CreateTopic(t, brokers, topic, partitions)
	group := "feathr-e2e-" + topic
	cfg := writeFile(t, "features.yaml", eventsConfig(brokers, topic, group, redisAddr, ""))
	a := startFeathr(t, "materialize", "-f", cfg, "--start", "earliest", "--timeout", "3m")
	a.waitAssigned(t, 30*time.Second)
	b := startFeathr(t, "materialize", "-f", cfg, "--start", "earliest", "--timeout", "3m")
	b.waitAssigned(t, 30*time.Second)
	// Both hold partitions once a's session after b joined has begun.
	waitFor(t, 30*time.Second, "the group did not rebalance over both members", func() bool {
		return strings.Count(a.stderrText(), "partitions assigned") >= 2
	})

	produceMessages(t, brokers, events(topic, partitions, 0, 400))
	waitFor(t, 30*time.Second, "the first 400 events are not in Redis", func() bool { return dbSize(redisAddr) == 400 })
	assignedB := strings.Count(b.stderrText(), "partitions assigned")
	a.signal(t, syscall.SIGKILL)
	<-a.done
	produceMessages(t, brokers, events(topic, partitions, 400, 800))
	waitFor(t, time.Minute, "the survivor did not take over", func() bool { return dbSize(redisAddr) == 800 })
	if strings.Count(b.stderrText(), "partitions assigned") <= assignedB {
		t.Errorf("the survivor was not assigned partitions again after the kill:\n%s", b.stderrText())
	}
	checkIDs(t, redisAddr, 0, 800)
	b.signal(t, syscall.SIGTERM)
	r := b.wait(t, time.Minute)
	if s := parseSummary(t, r); r.code != 0 || s.Errors != 0 || s.Stopped != "signal" {
		t.Errorf("survivor: %s", r)
	}
	checkCommittedAtEnd(t, brokers, group, topic, partitions, 800)
}
