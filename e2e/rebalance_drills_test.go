package e2e

// The drills of rebalances: Redis down during one, SIGTERM during one, a quiet partition restarted.

import (
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/feathrgo/feathr/internal/testenv"
)

// TestFaultRebalanceRedisDown has a second member join the group while
// Redis is down. A member cannot start without Redis (that is exit 1 by
// design), so each member reaches Redis through a proxy that the drill
// cuts: the first member's at once, the second's once it has started.
// The first member's flush of the partitions it gives up fails; the
// second gets them; Redis comes back 20 s after it went, first for the
// second member, which writes its partitions and newer events after them,
// then for the first. Nothing is lost, each key holds the value of its
// newest event, none went back at any time: with ordering event, and
// with ordering arrival, where a former owner's write landing after the
// new owner's (issue 12 item 3) would show.
func TestFaultRebalanceRedisDown(t *testing.T) {
	t.Parallel()
	brokers := testenv.Kafka(t)
	for _, ordering := range []string{"event", "arrival"} {
		t.Run(ordering, func(t *testing.T) {
			t.Parallel()
			redisAddr := testenv.Redis(t)
			toA, toB := startProxy(t, redisAddr), startProxy(t, redisAddr)
			topic := testenv.TopicName(t)
			const partitions = 4
			testenv.CreateTopic(t, brokers, topic, partitions)
			group := "feathr-e2e-" + topic
			o := hotOptions{ordering: ordering}
			cfgA := writeFile(t, "a.yaml", hotConfig(brokers, topic, group, toA.addr, o))
			cfgB := writeFile(t, "b.yaml", hotConfig(brokers, topic, group, toB.addr, o))
			h := newHotKeys(topic, partitions, 16)
			h.arrival = ordering == "arrival"
			h.watch(t, redisAddr)
			args := []string{"materialize", "--start", "earliest", "--timeout", "4m", "--shutdown-timeout", "10s"}
			a := startFeathr(t, append(args, "-f", cfgA)...)
			a.waitAssigned(t, 30*time.Second)
			h.produce(t, brokers, 80)
			h.waitNewest(t, 30*time.Second, "the first 80 events are not in Redis")
			waitFor(t, 15*time.Second, "the first 80 events are not committed", func() bool { return committedSum(t, brokers, group, topic, partitions) == 80 })

			toA.cut()
			down := time.Now()
			h.produce(t, brokers, 80)
			waitFor(t, 30*time.Second, "the first member does not fail to write", func() bool { return strings.Contains(a.stderrText(), "redis write failed") })
			joined := time.Now()
			b := startFeathr(t, append(args, "-f", cfgB)...)
			waitFor(t, 30*time.Second, "the second member did not start", func() bool { return strings.Contains(b.stderrText(), "msg=materializing") })
			toB.cut()
			b.waitAssigned(t, 90*time.Second)
			rebalance := time.Since(joined)
			waitFor(t, 30*time.Second, "the first member was not assigned partitions again", func() bool {
				return strings.Count(a.stderrText(), "partitions assigned") >= 2
			})
			if !strings.Contains(a.stderrText(), "flushing writes before commit") {
				t.Errorf("the first member gave its partitions up without failing to flush them: the rebalance was not during the outage\n%s", a.stderrText())
			}
			holdDuring(t, down, 20*time.Second, time.Second, "while Redis was down", 80,
				func() int64 { return committedSum(t, brokers, group, topic, partitions) }, nil)

			// Redis is back for the second member first: it writes its
			// partitions, then newer events of them.
			toB.restore()
			partsB := assignedPartitions(t, b.stderrText(), topic)
			keysB := h.keysOf(partsB...)
			h.waitNewest(t, time.Minute, "the second member did not write its partitions", keysB...)
			h.produce(t, brokers, 80)
			h.waitNewest(t, time.Minute, "the second member did not write the newer events", keysB...)
			// Then for the first: whatever it still holds of the partitions
			// it gave up must not land over the second member's values.
			toA.restore()
			outage := time.Since(down)
			waitFor(t, time.Minute, "the first member's writes did not recover", func() bool { return strings.Contains(a.stderrText(), "redis writes recovered") })
			var keysA []int
			for k := range h.n {
				if !slices.Contains(keysB, k) {
					keysA = append(keysA, k)
				}
			}
			h.waitNewest(t, time.Minute, "the first member did not write its partitions", keysA...)
			t.Logf("ordering %s: the second member was assigned partitions %v after %v; Redis down %v for the first member",
				ordering, partsB, rebalance.Round(100*time.Millisecond), outage.Round(100*time.Millisecond))

			a.signal(t, syscall.SIGTERM)
			b.signal(t, syscall.SIGTERM)
			for name, m := range map[string]*proc{"first": a, "second": b} {
				if r := m.wait(t, time.Minute); r.code != 0 {
					t.Errorf("%s member: %s", name, r)
				}
			}
			checkCommittedAtEnd(t, brokers, group, topic, partitions, 240)
			h.check(t)
		})
	}
}

