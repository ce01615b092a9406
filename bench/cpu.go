package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/gomodule/redigo/redis"
)

// userHZ is the unit of the CPU times in /proc/<pid>/stat and /proc/stat:
// USER_HZ, which Linux fixes at 100 on every architecture Go supports.
const userHZ = 100

// cpuUse is the CPU time feathr and the servers it talks to used during
// one materialize run, and the run's wall time, so that the cores each
// used (seconds ÷ wall seconds) show which one limited the run.
type cpuUse struct {
	WallSeconds   float64 `json:"wall_s"`   // feathr's process, exec to exit
	FeathrSeconds float64 `json:"feathr_s"` // user + system, from GNU time
	// BrokerSeconds is the Kafka broker's, from /proc/<pid>/stat; nil when
	// its pid is unknown (an outside broker without -kafka-pid).
	BrokerSeconds *float64 `json:"broker_s,omitempty"`
	RedisSeconds  float64  `json:"redis_s"` // INFO cpu: used_cpu_user + used_cpu_sys
	// MachineSeconds is the busy time of all the machine's cores
	// (/proc/stat: user, nice, system, irq, softirq), and StealSeconds the
	// time the hypervisor gave to other guests; nil where unreadable.
	MachineSeconds *float64 `json:"machine_busy_s,omitempty"`
	StealSeconds   *float64 `json:"machine_steal_s,omitempty"`
	Cores          int      `json:"cores"`
}

// cores returns seconds of CPU as cores of the run: 0.42 of a core.
func (u *cpuUse) cores(seconds float64) float64 {
	if u.WallSeconds <= 0 {
		return 0
	}
	return seconds / u.WallSeconds
}

// otherSeconds is the machine's busy time that none of feathr, the broker
// and Redis used: other processes (on a shared machine) and the kernel's
// work not charged to them. ok is false when a figure is missing.
func (u *cpuUse) otherSeconds() (s float64, ok bool) {
	if u.MachineSeconds == nil || u.BrokerSeconds == nil {
		return 0, false
	}
	return max(*u.MachineSeconds-u.FeathrSeconds-*u.BrokerSeconds-u.RedisSeconds, 0), true
}

// share renders seconds of CPU with the cores they make: "1.7 s = 0.42".
func (u *cpuUse) share(seconds float64) string {
	return fmt.Sprintf("%s s = %s", num(round(seconds, 2)), num(round(u.cores(seconds), 2)))
}

// machine renders the machine's busy cores, with the other processes' and
// the steal share: "1.85 of 2 (other 0.2, steal 0.01)".
func (u *cpuUse) machine() string {
	if u.MachineSeconds == nil {
		return "n/a"
	}
	s := fmt.Sprintf("%s of %d", num(round(u.cores(*u.MachineSeconds), 2)), u.Cores)
	var extra []string
	if other, ok := u.otherSeconds(); ok {
		extra = append(extra, "other "+num(round(u.cores(other), 2)))
	}
	if u.StealSeconds != nil && *u.StealSeconds > 0 {
		extra = append(extra, "steal "+num(round(u.cores(*u.StealSeconds), 2)))
	}
	if len(extra) > 0 {
		s += " (" + strings.Join(extra, ", ") + ")"
	}
	return s
}

// String renders the run's CPU use in cores for the log.
func (u *cpuUse) String() string {
	if u == nil {
		return "n/a"
	}
	broker := "n/a"
	if u.BrokerSeconds != nil {
		broker = u.share(*u.BrokerSeconds)
	}
	return fmt.Sprintf("in %s s of wall time: feathr %s, broker %s, redis-server %s cores; machine %s busy",
		num(round(u.WallSeconds, 2)), u.share(u.FeathrSeconds), broker, u.share(u.RedisSeconds), u.machine())
}

// saturated is the share of a core (of a single-threaded process) or of
// the machine's cores above which it counts as the limit.
const saturated = 0.9

