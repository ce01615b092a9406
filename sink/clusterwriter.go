package sink

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/gomodule/redigo/redis"
)

// clusterWriter is a shard's batchWriter into a Redis Cluster: it writes
// each batch whole, one pipeline per master, concurrently, with a
// connection per master kept across batches. Its sender only collects:
// the receiver writes each batch, in order, while the next ones collect.
type clusterWriter struct {
	w      *Writer
	c      *Cluster
	nodes  map[string]*nodeWriter
	routes []route // per write of the batch
	idx    []int   // writes still to do
	next   []int
}

// nodeWriter is a shard's connection to one node and the writes of the
// current round that go to it. The nodes of a round are written
// concurrently, each with its own argCache.
type nodeWriter struct {
	addr   string
	conn   redis.Conn
	loaded bool // the script is loaded on conn
	writes []int
	args   []any
	argCache
	res []writeResult
	err error // the pipeline failed (connection error)
}

// writeResult is the outcome of one write in a round.
type writeResult struct {
	redirect route // set: send again there
	noScript bool  // NOSCRIPT: load the script and send again
	err      error // an error reply
	stale    bool  // the script wrote nothing: the key held a newer event
}

func newClusterWriter(w *Writer, c *Cluster) *clusterWriter {
	return &clusterWriter{w: w, c: c, nodes: make(map[string]*nodeWriter)}
}

// send sends nothing: receive writes the batch.
func (cs *clusterWriter) send(*batch) {}

// receive writes b whole (see exec).
func (cs *clusterWriter) receive(b *batch) (outcome, error) { return cs.exec(b) }

// drop returns the shard's connections to their pools.
func (cs *clusterWriter) drop(*batch) {
	for _, n := range cs.nodes {
		if n.conn != nil {
			n.conn.Close()
			n.conn = nil
		}
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
func (cs *clusterWriter) exec(b *batch) (outcome, error) {
	start := time.Now()
	stale, cmds, err := cs.write(b)
	if err != nil {
		return outcome{}, err
	}
	return outcome{stale: stale, commands: cmds, roundTrip: time.Since(start)}, nil
}

func (cs *clusterWriter) write(b *batch) (stale, cmds int, err error) {
	writes := b.writes
	cs.routes = resize(cs.routes, len(writes))
	cs.idx = cs.idx[:0]
	for i := range writes {
		cs.idx = append(cs.idx, i)
	}
	key := func(i int) string { return writes[i].key }
	for round := 0; len(cs.idx) > 0; round++ {
		if round == maxRedirectRounds {
			return 0, 0, fmt.Errorf("sink: redis cluster: %d writes still redirected after %d rounds", len(cs.idx), round)
		}
		seen := cs.c.gen.Load()
		if err := cs.c.routeKeys(cs.idx, key, cs.routes); err != nil {
			return 0, 0, err
		}
		active := cs.group()
		if len(active) == 1 {
			active[0].write(cs, writes)
		} else {
			var wg sync.WaitGroup
			for _, n := range active {
				wg.Go(func() { n.write(cs, writes) })
			}
			wg.Wait()
		}
		cs.next = cs.next[:0]
		var replyErr, connErr error
		moved := false
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
					moved = moved || !r.redirect.asking
					cs.routes[i] = r.redirect
					cs.next = append(cs.next, i)
				case r.noScript:
					n.loaded = false
					cs.routes[i] = route{}
					cs.next = append(cs.next, i)
				default:
					if r.stale {
						stale += writes[i].updates
					}
					cmds += commandsOf(&writes[i])
				}
			}
		}
		if connErr != nil {
			// The node may be gone (failover, resharding): reload the map
			// for the next attempt; the error itself is retried.
			cs.c.refresh(seen)
			return 0, 0, connErr
		}
		if replyErr != nil {
			return 0, 0, replyErr
		}
		if moved {
			// The redirected writes follow their MOVED replies; the
			// refreshed map serves the next batches.
			if err := cs.c.refresh(seen); err != nil {
				return 0, 0, err
			}
		}
		cs.idx, cs.next = cs.next, cs.idx
	}
	return stale, cmds, nil
}

// group assigns the writes in cs.idx to their nodes and returns the nodes
// that have writes.
func (cs *clusterWriter) group() []*nodeWriter {
	for _, n := range cs.nodes {
		n.writes, n.err = n.writes[:0], nil
	}
	var active []*nodeWriter
	for _, i := range cs.idx {
		addr := cs.routes[i].addr
		n := cs.nodes[addr]
		if n == nil {
			n = &nodeWriter{addr: addr}
			cs.nodes[addr] = n
		}
		if len(n.writes) == 0 {
			active = append(active, n)
		}
		n.writes = append(n.writes, i)
	}
	return active
}

