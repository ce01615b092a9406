package cmd

import (
	"fmt"

	"github.com/feathrgo/feathr/config"
	"github.com/feathrgo/feathr/sink"
)

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
