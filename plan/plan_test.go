package plan

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/feathrgo/feathr/config"
	"github.com/feathrgo/feathr/feature"
	"github.com/feathrgo/feathr/record"
	"github.com/feathrgo/feathr/sink"
)

// baseYAML is a valid file. The line numbers in the comments on the right
// are what the error cases of TestCompileErrors point at; the cases edit
// one line each, so the others keep their numbers.
const baseYAML = `sources:
  trips:
    kafka: {brokers: ["localhost:9092"], topics: [trips]}
    schema: |
      {"type": "record", "name": "T", "fields": [
        {"name": "driver_id", "type": "long"},
        {"name": "city", "type": "string"},
        {"name": "n", "type": "int"},
        {"name": "ts", "type": {"type": "long", "logicalType": "timestamp-millis"}}]}
    timestamp: ts
keys:
  driver: {column: driver_id, type: INT64}
  city: {column: city, type: STRING}
anchors:
  a:
    source: trips
    key: [driver]
    features:
      f_n: {type: INT32, transform: "n + 1"}
      f_city: {type: STRING, transform: "upper(city)"}
      f_block:
        type: INT64
        transform: |
          n +
            driver_id
materializations:
  m:
    sink: {redis: {table: t}}
    features: [f_n, f_city, f_block]
`

// Lines of baseYAML:
//
//	 5  {"type": "record", "name": "T", "fields": [   (schema line 1, column 7)
//	 6  {"name": "driver_id", ...                     (schema line 2)
//	10  timestamp: ts
//	12  driver: {column: driver_id, type: INT64}
//	19  f_n: {type: INT32, transform: "n + 1"}         (expression at column 38)
//	20  f_city: {type: STRING, transform: "upper(city)"} (expression at column 42)
//	24  n +                                            (block, column 11)
//	25    driver_id

// edit returns baseYAML with the first old replaced by new; it fails the
// test if old is not in it.
func edit(t *testing.T, old, new string) string {
	t.Helper()
	if !strings.Contains(baseYAML, old) {
		t.Fatalf("baseYAML has no %q", old)
	}
	return strings.Replace(baseYAML, old, new, 1)
}

// compileErrs parses and compiles src as validate does and returns the
// problems of both stages, sorted.
func compileErrs(t *testing.T, src string, opts Options) (*Plan, config.Errors) {
	t.Helper()
	f, err := config.Parse("f.yaml", []byte(src), func(string) (string, bool) { return "", false })
	var errs config.Errors
	if err != nil && !errors.As(err, &errs) {
		t.Fatalf("Parse: %v", err)
	}
	p, err := Compile(f, opts)
	if err != nil {
		var perrs config.Errors
		if !errors.As(err, &perrs) {
			t.Fatalf("Compile error is %T, not config.Errors: %v", err, err)
		}
		errs = append(errs, perrs...)
	}
	errs.Sort()
	return p, errs
}

