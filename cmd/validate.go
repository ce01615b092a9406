package cmd

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/feathrgo/feathr/config"
	"github.com/feathrgo/feathr/plan"
)

// ValidateOptions are the options of feathr validate.
type ValidateOptions struct {
	IO     IOStreams
	File   string
	Output string // "text" or "json"
}

func newValidateCmd(f *Factory, run func(*ValidateOptions) error) *cobra.Command {
	opts := &ValidateOptions{IO: f.IO}
	c := &cobra.Command{
		Use:   "validate -f FILE",
		Short: "Check a feature definition file without touching Kafka or Redis",
		Long: `Check everything that can be checked without a network: the YAML's shape,
names and references, each source's Avro schema, every transform type-checked
against its schema, and key columns. Every problem is reported as
FILE:LINE:COLUMN: message. Exits 0 when the file is valid, 1 when it is not.`,
		Example: `  feathr validate -f features.yaml
  feathr validate -f features.yaml --output json`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(c *cobra.Command, args []string) error {
			if opts.Output != "text" && opts.Output != "json" {
				return usageErrorf("--output must be text or json, not %q", opts.Output)
			}
			if run != nil {
				return run(opts)
			}
			return runValidate(opts)
		},
	}
	c.Flags().StringVarP(&opts.File, "file", "f", "features.yaml", "feature definition file")
	c.Flags().StringVarP(&opts.Output, "output", "o", "text", "output format: text or json")
	return c
}

// problem is one validation problem in JSON output.
type problem struct {
	File    string `json:"file"`
	Line    int    `json:"line"`
	Column  int    `json:"column"`
	Message string `json:"message"`
}

func runValidate(opts *ValidateOptions) error {
	_, p, err := loadPlan(opts.File, opts.IO.LookupEnv, nil)
	var errs config.Errors
	if err != nil && !errors.As(err, &errs) {
		return err // the file could not be read
	}
	if opts.Output == "json" {
		if err := writeValidateJSON(opts.IO.Out, opts.File, p, errs); err != nil {
			return err
		}
	} else {
		writeValidateText(opts.IO, opts.File, p, errs)
	}
	if len(errs) > 0 {
		return silentError(ExitError)
	}
	return nil
}

// writeValidateJSON writes the result of validating file as one JSON
// object: its problems, else the summary of its plan p.
func writeValidateJSON(w io.Writer, file string, p *plan.Plan, errs config.Errors) error {
	out := struct {
		Valid    bool      `json:"valid"`
		File     string    `json:"file"`
		Problems []problem `json:"problems"`
		Summary  *summary  `json:"summary,omitempty"`
	}{Valid: len(errs) == 0, File: file, Problems: []problem{}}
	for _, e := range errs {
		out.Problems = append(out.Problems, problem{e.File, e.Line, e.Column, e.Msg})
	}
	if len(errs) == 0 {
		sum := summarize(p)
		out.Summary = &sum
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(out)
}

// writeValidateText writes the result of validating file for people, on
// stderr: each problem and their count, else what the plan p holds.
func writeValidateText(s IOStreams, file string, p *plan.Plan, errs config.Errors) {
	if len(errs) > 0 {
		printProblems(s, errs)
		fmt.Fprintf(s.ErrOut, "%s: %d problem%s\n", file, len(errs), plural(len(errs)))
		return
	}
	sum := summarize(p)
	fmt.Fprintf(s.ErrOut, "%s: valid: %d source%s, %d key%s, %d anchor%s, %d feature%s, %d materialization%s\n",
		file, sum.Sources, plural(sum.Sources), sum.Keys, plural(sum.Keys), sum.Anchors, plural(sum.Anchors),
		sum.Features, plural(sum.Features), sum.Materializations, plural(sum.Materializations))
}

// printProblems prints each located problem of a file on its own line of
// stderr.
func printProblems(s IOStreams, errs config.Errors) {
	for _, e := range errs {
		fmt.Fprintln(s.ErrOut, e.Error())
	}
}

type summary struct {
	Sources          int `json:"sources"`
	Keys             int `json:"keys"`
	Anchors          int `json:"anchors"`
	Features         int `json:"features"`
	Materializations int `json:"materializations"`
}

func summarize(p *plan.Plan) summary {
	f := p.File
	s := summary{Sources: len(f.Sources), Keys: len(f.Keys), Anchors: len(f.Anchors), Materializations: len(f.Materializations)}
	for _, a := range f.Anchors {
		s.Features += len(a.Features)
	}
	return s
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// loadPlan loads and compiles a file. Its error is a config.Errors when the
// file has problems; f and p are nil only when the file could not be read.
func loadPlan(path string, lookupEnv func(string) (string, bool), names []string) (*config.File, *plan.Plan, error) {
	f, err := config.Load(path, lookupEnv)
	var errs config.Errors
	if err != nil && !errors.As(err, &errs) {
		return nil, nil, err
	}
	if f == nil {
		return nil, nil, err
	}
	p, perr := plan.Compile(f, plan.Options{Materializations: names})
	var perrs config.Errors
	if perr != nil && errors.As(perr, &perrs) {
		errs = append(errs, perrs...)
	} else if perr != nil {
		return f, p, perr
	}
	if len(errs) > 0 {
		return f, p, errs.Err()
	}
	return f, p, nil
}
