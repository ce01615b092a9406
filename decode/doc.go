// Package decode turns Kafka message values into records.
//
// Three formats are supported: plain Avro binary with a fixed schema
// (Feathr's format, see NewAvro), Confluent-framed Avro whose writer schema
// is fetched from a schema registry (NewConfluent), and one JSON object per
// message, optionally checked against an Avro schema (NewJSON).
//
// Every decoder produces a record.Record whose values follow the
// representation documented in package record: Avro int and long become
// int64, float and double become float64, a ["null", T] union becomes T's
// value or nil, nested records and maps become map[string]any, and the
// timestamp and date logical types become time.Time in UTC.
//
// The Avro binary decoder is compiled from the schema by this package
// rather than delegated to goavro's NativeFromBinary: goavro preallocates
// arrays from an attacker-controlled block count (up to 2^31 elements),
// cannot bound the recursion of recursive schemas, aliases the input
// buffer for bytes values, and wraps union values in maps that would need
// a second normalising pass. goavro still validates every schema (so this
// package accepts no schema goavro rejects) and serves as the reference
// encoder in the tests.
//
// Decoders are safe for concurrent use.
//
// decode imports only record of feathr's packages, besides goavro; it
// knows nothing of Kafka, of the config file or of the store. plan builds
// the decoders and pipeline runs them.
package decode