func TestCompileBaseIsValid(t *testing.T) {
	if _, errs := compileErrs(t, baseYAML, Options{}); len(errs) > 0 {
		t.Fatalf("baseYAML has problems:\n%v", errs)
	}
}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		name     string
		old, new string // the edit of baseYAML
		opts     Options
		msg      string // a substring of the message
		line     int
		col      int
	}{
		{
			name: "unknown field",
			old:  `"n + 1"`, new: `"n + nn"`,
			msg:  `feature f_n: unknown field "nn" (hint: did you mean n?)`,
			line: 19, col: 42,
		},
		{
			name: "unknown field on the second line of a block",
			old:  "            driver_id\n", new: "            driver_idd\n",
			msg:  `feature f_block: unknown field "driver_idd"`,
			line: 25, col: 13,
		},
		{
			name: "unknown field after escaped quotes",
			old:  `"upper(city)"`, new: `"concat(city, \"x\", nn)"`,
			msg:  `unknown field "nn"`,
			line: 20, col: 62,
		},
		{
			name: "string into INT32",
			old:  `"n + 1"`, new: `"city"`,
			msg:  "feature f_n: expression of type string cannot be stored as INT32 (hint: parse it with cast_int(x) or cast_long(x))",
			line: 19, col: 38,
		},
		{
			name: "Spark AND",
			old:  `"n + 1"`, new: `"n > 1 AND n < 3"`,
			msg:  "feature f_n: Syntax error: mismatched input 'AND' expecting <EOF> (hint: write && (or and(a, b)) for AND)",
			line: 19, col: 44,
		},
		{
			name: "unknown function",
			old:  `"n + 1"`, new: `"n + frob(n)"`,
			msg:  `feature f_n: unknown function "frob"`,
			line: 19, col: 42,
		},
		{
			name: "schema JSON syntax, reported once",
			old:  `"type": "long"},`, new: `"type": "long"},,`,
			msg:  `schema: invalid JSON: invalid character ','`,
			line: 6, col: 47,
		},
		{
			name: "schema unknown Avro type",
			old:  `"type": "int"}`, new: `"type": "integr"}`,
			msg:  `source trips: schema: unknown type "integr"`,
			line: 8, col: 31,
		},
		{
			name: "schema error column counts characters",
			old:  `{"name": "city", "type": "string"}`, new: `{"name": "city", "doc": "Zürich", "type": "strin"}`,
			msg:  `source trips: schema: unknown type "strin"`,
			line: 7, col: 51,
		},
		{
			name: "schema JSON but not Avro",
			old:  `{"type": "record", "name": "T", "fields": [`, new: `{"type": "record", "fields": [`,
			msg:  `source trips: schema: named type has no string "name"`,
			line: 5, col: 7,
		},
		{
			name: "schema field twice",
			old:  `{"name": "n", "type": "int"},`, new: `{"name": "n", "type": "int"}, {"name": "n", "type": "int"},`,
			msg:  `source trips: schema: field "n" defined twice`,
			line: 8, col: 48,
		},
		{
			name: "key column missing",
			old:  `column: driver_id,`, new: `column: driver,`,
			msg:  `key driver: column "driver" is not a field of source trips`,
			line: 12, col: 20,
		},
		{
			name: "key column misspelt",
			old:  `column: driver_id,`, new: `column: drivr_id,`,
			msg:  `key driver: column "drivr_id" is not a field of source trips (did you mean "driver_id"?)`,
			line: 12, col: 20,
		},
		{
			name: "string column as INT64 key",
			old:  `column: driver_id, type: INT64`, new: `column: city, type: INT64`,
			msg:  `key driver: column "city" of source trips is string, which cannot be a INT64 key`,
			line: 12, col: 32,
		},
		{
			name: "timestamp field missing",
			old:  "timestamp: ts", new: "timestamp: tss",
			msg:  `source trips: timestamp field "tss" is not in the schema (did you mean "ts"?)`,
			line: 10, col: 16,
		},
		{
			name: "timestamp field of the wrong type",
			old:  "timestamp: ts", new: "timestamp: city",
			msg:  `source trips: timestamp field "city" is string; want a timestamp or an integer of epoch milliseconds`,
			line: 10, col: 16,
		},
		{
			name: "unknown materialization",
			old:  "sources:", new: "sources:",
			opts: Options{Materializations: []string{"m", "nope"}},
			msg:  `no materialization named "nope" (the file has: m)`,
			line: 0, col: 0,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, errs := compileErrs(t, edit(t, tt.old, tt.new), tt.opts)
			if len(errs) != 1 {
				t.Fatalf("got %d problems, want 1:\n%v", len(errs), errs)
			}
			e := errs[0]
			if !strings.Contains(e.Msg, tt.msg) {
				t.Errorf("message = %q, want it to contain %q", e.Msg, tt.msg)
			}
			if e.Line != tt.line || e.Column != tt.col {
				t.Errorf("position = %d:%d, want %d:%d (%s)", e.Line, e.Column, tt.line, tt.col, e)
			}
			if e.File != "f.yaml" {
				t.Errorf("file = %q, want f.yaml", e.File)
			}
		})
	}
}

// TestCompileReportsEveryProblem checks that one file's problems are all
// reported, sorted by position.
func TestCompileReportsEveryProblem(t *testing.T) {
	src := baseYAML
	for _, e := range [][2]string{
		{`"n + 1"`, `"n + nn"`},
		{"timestamp: ts", "timestamp: tss"},
		{`column: driver_id,`, `column: drivr_id,`},
	} {
		src = strings.Replace(src, e[0], e[1], 1)
	}
	_, errs := compileErrs(t, src, Options{})
	var got []string
	for _, e := range errs {
		got = append(got, e.Pos.String())
	}
	if want := []string{"10:16", "12:20", "19:42"}; !slices.Equal(got, want) {
		t.Errorf("positions = %v, want %v\n%v", got, want, errs)
	}
}

