package pipeline

import (
	"log/slog"
	"sync"
	"time"
)

// limitedLogger logs at most burst lines per period and then one line that
// says how many it held back, so a flood of bad records cannot flood the log.
type limitedLogger struct {
	logger *slog.Logger
	burst  int
	period time.Duration

	mu         sync.Mutex
	start      time.Time
	n          int
	suppressed int
}

func newLimitedLogger(log *slog.Logger, burst int, period time.Duration) *limitedLogger {
	return &limitedLogger{logger: log, burst: burst, period: period}
}

func (l *limitedLogger) log(msg string, args ...any) {
	l.mu.Lock()
	now := time.Now()
	if now.Sub(l.start) >= l.period {
		if l.suppressed > 0 {
			l.logger.Warn("bad records not logged in the last period (see the counts in the summary)", "suppressed", l.suppressed, "period", l.period)
		}
		l.start, l.n, l.suppressed = now, 0, 0
	}
	if l.n >= l.burst {
		l.suppressed++
		l.mu.Unlock()
		return
	}
	l.n++
	l.mu.Unlock()
	l.logger.Warn(msg, args...)
}
