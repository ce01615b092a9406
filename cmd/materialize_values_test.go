package cmd

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/feathrgo/feathr/internal/testenv"
)

// cityTripsSchema has a composite key, driver and city.
const cityTripsSchema = `{"type": "record", "name": "CityTrips", "fields": [
  {"name": "driver_id", "type": "long"},
  {"name": "city", "type": "string"},
  {"name": "trips", "type": "int"}]}`

func TestMaterializeCompositeKey(t *testing.T) {
	t.Parallel()
	redisAddr := testenv.Redis(t)
	topic := testenv.TopicName(t)
	brokers := testenv.KFake(t, 1, topic)
	cfg := writeFile(t, "f.yaml", fmt.Sprintf(`sources:
  s:
    kafka: {brokers: [%q], topics: [%q], group: g-%s}
    schema: '%s'
keys:
  driver_id: {column: driver_id, type: INT64}
  city: {column: city, type: STRING}
anchors:
  a:
    source: s
    key: [driver_id, city]
    features:
      trips: {type: INT32}
online_store:
  redis: {addr: %q}
materializations:
  m:
    sink: {redis: {table: table}}
    features: [trips]
`, brokers, topic, topic, strings.ReplaceAll(cityTripsSchema, "\n", ""), redisAddr))
	cl := producer(t, brokers)
	produce(t, cl,
		&kgo.Record{Topic: topic, Value: avroBytes(t, cityTripsSchema, map[string]any{"driver_id": int64(7), "city": "Seattle", "trips": int32(4)})},
		&kgo.Record{Topic: topic, Value: avroBytes(t, cityTripsSchema, map[string]any{"driver_id": int64(7), "city": "Oslo", "trips": int32(9)})},
	)
	mustMaterialize(t, "-f", cfg, "--start", "earliest", "--until-caught-up")

	c := redisConn(t, redisAddr)
	if got := readValue(t, c, "table:7#Seattle", "trips"); got != int32(4) {
		t.Errorf("table:7#Seattle trips = %v, want 4", got)
	}
	if n := dbSize(t, c); n != 2 {
		t.Errorf("DBSIZE = %d, want 2", n)
	}
	code, out, errOut := runCmd(t, context.Background(), "", nil, "get", "-f", cfg, "table", "7#Seattle", "trips")
	if code != ExitOK || out != `{"trips":4}`+"\n" {
		t.Errorf("get: exit %d, %q %s; want {\"trips\":4}", code, out, errOut)
	}
	code, out, errOut = runCmd(t, context.Background(), "", nil, "multi-get", "-f", cfg, "table", "7#Oslo,7#Seattle,8#Oslo", "trips")
	if want := `{"7#Oslo":{"trips":9},"7#Seattle":{"trips":4},"8#Oslo":{"trips":null}}` + "\n"; code != ExitOK || out != want {
		t.Errorf("multi-get: exit %d, %q %s; want %q", code, out, errOut, want)
	}
}

// allTypesSchema has a field of each Avro primitive type.
const allTypesSchema = `{"type": "record", "name": "All", "fields": [
  {"name": "id", "type": "string"},
  {"name": "i", "type": "int"},
  {"name": "l", "type": "long"},
  {"name": "f", "type": "float"},
  {"name": "d", "type": "double"},
  {"name": "b", "type": "boolean"},
  {"name": "s", "type": "string"}]}`

func TestMaterializeEveryFeatureType(t *testing.T) {
	t.Parallel()
	redisAddr := testenv.Redis(t)
	topic := testenv.TopicName(t)
	brokers := testenv.KFake(t, 1, topic)
	features := []struct {
		name, typ, transform string
		stored               any    // as sink.DecodeValue returns it from Redis
		json                 string // as get prints it
	}{
		{"f_int32", "INT32", "i + 1", int32(-4), `-4`},
		{"f_int64", "INT64", "l * 2", int64(10_000_000_000), `10000000000`},
		{"f_float", "FLOAT", "f", float32(1.5), `1.5`},
		{"f_double", "DOUBLE", "d / 4.0", 0.625, `0.625`},
		{"f_bool", "BOOLEAN", "b && i < 0", true, `true`},
		{"f_string", "STRING", "upper(s)", "HÉLLO", `"HÉLLO"`},
		{"f_cast", "INT32", "d * 10.0", int32(25), `25`}, // cast to the declared type, toward zero
		{"f_double_vec", "DOUBLE_VECTOR", "[d, d * 2.0]", []float64{2.5, 5}, `[2.5,5]`},
		{"f_float_vec", "FLOAT_VECTOR", "[f, 0.25]", []float32{1.5, 0.25}, `[1.5,0.25]`},
		{"f_int_vec", "INT32_VECTOR", "[i, 7]", []int32{-5, 7}, `[-5,7]`},
		{"f_long_vec", "INT64_VECTOR", "[l, 1]", []int64{5_000_000_000, 1}, `[5000000000,1]`},
	}
	var defs, names []string
	for _, f := range features {
		defs = append(defs, fmt.Sprintf("      %s: {type: %s, transform: %q}", f.name, f.typ, f.transform))
		names = append(names, f.name)
	}
	cfg := writeFile(t, "f.yaml", fmt.Sprintf(`sources:
  s:
    kafka: {brokers: [%q], topics: [%q], group: g-%s}
    schema: '%s'
keys:
  id: {column: id, type: STRING}
anchors:
  a:
    source: s
    key: [id]
    features:
%s
online_store:
  redis: {addr: %q}
materializations:
  m:
    sink: {redis: {table: all}}
    features: [%s]
`, brokers, topic, topic, strings.ReplaceAll(allTypesSchema, "\n", ""), strings.Join(defs, "\n"), redisAddr, strings.Join(names, ", ")))
	cl := producer(t, brokers)
	produce(t, cl, &kgo.Record{Topic: topic, Value: avroBytes(t, allTypesSchema, map[string]any{
		"id": "e1", "i": int32(-5), "l": int64(5_000_000_000), "f": float32(1.5), "d": 2.5, "b": true, "s": "héllo",
	})})
	if sum := mustMaterialize(t, "-f", cfg, "--start", "earliest", "--until-caught-up"); sum.Written != 1 || sum.Errors != 0 {
		t.Fatalf("summary %+v, want 1 written", sum)
	}

	c := redisConn(t, redisAddr)
	var want strings.Builder
	want.WriteByte('{')
	for i, f := range features {
		if got := readValue(t, c, "all:e1", f.name); fmt.Sprintf("%T %v", got, got) != fmt.Sprintf("%T %v", f.stored, f.stored) {
			t.Errorf("%s in Redis = %T %v, want %T %v", f.name, got, got, f.stored, f.stored)
		}
		if i > 0 {
			want.WriteByte(',')
		}
		fmt.Fprintf(&want, "%q:%s", f.name, f.json)
	}
	want.WriteString("}\n")
	code, out, errOut := runCmd(t, context.Background(), "", nil, "get", "-f", cfg, "all", "e1", strings.Join(names, ","))
	if code != ExitOK || out != want.String() {
		t.Errorf("get: exit %d, stderr %s\n got %s\nwant %s", code, errOut, out, want.String())
	}
}
