package e2e

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/feathrgo/feathr/internal/testenv"
)

// TestScaleOut runs feathr materialize as a group of processes over a
// 12-partition topic on the real broker while a producer keeps producing:
// three start together, a fourth joins, one is stopped with SIGTERM. Once
// the stream drains, every event must be in Redis with its value, and the
// group must have committed exactly the high watermark of each partition:
// the rebalances lost nothing and left nothing uncommitted.
func TestScaleOut(t *testing.T) {
	t.Parallel()
	for _, strategy := range []string{"range", "cooperative-sticky"} {
		t.Run(strategy, func(t *testing.T) {
			t.Parallel()
			brokers := testenv.Kafka(t)
			redisAddr := testenv.Redis(t)
			topic := testenv.TopicName(t)
			const partitions = 12
			testenv.CreateTopic(t, brokers, topic, partitions)
			group := "feathr-e2e-" + topic
			const table = "s"
			cfg := writeFile(t, "features.yaml", tableEventsConfig(brokers, topic, group, redisAddr, table))
			start := func() *proc {
				return startFeathr(t, "materialize", "-f", cfg, "--start", "earliest", "--timeout", "3m", "--rebalance-strategy", strategy)
			}

			procs := []*proc{start(), start(), start()}
			for _, p := range procs {
				p.waitAssigned(t, 60*time.Second)
			}

			// Event i is entity i with value 3i, keyed by i: spread over
			// all partitions.
			cl := kgoProducer(t, brokers)
			var produced atomic.Int64
			stop := make(chan struct{})
			stopped := make(chan error, 1)
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
				defer cancel()
				next := int64(1)
				for {
					select {
					case <-stop:
						stopped <- nil
						return
					default:
					}
					recs := make([]*kgo.Record, 20)
					for i := range recs {
						recs[i] = event(topic, next, 3*next)
						next++
					}
					if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
						stopped <- err
						return
					}
					produced.Store(next - 1)
					time.Sleep(10 * time.Millisecond)
				}
			}()
			stopProducer := func() int64 {
				close(stop)
				if err := <-stopped; err != nil {
					t.Fatalf("producer: %v", err)
				}
				return produced.Load()
			}
			// progress waits until Redis holds n more keys than now.
			progress := func(what string, n int64) {
				t.Helper()
				target := redisKeys(t, redisAddr) + n
				waitUntil(t, 60*time.Second, func() bool { return redisKeys(t, redisAddr) >= target },
					func() string {
						return fmt.Sprintf("%s: Redis holds %d keys, want %d (%d produced)", what, redisKeys(t, redisAddr), target, produced.Load())
					})
			}

			progress("three processes", 300)
			fourth := start()
			procs = append(procs, fourth)
			fourth.waitAssigned(t, 60*time.Second)
			progress("after the fourth joined", 300)

			procs[0].signal(t, syscall.SIGTERM)
			first := procs[0].wait(t, 60*time.Second)
			if s := parseSummary(t, first); first.code != 0 || s.Stopped != "signal" {
				t.Errorf("the process stopped by SIGTERM: %s", first)
			}
			progress("after one left", 300)
			total := stopProducer()

			// The stream drains: every event in Redis, every offset committed.
			waitUntil(t, 60*time.Second, func() bool { return redisKeys(t, redisAddr) == total },
				func() string {
					return fmt.Sprintf("Redis holds %d keys, want the %d events", redisKeys(t, redisAddr), total)
				})
			hw := highWatermarks(t, brokers, topic, partitions)
			waitUntil(t, 30*time.Second, func() bool {
				got := committedOffsets(t, brokers, group, topic, partitions)
				for p, o := range hw {
					if got[p] != o && !(o == 0 && got[p] == -1) {
						return false
					}
				}
				return true
			}, func() string {
				return fmt.Sprintf("committed %v, want the high watermarks %v", committedOffsets(t, brokers, group, topic, partitions), hw)
			})

			read, written := first.summaryCounts(t)
			for _, p := range procs[1:] {
				p.signal(t, syscall.SIGTERM)
			}
			for i, p := range procs[1:] {
				r := p.wait(t, 60*time.Second)
				if s := parseSummary(t, r); r.code != 0 || s.Stopped != "signal" || s.Error != "" {
					t.Errorf("process %d: %s", i+2, r)
				}
				rd, wr := r.summaryCounts(t)
				read, written = read+rd, written+wr
			}
			checkCommittedAtEnd(t, brokers, group, topic, partitions, total)
			if strategy == "cooperative-sticky" {
				// Partitions moved between running processes, without the
				// session (and Cleanup) ending.
				revoked := 0
				for _, p := range procs {
					revoked += strings.Count(p.stderrText(), "partition revoked")
				}
				if revoked == 0 {
					t.Errorf("no process logged a revoked partition")
				}
			}

			ids := make([]int64, total)
			for i := range ids {
				ids[i] = int64(i + 1)
			}
			values := eventValues(t, redisAddr, table, ids)
			wrong := 0
			for _, id := range ids {
				if v, ok := values[id]; !ok || v != 3*id {
					if wrong++; wrong <= 5 {
						t.Errorf("entity %d: val %v (present: %v), want %d", id, v, ok, 3*id)
					}
				}
			}
			if n := redisKeys(t, redisAddr); n != total || wrong > 0 {
				t.Errorf("Redis holds %d keys, %d wrong or missing; want the %d events", n, wrong, total)
			}
			if read < total || written < total {
				t.Errorf("the processes read %d records and wrote %d updates, want at least the %d events", read, written, total)
			}
			t.Logf("%s: %d events over %d partitions; read %d times in all (%d again after rebalances)", strategy, total, partitions, read, read-total)
		})
	}
}

// summaryCounts returns the records read and updates written by a run.
func (r result) summaryCounts(t *testing.T) (read, written int64) {
	t.Helper()
	s := parseSummary(t, r)
	return s.Read, s.Written
}
