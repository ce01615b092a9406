#!/usr/bin/python3
"""Read features from Redis as Feathr's Python client does.

Feathr's RedisClient.get_online_features builds the Redis key
<table>:<key>, a composite key's parts joined with '#', reads the features
with HMGET, base64-decodes each value and parses it as a FeatureValue
protobuf message; a missing key or field is None.

The FeatureValue module is generated at test time by
`protoc --python_out=DIR feature_value.proto`; --pb-dir is DIR.

Prints JSON on stdout: {"<joined key>": {"<feature>": value}}, where a
scalar is its JSON value, an array is a list, and a bytes array is a list of
standard base64 strings.
"""

import argparse
import base64
import json
import sys


def decode(pb, raw):
    """Decode one HMGET value the way Feathr's client does (_decode_pb)."""
    if raw is None:
        return None
    fv = pb.FeatureValue()
    fv.ParseFromString(base64.b64decode(raw))
    which = fv.WhichOneof("FeatureValueOneOf")
    if which is None:
        raise ValueError("FeatureValue with no value set")
    if which in ("boolean_value", "string_value", "float_value", "double_value", "int_value", "long_value"):
        return getattr(fv, which)
    arrays = {
        "boolean_array": "booleans",
        "string_array": "strings",
        "float_array": "floats",
        "double_array": "doubles",
        "int_array": "integers",
        "long_array": "longs",
    }
    if which in arrays:
        return list(getattr(getattr(fv, which), arrays[which]))
    if which == "byte_array":
        return [base64.b64encode(b).decode() for b in fv.byte_array.bytes]
    raise ValueError("unsupported FeatureValue field %s" % which)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--redis", required=True, help="host:port")
    ap.add_argument("--pb-dir", required=True, help="directory holding feature_value_pb2.py")
    ap.add_argument("--table", required=True)
    ap.add_argument("--features", required=True, help="comma-separated feature names")
    ap.add_argument("--keys", required=True, help="JSON list of keys; a composite key is a list of parts")
    args = ap.parse_args()

    sys.path.insert(0, args.pb_dir)
    import feature_value_pb2 as pb
    import redis

    host, port = args.redis.rsplit(":", 1)
    r = redis.Redis(host=host, port=int(port))
    features = args.features.split(",")
    out = {}
    for key in json.loads(args.keys):
        if isinstance(key, list):
            key = "#".join(str(k) for k in key)
        values = r.hmget("%s:%s" % (args.table, key), features)
        out[key] = {f: decode(pb, v) for f, v in zip(features, values)}
    json.dump(out, sys.stdout)
    print()


if __name__ == "__main__":
    main()
