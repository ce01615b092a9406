package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gomodule/redigo/redis"
)

// dialRedis connects to the Redis at addr (host:port).
func dialRedis(addr string) (redis.Conn, error) {
	c, err := redis.Dial("tcp", addr, redis.DialConnectTimeout(5*time.Second))
	if err != nil {
		return nil, fmt.Errorf("redis at %s: %w", addr, err)
	}
	return c, nil
}

// cmdStat is one command's line of INFO commandstats: its calls and the
// microseconds Redis spent in them.
type cmdStat struct {
	Calls int64
	Usec  int64
}

// commandStats returns the calls and time of each command from INFO
// commandstats.
func commandStats(c redis.Conn) (map[string]cmdStat, error) {
	s, err := redis.String(c.Do("INFO", "commandstats"))
	if err != nil {
		return nil, fmt.Errorf("INFO commandstats: %w", err)
	}
	return parseCommandStats(s)
}

// parseCommandStats parses INFO commandstats: lines like
// "cmdstat_hset:calls=12,usec=34,usec_per_call=2.83,...".
func parseCommandStats(s string) (map[string]cmdStat, error) {
	out := map[string]cmdStat{}
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		name, rest, ok := strings.Cut(line, ":")
		if !ok || !strings.HasPrefix(name, "cmdstat_") {
			continue
		}
		name = strings.TrimPrefix(name, "cmdstat_")
		var st cmdStat
		for _, kv := range strings.Split(rest, ",") {
			k, v, _ := strings.Cut(kv, "=")
			var dst *int64
			switch k {
			case "calls":
				dst = &st.Calls
			case "usec":
				dst = &st.Usec
			default:
				continue
			}
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("commandstats %s: %s=%q: %w", name, k, v, err)
			}
			*dst = n
		}
		out[name] = st
	}
	return out, sc.Err()
}

// usecPerCall returns the microseconds per call of command between two
// snapshots of commandstats (0 when it was not called): usec_per_call
// over the interval alone.
func usecPerCall(before, after map[string]cmdStat, command string) float64 {
	calls := after[command].Calls - before[command].Calls
	if calls <= 0 {
		return 0
	}
	return float64(after[command].Usec-before[command].Usec) / float64(calls)
}

// redisCPU returns the CPU time redis-server has used since it started,
// used_cpu_user + used_cpu_sys of INFO cpu (all its threads).
func redisCPU(c redis.Conn) (time.Duration, error) {
	s, err := redis.String(c.Do("INFO", "cpu"))
	if err != nil {
		return 0, fmt.Errorf("INFO cpu: %w", err)
	}
	return parseRedisCPU(s)
}

// parseRedisCPU sums used_cpu_user and used_cpu_sys of INFO cpu.
func parseRedisCPU(s string) (time.Duration, error) {
	var total time.Duration
	found := 0
	for _, line := range strings.Split(s, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok || (k != "used_cpu_user" && k != "used_cpu_sys") {
			continue
		}
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return 0, fmt.Errorf("INFO cpu: %s=%q: %w", k, v, err)
		}
		total += time.Duration(f * float64(time.Second))
		found++
	}
	if found != 2 {
		return 0, fmt.Errorf("INFO cpu lacks used_cpu_user or used_cpu_sys: %q", s)
	}
	return total, nil
}

// harnessCommands are the commands the benchmark itself sends, left out
// of the counts attributed to feathr.
var harnessCommands = map[string]bool{"info": true, "flushall": true, "dbsize": true, "ping": true, "hgetall": true, "config|resetstat": true}

// commandDelta returns after - before per command, without the harness's
// own commands and zero deltas, and their sum.
func commandDelta(before, after map[string]cmdStat) (map[string]int64, int64) {
	d := map[string]int64{}
	var total int64
	for name, st := range after {
		if harnessCommands[name] {
			continue
		}
		if x := st.Calls - before[name].Calls; x > 0 {
			d[name] = x
			total += x
		}
	}
	return d, total
}

