package sink

import "unsafe"

// Command arguments boxed in place.
//
// redigo's Send takes its arguments as []any and copies each one into the
// connection's buffer before it returns. Converting a string, a []byte or
// an int64 to an interface copies the value into a new allocation (a
// string's or slice's header, the integer), for every argument of every
// command: most of the writer's allocations. argString, argBytes and
// argInt64 instead make an interface value of the same dynamic type whose
// data word points at the caller's variable: Send reads the value through
// it, as it would read the copy.
//
// The rules that keep this sound: the variable must not change, and must
// stay reachable, until the command has been sent (the interface keeps it
// alive for the collector, as any interior pointer does), and the
// interface must not be kept past that: cmdBuilder clears its arguments
// once Send returns. The variables are the writes of a batch, which do
// not change while it is sent, and cmdBuilder's own storage.

// argString returns *p as a command argument, without copying it.
func argString(p *string) any { return inPlace(any(""), unsafe.Pointer(p)) }

// argBytes returns *p as a command argument, without copying it.
func argBytes(p *[]byte) any { return inPlace(any([]byte(nil)), unsafe.Pointer(p)) }

// argInt64 returns *p as a command argument, without copying it.
func argInt64(p *int64) any { return inPlace(any(int64(0)), unsafe.Pointer(p)) }

// inPlace returns v, an interface of p's type, with its data word set to
// p. v is the zero value of the type: converting it to an interface does
// not allocate.
func inPlace(v any, p unsafe.Pointer) any {
	(*[2]unsafe.Pointer)(unsafe.Pointer(&v))[1] = p
	return v
}