const twoSourcesYAML = `sources:
  trips:
    kafka: {brokers: ["localhost:9092"], topics: [trips]}
    schema: '{"type": "record", "name": "T", "fields": [{"name": "driver_id", "type": "long"}, {"name": "trips", "type": "int"}]}'
  ratings:
    kafka: {brokers: ["localhost:9092"], topics: [ratings], group: g-ratings}
    schema: '{"type": "record", "name": "R", "fields": [{"name": "driver_id", "type": "long"}, {"name": "stars", "type": "double"}, {"name": "at", "type": "long"}]}'
    timestamp: at
  unused:
    kafka: {brokers: ["localhost:9092"], topics: [unused]}
    schema: '{"type": "record", "name": "U", "fields": [{"name": "driver_id", "type": "long"}]}'
keys:
  driver: {column: driver_id, type: INT64}
anchors:
  trip_features:
    source: trips
    key: [driver]
    features:
      trips: {type: INT64}
      trips_plus: {type: INT32, transform: "trips + 1"}
  rating_features:
    source: ratings
    key: [driver]
    features:
      stars: {type: DOUBLE}
  unused_features:
    source: unused
    key: [driver]
    features:
      driver_id: {type: INT64}
materializations:
  both:
    sink: {redis: {table: driver_table, ttl: 60s}}
    features: [stars, trips, trips_plus]
    on_error: stop
  other:
    sink: {redis: {table: other_table, ordering: arrival}}
    features: [driver_id]
`

func TestCompileTwoSourcesOneMaterialization(t *testing.T) {
	p, errs := compileErrs(t, twoSourcesYAML, Options{Materializations: []string{"both"}})
	if len(errs) > 0 {
		t.Fatalf("problems:\n%v", errs)
	}
	if len(p.Materializations) != 1 {
		t.Fatalf("%d materializations, want 1", len(p.Materializations))
	}
	m := p.Materializations[0]
	tbl, err := sink.NewTable(m.Config.Name, m.Config.Sink, nil)
	if err != nil {
		t.Fatal(err)
	}
	if m.Config.Name != "both" || tbl.Name != "driver_table" || tbl.TTL.Seconds() != 60 || m.OnError != config.Stop {
		t.Errorf("materialization = %s table %s ttl %v on_error %v", m.Config.Name, tbl.Name, tbl.TTL, m.OnError)
	}
	if tbl.HiddenTimeField != "__feathr_event_time:both" {
		t.Errorf("HiddenTimeField = %q", tbl.HiddenTimeField)
	}

	// Sources in file order, the unused one left out; one target each.
	type want struct {
		source, eventTimeField string
		features               []string
	}
	wants := []want{
		{"trips", "", []string{"trips", "trips_plus"}},
		{"ratings", "at", []string{"stars"}},
	}
	if len(p.Sources) != len(wants) {
		t.Fatalf("%d sources, want %d", len(p.Sources), len(wants))
	}
	for i, w := range wants {
		s := p.Sources[i]
		if s.Config.Name != w.source || s.EventTimeField != w.eventTimeField || s.Decoder == nil {
			t.Errorf("source %d = %s (event-time field %q, decoder %v), want %s (%q)", i, s.Config.Name, s.EventTimeField, s.Decoder, w.source, w.eventTimeField)
		}
		if len(s.Targets) != 1 {
			t.Fatalf("source %s: %d targets, want 1", s.Config.Name, len(s.Targets))
		}
		tg := s.Targets[0]
		if tg.Materialization != m {
			t.Errorf("source %s: target of another materialization", s.Config.Name)
		}
		if want := []KeyPart{{Name: "driver", Column: "driver_id", Type: feature.KeyInt64}}; !slices.Equal(tg.Key, want) {
			t.Errorf("source %s: key = %v, want %v", s.Config.Name, tg.Key, want)
		}
		var names []string
		for _, f := range tg.Features {
			names = append(names, f.Name)
		}
		if !slices.Equal(names, w.features) {
			t.Errorf("source %s: features = %v, want %v", s.Config.Name, names, w.features)
		}
	}

	// A feature without a transform is its field.
	f := p.Sources[0].Targets[0].Features[0]
	if f.Type != feature.Int64 || f.Program.String() != "trips" || !slices.Equal(f.Program.Fields(), []string{"trips"}) {
		t.Errorf("feature trips: type %v, program %q on %v", f.Type, f.Program, f.Program.Fields())
	}
	if v, err := f.Program.Eval(record.Record{"driver_id": int64(1), "trips": int64(41)}); err != nil || v != int64(41) {
		t.Errorf("feature trips of trips=41 = %v (%T), %v; want int64 41", v, v, err)
	}
	stars := p.Sources[1].Targets[0].Features[0]
	if v, err := stars.Program.Eval(record.Record{"stars": 4.5}); err != nil || v != 4.5 {
		t.Errorf("feature stars of 4.5 = %v, %v", v, err)
	}
}

