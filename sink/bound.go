package sink

import (
	"context"
	"sync"
	"sync/atomic"
)

// defaultMaxQueueBytes is WriterOptions.MaxQueueBytes' default.
const defaultMaxQueueBytes = 16 << 20

// byteBound bounds the bytes of the updates a writer holds, from Submit
// until they are acknowledged or dropped. Taking room is one atomic
// compare-and-swap when there is room; only a Submit that must wait, and
// a release while some wait, take the lock.
type byteBound struct {
	max  int64 // <= 0: no bound
	used atomic.Int64

	waiters atomic.Int32 // Submits waiting for room
	mu      sync.Mutex
	freed   chan struct{} // closed at the next release; nil when none waits
}

// tryTake takes n bytes if they fit, or if nothing is held: an update
// larger than the bound goes through alone.
func (q *byteBound) tryTake(n int64) bool {
	for {
		used := q.used.Load()
		if q.max > 0 && used > 0 && used+n > q.max {
			return false
		}
		if q.used.CompareAndSwap(used, used+n) {
			return true
		}
	}
}

// take takes n bytes, waiting for room until ctx is done or failed or
// closed is closed; it returns whether it took them.
func (q *byteBound) take(ctx context.Context, failed, closed <-chan struct{}, n int64) bool {
	if q.tryTake(n) {
		return true
	}
	for {
		q.mu.Lock()
		if q.freed == nil {
			q.freed = make(chan struct{})
		}
		freed := q.freed
		q.waiters.Add(1)
		q.mu.Unlock()
		// A release between tryTake and here saw no waiter: look again.
		ok := q.tryTake(n)
		if !ok {
			select {
			case <-freed:
				ok = q.tryTake(n)
			case <-ctx.Done():
			case <-failed:
			case <-closed:
			}
		}
		q.waiters.Add(-1)
		if ok {
			return true
		}
		if ctx.Err() != nil || isClosed(failed) || isClosed(closed) {
			return false
		}
	}
}

// release gives back n bytes and wakes the Submits waiting for room.
func (q *byteBound) release(n int64) {
	if n == 0 {
		return
	}
	q.used.Add(-n)
	if q.waiters.Load() > 0 {
		q.mu.Lock()
		if q.freed != nil {
			close(q.freed)
			q.freed = nil
		}
		q.mu.Unlock()
	}
}

// isClosed reports whether c is closed.
func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// size is what u counts against WriterOptions.MaxQueueBytes: its key,
// values, and its aggregate event's inputs.
func (u *Update) size() int64 {
	n := len(u.Key)
	for i := range u.Fields {
		n += len(u.Fields[i].Value)
	}
	if u.Agg != nil {
		for _, in := range u.Agg.Inputs {
			n += 24 + 8*len(in.Vec) + len(in.Value)
		}
	}
	return int64(n)
}
