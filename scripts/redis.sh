#!/usr/bin/env bash
# redis.sh installs, starts and stops a private redis-server for feathr's
# tests and local runs (loopback only, no persistence).
#
#   scripts/redis.sh install   install Debian's redis-server and redis-tools
#                              with apt-get, when redis-server is missing
#   scripts/redis.sh start     start a daemonized instance, wait until it
#                              answers PING, print its address
#   scripts/redis.sh stop      stop it (SHUTDOWN NOSAVE, then TERM)
#   scripts/redis.sh status    print whether it runs; exit 1 when it does not
#
# Environment:
#   FEATHR_CACHE       cache root (default: <repo>/.cache); the instance keeps
#                      its pid file, log and working dir in $FEATHR_CACHE/redis
#   FEATHR_REDIS_PORT  port (default: 6390)
#
# Go tests do not need this: internal/testenv starts its own redis-server
# (found on PATH) per test. Use it for a long-lived instance, e.g.
#   scripts/redis.sh start && feathr materialize --redis redis://127.0.0.1:6390
set -euo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$script_dir/.." && pwd)

cache=${FEATHR_CACHE:-$repo/.cache}
run_dir=$cache/redis
port=${FEATHR_REDIS_PORT:-6390}
host=127.0.0.1
pid_file=$run_dir/redis-$port.pid
log_file=$run_dir/redis-$port.log

die() { echo "redis.sh: $*" >&2; exit 1; }

cli() { redis-cli -h "$host" -p "$port" "$@"; }

running() {
	[[ -f $pid_file ]] || return 1
	local pid
	pid=$(<"$pid_file")
	[[ -n $pid ]] && kill -0 "$pid" 2>/dev/null
}

cmd_install() {
	if command -v redis-server >/dev/null && command -v redis-cli >/dev/null; then
		echo "redis.sh: $(redis-server --version)"
		return
	fi
	local sudo=()
	if [[ $(id -u) -ne 0 ]]; then
		command -v sudo >/dev/null || die "not root and no sudo: install redis-server and redis-tools yourself"
		sudo=(sudo)
	fi
	"${sudo[@]}" apt-get update
	DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y --no-install-recommends redis-server redis-tools
	echo "redis.sh: $(redis-server --version)"
}

cmd_start() {
	command -v redis-server >/dev/null || die "redis-server not found: run scripts/redis.sh install"
	if running; then
		echo "redis.sh: already running (pid $(<"$pid_file")) on $host:$port"
		return
	fi
	mkdir -p "$run_dir"
	redis-server \
		--port "$port" --bind "$host" \
		--save '' --appendonly no \
		--dir "$run_dir" \
		--daemonize yes --pidfile "$pid_file" --logfile "$log_file"
	for _ in $(seq 100); do
		if [[ $(cli ping 2>/dev/null) == PONG ]]; then
			echo "$host:$port"
			return
		fi
		sleep 0.1
	done
	tail -n 20 "$log_file" >&2 || true
	die "redis-server did not answer PING on $host:$port"
}

cmd_stop() {
	if ! running; then
		echo "redis.sh: not running"
		rm -f "$pid_file"
		return
	fi
	local pid
	pid=$(<"$pid_file")
	cli shutdown nosave >/dev/null 2>&1 || kill "$pid" 2>/dev/null || true
	for _ in $(seq 50); do
		kill -0 "$pid" 2>/dev/null || { rm -f "$pid_file"; echo "redis.sh: stopped"; return; }
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	rm -f "$pid_file"
	echo "redis.sh: killed"
}

cmd_status() {
	if running; then
		echo "redis.sh: running (pid $(<"$pid_file")) on $host:$port"
	else
		echo "redis.sh: not running"
		return 1
	fi
}

case ${1:-} in
install) cmd_install ;;
start) cmd_start ;;
stop) cmd_stop ;;
status) cmd_status ;;
*) die "usage: scripts/redis.sh install|start|stop|status" ;;
esac
