package sink

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"syscall"
	"time"
)

// pingTimeout bounds Store.Ping.
const pingTimeout = 10 * time.Second

// Store is an online store: one Redis server, or a Redis Cluster. Its
// writers and readers share its connection pools. A Store is safe for
// concurrent use.
type Store struct {
	opts Options
	b    backend
}

// backend is what a Store talks to: one server (*server) or a cluster
// (*cluster).
type backend interface {
	// ping checks that the backend answers: the server, or every master.
	ping(ctx context.Context) error
	// batchWriter returns a new shard's batchWriter for w.
	batchWriter(w *Writer) batchWriter
	// read reads features of keys of table into out (see Reader.Get).
	read(ctx context.Context, table string, keys, features []string, out [][]any) error
	// close closes the connection pools.
	close() error
}

// Open returns the store that o describes: a Redis Cluster when
// o.Cluster is set (o.Addr lists some of its nodes, and o.DB must be 0),
// else one server. It does not connect: Ping does, as do the first write
// and read.
func Open(o Options) (*Store, error) {
	if !o.Cluster {
		return &Store{opts: o, b: &server{pool: NewPool(o)}}, nil
	}
	c, err := newCluster(o)
	if err != nil {
		return nil, err
	}
	return &Store{opts: o, b: c}, nil
}

// Ping checks, within 10 s, that the store answers (every master of a
// cluster), so that a wrong address fails fast with a clear error. The
// error names the address, never the password, with a hint when the
// server closed the connection (a TLS mismatch, or a missing client
// certificate).
func (s *Store) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	if err := s.b.ping(ctx); err != nil {
		what := "redis"
		if s.opts.Cluster {
			what = "redis cluster"
		}
		return fmt.Errorf("%s at %s: %w%s", what, s.opts.addr(), err, closedHint(err))
	}
	return nil
}

// NewWriter starts a writer into the store. It holds opts.Conns
// connections (per master, in a cluster) for its lifetime. Close it
// before the store.
func (s *Store) NewWriter(opts WriterOptions) *Writer {
	return startWriter(opts, s.b.batchWriter)
}

// NewReader returns a reader of the store.
func (s *Store) NewReader() *Reader { return &Reader{b: s.b} }

// Close closes the store's connection pools; close its writers first.
func (s *Store) Close() error { return s.b.close() }

// String describes the store without its password, as a URL.
func (s *Store) String() string { return s.opts.String() }

// closedHint returns advice, starting with "; ", for an error of a new
// connection that the server closed: a TLS server that wants a client
// certificate does so after the handshake (TLS 1.3), and a TLS-only port
// closes a plain connection.
func closedHint(err error) string {
	if errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || strings.Contains(err.Error(), "remote error: tls: ") {
		return "; the server closed the connection: over TLS it may require a client certificate (cert_file and key_file, or " +
			CertFileEnv + " and " + KeyFileEnv + "); without TLS, it may speak only TLS (tls: true, rediss://)"
	}
	return ""
}