// formatCommands renders a per-command count compactly, largest first:
// "evalsha 2.00M, hget 2.00M".
func formatCommands(m map[string]int64) string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Slice(names, func(i, j int) bool {
		if m[names[i]] != m[names[j]] {
			return m[names[i]] > m[names[j]]
		}
		return names[i] < names[j]
	})
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = n + " " + humanCount(float64(m[n]))
	}
	return strings.Join(parts, ", ")
}

// ceilingResult is what redis-benchmark reached.
type ceilingResult struct {
	Command   string  `json:"command"`
	Requests  int     `json:"requests"`
	Pipeline  int     `json:"pipeline"`
	Clients   int     `json:"clients"`
	KeySpace  int     `json:"key_space"`
	OpsPerSec float64 `json:"ops_per_sec"`
}

// ceiling runs redis-benchmark: n HSETs of key prefix + a random number
// below keySpace, with the fields and values of fields (name, value, ...),
// pipelined `pipeline` deep over `clients` connections.
func ceiling(ctx context.Context, addr, prefix string, fields []string, n, pipeline, clients, keySpace int) (ceilingResult, error) {
	host, port, ok := strings.Cut(addr, ":")
	if !ok {
		return ceilingResult{}, fmt.Errorf("redis address %q: want host:port", addr)
	}
	cmd := append([]string{"HSET", prefix + "__rand_int__"}, fields...)
	args := append([]string{"-h", host, "-p", port, "-c", strconv.Itoa(clients), "-n", strconv.Itoa(n),
		"-P", strconv.Itoa(pipeline), "-r", strconv.Itoa(keySpace), "--csv"}, cmd...)
	var out, errOut bytes.Buffer
	c := exec.CommandContext(ctx, "redis-benchmark", args...)
	c.Stdout, c.Stderr = &out, &errOut
	if err := c.Run(); err != nil {
		return ceilingResult{}, fmt.Errorf("redis-benchmark: %w: %s", err, strings.TrimSpace(errOut.String()))
	}
	rps, err := parseBenchmarkCSV(out.String())
	if err != nil {
		return ceilingResult{}, err
	}
	return ceilingResult{
		Command:  "redis-benchmark " + strings.Join(args[:len(args)-len(cmd)], " ") + " HSET " + prefix + "__rand_int__ <" + strconv.Itoa(len(fields)/2) + " fields>",
		Requests: n, Pipeline: pipeline, Clients: clients, KeySpace: keySpace, OpsPerSec: rps,
	}, nil
}

// parseBenchmarkCSV returns the requests per second of the last test in
// redis-benchmark --csv output ("test","rps",...).
func parseBenchmarkCSV(s string) (float64, error) {
	recs, err := csv.NewReader(strings.NewReader(s)).ReadAll()
	if err != nil {
		return 0, fmt.Errorf("redis-benchmark output: %w", err)
	}
	for i := len(recs) - 1; i >= 0; i-- {
		r := recs[i]
		if len(r) < 2 || r[0] == "test" {
			continue
		}
		rps, err := strconv.ParseFloat(r[1], 64)
		if err != nil {
			return 0, fmt.Errorf("redis-benchmark output: rps %q: %w", r[1], err)
		}
		return rps, nil
	}
	return 0, fmt.Errorf("redis-benchmark output has no result: %q", s)
}

// sampleFields returns the fields and values of key as alternating
// strings, sorted by field name.
func sampleFields(c redis.Conn, key string) ([]string, error) {
	m, err := redis.StringMap(c.Do("HGETALL", key))
	if err != nil {
		return nil, fmt.Errorf("HGETALL %s: %w", key, err)
	}
	if len(m) == 0 {
		return nil, fmt.Errorf("HGETALL %s: no such key", key)
	}
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	out := make([]string, 0, 2*len(names))
	for _, k := range names {
		out = append(out, k, m[k])
	}
	return out, nil
}

// redisVersion returns the server's redis_version.
func redisVersion(c redis.Conn) string {
	s, err := redis.String(c.Do("INFO", "server"))
	if err != nil {
		return "?"
	}
	for _, line := range strings.Split(s, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "redis_version:"); ok {
			return v
		}
	}
	return "?"
}
