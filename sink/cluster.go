package sink

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/gomodule/redigo/redis"
	"github.com/mna/redisc"
)

// maxRedirectRounds bounds how many times one attempt at a batch (or a
// read) follows MOVED and ASK replies before it gives up and, for a write,
// backs off and starts over.
const maxRedirectRounds = 16

// Cluster is a Redis Cluster: it keeps the map of hash slots to masters
// and a connection pool per master.
//
// The map comes from CLUSTER SLOTS through github.com/mna/redisc, which
// asks the known nodes in turn (the seed nodes of Options.Addr at first).
// It is refreshed when a reply says MOVED and when a node is unreachable;
// a MOVED reply also updates its slot at once. Writers and readers group
// their keys by the master that owns each key's slot and send one pipeline
// per master, concurrently; keys whose replies are redirected (MOVED, or
// ASK during a slot migration, sent again after ASKING on the target) are
// sent again in the next round.
//
// A Cluster is safe for concurrent use. Close it after the writers and
// readers that use it.
type Cluster struct {
	opts Options
	rc   *redisc.Cluster

	mu    sync.RWMutex
	slots [redisc.HashSlots]string // master address per slot; "" unknown
	pools map[string]*redis.Pool   // per node address
	err   error                    // set by Close

	refreshMu sync.Mutex
	gen       atomic.Uint64 // completed refreshes

	moved, asked, refreshes atomic.Int64
}

// ClusterStats counts a Cluster's redirections and refreshes.
type ClusterStats struct {
	Moved     int64 // MOVED replies followed
	Asked     int64 // ASK replies followed
	Refreshes int64 // slot maps loaded (CLUSTER SLOTS)
}

// errClusterClosed is returned after Close.
var errClusterClosed = errors.New("sink: redis cluster closed")

// NewCluster returns a Cluster that starts from the nodes listed in o.Addr
// (comma-separated host:port). It connects lazily: the first write, read,
// Ping or Refresh loads the slot map. o.DB must be 0.
func NewCluster(o Options) (*Cluster, error) {
	o.Cluster = true
	if o.DB != 0 {
		return nil, fmt.Errorf("sink: redis cluster: database %d: a cluster has only database 0", o.DB)
	}
	seeds := o.nodes()
	if len(seeds) == 0 {
		return nil, errors.New("sink: redis cluster: no node address")
	}
	c := &Cluster{opts: o, pools: make(map[string]*redis.Pool)}
	c.rc = &redisc.Cluster{
		StartupNodes: seeds,
		CreatePool: func(addr string, _ ...redis.DialOption) (*redis.Pool, error) {
			// Only for CLUSTER SLOTS: one connection per node is plenty.
			no := c.nodeOptions(addr)
			no.MaxIdle = 1
			return NewPool(no), nil
		},
		LayoutRefresh: c.layout,
	}
	return c, nil
}

// String describes the cluster without its password.
func (c *Cluster) String() string { return c.opts.String() }

// nodeOptions returns the options of one node.
func (c *Cluster) nodeOptions(addr string) Options {
	o := c.opts
	o.Addr, o.Cluster = addr, false
	return o
}

// layout takes the slot map of a refresh.
func (c *Cluster) layout(_, m [redisc.HashSlots][]string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, nodes := range m {
		if len(nodes) > 0 {
			c.slots[i] = nodes[0]
		} else {
			c.slots[i] = ""
		}
	}
}

// Refresh loads the slot map from the cluster now.
func (c *Cluster) Refresh() error {
	return c.refresh(c.gen.Load())
}

