package cmd

import (
	"context"
	"fmt"

	"github.com/feathrgo/feathr/config"
	"github.com/feathrgo/feathr/pipeline"
	"github.com/feathrgo/feathr/sink"
)

// Store is the online store as the commands use it: *sink.Store through
// sinkStore, or a test's fake (see Factory.OpenStore).
type Store interface {
	// Ping checks that the store answers; its error names the address.
	Ping(ctx context.Context) error
	// NewWriter starts a writer into the store; close it before the store.
	NewWriter(opts sink.WriterOptions) StoreWriter
	// NewReader returns a reader of the store.
	NewReader() StoreReader
	// Close closes the store's connections.
	Close() error
}

// StoreWriter is what materialize writes with: a pipeline.Writer that
// Close stops, returning the error the writer failed with, if any.
type StoreWriter interface {
	pipeline.Writer
	Close() error
}

// StoreReader is what get and multi-get read with (see sink.Reader.Get).
type StoreReader interface {
	Get(ctx context.Context, table string, keys, features []string) ([][]any, error)
}

// sinkStore is a *sink.Store as a Store.
type sinkStore struct{ *sink.Store }

func (s sinkStore) NewWriter(opts sink.WriterOptions) StoreWriter { return s.Store.NewWriter(opts) }
func (s sinkStore) NewReader() StoreReader                        { return s.Store.NewReader() }

// openSinkStore is Factory.OpenStore of the process: sink.Open.
func openSinkStore(o sink.Options) (Store, error) {
	st, err := sink.Open(o)
	if err != nil {
		return nil, err
	}
	return sinkStore{st}, nil
}

// openStore opens, with open, the store that storeOptions picks, and
// returns it with its options.
func openStore(open func(sink.Options) (Store, error), flagURL string, f *config.File, lookupEnv func(string) (string, bool)) (Store, sink.Options, error) {
	o, err := storeOptions(flagURL, f, lookupEnv)
	if err != nil {
		return nil, o, err
	}
	st, err := open(o)
	if err != nil {
		return nil, o, err
	}
	return st, o, nil
}

// openPingedStore is openStore that also pings the store, so that a
// wrong address fails at once with a clear error.
func openPingedStore(ctx context.Context, open func(sink.Options) (Store, error), flagURL string, f *config.File, lookupEnv func(string) (string, bool)) (Store, sink.Options, error) {
	st, o, err := openStore(open, flagURL, f, lookupEnv)
	if err != nil {
		return nil, o, err
	}
	if err := st.Ping(ctx); err != nil {
		st.Close()
		return nil, o, err
	}
	return st, o, nil
}

// storeOptions picks the Redis to talk to: --redis, else the file's
// online_store, else FEATHR_REDIS_URL, else localhost:6379. A URL's TLS
// files come from FEATHR_REDIS_CA_FILE, FEATHR_REDIS_CERT_FILE and
// FEATHR_REDIS_KEY_FILE (see sink.Options.WithEnvTLS).
func storeOptions(flagURL string, f *config.File, lookupEnv func(string) (string, bool)) (sink.Options, error) {
	if flagURL != "" {
		o, err := sink.ParseURL(flagURL)
		if err != nil {
			return o, usageErrorf("--redis: %v", err)
		}
		return o.WithEnvTLS(lookupEnv)
	}
	if f != nil {
		return sink.OptionsFromConfig(f.OnlineStore.Redis)
	}
	if u, ok := lookupEnv("FEATHR_REDIS_URL"); ok && u != "" {
		o, err := sink.ParseURL(u)
		if err != nil {
			return o, fmt.Errorf("FEATHR_REDIS_URL: %w", err)
		}
		return o.WithEnvTLS(lookupEnv)
	}
	return sink.Options{Addr: "localhost:6379"}, nil
}
