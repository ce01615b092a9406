package e2e

// The sampler and the checks of hot keys: what Redis holds, against what was produced.

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"

	"github.com/feathrgo/feathr/sink"
)

// watch starts the sampler: every 100 ms it reads every key from Redis at
// addr and checks each value against what it saw before, until check. A
// round that Redis does not answer (down, hung) is skipped.
func (h *hotKeys) watch(t *testing.T, addr string, opts ...redis.DialOption) {
	t.Helper()
	h.redisAddr, h.dialOpts = addr, opts
	h.stop, h.done = make(chan struct{}), make(chan struct{})
	go h.sample()
	t.Cleanup(h.stopSampling)
}

// setPassword makes the sampler and the checks authenticate with
// password from now on.
func (h *hotKeys) setPassword(password string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.dialOpts = append(h.dialOpts, redis.DialPassword(password))
}

func (h *hotKeys) sample() {
	defer close(h.done)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-h.stop:
			h.mu.Lock()
			if h.conn != nil {
				h.conn.Close()
				h.conn = nil
			}
			h.mu.Unlock()
			return
		case <-tick.C:
		}
		h.mu.Lock()
		epoch, c := h.epoch, h.conn
		h.mu.Unlock()
		if c == nil {
			var err error
			c, err = h.dial(500*time.Millisecond, time.Second)
			if err != nil {
				continue
			}
		}
		got, err := h.readAll(c)
		h.mu.Lock()
		if err != nil {
			c.Close()
			h.conn = nil
			h.mu.Unlock()
			continue
		}
		h.conn = c
		if epoch == h.epoch {
			h.samples++
			h.observe(got)
		}
		h.mu.Unlock()
	}
}

// stopSampling stops the sampler, if it runs, and waits for it.
func (h *hotKeys) stopSampling() {
	if h.stop == nil {
		return
	}
	select {
	case <-h.stop:
	default:
		close(h.stop)
	}
	<-h.done
}

// dial connects to the Redis that watch reads.
func (h *hotKeys) dial(connect, read time.Duration) (redis.Conn, error) {
	h.mu.Lock()
	opts := append([]redis.DialOption{redis.DialConnectTimeout(connect), redis.DialReadTimeout(read), redis.DialWriteTimeout(read)}, h.dialOpts...)
	addr := h.redisAddr
	h.mu.Unlock()
	return redis.Dial("tcp", addr, opts...)
}

// readAll reads feature val and the event-time field of every key, in one
// round trip.
func (h *hotKeys) readAll(c redis.Conn) ([]stored, error) {
	for k := range h.n {
		c.Send("HMGET", hotTable+":"+strconv.Itoa(k), "val", h.timeField)
	}
	if err := c.Flush(); err != nil {
		return nil, err
	}
	out := make([]stored, h.n)
	for k := range out {
		vals, err := redis.Values(c.Receive())
		if err != nil {
			return nil, err
		}
		if len(vals) != 2 || vals[0] == nil {
			continue
		}
		b, _ := vals[0].([]byte)
		v, err := sink.DecodeValue(b)
		if err != nil {
			out[k] = stored{ok: true, value: -1}
			continue
		}
		n, _ := v.(int64)
		out[k] = stored{ok: true, value: n}
		if tb, ok := vals[1].([]byte); ok {
			out[k].time, _ = strconv.ParseInt(string(tb), 10, 64)
		}
	}
	return out, nil
}

// observe checks one round of reads against what was produced and what
// was seen before. h.mu is held.
func (h *hotKeys) observe(got []stored) {
	for k, s := range got {
		prev := h.seen[k]
		if !s.ok {
			if prev.ok {
				h.problem("key %d vanished: it held %s", k, h.describe(k, prev))
			}
			continue
		}
		e, ok := h.eventOf(k, s)
		if !ok {
			h.problem("key %d holds %s, which is no event produced to it", k, h.describe(k, s))
			continue
		}
		if prev.ok {
			if p, ok := h.eventOf(k, prev); ok && h.newer(p, e) {
				h.problem("key %d went back from %v to the older %v", k, p, e)
			}
			if prev != s {
				h.changes++
			}
		}
		h.seen[k] = s
	}
}

// eventOf returns the event whose value s holds, checking that the
// event-time field is that event's (ordering event).
func (h *hotKeys) eventOf(k int, s stored) (hotEvent, bool) {
	seq := s.value - int64(k)*1_000_000
	if seq < 0 || seq >= int64(len(h.events[k])) {
		return hotEvent{}, false
	}
	e := h.events[k][seq]
	if !h.arrival && s.time != e.time {
		return hotEvent{}, false
	}
	return e, true
}

// describe prints what a key holds.
func (h *hotKeys) describe(k int, s stored) string {
	if !s.ok {
		return "nothing"
	}
	if h.arrival {
		return fmt.Sprintf("value %d", s.value)
	}
	return fmt.Sprintf("value %d at event time %d", s.value, s.time)
}

// problem records what the sampler found wrong. h.mu is held.
func (h *hotKeys) problem(format string, args ...any) {
	if len(h.problems) < 20 {
		h.problems = append(h.problems, fmt.Sprintf(format, args...))
	} else {
		h.more++
	}
}

// read reads every key now, failing the test when Redis does not answer.
func (h *hotKeys) read(t *testing.T) []stored {
	t.Helper()
	c, err := h.dial(2*time.Second, 10*time.Second)
	if err != nil {
		t.Fatalf("redis: %v", err)
	}
	defer c.Close()
	got, err := h.readAll(c)
	if err != nil {
		t.Fatalf("redis: %v", err)
	}
	return got
}

