package decode

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync"

	"github.com/feathrgo/feathr/record"
)

// maxCachedProgs bounds the compiled writer schemas one decoder keeps;
// beyond it a schema is recompiled per message (the registry still caches
// its text).
const maxCachedProgs = 1024

// Confluent decodes Confluent-framed Avro: a zero magic byte, a 4-byte
// big-endian schema id, then Avro binary written with that schema.
type Confluent struct {
	reader *atype // nil: each message is read with its writer schema
	schema record.Schema
	reg    *Registry
	lim    Limits

	mu    sync.RWMutex
	progs map[int32]*confProg
}

// confProg is the compiled reader for one writer schema id, or why there
// is none. Both are final: schemas never change under an id.
type confProg struct {
	prog *prog
	err  error
}

// NewConfluent returns a decoder of Confluent-framed Avro whose writer
// schemas are fetched from reg by id.
//
// With a reader schema (the main path: the pipeline type-checks against
// it), each message is resolved from its writer schema to the reader's by
// the Avro rules: fields match by name or reader alias; writer fields the
// reader lacks are skipped; a reader field the writer lacks takes its
// default, else null when nullable, else every message with that writer
// schema fails with ErrMissingField; int, long and float promote to wider
// numbers, string and bytes to each other.
//
// Without a reader schema (readerSchemaJSON empty), records carry the
// writer's fields and Schema returns a Schema without fields.
//
// Decode looks schemas up with context.Background(), bounded by the
// registry client's timeout; DecodeContext takes a context.
func NewConfluent(readerSchemaJSON string, reg *Registry, lim Limits) (*Confluent, error) {
	if reg == nil {
		return nil, fmt.Errorf("confluent decoder: nil registry")
	}
	d := &Confluent{reg: reg, lim: lim.withDefaults(), progs: make(map[int32]*confProg)}
	if readerSchemaJSON != "" {
		t, err := parseAvro(readerSchemaJSON)
		if err != nil {
			return nil, err
		}
		d.reader, d.schema = t, schemaOf(t)
	}
	return d, nil
}

// Schema returns the reader schema, or a Schema without fields when the
// decoder has none.
func (d *Confluent) Schema() record.Schema { return d.schema }

// Decode decodes one framed message.
func (d *Confluent) Decode(b []byte) (record.Record, error) {
	return d.DecodeContext(context.Background(), b)
}

// DecodeContext decodes one framed message; ctx bounds a registry lookup
// for a schema id not seen before.
func (d *Confluent) DecodeContext(ctx context.Context, b []byte) (record.Record, error) {
	return d.decode(ctx, b, nil)
}

// DecodeReuse is Decode into r: see Reuser.
func (d *Confluent) DecodeReuse(b []byte, r record.Record) (record.Record, error) {
	return d.decode(context.Background(), b, r)
}

func (d *Confluent) decode(ctx context.Context, b []byte, reuse record.Record) (record.Record, error) {
	if len(b) > d.lim.MaxBytes {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(b), d.lim.MaxBytes)
	}
	if len(b) < 5 {
		return nil, fmt.Errorf("%w: %d bytes, shorter than the 5-byte header", ErrBadFraming, len(b))
	}
	if b[0] != 0 {
		return nil, fmt.Errorf("%w: magic byte %#x, want 0", ErrBadFraming, b[0])
	}
	id := int32(binary.BigEndian.Uint32(b[1:5]))
	p, err := d.prog(ctx, id)
	if err != nil {
		return nil, err
	}
	r, err := decodeBinary(p, b[5:], d.lim, reuse)
	if err != nil {
		return nil, fmt.Errorf("schema id %d: %w", id, err)
	}
	return r, nil
}

// prog returns the compiled reader for a writer schema id.
func (d *Confluent) prog(ctx context.Context, id int32) (*prog, error) {
	d.mu.RLock()
	cp := d.progs[id]
	d.mu.RUnlock()
	if cp == nil {
		text, err := d.reg.Schema(ctx, id)
		if err != nil {
			return nil, err // not cached here: the registry caches what is final
		}
		cp = &confProg{}
		w, err := parseAvro(text)
		if err != nil {
			cp.err = fmt.Errorf("writer schema id %d: %w", id, err)
		} else {
			r := d.reader
			if r == nil {
				r = w
			}
			cp.prog = newCompiler().compile(w, r)
			if cp.prog.op == opFail {
				cp.err = fmt.Errorf("writer schema id %d: %w", id, cp.prog.err)
			}
			for _, def := range cp.prog.defaults {
				if def.err != nil && cp.err == nil {
					cp.err = fmt.Errorf("writer schema id %d: %w", id, def.err)
				}
			}
		}
		d.mu.Lock()
		if len(d.progs) < maxCachedProgs {
			d.progs[id] = cp
		}
		d.mu.Unlock()
	}
	return cp.prog, cp.err
}
