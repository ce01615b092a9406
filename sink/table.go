package sink

import "github.com/feathrgo/feathr/config"

// NewTable returns the table a materialization writes, as its Redis sink
// in the file describes it: the hidden event-time field is the
// materialization's (see TimeField).
func NewTable(materialization string, s config.RedisSink) *Table {
	t := &Table{Name: s.Table, TTL: s.TTL, Ordering: EventTime, TimeField: TimeField(materialization)}
	if s.Ordering == config.OrderArrival {
		t.Ordering = Arrival
	}
	return t
}
