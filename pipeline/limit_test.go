package pipeline

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// TestLimitedLogger checks that a flood logs burst lines per period, then
// one line counting the rest when the next period starts.
func TestLimitedLogger(t *testing.T) {
	var buf bytes.Buffer
	l := newLimitedLogger(slog.New(slog.NewTextHandler(&buf, nil)), 3, time.Hour, "held back")
	for i := range 100 {
		l.log("bad", "i", i)
	}
	if got := strings.Count(buf.String(), "msg=bad"); got != 3 {
		t.Fatalf("100 calls in one period logged %d lines, want 3:\n%s", got, buf.String())
	}
	// The next period: the count of what was held back, then the line.
	l.mu.Lock()
	l.start = l.start.Add(-time.Hour)
	l.mu.Unlock()
	buf.Reset()
	l.log("bad", "i", 100)
	want := []string{`msg="held back" suppressed=97 period=1h0m0s`, "msg=bad i=100"}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != len(want) {
		t.Fatalf("got %d lines, want %d:\n%s", len(lines), len(want), buf.String())
	}
	for i, w := range want {
		if !strings.Contains(lines[i], w) {
			t.Errorf("line %d = %q, want it to contain %q", i, lines[i], w)
		}
	}
}
