// Package backoff computes the delays between retries of something that
// failed: doubling from a first delay up to a cap, with jitter, so that
// many retrying clients do not all come back at once. It imports only the
// standard library.
package backoff

import (
	"context"
	"math/rand/v2"
	"time"
)

// Delay returns the delay before retry number attempt (from 0): first
// doubled attempt times, at most limit, then jittered to a random
// duration in [d/2, d].
func Delay(attempt int, first, limit time.Duration) time.Duration {
	d := first
	for i := 0; i < attempt && d < limit; i++ {
		d *= 2
	}
	d = min(d, limit)
	return d/2 + rand.N(d/2+1)
}

// Sleep waits d, or until ctx is done; it reports whether it waited all of d.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
