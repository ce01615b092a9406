package sink

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gomodule/redigo/redis"
	"github.com/mna/redisc"
)

// refreshBatch is how many due keys one poll reads from an index (or an
// index shard) at a time, and refreshKeysPerCall how many one call of
// the refresh script rewrites into one server.
const (
	refreshBatch       = 500
	refreshKeysPerCall = 100
	refreshMaxRounds   = 20 // batches of one index per poll, at most
)

// RefresherOptions tune a Refresher. The zero value gives the defaults.
type RefresherOptions struct {
	// Interval is how often the indexes are polled; default the smallest
	// hop of the tables' aggregated features, at most 1s.
	Interval    time.Duration
	Logger      *slog.Logger  // default slog.Default()
	LogInterval time.Duration // while polls keep failing, one log line per interval; default 10s
}

// RefresherStats count what a Refresher did.
type RefresherStats struct {
	Polls     int64 // polls of every index that succeeded
	Refreshed int64 // keys whose stored values the refresh script rewrote
	Errors    int64 // polls that failed (retried at the next)
}

// Refresher keeps the stored fields of aggregated features current when
// no events arrive: it polls each table's refresh index (the keys whose
// values change at a known time, as tiles leave the window) and runs the
// refresh script on the keys that are due, which rewrites their fields
// from their state at now (removes them when the window is empty) and
// moves them in the index. Several processes may refresh one index: the
// script is idempotent. It is best effort: an error is counted, logged
// (rate-limited) and retried at the next poll; Reader.GetAt never
// depends on it. Make one with Store.StartRefresher.
type Refresher struct {
	b      backend
	tables []*Table
	opts   RefresherOptions
	cancel context.CancelFunc
	done   chan struct{}

	failures                  failureLog
	polls, refreshed, errorsN atomic.Int64
}

// StartRefresher starts refreshing the stored aggregated features of
// tables (those without aggregations are ignored) until Close.
func (s *Store) StartRefresher(tables []*Table, opts RefresherOptions) *Refresher {
	r := &Refresher{b: s.b, opts: opts, done: make(chan struct{})}
	hop := time.Duration(0)
	for _, t := range tables {
		if t.agg == nil {
			continue
		}
		r.tables = append(r.tables, t)
		for _, f := range t.agg.features {
			if hop == 0 || f.Spec.Hop < hop {
				hop = f.Spec.Hop
			}
		}
	}
	if r.opts.Interval <= 0 {
		r.opts.Interval = min(max(hop, time.Millisecond), time.Second)
	}
	if r.opts.Logger == nil {
		r.opts.Logger = slog.Default()
	}
	if r.opts.LogInterval <= 0 {
		r.opts.LogInterval = 10 * time.Second
	}
	r.failures.interval = r.opts.LogInterval
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go r.run(ctx)
	return r
}

// Close stops the refresher and waits for its poll in progress.
func (r *Refresher) Close() {
	r.cancel()
	<-r.done
}

// Stats returns the refresher's counters so far.
func (r *Refresher) Stats() RefresherStats {
	return RefresherStats{Polls: r.polls.Load(), Refreshed: r.refreshed.Load(), Errors: r.errorsN.Load()}
}

func (r *Refresher) run(ctx context.Context) {
	defer close(r.done)
	if len(r.tables) == 0 {
		return
	}
	tick := time.NewTicker(r.opts.Interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if err := r.Poll(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			r.errorsN.Add(1)
			r.failures.failure(r.opts.Logger, err)
			continue
		}
		r.polls.Add(1)
		r.failures.recovered(r.opts.Logger)
	}
}

// Poll refreshes, once, the keys of every table that are due at now.
func (r *Refresher) Poll(ctx context.Context) error {
	for _, t := range r.tables {
		var n int
		var err error
		switch b := r.b.(type) {
		case *server:
			n, err = b.refresh(ctx, t.agg)
		case *cluster:
			n, err = b.refreshAggs(ctx, t.agg)
		}
		r.refreshed.Add(int64(n))
		if err != nil {
			return err
		}
	}
	return nil
}

// refresh refreshes the due keys of am's index on the server and
// returns how many it refreshed.
func (sv *server) refresh(ctx context.Context, am *aggMaterialization) (int, error) {
	c, err := sv.pool.GetContext(ctx)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	if err := aggScript().Load(c); err != nil {
		return 0, err
	}
	index := refreshIndexKey(am.name)
	total := 0
	for range refreshMaxRounds {
		now := time.Now().UnixMilli()
		keys, err := redis.Strings(c.Do("ZRANGEBYSCORE", index, "-inf", now, "LIMIT", 0, refreshBatch))
		if err != nil {
			return total, err
		}
		for i := 0; i < len(keys); i += refreshKeysPerCall {
			if err := am.sendRefresh(c, index, now, keys[i:min(i+refreshKeysPerCall, len(keys))]); err != nil {
				return total, err
			}
		}
		if err := c.Flush(); err != nil {
			return total, err
		}
		for i := 0; i < len(keys); i += refreshKeysPerCall {
			if err := receiveRefresh(c); err != nil {
				return total, err
			}
		}
		total += len(keys)
		if len(keys) < refreshBatch {
			break
		}
	}
	return total, nil
}

