package cmd

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/linkedin/goavro/v2"
	"github.com/twmb/franz-go/pkg/kgo"
)

// driverTripsSchema is the seed's DriverTrips schema.
const driverTripsSchema = `{"type": "record", "name": "DriverTrips", "fields": [
  {"name": "driver_id", "type": "long"},
  {"name": "trips_today", "type": "int"},
  {"name": "datetime", "type": {"type": "long", "logicalType": "timestamp-micros"}}]}`

// trip is one DriverTrips event.
type trip struct {
	driver int64
	trips  int32
	at     time.Time
}

// runCmd runs feathr with args and returns its exit code, stdout and stderr.
func runCmd(t *testing.T, ctx context.Context, stdin string, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	s := IOStreams{
		In: strings.NewReader(stdin), Out: &out, ErrOut: &errOut,
		LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok },
	}
	code := Run(ctx, args, s)
	return code, out.String(), errOut.String()
}

// writeFile writes content to name in a temp dir and returns its path.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// produceTrips writes DriverTrips events, plain Avro binary as Feathr's
// producer does, to topic with franz-go (feathr itself consumes with Sarama).
func produceTrips(t *testing.T, brokers, topic string, trips []trip) {
	t.Helper()
	codec, err := goavro.NewCodec(driverTripsSchema)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers), kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var recs []*kgo.Record
	for _, tr := range trips {
		b, err := codec.BinaryFromNative(nil, map[string]any{"driver_id": tr.driver, "trips_today": tr.trips, "datetime": tr.at})
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, &kgo.Record{Key: strconv.AppendInt(nil, tr.driver, 10), Value: b})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
}

// decodeJSON decodes s into v, failing the test on error.
func decodeJSON(t *testing.T, s string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(s), v); err != nil {
		t.Fatalf("bad JSON %q: %v", s, err)
	}
}