// TestFaultSigtermDuringRebalance sends SIGTERM to materialize while its
// consumer group rebalances and waits for a member that does not let go
// (a sarama member whose Cleanup blocks, heartbeating, so the group waits
// for it up to the rebalance timeout, a minute): the process exits within
// its --shutdown-timeout of 10 s, everything it committed is in Redis,
// and a restart writes the rest.
func TestFaultSigtermDuringRebalance(t *testing.T) {
	t.Parallel()
	brokers := testenv.Kafka(t)
	redisAddr := testenv.Redis(t)
	const partitions = 4
	ht := newHotTopic(t, brokers, redisAddr, partitions, 16, hotOptions{})
	topic, group, cfg, h := ht.topic, ht.group, ht.cfg, ht.h
	const shutdown = 10 * time.Second
	args := []string{"materialize", "-f", cfg, "--start", "earliest", "--timeout", "4m", "--shutdown-timeout", shutdown.String()}
	a := startFeathr(t, append(args, "--metrics-addr", "127.0.0.1:0")...)
	metrics := a.metricsAddr(t)
	a.waitAssigned(t, 30*time.Second)

	// Events keep coming until the run ends.
	producer := newProducer(t, brokers)
	stop, produced := make(chan struct{}), make(chan error, 1)
	go func() {
		for {
			select {
			case <-stop:
				produced <- nil
				return
			case <-time.After(100 * time.Millisecond):
			}
			if err := h.send(producer, 16); err != nil {
				produced <- err
				return
			}
		}
	}()
	waitFor(t, 30*time.Second, "nothing written", func() bool { return dbSize(redisAddr) == 16 })

	x := startHolder(t, brokers, group, topic)
	waitFor(t, 30*time.Second, "the group did not rebalance over the first member and the holder", func() bool {
		return strings.Count(a.stderrText(), "partitions assigned") >= 2
	})
	b := startFeathr(t, args...) // joins: the group rebalances, and waits for the holder
	select {
	case <-x.holding:
	case <-time.After(30 * time.Second):
		t.Fatal("the second member's join did not start a rebalance")
	}
	waitFor(t, 30*time.Second, "the group is not rebalancing", func() bool { return groupState(t, brokers, group) == "PreparingRebalance" })
	// The first member's session ended (it holds no partition), and it
	// waits to join again.
	waitFor(t, 30*time.Second, "the first member's session did not end", func() bool {
		return scrape(t, metrics)[`feathr_partitions_assigned{source="events"}`] == 0
	})
	time.Sleep(time.Second)

	sent := time.Now()
	a.signal(t, syscall.SIGTERM)
	r := a.wait(t, time.Minute)
	exit := time.Since(sent)
	committed := committedOffsets(t, brokers, group, topic, partitions)
	t.Logf("SIGTERM during a rebalance held by a member: exit %d after %v (--shutdown-timeout %v); committed %v", r.code, exit.Round(10*time.Millisecond), shutdown, committed)
	if exit > shutdown+2*time.Second {
		t.Errorf("exit %v after SIGTERM, want within the shutdown timeout %v (and 2 s to end the process)\n%s", exit, shutdown, r.stderr)
	}
	if s := parseSummary(t, r); s.Stopped != "signal" {
		t.Errorf("summary: %s", r)
	}
	h.checkCommitted(t, committed)

	x.release()
	close(stop)
	if err := <-produced; err != nil {
		t.Fatalf("produce: %v", err)
	}
	b.signal(t, syscall.SIGTERM)
	if r := b.wait(t, time.Minute); r.code != 0 {
		t.Errorf("second member: %s", r)
	}
	r = feathr(t, "", "materialize", "-f", cfg, "--start", "earliest", "--until-caught-up")
	if s := parseSummary(t, r); r.code != 0 || s.Stopped != "caught-up" || s.Errors != 0 {
		t.Fatalf("restart: %s", r)
	}
	var total int64
	for _, o := range highWatermarks(t, brokers, topic, partitions) {
		total += o
	}
	checkCommittedAtEnd(t, brokers, group, topic, partitions, total)
	h.check(t)
}

// TestFaultQuietPartitionRestart runs with start: latest while one
// partition gets no record, stops, and runs again: the quiet partition's
// start was committed in the first run, so what was produced to it while
// the process was down lands after the restart.
func TestFaultQuietPartitionRestart(t *testing.T) {
	t.Parallel()
	brokers := testenv.Kafka(t)
	redisAddr := testenv.Redis(t)
	const partitions = 2
	ht := newHotTopic(t, brokers, redisAddr, partitions, 8, hotOptions{})
	topic, group, cfg, h := ht.topic, ht.group, ht.cfg, ht.h
	p := startFeathr(t, "materialize", "-f", cfg, "--start", "latest", "--timeout", "2m")
	p.waitAssigned(t, 30*time.Second)
	h.produce(t, brokers, 40, h.keysOf(0)...) // partition 1 stays quiet
	h.waitNewest(t, 30*time.Second, "the events of partition 0 are not in Redis")
	p.signal(t, syscall.SIGTERM)
	checkSummary(t, p.wait(t, time.Minute), wantSummary{read: 40, written: 40, stopped: "signal"})
	if got := committedOffsets(t, brokers, group, topic, partitions); got[0] != 40 || got[1] != 0 {
		t.Errorf("committed %v after the first run, want partition 0 at 40 and the quiet partition 1 at its start, 0", got)
	}

	h.produce(t, brokers, 80) // while the process is down, to both partitions
	r := feathr(t, "", "materialize", "-f", cfg, "--start", "latest", "--until-caught-up")
	checkSummary(t, r, wantSummary{read: 80, written: 80, stopped: "caught-up"})
	checkCommittedAtEnd(t, brokers, group, topic, partitions, 120)
	h.check(t)
}
