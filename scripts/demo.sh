#!/usr/bin/env bash
# demo.sh runs the seed's story end to end on the embedded default: an
# in-process Kafka broker and Redis (feathr dev) with sample DriverTrips
# events, `feathr materialize --timeout 10s`, then `feathr get` and
# `feathr multi-get` of what landed, with the example's window aggregations
# read now and as of 11 minutes later. Needs only the built binary.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${FEATHR_BIN:-bin/feathr}
file=${FEATHR_DEMO_FILE:-features.example.yaml}
log=$(mktemp)
trap 'kill "$dev" 2>/dev/null || true; wait "$dev" 2>/dev/null || true; rm -f "$log"' EXIT

echo "\$ feathr dev -f $file &"
"$bin" dev -f "$file" --rate 200 --duration 60s 2>"$log" &
dev=$!
for _ in $(seq 100); do
	grep -q '^sandbox: Kafka' "$log" && break
	kill -0 "$dev" 2>/dev/null || { cat "$log"; exit 1; }
	sleep 0.1
done
head -n 1 "$log"

run() {
	echo
	echo "\$ feathr $*"
	"$bin" "$@"
}
run validate -f "$file"
run materialize -f "$file" --timeout 10s
run get -f "$file" kafkaSampleDemoFeature 1 f_modified_streaming_count f_modified_streaming_count2
run multi-get -f "$file" kafkaSampleDemoFeature 1,2,3 f_modified_streaming_count,f_modified_streaming_count2
run multi-get -f "$file" -o table kafkaSampleDemoFeature 1,2,3,4,5 f_modified_streaming_count,f_modified_streaming_count2
# The window aggregations, computed from their tiles now, then as read 11
# minutes later: the 10-minute count has decayed (its window is empty:
# null), the 1-hour average still holds.
run multi-get -f "$file" -o table kafkaSampleDemoFeature 1,2,3 f_trip_count_10m,f_trips_avg_1h
later=$(date -u -d '+11 minutes' +%Y-%m-%dT%H:%M:%SZ)
run multi-get -f "$file" -o table --at "$later" kafkaSampleDemoFeature 1,2,3 f_trip_count_10m,f_trips_avg_1h
