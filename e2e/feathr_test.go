package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Running programs (run), the feathr binary in the foreground and in the
// background, what its materialize summary says, and its get and
// multi-get.

// result is the outcome of one run of a program.
type result struct {
	code   int
	stdout string
	stderr string
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
}

// run runs name with args and stdin, in the environment of the test plus
// env, and returns its exit code and output. It fails the test when the
// program cannot start or exceeds runTimeout.
func run(t *testing.T, env []string, stdin, name string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errOut.String()}
	var exit *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("%s %s: still running after %v\n%s", name, strings.Join(args, " "), runTimeout, r)
	case errors.As(err, &exit):
		r.code = exit.ExitCode()
	case err != nil:
		t.Fatalf("%s: %v", name, err)
	}
	return r
}

// feathr runs the feathr binary with args and stdin.
func feathr(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	return run(t, nil, stdin, feathrBin, args...)
}

// mustFeathr runs feathr and fails the test unless it exits 0.
func mustFeathr(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	r := feathr(t, stdin, args...)
	if r.code != 0 {
		t.Fatalf("feathr %s: %s", strings.Join(args, " "), r)
	}
	return r
}

// proc is feathr running in the background.
type proc struct {
	cmd      *exec.Cmd
	stdout   bytes.Buffer
	assigned chan struct{} // closed once stderr says "partitions assigned"
	done     chan struct{} // closed once the process exited
	err      error         // of cmd.Wait, set before done is closed

	mu     sync.Mutex
	stderr bytes.Buffer
}

// startFeathr starts feathr with args in the background. The process is
// killed, if still running, when the test ends.
func startFeathr(t *testing.T, args ...string) *proc {
	t.Helper()
	p := &proc{
		cmd:      exec.Command(feathrBin, args...),
		assigned: make(chan struct{}),
		done:     make(chan struct{}),
	}
	p.cmd.Stdout = &p.stdout
	pipe, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start feathr: %v", err)
	}
	go func() {
		sc := bufio.NewScanner(pipe)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		seen := false
		for sc.Scan() {
			p.mu.Lock()
			p.stderr.Write(sc.Bytes())
			p.stderr.WriteByte('\n')
			p.mu.Unlock()
			if !seen && strings.Contains(sc.Text(), "partitions assigned") {
				seen = true
				close(p.assigned)
			}
		}
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// stderrText returns what the process wrote to stderr so far.
func (p *proc) stderrText() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

// waitAssigned waits until the consumer group assigned partitions to the
// process, failing the test when it exits first or timeout passes.
func (p *proc) waitAssigned(t *testing.T, timeout time.Duration) {
	t.Helper()
	select {
	case <-p.assigned:
	case <-p.done:
		t.Fatalf("feathr exited before partitions were assigned: %v\nstdout: %s\nstderr: %s", p.err, p.stdout.String(), p.stderrText())
	case <-time.After(timeout):
		t.Fatalf("no partitions assigned after %v\nstderr: %s", timeout, p.stderrText())
	}
}

// signal sends sig to the process.
func (p *proc) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal %v: %v", sig, err)
	}
}

// wait waits for the process to exit and returns its result, failing the
// test when timeout passes first.
func (p *proc) wait(t *testing.T, timeout time.Duration) result {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		t.Fatalf("feathr still running after %v\nstderr: %s", timeout, p.stderrText())
	}
	r := result{stdout: p.stdout.String(), stderr: p.stderrText()}
	var exit *exec.ExitError
	if errors.As(p.err, &exit) {
		r.code = exit.ExitCode()
	} else if p.err != nil {
		t.Fatalf("feathr: %v", p.err)
	}
	return r
}

// summary is the JSON line feathr materialize prints at exit.
type summary struct {
	Materializations []string `json:"materializations"`
	Read             int64    `json:"records_read"`
	Written          int64    `json:"updates_written"`
	Skipped          int64    `json:"records_skipped"`
	Errors           int64    `json:"record_errors"`
	DeadLettered     int64    `json:"records_dead_lettered"`
	Keys             int64    `json:"keys_written"`
	Stale            int64    `json:"stale_updates_skipped"`
	RedisRetries     int64    `json:"redis_retries"`
	Stopped          string   `json:"stopped"`
	Error            string   `json:"error"`
}

// parseSummary decodes the summary, the only line of r's stdout.
func parseSummary(t *testing.T, r result) summary {
	t.Helper()
	out := strings.TrimSpace(r.stdout)
	if strings.Count(out, "\n") != 0 {
		t.Fatalf("materialize printed more than one line on stdout:\n%s", r)
	}
	var s summary
	dec := json.NewDecoder(strings.NewReader(out))
	if err := dec.Decode(&s); err != nil {
		t.Fatalf("materialize summary is not JSON: %v\n%s", err, r)
	}
	return s
}

// wantSummary is what a test expects of a materialize summary.
type wantSummary struct {
	read, written, errors int64
	stopped               string
}

// checkSummary runs the materialize result through the checks that every
// run must pass (exit 0, no error, no dead letters) and compares the counts.
func checkSummary(t *testing.T, r result, want wantSummary) summary {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("materialize: %s", r)
	}
	s := parseSummary(t, r)
	if s.Read != want.read || s.Written != want.written || s.Errors != want.errors || s.Stopped != want.stopped || s.Error != "" {
		t.Errorf("summary: read %d, written %d, errors %d, stopped %q, error %q; want read %d, written %d, errors %d, stopped %q\n%s",
			s.Read, s.Written, s.Errors, s.Stopped, s.Error, want.read, want.written, want.errors, want.stopped, r)
	}
	return s
}

// getFeatures runs feathr get and returns its decoded JSON.
func getFeatures(t *testing.T, redisAddr, table, key string, features []string) map[string]any {
	t.Helper()
	r := mustFeathr(t, "", "get", "--redis", "redis://"+redisAddr, table, key, strings.Join(features, ","))
	var out map[string]any
	decodeJSON(t, r.stdout, &out)
	return out
}

// multiGet runs feathr multi-get with the keys on stdin (KEYS "-") and
// returns its decoded JSON.
func multiGet(t *testing.T, redisAddr, table string, keys []string, features []string) map[string]map[string]any {
	t.Helper()
	args := append([]string{"multi-get", "--redis", "redis://" + redisAddr, table, "-"}, features...)
	r := mustFeathr(t, strings.Join(keys, "\n")+"\n", args...)
	var out map[string]map[string]any
	decodeJSON(t, r.stdout, &out)
	return out
}
