package sink

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gomodule/redigo/redis"
)

// server is a single Redis server, a Store's backend: a pool of
// connections to it.
type server struct {
	pool *redis.Pool
}

// ping PINGs the server on a connection from the pool.
func (sv *server) ping(ctx context.Context) error {
	c, err := sv.pool.GetContext(ctx)
	if err != nil {
		return err
	}
	return pingConn(ctx, c)
}

// batchWriter returns a shard's writer into the server.
func (sv *server) batchWriter(w *Writer) batchWriter { return newServerWriter(w, sv.pool) }

// close closes the pool.
func (sv *server) close() error { return sv.pool.Close() }

// serverWriter is a shard's batchWriter into one Redis server: one
// connection at a time, on which the sender pipelines each batch's
// commands while the receiver reads the replies of the batches before.
// Its fields are guarded by the shard's sendMu.
type serverWriter struct {
	w    *Writer
	pool *redis.Pool
	conn redis.Conn
	// scriptErr is the error reply to loading the script on conn.
	scriptErr error
	dropped   droppedConns
	cmds      cmdBuilder
}

func newServerWriter(w *Writer, pool *redis.Pool) *serverWriter {
	return &serverWriter{w: w, pool: pool, cmds: cmdBuilder{script: w.script}}
}

// send sends b's commands on the connection, dialing one if there is
// none, and records the connection (or the error) in b.
func (sw *serverWriter) send(b *batch) {
	b.sentAt = time.Now()
	b.conn, b.sendErr = sw.getConn(b)
	if b.sendErr == nil {
		b.sendErr = sw.sendBatch(b.conn, b)
	}
}

// receive reads the replies of b's commands from the connection send
// sent them on. Only the receiver reads replies: sendMu need not be held.
func (sw *serverWriter) receive(b *batch) (outcome, error) {
	if b.sendErr != nil {
		return outcome{}, b.sendErr
	}
	stale, err := sw.receiveBatch(b.conn, b)
	if err != nil {
		return outcome{}, err
	}
	return outcome{stale: stale, commands: len(b.calls), roundTrip: time.Since(b.sentAt)}, nil
}

// exec writes b in one pipelined round trip and reads every reply.
func (sw *serverWriter) exec(b *batch) (outcome, error) {
	sw.send(b)
	return sw.receive(b)
}

// sendBatch sends the commands of b's writes on c, recording them in
// b.calls: the consecutive event-time writes of a table go to one call of
// the script, up to scriptKeys at a time.
func (sw *serverWriter) sendBatch(c redis.Conn, b *batch) error {
	b.calls = b.calls[:0]
	for i := 0; i < len(b.writes); {
		wr := &b.writes[i]
		j := i + 1
		if wr.table.byEventTime() {
			for j < len(b.writes) && j-i < scriptKeys && b.writes[j].table == wr.table {
				j++
			}
			b.calls = append(b.calls, call{kind: callScript, from: i, to: j})
		} else {
			b.calls = append(b.calls, call{kind: callHSet, from: i, to: j})
			if wr.table.TTL > 0 {
				b.calls = append(b.calls, call{kind: callPExpire, from: i, to: j})
			}
		}
		if err := sw.cmds.send(c, b.writes[i:j], false); err != nil {
			return fmt.Errorf("send batch: %w", err)
		}
		i = j
	}
	if err := b.sendAggs(c); err != nil {
		return fmt.Errorf("send batch: %w", err)
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("send batch: %w", err)
	}
	return nil
}

// receiveBatch reads the reply of every command in b.calls from c and
// returns the number of updates found stale. Error replies are read to
// the end and the first is returned.
func (sw *serverWriter) receiveBatch(c redis.Conn, b *batch) (int, error) {
	stale := 0
	var replyErr error
	rs := replies{c: c, ctx: sw.w.ctx}
	for _, cl := range b.calls {
		r, err := rs.next()
		if cl.kind == callAgg {
			if err := b.aggs.reply(cl, r, err, &replyErr); err != nil {
				return 0, err
			}
			continue
		}
		if err != nil {
			var re redis.Error
			if !errors.As(err, &re) {
				return 0, fmt.Errorf("read replies: %w", err)
			}
			if replyErr == nil {
				replyErr = fmt.Errorf("key %q: %w", b.writes[cl.from].key, err)
			}
			continue
		}
		if cl.kind != callScript {
			continue
		}
		n, err := scriptReply(r, b.writes[cl.from:cl.to])
		var re redis.Error
		if err != nil && !errors.As(err, &re) {
			return 0, fmt.Errorf("read replies: %w", err)
		}
		if err != nil && replyErr == nil {
			replyErr = err
		}
		stale += n
	}
	if replyErr != nil {
		return 0, replyErr
	}
	return stale, nil
}
