package cmd

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"

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
	var f *config.File
	if opts.File != "" {
		var err error
		f, err = config.Load(opts.File, opts.IO.LookupEnv)
		if err != nil {
			return err
		}
	}
	st, ropts, err := openStore(opts.OpenStore, opts.RedisURL, f, opts.IO.LookupEnv)
	if err != nil {
		return err
	}
	defer st.Close()
	values, err := st.NewReader().Get(ctx, opts.Table, opts.Keys, opts.Features)
	if err != nil {
		return fmt.Errorf("redis at %s: %w", ropts.Addr, err)
	}
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

// appendGetJSON appends the JSON output of get (the first key's
// {"feature": value, ...}) or of multi-get ({"key": {...}, ...}), and a
// newline.
func appendGetJSON(buf []byte, keys, features []string, values [][]any, multi bool) ([]byte, error) {
	// Each feature's `"name":`, quoted once rather than once per key.
	names := make([][]byte, len(features))
	size := 0
	for i, f := range features {
		names[i] = append(appendJSONString(nil, f), ':')
		size += len(names[i]) + 24
	}
	var err error
	if !multi {
		if buf, err = appendFeatures(buf, features, names, values[0]); err != nil {
			return nil, err
		}
		return append(buf, '\n'), nil
	}
	if buf == nil {
		buf = make([]byte, 0, len(keys)*(size+16))
	}
	buf = append(buf, '{')
	for i, k := range keys {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = appendJSONString(buf, k)
		buf = append(buf, ':')
		if buf, err = appendFeatures(buf, features, names, values[i]); err != nil {
			return nil, err
		}
	}
	return append(buf, '}', '\n'), nil
}

// appendFeatures appends {"feature": value, ...} in the order asked; names
// holds each feature's quoted name and colon.
func appendFeatures(buf []byte, features []string, names [][]byte, values []any) ([]byte, error) {
	buf = append(buf, '{')
	for i, name := range names {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, name...)
		var err error
		if buf, err = appendJSONValue(buf, values[i]); err != nil {
			return nil, fmt.Errorf("feature %s: %w", features[i], err)
		}
	}
	return append(buf, '}'), nil
}

// appendJSONValue appends v as encoding/json marshals it, without its
// reflection for the scalar values features mostly hold.
func appendJSONValue(buf []byte, v any) ([]byte, error) {
	switch v := v.(type) {
	case nil:
		return append(buf, "null"...), nil
	case bool:
		return strconv.AppendBool(buf, v), nil
	case int32:
		return strconv.AppendInt(buf, int64(v), 10), nil
	case int64:
		return strconv.AppendInt(buf, v, 10), nil
	case float64:
		if !math.IsInf(v, 0) && !math.IsNaN(v) {
			return appendJSONFloat(buf, v, 64), nil
		}
	case float32:
		if f := float64(v); !math.IsInf(f, 0) && !math.IsNaN(f) {
			return appendJSONFloat(buf, f, 32), nil
		}
	case string:
		return appendJSONString(buf, v), nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append(buf, b...), nil
}

// appendJSONFloat appends a finite f as encoding/json does: the shortest
// representation that round-trips at bits precision, in exponent form
// below 1e-6 and from 1e21, with a one-digit negative exponent unpadded.
func appendJSONFloat(buf []byte, f float64, bits int) []byte {
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 {
		if bits == 64 && (abs < 1e-6 || abs >= 1e21) || bits == 32 && (float32(abs) < 1e-6 || float32(abs) >= 1e21) {
			format = 'e'
		}
	}
	buf = strconv.AppendFloat(buf, f, format, -1, bits)
	if format == 'e' {
		// e-09 becomes e-9
		if n := len(buf); n >= 4 && buf[n-4] == 'e' && buf[n-3] == '-' && buf[n-2] == '0' {
			buf[n-2] = buf[n-1]
			buf = buf[:n-1]
		}
	}
	return buf
}

// appendJSONString appends s quoted as encoding/json does: printable
// ASCII other than the characters it escapes is copied as is, anything
// else goes through json.Marshal.
func appendJSONString(buf []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			b, _ := json.Marshal(s) // a string always marshals
			return append(buf, b...)
		}
	}
	buf = append(buf, '"')
	buf = append(buf, s...)
	return append(buf, '"')
}

func writeTable(w io.Writer, keys, features []string, values [][]any) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprint(tw, "KEY")
	for _, f := range features {
		fmt.Fprint(tw, "\t"+f)
	}
	fmt.Fprintln(tw)
	var line []byte
	for i, k := range keys {
		line = append(line[:0], k...)
		for _, v := range values[i] {
			line = append(line, '\t')
			var err error
			if line, err = appendJSONValue(line, v); err != nil {
				return err
			}
		}
		line = append(line, '\n')
		if _, err := tw.Write(line); err != nil {
			return err
		}
	}
	return tw.Flush()
}
