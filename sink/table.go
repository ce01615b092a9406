package sink

import (
	"slices"

	"github.com/feathrgo/feathr/config"
)

// NewTable returns the table a materialization writes, as its Redis sink
// in the file describes it: the hidden event-time field is the
// materialization's (see HiddenTimeField), features are its row-level
// features (see Table.Features), and aggs its aggregated features, in the
// order of an AggEvent's inputs (none: a table of row-level features
// only). An error is a broken aggregation (a NUL byte in the name, a
// repeated feature, a Spec or type that package window rejects).
func NewTable(materialization string, s config.RedisSink, features []string, aggs ...AggFeature) (*Table, error) {
	t := &Table{Name: s.Table, TTL: s.TTL, Ordering: s.Ordering, HiddenTimeField: HiddenTimeField(materialization), Features: slices.Clone(features)}
	if len(aggs) > 0 {
		am, err := newAggMaterialization(materialization, aggs)
		if err != nil {
			return nil, err
		}
		t.agg = am
	}
	return t, nil
}

// Aggregations returns the table's aggregated features, in the order of
// an AggEvent's inputs; nil when it has none.
func (t *Table) Aggregations() []AggFeature {
	if t.agg == nil {
		return nil
	}
	return t.agg.features
}

// WriterOptionsFor returns the options of one writer for materializations
// with these sinks: the smallest batch size and flush interval asked for
// win. Other options keep their defaults.
func WriterOptionsFor(sinks ...config.RedisSink) WriterOptions {
	var o WriterOptions
	for _, s := range sinks {
		if s.BatchSize > 0 && (o.BatchSize == 0 || s.BatchSize < o.BatchSize) {
			o.BatchSize = s.BatchSize
		}
		if s.FlushInterval > 0 && (o.FlushInterval == 0 || s.FlushInterval < o.FlushInterval) {
			o.FlushInterval = s.FlushInterval
		}
	}
	return o
}