// refresh loads the slot map unless another refresh completed since the
// caller read generation seen.
func (c *Cluster) refresh(seen uint64) error {
	c.refreshMu.Lock()
	defer c.refreshMu.Unlock()
	if c.gen.Load() != seen {
		return nil
	}
	if err := c.closed(); err != nil {
		return err
	}
	if err := c.rc.Refresh(); err != nil {
		// redisc reports the nodes' errors as text: connect to the seeds
		// again to keep a Redis error reply (a refused AUTH) visible to
		// the writer's fatal-error check.
		for _, a := range c.opts.nodes() {
			conn, cerr := c.get(context.Background(), a)
			if cerr == nil {
				conn.Close()
			} else if errors.As(cerr, new(redis.Error)) {
				return fmt.Errorf("load the cluster's slot map: %w", cerr)
			}
		}
		msg := strings.ReplaceAll(strings.TrimPrefix(err.Error(), "redisc: "), "\n", "; ")
		return fmt.Errorf("load the cluster's slot map: %s", msg)
	}
	c.refreshes.Add(1)
	c.gen.Add(1)
	return nil
}

// moveSlot records a MOVED reply: slot is now on addr.
func (c *Cluster) moveSlot(slot int, addr string) {
	c.mu.Lock()
	c.slots[slot] = addr
	c.mu.Unlock()
}

