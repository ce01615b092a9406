package plan

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/feathrgo/feathr/config"
	"github.com/feathrgo/feathr/decode"
	"github.com/feathrgo/feathr/record"
	"github.com/feathrgo/feathr/sink"
)

// benchYAML is the seed's DriverTrips materialization.
const benchYAML = `sources:
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

func benchSource(b *testing.B) (*Source, []byte) {
	b.Helper()
	f, err := config.Parse("bench.yaml", []byte(benchYAML), nil)
	if err != nil {
		b.Fatal(err)
	}
	p, err := Compile(f, Options{})
	if err != nil {
		b.Fatal(err)
	}
	msg := binary.AppendVarint(nil, 123456789)
	msg = binary.AppendVarint(msg, 742)
	msg = binary.AppendVarint(msg, time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC).UnixMicro())
	return p.Sources[0], msg
}

// BenchmarkProcess is one DriverTrips record through the seed's three
// features: key, transforms and encoded values of one update.
func BenchmarkProcess(b *testing.B) {
	src, msg := benchSource(b)
	r, err := src.Decoder.Decode(msg)
	if err != nil {
		b.Fatal(err)
	}
	kafkaTime := time.Now()
	var dst []sink.Update
	b.ReportAllocs()
	for b.Loop() {
		var errs []*TargetError
		dst, errs = src.Process(r, kafkaTime, dst[:0])
		if len(errs) > 0 || len(dst) != 1 {
			b.Fatalf("Process = %v, %v", dst, errs)
		}
	}
}

// BenchmarkDecodeProcess is what a partition's goroutine does per record
// before it submits the update: decode (into the previous record), then
// Process.
func BenchmarkDecodeProcess(b *testing.B) {
	src, msg := benchSource(b)
	kafkaTime := time.Now()
	var dst []sink.Update
	var r record.Record
	b.ReportAllocs()
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		var err error
		r, err = decode.Reuse(src.Decoder, msg, r)
		if err != nil {
			b.Fatal(err)
		}
		var errs []*TargetError
		dst, errs = src.Process(r, kafkaTime, dst[:0])
		if len(errs) > 0 || len(dst) != 1 {
			b.Fatalf("Process = %v, %v", dst, errs)
		}
	}
}
