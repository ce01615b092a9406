package cmd

import (
	"context"
	"fmt"
	"time"

	"github.com/gomodule/redigo/redis"

	"github.com/feathrgo/feathr/config"
	"github.com/feathrgo/feathr/sink"
)

// storeOptions picks the Redis to talk to: --redis, else the file's
// online_store, else FEATHR_REDIS_URL, else localhost:6379.
func storeOptions(flagURL string, f *config.File, lookupEnv func(string) (string, bool)) (sink.Options, error) {
	if flagURL != "" {
		o, err := sink.ParseURL(flagURL)
		if err != nil {
			return o, usageErrorf("--redis: %v", err)
		}
		return o, nil
	}
	if f != nil {
		r := f.OnlineStore.Redis
		return sink.Options{Addr: r.Addr, Cluster: r.Cluster, Username: r.Username, Password: r.Password, TLS: r.TLS, DB: r.DB}, nil
	}
	if u, ok := lookupEnv("FEATHR_REDIS_URL"); ok && u != "" {
		o, err := sink.ParseURL(u)
		if err != nil {
			return o, fmt.Errorf("FEATHR_REDIS_URL: %w", err)
		}
		return o, nil
	}
	return sink.Options{Addr: "localhost:6379"}, nil
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
		return fmt.Errorf("redis at %s: %w", addr, err)
	}
	defer conn.Close()
	if _, err := redis.DoContext(conn, ctx, "PING"); err != nil {
		return fmt.Errorf("redis at %s: %w", addr, err)
	}
	return nil
}
