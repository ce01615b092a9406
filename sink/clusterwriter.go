package sink

import (
	"errors"
	"fmt"
	"time"

	"github.com/gomodule/redigo/redis"
)

// clusterWriter is a shard's batchWriter into a Redis Cluster: it writes
// each batch whole, one pipeline per master, concurrently, with a
// connection per master kept across batches. Its sender only collects:
// the receiver writes each batch, in order, while the next ones collect.
type clusterWriter struct {
	w      *Writer
	c      *cluster
	nodes  map[string]*nodeWriter
	rt     routing
	active []*nodeWriter // the nodes of the current round
	aggs   clusterAggs   // the aggregate writes' (clusteragg.go)
}

// nodeWriter is a shard's connection to one node and the writes of the
// current round that go to it. Before its first command, a new connection
// ends the connections dropped before on the same server instance, as a
// single server's does (see droppedConns). The nodes of a round are written
// concurrently, each with its own cmdBuilder.
type nodeWriter struct {
	addr    string
	conn    redis.Conn
	dropped droppedConns // of this node, to end on its next connection
	loaded  bool         // the script is loaded on conn
	writes  []int        // the round's writes for this node
	cmds    cmdBuilder
	res     []writeResult
	err     error // the pipeline failed (connection error)
}

// writeResult is the outcome of one write in a round.
type writeResult struct {
	redirect route // set: send again there
	noScript bool  // NOSCRIPT: load the script and send again
	err      error // an error reply
	stale    bool  // the script wrote nothing: the key held a newer event
}

func newClusterWriter(w *Writer, c *cluster) *clusterWriter {
	return &clusterWriter{w: w, c: c, nodes: make(map[string]*nodeWriter)}
}

// send sends nothing: receive writes the batch.
func (cw *clusterWriter) send(*batch) {}

// receive writes b whole (see exec), without the updates revoked since it
// was collected (see Revoker).
func (cw *clusterWriter) receive(b *batch) (outcome, error) {
	if cw.w.prune(b); !b.hasWrites() {
		return outcome{}, nil
	}
	return cw.exec(b)
}

// drop returns the shard's connections to their pools, keeping the IDs
// of broken ones to end (see droppedConns).
func (cw *clusterWriter) drop(*batch) {
	for _, n := range cw.nodes {
		n.drop()
	}
}

// drop drops n's connection, if any.
func (n *nodeWriter) drop() {
	if n.conn != nil {
		n.dropped.drop(n.conn)
		n.conn = nil
	}
}

// exec writes b to the cluster: it groups the writes by master, sends
// one pipeline per master concurrently, and sends redirected writes again
// (refreshing the slot map after MOVED) until every write succeeded. An
// error leaves the batch to be written again whole: its writes are
// idempotent.
//
// Each event-time write is a call of the script of its own, with one key:
// the keys of one call must share a hash slot, and keys of a batch rarely
// do; a call with several keys of a slot being migrated would also be
// refused (TRYAGAIN) while some of them are on each side.
func (cw *clusterWriter) exec(b *batch) (outcome, error) {
	start := time.Now()
	writes := b.writes
	var o outcome
	err := cw.c.rounds(&cw.rt, len(writes), func(i int) string { return writes[i].key },
		func(seen uint64, nodes []nodeKeys, again []int) ([]int, error) {
			return cw.round(seen, nodes, writes, again, &o)
		})
	if err == nil {
		err = cw.execAggs(b, &o)
	}
	if err != nil {
		return outcome{}, err
	}
	o.roundTrip = time.Since(start)
	return o, nil
}

