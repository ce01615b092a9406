#!/usr/bin/env bash
# bench.sh runs feathr's performance benchmark (`make bench`) on this
# machine: it installs what is missing (redis-server and redis-benchmark,
# Kafka's jars), builds bin/feathr and bin/feathr-bench, starts a private
# redis-server and a private Kafka broker, runs bench/ (throughput against
# the redis-benchmark ceiling, reads, freshness, optionally a soak), writes
# bench/results/<date>-<host>.{json,md}, and stops what it started.
#
# Environment (all optional):
#   BENCH_N          events per throughput profile (default 2000000)
#   BENCH_PROFILES   throughput profiles (default distinct,hot,zipf,agg)
#   BENCH_HOT_KEYS   drivers of the hot profile (default 100000)
#   BENCH_ZIPF_KEYS  drivers of the zipf profile (default 1000000)
#   BENCH_ZIPF_EXPONENT exponent of the zipf profile (default 1.1)
#   BENCH_PARTITIONS partitions per topic (default 4)
#   BENCH_BATCH      feathr's batch_size and redis-benchmark -P (default 1000)
#   BENCH_RATE       freshness: events per second (default 10000)
#   BENCH_FRESH      freshness: how long to produce (default 30s; 0 skips)
#   BENCH_SOAK       soak: e.g. 5m at BENCH_RATE, sampling RSS (default: none)
#   BENCH_BINS       binaries to compare, label=path,... (e.g.
#                    old=/tmp/feathr-old,new=bin/feathr): each profile's
#                    runs alternate between them on the same topics; reads,
#                    freshness and soak use the last (default: bin/feathr)
#   BENCH_REPEAT     runs of each binary per profile (default 2 with
#                    BENCH_BINS, else 1)
#   BENCH_OUT        result directory (default bench/results)
#   BENCH_KAFKA      bootstrap of an existing broker to use instead of
#                    starting one (its bench topics are deleted at the end)
#   BENCH_KAFKA_PID  pid of that broker, to report its CPU time (the
#                    private broker's is known)
#   BENCH_KAFKA_PORT port of the private broker (default 9392)
#   BENCH_REDIS_PORT port of the private redis-server (default 6399); it is
#                    flushed, so never point it at a Redis holding data
#   FEATHR_CACHE     cache root for Kafka's jars (default <repo>/.cache)
set -euo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$script_dir/.." && pwd)
cd "$repo"

GO=${GO:-go}
kafka_port=${BENCH_KAFKA_PORT:-9392}
kafka_pid=${BENCH_KAFKA_PID:-}
redis_port=${BENCH_REDIS_PORT:-6399}
brokers=${BENCH_KAFKA:-}
cache=${FEATHR_CACHE:-$repo/.cache}
work=$repo/.cache/bench/$(date -u +%Y%m%dT%H%M%SZ)

log() { printf 'bench.sh: %s\n' "$*" >&2; }
die() {
	log "$*"
	exit 1
}

# --- install and build --------------------------------------------------------

scripts/redis.sh install >/dev/null
command -v redis-benchmark >/dev/null || die "redis-benchmark not found (Debian: redis-tools)"
# GNU time measures feathr's CPU time and peak RSS.
if [[ ! -x /usr/bin/time ]]; then
	sudo=()
	if [[ $(id -u) -ne 0 ]]; then
		command -v sudo >/dev/null || die "not root and no sudo: install GNU time (Debian: time) yourself"
		sudo=(sudo)
	fi
	"${sudo[@]}" apt-get update
	DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y --no-install-recommends time
fi
if [[ -z $brokers ]]; then
	scripts/kafka.sh install
fi
log "building bin/feathr and bin/feathr-bench"
CGO_ENABLED=0 "$GO" build -trimpath -o bin/feathr .
"$GO" build -o bin/feathr-bench ./bench

# --- start, and stop at exit ---------------------------------------------------

started_redis=0
started_kafka=0
cleanup() {
	local rc=$?
	if ((started_redis)); then
		FEATHR_REDIS_PORT=$redis_port scripts/redis.sh stop >/dev/null || true
	fi
	if ((started_kafka)); then
		FEATHR_KAFKA_PORT=$kafka_port scripts/kafka.sh stop || true
		rm -rf "$cache/kafka-run/$kafka_port/data"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if FEATHR_REDIS_PORT=$redis_port scripts/redis.sh status >/dev/null 2>&1; then
	die "a redis-server already runs on port $redis_port (a previous bench?): stop it with FEATHR_REDIS_PORT=$redis_port scripts/redis.sh stop, or set BENCH_REDIS_PORT"
fi
started_redis=1
redis=$(FEATHR_REDIS_PORT=$redis_port scripts/redis.sh start)

if [[ -z $brokers ]]; then
	if FEATHR_KAFKA_PORT=$kafka_port scripts/kafka.sh status >/dev/null 2>&1; then
		die "a Kafka broker already runs on port $kafka_port: stop it with FEATHR_KAFKA_PORT=$kafka_port scripts/kafka.sh stop, or set BENCH_KAFKA_PORT"
	fi
	started_kafka=1
	brokers=$(FEATHR_KAFKA_PORT=$kafka_port scripts/kafka.sh start)
	kafka_pid=$(<"$cache/kafka-run/$kafka_port/kafka.pid")
fi

commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
if [[ -n $(git status --porcelain --untracked-files=no -- . ':!bench/results' 2>/dev/null) ]]; then
	commit+="+dirty"
fi

# --- run -----------------------------------------------------------------------

log "redis $redis, kafka $brokers, logs in $work"
bin/feathr-bench run \
	-feathr bin/feathr -f bench/bench.yaml \
	-brokers "$brokers" -redis "$redis" \
	-kafka-pid "${kafka_pid:-0}" \
	-n "${BENCH_N:-2000000}" \
	-profiles "${BENCH_PROFILES:-distinct,hot,zipf,agg}" \
	-hot-keys "${BENCH_HOT_KEYS:-100000}" \
	-zipf-keys "${BENCH_ZIPF_KEYS:-1000000}" \
	-zipf-exponent "${BENCH_ZIPF_EXPONENT:-1.1}" \
	-partitions "${BENCH_PARTITIONS:-4}" \
	-batch "${BENCH_BATCH:-1000}" \
	-rate "${BENCH_RATE:-10000}" \
	-fresh "${BENCH_FRESH:-30s}" \
	-soak "${BENCH_SOAK:-0}" \
	-bins "${BENCH_BINS:-}" \
	-repeat "${BENCH_REPEAT:-0}" \
	-out "${BENCH_OUT:-bench/results}" \
	-work "$work" \
	-kafka-version "${FEATHR_KAFKA_VERSION:-4.1.1}" \
	-commit "$commit"