// mismatches lists the keys whose value is not that of want's event
// (absent where want is -1, whatever with anything); with atLeast, a newer
// event's value also does, and -1 accepts anything.
func (h *hotKeys) mismatches(got []stored, want []int, atLeast bool) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var bad []string
	for k, s := range got {
		if want[k] == anything {
			continue
		}
		if want[k] < 0 {
			if s.ok && !atLeast {
				bad = append(bad, fmt.Sprintf("key %d holds %s, want nothing", k, h.describe(k, s)))
			}
			continue
		}
		w := h.events[k][want[k]]
		e, ok := h.eventOf(k, s)
		switch {
		case !s.ok:
			bad = append(bad, fmt.Sprintf("key %d holds nothing, want %v", k, w))
		case !ok:
			bad = append(bad, fmt.Sprintf("key %d holds %s, no event of it; want %v", k, h.describe(k, s), w))
		case e != w && !(atLeast && h.newer(e, w)):
			bad = append(bad, fmt.Sprintf("key %d holds %v, want %v", k, e, w))
		}
	}
	return bad
}

// holds reports whether each of keys (every key when empty) holds its
// expected event now.
func (h *hotKeys) holds(keys []int) bool {
	c, err := h.dial(time.Second, 2*time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	got, err := h.readAll(c)
	return err == nil && len(h.mismatches(got, h.only(h.expected(), keys), false)) == 0
}

// only returns want with the keys not in keys (when there are any) not
// checked: want of a key that holds anything, at least nothing.
func (h *hotKeys) only(want []int, keys []int) []int {
	if len(keys) == 0 {
		return want
	}
	out := make([]int, len(want))
	for k := range out {
		out[k] = anything
	}
	for _, k := range keys {
		out[k] = want[k]
	}
	return out
}

// anything in a want of mismatches accepts whatever a key holds.
const anything = -2

// waitNewest waits until each of keys (every key when empty) holds the
// value of its newest event so far, failing the test with what after
// timeout.
func (h *hotKeys) waitNewest(t *testing.T, timeout time.Duration, what string, keys ...int) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !h.holds(keys) {
		if time.Now().After(deadline) {
			want := h.only(h.expected(), keys)
			c, err := h.dial(time.Second, 2*time.Second)
			if err != nil {
				t.Fatalf("after %v: %s: redis: %v", timeout, what, err)
			}
			got, err := h.readAll(c)
			c.Close()
			if err != nil {
				t.Fatalf("after %v: %s: redis: %v", timeout, what, err)
			}
			t.Fatalf("after %v: %s:\n%s", timeout, what, strings.Join(h.mismatches(got, want, false), "\n"))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// check stops the sampler and fails the test unless no value ever went
// back while it sampled and every key holds the value of its newest
// event now.
func (h *hotKeys) check(t *testing.T) {
	t.Helper()
	h.checkWant(t, h.expected())
}

// checkWant is check against want, per key the seq of the event it must
// hold (-1: nothing), e.g. the expected events of an earlier moment.
func (h *hotKeys) checkWant(t *testing.T, want []int) {
	t.Helper()
	h.stopSampling()
	got := h.read(t)
	h.mu.Lock()
	h.observe(got)
	problems, more, samples, changes := h.problems, h.more, h.samples, h.changes
	h.mu.Unlock()
	t.Logf("value check: %d keys, %d events, %d samples of every key, %d changes seen", h.n, h.count(), samples, changes)
	if h.stop != nil && samples == 0 {
		t.Errorf("the sampler never read Redis")
	}
	if len(problems) > 0 {
		shown := ""
		if more > 0 {
			shown = fmt.Sprintf(" (%d more not shown)", more)
		}
		t.Errorf("values went wrong while the drill ran%s:\n%s", shown, strings.Join(problems, "\n"))
	}
	if bad := h.mismatches(got, want, false); len(bad) > 0 {
		t.Errorf("%d of %d keys do not hold the value of their newest event:\n%s", len(bad), h.n, strings.Join(bad, "\n"))
	}
}

// checkAtLeast fails the test unless each key holds want's event or a
// newer one (-1: anything), e.g. what it held before an outage.
func (h *hotKeys) checkAtLeast(t *testing.T, want []int, what string) {
	t.Helper()
	if bad := h.mismatches(h.read(t), want, true); len(bad) > 0 {
		t.Errorf("%s, keys hold older values than before:\n%s", what, strings.Join(bad, "\n"))
	}
}

// checkCommitted fails the test unless everything committed is written:
// each key holds its event that is newest among those below its
// partition's committed offset, or a newer one.
func (h *hotKeys) checkCommitted(t *testing.T, committed map[int32]int64) {
	t.Helper()
	h.mu.Lock()
	want := make([]int, h.n)
	for k, evs := range h.events {
		want[k] = -1
		for _, e := range evs {
			if e.offset >= 0 && e.offset < committed[e.partition] && (want[k] < 0 || h.newer(e, evs[want[k]])) {
				want[k] = e.seq
			}
		}
	}
	h.mu.Unlock()
	h.checkAtLeast(t, want, fmt.Sprintf("committed offsets %v are ahead of what Redis holds", committed))
}

// count is the number of events made.
func (h *hotKeys) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, evs := range h.events {
		n += len(evs)
	}
	return n
}