// round writes one round's writes, one pipeline per node, concurrently,
// adds what they did to o, and appends to again the writes to send again
// (a roundFunc).
func (cw *clusterWriter) round(seen uint64, nodes []nodeKeys, writes []write, again []int, o *outcome) ([]int, error) {
	active := cw.active[:0]
	for _, nk := range nodes {
		n := cw.nodes[nk.addr]
		if n == nil {
			n = &nodeWriter{addr: nk.addr, cmds: cmdBuilder{script: cw.w.script}}
			cw.nodes[nk.addr] = n
		}
		n.writes = nk.idx
		active = append(active, n)
	}
	cw.active = active
	eachNode(len(active), func(j int) { active[j].write(cw, writes) })
	routes := cw.rt.routes
	var replyErr, connErr error
	for _, n := range active {
		if n.err != nil {
			connErr = firstErr(connErr, n.err)
			continue
		}
		for j, i := range n.writes {
			r := n.res[j]
			switch {
			case r.err != nil:
				replyErr = firstErr(replyErr, fmt.Errorf("key %q: %w", writes[i].key, r.err))
			case r.redirect.addr != "":
				routes[i] = r.redirect
				again = append(again, i)
			case r.noScript:
				n.loaded = false
				routes[i] = route{}
				again = append(again, i)
			default:
				if r.stale {
					o.stale += writes[i].updates
				}
				o.commands += commandsOf(&writes[i])
			}
		}
	}
	if connErr != nil {
		// The node may be gone (failover, resharding): reload the map
		// for the next attempt; the error itself is retried.
		cw.c.refresh(seen)
		return again, connErr
	}
	return again, replyErr
}

// write sends the node's writes in one pipeline and reads their replies
// into n.res, or sets n.err when the connection failed.
func (n *nodeWriter) write(cw *clusterWriter, writes []write) {
	n.res = resize(n.res, len(n.writes))
	n.err = n.pipeline(cw, writes)
	if n.err != nil {
		n.drop()
	}
}

// connect returns n's connection, opening one (and ending the dropped
// ones, see droppedConns) when it has none or its last one broke.
func (n *nodeWriter) connect(cw *clusterWriter) (redis.Conn, error) {
	w := cw.w
	if n.conn != nil && n.conn.Err() != nil {
		n.drop()
	}
	if n.conn == nil {
		c, err := cw.c.get(w.ctx, n.addr)
		if err != nil {
			return nil, fmt.Errorf("redis cluster node %s: %w", n.addr, err)
		}
		if err := n.dropped.opened(c, w.log); err != nil {
			c.Close()
			return nil, fmt.Errorf("redis cluster node %s: %w", n.addr, err)
		}
		n.conn, n.loaded = c, false
	}
	return n.conn, nil
}

func (n *nodeWriter) pipeline(cw *clusterWriter, writes []write) error {
	w := cw.w
	c, err := n.connect(cw)
	if err != nil {
		return err
	}
	if !n.loaded {
		for _, i := range n.writes {
			if writes[i].table.byEventTime() {
				if err := w.script.Load(c); err != nil {
					return fmt.Errorf("redis cluster node %s: load script: %w", n.addr, err)
				}
				n.loaded = true
				break
			}
		}
	}
	routes := cw.rt.routes
	for _, i := range n.writes {
		if err := n.cmds.send(c, writes[i:i+1], routes[i].asking); err != nil {
			return fmt.Errorf("redis cluster node %s: send batch: %w", n.addr, err)
		}
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("redis cluster node %s: send batch: %w", n.addr, err)
	}
	rs := replies{c: c, ctx: w.ctx}
	for j, i := range n.writes {
		wr := &writes[i]
		res := &n.res[j]
		for range commandsOf(wr) {
			if routes[i].asking {
				if err := rs.asking(); err != nil {
					return fmt.Errorf("redis cluster node %s: read replies: %w", n.addr, err)
				}
			}
			r, err := rs.next()
			if err != nil {
				if !errors.As(err, new(redis.Error)) {
					return fmt.Errorf("redis cluster node %s: read replies: %w", n.addr, err)
				}
				switch to, ok := cw.c.redirect(err); {
				case ok:
					if res.redirect.addr == "" {
						res.redirect = to
					}
				case isReply(err, "NOSCRIPT"):
					res.noScript = true
				case res.err == nil:
					res.err = err
				}
				continue
			}
			if wr.table.byEventTime() {
				// One key per call.
				stale, err := scriptReply(r, writes[i:i+1])
				if err != nil && !errors.As(err, new(redis.Error)) {
					return fmt.Errorf("redis cluster node %s: read replies: %w", n.addr, err)
				}
				if err != nil && res.err == nil {
					res.err = errors.Unwrap(err)
				}
				res.stale = stale > 0
			}
		}
	}
	return nil
}
