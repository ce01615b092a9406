package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"syscall"
	"time"

	"github.com/gomodule/redigo/redis"

	"github.com/feathrgo/feathr/config"
	"github.com/feathrgo/feathr/internal/tlsconf"
	"github.com/feathrgo/feathr/sink"
)

// Environment variables naming the PEM files of a TLS connection to Redis
// given as a rediss:// URL (--redis or FEATHR_REDIS_URL); a file's
// online_store has ca_file, cert_file and key_file instead.
const (
	redisCAFileEnv   = "FEATHR_REDIS_CA_FILE"
	redisCertFileEnv = "FEATHR_REDIS_CERT_FILE"
	redisKeyFileEnv  = "FEATHR_REDIS_KEY_FILE"
)

// storeOptions picks the Redis to talk to: --redis, else the file's
// online_store, else FEATHR_REDIS_URL, else localhost:6379.
func storeOptions(flagURL string, f *config.File, lookupEnv func(string) (string, bool)) (sink.Options, error) {
	if flagURL != "" {
		o, err := sink.ParseURL(flagURL)
		if err != nil {
			return o, usageErrorf("--redis: %v", err)
		}
		return withEnvTLS(o, lookupEnv)
	}
	if f != nil {
		r := f.OnlineStore.Redis
		o := sink.Options{Addr: r.Addr, Cluster: r.Cluster, Username: r.Username, Password: r.Password, TLS: r.TLS, DB: r.DB}
		if r.TLS && (r.CAFile != "" || r.CertFile != "") {
			tc, err := tlsconf.Client(tlsconf.Files{CAFile: r.CAFile, CertFile: r.CertFile, KeyFile: r.KeyFile})
			if err != nil {
				return o, fmt.Errorf("online_store.redis: %w", err)
			}
			o.TLSConfig = tc
		}
		return o, nil
	}
	if u, ok := lookupEnv("FEATHR_REDIS_URL"); ok && u != "" {
		o, err := sink.ParseURL(u)
		if err != nil {
			return o, fmt.Errorf("FEATHR_REDIS_URL: %w", err)
		}
		return withEnvTLS(o, lookupEnv)
	}
	return sink.Options{Addr: "localhost:6379"}, nil
}

// withEnvTLS adds the TLS files named by FEATHR_REDIS_CA_FILE,
// FEATHR_REDIS_CERT_FILE and FEATHR_REDIS_KEY_FILE to the options of a
// rediss:// URL.
func withEnvTLS(o sink.Options, lookupEnv func(string) (string, bool)) (sink.Options, error) {
	get := func(k string) string { v, _ := lookupEnv(k); return v }
	files := tlsconf.Files{CAFile: get(redisCAFileEnv), CertFile: get(redisCertFileEnv), KeyFile: get(redisKeyFileEnv)}
	if files == (tlsconf.Files{}) {
		return o, nil
	}
	if !o.TLS {
		return o, fmt.Errorf("%s, %s or %s is set, but the Redis URL is not rediss:// (TLS)", redisCAFileEnv, redisCertFileEnv, redisKeyFileEnv)
	}
	if (files.CertFile == "") != (files.KeyFile == "") {
		return o, fmt.Errorf("%s and %s: a client certificate needs both", redisCertFileEnv, redisKeyFileEnv)
	}
	tc, err := tlsconf.Client(files)
	if err != nil {
		return o, fmt.Errorf("redis TLS: %w", err)
	}
	o.TLSConfig = tc
	return o, nil
}

// store is the online store: one Redis server's pool, or a Redis Cluster.
type store struct {
	pool    *redis.Pool
	cluster *sink.Cluster
}

// openStore returns the store that o describes; it does not connect.
func openStore(o sink.Options) (*store, error) {
	if !o.Cluster {
		return &store{pool: sink.NewPool(o)}, nil
	}
	c, err := sink.NewCluster(o)
	if err != nil {
		return nil, err
	}
	return &store{cluster: c}, nil
}

// ping checks that the store answers (every master of a cluster), within a
// bounded time, so that a wrong address fails fast with a clear error.
func (s *store) ping(ctx context.Context, addr string) error {
	if s.cluster == nil {
		return pingRedis(ctx, s.pool, addr)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := s.cluster.Ping(ctx); err != nil {
		return fmt.Errorf("redis cluster at %s: %w", addr, err)
	}
	return nil
}

func (s *store) writer(o sink.WriterOptions) *sink.Writer {
	if s.cluster != nil {
		return sink.NewClusterWriter(s.cluster, o)
	}
	return sink.NewWriter(s.pool, o)
}

func (s *store) reader() *sink.Reader {
	if s.cluster != nil {
		return sink.NewClusterReader(s.cluster)
	}
	return sink.NewReader(s.pool)
}

// Close closes the pools; call it after the writers are closed.
func (s *store) Close() error {
	if s.cluster != nil {
		return s.cluster.Close()
	}
	return s.pool.Close()
}

// pingRedis checks that the store answers, within a bounded time, so that a
// wrong address fails fast with a clear error.
func pingRedis(ctx context.Context, pool *redis.Pool, addr string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := pool.GetContext(ctx)
	if err != nil {
		return fmt.Errorf("redis at %s: %w%s", addr, err, redisHint(err))
	}
	defer conn.Close()
	if _, err := redis.DoContext(conn, ctx, "PING"); err != nil {
		return fmt.Errorf("redis at %s: %w%s", addr, err, redisHint(err))
	}
	return nil
}

// redisHint returns advice, starting with "; ", for an error of a new
// connection that the server closed: a TLS server that wants a client
// certificate does so after the handshake (TLS 1.3), and a TLS-only port
// closes a plain connection.
func redisHint(err error) string {
	if errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || strings.Contains(err.Error(), "remote error: tls: ") {
		return "; the server closed the connection: over TLS it may require a client certificate (cert_file and key_file, or " +
			redisCertFileEnv + " and " + redisKeyFileEnv + "); without TLS, it may speak only TLS (tls: true, rediss://)"
	}
	return ""
}
