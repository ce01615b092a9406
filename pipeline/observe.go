package pipeline

import (
	"slices"
	"sort"

	"github.com/feathrgo/feathr/sink"
)

// SourceStats are the counters of one source, safe to read while it runs.
type SourceStats struct {
	Source       string
	Read         int64 // records consumed
	DecodeErrors int64 // records that could not be decoded
	// EventTimeErrors are records whose event time was further ahead of
	// the clock than the source's max_future_skew.
	EventTimeErrors int64
	// RegistryRetries are decodes repeated because the schema registry
	// was unavailable: the record waited, it was not skipped.
	RegistryRetries int64
	// OffsetResets are partitions whose committed offset was out of the
	// log's range at assignment; RetentionSkipped the records between the
	// commit and where they started, never read.
	OffsetResets, RetentionSkipped int64
	Rebalances                     int64 // consumer group assignments this process received
	// Materializations are the counters of the materializations the
	// source feeds, in plan order.
	Materializations []MaterializationStats
}

// MaterializationStats count what became of a source's records in one
// materialization. Every record read from the source is an input of each
// of its materializations; a record that could not be decoded (or whose
// event time is too far ahead) is skipped or dead-lettered in each of them.
type MaterializationStats struct {
	Materialization string
	Written         int64 // records whose update Redis acknowledged
	Skipped         int64 // bad records skipped
	DeadLettered    int64 // bad records sent to the dead-letter topic
	KeyErrors       int64 // records whose entity key could not be built
	FeatureErrors   int64 // records with a feature that failed to evaluate or convert
	// LateDropped are events older than an aggregated feature's window
	// and allowed lateness by the wall clock: not sent for it.
	LateDropped int64
}

// PartitionStats describe one partition this process consumes now.
type PartitionStats struct {
	Source    string
	Topic     string
	Partition int32
	Lag       int64 // records not consumed yet: high watermark minus position
}

// SourceStats returns the counters of each source, in plan order.
func (p *Pipeline) SourceStats() []SourceStats {
	out := make([]SourceStats, len(p.sources))
	for i, c := range p.sources {
		s := SourceStats{Source: c.Config.Name, Read: c.read.Load(), DecodeErrors: c.decodeErrs.Load(),
			EventTimeErrors: c.timeErrs.Load(), RegistryRetries: c.registryRetries.Load(), Rebalances: c.rebals.Load(),
			OffsetResets: c.offsetResets.Load(), RetentionSkipped: c.retentionSkipped.Load()}
		for _, t := range c.targets {
			s.Materializations = append(s.Materializations, MaterializationStats{
				Materialization: t.name,
				Written:         t.written.Load(),
				Skipped:         t.skipped.Load(),
				DeadLettered:    t.dead.Load(),
				KeyErrors:       t.keyErrs.Load(),
				FeatureErrors:   t.fnErrs.Load(),
				LateDropped:     t.late.Load(),
			})
		}
		out[i] = s
	}
	return out
}

// Partitions returns the partitions this process consumes now, sorted.
func (p *Pipeline) Partitions() []PartitionStats {
	p.mu.Lock()
	out := make([]PartitionStats, 0, len(p.partitions))
	for pt := range p.partitions {
		out = append(out, PartitionStats{Source: pt.src.Config.Name, Topic: pt.topic, Partition: pt.partition, Lag: pt.lag()})
	}
	p.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Source != b.Source {
			return a.Source < b.Source
		}
		if a.Topic != b.Topic {
			return a.Topic < b.Topic
		}
		return a.Partition < b.Partition
	})
	return out
}

// Assigned reports whether every source has joined its consumer group
// and holds an assignment (possibly empty: more processes than partitions).
func (p *Pipeline) Assigned() bool {
	if len(p.sources) == 0 {
		return false
	}
	for _, c := range p.sources {
		if c.sessions.Load() <= 0 {
			return false
		}
	}
	return true
}

// Tables returns the tables the run writes, one per materialization, in
// plan order.
func (p *Pipeline) Tables() []*sink.Table {
	var out []*sink.Table
	for _, s := range p.sources {
		for _, t := range s.targets {
			if !slices.Contains(out, t.table) {
				out = append(out, t.table)
			}
		}
	}
	return out
}
