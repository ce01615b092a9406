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
// A table may have sliding-window aggregations (package window; NewTable
// takes them as AggFeature). An update's AggEvent is applied exactly once
// by the aggregation script: per entity key K, a state hash in K's slot
// (statekey.go) keeps the tiles and, per topic and partition, the last
// offset applied, so that a replayed event is skipped; the script writes
// K's field as a FeatureValue of the declared type and keeps a refresh
// index of the keys whose values change at a known time. A batch sends a
// key's events, in order, in one call, and a shard has at most one batch
// with aggregate writes in flight. Reader.GetAt computes aggregations at
// a read time from their state; a Refresher rewrites the stored values of
// due keys.
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
//   - script.go: the event-time Lua script (its Lua in eventtime.lua,
//     embedded), and the building of every write command (EVALSHA, HSET,
//     PEXPIRE) with arguments boxed once.
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
//   - table.go: NewTable, with a materialization's aggregated features.
//   - aggscript.go: the aggregation script (its Lua in agg_struct.lua,
//     agg_state.lua and agg_apply.lua, embedded), AggFeature, AggEvent,
//     AggResult and the building of its arguments; aggread.go: reading a
//     key's state at a time T.
//   - statekey.go: the keys of aggregations: the state hash, its
//     HyperLogLogs, the refresh index (per slot in a cluster).
//   - aggbatch.go: a batch's aggregate writes, grouped by key, sent to a
//     server, and the turn of the one batch with aggregate writes in
//     flight; clusteragg.go: the same into a cluster.
//   - aggreader.go: Reader.GetAt, on a server and on a cluster.
//   - refresher.go: the Refresher.
//
// In the tests, helpers_test.go holds env (a private redis-server and a
// Store of it) and the helpers the writer's tests share; the writer's
// tests are writer_test.go (batches, coalescing, ordering),
// writer_queue_test.go (backpressure, revoked updates, the byte bound),
// writer_faults_test.go (Redis down, fatal and script errors, dropped
// connections) and writer_bench_test.go; on a cluster (clusterEnv, a
// private 3-master Redis Cluster), cluster_test.go,
// cluster_migration_test.go (ASK, resharding mid-stream) and
// cluster_faults_test.go (a node down, AUTH, dropped connections).
//
// sink imports config (for the file's online_store), window (the
// aggregations) and internal/tlsconf, besides feature and featurepb; it
// never imports pipeline, plan or cmd.
package sink
