package decode

import "github.com/feathrgo/feathr/record"

// Decoder decodes message values into records.
type Decoder interface {
	// Decode decodes one message value. The record does not alias b. The
	// error says what is wrong and where (a field path, a byte offset);
	// the caller adds the topic, partition and offset.
	Decode(b []byte) (record.Record, error)
	// Schema returns the fields and types of the records Decode returns:
	// the reader's view the transforms compile against. A schemaless
	// decoder returns a Schema without fields: any field may appear, of
	// kind record.Any.
	Schema() record.Schema
}

// Reuser is a Decoder that can decode into the memory of a record it
// returned before.
type Reuser interface {
	Decoder
	// DecodeReuse is Decode into r, a record of an earlier Decode or
	// DecodeReuse that the caller no longer uses (nil: a new record).
	// The record returned may be r, with its entries replaced.
	DecodeReuse(b []byte, r record.Record) (record.Record, error)
}

// Reuse decodes b with d into r when d is a Reuser, and as d.Decode
// does otherwise. See Reuser.DecodeReuse.
func Reuse(d Decoder, b []byte, r record.Record) (record.Record, error) {
	if ru, ok := d.(Reuser); ok && r != nil {
		return ru.DecodeReuse(b, r)
	}
	return d.Decode(b)
}

// avroDecoder decodes plain Avro binary with a fixed schema.
type avroDecoder struct {
	schema record.Schema
	prog   *prog
	lim    Limits
}

// NewAvro returns a decoder of plain Avro binary data (no framing) written
// with the given record schema: Feathr's message format.
func NewAvro(schemaJSON string, lim Limits) (Decoder, error) {
	t, err := parseAvro(schemaJSON)
	if err != nil {
		return nil, err
	}
	return &avroDecoder{schema: schemaOf(t), prog: newCompiler().compile(t, t), lim: lim.withDefaults()}, nil
}

func (d *avroDecoder) Decode(b []byte) (record.Record, error) {
	return decodeBinary(d.prog, b, d.lim, nil)
}

func (d *avroDecoder) DecodeReuse(b []byte, r record.Record) (record.Record, error) {
	return decodeBinary(d.prog, b, d.lim, r)
}

func (d *avroDecoder) Schema() record.Schema { return d.schema }
