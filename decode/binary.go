package decode

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/big"
	"time"

	"github.com/feathrgo/feathr/record"
)

// binReader reads Avro binary data. It lives on the stack of one Decode
// call.
type binReader struct {
	buf      []byte
	pos      int
	items    int // array and map items still allowed in this message
	maxDepth int
}

// decodeBinary decodes one record and requires it to use all of b.
// When reuse is not nil, the record is decoded into it: its entries are
// replaced.
func decodeBinary(p *prog, b []byte, lim Limits, reuse record.Record) (record.Record, error) {
	if len(b) > lim.MaxBytes {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(b), lim.MaxBytes)
	}
	r := binReader{buf: b, items: lim.MaxBytes, maxDepth: lim.MaxDepth}
	m, err := r.record(p, 1, reuse)
	if err != nil {
		return nil, err
	}
	if r.pos != len(b) {
		return nil, fmt.Errorf("%w: %d bytes after the record's %d", ErrTrailingData, len(b)-r.pos, r.pos)
	}
	return record.Record(m), nil
}

func (r *binReader) truncated(what string) error {
	return fmt.Errorf("%w: %s at byte %d of %d", ErrTruncated, what, r.pos, len(r.buf))
}

// long reads a zig-zag varint of at most 10 bytes.
func (r *binReader) long() (int64, error) {
	var v uint64
	for shift := uint(0); shift < 64; shift += 7 {
		if r.pos >= len(r.buf) {
			return 0, r.truncated("varint")
		}
		c := r.buf[r.pos]
		r.pos++
		if shift == 63 && c > 1 {
			return 0, fmt.Errorf("%w: varint overflows 64 bits at byte %d", ErrMalformed, r.pos-1)
		}
		v |= uint64(c&0x7f) << shift
		if c < 0x80 {
			return int64(v>>1) ^ -int64(v&1), nil
		}
	}
	return 0, fmt.Errorf("%w: varint longer than 10 bytes at byte %d", ErrMalformed, r.pos-1)
}

func (r *binReader) int() (int64, error) {
	start := r.pos
	v, err := r.long()
	if err == nil && (v < math.MinInt32 || v > math.MaxInt32) {
		return 0, fmt.Errorf("%w: int %d at byte %d overflows 32 bits", ErrMalformed, v, start)
	}
	return v, err
}

// length reads a non-negative length and checks that many bytes remain.
func (r *binReader) length(what string) (int, error) {
	n, err := r.long()
	if err != nil {
		return 0, err
	}
	if n < 0 {
		return 0, fmt.Errorf("%w: negative %s length %d at byte %d", ErrMalformed, what, n, r.pos)
	}
	if n > int64(len(r.buf)-r.pos) {
		return 0, fmt.Errorf("%w: %s of %d bytes at byte %d, %d remain", ErrTruncated, what, n, r.pos, len(r.buf)-r.pos)
	}
	return int(n), nil
}

func (r *binReader) fixed(n int, what string) ([]byte, error) {
	if n > len(r.buf)-r.pos {
		return nil, r.truncated(what)
	}
	b := r.buf[r.pos : r.pos+n]
	r.pos += n
	return b, nil
}

// blockCount reads an array or map block header and charges its items to
// the message's item budget.
func (r *binReader) blockCount() (int, error) {
	n, err := r.long()
	if err != nil {
		return 0, err
	}
	if n < 0 {
		if n == math.MinInt64 {
			return 0, fmt.Errorf("%w: block count %d", ErrMalformed, n)
		}
		n = -n
		size, err := r.long() // byte size of the block, unused
		if err != nil {
			return 0, err
		}
		if size < 0 {
			return 0, fmt.Errorf("%w: negative block size %d", ErrMalformed, size)
		}
	}
	if n > int64(r.items) {
		return 0, fmt.Errorf("%w: more than %d array and map items", ErrTooLarge, r.items)
	}
	r.items -= int(n)
	return int(n), nil
}

func (r *binReader) value(p *prog, depth int) (any, error) {
	switch p.op {
	case opNull:
		return nil, nil
	case opBool:
		b, err := r.fixed(1, "boolean")
		if err != nil {
			return nil, err
		}
		if b[0] > 1 {
			return nil, fmt.Errorf("%w: boolean byte %#x at byte %d", ErrMalformed, b[0], r.pos-1)
		}
		return b[0] == 1, nil
	case opInt, opLong:
		var v int64
		var err error
		if p.op == opInt {
			v, err = r.int()
		} else {
			v, err = r.long()
		}
		if err != nil {
			return nil, err
		}
		return convInt(v, p.cv), nil
	case opFloat:
		b, err := r.fixed(4, "float")
		if err != nil {
			return nil, err
		}
		return float64(math.Float32frombits(binary.LittleEndian.Uint32(b))), nil
	case opDouble:
		b, err := r.fixed(8, "double")
		if err != nil {
			return nil, err
		}
		return math.Float64frombits(binary.LittleEndian.Uint64(b)), nil
	case opBytes, opString, opFixed:
		var b []byte
		var err error
		if p.op == opFixed {
			b, err = r.fixed(p.size, "fixed")
		} else {
			var n int
			if n, err = r.length(p.op.String()); err == nil {
				b, _ = r.fixed(n, "")
			}
		}
		if err != nil {
			return nil, err
		}
		switch p.cv {
		case cvString:
			return string(b), nil
		case cvDecimal:
			return decimalFloat(b, p.scale), nil
		}
		// Copy: the caller may reuse the message buffer.
		return append([]byte(nil), b...), nil
	case opEnum:
		i, err := r.int()
		if err != nil {
			return nil, err
		}
		if i < 0 || i >= int64(len(p.symbols)) {
			return nil, fmt.Errorf("%w: enum index %d out of range [0, %d)", ErrMalformed, i, len(p.symbols))
		}
		if p.symbols[i] == "" {
			return nil, fmt.Errorf("%w: enum symbol %q is not in the reader's enum", ErrMismatch, p.wsyms[i])
		}
		return p.symbols[i], nil
	case opUnion:
		i, err := r.long()
		if err != nil {
			return nil, err
		}
		if i < 0 || i >= int64(len(p.branches)) {
			return nil, fmt.Errorf("%w: union index %d out of range [0, %d)", ErrMalformed, i, len(p.branches))
		}
		return r.value(p.branches[i], depth)
	case opRecord:
		m, err := r.record(p, depth, nil)
		if err != nil {
			return nil, err
		}
		return m, nil
	case opArray:
		return r.array(p, depth)
	case opMap:
		return r.amap(p, depth)
	case opFail:
		return nil, p.err
	}
	panic("decode: unknown opcode")
}

