package e2e

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/feathrgo/feathr/internal/testenv"
)

// The helpers the end-to-end tests share: the test events, files, JSON
// forms and comparisons, and the offsets a group committed. Running feathr
// is in feathr_test.go, the peer clients in peers_test.go.

// python is Debian's interpreter, which has Debian's python3-* packages;
// a pyenv or virtualenv python3 first on PATH would not.
const python = "/usr/bin/python3"

// runTimeout bounds one foreground run of feathr or of a peer.
const runTimeout = 2 * time.Minute

// driverTripsSchema is the seed's DriverTrips schema.
const driverTripsSchema = `{"type": "record", "name": "DriverTrips", "fields": [
  {"name": "driver_id", "type": "long"},
  {"name": "trips_today", "type": "int"},
  {"name": "datetime", "type": {"type": "long", "logicalType": "timestamp-micros"}}]}`

// baseMicros is the event time of the first test event, in microseconds
// since the epoch (2026-11-26T12:00:00Z).
var baseMicros = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC).UnixMicro()

// trip is one DriverTrips event, in the JSON form produce.py reads.
type trip struct {
	DriverID   int64 `json:"driver_id"`
	TripsToday int32 `json:"trips_today"`
	Datetime   int64 `json:"datetime"` // microseconds since the epoch
}

// makeTrips returns n DriverTrips events for drivers 1..drivers, event i
// belonging to driver i%drivers+1 and happening i seconds after start (in
// microseconds), with varied trip counts.
func makeTrips(n, drivers int, start int64) []trip {
	trips := make([]trip, n)
	for i := range trips {
		trips[i] = trip{
			DriverID:   int64(i%drivers + 1),
			TripsToday: int32((i*7 + 3) % 23),
			Datetime:   start + int64(i)*int64(time.Second/time.Microsecond),
		}
	}
	return trips
}

// newestTrips returns each driver's event with the latest event time.
func newestTrips(trips []trip) map[int64]trip {
	m := map[int64]trip{}
	for _, tr := range trips {
		if old, ok := m[tr.DriverID]; !ok || tr.Datetime > old.Datetime {
			m[tr.DriverID] = tr
		}
	}
	return m
}

// writeFile writes content to name in a temporary directory of the test
// and returns its path.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// writeEvents writes events as JSON lines and returns the file's path.
func writeEvents[E any](t *testing.T, events []E) string {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	for _, e := range events {
		if err := enc.Encode(e); err != nil {
			t.Fatal(err)
		}
	}
	return writeFile(t, "events.jsonl", b.String())
}

// decodeJSON decodes s into v, failing the test on error.
func decodeJSON(t *testing.T, s string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(s), v); err != nil {
		t.Fatalf("bad JSON %q: %v", s, err)
	}
}

// jsonForm returns v as it reads back from JSON (numbers as float64,
// slices as []any), so that it compares with decoded output.
func jsonForm(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	decodeJSON(t, string(b), &out)
	return out
}

// checkEqual fails the test unless got and want are deeply equal in their
// JSON forms.
func checkEqual(t *testing.T, what string, got, want any) {
	t.Helper()
	if g, w := jsonForm(t, got), jsonForm(t, want); !reflect.DeepEqual(g, w) {
		gb, _ := json.Marshal(g)
		wb, _ := json.Marshal(w)
		t.Errorf("%s:\n got %s\nwant %s", what, gb, wb)
	}
}

// committedOffsets returns the offsets group committed for the partitions
// 0..partitions-1 of topic (-1 where it committed none).
func committedOffsets(t *testing.T, brokers, group, topic string, partitions int) map[int32]int64 {
	t.Helper()
	admin, err := sarama.NewClusterAdmin(strings.Split(brokers, ","), testenv.SaramaConfig())
	if err != nil {
		t.Fatalf("admin: %v", err)
	}
	defer admin.Close()
	ps := make([]int32, partitions)
	for i := range ps {
		ps[i] = int32(i)
	}
	resp, err := admin.ListConsumerGroupOffsets(group, map[string][]int32{topic: ps})
	if err != nil {
		t.Fatalf("list offsets of group %s: %v", group, err)
	}
	if resp.Err != sarama.ErrNoError {
		t.Fatalf("list offsets of group %s: %v", group, resp.Err)
	}
	out := map[int32]int64{}
	for _, p := range ps {
		b := resp.GetBlock(topic, p)
		if b == nil {
			t.Fatalf("group %s: no offset block for %s/%d", group, topic, p)
		}
		if b.Err != sarama.ErrNoError {
			t.Fatalf("group %s: %s/%d: %v", group, topic, p, b.Err)
		}
		out[p] = b.Offset
	}
	return out
}

// highWatermarks returns the high watermark (the next offset to be
// written) of each partition 0..partitions-1 of topic.
func highWatermarks(t *testing.T, brokers, topic string, partitions int) map[int32]int64 {
	t.Helper()
	client, err := sarama.NewClient(strings.Split(brokers, ","), testenv.SaramaConfig())
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	defer client.Close()
	out := map[int32]int64{}
	for p := range int32(partitions) {
		off, err := client.GetOffset(topic, p, sarama.OffsetNewest)
		if err != nil {
			t.Fatalf("high watermark of %s/%d: %v", topic, p, err)
		}
		out[p] = off
	}
	return out
}

// checkCommittedAtEnd fails the test unless topic holds total records and
// group committed exactly the high watermark of each of its partitions (or
// nothing, for a partition that holds no record).
func checkCommittedAtEnd(t *testing.T, brokers, group, topic string, partitions int, total int64) {
	t.Helper()
	hw := highWatermarks(t, brokers, topic, partitions)
	var sum int64
	for _, o := range hw {
		sum += o
	}
	if sum != total {
		t.Fatalf("topic %s holds %d records (%v), want %d", topic, sum, hw, total)
	}
	got := committedOffsets(t, brokers, group, topic, partitions)
	for p, o := range got {
		if o == -1 && hw[p] == 0 {
			got[p] = 0 // an empty partition: nothing to commit
		}
	}
	if !reflect.DeepEqual(got, hw) {
		t.Errorf("group %s committed %v, want the high watermarks %v", group, got, hw)
	}
}
