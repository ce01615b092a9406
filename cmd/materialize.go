package cmd

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
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
	setDefaultMemoryLimit()
	p, err := loadRunPlan(opts.IO, opts.File, opts.Materializations)
	if err != nil {
		return err
	}
	if opts.DryRun {
		return runDryRun(ctx, opts, log, p)
	}
	st, ropts, err := openPingedStore(ctx, opts.OpenStore, opts.RedisURL, p.File, opts.IO.LookupEnv)
	if err != nil {
		return err
	}
	defer st.Close()
	timeout := opts.timeout(p)
	runCtx, cleanup := runContext(ctx, opts, timeout, log)
	defer cleanup()
	m := metrics.New(Version().Version)
	writer := st.NewWriter(writerOptions(p, log, m.ObserveBatch))
	defer writer.Close()
	pl := pipeline.New(pipeline.Options{
		Plan: p, Writer: writer, Logger: log,
		Start: opts.Start, UntilCaughtUp: opts.UntilCaughtUp,
		Strategy: opts.Strategy, ShutdownTimeout: opts.ShutdownTimeout,
	})
	m.Watch(pl, writer)
	stopRefresher := startRefresher(st, pl, log)
	defer stopRefresher()
	stopServing, err := serveMetrics(ctx, opts.MetricsAddr, m, readiness(pl, st), log)
	if err != nil {
		return err
	}
	defer stopServing()
	log.Info("materializing", "materializations", p.Names(), "timeout", timeout, "redis", ropts.Addr, "rebalance_strategy", opts.Strategy)
	return runWithProgress(runCtx, opts.IO, pl, writer)
}

// runDryRun evaluates the plan's records without Redis and prints the
// updates it would write as JSON lines, then the summary.
func runDryRun(ctx context.Context, opts *MaterializeOptions, log *slog.Logger, p *plan.Plan) error {
	timeout := opts.timeout(p)
	runCtx, cleanup := runContext(ctx, opts, timeout, log)
	defer cleanup()
	pl := pipeline.New(pipeline.Options{Plan: p, Logger: log, Start: opts.Start, UntilCaughtUp: opts.UntilCaughtUp})
	log.Info("dry run", "materializations", p.Names(), "timeout", timeout, "rows", opts.DryRunRows)
	enc := json.NewEncoder(opts.IO.Out)
	start := time.Now()
	runErr := pl.DryRun(runCtx, opts.DryRunRows, func(r pipeline.Row) error { return enc.Encode(r) })
	return printSummary(enc, pl, start, runErr)
}

// timeout is how long a run of p lasts: --timeout, else the
// materializations' timeout (0: until stopped).
func (opts *MaterializeOptions) timeout(p *plan.Plan) time.Duration {
	if opts.Timeout != 0 {
		return opts.Timeout
	}
	return p.Timeout()
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

func newLogger(s IOStreams, format string) *slog.Logger {
	if format == "json" {
		return slog.New(slog.NewJSONHandler(s.ErrOut, nil))
	}
	return slog.New(slog.NewTextHandler(s.ErrOut, nil))
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
