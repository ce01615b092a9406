package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// procResult is a finished process: its wall time and, when measured,
// its CPU time and peak RSS.
type procResult struct {
	wall     time.Duration
	cpu      time.Duration // user + system
	maxRSSKB int64
	stdout   []byte
	code     int
}

// timeBin is GNU time, which reports a child's CPU time and peak RSS.
//
// The peak RSS cannot come from this process's own wait4: Go starts
// children with clone(CLONE_VM|CLONE_VFORK), and Linux carries the
// high-water RSS of the mm a process leaves at exec into its ru_maxrss,
// so a child's peak would be at least this (large) process's RSS.
// /usr/bin/time is small, so its child's number is the child's own.
const timeBin = "/usr/bin/time"

// runFeathr runs feathr with args, env added to this process's, and stdin;
// stderr goes to logPath. With measure it runs under /usr/bin/time -v and
// fills cpu and maxRSSKB. It fails unless feathr exits 0.
func runFeathr(ctx context.Context, bin string, env []string, stdin io.Reader, logPath string, measure bool, args ...string) (procResult, error) {
	var out bytes.Buffer
	logf, err := os.Create(logPath)
	if err != nil {
		return procResult{}, err
	}
	defer logf.Close()
	name, argv := bin, args
	timeFile := logPath + ".time"
	if measure {
		name, argv = timeBin, append([]string{"-v", "-o", timeFile, bin}, args...)
	}
	c := exec.CommandContext(ctx, name, argv...)
	c.Env = append(os.Environ(), env...)
	c.Stdin, c.Stdout, c.Stderr = stdin, &out, logf
	c.WaitDelay = 5 * time.Second
	start := time.Now()
	err = c.Run()
	r := procResult{wall: time.Since(start), stdout: out.Bytes()}
	if c.ProcessState != nil {
		r.code = c.ProcessState.ExitCode()
	}
	if err != nil {
		return r, fmt.Errorf("feathr %s: %w (stderr in %s:\n%s)", strings.Join(args, " "), err, logPath, tailFile(logPath, 15))
	}
	if measure {
		b, err := os.ReadFile(timeFile)
		if err != nil {
			return r, fmt.Errorf("reading %s output: %w", timeBin, err)
		}
		if r.cpu, r.maxRSSKB, err = parseTimeV(string(b)); err != nil {
			return r, err
		}
	}
	return r, nil
}

// parseTimeV reads user+system time and the maximum resident set size
// from the output of GNU time -v.
func parseTimeV(s string) (cpu time.Duration, maxRSSKB int64, err error) {
	var found int
	for _, line := range strings.Split(s, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ": ")
		if !ok {
			continue
		}
		switch k {
		case "User time (seconds)", "System time (seconds)":
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return 0, 0, fmt.Errorf("time -v: %s: %w", k, err)
			}
			cpu += time.Duration(f * float64(time.Second))
			found++
		case "Maximum resident set size (kbytes)":
			if maxRSSKB, err = strconv.ParseInt(v, 10, 64); err != nil {
				return 0, 0, fmt.Errorf("time -v: %s: %w", k, err)
			}
			found++
		}
	}
	if found != 3 {
		return 0, 0, fmt.Errorf("time -v output lacks CPU times or maximum RSS: %q", s)
	}
	return cpu, maxRSSKB, nil
}

// bgFeathr is feathr running in the background.
type bgFeathr struct {
	cmd      *exec.Cmd
	stdout   bytes.Buffer
	logPath  string
	assigned chan struct{} // closed once stderr says "partitions assigned"
	done     chan struct{} // closed once the process exited
	err      error         // of Wait, set before done is closed
	start    time.Time
	wall     time.Duration

	mu    sync.Mutex
	rss   []rssSample
	hwmKB int64 // largest VmHWM read
}

// rssSample is the resident set size of a process at a moment.
type rssSample struct {
	At    float64 `json:"t_s"` // seconds since the process started
	RSSMB float64 `json:"rss_mb"`
}

// startFeathr starts feathr with args; stderr is copied to logPath and
// watched for the "partitions assigned" line.
func startFeathr(bin string, env []string, logPath string, args ...string) (*bgFeathr, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	p := &bgFeathr{
		cmd:      exec.Command(bin, args...),
		logPath:  logPath,
		assigned: make(chan struct{}),
		done:     make(chan struct{}),
	}
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout = &p.stdout
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		logf.Close()
		return nil, err
	}
	p.start = time.Now()
	if err := p.cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("starting feathr: %w", err)
	}
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		defer logf.Close()
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64*1024), 1<<20)
		once := sync.Once{}
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(logf, line)
			if strings.Contains(line, "partitions assigned") {
				once.Do(func() { close(p.assigned) })
			}
		}
		io.Copy(io.Discard, stderr)
	}()
	go func() {
		<-scanned // Wait closes the pipe: read it all first
		p.err = p.cmd.Wait()
		p.wall = time.Since(p.start)
		close(p.done)
	}()
	return p, nil
}

