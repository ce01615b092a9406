package sink

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
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
		if err := sw.w.script.Load(c); err != nil {
			var re redis.Error
			if !errors.As(err, &re) {
				c.Close()
				return nil, fmt.Errorf("load script: %w", err)
			}
			sw.scriptErr = fmt.Errorf("load script: %w", err)
		}
		id, err := redis.Int64(c.Do("CLIENT", "ID"))
		if err != nil {
			var re redis.Error
			if !errors.As(err, &re) {
				c.Close()
				return nil, fmt.Errorf("client id: %w", err)
			}
			id = 0 // not allowed: this connection cannot be killed when dropped
		}
		// The pool hands out again a connection it drained of every
		// reply when it was dropped: nothing of it is left to run.
		sw.dropped = slices.DeleteFunc(sw.dropped, func(d int64) bool { return d == id })
		if err := sw.killDropped(c); err != nil {
			c.Close()
			return nil, err
		}
		sw.conn, sw.connID = c, id
	}
	if sw.scriptErr != nil && b.needsScript() {
		return nil, sw.scriptErr
	}
	return sw.conn, nil
}

// killDropped ends the connections dropped since the last dial (CLIENT
// KILL ID), on c, before anything is sent on it. Redis may not have read
// all the commands of a dropped connection yet, and would run them after
// the batches written again on c: an older arrival value over a newer one
// (event-time writes are safe: the script keeps the newest). Killing the
// connection discards what it did not run. Only a connection error keeps
// them to kill on the next connection.
func (sw *serverWriter) killDropped(c redis.Conn) error {
	for len(sw.dropped) > 0 {
		_, err := c.Do("CLIENT", "KILL", "ID", sw.dropped[0])
		var re redis.Error
		if err != nil && !errors.As(err, &re) {
			return fmt.Errorf("kill a dropped connection: %w", err)
		}
		if err != nil && !strings.Contains(string(re), "No such client") {
			sw.w.log.Warn("redis: could not end a dropped connection; a write it still holds may run after newer writes", "err", err)
		}
		sw.dropped = sw.dropped[1:]
	}
	return nil
}

// drop closes the connection, unless b was sent on another (b nil: in
// any case), and keeps its CLIENT ID to kill (killDropped).
func (sw *serverWriter) drop(b *batch) {
	if sw.conn == nil || b != nil && b.conn != sw.conn {
		return
	}
	if sw.connID != 0 {
		sw.dropped = append(sw.dropped, sw.connID)
	}
	sw.conn.Close()
	sw.conn, sw.connID = nil, 0
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
// these.
func isScriptError(err error) bool {
	var re redis.Error
	if !errors.As(err, &re) || !strings.HasPrefix(string(re), "ERR ") {
		return false
	}
	msg := string(re)
	return strings.Contains(msg, "user_script") || strings.Contains(msg, "Error running script") ||
		strings.Contains(msg, "Error compiling script")
}
