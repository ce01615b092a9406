// Package config is the model of a feathr YAML file: sources, keys, anchors
// of features, the online store and materializations. It loads and checks a
// file without touching the network or compiling transforms, and keeps the
// position of every value so that later stages can point into the file.
//
// Load and Parse read a file (see features.example.yaml at the root of the
// repository) and report every problem at once, as Errors sorted by
// position. Named things (sources, keys, anchors, features,
// materializations) are mappings keyed by name. Every scalar value, never
// a key, is expanded: ${VAR} is the environment variable VAR (an error if
// it is not set), ${VAR:-default} falls back to default when VAR is unset
// or empty, $$ is a literal $, and any other $ is kept, so
// "$ConnectionString" stays as written. Messages never quote a password.
//
// Later stages report their own problems with Errorf, at positions such
// as Feature.TransformAt and Source.SchemaAt give for a place inside an
// expression or a schema.
//
// A feature's transform is an expression or, as a mapping, a
// sliding-window aggregation (Aggregation), parsed with package window.
//
// config imports only feature (the declared types), window (the
// aggregations' syntax and rules) and internal/nearest (the "did you
// mean" hints) of feathr's packages, besides the YAML parser. It never
// imports a stage that runs: plan, pipeline, sink, sandbox, cmd and bench
// import it, and decode and transform know nothing of it.
package config

import (
	"time"

	"github.com/feathrgo/feathr/feature"
)

// Pos is a position in the YAML file, 1-based.
type Pos struct {
	Line   int
	Column int
}

// File is one loaded feathr YAML file. Named things are kept in the order
// they appear in the file.
type File struct {
	Path             string
	Sources          []*Source
	Keys             []*Key
	Anchors          []*Anchor
	OnlineStore      OnlineStore
	Materializations []*Materialization
}

// Source is a Kafka topic set and the format of its messages.
type Source struct {
	Name   string
	Pos    Pos
	Kafka  Kafka
	Format Format
	// FormatPos is where the format is given, or Pos if it is not.
	FormatPos Pos
	// Schema is the Avro schema JSON; SchemaPos is where its text starts.
	Schema    string
	SchemaPos Pos
	// Timestamp names the event-time field; empty means the Kafka record timestamp.
	Timestamp    string
	TimestampPos Pos
	Registry     *Registry // for FormatConfluent
	// MaxFutureSkew bounds how far an event time may be ahead of the
	// clock: a later one is a bad record (default 1h).
	MaxFutureSkew time.Duration
	// MaxRecordBytes is the largest message value processed (default
	// 1 MiB): a larger one is a bad record. The dead-letter producer
	// accepts records of any size the consumer fetched.
	MaxRecordBytes int

	schemaLoc *locator // maps the schema text into the file
}

// Kafka holds how to reach and consume a source's topics.
type Kafka struct {
	Brokers []string
	Topics  []string
	Group   string // consumer group; defaults to "feathr-<source name>"
	Start   Start
	// Isolation is which records of transactions are read (default
	// read_committed: never those of aborted transactions).
	Isolation Isolation
	Security  Security
	Pos       Pos
}

// Security holds a Kafka connection's protocol and credentials.
type Security struct {
	Protocol  Protocol
	Mechanism Mechanism // with SASL only
	Username  string
	Password  string // after ${VAR} expansion, or read from PasswordFile; never print it
	// PasswordFile is the file the password was read from, if any.
	PasswordFile string
	// CAFile holds the PEM certificates that verify the brokers (default:
	// the system's roots); CertFile and KeyFile are the client's PEM
	// certificate and key for mutual TLS. The loader checks that each
	// holds PEM data of the right kind.
	CAFile   string
	CertFile string
	KeyFile  string
	// InsecureSkipVerify turns off server certificate checks (tests only).
	InsecureSkipVerify bool
	Pos                Pos // of the security key; zero if absent
}

// Registry is a Confluent schema registry.
type Registry struct {
	URL      string
	Username string
	Password string // never print it
	Pos      Pos    // of the registry key
}

// Key is an entity key: the column of the source that holds it and its type.
type Key struct {
	Name        string
	Pos         Pos
	Column      string
	ColumnPos   Pos
	Type        feature.KeyType // zero when not valid (reported)
	TypePos     Pos
	FullName    string
	Description string
}

// Anchor is a group of features computed from one source under one key.
type Anchor struct {
	Name      string
	Pos       Pos
	Source    string
	SourcePos Pos
	Key       []string // names of Keys, in order: a composite key
	KeyPos    Pos
	// KeyEntryPos is the position of each entry of Key.
	KeyEntryPos []Pos
	Features    []*Feature
}

// Feature is one feature of an anchor.
type Feature struct {
	Name    string
	Pos     Pos
	Type    feature.Type // zero when not valid (reported)
	TypePos Pos
	// Transform is the expression; empty means the field of the same name.
	Transform    string
	TransformPos Pos // where the expression's text starts, or the aggregation's mapping
	// Agg is the sliding-window aggregation when the transform is a
	// mapping (Feathr's WindowAggTransformation); nil for a row-level
	// feature. Transform is then empty.
	Agg    *Aggregation
	Anchor *Anchor

	transformLoc *locator // maps the transform text into the file
}

// OnlineStore is where features are written.
type OnlineStore struct {
	Redis Redis
}

// Redis is a Redis server or a Redis Cluster.
type Redis struct {
	// Addr is host:port; default localhost:6379. With Cluster it is one or
	// more nodes of the cluster, comma-separated (from addrs).
	Addr     string
	Cluster  bool   // a Redis Cluster: cluster: true, or addrs
	Username string // ACL user; empty: the default user
	Password string // after ${VAR} expansion, or read from PasswordFile; never print it
	TLS      bool
	DB       int
	Pos      Pos

	// PasswordFile is the file the password was read from, if any.
	PasswordFile string
	// CAFile, CertFile and KeyFile are PEM files for TLS (see Security):
	// the CA that verifies the server, and a client certificate and key.
	CAFile, CertFile, KeyFile string
}

// Materialization streams a set of features into a Redis table.
type Materialization struct {
	Name        string
	Pos         Pos
	Sink        RedisSink
	Features    []string
	FeaturesPos Pos
	FeaturePos  []Pos         // position of each entry of Features
	Timeout     time.Duration // 0: run until stopped
	OnError     OnError
	DeadLetter  string // topic for DeadLetter
}

// RedisSink is the Redis table a materialization writes.
type RedisSink struct {
	Table    string
	TTL      time.Duration // 0: no expiry
	Ordering Ordering
	// BatchSize bounds how many updates go in one pipelined write (default 1000);
	// FlushInterval bounds how long an update waits for its batch (default 5ms).
	BatchSize     int
	FlushInterval time.Duration
}
