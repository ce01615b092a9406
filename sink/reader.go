package sink

import (
	"context"
	"fmt"
	"sync"

	"github.com/gomodule/redigo/redis"
)

// readChunk is the number of keys read per round trip.
const readChunk = 500

// readConns is the most connections one Get reads over in parallel, each
// a pipeline of its share of the keys, so that decoding the replies of one
// overlaps with Redis answering the others; a Get of fewer than
// 2*readChunk keys uses one connection.
const readConns = 4

// Reader reads feature values, as Feathr's online client does. Make one
// with Store.NewReader; it is safe for concurrent use.
type Reader struct {
	b backend
}

// Get reads features of the entities keys (entity keys as Key builds them
// after the table, e.g. "42" or "a#b") from table. It returns, per key, the
// decoded values in the order of features (see DecodeValue), with nil for
// a missing key or field. Keys are read with pipelined HMGETs, 500 per
// round trip, over up to 4 connections in parallel; in a cluster, grouped
// by the master that owns each key's slot, over one connection per
// master, the masters in parallel, following MOVED and ASK redirections.
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
	if err := r.b.read(ctx, table, keys, features, out); err != nil {
		return nil, fmt.Errorf("sink: read: %w", err)
	}
	return out, nil
}

// read reads keys from the server: split into parts of whole chunks, over
// up to readConns connections concurrently.
func (sv *server) read(ctx context.Context, table string, keys, features []string, out [][]any) error {
	rows := newRows(len(keys), len(features))
	parts := min(readConns, len(keys)/readChunk)
	if parts <= 1 {
		return sv.readConn(ctx, table, keys, features, rows, out)
	}
	chunks := (len(keys) + readChunk - 1) / readChunk
	errs := make([]error, parts)
	var wg sync.WaitGroup
	for p := range parts {
		lo := p * chunks / parts * readChunk
		hi := min((p+1)*chunks/parts*readChunk, len(keys))
		wg.Go(func() {
			errs[p] = sv.readConn(ctx, table, keys[lo:hi], features, rows[lo*len(features):hi*len(features)], out[lo:hi])
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// newRows returns one backing array for the rows of n keys.
func newRows(n, features int) []any { return make([]any, n*features) }

// readConn reads keys over one connection with pipelined HMGETs,
// readChunk per round trip, into out, whose rows are slices of rows.
func (sv *server) readConn(ctx context.Context, table string, keys, features []string, rows []any, out [][]any) error {
	c, err := sv.pool.GetContext(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	args := hmgetArgs(features)
	var key []byte
	nf := len(features)
	for start := 0; start < len(keys); start += readChunk {
		chunk := keys[start:min(start+readChunk, len(keys))]
		for _, k := range chunk {
			key = append(AppendKeyStart(key[:0], table), k...)
			args[0] = key // Send copies it into the connection's buffer
			if err := c.Send("HMGET", args...); err != nil {
				return err
			}
		}
		// Do("") flushes the chunk and reads all its replies under one
		// read deadline, rather than one per reply.
		replies, err := redis.Values(redis.DoContext(c, ctx, ""))
		if err != nil {
			return err
		}
		if len(replies) != len(chunk) {
			return fmt.Errorf("%d replies for %d keys", len(replies), len(chunk))
		}
		for i, k := range chunk {
			j := start + i
			row := rows[j*nf : (j+1)*nf : (j+1)*nf]
			if err := decodeRow(replies[i], nil, table, k, features, row); err != nil {
				return err
			}
			out[j] = row
		}
	}
	return nil
}

// hmgetArgs returns the arguments of an HMGET of features, the key to be
// set in the first.
func hmgetArgs(features []string) []any {
	args := make([]any, 1+len(features))
	for i, f := range features {
		args[1+i] = f
	}
	return args
}

// read reads keys from a cluster: pipelined HMGETs per master,
// concurrently, following redirections.
func (c *cluster) read(ctx context.Context, table string, keys, features []string, out [][]any) error {
	var rt routing
	return c.rounds(&rt, len(keys), func(i int) string { return Key(table, keys[i]) },
		func(_ uint64, nodes []nodeKeys, again []int) ([]int, error) {
			redirected := make([][]int, len(nodes))
			errs := make([]error, len(nodes))
			eachNode(len(nodes), func(j int) {
				redirected[j], errs[j] = c.readNode(ctx, nodes[j], table, keys, features, rt.routes, out)
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

// readNode reads the keys of nk from its node with pipelined HMGETs and
// returns the keys whose replies were redirected, their new routes set in
// routes.
func (c *cluster) readNode(ctx context.Context, nk nodeKeys, table string, keys, features []string, routes []route, out [][]any) ([]int, error) {
	conn, err := c.get(ctx, nk.addr)
	if err != nil {
		return nil, fmt.Errorf("redis cluster node %s: %w", nk.addr, err)
	}
	defer conn.Close()
	args := hmgetArgs(features)
	var redirected []int
	for start := 0; start < len(nk.idx); start += readChunk {
		chunk := nk.idx[start:min(start+readChunk, len(nk.idx))]
		for _, i := range chunk {
			if routes[i].asking {
				if err := conn.Send("ASKING"); err != nil {
					return nil, fmt.Errorf("redis cluster node %s: %w", nk.addr, err)
				}
			}
			args[0] = Key(table, keys[i])
			if err := conn.Send("HMGET", args...); err != nil {
				return nil, fmt.Errorf("redis cluster node %s: %w", nk.addr, err)
			}
		}
		if err := conn.Flush(); err != nil {
			return nil, fmt.Errorf("redis cluster node %s: %w", nk.addr, err)
		}
		rs := replies{c: conn, ctx: ctx}
		for _, i := range chunk {
			if routes[i].asking {
				if err := rs.asking(); err != nil {
					return nil, fmt.Errorf("redis cluster node %s: %w", nk.addr, err)
				}
			}
			reply, err := rs.next()
			if to, ok := c.redirect(err); ok {
				routes[i] = to
				redirected = append(redirected, i)
				continue
			}
			row := make([]any, len(features))
			if err := decodeRow(reply, err, table, keys[i], features, row); err != nil {
				return nil, err
			}
			out[i] = row
		}
	}
	return redirected, nil
}

// decodeRow decodes the HMGET reply of key k into row, which has one
// element per feature.
func decodeRow(reply any, err error, table, k string, features []string, row []any) error {
	vals, ok := reply.([]any)
	if err != nil || !ok {
		_, err = redis.ByteSlices(reply, err) // the error of a non-array reply
		if err == nil {
			err = fmt.Errorf("unexpected reply %T", reply)
		}
		return fmt.Errorf("%s: %w", Key(table, k), hintCluster(err))
	}
	if len(vals) != len(features) {
		return fmt.Errorf("%s: %d values for %d features", Key(table, k), len(vals), len(features))
	}
	for j, v := range vals {
		switch v := v.(type) {
		case nil:
		case []byte:
			if row[j], err = DecodeValue(v); err != nil {
				return fmt.Errorf("%s field %s: %w", Key(table, k), features[j], err)
			}
		default:
			_, err = redis.ByteSlices(vals, nil) // the error of a non-bulk element
			return fmt.Errorf("%s: %w", Key(table, k), err)
		}
	}
	return nil
}
