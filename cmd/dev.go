package cmd

import (
	"context"
	"fmt"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/feathrgo/feathr/config"
	"github.com/feathrgo/feathr/sandbox"
)

// DevOptions are the options of feathr dev.
type DevOptions struct {
	IO         IOStreams
	File       string
	Rate       int
	Entities   int
	Partitions int
	Duration   time.Duration
}

func newDevCmd(f *Factory, run func(context.Context, *DevOptions) error) *cobra.Command {
	opts := &DevOptions{IO: f.IO}
	c := &cobra.Command{
		Use:   "dev [-f FILE]",
		Short: "Run an in-process Kafka broker and Redis with sample events, for trying feathr",
		Long: `Start an in-process Kafka-protocol broker and an in-process Redis-protocol
server on the addresses the file names, and produce a steady stream of sample
events made from each source's schema, until interrupted (or --duration).
Nothing needs to be installed. Then, in another terminal:

  feathr materialize -f FILE --timeout 10s
  feathr get -f FILE TABLE KEY FEATURE...

The sandbox keeps everything in memory and is for demos only.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(c *cobra.Command, args []string) error {
			if run != nil {
				return run(c.Context(), opts)
			}
			return runDev(c.Context(), opts)
		},
	}
	c.Flags().StringVarP(&opts.File, "file", "f", "features.example.yaml", "feature definition file")
	c.Flags().IntVar(&opts.Rate, "rate", 50, "events per second per source")
	c.Flags().IntVar(&opts.Entities, "entities", 10, "distinct key values (entities) in the sample events")
	c.Flags().IntVar(&opts.Partitions, "partitions", 4, "partitions per topic")
	c.Flags().DurationVar(&opts.Duration, "duration", 0, "stop after this long (default: until interrupted)")
	return c
}

func runDev(ctx context.Context, opts *DevOptions) error {
	f, err := config.Load(opts.File, opts.IO.LookupEnv)
	if err != nil {
		return err
	}
	sopts := sandbox.Options{File: f, Rate: opts.Rate, Entities: opts.Entities, Partitions: opts.Partitions}
	sb, err := sandbox.Start(sopts)
	if err != nil {
		return err
	}
	defer sb.Close()
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if opts.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, opts.Duration)
		defer cancel()
	}
	fmt.Fprintf(opts.IO.ErrOut, "sandbox: Kafka-protocol broker on %s, Redis on %s, %d sample events/s per source\n", sb.Brokers, sb.Redis, opts.Rate)
	fmt.Fprintf(opts.IO.ErrOut, "next, in another terminal:\n  feathr materialize -f %s --timeout 10s\n", opts.File)
	if len(f.Materializations) > 0 {
		m := f.Materializations[0]
		if len(m.Features) > 0 {
			fmt.Fprintf(opts.IO.ErrOut, "  feathr get -f %s %s 1 %s\n", opts.File, m.Sink.Table, m.Features[0])
			fmt.Fprintf(opts.IO.ErrOut, "  feathr multi-get -f %s %s 1,2,3 %s\n", opts.File, m.Sink.Table, m.Features[0])
		}
	}
	var produced atomic.Int64
	err = sb.Produce(ctx, sopts, func(n int) { produced.Add(int64(n)) })
	fmt.Fprintf(opts.IO.ErrOut, "sandbox: stopped after %d events\n", produced.Load())
	return err
}
