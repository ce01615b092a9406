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

// cluster is a Redis Cluster, a Store's backend: it keeps the map of hash
// slots to masters and a connection pool per master.
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
// A cluster is safe for concurrent use.
type cluster struct {
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

// clusterStats counts a cluster's redirections and refreshes.
type clusterStats struct {
	Moved     int64 // MOVED replies followed
	Asked     int64 // ASK replies followed
	Refreshes int64 // slot maps loaded (CLUSTER SLOTS)
}

// errClusterClosed is returned after close.
var errClusterClosed = errors.New("sink: redis cluster closed")

// newCluster returns a cluster that starts from the nodes listed in
// o.Addr (comma-separated host:port). It connects lazily: the first write,
// read or ping loads the slot map. o.DB must be 0.
func newCluster(o Options) (*cluster, error) {
	o.Cluster = true
	if o.DB != 0 {
		return nil, fmt.Errorf("sink: redis cluster: database %d: a cluster has only database 0", o.DB)
	}
	seeds := o.nodes()
	if len(seeds) == 0 {
		return nil, errors.New("sink: redis cluster: no node address")
	}
	c := &cluster{opts: o, pools: make(map[string]*redis.Pool)}
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

// nodeOptions returns the options of one node.
func (c *cluster) nodeOptions(addr string) Options {
	o := c.opts
	o.Addr, o.Cluster = addr, false
	return o
}

// layout takes the slot map of a refresh.
func (c *cluster) layout(_, m [redisc.HashSlots][]string) {
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

// refresh loads the slot map unless another refresh completed since the
// caller read generation seen.
func (c *cluster) refresh(seen uint64) error {
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
func (c *cluster) moveSlot(slot int, addr string) {
	c.mu.Lock()
	c.slots[slot] = addr
	c.mu.Unlock()
}

// masters returns the addresses of the masters that own slots, loading the
// slot map first if there is none.
func (c *cluster) masters() ([]string, error) {
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

// ping loads the slot map and PINGs every master.
func (c *cluster) ping(ctx context.Context) error {
	if err := c.refresh(c.gen.Load()); err != nil {
		return err
	}
	masters, err := c.masters()
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
		if err := pingConn(ctx, conn); err != nil {
			return fmt.Errorf("cluster node %s: %w", addr, err)
		}
	}
	return nil
}

// stats returns the cluster's counters so far.
func (c *cluster) stats() clusterStats {
	return clusterStats{Moved: c.moved.Load(), Asked: c.asked.Load(), Refreshes: c.refreshes.Load()}
}

// batchWriter returns a shard's writer into the cluster.
func (c *cluster) batchWriter(w *Writer) batchWriter { return newClusterWriter(w, c) }

// close closes the connection pools.
func (c *cluster) close() error {
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

func (c *cluster) closed() error {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.err
}

// get returns a connection to the node at addr.
func (c *cluster) get(ctx context.Context, addr string) (redis.Conn, error) {
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
func (c *cluster) routeKeys(idx []int, key func(int) string, routes []route) error {
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

// routing is the state of one batch's writes, or one read's keys, on
// their way to the masters; its memory is reused.
type routing struct {
	routes []route // per key
	idx    []int   // the keys of the current round
	next   []int
	nodes  []nodeKeys
}

// nodeKeys is a round's keys for one node.
type nodeKeys struct {
	addr string
	idx  []int
}

// A roundFunc sends a round's keys, one pipeline per node, and appends to
// again the keys to send in the next round, their routes set to follow a
// redirection, or cleared to follow the slot map. seen is the slot map's
// generation before the round's keys were routed.
type roundFunc func(seen uint64, nodes []nodeKeys, again []int) ([]int, error)

// rounds sends the commands of n keys (key(i) is the i-th) to the
// masters of their slots, writes and reads alike: round after round, it
// routes the keys, has round send them, and sends again the keys that
// round returns, until none is left. The slot map is reloaded after a
// round that met a MOVED reply, for the keys that follow.
func (c *cluster) rounds(rt *routing, n int, key func(int) string, round roundFunc) error {
	rt.routes = resize(rt.routes, n)
	rt.idx = rt.idx[:0]
	for i := range n {
		rt.idx = append(rt.idx, i)
	}
	for r := 0; len(rt.idx) > 0; r++ {
		if r == maxRedirectRounds {
			return fmt.Errorf("redis cluster: %d keys still redirected after %d rounds", len(rt.idx), r)
		}
		seen := c.gen.Load()
		if err := c.routeKeys(rt.idx, key, rt.routes); err != nil {
			return err
		}
		again, err := round(seen, rt.group(), rt.next[:0])
		rt.next = again
		if err != nil {
			return err
		}
		moved := false
		for _, i := range again {
			moved = moved || rt.routes[i].addr != "" && !rt.routes[i].asking
		}
		if moved {
			// The redirected keys follow their MOVED replies; the
			// refreshed map serves the keys after them.
			if err := c.refresh(seen); err != nil {
				return err
			}
		}
		rt.idx, rt.next = rt.next, rt.idx
	}
	return nil
}

// group returns the keys of the round by node, in the order of their
// nodes' first keys.
func (rt *routing) group() []nodeKeys {
	nodes := rt.nodes[:0]
	for _, i := range rt.idx {
		addr := rt.routes[i].addr
		j := 0
		for j < len(nodes) && nodes[j].addr != addr {
			j++
		}
		if j == len(nodes) {
			if j < cap(nodes) {
				nodes = nodes[:j+1]
				nodes[j].addr, nodes[j].idx = addr, nodes[j].idx[:0]
			} else {
				nodes = append(nodes, nodeKeys{addr: addr})
			}
		}
		nodes[j].idx = append(nodes[j].idx, i)
	}
	rt.nodes = nodes
	return nodes
}

// eachNode runs f(0) to f(n-1) concurrently and waits for them; a single
// one runs on the caller's goroutine.
func eachNode(n int, f func(j int)) {
	if n == 1 {
		f(0)
		return
	}
	var wg sync.WaitGroup
	for j := range n {
		wg.Go(func() { f(j) })
	}
	wg.Wait()
}

// redirect classifies a reply error: a MOVED or ASK redirection (recorded
// in the stats, MOVED also in the slot map) returns the route to follow.
func (c *cluster) redirect(err error) (route, bool) {
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

// hintCluster explains a redirection, or a CROSSSLOT refusal (of a script
// call with keys of several slots), seen by a writer or reader that does
// not know it talks to a cluster.
func hintCluster(err error) error {
	if isClusterRedirect(err) || isReply(err, "CROSSSLOT") {
		return fmt.Errorf("%w (the server is a Redis Cluster node: set online_store.redis.cluster: true, or use a redis+cluster:// URL)", err)
	}
	return err
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