// bottleneck names what limited the run, from the cores each process
// used: redis-server when its one thread was busy, the machine when all
// its cores were, and otherwise nothing saturated, so the pipeline was
// waiting (on round trips, fetches, batches in flight), with the busiest
// process named.
func (u *cpuUse) bottleneck() string {
	redisCores := u.cores(u.RedisSeconds)
	if redisCores >= saturated {
		return fmt.Sprintf("redis-server: %s of its one core", num(round(redisCores, 2)))
	}
	if u.MachineSeconds != nil && u.Cores > 0 {
		if busy := u.cores(*u.MachineSeconds); busy >= saturated*float64(u.Cores) {
			s := fmt.Sprintf("the machine: %s of %d cores busy", num(round(busy, 2)), u.Cores)
			if other, ok := u.otherSeconds(); ok && u.cores(other) >= 0.1*float64(u.Cores) {
				s += fmt.Sprintf(", %s of them other processes", num(round(u.cores(other), 2)))
			}
			return s
		}
	}
	name, most := "feathr", u.cores(u.FeathrSeconds)
	if u.BrokerSeconds != nil && u.cores(*u.BrokerSeconds) > most {
		name, most = "the broker", u.cores(*u.BrokerSeconds)
	}
	if redisCores > most {
		name, most = "redis-server", redisCores
	}
	return fmt.Sprintf("none saturated, waiting (busiest: %s, %s of a core)", name, num(round(most, 2)))
}

// cpuClock reads the CPU time used so far by the broker, redis-server and
// the whole machine, to be subtracted from a later reading.
type cpuClock struct {
	brokerPID int // 0: unknown
	rc        redis.Conn
}

// cpuReading is one reading of a cpuClock.
type cpuReading struct {
	broker, redis  time.Duration
	brokerOK       bool
	machine, steal time.Duration
	machineOK      bool
}

// read takes a reading. Only Redis failing is an error: the broker's and
// the machine's times are left out where /proc cannot tell them.
func (c cpuClock) read() (cpuReading, error) {
	var r cpuReading
	var err error
	if r.redis, err = redisCPU(c.rc); err != nil {
		return r, err
	}
	if c.brokerPID > 0 {
		if r.broker, err = procCPU(c.brokerPID); err == nil {
			r.brokerOK = true
		}
	}
	if r.machine, r.steal, err = machineCPU(); err == nil {
		r.machineOK = true
	}
	return r, nil
}

// use returns the CPU use between readings before and after, around a
// feathr process that used feathr CPU time in wall.
func (c cpuClock) use(before, after cpuReading, feathr, wall time.Duration, cores int) *cpuUse {
	u := &cpuUse{
		WallSeconds:   round(wall.Seconds(), 3),
		FeathrSeconds: round(feathr.Seconds(), 3),
		RedisSeconds:  round((after.redis - before.redis).Seconds(), 3),
		Cores:         cores,
	}
	seconds := func(d time.Duration) *float64 { s := round(d.Seconds(), 3); return &s }
	if before.brokerOK && after.brokerOK {
		u.BrokerSeconds = seconds(after.broker - before.broker)
	}
	if before.machineOK && after.machineOK {
		u.MachineSeconds = seconds(after.machine - before.machine)
		u.StealSeconds = seconds(after.steal - before.steal)
	}
	return u
}

// procCPU returns the user + system CPU time of process pid so far, from
// /proc/<pid>/stat.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, err
	}
	return parseProcStat(string(b))
}

// parseProcStat returns utime + stime (fields 14 and 15) of a
// /proc/<pid>/stat line. The command name (field 2) is in parentheses and
// may hold spaces, so fields are counted after its closing one.
func parseProcStat(s string) (time.Duration, error) {
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/<pid>/stat: no command name in %q", s)
	}
	f := strings.Fields(s[i+1:]) // f[0] is field 3, the state
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/<pid>/stat: %d fields after the command name", len(f))
	}
	var ticks int64
	for _, v := range f[11:13] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/<pid>/stat: utime/stime %q: %w", v, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / userHZ, nil
}

// machineCPU returns the busy and the steal time of all cores so far, from
// the first line of /proc/stat.
func machineCPU() (busy, steal time.Duration, err error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	return parseMachineStat(line)
}

// parseMachineStat reads the "cpu" line of /proc/stat: user nice system
// idle iowait irq softirq steal ... in USER_HZ ticks. Busy is user + nice
// + system + irq + softirq (guest time is already in user).
func parseMachineStat(line string) (busy, steal time.Duration, err error) {
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0, 0, fmt.Errorf("/proc/stat: first line %q is not the cpu total", line)
	}
	var t [8]int64
	for i := range t {
		if t[i], err = strconv.ParseInt(f[i+1], 10, 64); err != nil {
			return 0, 0, fmt.Errorf("/proc/stat: %q: %w", f[i+1], err)
		}
	}
	tick := func(n int64) time.Duration { return time.Duration(n) * time.Second / userHZ }
	return tick(t[0] + t[1] + t[2] + t[5] + t[6]), tick(t[7]), nil
}