// refreshAggs refreshes the due keys of am's index shards on a cluster:
// it reads every slot's shard (pipelined per master, following
// redirections), then refreshes each due key with a call of its own in
// its slot.
func (c *cluster) refreshAggs(ctx context.Context, am *aggMaterialization) (int, error) {
	now := time.Now().UnixMilli()
	var mu sync.Mutex
	var due []string
	var rt routing
	err := c.rounds(&rt, redisc.HashSlots, func(i int) string { return clusterRefreshIndexKey(am.name, i) },
		func(_ uint64, nodes []nodeKeys, again []int) ([]int, error) {
			errs := make([]error, len(nodes))
			redirected := make([][]int, len(nodes))
			eachNode(len(nodes), func(j int) {
				var keys []string
				keys, redirected[j], errs[j] = c.commandsNode(ctx, nodes[j], rt.routes, false, func(conn redis.Conn, i int) error {
					return conn.Send("ZRANGEBYSCORE", clusterRefreshIndexKey(am.name, i), "-inf", now, "LIMIT", 0, refreshBatch)
				})
				mu.Lock()
				due = append(due, keys...)
				mu.Unlock()
			})
			for j := range nodes {
				if errs[j] != nil {
					return again, errs[j]
				}
				again = append(again, redirected[j]...)
			}
			return again, nil
		})
	if err != nil || len(due) == 0 {
		return 0, err
	}
	var rk routing
	err = c.rounds(&rk, len(due), func(i int) string { return due[i] },
		func(_ uint64, nodes []nodeKeys, again []int) ([]int, error) {
			errs := make([]error, len(nodes))
			redirected := make([][]int, len(nodes))
			eachNode(len(nodes), func(j int) {
				_, redirected[j], errs[j] = c.commandsNode(ctx, nodes[j], rk.routes, true, func(conn redis.Conn, i int) error {
					return am.sendRefresh(conn, clusterRefreshIndexKey(am.name, redisc.Slot(due[i])), now, due[i:i+1])
				})
			})
			for j := range nodes {
				if errs[j] != nil {
					return again, errs[j]
				}
				again = append(again, redirected[j]...)
			}
			return again, nil
		})
	return len(due), err
}

// commandsNode sends one command per key of nk to its node (send, after
// ASKING where a key's route says so), pipelined, and reads the replies:
// the strings of array replies, and the keys redirected (their routes
// set). With load, the aggregation script is loaded first, and a key
// redirected by ASK is left for a later poll.
func (c *cluster) commandsNode(ctx context.Context, nk nodeKeys, routes []route, load bool, send func(redis.Conn, int) error) (strs []string, again []int, err error) {
	conn, err := c.get(ctx, nk.addr)
	if err != nil {
		return nil, nil, err
	}
	defer conn.Close()
	if load {
		if err := aggScript().Load(conn); err != nil {
			return nil, nil, err
		}
	}
	for _, i := range nk.idx {
		if routes[i].asking {
			if err := conn.Send("ASKING"); err != nil {
				return nil, nil, err
			}
		}
		if err := send(conn, i); err != nil {
			return nil, nil, err
		}
	}
	if err := conn.Flush(); err != nil {
		return nil, nil, err
	}
	rs := replies{c: conn, ctx: ctx}
	var replyErr error
	for _, i := range nk.idx {
		if routes[i].asking {
			if err := rs.asking(); err != nil {
				return nil, nil, err
			}
		}
		r, err := rs.next()
		if to, ok := c.redirect(err); ok {
			if load && to.asking {
				// The key's slot is being migrated: a refresh on the
				// target would count COUNT_DISTINCT tiles still on the
				// source as empty. The key stays due for a later poll.
				continue
			}
			routes[i] = to
			again = append(again, i)
			continue
		}
		if err != nil {
			if !isReplyErr(err) {
				return nil, nil, err
			}
			replyErr = firstErr(replyErr, err)
			continue
		}
		if vs, ok := r.([]any); ok {
			for _, v := range vs {
				if b, ok := v.([]byte); ok {
					strs = append(strs, string(b))
				}
			}
		}
	}
	return strs, again, replyErr
}

// isReplyErr reports whether err is an error reply (not a connection's).
func isReplyErr(err error) bool { return errors.As(err, new(redis.Error)) }