func TestCompileAllMaterializations(t *testing.T) {
	p, errs := compileErrs(t, twoSourcesYAML, Options{})
	if len(errs) > 0 {
		t.Fatalf("problems:\n%v", errs)
	}
	var names, sources []string
	for _, m := range p.Materializations {
		names = append(names, m.Config.Name)
	}
	for _, s := range p.Sources {
		sources = append(sources, s.Config.Name)
	}
	if !slices.Equal(names, []string{"both", "other"}) || !slices.Equal(sources, []string{"trips", "ratings", "unused"}) {
		t.Errorf("materializations %v, sources %v", names, sources)
	}
	other := p.Materializations[1]
	otherTable, err := sink.NewTable(other.Config.Name, other.Config.Sink, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ordering := otherTable.Ordering; other.OnError != config.Skip || ordering != config.OrderArrival {
		t.Errorf("other: on_error %v, ordering %v", other.OnError, ordering)
	}
}

func TestRecordPolicy(t *testing.T) {
	mk := func(name string, policy config.OnError, dl string) *Target {
		return &Target{Materialization: &Materialization{
			Config:  &config.Materialization{Name: name, DeadLetter: dl},
			OnError: policy,
		}}
	}
	tests := []struct {
		name    string
		targets []*Target
		policy  config.OnError
		topics  []string
		needsDL bool
	}{
		{"none", nil, config.Skip, nil, false},
		{"skip", []*Target{mk("a", config.Skip, "")}, config.Skip, nil, false},
		{"dead-letter", []*Target{mk("a", config.Skip, ""), mk("b", config.DeadLetter, "dl")}, config.DeadLetter, []string{"dl"}, true},
		{"stop wins", []*Target{mk("a", config.DeadLetter, "dl"), mk("b", config.Stop, "")}, config.Stop, []string{"dl"}, true},
		{"topics once", []*Target{mk("a", config.DeadLetter, "dl"), mk("b", config.DeadLetter, "dl"), mk("c", config.DeadLetter, "dl2")}, config.DeadLetter, []string{"dl", "dl2"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &Source{Targets: tt.targets}
			policy, topics := s.RecordPolicy()
			if policy != tt.policy || !slices.Equal(topics, tt.topics) {
				t.Errorf("RecordPolicy = %v %v, want %v %v", policy, topics, tt.policy, tt.topics)
			}
			if got := s.NeedsDeadLetter(); got != tt.needsDL {
				t.Errorf("NeedsDeadLetter = %v, want %v", got, tt.needsDL)
			}
		})
	}
}

func TestEventTime(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 6_000_000, time.UTC)
	kafka := at.Add(-time.Minute)
	tests := []struct {
		name  string
		field string
		rec   record.Record
		want  time.Time
	}{
		{"no timestamp field", "", record.Record{"ts": at}, kafka},
		{"timestamp", "ts", record.Record{"ts": at}, at},
		{"epoch milliseconds", "ts", record.Record{"ts": at.UnixMilli()}, time.UnixMilli(at.UnixMilli())},
		{"null", "ts", record.Record{"ts": nil}, kafka},
		{"missing", "ts", record.Record{}, kafka},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &Source{EventTimeField: tt.field}
			if got := s.EventTime(tt.rec, kafka); !got.Equal(tt.want) {
				t.Errorf("EventTime = %v, want %v", got, tt.want)
			}
		})
	}
}
