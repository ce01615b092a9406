package sink

import (
	"context"
	"fmt"
	"strings"

	"github.com/gomodule/redigo/redis"
)

// NullKeyPart stands for a null key part in a Redis key, as in Feathr.
const NullKeyPart = "_null_"

// Key returns the Redis key of an entity in a table, Feathr's layout:
// "<table>:<k1>#<k2>...". Callers pass NullKeyPart for a null part.
func Key(table string, parts ...string) string {
	n := len(table) + 1 + max(len(parts)-1, 0)
	for _, p := range parts {
		n += len(p)
	}
	var b strings.Builder
	b.Grow(n)
	b.WriteString(table)
	b.WriteByte(':')
	for i, p := range parts {
		if i > 0 {
			b.WriteByte('#')
		}
		b.WriteString(p)
	}
	return b.String()
}

// readChunk is the number of keys read per round trip.
const readChunk = 500

// Reader reads feature values, as Feathr's online client does.
type Reader struct {
	pool    *redis.Pool
	cluster *Cluster
}

// NewReader returns a reader that takes connections from pool.
func NewReader(pool *redis.Pool) *Reader { return &Reader{pool: pool} }

// NewClusterReader returns a reader of a Redis Cluster: it groups the keys
// of a Get by the master that owns each key's slot and reads each group
// with pipelined HMGETs, the masters concurrently, following MOVED and ASK
// redirections.
func NewClusterReader(c *Cluster) *Reader { return &Reader{cluster: c} }

// Get reads features of the entities keys (entity keys as Key builds them
// after the table, e.g. "42" or "a#b") from table. It returns, per key, the
// decoded values in the order of features (see DecodeValue), with nil for
// a missing key or field. Keys are read with pipelined HMGETs, 500 per
// round trip (per master, in a cluster).
func (r *Reader) Get(ctx context.Context, table string, keys []string, features []string) ([][]any, error) {
	out := make([][]any, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	if len(features) == 0 {
		for i := range out {
			out[i] = []any{}
		}
		return out, nil
	}
	if r.cluster != nil {
		if err := r.getCluster(ctx, table, keys, features, out); err != nil {
			return nil, err
		}
		return out, nil
	}
	c, err := r.pool.GetContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("sink: read: %w", err)
	}
	defer c.Close()
	args := make([]any, 1+len(features))
	for i, f := range features {
		args[1+i] = f
	}
	for start := 0; start < len(keys); start += readChunk {
		chunk := keys[start:min(start+readChunk, len(keys))]
		for _, k := range chunk {
			args[0] = Key(table, k)
			if err := c.Send("HMGET", args...); err != nil {
				return nil, fmt.Errorf("sink: read: %w", err)
			}
		}
		if err := c.Flush(); err != nil {
			return nil, fmt.Errorf("sink: read: %w", err)
		}
		for i, k := range chunk {
			var reply any
			if i == 0 {
				reply, err = redis.ReceiveContext(c, ctx) // the one that waits
			} else {
				reply, err = c.Receive()
			}
			row, err := decodeRow(reply, err, table, k, features)
			if err != nil {
				return nil, err
			}
			out[start+i] = row
		}
	}
	return out, nil
}

// decodeRow decodes the HMGET reply of key k.
func decodeRow(reply any, err error, table, k string, features []string) ([]any, error) {
	vals, err := redis.ByteSlices(reply, err)
	if err != nil {
		return nil, fmt.Errorf("sink: read %s: %w", Key(table, k), hintCluster(err))
	}
	if len(vals) != len(features) {
		return nil, fmt.Errorf("sink: read %s: %d values for %d features", Key(table, k), len(vals), len(features))
	}
	row := make([]any, len(features))
	for j, v := range vals {
		if v == nil {
			continue
		}
		if row[j], err = DecodeValue(v); err != nil {
			return nil, fmt.Errorf("sink: read %s field %s: %w", Key(table, k), features[j], err)
		}
	}
	return row, nil
}
