#!/usr/bin/env bash
# kafka.sh fetches, starts and stops a throwaway single-node Apache Kafka
# broker (KRaft, combined broker+controller, loopback only) for feathr's
# tests. It needs only java and mvn: the broker's jars come from Maven Central.
#
#   scripts/kafka.sh install   fetch kafka_2.13 and its runtime jars (once)
#   scripts/kafka.sh start     install if needed, format fresh storage, start,
#                              wait until the broker answers, print bootstrap
#   scripts/kafka.sh stop      stop the broker (TERM, then KILL after a while)
#   scripts/kafka.sh restart   stop, then start again on the same storage
#                              (topics, records and offsets kept)
#   scripts/kafka.sh status    print whether it runs; exit 1 when it does not
#   scripts/kafka.sh logs [N]  show the last N (default 100) lines of its log
#   scripts/kafka.sh topics .. run kafka-topics (TopicCommand) against it,
#                              e.g. `scripts/kafka.sh topics --list`
#
# Environment:
#   FEATHR_CACHE                 cache root (default: <repo>/.cache)
#   FEATHR_KAFKA_VERSION         Kafka version (default: 4.1.1)
#   FEATHR_KAFKA_PORT            client port (default: 9192)
#   FEATHR_KAFKA_CONTROLLER_PORT controller port (default: client port + 1)
#   FEATHR_KAFKA_HEAP            JVM heap (default: 512m)
#   FEATHR_KAFKA_START_TIMEOUT   seconds to wait for readiness (default: 60)
#
# Tests find the broker through FEATHR_KAFKA_BROKERS, e.g.
#   scripts/kafka.sh start
#   FEATHR_KAFKA_BROKERS=127.0.0.1:9192 go test ./...
set -euo pipefail

# --- Locations and settings -------------------------------------------------

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$script_dir/.." && pwd)

kafka_version=${FEATHR_KAFKA_VERSION:-4.1.1}
# The Kafka distribution ships slf4j 2 with the log4j2 binding; the Maven
# artifact declares neither, so we add the versions that Kafka 4.1 ships.
slf4j_version=2.0.17
log4j_version=2.24.3

cache=${FEATHR_CACHE:-$repo/.cache}
kafka_home=$cache/kafka/$kafka_version
libs=$kafka_home/libs

host=127.0.0.1
port=${FEATHR_KAFKA_PORT:-9192}
controller_port=${FEATHR_KAFKA_CONTROLLER_PORT:-$((port + 1))}
heap=${FEATHR_KAFKA_HEAP:-512m}
start_timeout=${FEATHR_KAFKA_START_TIMEOUT:-60}
bootstrap=$host:$port

# One run directory per client port, so two brokers can coexist.
run_dir=$cache/kafka-run/$port
data_dir=$run_dir/data
config=$run_dir/server.properties
log4j_config=$run_dir/log4j2.properties
log_file=$run_dir/server.log
pid_file=$run_dir/kafka.pid

# A fixed cluster id: the storage is formatted anew at every start anyway.
cluster_id=nMXQPhg3TnicFzxcfZeCCw

log() { printf 'kafka.sh: %s\n' "$*" >&2; }
die() {
	log "$*"
	exit 1
}

# --- install ----------------------------------------------------------------

# write_pom writes a pom whose only purpose is to name the broker's jars.
write_pom() {
	cat >"$1" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>feathr.local</groupId>
  <artifactId>kafka-broker-libs</artifactId>
  <version>$kafka_version</version>
  <packaging>pom</packaging>
  <dependencies>
    <!-- The broker (kafka.Kafka, kafka.tools.StorageTool) and through it
         kafka-server, -metadata, -raft, -storage and the coordinators. -->
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_2.13</artifactId>
      <version>$kafka_version</version>
    </dependency>
    <!-- Command-line tools (TopicCommand etc.), for debugging; without
         Kafka Connect, which would bring Jetty and Jersey. -->
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka-tools</artifactId>
      <version>$kafka_version</version>
      <exclusions>
        <exclusion><groupId>org.apache.kafka</groupId><artifactId>connect-runtime</artifactId></exclusion>
      </exclusions>
    </dependency>
    <!-- Logging as in the distribution: slf4j 2 bound to log4j2. -->
    <dependency>
      <groupId>org.slf4j</groupId>
      <artifactId>slf4j-api</artifactId>
      <version>$slf4j_version</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-slf4j2-impl</artifactId>
      <version>$log4j_version</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-core</artifactId>
      <version>$log4j_version</version>
    </dependency>
  </dependencies>
</project>
EOF
}

