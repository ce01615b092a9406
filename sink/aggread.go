package sink

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/gomodule/redigo/redis"

	"github.com/feathrgo/feathr/window"
)

// sendRead sends, on c, the commands that read key K's aggregated
// features at time T from its state (an HMGET of the tiles, a PFCOUNT of
// the HyperLogLogs of each COUNT_DISTINCT tile visible at T); read them
// with receiveRead and the same T.
func (am *aggMaterialization) sendRead(c redis.Conn, key string, T int64) error {
	s := stateKey(key, am.name)
	if len(am.tileRead) > 0 {
		if err := c.Send("HMGET", append([]any{s}, am.tileRead...)...); err != nil {
			return fmt.Errorf("sink: send aggregation read: %w", err)
		}
	}
	for _, f := range am.features {
		if f.Spec.Func != window.CountDistinct {
			continue
		}
		first, last := f.Spec.VisibleRange(T)
		keys := make([]any, 0, last-first+1)
		prefix := s + ":d:" + f.Name + ":"
		for b := first; b <= last; b++ {
			keys = append(keys, prefix+strconv.FormatInt(b, 10))
		}
		if err := c.Send("PFCOUNT", keys...); err != nil {
			return fmt.Errorf("sink: send aggregation read: %w", err)
		}
	}
	return nil
}

// readReplies is the number of replies of one sendRead.
func (am *aggMaterialization) readReplies() int {
	n := 0
	if len(am.tileRead) > 0 {
		n++
	}
	for _, f := range am.features {
		if f.Spec.Func == window.CountDistinct {
			n++
		}
	}
	return n
}

// receiveRead reads the replies of one sendRead into out, one value per
// feature: the value at T converted to the feature's type (see
// window.Output), nil when null. It reads every reply of the key, even
// after an error reply (the first is returned, as is: a cluster's
// redirection, say), so that the replies of later commands stay in step.
func (am *aggMaterialization) receiveRead(c redis.Conn, T int64, out []any) error {
	replies := make([]any, am.readReplies())
	var replyErr error
	for i := range replies {
		r, err := c.Receive()
		if err != nil {
			if !errors.As(err, new(redis.Error)) {
				return fmt.Errorf("sink: aggregation read: %w", err)
			}
			replyErr = firstErr(replyErr, err)
		}
		replies[i] = r
	}
	if replyErr != nil {
		return replyErr
	}
	return am.decodeRead(replies, T, out)
}

// decodeRead computes the values of out from the replies of one sendRead.
func (am *aggMaterialization) decodeRead(replies []any, T int64, out []any) error {
	var tiles [][]byte
	if len(am.tileRead) > 0 {
		var err error
		if tiles, err = redis.ByteSlices(replies[0], nil); err != nil {
			return fmt.Errorf("sink: aggregation read: %w", err)
		}
		replies = replies[1:]
	}
	var ts []window.Tile
	var acc window.Tile
	i := 0
	for j, f := range am.features {
		if f.Spec.Func == window.CountDistinct {
			n, err := redis.Int64(replies[0], nil)
			replies = replies[1:]
			if err != nil {
				return fmt.Errorf("sink: aggregation read %s: %w", f.Name, err)
			}
			out[j] = nil
			if n > 0 {
				out[j] = window.Output(n, f.Type)
			}
			continue
		}
		raw := tiles[i]
		i++
		if cached(f.Spec.Func) {
			raw = stateTiles(raw, tiles[i])
			i++
		}
		var err error
		if ts, err = window.DecodeTiles(ts, f.Spec.Func, raw); err != nil {
			return fmt.Errorf("sink: aggregation read %s: %w", f.Name, err)
		}
		f.Spec.Fold(&acc, ts, T)
		v := f.Spec.Func.Value(&acc)
		switch {
		case v == nil:
			out[j] = nil
		case f.Spec.Func == window.Latest:
			if out[j], err = DecodeValue(v.([]byte)); err != nil {
				return fmt.Errorf("sink: aggregation read %s: %w", f.Name, err)
			}
		default:
			out[j] = window.Output(v, f.Type)
		}
	}
	return nil
}
