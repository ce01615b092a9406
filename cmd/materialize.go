package cmd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/feathrgo/feathr/config"
	"github.com/feathrgo/feathr/pipeline"
	"github.com/feathrgo/feathr/plan"
	"github.com/feathrgo/feathr/sink"
)

// MaterializeOptions are the options of feathr materialize.
type MaterializeOptions struct {
	IO               IOStreams
	File             string
	Materializations []string
	Timeout          time.Duration
	Start            string
	UntilCaughtUp    bool
	RedisURL         string
	LogFormat        string
	// Signals delivers interrupts; nil means SIGINT and SIGTERM of this process.
	Signals <-chan os.Signal
	// Exit ends the process at a second interrupt; nil means os.Exit.
	Exit func(code int)
}

func newMaterializeCmd(s IOStreams, run func(context.Context, *MaterializeOptions) error) *cobra.Command {
	opts := &MaterializeOptions{IO: s}
	c := &cobra.Command{
		Use:   "materialize -f FILE [NAME...]",
		Short: "Stream Kafka events into features in Redis",
		Long: `Run the named materializations (all of them when none is named): consume each
source's topics in a Kafka consumer group, evaluate the features' transforms,
and upsert the values into Redis in Feathr's layout.

Offsets are committed only after the Redis writes they cover were
acknowledged, so a crash replays records and never skips them. It runs until
--timeout (or the materializations' timeout) passes, --until-caught-up is
reached, or SIGINT/SIGTERM: it then stops fetching, writes what is in flight,
commits and exits 0. A second signal exits at once.

Unless GOMEMLIMIT is set, a soft Go memory limit of 128 MiB applies (set
GOMEMLIMIT, e.g. 512MiB or off, for larger deployments).

A one-line JSON summary is printed on stdout at exit.`,
		Example: `  feathr materialize -f features.yaml --timeout 10s
  feathr materialize -f features.yaml kafkaSampleDemo --start earliest --until-caught-up`,
		RunE: func(c *cobra.Command, args []string) error {
			opts.Materializations = args
			if opts.Start != "" && opts.Start != "earliest" && opts.Start != "latest" {
				return usageErrorf("--start must be earliest or latest, not %q", opts.Start)
			}
			if opts.LogFormat != "text" && opts.LogFormat != "json" {
				return usageErrorf("--log-format must be text or json, not %q", opts.LogFormat)
			}
			if opts.Timeout < 0 {
				return usageErrorf("--timeout must not be negative")
			}
			if run != nil {
				return run(c.Context(), opts)
			}
			return runMaterialize(c.Context(), opts)
		},
	}
	c.Flags().StringVarP(&opts.File, "file", "f", "features.yaml", "feature definition file")
	c.Flags().DurationVar(&opts.Timeout, "timeout", 0, "stop after this long (default: the materializations' timeout, else run until stopped)")
	c.Flags().StringVar(&opts.Start, "start", "", "where a consumer group without committed offsets begins: earliest or latest (default: each source's start)")
	c.Flags().BoolVar(&opts.UntilCaughtUp, "until-caught-up", false, "stop once every assigned partition is written up to its high watermark at start")
	c.Flags().StringVar(&opts.RedisURL, "redis", "", "Redis URL overriding the file's online_store (redis:// or rediss://; put passwords in FEATHR_REDIS_URL instead)")
	c.Flags().StringVar(&opts.LogFormat, "log-format", "text", "log format on stderr: text or json")
	return c
}

// materializeSummary is the JSON line printed at exit.
type materializeSummary struct {
	Materializations []string `json:"materializations"`
	pipeline.Stats
	KeysWritten     int64   `json:"keys_written"`
	StaleSkipped    int64   `json:"stale_updates_skipped"`
	RedisBatches    int64   `json:"redis_batches"`
	DurationSeconds float64 `json:"duration_seconds"`
	RecordsPerSec   float64 `json:"records_per_second"`
	Stopped         string  `json:"stopped"`
	Error           string  `json:"error,omitempty"`
}