cmd_install() {
	if [[ -f $kafka_home/.installed ]]; then
		return 0
	fi
	command -v mvn >/dev/null || die "mvn not found"
	command -v java >/dev/null || die "java not found"
	log "fetching Kafka $kafka_version jars into $libs"
	mkdir -p "$kafka_home"
	local tmp=$kafka_home/libs.tmp
	rm -rf "$tmp"
	write_pom "$kafka_home/pom.xml"
	if ! mvn -B -q -f "$kafka_home/pom.xml" \
		dependency:copy-dependencies \
		-DincludeScope=runtime -DoutputDirectory="$tmp" \
		>"$kafka_home/mvn.log" 2>&1; then
		tail -n 40 "$kafka_home/mvn.log" >&2
		die "mvn failed; full output in $kafka_home/mvn.log"
	fi
	# Replace libs only once the fetch is complete, then mark it done.
	rm -rf "$libs"
	mv "$tmp" "$libs"
	touch "$kafka_home/.installed"
	log "installed $(find "$libs" -name '*.jar' | wc -l) jars ($(du -sh "$libs" | cut -f1))"
}

# --- start ------------------------------------------------------------------

# write_config writes the broker's properties. Every broker setting lives
# here; a later listener (SASL, TLS) is one more entry in the lists below.
write_config() {
	cat >"$config" <<EOF
# Generated by scripts/kafka.sh; rewritten at every start.
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=$host:$controller_port
listeners=PLAINTEXT://$host:$port,CONTROLLER://$host:$controller_port
advertised.listeners=PLAINTEXT://$host:$port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$data_dir

# A single node: every internal topic has one replica.
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
default.replication.factor=1
min.insync.replicas=1

# Test friendly: topics appear on first use, groups form at once.
auto.create.topics.enable=true
num.partitions=1
group.initial.rebalance.delay.ms=0
delete.topic.enable=true

# Small footprint.
num.network.threads=2
num.io.threads=4
num.recovery.threads.per.data.dir=1
log.retention.hours=24
EOF
}

# write_log4j_config FILE LEVEL writes a log4j2 configuration that sends
# Kafka's logging, from LEVEL up, to stdout (for the broker: server.log).
write_log4j_config() {
	mkdir -p "$(dirname "$1")"
	cat >"$1" <<EOF
status = warn
appender.out.type = Console
appender.out.name = STDOUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = $2
rootLogger.appenderRef.out.ref = STDOUT
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.state.name = state.change.logger
logger.state.level = WARN
EOF
}

# running succeeds when the pid file names a live process.
running() {
	[[ -f $pid_file ]] && kill -0 "$(cat "$pid_file")" 2>/dev/null
}

# port_open succeeds when something accepts TCP connections on $1.
port_open() {
	(exec 3<>"/dev/tcp/$host/$1") 2>/dev/null
}

# ready succeeds when the broker has started and answers on its port; when
# kcat is installed it must also return metadata listing the broker.
ready() {
	grep -q 'Kafka Server started' "$log_file" 2>/dev/null || return 1
	port_open "$port" || return 1
	if command -v kcat >/dev/null; then
		kcat -L -b "$bootstrap" -m 5 2>/dev/null | grep -q '1 brokers' || return 1
	fi
}

