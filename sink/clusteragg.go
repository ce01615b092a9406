package sink

import (
	"errors"
	"fmt"
	"time"

	"github.com/gomodule/redigo/redis"
	"github.com/mna/redisc"
)

// errSlotMigrating is the error of an aggregate write whose slot is being
// migrated, and whose keys the source no longer holds (an ASK reply). The
// script is not sent to the target then: it creates the tiles of
// COUNT_DISTINCT (keys it does not declare) where the event falls, and
// the source may still hold one of them, whose migration would then fail
// (BUSYKEY). The batch is written again, with backoff, until the slot has
// moved (MOVED); events already applied are skipped as duplicates.
var errSlotMigrating = errors.New("redis cluster: the slot of an aggregated key is being migrated: its write waits until the slot has moved")

// clusterAggs is a clusterWriter's state for aggregate writes: on which
// connection of each node the aggregation script is loaded.
type clusterAggs struct {
	loaded map[string]redis.Conn // by node address
	rt     routing
	res    [][]writeResult // per node of a round
}

// execAggs writes b's aggregate writes to the cluster after its row-level
// ones (exec): one script call per key, whose refresh index shard is in
// the key's slot, one pipeline per master, concurrently, following
// redirections as exec does, and adds the commands to o. An error leaves
// the batch to be written again whole: events already applied are then
// skipped as duplicates.
func (cw *clusterWriter) execAggs(b *batch, o *outcome) error {
	ab := &b.aggs
	if len(ab.writes) == 0 {
		return nil
	}
	ab.results = resize(ab.results, len(ab.writes))
	ca := &cw.aggs
	if ca.loaded == nil {
		ca.loaded = make(map[string]redis.Conn)
	}
	now := time.Now().UnixMilli()
	return cw.c.rounds(&ca.rt, len(ab.writes), func(i int) string { return ab.writes[i].key },
		func(seen uint64, nodes []nodeKeys, again []int) ([]int, error) {
			ca.res = resize(ca.res, len(nodes))
			errs := make([]error, len(nodes))
			ns := make([]*nodeWriter, len(nodes))
			for j, nk := range nodes {
				if ns[j] = cw.nodes[nk.addr]; ns[j] == nil {
					ns[j] = &nodeWriter{addr: nk.addr, cmds: cmdBuilder{script: cw.w.script}}
					cw.nodes[nk.addr] = ns[j]
				}
			}
			loaded := make([]redis.Conn, len(nodes))
			eachNode(len(nodes), func(j int) {
				ca.res[j], loaded[j], errs[j] = cw.aggNode(ns[j], nodes[j], ab, now, ca.res[j])
			})
			for j, nk := range nodes {
				ca.loaded[nk.addr] = loaded[j]
			}
			var replyErr, connErr error
			for j, nk := range nodes {
				if errs[j] != nil {
					connErr = firstErr(connErr, errs[j])
					continue
				}
				for k, i := range nk.idx {
					r := ca.res[j][k]
					switch {
					case r.err != nil:
						replyErr = firstErr(replyErr, fmt.Errorf("aggregations of key %q: %w", ab.writes[i].key, r.err))
					case r.redirect.addr != "":
						ca.rt.routes[i] = r.redirect
						again = append(again, i)
					case r.noScript:
						delete(ca.loaded, nk.addr)
						ca.rt.routes[i] = route{}
						again = append(again, i)
					default:
						o.commands++
					}
				}
			}
			if connErr != nil {
				cw.c.refresh(seen)
				return again, connErr
			}
			return again, replyErr
		})
}

// aggNode sends the script calls of the aggregate writes of nk to its
// node n in one pipeline, on the shard's connection to it, and reads
// their replies into res (one per key; the results into ab.results). It
// returns the connection the script is loaded on, nil when none.
func (cw *clusterWriter) aggNode(n *nodeWriter, nk nodeKeys, ab *aggBatch, now int64, res []writeResult) ([]writeResult, redis.Conn, error) {
	res = resize(res, len(nk.idx))
	loaded, err := cw.aggPipeline(n, nk, ab, now, res)
	if err != nil && n.conn != nil {
		n.drop()
		loaded = nil
	}
	return res, loaded, err
}

func (cw *clusterWriter) aggPipeline(n *nodeWriter, nk nodeKeys, ab *aggBatch, now int64, res []writeResult) (redis.Conn, error) {
	var loaded redis.Conn
	fail := func(what string, err error) (redis.Conn, error) {
		return loaded, fmt.Errorf("redis cluster node %s: %s: %w", n.addr, what, err)
	}
	c, err := n.connect(cw)
	if err != nil {
		return nil, err
	}
	ca := &cw.aggs
	if ca.loaded[n.addr] != c {
		if err := aggScript().Load(c); err != nil {
			return fail("load aggregation script", err)
		}
	}
	loaded = c
	routes := ca.rt.routes
	// Each call has its own buffers: ab's are shared by the nodes.
	var a aggBatch
	a.writes = ab.writes
	for _, i := range nk.idx {
		if routes[i].asking {
			if err := c.Send("ASKING"); err != nil {
				return fail("send", err)
			}
		}
		index := clusterRefreshIndexKey(ab.writes[i].table.agg.name, redisc.Slot(ab.writes[i].key))
		if err := a.send(c, index, now, i, i+1); err != nil {
			return fail("send", err)
		}
	}
	if err := c.Flush(); err != nil {
		return fail("send", err)
	}
	rs := replies{c: c, ctx: cw.w.ctx}
	for k, i := range nk.idx {
		if routes[i].asking {
			if err := rs.asking(); err != nil {
				return fail("read replies", err)
			}
		}
		r, err := rs.next()
		if err != nil {
			if !errors.As(err, new(redis.Error)) {
				return fail("read replies", err)
			}
			switch to, ok := cw.c.redirect(err); {
			case ok && to.asking:
				res[k].err = fmt.Errorf("%w (ASK %s)", errSlotMigrating, to.addr)
			case ok:
				res[k].redirect = to
			case isReply(err, "NOSCRIPT"):
				res[k].noScript = true
			default:
				res[k].err = err
			}
			continue
		}
		if err := aggResults(r, ab.results[i:i+1]); err != nil {
			return fail("read replies", err)
		}
	}
	return loaded, nil
}
