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
		return sink.Options{Addr: r.Addr, Username: r.Username, Password: r.Password, TLS: r.TLS, DB: r.DB}, nil
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
