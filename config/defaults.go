package config

import "time"

// Defaults of the values a file may leave out.
const (
	DefaultFormat        = "avro"
	DefaultStart         = "latest"
	DefaultProtocol      = "PLAINTEXT"
	DefaultMechanism     = "PLAIN" // with SASL_PLAINTEXT and SASL_SSL
	DefaultGroupPrefix   = "feathr-"
	DefaultRedisAddr     = "localhost:6379"
	DefaultOrdering      = "event"
	DefaultOnError       = "skip"
	DefaultBatchSize     = 1000
	DefaultFlushInterval = 5 * time.Millisecond
)

// The allowed values of the enumerations, in the spelling the loader
// stores (it accepts them in any case).
var (
	formats    = []string{"avro", "confluent", "json"}
	starts     = []string{"latest", "earliest"}
	protocols  = []string{"PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"}
	mechanisms = []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"}
	orderings  = []string{"event", "arrival"}
	onErrors   = []string{"skip", "dead-letter", "stop"}
)
