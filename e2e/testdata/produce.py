#!/usr/bin/python3
"""Produce Avro events to Kafka as Feathr's own test producer does.

Each event (one JSON object a line in --events) is written with an Avro
schemaless writer: plain Avro binary, no container header, no framing.
With --schema-id N each value is framed as the Confluent wire format: a zero
magic byte, N as 4 big-endian bytes, then the Avro binary.

Either send the values with confluent_kafka's Producer (--brokers, --topic)
or, with --out-dir, write each value to a file DIR/NNNNNN.avro so that
another client (kcat -P DIR/*) can send them, one message a file.

A timestamp-micros field may be given as an integer (microseconds since the
epoch): it is passed to the writer as a timezone-aware datetime, the way a
Python producer holds one.

Prints a JSON summary on stdout: {"produced": n, "partitions": {p: count}}.

Avro comes from fastavro when it is installed, else from the avro package
(Debian bookworm has only python3-avro).
"""

import argparse
import datetime
import io
import json
import os
import struct
import sys

try:
    import fastavro

    def make_writer(schema_json):
        parsed = fastavro.parse_schema(json.loads(schema_json))

        def write(record):
            buf = io.BytesIO()
            fastavro.schemaless_writer(buf, parsed, record)
            return buf.getvalue()

        return write

except ImportError:
    import avro.io
    import avro.schema

    def make_writer(schema_json):
        schema = avro.schema.parse(schema_json)
        writer = avro.io.DatumWriter(schema)

        def write(record):
            buf = io.BytesIO()
            writer.write(record, avro.io.BinaryEncoder(buf))
            return buf.getvalue()

        return write


EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def micros_fields(schema_json):
    """Names of the top-level fields of logical type timestamp-micros."""
    names = []
    for f in json.loads(schema_json).get("fields", []):
        t = f["type"]
        if isinstance(t, dict) and t.get("logicalType") == "timestamp-micros":
            names.append(f["name"])
    return names


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--schema", required=True, help="file with the Avro schema JSON")
    ap.add_argument("--events", required=True, help="file with one JSON event a line")
    ap.add_argument("--brokers", help="bootstrap servers")
    ap.add_argument("--topic", help="topic to produce to")
    ap.add_argument("--key", help="event field whose value is the message key")
    ap.add_argument("--schema-id", type=int, help="add Confluent framing with this schema id")
    ap.add_argument("--out-dir", help="write the values to files instead of producing")
    args = ap.parse_args()

    with open(args.schema) as f:
        schema_json = f.read()
    write = make_writer(schema_json)
    ts_fields = micros_fields(schema_json)
    prefix = b""
    if args.schema_id is not None:
        prefix = b"\x00" + struct.pack(">I", args.schema_id)

    messages = []
    with open(args.events) as f:
        for line in f:
            if not line.strip():
                continue
            event = json.loads(line)
            for name in ts_fields:
                if isinstance(event.get(name), int):
                    event[name] = EPOCH + datetime.timedelta(microseconds=event[name])
            key = None
            if args.key is not None:
                key = str(event[args.key]).encode()
            messages.append((key, prefix + write(event)))

    if args.out_dir:
        os.makedirs(args.out_dir, exist_ok=True)
        for i, (_, value) in enumerate(messages):
            with open(os.path.join(args.out_dir, "%06d.avro" % i), "wb") as f:
                f.write(value)
        json.dump({"produced": 0, "files": len(messages)}, sys.stdout)
        print()
        return

    if not args.brokers or not args.topic:
        ap.error("--brokers and --topic are needed unless --out-dir is given")

    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": args.brokers, "acks": "all", "linger.ms": 5})
    errors = []
    partitions = {}

    def delivered(err, msg):
        if err is not None:
            errors.append(str(err))
        else:
            partitions[msg.partition()] = partitions.get(msg.partition(), 0) + 1

    for key, value in messages:
        producer.produce(args.topic, value=value, key=key, on_delivery=delivered)
        producer.poll(0)
    left = producer.flush(30)
    if left or errors:
        print("produce.py: %d undelivered, errors: %s" % (left, errors), file=sys.stderr)
        sys.exit(1)
    json.dump({"produced": len(messages), "partitions": partitions}, sys.stdout)
    print()


if __name__ == "__main__":
    main()
