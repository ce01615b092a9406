package e2e

import (
	"testing"
	"time"

	"github.com/feathrgo/feathr/internal/testenv"
)

// hotDrill is the set-up the Redis fault drills share: a topic of two
// partitions, 20 hot keys watched in Redis for regressions, and
// materialize reading the topic from the start, its partitions assigned.
type hotDrill struct {
	brokers, topic, group string
	partitions            int
	h                     *hotKeys
	p                     *proc
}

// hotTopic is a new topic of hot keys: its consumer group, the file of
// materialize's config writing them into a redis-server, and the keys,
// watched there for regressions.
type hotTopic struct {
	topic, group, cfg string
	h                 *hotKeys
}

// newHotTopic creates a topic of partitions for keys hot keys, written
// to redisAddr with o.
func newHotTopic(t *testing.T, brokers, redisAddr string, partitions, keys int, o hotOptions) hotTopic {
	t.Helper()
	ht := hotTopic{topic: testenv.TopicName(t)}
	testenv.CreateTopic(t, brokers, ht.topic, partitions)
	ht.group = "feathr-e2e-" + ht.topic
	ht.cfg = writeFile(t, "features.yaml", hotConfig(brokers, ht.topic, ht.group, redisAddr, o))
	ht.h = newHotKeys(ht.topic, partitions, keys)
	ht.h.watch(t, redisAddr)
	return ht
}

// startHotDrill starts the drill's materialize against the redis-server
// at redisAddr.
func startHotDrill(t *testing.T, brokers, redisAddr string) *hotDrill {
	t.Helper()
	d := &hotDrill{brokers: brokers, partitions: 2}
	ht := newHotTopic(t, brokers, redisAddr, d.partitions, 20, hotOptions{})
	d.topic, d.group, d.h = ht.topic, ht.group, ht.h
	d.p = startFeathr(t, "materialize", "-f", ht.cfg, "--start", "earliest", "--timeout", "3m")
	d.p.waitAssigned(t, 30*time.Second)
	return d
}

// committed is the sum of the group's committed offsets.
func (d *hotDrill) committed(t *testing.T) int64 {
	return committedSum(t, d.brokers, d.group, d.topic, d.partitions)
}

// warmUp produces n events and waits until each key holds its newest
// and every offset is committed.
func (d *hotDrill) warmUp(t *testing.T, n int) {
	t.Helper()
	d.h.produce(t, d.brokers, n)
	d.h.waitNewest(t, 30*time.Second, "the first events are not in Redis")
	waitFor(t, 15*time.Second, "the first events are not committed", func() bool { return d.committed(t) == int64(n) })
}

// holdDuring checks, every tick until d has passed since from, what must
// hold while a fault lasts (fault names it, "while Redis was down"): the
// committed offsets stay at want, when committed is set, and materialize
// p keeps running, when p is set.
func holdDuring(t *testing.T, from time.Time, d, tick time.Duration, fault string, want int64, committed func() int64, p *proc) {
	t.Helper()
	for time.Since(from) < d {
		time.Sleep(tick)
		if committed != nil {
			if got := committed(); got != want {
				t.Fatalf("%s, the group committed %d offsets, want the %d written before", fault, got, want)
			}
		}
		if p != nil {
			select {
			case <-p.done:
				t.Fatalf("materialize exited %s:\n%s", fault, p.stderrText())
			default:
			}
		}
	}
}
