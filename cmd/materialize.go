package cmd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/feathrgo/feathr/config"
	"github.com/feathrgo/feathr/metrics"
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
	ShutdownTimeout  time.Duration
	Start            config.Start // zero: each source's start
	UntilCaughtUp    bool
	RedisURL         string
	LogFormat        string
	Strategy         string
	MetricsAddr      string
	DryRun           bool
	DryRunRows       int

	// The dependencies (see Factory).
	OpenStore func(sink.Options) (Store, error)
	Signals   func() (<-chan os.Signal, func())
	Exit      func(code int)
}

func newMaterializeCmd(f *Factory, run func(context.Context, *MaterializeOptions) error) *cobra.Command {
	opts := &MaterializeOptions{IO: f.IO, OpenStore: f.OpenStore, Signals: f.Signals, Exit: f.Exit}
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

Several processes with the same config share each topic's partitions
through the consumer group (--rebalance-strategy says how); run at most as
many as there are partitions. A rebalance writes and commits what a process
consumed before its partitions move.

--metrics-addr serves Prometheus metrics on /metrics, /healthz (alive) and
/readyz (partitions assigned and Redis answers).

--dry-run reads and evaluates without Redis: it prints the first
--dry-run-rows updates as JSON lines, writes nothing, commits nothing, and
joins no consumer group (partitions are read from the group's committed
offsets, else from --start).

Unless GOMEMLIMIT is set, a soft Go memory limit of 128 MiB applies (set
GOMEMLIMIT, e.g. 512MiB or off, for larger deployments).

A one-line JSON summary is printed on stdout at exit.`,
		Example: `  feathr materialize -f features.yaml --timeout 10s
  feathr materialize -f features.yaml kafkaSampleDemo --start earliest --until-caught-up
  feathr materialize -f features.yaml --metrics-addr :9464 --rebalance-strategy cooperative-sticky
  feathr materialize -f features.yaml --dry-run --start earliest --dry-run-rows 5`,
		RunE: func(c *cobra.Command, args []string) error {
			opts.Materializations = args
			if opts.LogFormat != "text" && opts.LogFormat != "json" {
				return usageErrorf("--log-format must be text or json, not %q", opts.LogFormat)
			}
			if opts.Timeout < 0 {
				return usageErrorf("--timeout must not be negative")
			}
			if opts.ShutdownTimeout <= 0 {
				return usageErrorf("--shutdown-timeout must be more than 0")
			}
			if err := pipeline.CheckStrategy(opts.Strategy); err != nil {
				return usageErrorf("--rebalance-strategy: %v", err)
			}
			if opts.DryRunRows < 0 {
				return usageErrorf("--dry-run-rows must not be negative")
			}
			if opts.DryRun && opts.MetricsAddr != "" {
				return usageErrorf("--metrics-addr cannot be used with --dry-run")
			}
			if run != nil {
				return run(c.Context(), opts)
			}
			return runMaterialize(c.Context(), opts)
		},
	}
	c.Flags().StringVarP(&opts.File, "file", "f", "features.yaml", "feature definition file")
	c.Flags().DurationVar(&opts.Timeout, "timeout", 0, "stop after this long (default: the materializations' timeout, else run until stopped)")
	c.Flags().DurationVar(&opts.ShutdownTimeout, "shutdown-timeout", 30*time.Second, "at the end of a run (timeout, signal, caught up), how long to write what is in flight and commit before exiting anyway")
	c.Flags().Var(startFlag{&opts.Start}, "start", "where a consumer group without committed offsets begins: earliest or latest (default: each source's start)")
	c.Flags().BoolVar(&opts.UntilCaughtUp, "until-caught-up", false, "stop once every assigned partition is written up to its high watermark at start")
	c.Flags().StringVar(&opts.RedisURL, "redis", "", "Redis URL overriding the file's online_store (redis://, rediss://, or redis+cluster://host:port,host:port for a cluster; put passwords in FEATHR_REDIS_URL instead)")
	c.Flags().StringVar(&opts.LogFormat, "log-format", "text", "log format on stderr: text or json")
	c.Flags().StringVar(&opts.Strategy, "rebalance-strategy", pipeline.DefaultStrategy, "consumer group rebalance strategy: "+strings.Join(pipeline.Strategies, ", ")+"; or a comma-separated list in order of preference")
	c.Flags().StringVar(&opts.MetricsAddr, "metrics-addr", "", "serve Prometheus metrics, /healthz and /readyz on this address, e.g. :9464")
	c.Flags().BoolVar(&opts.DryRun, "dry-run", false, "evaluate without Redis: print updates as JSON lines, commit nothing")
	c.Flags().IntVar(&opts.DryRunRows, "dry-run-rows", 10, "with --dry-run, stop after printing this many updates (0: no limit)")
	c.MarkFlagFilename("file", "yaml", "yml")
	c.RegisterFlagCompletionFunc("log-format", cobra.FixedCompletions([]string{"text", "json"}, cobra.ShellCompDirectiveNoFileComp))
	c.RegisterFlagCompletionFunc("start", cobra.FixedCompletions([]string{"earliest", "latest"}, cobra.ShellCompDirectiveNoFileComp))
	c.RegisterFlagCompletionFunc("rebalance-strategy", cobra.FixedCompletions(pipeline.Strategies, cobra.ShellCompDirectiveNoFileComp))
	c.ValidArgsFunction = completeMaterializations(f.IO, &opts.File)
	return c
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
	if opts.DryRun {
		return runDryRun(ctx, opts, log, p)
	}
	st, ropts, err := openPingedStore(ctx, opts.OpenStore, opts.RedisURL, p.File, opts.IO.LookupEnv)
	if err != nil {
		return err
	}
	defer st.Close()

	runCtx, timeout, cleanup := runContext(ctx, opts, p, log)
	defer cleanup()

	m := metrics.New(Version().Version)
	wopts := writerOptions(p, log)
	wopts.OnBatch = m.ObserveBatch
	writer := st.NewWriter(wopts)
	defer writer.Close()
	pl := pipeline.New(pipeline.Options{
		Plan: p, Writer: writer, Logger: log,
		Start: opts.Start, UntilCaughtUp: opts.UntilCaughtUp,
		Strategy: opts.Strategy, ShutdownTimeout: opts.ShutdownTimeout,
	})
	m.Watch(pl, writer)
	if opts.MetricsAddr != "" {
		ready := func(ctx context.Context) error {
			if !pl.Assigned() {
				return errors.New("no partition assignment yet")
			}
			return st.Ping(ctx)
		}
		srv, err := metrics.Listen(opts.MetricsAddr, m, ready, log)
		if err != nil {
			return err
		}
		defer func() {
			ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
			defer cancel()
			srv.Shutdown(ctx)
		}()
		log.Info("serving metrics", "addr", srv.Addr().String())
	}
	log.Info("materializing", "materializations", p.Names(), "timeout", timeout, "redis", ropts.Addr, "rebalance_strategy", opts.Strategy)
	if opts.IO.ErrIsTerminal {
		go progress(runCtx, opts.IO, pl)
	}
	start := time.Now()
	runErr := pl.Run(runCtx)
	if err := writer.Close(); err != nil && runErr == nil {
		runErr = err
	}
	sum := pl.Summary(time.Since(start), runErr)
	if opts.IO.ErrIsTerminal {
		fmt.Fprintln(opts.IO.ErrOut)
	}
	if err := json.NewEncoder(opts.IO.Out).Encode(sum); err != nil {
		return err
	}
	return runErr
}

// runContext returns the context of a run, which ends at the timeout (the
// flag's, else the plan's) or at the first SIGINT/SIGTERM (with cause
// pipeline.ErrInterrupted), and the cleanup to defer.
func runContext(ctx context.Context, opts *MaterializeOptions, p *plan.Plan, log *slog.Logger) (context.Context, time.Duration, func()) {
	timeout := opts.Timeout
	if timeout == 0 {
		timeout = p.Timeout()
	}
	runCtx, cancel := context.WithCancelCause(ctx)
	cancelT := context.CancelFunc(func() {})
	if timeout > 0 {
		runCtx, cancelT = context.WithTimeout(runCtx, timeout)
	}
	done := make(chan struct{})
	go handleSignals(runCtx, done, opts, log, cancel)
	return runCtx, timeout, func() {
		close(done)
		cancelT()
		cancel(nil)
	}
}

// runDryRun evaluates the plan's records without Redis and prints the
// updates it would write as JSON lines, then the summary.
func runDryRun(ctx context.Context, opts *MaterializeOptions, log *slog.Logger, p *plan.Plan) error {
	runCtx, timeout, cleanup := runContext(ctx, opts, p, log)
	defer cleanup()
	pl := pipeline.New(pipeline.Options{Plan: p, Logger: log, Start: opts.Start, UntilCaughtUp: opts.UntilCaughtUp})
	log.Info("dry run", "materializations", p.Names(), "timeout", timeout, "rows", opts.DryRunRows)
	enc := json.NewEncoder(opts.IO.Out)
	start := time.Now()
	runErr := pl.DryRun(runCtx, opts.DryRunRows, func(r pipeline.Row) error { return enc.Encode(r) })
	if err := enc.Encode(pl.Summary(time.Since(start), runErr)); err != nil {
		return err
	}
	return runErr
}

// completeMaterializations completes the names of the materializations
// in the file given with -f.
func completeMaterializations(s IOStreams, file *string) cobra.CompletionFunc {
	return func(c *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		f, err := config.Load(*file, s.LookupEnv)
		if f == nil || err != nil && f.Materializations == nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var out []cobra.Completion
		for _, m := range f.Materializations {
			if !slices.Contains(args, m.Name) && strings.HasPrefix(m.Name, toComplete) {
				out = append(out, m.Name)
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
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

// writerOptions sizes the writer from the materializations' sink settings.
func writerOptions(p *plan.Plan, log *slog.Logger) sink.WriterOptions {
	sinks := make([]config.RedisSink, len(p.Materializations))
	for i, m := range p.Materializations {
		sinks[i] = m.Config.Sink
	}
	o := sink.WriterOptionsFor(sinks...)
	// Freshness: an update waits for its batch only while Redis is busy.
	o.Logger, o.SendWhenIdle = log, true
	return o
}

// handleSignals cancels the run at the first SIGINT/SIGTERM and exits at
// once at the second.
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

// startFlag is the --start flag: a config.Start parsed from its text.
type startFlag struct{ v *config.Start }

func (f startFlag) String() string { return f.v.String() }
func (f startFlag) Type() string   { return "earliest|latest" }

func (f startFlag) Set(s string) error {
	v, ok := config.ParseStart(s)
	if !ok {
		return fmt.Errorf("want earliest or latest, not %q", s)
	}
	*f.v = v
	return nil
}
