package sink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/gomodule/redigo/redis"
)

// getConn returns the connection for writing b, dialing a new one when
// there is none. A broken connection is returned as it is: its batches
// fail, and the receiver drops it.
//
// The script is loaded right after dialing, whether b needs it or not:
// later, batches may be in flight on the connection, whose replies only
// the receiver reads, so a round trip of the sender's own (Do) would
// consume them. A connection that NOSCRIPT failed is dropped, and the
// next one loads the script again. An error reply to SCRIPT LOAD (say,
// NOPERM) fails only the batches that need the script.
func (sw *serverWriter) getConn(b *batch) (redis.Conn, error) {
	if sw.conn == nil {
		c, err := sw.pool.GetContext(sw.w.ctx)
		if err != nil {
			return nil, err
		}
		sw.scriptErr = nil
		if err := loadScripts(c, sw.w.script); err != nil {
			var re redis.Error
			if !errors.As(err, &re) {
				c.Close()
				return nil, fmt.Errorf("load script: %w", err)
			}
			sw.scriptErr = fmt.Errorf("load script: %w", err)
		}
		if err := sw.dropped.opened(c, sw.w.log); err != nil {
			c.Close()
			return nil, err
		}
		sw.conn = c
	}
	if sw.scriptErr != nil && b.needsScript() {
		return nil, sw.scriptErr
	}
	return sw.conn, nil
}

// drop closes the connection, unless b was sent on another (b nil: in
// any case), keeping its ID to end (see droppedConns).
func (sw *serverWriter) drop(b *batch) {
	if sw.conn == nil || b != nil && b.conn != sw.conn {
		return
	}
	sw.dropped.drop(sw.conn)
	sw.conn = nil
}

// connRef names a connection of one server instance. CLIENT IDs start
// again (from 1 or so) when a server restarts, and a replica promoted by
// a failover has IDs of its own: an ID alone may name another client's
// connection. run_id (INFO server) tells the instances apart.
type connRef struct {
	runID string // the instance's run_id; "" unknown
	id    int64  // CLIENT ID; 0 unknown
}

// droppedConns ends the connections a shard dropped on a server (one
// server, or one master of a cluster), on its next connection to the
// same instance, before anything is sent on it. Redis may not have read
// all the commands of a dropped connection yet, and would run them after
// the batches written again on the new one: an older arrival value over
// a newer one (event-time writes are safe: the script keeps the newest).
// CLIENT KILL ID discards what it did not run. A connection whose ID or
// instance is unknown (CLIENT ID or INFO refused, say by an ACL) cannot
// be ended, nor one of another instance than the new connection's (a
// restart, whose old commands died with it, or a failover, whose old
// master may still run them): that window stays open. It belongs to one
// goroutine at a time.
type droppedConns struct {
	self  connRef   // the current connection's
	conns []connRef // dropped, to end
}

// opened takes c, just handed out by the pool, as the current connection:
// it learns c's CLIENT ID and its instance's run_id, and ends on c the
// dropped connections of that instance, forgetting the others. Only a
// connection error is returned: c is then unusable.
func (d *droppedConns) opened(c redis.Conn, log *slog.Logger) error {
	self, err := identify(c)
	if err != nil {
		return err
	}
	d.self = self
	conns := d.conns
	d.conns = d.conns[:0]
	for _, dc := range conns {
		if dc == self {
			continue // handed out again: drained, nothing of it left to run
		}
		if self.runID == "" {
			log.Warn("redis: could not end a dropped connection: the server instance is unknown (INFO refused); a write it still holds may run after newer writes")
			continue
		}
		if dc.runID != self.runID {
			continue // another instance: see droppedConns
		}
		_, err := c.Do("CLIENT", "KILL", "ID", dc.id)
		var re redis.Error
		if err != nil && !errors.As(err, &re) {
			d.conns = append(d.conns, dc)
			return fmt.Errorf("kill a dropped connection: %w", err)
		}
		if err != nil && !strings.Contains(string(re), "No such client") {
			log.Warn("redis: could not end a dropped connection; a write it still holds may run after newer writes", "err", err)
		}
	}
	return nil
}

// drop closes c, the current connection. When c broke, or its pending
// replies cannot be read, Redis may still hold commands of it: its ID is
// kept to end. Else every command of it ran, and it goes back to the pool
// (whose next user must not be killed).
func (d *droppedConns) drop(c redis.Conn) {
	if c.Err() == nil {
		c.Do("") // read what is pending: the pool would
	}
	if c.Err() != nil && d.self.id != 0 {
		d.conns = append(d.conns, d.self)
	}
	c.Close()
	d.self = connRef{}
}

