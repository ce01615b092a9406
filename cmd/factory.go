package cmd

import (
	"os"
	"os/signal"
	"syscall"

	"github.com/feathrgo/feathr/sink"
)

// Factory holds what the commands use from outside the process: the
// standard streams and environment, the online store, the interrupts and
// the exit of the process. NewFactory gives the process's own; a test
// replaces the ones it fakes. Each command copies the ones it uses into
// its options.
type Factory struct {
	IO IOStreams
	// OpenStore returns the online store o describes, without connecting
	// (openSinkStore: sink.Open).
	OpenStore func(o sink.Options) (Store, error)
	// Signals subscribes to the interrupts that stop feathr materialize
	// (SIGINT and SIGTERM of the process) and returns their channel with
	// the func that ends the subscription. Nothing is subscribed before a
	// run asks, so that an interrupt ends the other commands as usual.
	Signals func() (<-chan os.Signal, func())
	// Exit ends the process at once, at a second interrupt (os.Exit).
	Exit func(code int)
}

// NewFactory returns the dependencies of the process itself, with s as
// its streams and environment.
func NewFactory(s IOStreams) *Factory {
	return &Factory{IO: s, OpenStore: openSinkStore, Signals: processSignals, Exit: os.Exit}
}

// processSignals subscribes to SIGINT and SIGTERM of the process.
func processSignals() (<-chan os.Signal, func()) {
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	return ch, func() { signal.Stop(ch) }
}