func runMaterialize(ctx context.Context, opts *MaterializeOptions) error {
	log := newLogger(opts.IO, opts.LogFormat)
	if limit, ok := defaultMemoryLimit(os.LookupEnv); ok {
		debug.SetMemoryLimit(limit)
	}
	_, p, err := loadPlan(opts.File, opts.IO.LookupEnv, opts.Materializations)
	if err != nil {
		var errs config.Errors
		if errors.As(err, &errs) {
			for _, e := range errs {
				fmt.Fprintln(opts.IO.ErrOut, e.Error())
			}
			return &exitError{code: ExitError, err: fmt.Errorf("%s: %d problem%s; run 'feathr validate -f %s'", opts.File, len(errs), plural(len(errs)), opts.File)}
		}
		return err
	}
	if len(p.Materializations) == 0 {
		return fmt.Errorf("%s: no materializations to run", opts.File)
	}
	ropts, err := storeOptions(opts.RedisURL, p.File, opts.IO.LookupEnv)
	if err != nil {
		return err
	}
	pool := sink.NewPool(ropts)
	defer pool.Close()
	if err := pingRedis(ctx, pool, ropts.Addr); err != nil {
		return err
	}

	timeout := opts.Timeout
	if timeout == 0 {
		timeout = planTimeout(p)
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	if timeout > 0 {
		var cancelT context.CancelFunc
		runCtx, cancelT = context.WithTimeout(runCtx, timeout)
		defer cancelT()
	}
	stopped := make(chan string, 1)
	done := make(chan struct{})
	defer close(done)
	go handleSignals(runCtx, done, opts, log, cancel, stopped)

	writer := sink.NewWriter(pool, writerOptions(p, log))
	defer writer.Close()
	pl := pipeline.New(pipeline.Options{
		Plan: p, Writer: writer, Logger: log,
		Start: opts.Start, UntilCaughtUp: opts.UntilCaughtUp,
	})
	var names []string
	for _, m := range p.Materializations {
		names = append(names, m.Config.Name)
	}
	log.Info("materializing", "materializations", names, "timeout", timeout, "redis", ropts.Addr)
	if opts.IO.ErrIsTerminal {
		go progress(runCtx, opts.IO, pl)
	}
	start := time.Now()
	runErr := pl.Run(runCtx)
	if err := writer.Close(); err != nil && runErr == nil {
		runErr = err
	}
	elapsed := time.Since(start)

	ws := writer.Stats()
	sum := materializeSummary{
		Materializations: names,
		Stats:            pl.Stats(),
		KeysWritten:      ws.Writes,
		StaleSkipped:     ws.Stale,
		RedisBatches:     ws.Batches,
		DurationSeconds:  elapsed.Seconds(),
	}
	if elapsed > 0 {
		sum.RecordsPerSec = float64(sum.Read) / elapsed.Seconds()
	}
	switch {
	case runErr != nil:
		sum.Stopped = "error"
		sum.Error = runErr.Error()
	case len(stopped) > 0:
		sum.Stopped = <-stopped
	case pl.CaughtUp():
		sum.Stopped = "caught-up"
	case errors.Is(runCtx.Err(), context.DeadlineExceeded):
		sum.Stopped = "timeout"
	default:
		sum.Stopped = "canceled"
	}
	if opts.IO.ErrIsTerminal {
		fmt.Fprintln(opts.IO.ErrOut)
	}
	if err := json.NewEncoder(opts.IO.Out).Encode(sum); err != nil {
		return err
	}
	return runErr
}

// DefaultMemoryLimit is the soft memory limit of feathr materialize when
// GOMEMLIMIT is not set: the Go runtime collects garbage more often as the
// process nears it, so that peak RSS stays near it (about 150 MB with the
// binary) instead of reaching twice the live heap under GOGC. It is soft:
// a larger live heap is not an error, but garbage collection then costs
// more CPU. Set GOMEMLIMIT (e.g. 512MiB, or off) to choose another.
const DefaultMemoryLimit = 128 << 20

// defaultMemoryLimit returns DefaultMemoryLimit and true when GOMEMLIMIT is
// not set in the environment lookup, so that the caller sets it.
func defaultMemoryLimit(lookup func(string) (string, bool)) (int64, bool) {
	if v, ok := lookup("GOMEMLIMIT"); ok && v != "" {
		return 0, false
	}
	return DefaultMemoryLimit, true
}

// planTimeout is the longest timeout of the selected materializations, or
// 0 (run until stopped) when any of them has none.
func planTimeout(p *plan.Plan) time.Duration {
	var t time.Duration
	for _, m := range p.Materializations {
		if m.Config.Timeout == 0 {
			return 0
		}
		t = max(t, m.Config.Timeout)
	}
	return t
}

// writerOptions sizes the writer from the materializations' sink settings:
// the smallest batch and flush interval asked for win.
func writerOptions(p *plan.Plan, log *slog.Logger) sink.WriterOptions {
	// Freshness: an update waits for its batch only while Redis is busy.
	o := sink.WriterOptions{Logger: log, SendWhenIdle: true}
	for _, m := range p.Materializations {
		if b := m.Config.Sink.BatchSize; b > 0 && (o.BatchSize == 0 || b < o.BatchSize) {
			o.BatchSize = b
		}
		if f := m.Config.Sink.FlushInterval; f > 0 && (o.FlushInterval == 0 || f < o.FlushInterval) {
			o.FlushInterval = f
		}
	}
	return o
}

// handleSignals cancels the run at the first SIGINT/SIGTERM and exits at
// once at the second.
func handleSignals(ctx context.Context, done <-chan struct{}, opts *MaterializeOptions, log *slog.Logger, cancel context.CancelFunc, stopped chan<- string) {
	sigs := opts.Signals
	if sigs == nil {
		ch := make(chan os.Signal, 2)
		signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
		defer signal.Stop(ch)
		sigs = ch
	}
	exit := opts.Exit
	if exit == nil {
		exit = os.Exit
	}
	select {
	case sig := <-sigs:
		log.Info("stopping: writing what is in flight and committing (signal again to exit at once)", "signal", sig.String())
		stopped <- "signal"
		cancel()
	case <-ctx.Done():
		return
	}
	select {
	case sig := <-sigs:
		log.Warn("second signal: exiting without a final commit; uncommitted records will be read again", "signal", sig.String())
		exit(130)
	case <-done:
	}
}

func newLogger(s IOStreams, format string) *slog.Logger {
	if format == "json" {
		return slog.New(slog.NewJSONHandler(s.ErrOut, nil))
	}
	return slog.New(slog.NewTextHandler(s.ErrOut, nil))
}

// progress redraws a one-line status on a terminal stderr every second.
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