// identify returns the connRef of c, in one round trip: an error reply
// (CLIENT ID or INFO refused) leaves its part unknown.
func identify(c redis.Conn) (connRef, error) {
	var ref connRef
	c.Send("CLIENT", "ID")
	c.Send("INFO", "server")
	if err := c.Flush(); err != nil {
		return ref, fmt.Errorf("client id: %w", err)
	}
	id, err := redis.Int64(c.Receive())
	if err != nil && !errors.As(err, new(redis.Error)) {
		return ref, fmt.Errorf("client id: %w", err)
	}
	info, ierr := redis.String(c.Receive())
	if ierr != nil && !errors.As(ierr, new(redis.Error)) {
		return ref, fmt.Errorf("info server: %w", ierr)
	}
	if err == nil {
		ref.id = id
	}
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "run_id:"); ok {
			ref.runID = v
		}
	}
	return ref, nil
}

// backoff returns the delay before the attempt after attempt (0: the
// first) failed: MinBackoff doubling to MaxBackoff, with jitter.
func (o *WriterOptions) backoff(attempt int) time.Duration {
	d := o.MinBackoff
	for i := 0; i < attempt && d < o.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, o.MaxBackoff)
	return d/2 + rand.N(d/2+1) // jitter: [d/2, d]
}

// pingConn PINGs on c within ctx, and closes c.
func pingConn(ctx context.Context, c redis.Conn) error {
	defer c.Close()
	_, err := redis.DoContext(c, ctx, "PING")
	return err
}

// replies reads, in order, the replies of a pipeline flushed on c. Only
// the first waits for the server, so only it is read under ctx (the
// writer's, which Close cancels, or a read's); the rest follow it, each
// under the connection's read timeout.
type replies struct {
	c    redis.Conn
	ctx  context.Context
	read int
}

// next reads the next reply.
func (r *replies) next() (any, error) {
	r.read++
	if r.read == 1 {
		return redis.ReceiveContext(r.c, r.ctx)
	}
	return r.c.Receive()
}

// asking reads the reply to an ASKING and returns only a connection
// error: the reply to the command after it says whether it was followed.
func (r *replies) asking() error {
	if _, err := r.next(); err != nil && !errors.As(err, new(redis.Error)) {
		return err
	}
	return nil
}

// isReply reports whether err is a Redis error reply that starts with
// code, such as NOSCRIPT.
func isReply(err error, code string) bool {
	var re redis.Error
	return errors.As(err, &re) && strings.HasPrefix(string(re), code)
}

// isFatal reports whether err is a Redis error reply that retrying cannot
// heal: a refused AUTH or permission, a key of another type, a cluster's
// redirection or refusal, or a script error (see isScriptError).
// Connection errors and other replies (LOADING, BUSY, OOM, READONLY,
// MASTERDOWN, NOSCRIPT, ...) are retried.
func isFatal(err error) bool {
	var re redis.Error
	if !errors.As(err, &re) {
		return false
	}
	msg := string(re)
	code, _, _ := strings.Cut(msg, " ")
	switch code {
	case "WRONGTYPE", "NOAUTH", "WRONGPASS", "NOPERM", "MOVED", "ASK", "CROSSSLOT":
		return true
	case "ERR":
		if isScriptError(err) {
			return true
		}
		for _, s := range []string{"invalid password", "AUTH", "DB index", "unknown command", "invalid DB", "WRONGTYPE"} {
			if strings.Contains(msg, s) {
				return true
			}
		}
	}
	return strings.Contains(msg, "WRONGTYPE")
}

// isScriptError reports whether err is an ERR reply of a Lua script that
// failed: a runtime error ("ERR user_script:12: ...", "ERR Error running
// script ..."), or one that does not compile ("ERR Error compiling
// script ..."). The same arguments would fail again. Errors of commands
// the script runs keep their codes (OOM, READONLY, ...), and are not
// these; nor is a key of a slot that moved while the script ran ("ERR
// Script attempted to access a non local key"): a later try finds it
// where the slot went.
func isScriptError(err error) bool {
	var re redis.Error
	if !errors.As(err, &re) || !strings.HasPrefix(string(re), "ERR ") {
		return false
	}
	msg := string(re)
	if strings.Contains(msg, "non local key") {
		return false
	}
	return strings.Contains(msg, "user_script") || strings.Contains(msg, "Error running script") ||
		strings.Contains(msg, "Error compiling script")
}
