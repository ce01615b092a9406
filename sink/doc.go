// Package sink is feathr's online store: Redis, in the layout Feathr
// writes and reads.
//
// A feature table is a set of Redis hashes, one per entity, keyed
// "<table>:<k1>#<k2>..." (see Key). Each hash field is a feature name and
// holds the standard padded base64 of a serialized FeatureValue protobuf
// (see AppendValue, DecodeValue and package featurepb).
//
// Open returns a Store, one Redis server or a Redis Cluster as its
// Options say. Its Writer batches updates by count and by time,
// coalesces the updates of a key within a batch, and writes each batch in
// one pipelined round trip. With event-time ordering the keys are written
// by a Lua script (EVALSHA, up to 32 keys per call) that keeps the newest
// event of each feature: it compares each field's event time with the
// time stored for that feature, kept in hidden hash fields (see HiddenTimeField
// and OlderTimesField), and writes it only when the stored time is absent
// or not newer. Its Reader reads values back with pipelined HMGETs. On a
// Redis Cluster both send one pipeline per master, following MOVED and
// ASK redirections; there each script call writes one key, as the keys of
// a call must share a hash slot.
//
// The writer acknowledges an update only once Redis wrote it (Acker). An
// update whose Acker is a Revoker that reports its owner gave it up is
// dropped instead, unacknowledged, wherever it waits: queued, collected,
// or in a batch that failed and is retried; only commands already sent
// may still run.
//
// The files, by concern:
//
//   - options.go: Options, ParseURL and NewPool; options from a feature
//     file's online_store and TLS files from the environment.
//   - store.go: Store and Open, which picks a server or a cluster (the
//     backend interface), and Ping.
//   - writer.go: the Writer API (Submit, Flush, Close, Stats), its
//     options, the Table and Update it writes, and Acker and Revoker.
//   - bound.go: the bound on the bytes of the updates a writer holds
//     (WriterOptions.MaxQueueBytes).
//   - shard.go: a shard's sender and receiver loops, their hand-over
//     (the batchWriter interface), retries and the rate-limited log of
//     failures.
//   - batch.go: what a shard collects: batches, coalesced writes, the
//     commands sent for them.
//   - script.go: the event-time Lua script, and the building of every
//     write command (EVALSHA, HSET, PEXPIRE) with arguments boxed once.
//   - server.go: a single server, and a shard's pipelined writer into it.
//   - conn.go: a shard's connection to a server (dialing, loading the
//     script, CLIENT ID, run_id and CLIENT KILL of dropped connections of
//     the same server instance, for one server and each master of a
//     cluster), reading a pipeline's replies, error classes and backoff.
//   - topology.go: a Redis Cluster's slot map and pools, redirections,
//     and the rounds that send keys to their masters.
//   - clusterwriter.go: a shard's writer into a cluster, one pipeline
//     per master.
//   - reader.go: the Reader, for a server and for a cluster.
//   - key.go and value.go: the key layout and the FeatureValue codec.
//
// sink imports config (for the file's online_store) and internal/tlsconf,
// besides feature and featurepb; it never imports pipeline, plan or cmd.
package sink