func convInt(v int64, cv conv) any {
	switch cv {
	case cvFloat:
		return float64(v)
	case cvDate:
		return time.Unix(v*86400, 0).UTC()
	case cvTsMillis:
		return time.UnixMilli(v).UTC()
	case cvTsMicros:
		return time.UnixMicro(v).UTC()
	case cvTsNanos:
		return time.Unix(0, v).UTC()
	}
	return v
}

// decimalFloat converts a big-endian two's-complement unscaled value.
func decimalFloat(b []byte, scale int) float64 {
	if len(b) <= 8 {
		var u int64
		for _, c := range b {
			u = u<<8 | int64(c)
		}
		if len(b) > 0 && len(b) < 8 && b[0]&0x80 != 0 {
			u -= 1 << (8 * len(b)) // sign-extend
		}
		return float64(u) / math.Pow10(scale)
	}
	n := new(big.Int).SetBytes(b)
	if b[0]&0x80 != 0 {
		n.Sub(n, new(big.Int).Lsh(big.NewInt(1), uint(8*len(b))))
	}
	f, _ := new(big.Float).Quo(new(big.Float).SetInt(n), new(big.Float).SetFloat64(math.Pow10(scale))).Float64()
	return f
}

// record decodes a record into m, or into a new map when m is nil.
func (r *binReader) record(p *prog, depth int, m map[string]any) (map[string]any, error) {
	if p.op != opRecord {
		if p.op == opFail {
			return nil, p.err
		}
		return nil, fmt.Errorf("%w: not a record", ErrMismatch)
	}
	if depth > r.maxDepth {
		return nil, fmt.Errorf("%w: more than %d levels", ErrTooDeep, r.maxDepth)
	}
	if m == nil {
		m = make(map[string]any, p.nout)
	} else {
		clear(m)
	}
	for i := range p.fields {
		f := &p.fields[i]
		v, err := r.value(f.p, depth+1)
		if err != nil {
			return nil, fieldError(f.name, err)
		}
		if f.keep {
			m[f.name] = v
		}
	}
	for i := range p.defaults {
		d := &p.defaults[i]
		if d.err != nil {
			return nil, d.err
		}
		m[d.name] = cloneValue(d.val)
	}
	return m, nil
}

func (r *binReader) array(p *prog, depth int) ([]any, error) {
	if depth > r.maxDepth {
		return nil, fmt.Errorf("%w: more than %d levels", ErrTooDeep, r.maxDepth)
	}
	var out []any
	for {
		n, err := r.blockCount()
		if err != nil {
			return nil, err
		}
		if n == 0 {
			break
		}
		if out == nil {
			out = make([]any, 0, min(n, len(r.buf)-r.pos))
		}
		for range n {
			v, err := r.value(p.elem, depth+1)
			if err != nil {
				return nil, fieldError(fmt.Sprintf("[%d]", len(out)), err)
			}
			out = append(out, v)
		}
	}
	if out == nil {
		out = []any{}
	}
	return out, nil
}

func (r *binReader) amap(p *prog, depth int) (map[string]any, error) {
	if depth > r.maxDepth {
		return nil, fmt.Errorf("%w: more than %d levels", ErrTooDeep, r.maxDepth)
	}
	var out map[string]any
	for {
		n, err := r.blockCount()
		if err != nil {
			return nil, err
		}
		if n == 0 {
			break
		}
		if out == nil {
			out = make(map[string]any, min(n, (len(r.buf)-r.pos)/2))
		}
		for range n {
			kn, err := r.length("map key")
			if err != nil {
				return nil, err
			}
			kb, _ := r.fixed(kn, "")
			k := string(kb)
			if _, dup := out[k]; dup {
				return nil, fmt.Errorf("%w: duplicate map key %q", ErrMalformed, k)
			}
			v, err := r.value(p.elem, depth+1)
			if err != nil {
				return nil, fieldError(fmt.Sprintf("[%q]", k), err)
			}
			out[k] = v
		}
	}
	if out == nil {
		out = map[string]any{}
	}
	return out, nil
}

// cloneValue deep-copies the mutable parts of a default value, so records
// never share a slice or map.
func cloneValue(v any) any {
	switch x := v.(type) {
	case []byte:
		return append([]byte(nil), x...)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = cloneValue(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = cloneValue(e)
		}
		return out
	}
	return v
}

func (o opcode) String() string {
	switch o {
	case opBytes:
		return "bytes"
	case opString:
		return "string"
	}
	return fmt.Sprintf("opcode(%d)", uint8(o))
}
