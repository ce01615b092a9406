package pipeline

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/feathrgo/feathr/sink"
)

// processBenchYAML is the seed's DriverTrips materialization, for the record path alone.
const processBenchYAML = `sources:
  trips:
    kafka: {brokers: ["localhost:9092"], topics: [trips]}
    format: avro
    schema: |
      {"type": "record", "name": "DriverTrips", "fields": [
        {"name": "driver_id", "type": "long"},
        {"name": "trips_today", "type": "int"},
        {"name": "datetime", "type": {"type": "long", "logicalType": "timestamp-micros"}}]}
    timestamp: datetime
keys:
  driver_id: {column: driver_id, type: INT64}
anchors:
  a:
    source: trips
    key: [driver_id]
    features:
      f_modified_streaming_count:  {type: INT32, transform: "trips_today + 1"}
      f_modified_streaming_count2: {type: INT32, transform: "trips_today + randn() * cos(trips_today)"}
      f_busy: {type: BOOLEAN, transform: "trips_today > 10"}
materializations:
  m:
    sink: {redis: {table: t}}
    features: [f_modified_streaming_count, f_modified_streaming_count2, f_busy]
`

// benchPath returns a record path of processBenchYAML's source and one of its
// messages.
func benchPath(b *testing.B) (*recordPath, []byte) {
	b.Helper()
	src := compileSource(b, processBenchYAML, 0)
	msg := binary.AppendVarint(nil, 123456789)
	msg = binary.AppendVarint(msg, 742)
	msg = binary.AppendVarint(msg, time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC).UnixMicro())
	return &recordPath{src: src}, msg
}

// BenchmarkProcess is one DriverTrips record through the seed's three
// features: key, transforms and encoded values of one update.
func BenchmarkProcess(b *testing.B) {
	rp, msg := benchPath(b)
	r, err := rp.src.Decoder.Decode(msg)
	if err != nil {
		b.Fatal(err)
	}
	kafkaTime := time.Now()
	var dst []sink.Update
	b.ReportAllocs()
	for b.Loop() {
		var errs []*evalError
		dst, errs = rp.evaluate(r, kafkaTime, dst[:0])
		if len(errs) > 0 || len(dst) != 1 {
			b.Fatalf("evaluate = %v, %v", dst, errs)
		}
	}
}

// BenchmarkDecodeProcess is what a partition's goroutine does per record
// before it submits the update: the record path, decoding into the
// previous record's memory.
func BenchmarkDecodeProcess(b *testing.B) {
	rp, msg := benchPath(b)
	kafkaTime := time.Now()
	var dst []sink.Update
	b.ReportAllocs()
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		var errs []*evalError
		dst, errs = rp.process(msg, kafkaTime, dst[:0])
		if len(errs) > 0 || len(dst) != 1 {
			b.Fatalf("process = %v, %v", dst, errs)
		}
	}
}
