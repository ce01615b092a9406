package cmd

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/feathrgo/feathr/internal/testenv"
)

// badRecordTopic produces 10 events to one partition, of which offset 5
// cannot be decoded; the others are drivers 0 to 9 but 5.
func badRecordTopic(t *testing.T, brokers, topic string) {
	t.Helper()
	cl := producer(t, brokers)
	base := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	var recs []*kgo.Record
	for i := range 10 {
		if i == 5 {
			recs = append(recs, &kgo.Record{Topic: topic, Value: []byte{0xff, 0xff, 0xff}})
			continue
		}
		recs = append(recs, tripRecord(t, topic, 0, trip{driver: int64(i), trips: int32(i), at: base}))
	}
	produce(t, cl, recs...)
}

func TestMaterializeOnErrorStop(t *testing.T) {
	t.Parallel()
	redisAddr := testenv.Redis(t)
	topic := testenv.TopicName(t)
	brokers := testenv.KFake(t, 1, topic)
	badRecordTopic(t, brokers, topic)
	cfg := writeFile(t, "f.yaml", strings.Replace(seedConfig(brokers, topic, redisAddr, ""),
		"    timeout: 10s\n", "    timeout: 10s\n    on_error: stop\n", 1))

	code, sum, errOut := materialize(t, "-f", cfg, "--start", "earliest", "--until-caught-up")
	if code != ExitError {
		t.Errorf("exit %d, want 1\nstderr: %s", code, errOut)
	}
	wantErr := fmt.Sprintf("%s/0@5: decode: ", topic)
	if sum.Stopped != "error" || !strings.HasPrefix(sum.Error, wantErr) || sum.Errors != 1 || sum.Written != 5 {
		t.Errorf("summary %+v, want stopped error %q..., 1 record error, 5 written", sum, wantErr)
	}
	if !strings.Contains(errOut, "feathr: "+wantErr) {
		t.Errorf("stderr does not end with the error:\n%s", errOut)
	}
	if got := committedOffsets(t, brokers, "feathr-test-"+topic, topic, 1); got[0] != 5 {
		t.Errorf("committed offset %d, want 5: the bad record's", got[0])
	}
	c := redisConn(t, redisAddr)
	for i := range 10 {
		n, err := redis.Int(c.Do("EXISTS", fmt.Sprintf("kafkaSampleDemoFeature:%d", i)))
		if err != nil {
			t.Fatal(err)
		}
		if want := int(boolInt(i < 5)); n != want {
			t.Errorf("driver %d in Redis: %d, want %d", i, n, want)
		}
	}
	// A restart stops at the same record again, and writes nothing new.
	code, sum, _ = materialize(t, "-f", cfg, "--until-caught-up")
	if code != ExitError || sum.Read != 1 || sum.Written != 0 {
		t.Errorf("restart: exit %d, summary %+v; want 1, 1 read, 0 written", code, sum)
	}
}

func TestMaterializeOnErrorSkip(t *testing.T) {
	t.Parallel()
	redisAddr := testenv.Redis(t)
	topic := testenv.TopicName(t)
	brokers := testenv.KFake(t, 1, topic)
	badRecordTopic(t, brokers, topic)
	cfg := writeFile(t, "f.yaml", strings.Replace(seedConfig(brokers, topic, redisAddr, ""),
		"    timeout: 10s\n", "    timeout: 10s\n    on_error: skip\n", 1))

	code, sum, errOut := materialize(t, "-f", cfg, "--start", "earliest", "--until-caught-up")
	if code != ExitOK {
		t.Fatalf("exit %d\nstderr: %s", code, errOut)
	}
	if sum.Read != 10 || sum.Written != 9 || sum.Errors != 1 || sum.Skipped != 1 || sum.Stopped != "caught-up" {
		t.Errorf("summary %+v, want 10 read, 9 written, 1 error, 1 skipped, caught-up", sum)
	}
	want := fmt.Sprintf(`msg="bad record skipped" topic=%s partition=0 offset=5 err="decode: `, topic)
	if !strings.Contains(errOut, want) {
		t.Errorf("stderr does not contain %s:\n%s", want, errOut)
	}
	if got := committedOffsets(t, brokers, "feathr-test-"+topic, topic, 1); got[0] != 10 {
		t.Errorf("committed offset %d, want 10", got[0])
	}
	if n := dbSize(t, redisConn(t, redisAddr)); n != 9 {
		t.Errorf("DBSIZE = %d, want 9", n)
	}
}

// TestMaterializeUnreachableRedis checks that materialize fails at start,
// with the address in the message, when Redis does not answer.
func TestMaterializeUnreachableRedis(t *testing.T) {
	t.Parallel()
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := closed.Addr().String()
	closed.Close()

	// A server that accepts connections and never answers.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { silent.Close() })
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()

	secured := testenv.StartRedis(t, "--requirepass", "right")

	topic := testenv.TopicName(t)
	brokers := testenv.KFake(t, 1, topic)
	const badPassword = "pw-Zq81"
	tests := []struct {
		name, addr, password string
	}{
		{"connection refused", closedAddr, ""},
		{"no answer", silent.Addr().String(), ""},
		{"wrong password", secured.Addr(), badPassword},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			src := seedConfig(brokers, topic, tt.addr, "")
			if tt.password != "" {
				src = strings.Replace(src, fmt.Sprintf("redis: {addr: %q}", tt.addr),
					fmt.Sprintf("redis: {addr: %q, password: %s}", tt.addr, tt.password), 1)
			}
			cfg := writeFile(t, "f.yaml", src)
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			code, out, errOut := runCmd(t, ctx, "", nil, "materialize", "-f", cfg, "--start", "earliest")
			if ctx.Err() != nil {
				t.Fatalf("materialize did not give up within 15s")
			}
			if code != ExitError {
				t.Errorf("exit %d, want 1", code)
			}
			if want := "feathr: redis at " + tt.addr + ": "; !strings.HasPrefix(errOut, want) || strings.Count(errOut, "\n") != 1 {
				t.Errorf("stderr = %q, want one line starting with %q", errOut, want)
			}
			if out != "" || strings.Contains(errOut, badPassword) {
				t.Errorf("stdout %q; stderr %q: want no summary and no password", out, errOut)
			}
		})
	}
}
