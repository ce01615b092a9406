package e2e

// The drills of servers that refuse writes or cannot be reached.

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"

	"github.com/feathrgo/feathr/internal/testenv"
)

// TestFaultRedisRejectsWrites runs against a Redis that answers but
// refuses the writes: out of memory and a read-only replica are retried
// with backoff (a bounded number of retries and log lines, nothing
// committed, no key written) until the run's timeout; a password changed
// under the run is fatal, exit 1, with the reason and without the
// password, the keys keeping the values written before the change and
// nothing committed beyond them.
func TestFaultRedisRejectsWrites(t *testing.T) {
	t.Parallel()
	brokers := testenv.Kafka(t)
	const secret = "pw-Kq71zr"
	tests := []struct {
		name   string
		server func(t *testing.T) (addr, url string)
		after  func(t *testing.T, addr string) // once the first event is written
		fatal  string                          // the error's reason; empty: transient
	}{
		{name: "out of memory", server: func(t *testing.T) (string, string) {
			rs := testenv.StartRedis(t, "--maxmemory", "1", "--maxmemory-policy", "noeviction")
			return rs.Addr(), "redis://" + rs.Addr()
		}},
		{name: "read-only replica", server: func(t *testing.T) (string, string) {
			primary := testenv.StartRedis(t)
			host, port, _ := net.SplitHostPort(primary.Addr())
			rs := testenv.StartRedis(t, "--replicaof", host, port)
			return rs.Addr(), "redis://" + rs.Addr()
		}},
		{name: "password changed", server: func(t *testing.T) (string, string) {
			rs := testenv.StartRedis(t, "--requirepass", secret)
			return rs.Addr(), "redis://:" + secret + "@" + rs.Addr()
		}, after: func(t *testing.T, addr string) {
			c, err := redis.Dial("tcp", addr, redis.DialPassword(secret))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := c.Do("CONFIG", "SET", "requirepass", secret+"-new"); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Do("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"); err != nil {
				t.Fatal(err)
			}
		}, fatal: "WRONGPASS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			addr, url := tt.server(t)
			topic := testenv.TopicName(t)
			testenv.CreateTopic(t, brokers, topic, 1)
			group := "feathr-e2e-" + topic
			cfg := writeFile(t, "features.yaml", hotConfig(brokers, topic, group, addr, hotOptions{}))
			h := newHotKeys(topic, 1, 4)
			if tt.after != nil {
				h.watch(t, addr, redis.DialPassword(secret))
			} else {
				h.watch(t, addr)
			}
			started := time.Now()
			p := startFeathr(t, "materialize", "-f", cfg, "--redis", url, "--start", "earliest", "--timeout", "10s")
			p.waitAssigned(t, 30*time.Second)
			var written int64
			if tt.after != nil {
				h.produce(t, brokers, 20)
				h.waitNewest(t, 30*time.Second, "the first 20 events are not in Redis")
				written = 20
				h.setPassword(secret + "-new")
				tt.after(t, addr)
			}
			// What Redis holds now is all it may hold at the end: the
			// events that follow cannot be written.
			want := h.expected()
			h.produce(t, brokers, 20)
			r := p.wait(t, 2*time.Minute)
			elapsed := time.Since(started)
			s := parseSummary(t, r)
			if strings.Contains(r.stdout+r.stderr, secret) {
				t.Errorf("the password is in the output:\n%s", r)
			}
			defer h.checkWant(t, want)
			if tt.fatal != "" {
				if r.code != 1 || s.Stopped != "error" || !strings.Contains(s.Error, tt.fatal) {
					t.Errorf("want exit 1 with error %q: %s", tt.fatal, r)
				}
				if got := committedSum(t, brokers, group, topic, 1); got > written {
					t.Errorf("committed %d offsets, want at most the %d written", got, written)
				}
				h.checkCommitted(t, committedOffsets(t, brokers, group, topic, 1))
				return
			}
			t.Logf("%d retries, %d log lines about writes", s.RedisRetries, logLines(r.stderr, "redis write"))
			// Transient: the run goes on to its timeout, retrying; nothing
			// is acknowledged, so nothing is committed.
			if s.Stopped != "timeout" || s.Written != 0 {
				t.Errorf("want a run to its timeout with nothing written: %s", r)
			}
			if got := committedOffsets(t, brokers, group, topic, 1)[0]; got > 0 {
				t.Errorf("committed offset %d though nothing was written", got)
			}
			// A hot loop would retry thousands of times.
			if s.RedisRetries == 0 || s.RedisRetries > maxRetries(elapsed) {
				t.Errorf("%d retries in %v, want some, at most %d (the backoff's bound): %s", s.RedisRetries, elapsed, maxRetries(elapsed), r)
			}
			if n := logLines(r.stderr, "redis write"); n == 0 || n > 10 {
				t.Errorf("%d log lines about failed writes, want 1 to 10:\n%s", n, r.stderr)
			}
		})
	}
}

// maxRetries is the most batch retries the writer's backoff allows in d:
// on each of its 4 connections, the delays from 50 ms double to 5 s with
// jitter down to half, so 8 retries in the first 3.2 s and then one per
// 2.5 s at most.
func maxRetries(d time.Duration) int64 {
	return 4 * (8 + int64(d/(2500*time.Millisecond)))
}

// TestFaultUnreachableAtStart starts materialize with a broker or a Redis
// that cannot be reached: it exits 1 within a bounded time, saying what it
// could not reach.
func TestFaultUnreachableAtStart(t *testing.T) {
	t.Parallel()
	brokers := testenv.Kafka(t)
	closed := closedAddr(t)
	silent := testenv.SilentAddr(t)
	tests := []struct {
		name, brokers, redis string
		want                 string // in the error
	}{
		{"broker refuses connections", closed, "", closed},
		{"broker never answers", silent, "", silent},
		{"redis refuses connections", brokers, closed, "redis at " + closed},
		{"redis never answers", brokers, silent, "redis at " + silent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			redisAddr := tt.redis
			if redisAddr == "" {
				redisAddr = testenv.Redis(t)
			}
			topic := testenv.TopicName(t)
			cfg := writeFile(t, "features.yaml", eventsConfig(tt.brokers, topic, "g-"+topic, redisAddr, ""))
			start := time.Now()
			p := startFeathr(t, "materialize", "-f", cfg, "--start", "earliest", "--timeout", "5m")
			r := p.wait(t, 90*time.Second)
			if r.code != 1 || !strings.Contains(r.stderr, tt.want) {
				t.Errorf("want exit 1 naming %s after %v: %s", tt.want, time.Since(start), r)
			}
		})
	}
}

// closedAddr returns a loopback address that refuses connections.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}
