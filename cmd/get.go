package cmd

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/feathrgo/feathr/config"
	"github.com/feathrgo/feathr/sink"
)

// GetOptions are the options of feathr get and feathr multi-get.
type GetOptions struct {
	IO       IOStreams
	File     string
	RedisURL string
	Output   string // "json" or "table"
	Table    string
	Keys     []string
	Features []string
	Multi    bool // multi-get: print {"key": {...}, ...}
	// At is the time aggregated features are computed at (--at), RFC
	// 3339 or unix milliseconds; empty: now. Parsed into at.
	At string
	at time.Time

	// The dependency (see Factory).
	OpenStore func(sink.Options) (Store, error)
}

func newGetCmd(f *Factory, run func(context.Context, *GetOptions) error) *cobra.Command {
	opts := &GetOptions{IO: f.IO, OpenStore: f.OpenStore}
	c := &cobra.Command{
		Use:   "get TABLE KEY FEATURE...",
		Short: "Read one entity's features from the online store",
		Long: `Read the features of one key from a Redis table written by materialize (or by
Feathr). A composite key is written k1#k2. Features may be given as several
arguments or comma-separated. Prints {"feature": value, ...} as JSON; a
missing key or feature is null.

With -f, the file's aggregated features (a transform {agg_func: ...}) are
computed from their tiles at the time of reading (or --at); without it, get
reads their stored fields, the values as of their last write or refresh.

The store is --redis, else the -f file's online_store, else FEATHR_REDIS_URL,
else localhost:6379.`,
		Example: `  feathr get kafkaSampleDemoFeature 1 f_modified_streaming_count
  feathr get -o table kafkaSampleDemoFeature 1 f_a,f_b`,
		Args: usageArgs(cobra.MinimumNArgs(3)),
		RunE: func(c *cobra.Command, args []string) error {
			opts.Table, opts.Keys, opts.Features = args[0], []string{args[1]}, splitList(args[2:])
			if err := checkGetOptions(opts); err != nil {
				return err
			}
			if run != nil {
				return run(c.Context(), opts)
			}
			return runGet(c.Context(), opts)
		},
	}
	addGetFlags(c, opts)
	return c
}

func newMultiGetCmd(f *Factory, run func(context.Context, *GetOptions) error) *cobra.Command {
	opts := &GetOptions{IO: f.IO, OpenStore: f.OpenStore, Multi: true}
	c := &cobra.Command{
		Use:   "multi-get TABLE KEYS FEATURE...",
		Short: "Read many entities' features from the online store",
		Long: `Read the features of many keys, pipelined in chunks. KEYS is comma-separated,
or - to read one key per line from stdin. Prints {"key": {"feature": value}}
as JSON; a missing key or feature is null.`,
		Example: `  feathr multi-get kafkaSampleDemoFeature 1,2,3 f_modified_streaming_count
  seq 1 10000 | feathr multi-get kafkaSampleDemoFeature - f_a f_b`,
		Args: usageArgs(cobra.MinimumNArgs(3)),
		RunE: func(c *cobra.Command, args []string) error {
			opts.Table, opts.Features = args[0], splitList(args[2:])
			if args[1] == "-" {
				keys, err := readKeys(opts.IO.In)
				if err != nil {
					return fmt.Errorf("reading keys from stdin: %w", err)
				}
				opts.Keys = keys
			} else {
				opts.Keys = splitList(args[1:2])
			}
			if err := checkGetOptions(opts); err != nil {
				return err
			}
			if run != nil {
				return run(c.Context(), opts)
			}
			return runGet(c.Context(), opts)
		},
	}
	addGetFlags(c, opts)
	return c
}

func addGetFlags(c *cobra.Command, opts *GetOptions) {
	c.Flags().StringVarP(&opts.File, "file", "f", "", "feature definition file whose online_store to read")
	c.Flags().StringVar(&opts.RedisURL, "redis", "", "Redis URL (redis://, rediss://, or redis+cluster://host:port,host:port for a cluster; put passwords in FEATHR_REDIS_URL instead)")
	c.Flags().StringVarP(&opts.Output, "output", "o", "json", "output format: json or table")
	c.Flags().StringVar(&opts.At, "at", "", "with -f, compute the aggregated features as of this time (RFC 3339, or unix milliseconds) instead of now")
}

func checkGetOptions(opts *GetOptions) error {
	if opts.Output != "json" && opts.Output != "table" {
		return usageErrorf("--output must be json or table, not %q", opts.Output)
	}
	if len(opts.Features) == 0 {
		return usageErrorf("no features given")
	}
	if opts.At != "" {
		at, err := parseAt(opts.At)
		if err != nil {
			return usageErrorf("--at: %v", err)
		}
		if opts.File == "" {
			return usageErrorf("--at needs -f: the file's aggregated features are computed at that time")
		}
		opts.at = at
	}
	return nil
}

// splitList splits comma-separated arguments, dropping empty items.
func splitList(args []string) []string {
	var out []string
	for _, a := range args {
		for _, s := range strings.Split(a, ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
	}
	return out
}

// readKeys reads one key per line, skipping blank lines. The keys are
// substrings of one string, not one allocation each.
func readKeys(r io.Reader) ([]string, error) {
	var all []byte
	var ends []int
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		if k := bytes.TrimRight(sc.Bytes(), "\r"); len(k) > 0 {
			all = append(all, k...)
			ends = append(ends, len(all))
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	s := string(all)
	keys := make([]string, len(ends))
	start := 0
	for i, end := range ends {
		keys[i], start = s[start:end], end
	}
	return keys, nil
}

func runGet(ctx context.Context, opts *GetOptions) error {
	f, err := loadStoreFile(opts.File, opts.IO.LookupEnv)
	if err != nil {
		return err
	}
	st, ropts, err := openStore(opts.OpenStore, opts.RedisURL, f, opts.IO.LookupEnv)
	if err != nil {
		return err
	}
	defer st.Close()
	at := opts.at
	if at.IsZero() {
		at = time.Now()
	}
	values, err := readValues(ctx, st.NewReader(), f, opts, at)
	if err != nil {
		return fmt.Errorf("redis at %s: %w", ropts.Addr, err)
	}
	return writeValues(opts, values)
}

// loadStoreFile loads the -f file whose online_store get reads; nil when
// no file is given.
func loadStoreFile(path string, lookupEnv func(string) (string, bool)) (*config.File, error) {
	if path == "" {
		return nil, nil
	}
	return config.Load(path, lookupEnv)
}

// writeValues prints the values read of opts.Keys as opts.Output says.
func writeValues(opts *GetOptions, values [][]any) error {
	if opts.Output == "table" {
		return writeTable(opts.IO.Out, opts.Keys, opts.Features, values)
	}
	buf, err := appendGetJSON(nil, opts.Keys, opts.Features, values, opts.Multi)
	if err != nil {
		return err
	}
	_, err = opts.IO.Out.Write(buf)
	return err
}