// sampleRSS records the process's RSS and peak RSS every interval until
// it exits or ctx is done.
func (p *bgFeathr) sampleRSS(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.done:
			return
		case <-t.C:
			p.readRSS(true)
		}
	}
}

// readRSS reads VmRSS and VmHWM, keeping the RSS as a sample when keep.
func (p *bgFeathr) readRSS(keep bool) {
	rss, hwm, err := procMemKB(p.cmd.Process.Pid)
	if err != nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.hwmKB = max(p.hwmKB, hwm)
	if keep {
		p.rss = append(p.rss, rssSample{At: time.Since(p.start).Seconds(), RSSMB: float64(rss) / 1024})
	}
}

func (p *bgFeathr) samples() []rssSample {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]rssSample(nil), p.rss...)
}

// waitAssigned waits until feathr has its partitions, it exits, or d passes.
func (p *bgFeathr) waitAssigned(ctx context.Context, d time.Duration) error {
	select {
	case <-p.assigned:
		return nil
	case <-p.done:
		return fmt.Errorf("feathr exited before partitions were assigned: %v\n%s", p.err, tailFile(p.logPath, 15))
	case <-time.After(d):
		return fmt.Errorf("feathr: no partitions assigned after %v\n%s", d, tailFile(p.logPath, 15))
	case <-ctx.Done():
		return ctx.Err()
	}
}

// stop interrupts feathr (it writes what is in flight, commits and prints
// its summary) and waits up to d for it to exit, then kills it.
func (p *bgFeathr) stop(d time.Duration) (procResult, error) {
	select {
	case <-p.done:
	default:
		p.readRSS(false)
		p.cmd.Process.Signal(os.Interrupt)
		// Follow the peak through the shutdown, until the process is gone.
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		timeout := time.After(d)
	wait:
		for {
			select {
			case <-p.done:
				break wait
			case <-tick.C:
				p.readRSS(false)
			case <-timeout:
				p.cmd.Process.Kill()
				<-p.done
				return procResult{}, fmt.Errorf("feathr did not exit within %v of SIGINT; killed", d)
			}
		}
	}
	// CPU times are the process's own; its ru_maxrss is not (see timeBin):
	// the peak is the largest VmHWM read from /proc.
	r := procResult{wall: p.wall, stdout: p.stdout.Bytes()}
	if ps := p.cmd.ProcessState; ps != nil {
		r.cpu, r.code = ps.UserTime()+ps.SystemTime(), ps.ExitCode()
	}
	p.mu.Lock()
	r.maxRSSKB = p.hwmKB
	p.mu.Unlock()
	var exit *exec.ExitError
	if p.err != nil && !errors.As(p.err, &exit) {
		return r, p.err
	}
	if r.code != 0 {
		return r, fmt.Errorf("feathr exited %d:\n%s", r.code, tailFile(p.logPath, 15))
	}
	return r, nil
}

// procMemKB returns VmRSS and VmHWM (peak RSS) of pid from /proc, in
// kilobytes.
func procMemKB(pid int) (rss, hwm int64, err error) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return 0, 0, err
	}
	var found int
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("/proc/%d/status: %s: %w", pid, k, err)
		}
		if k == "VmRSS" {
			rss = n
		} else {
			hwm = n
		}
		found++
	}
	if found != 2 {
		return 0, 0, fmt.Errorf("/proc/%d/status: no VmRSS or VmHWM", pid)
	}
	return rss, hwm, nil
}

// summary is the JSON line feathr materialize prints at exit; the fields
// the benchmark reads, and the whole line as printed.
type summary struct {
	Read            int64        `json:"records_read"`
	Written         int64        `json:"updates_written"`
	Errors          int64        `json:"record_errors"`
	KeysWritten     int64        `json:"keys_written"`
	Late            int64        `json:"late_events_dropped"`
	RedisBatches    int64        `json:"redis_batches"`
	DurationSeconds float64      `json:"duration_seconds"`
	Stopped         string       `json:"stopped"`
	Error           string       `json:"error"`
	Freshness       *percentiles `json:"freshness_ms"`
	FreshnessSplit  *struct {
		Sampled  int          `json:"sampled"`
		ToWriter *percentiles `json:"to_writer"`
		InWriter *percentiles `json:"in_writer"`
	} `json:"freshness_split_ms"`

	Raw json.RawMessage `json:"-"`
}

// percentiles of a latency, in milliseconds.
type percentiles struct {
	P50 float64 `json:"p50"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

// parseSummary finds the last JSON object line of feathr's stdout.
func parseSummary(stdout []byte) (summary, error) {
	lines := strings.Split(strings.TrimSpace(string(stdout)), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		line := strings.TrimSpace(lines[i])
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var s summary
		if err := json.Unmarshal([]byte(line), &s); err != nil {
			return summary{}, fmt.Errorf("feathr summary %q: %w", line, err)
		}
		s.Raw = json.RawMessage(line)
		return s, nil
	}
	return summary{}, fmt.Errorf("feathr printed no JSON summary: %q", stdout)
}

// tailFile returns the last n lines of the file at path.
func tailFile(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
