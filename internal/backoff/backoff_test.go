package backoff

import (
	"context"
	"testing"
	"time"
)

func TestDelay(t *testing.T) {
	for _, tt := range []struct {
		attempt  int
		low, max time.Duration
	}{
		{0, 50 * time.Millisecond, 100 * time.Millisecond},
		{1, 100 * time.Millisecond, 200 * time.Millisecond},
		{3, 400 * time.Millisecond, 800 * time.Millisecond},
		{10, 2500 * time.Millisecond, 5 * time.Second},
		{1000, 2500 * time.Millisecond, 5 * time.Second},
	} {
		for range 100 {
			if d := Delay(tt.attempt, 100*time.Millisecond, 5*time.Second); d < tt.low || d > tt.max {
				t.Fatalf("Delay(%d) = %v, want in [%v, %v]", tt.attempt, d, tt.low, tt.max)
			}
		}
	}
}

func TestSleep(t *testing.T) {
	if !Sleep(context.Background(), time.Millisecond) {
		t.Error("Sleep of a live context returned false")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	if Sleep(ctx, time.Minute) || time.Since(start) > time.Second {
		t.Error("Sleep of a canceled context waited")
	}
}