// write sends the node's writes in one pipeline and reads their replies
// into n.res, or sets n.err when the connection failed.
func (n *nodeWriter) write(cs *clusterWriter, writes []write) {
	w := cs.w
	n.res = resize(n.res, len(n.writes))
	n.err = n.pipeline(cs, writes, w)
	if n.err != nil && n.conn != nil {
		n.conn.Close()
		n.conn = nil
	}
}

func (n *nodeWriter) pipeline(cs *clusterWriter, writes []write, w *Writer) error {
	if n.conn != nil && n.conn.Err() != nil {
		n.conn.Close()
		n.conn = nil
	}
	if n.conn == nil {
		c, err := cs.c.get(w.ctx, n.addr)
		if err != nil {
			return fmt.Errorf("redis cluster node %s: %w", n.addr, err)
		}
		n.conn, n.loaded = c, false
	}
	c := n.conn
	if !n.loaded {
		for _, i := range n.writes {
			if writes[i].table.Ordering == EventTime {
				if err := w.script.Load(c); err != nil {
					return fmt.Errorf("redis cluster node %s: load script: %w", n.addr, err)
				}
				n.loaded = true
				break
			}
		}
	}
	for _, i := range n.writes {
		if err := n.send(c, w, writes[i:i+1], cs.routes[i].asking); err != nil {
			return fmt.Errorf("redis cluster node %s: send batch: %w", n.addr, err)
		}
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("redis cluster node %s: send batch: %w", n.addr, err)
	}
	first := true
	receive := func() (any, error) {
		if first {
			// Only the first reply waits for the server: let Close
			// interrupt it.
			first = false
			return redis.ReceiveContext(c, w.ctx)
		}
		return c.Receive()
	}
	for j, i := range n.writes {
		wr := &writes[i]
		asking := cs.routes[i].asking
		res := &n.res[j]
		for range commandsOf(wr) {
			if asking {
				if _, err := receive(); err != nil && !errors.As(err, new(redis.Error)) {
					return fmt.Errorf("redis cluster node %s: read replies: %w", n.addr, err)
				}
			}
			r, err := receive()
			if err != nil {
				if !errors.As(err, new(redis.Error)) {
					return fmt.Errorf("redis cluster node %s: read replies: %w", n.addr, err)
				}
				switch to, ok := cs.c.redirect(err); {
				case ok:
					if res.redirect.addr == "" {
						res.redirect = to
					}
				case isNoScript(err):
					res.noScript = true
				case res.err == nil:
					res.err = err
				}
				continue
			}
			if wr.table.Ordering == EventTime {
				// One key per call: the script answers {fields written}.
				written, _ := r.([]any)
				if len(written) != 1 {
					return fmt.Errorf("redis cluster node %s: read replies: the script answered %d keys of 1", n.addr, len(written))
				}
				if v, ok := written[0].(int64); ok && v == 0 {
					res.stale = true
				}
			}
		}
	}
	return nil
}

// send sends the commands of one write, one[0], each after ASKING when
// asking.
func (n *nodeWriter) send(c redis.Conn, w *Writer, one []write, asking bool) error {
	wr := &one[0]
	ask := func() error {
		if asking {
			return c.Send("ASKING")
		}
		return nil
	}
	args := n.args[:0]
	defer func() { n.args = clearArgs(args) }()
	if err := ask(); err != nil {
		return err
	}
	if wr.table.Ordering == EventTime {
		args = n.appendScript(args, w.script, one)
		return c.Send("EVALSHA", args...)
	}
	args = append(args, wr.key)
	for _, f := range wr.fields {
		args = append(args, n.name(f.name), f.value)
	}
	if err := c.Send("HSET", args...); err != nil {
		return err
	}
	if wr.table.TTL <= 0 {
		return nil
	}
	if err := ask(); err != nil {
		return err
	}
	return c.Send("PEXPIRE", wr.key, n.tableArgs(wr.table).ttl)
}

// NewClusterWriter starts a writer into a Redis Cluster. It works as
// NewWriter's writer does (batches, coalescing, event-time ordering,
// retries, acks only after the write), and each of its opts.Conns
// connections becomes one connection per master: a batch is split by the
// master that owns each key's slot, one pipeline per master, sent
// concurrently, following MOVED and ASK redirections during resharding.
// The caller closes c after Close.
func NewClusterWriter(c *Cluster, opts WriterOptions) *Writer {
	return startWriter(opts, func(w *Writer) batchWriter { return newClusterWriter(w, c) })
}
