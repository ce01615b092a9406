package cmd

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/feathrgo/feathr/config"
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
}

func newGetCmd(s IOStreams, run func(context.Context, *GetOptions) error) *cobra.Command {
	opts := &GetOptions{IO: s}
	c := &cobra.Command{
		Use:   "get TABLE KEY FEATURE...",
		Short: "Read one entity's features from the online store",
		Long: `Read the features of one key from a Redis table written by materialize (or by
Feathr). A composite key is written k1#k2. Features may be given as several
arguments or comma-separated. Prints {"feature": value, ...} as JSON; a
missing key or feature is null.

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
			return runGet(c.Context(), opts, false)
		},
	}
	addGetFlags(c, opts)
	return c
}

func newMultiGetCmd(s IOStreams, run func(context.Context, *GetOptions) error) *cobra.Command {
	opts := &GetOptions{IO: s}
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
			return runGet(c.Context(), opts, true)
		},
	}
	addGetFlags(c, opts)
	return c
}

func addGetFlags(c *cobra.Command, opts *GetOptions) {
	c.Flags().StringVarP(&opts.File, "file", "f", "", "feature definition file whose online_store to read")
	c.Flags().StringVar(&opts.RedisURL, "redis", "", "Redis URL (redis://, rediss://, or redis+cluster://host:port,host:port for a cluster; put passwords in FEATHR_REDIS_URL instead)")
	c.Flags().StringVarP(&opts.Output, "output", "o", "json", "output format: json or table")
}

func checkGetOptions(opts *GetOptions) error {
	if opts.Output != "json" && opts.Output != "table" {
		return usageErrorf("--output must be json or table, not %q", opts.Output)
	}
	if len(opts.Features) == 0 {
		return usageErrorf("no features given")
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

// readKeys reads one key per line, skipping blank lines.
func readKeys(r io.Reader) ([]string, error) {
	var keys []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		if k := strings.TrimRight(sc.Text(), "\r"); k != "" {
			keys = append(keys, k)
		}
	}
	return keys, sc.Err()
}

func runGet(ctx context.Context, opts *GetOptions, multi bool) error {
	var f *config.File
	if opts.File != "" {
		var err error
		f, err = config.Load(opts.File, opts.IO.LookupEnv)
		if err != nil {
			return err
		}
	}
	ropts, err := storeOptions(opts.RedisURL, f, opts.IO.LookupEnv)
	if err != nil {
		return err
	}
	st, err := openStore(ropts)
	if err != nil {
		return err
	}
	defer st.Close()
	values, err := st.reader().Get(ctx, opts.Table, opts.Keys, opts.Features)
	if err != nil {
		return fmt.Errorf("redis at %s: %w", ropts.Addr, err)
	}
	if opts.Output == "table" {
		return writeTable(opts.IO.Out, opts.Keys, opts.Features, values)
	}
	var buf bytes.Buffer
	if multi {
		buf.WriteByte('{')
		for i, k := range opts.Keys {
			if i > 0 {
				buf.WriteByte(',')
			}
			writeJSON(&buf, k)
			buf.WriteByte(':')
			if err := writeFeatures(&buf, opts.Features, values[i]); err != nil {
				return err
			}
		}
		buf.WriteByte('}')
	} else if err := writeFeatures(&buf, opts.Features, values[0]); err != nil {
		return err
	}
	buf.WriteByte('\n')
	_, err = opts.IO.Out.Write(buf.Bytes())
	return err
}

// writeFeatures writes {"feature": value, ...} in the order asked.
func writeFeatures(buf *bytes.Buffer, features []string, values []any) error {
	buf.WriteByte('{')
	for i, name := range features {
		if i > 0 {
			buf.WriteByte(',')
		}
		writeJSON(buf, name)
		buf.WriteByte(':')
		b, err := json.Marshal(values[i])
		if err != nil {
			return fmt.Errorf("feature %s: %w", name, err)
		}
		buf.Write(b)
	}
	buf.WriteByte('}')
	return nil
}

func writeJSON(buf *bytes.Buffer, s string) {
	b, _ := json.Marshal(s) // a string always marshals
	buf.Write(b)
}

func writeTable(w io.Writer, keys, features []string, values [][]any) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprint(tw, "KEY")
	for _, f := range features {
		fmt.Fprint(tw, "\t"+f)
	}
	fmt.Fprintln(tw)
	for i, k := range keys {
		fmt.Fprint(tw, k)
		for _, v := range values[i] {
			if v == nil {
				fmt.Fprint(tw, "\tnull")
				continue
			}
			b, err := json.Marshal(v)
			if err != nil {
				return err
			}
			fmt.Fprint(tw, "\t"+string(b))
		}
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}
