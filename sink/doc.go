// Package sink is feathr's online store: Redis, in the layout Feathr
// writes and reads.
//
// A feature table is a set of Redis hashes, one per entity, keyed
// "<table>:<k1>#<k2>..." (see Key). Each hash field is a feature name and
// holds the standard padded base64 of a serialized FeatureValue protobuf
// (see AppendValue, DecodeValue and package featurepb).
//
// Writer batches updates by count and by time, coalesces the updates of a
// key within a batch, and writes each batch in one pipelined round trip.
// With EventTime ordering the keys are written by a Lua script (EVALSHA,
// up to 32 keys per call) that keeps the newest event: it compares each
// write's event time with a hidden hash field (see TimeField) and writes
// only when the stored time is not newer. Reader reads values back with
// pipelined HMGETs.
//
// On a Redis Cluster, NewClusterWriter and NewClusterReader do the same
// with one pipeline per master, following MOVED and ASK redirections (see
// Cluster); there each script call writes one key, as the keys of a call
// must share a hash slot.
package sink
