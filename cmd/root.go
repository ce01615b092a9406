package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
)

// Exit codes of the feathr command.
const (
	ExitOK          = 0   // success
	ExitError       = 1   // the command failed: a bad config, an unreachable server, a record error under on_error: stop
	ExitUsage       = 2   // the command line is wrong
	ExitInterrupted = 130 // a second SIGINT or SIGTERM ended materialize without its final commit
)

// IOStreams are a command's standard streams and environment.
type IOStreams struct {
	In     io.Reader
	Out    io.Writer // JSON and results, for scripts
	ErrOut io.Writer // progress, logs and errors, for people
	// ErrIsTerminal turns on the live progress line.
	ErrIsTerminal bool
	// LookupEnv reads the environment (os.LookupEnv outside tests).
	LookupEnv func(string) (string, bool)
}

// SystemStreams returns the process's own streams and environment.
func SystemStreams() IOStreams {
	return IOStreams{
		In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr,
		ErrIsTerminal: isTerminal(os.Stderr),
		LookupEnv:     os.LookupEnv,
	}
}

func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// exitError carries an exit code with the error that caused it.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// usageErrorf is an error in the command line (exit code 2).
func usageErrorf(format string, args ...any) error {
	return &exitError{code: ExitUsage, err: fmt.Errorf(format, args...)}
}

// silentError ends a command with code after it already reported why.
func silentError(code int) error { return &exitError{code: code} }

// NewRootCmd builds the feathr command tree over the dependencies of f.
func NewRootCmd(f *Factory) *cobra.Command {
	s := f.IO
	root := &cobra.Command{
		Use:   "feathr",
		Short: "Stream Kafka events into fresh per-entity features in Redis",
		Long: `feathr turns a stream of events into fresh, per-entity features in an online store.

A YAML file declares Kafka sources with their Avro schema, entity keys, and
anchors of features computed by row-level expressions over each event. 
"feathr materialize" consumes the topics and upserts the features into Redis
in Feathr's layout; "feathr get" and "feathr multi-get" read them back.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(s.In)
	root.SetOut(s.Out)
	root.SetErr(s.ErrOut)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &exitError{code: ExitUsage, err: fmt.Errorf("%w\nRun '%s --help' for usage.", err, c.CommandPath())}
	})
	root.AddCommand(
		newValidateCmd(f, nil),
		newMaterializeCmd(f, nil),
		newGetCmd(f, nil),
		newMultiGetCmd(f, nil),
		newDevCmd(f, nil),
		newVersionCmd(f, nil),
	)
	root.Version = Version().Version
	root.SetVersionTemplate("feathr {{.Version}}\n")
	return root
}

// Run executes the command line args with the process's own dependencies
// (NewFactory) over s, and returns the process exit code.
func Run(ctx context.Context, args []string, s IOStreams) int {
	return execute(ctx, NewFactory(s), args)
}

// execute runs the command line args over the dependencies of f, reports
// an error on f's stderr, and returns the exit code.
func execute(ctx context.Context, f *Factory, args []string) int {
	s := f.IO
	root := NewRootCmd(f)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	code := ExitError
	var ee *exitError
	if errors.As(err, &ee) {
		code = ee.code
		if ee.err == nil {
			return code
		}
	} else if isUsage(err) {
		code = ExitUsage
	}
	fmt.Fprintf(s.ErrOut, "feathr: %v\n", err)
	return code
}

// isUsage recognises cobra's own errors for an unknown command.
func isUsage(err error) bool {
	return strings.HasPrefix(err.Error(), "unknown command")
}

// usageArgs makes the errors of a positional-argument check usage errors.
func usageArgs(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(c *cobra.Command, args []string) error {
		if err := check(c, args); err != nil {
			return &exitError{code: ExitUsage, err: fmt.Errorf("%w\nUsage: %s", err, c.UseLine())}
		}
		return nil
	}
}