cmd_start() {
	cmd_install
	if running; then
		log "already running (pid $(cat "$pid_file"))"
		echo "$bootstrap"
		return 0
	fi
	port_open "$port" && die "port $port is taken by another process"
	port_open "$controller_port" && die "port $controller_port is taken by another process"

	# Fresh storage at every start (tests expect an empty broker), except
	# for restart, which keeps it.
	local keep=${1:-}
	[[ $keep == keep && -f $data_dir/meta.properties ]] || keep=
	[[ -n $keep ]] || rm -rf "$data_dir"
	mkdir -p "$run_dir"
	write_config
	write_log4j_config "$log4j_config" INFO
	: >"$log_file"

	local java_opts=(
		"-Xmx$heap" -Xms128m -XX:+UseG1GC -XX:+ExitOnOutOfMemoryError
		-Djava.awt.headless=true
		"-Dlog4j2.configurationFile=$log4j_config"
	)
	if [[ -z $keep ]] && ! java "${java_opts[@]}" -cp "$libs/*" kafka.tools.StorageTool \
		format -t "$cluster_id" -c "$config" --standalone \
		>>"$log_file" 2>&1; then
		tail -n 20 "$log_file" >&2
		die "formatting the storage failed"
	fi

	# setsid detaches the broker from our process group, so it outlives the
	# shell that started it; the inner bash records its pid before exec.
	log "starting Kafka $kafka_version on $bootstrap (log: $log_file)"
	setsid bash -c 'echo $$ >"$1"; shift; exec "$@"' _ "$pid_file" \
		java "${java_opts[@]}" -cp "$libs/*" kafka.Kafka "$config" \
		>>"$log_file" 2>&1 </dev/null &

	local start=$SECONDS
	until ready; do
		if ((SECONDS - start >= start_timeout)); then
			tail -n 30 "$log_file" >&2
			cmd_stop || true
			die "broker not ready after ${start_timeout}s"
		fi
		# The pid file appears a moment after the fork.
		if [[ -f $pid_file ]] && ! running; then
			tail -n 30 "$log_file" >&2
			die "broker exited during start-up"
		fi
		sleep 0.5
	done
	log "ready after $((SECONDS - start))s (pid $(cat "$pid_file"))"
	echo "$bootstrap"
}

# --- stop, status, logs, topics --------------------------------------------

cmd_stop() {
	if ! running; then
		rm -f "$pid_file"
		log "not running"
		return 0
	fi
	local pid
	pid=$(cat "$pid_file")
	log "stopping pid $pid"
	kill -TERM "$pid" 2>/dev/null || true
	# A controlled shutdown of a single node takes a few seconds.
	for _ in $(seq 1 60); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.5
	done
	if kill -0 "$pid" 2>/dev/null; then
		log "still running after 30s; killing"
		kill -KILL "$pid" 2>/dev/null || true
		sleep 0.5
	fi
	rm -f "$pid_file"
	log "stopped"
}

cmd_status() {
	if running; then
		echo "running pid=$(cat "$pid_file") bootstrap=$bootstrap version=$kafka_version"
	else
		echo "stopped"
		return 1
	fi
}

cmd_logs() {
	[[ -f $log_file ]] || die "no log at $log_file"
	tail -n "${1:-100}" "$log_file"
}

cmd_topics() {
	cmd_install
	write_log4j_config "$run_dir/tools-log4j2.properties" WARN
	java -Xmx256m -cp "$libs/*" \
		"-Dlog4j2.configurationFile=$run_dir/tools-log4j2.properties" \
		org.apache.kafka.tools.TopicCommand --bootstrap-server "$bootstrap" "$@"
}

case ${1:-} in
install) cmd_install ;;
start) cmd_start ;;
stop) cmd_stop ;;
restart)
	cmd_stop
	cmd_start keep
	;;
status) cmd_status ;;
logs) cmd_logs "${2:-}" ;;
topics)
	shift
	cmd_topics "$@"
	;;
*)
	echo "usage: $0 install|start|stop|restart|status|logs [N]|topics ARGS..." >&2
	exit 2
	;;
esac
