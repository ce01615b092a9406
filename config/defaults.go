package config

import "time"

// Defaults of the values a file may leave out.
const (
	DefaultFormat        = FormatAvro
	DefaultStart         = StartLatest
	DefaultIsolation     = ReadCommitted
	DefaultMaxFutureSkew = time.Hour
	DefaultMaxRecord     = 1 << 20 // bytes
	DefaultProtocol      = ProtocolPlaintext
	DefaultMechanism     = MechanismPlain // with SASL_PLAINTEXT and SASL_SSL
	DefaultGroupPrefix   = "feathr-"
	DefaultRedisAddr     = "localhost:6379"
	DefaultOrdering      = OrderEvent
	DefaultOnError       = Skip
	DefaultBatchSize     = 1000
	DefaultFlushInterval = 5 * time.Millisecond
)
