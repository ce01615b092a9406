package decode

import (
	"fmt"
	"strings"
)

// A prog decodes one Avro value written with a writer type into the
// representation of a reader type (the same type when there is no schema
// resolution). Progs are compiled once per schema (pair) and are read-only
// afterwards, so decoders share them between goroutines.
type prog struct {
	op       opcode
	cv       conv
	scale    int        // cvDecimal
	size     int        // opFixed
	symbols  []string   // opEnum: reader symbol per writer index; "" when the reader lacks it
	wsyms    []string   // opEnum: writer symbols, for errors
	fields   []pfield   // opRecord: in writer order
	defaults []pdefault // opRecord: reader fields the writer lacks
	nout     int        // opRecord: number of output fields
	elem     *prog      // opArray, opMap
	branches []*prog    // opUnion: per writer branch
	err      error      // opFail
}

type opcode uint8

// Wire operations: how to read the writer's encoding.
const (
	opNull opcode = iota
	opBool
	opInt
	opLong
	opFloat
	opDouble
	opBytes
	opString
	opFixed
	opEnum
	opRecord
	opArray
	opMap
	opUnion
	opFail // the writer's type cannot be read as the reader's
)

type conv uint8

// Output conversions: how to represent what was read.
const (
	cvNone     conv = iota
	cvFloat         // int or long as float64
	cvString        // bytes as string
	cvBytes         // bytes copied as []byte
	cvDecimal       // two's-complement unscaled bytes as float64
	cvDate          // days since the epoch as time.Time
	cvTsMillis      // milliseconds since the epoch as time.Time
	cvTsMicros      // microseconds since the epoch as time.Time
	cvTsNanos       // nanoseconds since the epoch as time.Time
)

type pfield struct {
	name string // output (reader) name
	p    *prog
	keep bool // false: the reader has no such field; decode and drop
}

type pdefault struct {
	name string
	val  any   // the reader's default (nil for a nullable field without one)
	err  error // non-nil: the reader field has no default and is not nullable
}

// compiler builds progs, memoising type pairs so recursive schemas give
// cyclic progs instead of infinite ones.
type compiler struct {
	memo map[[2]*atype]*prog
}

func newCompiler() *compiler { return &compiler{memo: make(map[[2]*atype]*prog)} }

func failf(format string, args ...any) *prog {
	return &prog{op: opFail, err: fmt.Errorf("%w: "+format, append([]any{ErrMismatch}, args...)...)}
}

func timeConv(l logical) conv {
	switch l {
	case lDate:
		return cvDate
	case lTsMillis:
		return cvTsMillis
	case lTsMicros:
		return cvTsMicros
	case lTsNanos:
		return cvTsNanos
	}
	return cvNone
}

func typeName(t *atype) string {
	switch t.kind {
	case aRecord, aEnum, aFixed:
		return t.kind.String() + " " + t.name
	case aUnion:
		names := make([]string, len(t.branches))
		for i, b := range t.branches {
			names[i] = typeName(b)
		}
		return "[" + strings.Join(names, ", ") + "]"
	}
	return t.kind.String()
}

// compile returns the prog reading w's encoding as r's representation,
// following the Avro specification's schema resolution rules.
func (c *compiler) compile(w, r *atype) *prog {
	key := [2]*atype{w, r}
	if p := c.memo[key]; p != nil {
		return p
	}
	p := &prog{}
	c.memo[key] = p
	switch {
	case w.kind == aUnion:
		p.op = opUnion
		p.branches = make([]*prog, len(w.branches))
		for i, b := range w.branches {
			p.branches[i] = c.compile(b, r)
		}
	case r.kind == aUnion:
		b := pickBranch(w, r)
		if b == nil {
			*p = *failf("writer type %s matches no branch of reader union %s", typeName(w), typeName(r))
		} else {
			*p = *c.compile(w, b)
		}
	default:
		c.compileNonUnion(p, w, r)
	}
	return p
}