// Masters returns the addresses of the masters that own slots, loading the
// slot map first if there is none.
func (c *Cluster) Masters() ([]string, error) {
	if c.gen.Load() == 0 {
		if err := c.refresh(0); err != nil {
			return nil, err
		}
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	seen := make(map[string]bool)
	var out []string
	for _, a := range c.slots {
		if a != "" && !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	return out, nil
}

// Ping loads the slot map and PINGs every master.
func (c *Cluster) Ping(ctx context.Context) error {
	if err := c.refresh(c.gen.Load()); err != nil {
		return err
	}
	masters, err := c.Masters()
	if err != nil {
		return err
	}
	if len(masters) == 0 {
		return errors.New("the cluster has no slot assigned")
	}
	for _, addr := range masters {
		conn, err := c.get(ctx, addr)
		if err != nil {
			return err
		}
		_, err = redis.DoContext(conn, ctx, "PING")
		conn.Close()
		if err != nil {
			return fmt.Errorf("cluster node %s: %w", addr, err)
		}
	}
	return nil
}

// Stats returns the cluster's counters so far.
func (c *Cluster) Stats() ClusterStats {
	return ClusterStats{Moved: c.moved.Load(), Asked: c.asked.Load(), Refreshes: c.refreshes.Load()}
}

// Close closes the connection pools.
func (c *Cluster) Close() error {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return nil
	}
	c.err = errClusterClosed
	pools := c.pools
	c.pools = nil
	c.mu.Unlock()
	for _, p := range pools {
		p.Close()
	}
	return c.rc.Close()
}

func (c *Cluster) closed() error {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.err
}

// get returns a connection to the node at addr.
func (c *Cluster) get(ctx context.Context, addr string) (redis.Conn, error) {
	c.mu.RLock()
	p, err := c.pools[addr], c.err
	c.mu.RUnlock()
	if err != nil {
		return nil, err
	}
	if p == nil {
		c.mu.Lock()
		if c.err != nil {
			c.mu.Unlock()
			return nil, c.err
		}
		if p = c.pools[addr]; p == nil {
			p = NewPool(c.nodeOptions(addr))
			c.pools[addr] = p
		}
		c.mu.Unlock()
	}
	return p.GetContext(ctx)
}

// route is where a key's command goes.
type route struct {
	addr   string // the node
	asking bool   // send ASKING first: the node imports the key's slot
}

// routeKeys fills routes[i] with the owner of keys(i)'s slot, for each i
// in idx whose route is not set yet, loading the slot map first if a slot
// has no known owner.
func (c *Cluster) routeKeys(idx []int, key func(int) string, routes []route) error {
	for try := 0; ; try++ {
		seen := c.gen.Load()
		missing := false
		c.mu.RLock()
		for _, i := range idx {
			if routes[i].addr != "" {
				continue
			}
			routes[i].addr = c.slots[redisc.Slot(key(i))]
			missing = missing || routes[i].addr == ""
		}
		c.mu.RUnlock()
		if !missing {
			return nil
		}
		if try > 0 {
			return errors.New("some of the cluster's slots have no master (CLUSTERDOWN?)")
		}
		if err := c.refresh(seen); err != nil {
			return err
		}
	}
}

// redirect classifies a reply error: a MOVED or ASK redirection (recorded
// in the stats, MOVED also in the slot map) returns the route to follow.
func (c *Cluster) redirect(err error) (route, bool) {
	var re redis.Error
	if !errors.As(err, &re) {
		return route{}, false
	}
	r := redisc.ParseRedir(re)
	if r == nil {
		return route{}, false
	}
	if r.Type == "ASK" {
		c.asked.Add(1)
		return route{addr: r.Addr, asking: true}, true
	}
	c.moved.Add(1)
	c.moveSlot(r.NewSlot, r.Addr)
	return route{addr: r.Addr}, true
}

// isClusterRedirect reports whether err is a MOVED or ASK reply.
func isClusterRedirect(err error) bool {
	var re redis.Error
	return errors.As(err, &re) && redisc.ParseRedir(re) != nil
}

// isCrossSlot reports whether err is Redis Cluster's CROSSSLOT reply: a
// writer that does not know it talks to a cluster sent the script keys of
// several slots.
func isCrossSlot(err error) bool {
	var re redis.Error
	return errors.As(err, &re) && strings.HasPrefix(string(re), "CROSSSLOT")
}

// hintCluster explains a redirection (or a CROSSSLOT refusal) seen by a
// writer or reader that does not know it talks to a cluster.
func hintCluster(err error) error {
	if isClusterRedirect(err) || isCrossSlot(err) {
		return fmt.Errorf("%w (the server is a Redis Cluster node: set online_store.redis.cluster: true, or use a redis+cluster:// URL)", err)
	}
	return err
}

// clusterShard writes a shard's batches to a cluster: one pipeline per
// master, concurrently, with a connection per master kept across batches.
type clusterShard struct {
	s      *shard
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

func newClusterShard(s *shard, c *Cluster) *clusterShard {
	return &clusterShard{s: s, c: c, nodes: make(map[string]*nodeWriter)}
}

// close returns the shard's connections to their pools.
func (cs *clusterShard) close() {
	for _, n := range cs.nodes {
		if n.conn != nil {
			n.conn.Close()
			n.conn = nil
		}
	}
}

// exec writes b to the cluster: it groups the writes by master, sends
// one pipeline per master concurrently, and sends redirected writes again
// (refreshing the slot map after MOVED) until every write succeeded. It
// returns the number of updates found stale and of commands that wrote.
// An error leaves the batch to be retried whole: its writes are
// idempotent.
//
// Each event-time write is a call of the script of its own, with one key:
// the keys of one call must share a hash slot, and keys of a batch rarely
// do; a call with several keys of a slot being migrated would also be
// refused (TRYAGAIN) while some of them are on each side.
func (cs *clusterShard) exec(b *batch) (stale, cmds int, err error) {
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

// resize returns s with n zero elements, reusing its memory.
func resize[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	s = s[:n]
	clear(s)
	return s
}

// firstErr keeps the first error.
func firstErr(first, err error) error {
	if first != nil {
		return first
	}
	return err
}

// commandsOf returns the number of commands a write takes, not counting
// ASKING.
func commandsOf(wr *write) int {
	if wr.table.Ordering == Arrival && wr.table.TTL > 0 {
		return 2
	}
	return 1
}

// group assigns the writes in cs.idx to their nodes and returns the nodes
// that have writes.
func (cs *clusterShard) group() []*nodeWriter {
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
func (n *nodeWriter) write(cs *clusterShard, writes []write) {
	w := cs.s.w
	n.res = resize(n.res, len(n.writes))
	n.err = n.pipeline(cs, writes, w)
	if n.err != nil && n.conn != nil {
		n.conn.Close()
		n.conn = nil
	}
}

func (n *nodeWriter) pipeline(cs *clusterShard, writes []write, w *Writer) error {
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
	return startWriter(nil, c, opts)
}

// getCluster reads keys from a cluster: pipelined HMGETs per master,
// concurrently, following redirections.
func (r *Reader) getCluster(ctx context.Context, table string, keys []string, features []string, out [][]any) error {
	c := r.cluster
	routes := make([]route, len(keys))
	idx := make([]int, len(keys))
	for i := range idx {
		idx[i] = i
	}
	fullKey := func(i int) string { return Key(table, keys[i]) }
	for round := 0; len(idx) > 0; round++ {
		if round == maxRedirectRounds {
			return fmt.Errorf("sink: read: %d keys still redirected after %d rounds", len(idx), round)
		}
		seen := c.gen.Load()
		if err := c.routeKeys(idx, fullKey, routes); err != nil {
			return fmt.Errorf("sink: read: %w", err)
		}
		byNode := make(map[string][]int)
		var order []string
		for _, i := range idx {
			a := routes[i].addr
			if byNode[a] == nil {
				order = append(order, a)
			}
			byNode[a] = append(byNode[a], i)
		}
		type nodeResult struct {
			redirected []int
			err        error
		}
		results := make([]nodeResult, len(order))
		var wg sync.WaitGroup
		for j, addr := range order {
			wg.Go(func() {
				results[j].redirected, results[j].err = r.readNode(ctx, addr, table, keys, features, byNode[addr], routes, out)
			})
		}
		wg.Wait()
		idx = idx[:0]
		moved := false
		for _, res := range results {
			if res.err != nil {
				return res.err
			}
			for _, i := range res.redirected {
				moved = moved || !routes[i].asking
				idx = append(idx, i)
			}
		}
		if moved {
			if err := c.refresh(seen); err != nil {
				return fmt.Errorf("sink: read: %w", err)
			}
		}
	}
	return nil
}

// readNode reads the keys idx from the node at addr with pipelined HMGETs
// and returns the keys whose replies were redirected, their new routes
// set in routes.
func (r *Reader) readNode(ctx context.Context, addr, table string, keys, features []string, idx []int, routes []route, out [][]any) ([]int, error) {
	conn, err := r.cluster.get(ctx, addr)
	if err != nil {
		return nil, fmt.Errorf("sink: read from redis cluster node %s: %w", addr, err)
	}
	defer conn.Close()
	args := make([]any, 1+len(features))
	for i, f := range features {
		args[1+i] = f
	}
	var redirected []int
	for start := 0; start < len(idx); start += readChunk {
		chunk := idx[start:min(start+readChunk, len(idx))]
		for _, i := range chunk {
			if routes[i].asking {
				if err := conn.Send("ASKING"); err != nil {
					return nil, fmt.Errorf("sink: read from redis cluster node %s: %w", addr, err)
				}
			}
			args[0] = Key(table, keys[i])
			if err := conn.Send("HMGET", args...); err != nil {
				return nil, fmt.Errorf("sink: read from redis cluster node %s: %w", addr, err)
			}
		}
		if err := conn.Flush(); err != nil {
			return nil, fmt.Errorf("sink: read from redis cluster node %s: %w", addr, err)
		}
		first := true
		receive := func() (any, error) {
			if first {
				first = false
				return redis.ReceiveContext(conn, ctx)
			}
			return conn.Receive()
		}
		for _, i := range chunk {
			if routes[i].asking {
				if _, err := receive(); err != nil && !errors.As(err, new(redis.Error)) {
					return nil, fmt.Errorf("sink: read from redis cluster node %s: %w", addr, err)
				}
			}
			reply, err := receive()
			if to, ok := r.cluster.redirect(err); ok {
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
