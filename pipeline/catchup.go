package pipeline

import (
	"github.com/IBM/sarama"
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