func (c *compiler) compileNonUnion(p *prog, w, r *atype) {
	mismatch := func() {
		*p = *failf("writer type %s cannot be read as %s", typeName(w), typeName(r))
	}
	switch w.kind {
	case aNull:
		if r.kind != aNull {
			mismatch()
			return
		}
		p.op = opNull
	case aBoolean:
		if r.kind != aBoolean {
			mismatch()
			return
		}
		p.op = opBool
	case aInt, aLong:
		p.op = opInt
		if w.kind == aLong {
			p.op = opLong
		}
		switch {
		case r.kind == aInt && w.kind == aInt, r.kind == aLong:
			if r.logical.isTime() {
				// A writer's own time unit wins: it says what the number means.
				if w.logical.isTime() {
					p.cv = timeConv(w.logical)
				} else {
					p.cv = timeConv(r.logical)
				}
			}
		case r.kind == aFloat || r.kind == aDouble:
			p.cv = cvFloat
		default:
			mismatch()
		}
	case aFloat, aDouble:
		p.op = opFloat
		if w.kind == aDouble {
			p.op = opDouble
		}
		if r.kind != aDouble && !(r.kind == aFloat && w.kind == aFloat) {
			mismatch()
		}
	case aBytes, aString:
		p.op = opBytes
		if w.kind == aString {
			p.op = opString
		}
		switch {
		case r.kind == aString:
			p.cv = cvString
		case r.kind == aBytes && (r.logical == lDecimal || w.logical == lDecimal):
			p.cv, p.scale = cvDecimal, r.scale
			if w.logical == lDecimal {
				p.scale = w.scale
			}
		case r.kind == aBytes:
			p.cv = cvBytes
		default:
			mismatch()
		}
	case aFixed:
		if r.kind != aFixed || r.size != w.size {
			mismatch()
			return
		}
		p.op, p.size, p.cv = opFixed, w.size, cvBytes
		if r.logical == lDecimal || w.logical == lDecimal {
			p.cv, p.scale = cvDecimal, r.scale
			if w.logical == lDecimal {
				p.scale = w.scale
			}
		}
	case aEnum:
		if r.kind != aEnum {
			mismatch()
			return
		}
		p.op, p.wsyms = opEnum, w.symbols
		p.symbols = make([]string, len(w.symbols))
		for i, s := range w.symbols {
			if j := symbolIndex(r.symbols, s); j >= 0 {
				p.symbols[i] = s
			} else if r.enumDef >= 0 {
				p.symbols[i] = r.symbols[r.enumDef]
			}
		}
	case aArray, aMap:
		if r.kind != w.kind {
			mismatch()
			return
		}
		p.op = opArray
		if w.kind == aMap {
			p.op = opMap
		}
		p.elem = c.compile(w.elem, r.elem)
	case aRecord:
		if r.kind != aRecord {
			mismatch()
			return
		}
		c.compileRecord(p, w, r)
	}
}

func (c *compiler) compileRecord(p *prog, w, r *atype) {
	p.op, p.nout = opRecord, len(r.fields)
	matched := make([]bool, len(r.fields))
	p.fields = make([]pfield, len(w.fields))
	for i, wf := range w.fields {
		j := readerField(r, wf.name)
		if j < 0 {
			p.fields[i] = pfield{name: wf.name, p: c.compile(wf.typ, wf.typ)}
			continue
		}
		matched[j] = true
		rf := r.fields[j]
		p.fields[i] = pfield{name: rf.name, p: c.compile(wf.typ, rf.typ), keep: true}
	}
	for j, rf := range r.fields {
		if matched[j] {
			continue
		}
		d := pdefault{name: rf.name}
		switch {
		case rf.hasDef:
			d.val = rf.def
		case rf.typ.kind == aUnion && rf.typ.nullIndex() >= 0:
		default:
			d.err = fmt.Errorf("%w: reader field %q is not in the writer schema and has no default", ErrMissingField, rf.name)
		}
		p.defaults = append(p.defaults, d)
	}
}

// readerField finds the reader field a writer field maps to, by name or
// by one of the reader field's aliases.
func readerField(r *atype, name string) int {
	for j, rf := range r.fields {
		if rf.name == name {
			return j
		}
	}
	for j, rf := range r.fields {
		for _, a := range rf.aliases {
			if a == name {
				return j
			}
		}
	}
	return -1
}

// pickBranch returns the first reader union branch a writer type resolves
// to: the same named type, else the same kind, else a promotion.
func pickBranch(w *atype, r *atype) *atype {
	for _, b := range r.branches {
		if b.kind == w.kind && (b.name == w.name || unqualified(b.name) == unqualified(w.name)) {
			return b
		}
	}
	for _, b := range r.branches {
		if b.kind == w.kind {
			return b
		}
	}
	for _, b := range r.branches {
		if promotes(w.kind, b.kind) {
			return b
		}
	}
	return nil
}

func unqualified(name string) string {
	return name[strings.LastIndexByte(name, '.')+1:]
}

func promotes(w, r akind) bool {
	switch w {
	case aInt:
		return r == aLong || r == aFloat || r == aDouble
	case aLong:
		return r == aFloat || r == aDouble
	case aFloat:
		return r == aDouble
	case aString:
		return r == aBytes
	case aBytes:
		return r == aString
	}
	return false
}
