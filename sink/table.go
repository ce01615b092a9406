package sink

import (
	"slices"

	"github.com/feathrgo/feathr/config"
)

// NewTable returns the table a materialization writes, as its Redis sink
// in the file describes it: the hidden event-time field is the
// materialization's (see HiddenTimeField), and features are its features (see
// Table.Features).
func NewTable(materialization string, s config.RedisSink, features ...string) *Table {
	return &Table{Name: s.Table, TTL: s.TTL, Ordering: s.Ordering, HiddenTimeField: HiddenTimeField(materialization), Features: slices.Clone(features)}
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
