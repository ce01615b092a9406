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
	"syscall"
	"time"
)

// procResult is a finished process: its wall time and, from wait4's
// rusage (what /usr/bin/time -v reports), CPU time and peak RSS.
type procResult struct {
	wall     time.Duration
	cpu      time.Duration // user + system
	maxRSSKB int64
	stdout   []byte
	code     int
}

// usage fills r's CPU and peak RSS from a finished process state.
func (r *procResult) usage(ps *os.ProcessState) {
	if ps == nil {
		return
	}
	r.cpu = ps.UserTime() + ps.SystemTime()
	if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
		r.maxRSSKB = int64(ru.Maxrss) // kilobytes on Linux
	}
	r.code = ps.ExitCode()
}

// runFeathr runs feathr with args, env added to this process's, and stdin;
// stderr goes to logPath. It fails unless feathr exits 0.
func runFeathr(ctx context.Context, bin string, env []string, stdin io.Reader, logPath string, args ...string) (procResult, error) {
	var out bytes.Buffer
	logf, err := os.Create(logPath)
	if err != nil {
		return procResult{}, err
	}
	defer logf.Close()
	c := exec.CommandContext(ctx, bin, args...)
	c.Env = append(os.Environ(), env...)
	c.Stdin, c.Stdout, c.Stderr = stdin, &out, logf
	c.WaitDelay = 5 * time.Second
	start := time.Now()
	err = c.Run()
	r := procResult{wall: time.Since(start), stdout: out.Bytes()}
	r.usage(c.ProcessState)
	if err != nil {
		return r, fmt.Errorf("feathr %s: %w (stderr in %s:\n%s)", strings.Join(args, " "), err, logPath, tailFile(logPath, 15))
	}
	return r, nil
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

	mu  sync.Mutex
	rss []rssSample
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

// sampleRSS records the process's RSS every interval until it exits or
// ctx is done.
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
			kb, err := rssKB(p.cmd.Process.Pid)
			if err != nil {
				continue
			}
			p.mu.Lock()
			p.rss = append(p.rss, rssSample{At: time.Since(p.start).Seconds(), RSSMB: float64(kb) / 1024})
			p.mu.Unlock()
		}
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
		p.cmd.Process.Signal(os.Interrupt)
		select {
		case <-p.done:
		case <-time.After(d):
			p.cmd.Process.Kill()
			<-p.done
			return procResult{}, fmt.Errorf("feathr did not exit within %v of SIGINT; killed", d)
		}
	}
	r := procResult{wall: p.wall, stdout: p.stdout.Bytes()}
	r.usage(p.cmd.ProcessState)
	var exit *exec.ExitError
	if p.err != nil && !errors.As(p.err, &exit) {
		return r, p.err
	}
	if r.code != 0 {
		return r, fmt.Errorf("feathr exited %d:\n%s", r.code, tailFile(p.logPath, 15))
	}
	return r, nil
}

// rssKB returns VmRSS of pid from /proc, in kilobytes.
func rssKB(pid int) (int64, error) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(v)
			if len(f) == 0 {
				break
			}
			return strconv.ParseInt(f[0], 10, 64)
		}
	}
	return 0, fmt.Errorf("/proc/%d/status: no VmRSS", pid)
}

// summary is the JSON line feathr materialize prints at exit; the fields
// the benchmark reads, and the whole line as printed.
type summary struct {
	Read            int64        `json:"records_read"`
	Written         int64        `json:"updates_written"`
	Errors          int64        `json:"record_errors"`
	KeysWritten     int64        `json:"keys_written"`
	RedisBatches    int64        `json:"redis_batches"`
	DurationSeconds float64      `json:"duration_seconds"`
	Stopped         string       `json:"stopped"`
	Error           string       `json:"error"`
	Freshness       *percentiles `json:"freshness_ms"`

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
