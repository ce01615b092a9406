package cmd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"time"

	"github.com/feathrgo/feathr/config"
	"github.com/feathrgo/feathr/metrics"
	"github.com/feathrgo/feathr/pipeline"
	"github.com/feathrgo/feathr/plan"
	"github.com/feathrgo/feathr/sink"
)

// The steps of feathr materialize that runMaterialize wires together.

// loadRunPlan loads and compiles file for a run of the materializations
// named (all when none is). A file with problems prints each, located, on
// stderr, and fails with their count.
func loadRunPlan(s IOStreams, file string, names []string) (*plan.Plan, error) {
	_, p, err := loadPlan(file, s.LookupEnv, names)
	if err != nil {
		var errs config.Errors
		if errors.As(err, &errs) {
			printProblems(s, errs)
			return nil, &exitError{code: ExitError, err: fmt.Errorf("%s: %d problem%s; run 'feathr validate -f %s'", file, len(errs), plural(len(errs)), file)}
		}
		return nil, err
	}
	if len(p.Materializations) == 0 {
		return nil, fmt.Errorf("%s: no materializations to run", file)
	}
	return p, nil
}

// DefaultMemoryLimit is the soft memory limit of feathr materialize when
// GOMEMLIMIT is not set: the Go runtime collects garbage more often as the
// process nears it, so that peak RSS stays near it (about 150 MB with the
// binary) instead of reaching twice the live heap under GOGC. It is soft:
// a larger live heap is not an error, but garbage collection then costs
// more CPU. Set GOMEMLIMIT (e.g. 512MiB, or off) to choose another.
const DefaultMemoryLimit = 128 << 20

// setDefaultMemoryLimit sets DefaultMemoryLimit unless the process's
// environment sets GOMEMLIMIT (which the Go runtime reads itself).
func setDefaultMemoryLimit() {
	if limit, ok := defaultMemoryLimit(os.LookupEnv); ok {
		debug.SetMemoryLimit(limit)
	}
}

// defaultMemoryLimit returns DefaultMemoryLimit and true when GOMEMLIMIT is
// not set in the environment lookup, so that the caller sets it.
func defaultMemoryLimit(lookup func(string) (string, bool)) (int64, bool) {
	if v, ok := lookup("GOMEMLIMIT"); ok && v != "" {
		return 0, false
	}
	return DefaultMemoryLimit, true
}

// writerOptions sizes the writer from the materializations' sink
// settings; onBatch is told of each batch written.
func writerOptions(p *plan.Plan, log *slog.Logger, onBatch func(sink.BatchInfo)) sink.WriterOptions {
	sinks := make([]config.RedisSink, len(p.Materializations))
	for i, m := range p.Materializations {
		sinks[i] = m.Config.Sink
	}
	o := sink.WriterOptionsFor(sinks...)
	// Freshness: an update waits for its batch only while Redis is busy.
	o.Logger, o.SendWhenIdle, o.OnBatch = log, true, onBatch
	return o
}

// readiness is /readyz of a run: ready once pl has partitions and st
// answers.
func readiness(pl *pipeline.Pipeline, st Store) metrics.ReadyFunc {
	return func(ctx context.Context) error {
		if !pl.Assigned() {
			return errors.New("no partition assignment yet")
		}
		return st.Ping(ctx)
	}
}

// serveMetrics serves m, /healthz and /readyz on addr, unless addr is
// empty, and returns the func that stops serving.
func serveMetrics(ctx context.Context, addr string, m *metrics.Metrics, ready metrics.ReadyFunc, log *slog.Logger) (stop func(), err error) {
	if addr == "" {
		return func() {}, nil
	}
	srv, err := metrics.Listen(addr, m, ready, log)
	if err != nil {
		return nil, err
	}
	log.Info("serving metrics", "addr", srv.Addr().String())
	return func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}, nil
}

// runWithProgress runs pl until ctx is done, with a progress line on a
// terminal stderr; then it closes w and prints the summary on stdout. It
// returns the run's error, else the writer's.
func runWithProgress(ctx context.Context, s IOStreams, pl *pipeline.Pipeline, w StoreWriter) error {
	endProgress := startProgress(ctx, s, pl)
	start := time.Now()
	runErr := pl.Run(ctx)
	endProgress()
	if err := w.Close(); err != nil && runErr == nil {
		runErr = err
	}
	return printSummary(json.NewEncoder(s.Out), pl, start, runErr)
}

// printSummary prints the summary of pl's run, which began at start and
// ended with runErr, and returns runErr (or the error printing it).
func printSummary(enc *json.Encoder, pl *pipeline.Pipeline, start time.Time, runErr error) error {
	if err := enc.Encode(pl.Summary(time.Since(start), runErr)); err != nil {
		return err
	}
	return runErr
}

// startProgress redraws a one-line status of pl on a terminal stderr
// every second, until the func it returns, which ends the line.
func startProgress(ctx context.Context, s IOStreams, pl *pipeline.Pipeline) (end func()) {
	if !s.ErrIsTerminal {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		progress(ctx, s, pl)
	}()
	return func() {
		cancel()
		<-done
		fmt.Fprintln(s.ErrOut)
	}
}

// progress redraws a one-line status on stderr every second until ctx is
// done.
func progress(ctx context.Context, s IOStreams, pl *pipeline.Pipeline) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var last int64
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			st := pl.Stats()
			fmt.Fprintf(s.ErrOut, "\r\033[Kread %d (%d/s)  written %d  errors %d  lag %d", st.Read, st.Read-last, st.Written, st.Errors, st.Lag)
			last = st.Read
		}
	}
}
