package sink

import (
	"context"
	"strconv"
	"testing"

	"github.com/gomodule/redigo/redis"
)

// benchFeatures are the features of the Feathr streaming example, which
// BenchmarkReaderGet stores for every key.
var benchFeatures = []string{"f_modified_streaming_count", "f_modified_streaming_count2", "f_trips_today_is_busy", "f_trips_today_ratio"}

// fillReadBench writes n keys 1..n of table "bench" with the four
// example features, pipelined, and returns the keys.
func fillReadBench(b *testing.B, e *env, n int) []string {
	c, err := redis.Dial("tcp", e.srv.Addr())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	keys := make([]string, n)
	for i := range n {
		keys[i] = strconv.Itoa(i + 1)
		err := c.Send("HSET", Key("bench", keys[i]),
			benchFeatures[0], val(b, int32(i+1)), benchFeatures[1], val(b, int32(3*i)),
			benchFeatures[2], val(b, i%3 == 0), benchFeatures[3], val(b, float64(i)/24))
		if err != nil {
			b.Fatal(err)
		}
	}
	if err := c.Flush(); err != nil {
		b.Fatal(err)
	}
	for range n {
		if _, err := c.Receive(); err != nil {
			b.Fatal(err)
		}
	}
	return keys
}

// BenchmarkReaderGet reads the four features of 10,000 keys (and of one
// key) from a real redis-server, as feathr multi-get (get) does.
func BenchmarkReaderGet(b *testing.B) {
	e := newEnv(b)
	keys := fillReadBench(b, e, 10_000)
	r := e.store.NewReader()
	for _, n := range []int{1, 10_000} {
		b.Run(strconv.Itoa(n)+"keys", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				rows, err := r.Get(context.Background(), "bench", keys[:n], benchFeatures)
				if err != nil {
					b.Fatal(err)
				}
				if rows[n-1][0] != int32(n) {
					b.Fatalf("key %d = %v", n, rows[n-1])
				}
			}
		})
	}
}

// BenchmarkDecodeValue decodes a stored scalar and a stored array.
func BenchmarkDecodeValue(b *testing.B) {
	for _, c := range []struct {
		name string
		v    any
	}{{"int32", int32(123456)}, {"float64", 0.3}, {"string", "driver-42"}, {"float32s", []float32{1, 2, 3, 4}}} {
		enc := val(b, c.v)
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := DecodeValue(enc); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
