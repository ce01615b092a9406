package pipeline

import (
	"log/slog"
	"sync"
	"time"
)

// limitedLogger logs at most burst lines per period and then one line that
// says how many it held back, so a flood of bad records or of client errors
// cannot flood the log.
type limitedLogger struct {
	logger     *slog.Logger
	burst      int
	period     time.Duration
	suppressed string // the message of the line that counts what was held back

	mu    sync.Mutex
	start time.Time
	n     int
	held  int
}

func newLimitedLogger(log *slog.Logger, burst int, period time.Duration, suppressed string) *limitedLogger {
	return &limitedLogger{logger: log, burst: burst, period: period, suppressed: suppressed}
}

func (l *limitedLogger) log(msg string, args ...any) {
	l.mu.Lock()
	now := time.Now()
	if now.Sub(l.start) >= l.period {
		if l.held > 0 {
			l.logger.Warn(l.suppressed, "suppressed", l.held, "period", l.period)
		}
		l.start, l.n, l.held = now, 0, 0
	}
	if l.n >= l.burst {
		l.held++
		l.mu.Unlock()
		return
	}
	l.n++
	l.mu.Unlock()
	l.logger.Warn(msg, args...)
}
