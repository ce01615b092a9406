package transform

import (
	"testing"
	"time"

	"github.com/feathrgo/feathr/feature"
	"github.com/feathrgo/feathr/record"
)

func benchEnv(b *testing.B) *Env {
	b.Helper()
	e, err := NewEnv(driverTrips)
	if err != nil {
		b.Fatal(err)
	}
	return e
}

func BenchmarkEval(b *testing.B) {
	e := benchEnv(b)
	r := record.Record{
		"driver_id": int64(1001), "trips_today": int64(1234), "datetime": time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC),
		"trip_distance": 31.5, "city": "Seattle", "fare": nil, "rating": 4.5, "tags": []any{"a", "b"},
	}
	small := record.Record{"trips_today": int64(7)} // Go boxes ints below 256 without allocating
	cases := []struct {
		name, expr string
		out        feature.Type
	}{
		{"plus1_small", "trips_today + 1", feature.Int32},
		{"field", "trips_today", feature.Int64},
		{"field_int32", "trips_today", feature.Int32},
		{"plus1", "trips_today + 1", feature.Int32},
		{"plus1_int64", "trips_today + 1", feature.Int64},
		{"randn", "trips_today + randn() * cos(trips_today)", feature.Int32},
		{"compare", "cast_float(trip_distance) > 30", feature.Boolean},
		{"dayofweek", "dayofweek(datetime)", feature.Int32},
		{"null", "fare + 1", feature.Double},
		{"if_else", "if_else(trip_distance > 30 && city == 'Seattle', 1, 0)", feature.Int32},
		{"date_format", "date_format(datetime, 'yyyy-MM-dd')", feature.String},
	}
	for _, c := range cases {
		p, err := e.Compile(c.expr, c.out)
		if err != nil {
			b.Fatalf("%s: %v", c.expr, err)
		}
		rec := r
		if c.name == "plus1_small" {
			rec = small
		}
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := p.Eval(rec); err != nil {
					b.Fatal(err)
				}
			}
		})
		if p.fast == nil {
			continue
		}
		// The same expression on the interpreter, which it skips.
		b.Run(c.name+"_cel", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := p.evalCEL(rec); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
