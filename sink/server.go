package sink

import (
	"errors"
	"fmt"

	"github.com/gomodule/redigo/redis"
)

// sendBatch sends the commands of b's writes on c, recording them in
// b.calls: the consecutive EventTime writes of a table go to one call of
// the script, up to scriptKeys at a time. s.sendMu is held.
func (s *shard) sendBatch(c redis.Conn, b *batch) error {
	b.calls = b.calls[:0]
	for i := 0; i < len(b.writes); {
		wr := &b.writes[i]
		if wr.table.Ordering == EventTime {
			j := i + 1
			for j < len(b.writes) && j-i < scriptKeys && b.writes[j].table == wr.table {
				j++
			}
			if err := s.sendScript(c, b, i, j); err != nil {
				return err
			}
			i = j
			continue
		}
		if err := s.sendArrival(c, b, i); err != nil {
			return err
		}
		i++
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("send batch: %w", err)
	}
	return nil
}

// sendScript sends one call of the script for writes[from:to], all of one
// table.
func (s *shard) sendScript(c redis.Conn, b *batch, from, to int) error {
	args := s.argCache.appendScript(s.args[:0], s.w.script, b.writes[from:to])
	err := c.Send("EVALSHA", args...)
	s.args = clearArgs(args)
	if err != nil {
		return fmt.Errorf("send batch: %w", err)
	}
	b.calls = append(b.calls, call{kind: callScript, from: from, to: to})
	return nil
}

// sendArrival sends the HSET (and PEXPIRE) of writes[i], an Arrival write.
func (s *shard) sendArrival(c redis.Conn, b *batch, i int) error {
	wr := &b.writes[i]
	ta := s.tableArgs(wr.table)
	args := append(s.args[:0], wr.key)
	for _, f := range wr.fields {
		args = append(args, s.name(f.name), f.value)
	}
	err := c.Send("HSET", args...)
	s.args = clearArgs(args)
	if err != nil {
		return fmt.Errorf("send batch: %w", err)
	}
	b.calls = append(b.calls, call{kind: callHSet, from: i, to: i + 1})
	if wr.table.TTL <= 0 {
		return nil
	}
	if err := c.Send("PEXPIRE", wr.key, ta.ttl); err != nil {
		return fmt.Errorf("send batch: %w", err)
	}
	b.calls = append(b.calls, call{kind: callPExpire, from: i, to: i + 1})
	return nil
}

// receiveBatch reads the reply of every command in b.calls from c and
// returns the number of updates found stale. Error replies are read to
// the end and the first is returned.
func (s *shard) receiveBatch(c redis.Conn, b *batch) (stale int, err error) {
	var replyErr error
	for n, cl := range b.calls {
		var r any
		if n == 0 {
			// Only the first reply waits for the server: let Close
			// interrupt it.
			r, err = redis.ReceiveContext(c, s.w.ctx)
		} else {
			r, err = c.Receive()
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
		written, _ := r.([]any)
		if len(written) != cl.to-cl.from {
			return 0, fmt.Errorf("read replies: the script answered %d keys of %d", len(written), cl.to-cl.from)
		}
		for k, v := range written {
			if n, ok := v.(int64); ok && n == 0 {
				stale += b.writes[cl.from+k].updates
			}
		}
	}
	if replyErr != nil {
		return 0, replyErr
	}
	return stale, nil
}
