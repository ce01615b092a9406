package config

import (
	"fmt"
	"strings"
)

// The enumerations of a file are parsed once, at load, into these types;
// nothing downstream reads their text again. Each is a small integer whose
// zero value means "not set" (the loader always sets one) and whose String
// is the spelling the file uses.

// Format is how a source's message values are encoded.
type Format uint8

// The message formats.
const (
	FormatAvro      Format = iota + 1 // plain Avro binary, Feathr's format
	FormatConfluent                   // magic byte, schema id, Avro binary; schema from a registry
	FormatJSON                        // one JSON object per message
)

var formatNames = []string{"avro", "confluent", "json"}

func (f Format) String() string { return enumName(formatNames, f) }

// Start is where a consumer group without committed offsets begins.
type Start uint8

// The start positions.
const (
	StartLatest   Start = iota + 1 // the newest offset: only records produced from now on
	StartEarliest                  // the oldest offset the log holds
)

var startNames = []string{"latest", "earliest"}

func (s Start) String() string { return enumName(startNames, s) }

// ParseStart parses a start position as the file spells it, in any case.
// It is for the --start flag; the loader reports a bad value in a file at
// its position.
func ParseStart(s string) (Start, bool) { return parseEnum[Start](startNames, s) }

// Isolation is which records of Kafka transactions a consumer reads.
type Isolation uint8

// The isolation levels, as Kafka names them.
const (
	// ReadCommitted reads only records of committed transactions (and
	// every non-transactional record), up to the last stable offset.
	ReadCommitted Isolation = iota + 1
	// ReadUncommitted reads every record, aborted transactions' too.
	ReadUncommitted
)

var isolationNames = []string{"read_committed", "read_uncommitted"}

func (i Isolation) String() string { return enumName(isolationNames, i) }

// Protocol is the security protocol of a Kafka connection.
type Protocol uint8

// The security protocols, as Kafka names them.
const (
	ProtocolPlaintext     Protocol = iota + 1 // PLAINTEXT
	ProtocolSSL                               // SSL: TLS
	ProtocolSASLPlaintext                     // SASL_PLAINTEXT: SASL without TLS
	ProtocolSASLSSL                           // SASL_SSL: SASL over TLS
)

var protocolNames = []string{"PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"}

func (p Protocol) String() string { return enumName(protocolNames, p) }

// TLS reports whether the protocol runs over TLS.
func (p Protocol) TLS() bool { return p == ProtocolSSL || p == ProtocolSASLSSL }

// SASL reports whether the protocol authenticates with SASL.
func (p Protocol) SASL() bool { return p == ProtocolSASLPlaintext || p == ProtocolSASLSSL }

// Mechanism is a SASL mechanism.
type Mechanism uint8

// The SASL mechanisms.
const (
	MechanismPlain       Mechanism = iota + 1 // PLAIN
	MechanismSCRAMSHA256                      // SCRAM-SHA-256
	MechanismSCRAMSHA512                      // SCRAM-SHA-512
)

var mechanismNames = []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"}

func (m Mechanism) String() string { return enumName(mechanismNames, m) }

// Ordering says which of two updates to the same key and field wins.
type Ordering uint8

// The orderings of a Redis sink.
const (
	// OrderEvent: an update never overwrites a value written from a newer
	// event; of equal event times, the later arrival wins.
	OrderEvent Ordering = iota + 1
	// OrderArrival: the last update written wins.
	OrderArrival
)

var orderingNames = []string{"event", "arrival"}

func (o Ordering) String() string { return enumName(orderingNames, o) }

// OnError is what a materialization does with a record it cannot process.
type OnError uint8

// The record error policies.
const (
	Skip       OnError = iota + 1 // count and log it, and go on
	DeadLetter                    // produce it to the dead-letter topic, then go on
	Stop                          // end the run before it
)

var onErrorNames = []string{"skip", "dead-letter", "stop"}

func (o OnError) String() string { return enumName(onErrorNames, o) }

// enumName returns the name of value v, 1-based in names: "" when v is
// zero (not set), and the type and number when v is out of range.
func enumName[E ~uint8](names []string, v E) string {
	switch {
	case v == 0:
		return ""
	case int(v) > len(names):
		return fmt.Sprintf("%T(%d)", v, uint8(v))
	}
	return names[v-1]
}

// parseEnum returns the value whose name is s, compared without case.
func parseEnum[E ~uint8](names []string, s string) (E, bool) {
	for i, n := range names {
		if strings.EqualFold(s, n) {
			return E(i + 1), true
		}
	}
	return 0, false
}
