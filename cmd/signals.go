package cmd

import (
	"context"
	"log/slog"
	"time"

	"github.com/feathrgo/feathr/pipeline"
)

// runContext returns the context of a materialize run, which ends after
// timeout (never when it is 0) or at the first interrupt of opts.Signals
// (with cause pipeline.ErrInterrupted), and the cleanup to defer. A second
// interrupt ends the process at once (opts.Exit).
func runContext(ctx context.Context, opts *MaterializeOptions, timeout time.Duration, log *slog.Logger) (context.Context, func()) {
	runCtx, cancel := context.WithCancelCause(ctx)
	cancelT := context.CancelFunc(func() {})
	if timeout > 0 {
		runCtx, cancelT = context.WithTimeout(runCtx, timeout)
	}
	done := make(chan struct{})
	go handleSignals(runCtx, done, opts, log, cancel)
	return runCtx, func() {
		close(done)
		cancelT()
		cancel(nil)
	}
}

// handleSignals cancels the run at the first interrupt and exits at once
// at the second, until done is closed.
func handleSignals(ctx context.Context, done <-chan struct{}, opts *MaterializeOptions, log *slog.Logger, cancel context.CancelCauseFunc) {
	sigs, stop := opts.Signals()
	defer stop()
	select {
	case sig := <-sigs:
		log.Info("stopping: writing what is in flight and committing (signal again to exit at once)", "signal", sig.String())
		cancel(pipeline.ErrInterrupted)
	case <-ctx.Done():
		return
	}
	select {
	case sig := <-sigs:
		log.Warn("second signal: exiting without a final commit; uncommitted records will be read again", "signal", sig.String())
		opts.Exit(ExitInterrupted)
	case <-done:
	}
}
