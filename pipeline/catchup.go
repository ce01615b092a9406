package pipeline

import (
	"slices"
	"time"

	"github.com/IBM/sarama"

	"github.com/feathrgo/feathr/config"
)

// catchUp follows, for UntilCaughtUp, the partitions this process reads
// and whether each is written up to its target, the high watermark it had
// when it was assigned. The run ends once every source has its
// assignment and every partition of it is caught up. p.mu guards it.
type catchUp struct {
	joined map[*source]bool         // sources whose assignment is known
	parts  map[sourcePartition]bool // → caught up
}

// sourcePartition is a partition one source reads: two sources may read
// one topic, each in its own group.
type sourcePartition struct {
	src *source
	topicPartition
}

// assigned records the partitions src reads from now on: the claims of a
// new consumer group session, or every partition in a dry run. They
// replace those of its previous session, which may have gone to another
// member, and none is caught up yet.
func (p *Pipeline) assigned(src *source, claims map[string][]int32) {
	if !p.opts.UntilCaughtUp {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.catchUp.joined[src] = true
	for sp := range p.catchUp.parts {
		if sp.src == src {
			delete(p.catchUp.parts, sp)
		}
	}
	for topic, parts := range claims {
		for _, part := range parts {
			p.catchUp.parts[sourcePartition{src, topicPartition{topic, part}}] = false
		}
	}
}

// watchCatchUp arranges for pt's partition to count as caught up once
// every record below its target is written; until then it is not. The
// target is the end of what the partition's consumer can read at
// assignment: the last stable offset with read_committed (a transaction
// still open at the end is not waited for), else the high watermark;
// hwm, the claim's high watermark, stands in when it cannot be read.
// start is the first offset pt reads, or sarama.OffsetNewest or
// OffsetOldest; client resolves the oldest (the log may start above 0,
// after retention).
func (p *Pipeline) watchCatchUp(pt *partition, client sarama.Client, start, hwm int64) {
	if !p.opts.UntilCaughtUp {
		return
	}
	target := hwm
	if client != nil {
		if end, err := readableEnd(client, pt.topic, pt.partition, pt.src.Config.Kafka.Isolation); err == nil {
			target = end
		} else {
			p.log.Warn("reading the last stable offset; waiting for the high watermark instead", "topic", pt.topic, "partition", pt.partition, "err", err)
		}
	}
	switch start {
	case sarama.OffsetNewest:
		start = hwm
	case sarama.OffsetOldest:
		// An empty log starts at the high watermark and is caught up at once.
		start = 0
		if client != nil {
			if oldest, err := client.GetOffset(pt.topic, pt.partition, sarama.OffsetOldest); err == nil {
				start = oldest
			}
		}
	}
	sp := sourcePartition{pt.src, topicPartition{pt.topic, pt.partition}}
	p.mu.Lock()
	p.catchUp.parts[sp] = false // a claim of a cooperative rebalance may be new
	p.mu.Unlock()
	pt.setTarget(start, target, func() { p.partitionCaughtUp(sp) })
}

// partitionCaughtUp marks sp caught up, and ends the run if every
// partition is.
func (p *Pipeline) partitionCaughtUp(sp sourcePartition) {
	p.mu.Lock()
	if _, ok := p.catchUp.parts[sp]; ok {
		p.catchUp.parts[sp] = true
	}
	p.mu.Unlock()
	p.checkCaughtUp()
}

// revoked forgets a partition that a cooperative rebalance took away
// while the session goes on: the others may now all be caught up. (When
// a session ends, the next one's assignment replaces its partitions.)
func (p *Pipeline) revoked(pt *partition) {
	if !p.opts.UntilCaughtUp {
		return
	}
	p.mu.Lock()
	delete(p.catchUp.parts, sourcePartition{pt.src, topicPartition{pt.topic, pt.partition}})
	p.mu.Unlock()
	p.checkCaughtUp()
}

// checkCaughtUp ends the run if every source has its assignment and every
// partition of it is caught up.
func (p *Pipeline) checkCaughtUp() {
	p.mu.Lock()
	all := len(p.catchUp.joined) >= len(p.sources)
	for _, done := range p.catchUp.parts {
		all = all && done
	}
	p.mu.Unlock()
	if all && !p.caughtUp.Swap(true) {
		p.log.Info("caught up: every assigned partition is written up to its high watermark")
		p.stop(errCaughtUp)
	}
}

// idleCaughtUp is how long a partition must get no message, every record
// it consumed written, before checkIdle asks the broker whether anything
// is left to read below its target.
const idleCaughtUp = time.Second

// idleTicker returns the ticker of checkIdle: every quarter second with
// until-caught-up, else never.
func (pt *partition) idleTicker() *time.Ticker {
	if !pt.p.opts.UntilCaughtUp {
		return time.NewTicker(24 * time.Hour)
	}
	return time.NewTicker(idleCaughtUp / 4)
}

// checkIdle counts the partition caught up when it is short of its
// target, got no message for idleCaughtUp with every record it consumed
// written, and a fetch of the offsets left finds no record a consumer
// receives: only transaction markers, records of aborted transactions
// (read_committed), or offsets compaction removed. Otherwise the target
// would never be reached. A partition merely starved of fetches (its
// records wait behind another partition's full buffer) is not: the fetch
// finds its records.
func (pt *partition) checkIdle() {
	now := time.Now()
	if pt.handled != pt.handledSeen {
		// Messages came since the last tick: count the last one as now
		// (idle is then seen up to a tick late), so that the clock is
		// read per tick, not per message.
		pt.handledSeen, pt.lastMessage = pt.handled, now
		return
	}
	if pt.client == nil || now.Sub(pt.lastMessage) < idleCaughtUp || now.Sub(pt.lastProbe) < idleCaughtUp {
		return
	}
	from, target, ok := pt.short()
	if !ok {
		return
	}
	pt.lastProbe = now
	data, err := recordsBetween(pt.client, pt.topic, pt.partition, from, target, pt.src.Config.Kafka.Isolation)
	if err != nil {
		pt.p.log.Debug("probing the end of a partition", "topic", pt.topic, "partition", pt.partition, "err", err)
		return
	}
	if !data {
		pt.doneIfAt(from)
	}
}

// recordsBetween reports whether the partition holds, at offsets in
// [from, to), a record a consumer of isolation receives: a data record
// not of an aborted transaction (with read_committed).
func recordsBetween(client sarama.Client, topic string, partition int32, from, to int64, isolation config.Isolation) (bool, error) {
	broker, err := client.Leader(topic, partition)
	if err != nil {
		return false, err
	}
	for range 16 { // each round reads up to 1 MiB of the tail
		req := &sarama.FetchRequest{Version: 10, MaxWaitTime: 0, MinBytes: 1, MaxBytes: 1 << 20, Isolation: sarama.ReadUncommitted}
		if isolation != config.ReadUncommitted {
			req.Isolation = sarama.ReadCommitted
		}
		req.AddBlock(topic, partition, from, 1<<20, -1)
		resp, err := broker.Fetch(req)
		if err != nil {
			return false, err
		}
		b := resp.GetBlock(topic, partition)
		if b == nil {
			return false, sarama.ErrIncompleteResponse
		}
		if b.Err != sarama.ErrNoError {
			return false, b.Err
		}
		next := from
		abort := abortedTxns{list: b.AbortedTransactions}
		for _, rs := range b.RecordsSet {
			rb := rs.RecordBatch
			if rb == nil {
				if rs.MsgSet != nil {
					for _, m := range rs.MsgSet.Messages {
						if m.Offset >= from && m.Offset < to {
							return true, nil
						}
						next = max(next, m.Offset+1)
					}
				}
				continue
			}
			next = max(next, rb.FirstOffset+int64(rb.LastOffsetDelta)+1)
			if skip := abort.skips(rb); rb.Control || req.Isolation == sarama.ReadCommitted && skip {
				continue
			}
			for _, r := range rb.Records {
				if off := rb.FirstOffset + r.OffsetDelta; off >= from && off < to {
					return true, nil
				}
			}
		}
		if next == from || next >= to {
			return false, nil
		}
		from = next
	}
	return true, nil // a long tail: assume something is left
}

// abortedTxns tells, batch after batch in offset order, which batches
// belong to a transaction the broker lists as aborted, as a read_committed
// consumer does: a producer's transaction is aborted from its first
// offset until that producer's next control batch (its abort marker).
type abortedTxns struct {
	list   []*sarama.AbortedTransaction
	active map[int64]bool // producers inside an aborted transaction
}

// skips reports whether rb is a batch of an aborted transaction.
func (a *abortedTxns) skips(rb *sarama.RecordBatch) bool {
	for _, t := range a.list {
		if t.FirstOffset <= rb.FirstOffset {
			if a.active == nil {
				a.active = map[int64]bool{}
			}
			a.active[t.ProducerID] = true
		}
	}
	a.list = slices.DeleteFunc(a.list, func(t *sarama.AbortedTransaction) bool { return t.FirstOffset <= rb.FirstOffset })
	if rb.Control {
		delete(a.active, rb.ProducerID)
		return false
	}
	return rb.IsTransactional && a.active[rb.ProducerID]
}
