package decode

import (
	"errors"
	"fmt"
)

// Errors a Decode call wraps, to be tested with errors.Is. The message of
// the wrapping error names the field and what was wrong.
var (
	ErrTooLarge     = errors.New("message too large")
	ErrTooDeep      = errors.New("nesting too deep")
	ErrTruncated    = errors.New("truncated message")
	ErrTrailingData = errors.New("trailing data after record")
	ErrMalformed    = errors.New("malformed message")
	ErrMismatch     = errors.New("type mismatch")
	ErrMissingField = errors.New("missing field")
	ErrBadFraming   = errors.New("bad Confluent framing")
	// ErrSchemaNotFound is wrapped when the registry does not know a
	// schema id (HTTP 404 / error_code 40403): the message is a bad record.
	ErrSchemaNotFound = errors.New("schema not found")
	// ErrSchemaUnsupported is wrapped when a schema id names a schema this
	// decoder cannot read (not Avro, or with references): a bad record.
	ErrSchemaUnsupported = errors.New("unsupported schema")
	// ErrRegistryUnavailable is wrapped when the registry could not answer
	// (unreachable, a timeout, HTTP 5xx or 429, a response that is not a
	// registry's): an outage, not a bad record. The same message decodes
	// once the registry is back.
	ErrRegistryUnavailable = errors.New("schema registry unavailable")
	// ErrRegistryRefused is wrapped when the registry refused the
	// credentials (HTTP 401 or 403): retrying cannot heal it.
	ErrRegistryRefused = errors.New("schema registry refused the request")
)

// SchemaError reports an invalid schema. Offset is the 0-based byte offset
// in the schema text where the problem was found, or -1 when the problem is
// not tied to one position (goavro's validation errors).
type SchemaError struct {
	Offset int
	Msg    string
}

// Error returns the message with the offset, such as
// "schema: offset 42: unknown type \"lnog\"".
func (e *SchemaError) Error() string {
	if e.Offset < 0 {
		return "schema: " + e.Msg
	}
	return fmt.Sprintf("schema: offset %d: %s", e.Offset, e.Msg)
}

func schemaErrorf(off int, format string, args ...any) *SchemaError {
	return &SchemaError{Offset: off, Msg: fmt.Sprintf(format, args...)}
}

// fieldError prefixes err with the field or element it occurred in. Paths
// are built on the error path only, so decoding pays nothing for them.
func fieldError(name string, err error) error {
	return fmt.Errorf("%s: %w", name, err)
}
