package main

import (
	"os"
	"strings"
	"testing"
	"time"
)

func TestParseProcStat(t *testing.T) {
	// A java broker's line, its command name with a space and a parenthesis.
	line := "4242 (java (x) y) S 1 4242 4242 0 -1 4194560 123 0 0 0 1234 567 0 0 20 0 80 0 99 1 2 3\n"
	got, err := parseProcStat(line)
	if err != nil {
		t.Fatal(err)
	}
	if want := 18010 * time.Millisecond; got != want {
		t.Errorf("parseProcStat = %v, want %v", got, want)
	}
	for _, bad := range []string{"4242 java S 1", "1 (x) S 1 2 3"} {
		if _, err := parseProcStat(bad); err == nil {
			t.Errorf("parseProcStat(%q): no error", bad)
		}
	}
	if cpu, err := procCPU(os.Getpid()); err != nil {
		t.Skipf("no /proc: %v", err)
	} else if cpu < 0 {
		t.Errorf("own CPU %v", cpu)
	}
}

func TestParseMachineStat(t *testing.T) {
	busy, steal, err := parseMachineStat("cpu  100 5 50 1000 7 3 2 11 0 0")
	if err != nil {
		t.Fatal(err)
	}
	if busy != 1600*time.Millisecond || steal != 110*time.Millisecond {
		t.Errorf("busy %v steal %v, want 1.6s 110ms", busy, steal)
	}
	if _, _, err := parseMachineStat("cpu0 1 2 3 4 5 6 7 8"); err == nil {
		t.Error("per-core line: no error")
	}
	if _, _, err := machineCPU(); err != nil {
		t.Skipf("no /proc/stat: %v", err)
	}
}

func TestParseRedisCPU(t *testing.T) {
	got, err := parseRedisCPU("# CPU\r\nused_cpu_sys:1.500000\r\nused_cpu_user:2.250000\r\nused_cpu_sys_children:9.000000\r\nused_cpu_sys_main_thread:1.0\r\n")
	if err != nil {
		t.Fatal(err)
	}
	if got != 3750*time.Millisecond {
		t.Errorf("parseRedisCPU = %v, want 3.75s", got)
	}
	if _, err := parseRedisCPU("# CPU\r\nused_cpu_sys:1\r\n"); err == nil {
		t.Error("no used_cpu_user: no error")
	}
}

func TestBottleneck(t *testing.T) {
	f := func(x float64) *float64 { return &x }
	for _, tt := range []struct {
		u    cpuUse
		want string
	}{
		{cpuUse{WallSeconds: 10, FeathrSeconds: 4, BrokerSeconds: f(3), RedisSeconds: 9.5, MachineSeconds: f(17), Cores: 2},
			"redis-server: 0.95 of its one core"},
		{cpuUse{WallSeconds: 10, FeathrSeconds: 8, BrokerSeconds: f(4), RedisSeconds: 6, MachineSeconds: f(19), Cores: 2},
			"the machine: 1.9 of 2 cores busy"},
		{cpuUse{WallSeconds: 10, FeathrSeconds: 3, BrokerSeconds: f(2), RedisSeconds: 3, MachineSeconds: f(19), Cores: 2},
			"the machine: 1.9 of 2 cores busy, 1.1 of them other processes"},
		{cpuUse{WallSeconds: 4, FeathrSeconds: 1.7, BrokerSeconds: f(0.8), RedisSeconds: 1, MachineSeconds: f(4), Cores: 2},
			"none saturated, waiting (busiest: feathr, 0.43 of a core)"},
		{cpuUse{WallSeconds: 4, FeathrSeconds: 1, RedisSeconds: 2, Cores: 2},
			"none saturated, waiting (busiest: redis-server, 0.5 of a core)"},
	} {
		if got := tt.u.bottleneck(); got != tt.want {
			t.Errorf("%+v: bottleneck %q, want %q", tt.u, got, tt.want)
		}
	}
	u := cpuUse{WallSeconds: 10, FeathrSeconds: 4, BrokerSeconds: f(3), RedisSeconds: 5, MachineSeconds: f(13), StealSeconds: f(0.5), Cores: 2}
	if got, want := u.machine(), "1.3 of 2 (other 0.1, steal 0.05)"; got != want {
		t.Errorf("machine() = %q, want %q", got, want)
	}
	if got := u.String(); !strings.Contains(got, "feathr 4 s = 0.4, broker 3 s = 0.3, redis-server 5 s = 0.5 cores") {
		t.Errorf("String() = %q", got)
	}
}

func TestUsecPerCall(t *testing.T) {
	before := map[string]cmdStat{"evalsha": {Calls: 10, Usec: 1000}}
	after := map[string]cmdStat{"evalsha": {Calls: 30, Usec: 3040}, "hset": {Calls: 5, Usec: 5}}
	if got := usecPerCall(before, after, "evalsha"); got != 102 {
		t.Errorf("evalsha: %v µs per call, want 102", got)
	}
	if got := usecPerCall(before, after, "get"); got != 0 {
		t.Errorf("get: %v, want 0", got)
	}
}
