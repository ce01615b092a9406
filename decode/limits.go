package decode

// Default limits, used where a Limits field is zero or negative.
const (
	DefaultMaxBytes = 1 << 20
	DefaultMaxDepth = 32
)

// Limits bounds the resources one message may use while being decoded.
type Limits struct {
	// MaxBytes is the largest message value accepted, in bytes
	// (DefaultMaxBytes when <= 0). It also bounds the total number of
	// array and map items one Avro message may hold, so that a small
	// message cannot claim a huge number of zero-byte items.
	MaxBytes int
	// MaxDepth is the deepest nesting of records, arrays, maps and JSON
	// objects and arrays accepted (DefaultMaxDepth when <= 0). The
	// top-level record counts as depth 1.
	MaxDepth int
}

func (l Limits) withDefaults() Limits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultMaxBytes
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = DefaultMaxDepth
	}
	return l
}
