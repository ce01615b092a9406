package sink

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/gomodule/redigo/redis"
)

// GetAt reads features of the entities keys from table t as Get does,
// but computes the aggregated features among them (t.Aggregations) at
// time T (unix ms) from their state: the value of the window ending at T,
// whether or not the stored field was refreshed since. The other
// features are read as Get reads them, their stored fields. The state is
// read with pipelined commands (an HMGET of the tiles, a PFCOUNT per
// COUNT_DISTINCT feature), 500 keys per round trip; in a cluster, per
// master, concurrently, following redirections.
func (r *Reader) GetAt(ctx context.Context, t *Table, keys, features []string, T int64) ([][]any, error) {
	var aggIdx, rowIdx []int // positions in features
	var rowFeatures []string
	for i, f := range features {
		if t.agg != nil && slices.ContainsFunc(t.agg.features, func(a AggFeature) bool { return a.Name == f }) {
			aggIdx = append(aggIdx, i)
		} else {
			rowIdx = append(rowIdx, i)
			rowFeatures = append(rowFeatures, f)
		}
	}
	if len(aggIdx) == 0 {
		return r.Get(ctx, t.Name, keys, features)
	}
	out := make([][]any, len(keys))
	rows := newRows(len(keys), len(features))
	for i := range out {
		out[i] = rows[i*len(features) : (i+1)*len(features) : (i+1)*len(features)]
	}
	if len(rowFeatures) > 0 {
		vals, err := r.Get(ctx, t.Name, keys, rowFeatures)
		if err != nil {
			return nil, err
		}
		for i, row := range vals {
			for j, k := range rowIdx {
				out[i][k] = row[j]
			}
		}
	}
	aggs := make([][]any, len(keys))
	var err error
	switch b := r.b.(type) {
	case *server:
		err = b.readAggs(ctx, t, keys, T, aggs)
	case *cluster:
		err = b.readAggs(ctx, t, keys, T, aggs)
	default:
		err = fmt.Errorf("store %T cannot read aggregations", r.b)
	}
	if err != nil {
		return nil, fmt.Errorf("sink: read aggregations: %w", err)
	}
	for i, row := range aggs {
		for _, k := range aggIdx {
			j := slices.IndexFunc(t.agg.features, func(a AggFeature) bool { return a.Name == features[k] })
			out[i][k] = row[j]
		}
	}
	return out, nil
}

// readAggs reads the aggregated features of keys at T into out, one row
// per key, over one connection, readChunk keys per round trip.
func (sv *server) readAggs(ctx context.Context, t *Table, keys []string, T int64, out [][]any) error {
	c, err := sv.pool.GetContext(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	am := t.agg
	for start := 0; start < len(keys); start += readChunk {
		chunk := keys[start:min(start+readChunk, len(keys))]
		for _, k := range chunk {
			if err := am.sendRead(c, Key(t.Name, k), T); err != nil {
				return err
			}
		}
		if err := c.Flush(); err != nil {
			return err
		}
		for i, k := range chunk {
			row := make([]any, len(am.features))
			if err := am.receiveRead(c, T, row); err != nil {
				return fmt.Errorf("%s: %w", Key(t.Name, k), hintCluster(err))
			}
			out[start+i] = row
		}
	}
	return nil
}

// readAggs reads the aggregated features of keys at T from a cluster:
// each key's state is in its slot, read with pipelined commands per
// master, concurrently, following redirections (a key whose state is
// being migrated, TRYAGAIN, is read again).
func (c *cluster) readAggs(ctx context.Context, t *Table, keys []string, T int64, out [][]any) error {
	var rt routing
	return c.rounds(&rt, len(keys), func(i int) string { return Key(t.Name, keys[i]) },
		func(_ uint64, nodes []nodeKeys, again []int) ([]int, error) {
			redirected := make([][]int, len(nodes))
			errs := make([]error, len(nodes))
			eachNode(len(nodes), func(j int) {
				redirected[j], errs[j] = c.readAggsNode(ctx, nodes[j], t, keys, T, rt.routes, out)
			})
			for j := range nodes {
				if errs[j] != nil {
					return again, errs[j]
				}
				again = append(again, redirected[j]...)
			}
			return again, nil
		})
}

// readAggsNode reads the aggregations of the keys of nk from its node and
// returns the keys to read again, their routes set.
func (c *cluster) readAggsNode(ctx context.Context, nk nodeKeys, t *Table, keys []string, T int64, routes []route, out [][]any) ([]int, error) {
	conn, err := c.get(ctx, nk.addr)
	if err != nil {
		return nil, fmt.Errorf("redis cluster node %s: %w", nk.addr, err)
	}
	defer conn.Close()
	am := t.agg
	on := func(i int) redis.Conn {
		if routes[i].asking {
			return askingConn{conn}
		}
		return conn
	}
	var again []int
	for start := 0; start < len(nk.idx); start += readChunk {
		chunk := nk.idx[start:min(start+readChunk, len(nk.idx))]
		for _, i := range chunk {
			if err := am.sendRead(on(i), Key(t.Name, keys[i]), T); err != nil {
				return nil, fmt.Errorf("redis cluster node %s: %w", nk.addr, err)
			}
		}
		if err := conn.Flush(); err != nil {
			return nil, fmt.Errorf("redis cluster node %s: %w", nk.addr, err)
		}
		for _, i := range chunk {
			row := make([]any, len(am.features))
			err := am.receiveRead(on(i), T, row)
			if to, ok := c.redirect(err); ok {
				routes[i] = to
				again = append(again, i)
				continue
			}
			if isReply(err, "TRYAGAIN") {
				// Some of the key's HyperLogLogs moved, some not yet.
				time.Sleep(10 * time.Millisecond)
				routes[i] = route{}
				again = append(again, i)
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("redis cluster node %s: %s: %w", nk.addr, Key(t.Name, keys[i]), err)
			}
			out[i] = row
		}
	}
	return again, nil
}

// askingConn sends ASKING before each command and skips its reply: the
// commands of a key whose slot is being migrated, after an ASK
// redirection.
type askingConn struct{ redis.Conn }

// Send sends ASKING, then the command.
func (a askingConn) Send(cmd string, args ...any) error {
	if err := a.Conn.Send("ASKING"); err != nil {
		return err
	}
	return a.Conn.Send(cmd, args...)
}

// Receive skips ASKING's reply and returns the command's.
func (a askingConn) Receive() (any, error) {
	if _, err := a.Conn.Receive(); err != nil {
		return nil, err
	}
	return a.Conn.Receive()
}
