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
#
# Secure mode (opt-in, FEATHR_KAFKA_SECURE=1) keeps the PLAINTEXT listener on
# the client port (for producing and admin) and adds, on the next ports:
#   client port + 2  SSL             server certificate from a fresh test CA;
#                                    client certificate optional (requested)
#   client port + 3  SSL             mutual TLS: client certificate required
#   client port + 4  SASL_PLAINTEXT  PLAIN, SCRAM-SHA-256, SCRAM-SHA-512
#   client port + 5  SASL_SSL        the same mechanisms over TLS
# At every start it writes into FEATHR_KAFKA_TLS_DIR (default: <run dir>/tls)
# with openssl: ca.pem (the CA that signed everything), broker.pem (the
# broker's key and chain, a PEM keystore), client.pem and client.key (a
# client certificate signed by the CA, for mutual TLS). Users:
#   PLAIN  $FEATHR_KAFKA_PLAIN_USER (default feathr) with
#          $FEATHR_KAFKA_PLAIN_PASSWORD (default feathr-plain-secret), and
#          the Event Hubs form: user "$ConnectionString" with password
#          $FEATHR_KAFKA_EVENTHUBS_PASSWORD (default: a made-up connection
#          string "Endpoint=sb://feathr-test.servicebus.windows.net/;...")
#   SCRAM  $FEATHR_KAFKA_SCRAM_USER (default feathr-scram) with
#          $FEATHR_KAFKA_SCRAM_PASSWORD (default feathr-scram-secret), for
#          both SCRAM-SHA-256 and SCRAM-SHA-512 (created at format time)
# Passwords must not contain '"', ',', ']' or '\'. e2e/security_test.go
# starts such a broker by itself, like
#   FEATHR_KAFKA_SECURE=1 FEATHR_KAFKA_PORT=9300 scripts/kafka.sh start
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

# Secure mode: see the header.
secure=${FEATHR_KAFKA_SECURE:-0}
ssl_port=$((port + 2))
mtls_port=$((port + 3))
sasl_port=$((port + 4))
sasl_ssl_port=$((port + 5))
tls_dir=${FEATHR_KAFKA_TLS_DIR:-$run_dir/tls}
plain_user=${FEATHR_KAFKA_PLAIN_USER:-feathr}
plain_password=${FEATHR_KAFKA_PLAIN_PASSWORD:-feathr-plain-secret}
eventhubs_password=${FEATHR_KAFKA_EVENTHUBS_PASSWORD:-Endpoint=sb://feathr-test.servicebus.windows.net/;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=ZmVhdGhyLXRlc3Qta2V5}
scram_user=${FEATHR_KAFKA_SCRAM_USER:-feathr-scram}
scram_password=${FEATHR_KAFKA_SCRAM_PASSWORD:-feathr-scram-secret}
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

# write_certs makes a throwaway CA and, signed by it, the broker's server
# certificate (for 127.0.0.1 and localhost) and a client certificate.
write_certs() {
	command -v openssl >/dev/null || die "openssl not found (needed by FEATHR_KAFKA_SECURE=1)"
	mkdir -p "$tls_dir"
	(
		set -e
		cd "$tls_dir"
		umask 077
		rm -f ca.pem ca.key broker.pem client.pem client.key
		ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
		openssl req -x509 "${ec[@]}" -keyout ca.key -out ca.pem -days 7 \
			-subj "/CN=feathr test CA" \
			-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
		sign() { # sign NAME SUBJECT EXTENSIONS
			openssl req "${ec[@]}" -keyout "$1.key" -out "$1.csr" -subj "$2"
			printf '%s\n' "$3" >"$1.ext"
			openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial \
				-days 7 -extfile "$1.ext" -out "$1.crt"
			rm -f "$1.csr" "$1.ext"
		}
		sign server "/CN=localhost" "subjectAltName=IP:$host,DNS:localhost
extendedKeyUsage=serverAuth"
		sign client "/CN=feathr-client" "extendedKeyUsage=clientAuth"
		# Kafka's PEM keystore: the PKCS#8 key, then the chain.
		cat server.key server.crt ca.pem >broker.pem
		mv client.crt client.pem
		rm -f server.key server.crt ca.srl
	) >>"$log_file" 2>&1 || die "openssl failed; see $log_file"
}

# write_secure_config appends the listeners of secure mode. PLAIN users
# are listed in the listeners' JAAS configuration; SCRAM users are stored
# in the metadata log at format time.
write_secure_config() {
	local plain="org.apache.kafka.common.security.plain.PlainLoginModule required"
	plain+=" user_$plain_user=\"$plain_password\""
	plain+=" user_\$ConnectionString=\"$eventhubs_password\";"
	local scram="org.apache.kafka.common.security.scram.ScramLoginModule required;"
	{
		echo
		echo "# Secure mode (FEATHR_KAFKA_SECURE=1): TLS, mutual TLS and SASL listeners."
		echo "ssl.keystore.type=PEM"
		echo "ssl.keystore.location=$tls_dir/broker.pem"
		echo "ssl.truststore.type=PEM"
		echo "ssl.truststore.location=$tls_dir/ca.pem"
		echo "ssl.client.auth=requested"
		echo "listener.name.mtls.ssl.client.auth=required"
		echo "sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512"
		local l m
		for l in sasl_plaintext sasl_ssl; do
			echo "listener.name.$l.plain.sasl.jaas.config=$plain"
			for m in scram-sha-256 scram-sha-512; do
				echo "listener.name.$l.$m.sasl.jaas.config=$scram"
			done
		done
	} >>"$config"
}

# write_config writes the broker's properties. Every broker setting lives
# here; secure mode adds listeners (write_secure_config).
write_config() {
	local listeners="PLAINTEXT://$host:$port"
	local map="PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
	if [[ $secure == 1 ]]; then
		listeners+=",SSL://$host:$ssl_port,MTLS://$host:$mtls_port"
		listeners+=",SASL_PLAINTEXT://$host:$sasl_port,SASL_SSL://$host:$sasl_ssl_port"
		map+=",SSL:SSL,MTLS:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL"
	fi
	cat >"$config" <<EOF
# Generated by scripts/kafka.sh; rewritten at every start.
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=$host:$controller_port
listeners=$listeners,CONTROLLER://$host:$controller_port
advertised.listeners=$listeners
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=$map
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
	if [[ $secure == 1 ]]; then
		write_secure_config
	fi
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
	if [[ $secure == 1 ]]; then
		local p
		for p in "$ssl_port" "$mtls_port" "$sasl_port" "$sasl_ssl_port"; do
			port_open "$p" || return 1
		done
	fi
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
	local p ports=("$port" "$controller_port")
	if [[ $secure == 1 ]]; then
		ports+=("$ssl_port" "$mtls_port" "$sasl_port" "$sasl_ssl_port")
	fi
	for p in "${ports[@]}"; do
		port_open "$p" && die "port $p is taken by another process"
	done

	# Fresh storage at every start (tests expect an empty broker), except
	# for restart, which keeps it.
	local keep=${1:-}
	[[ $keep == keep && -f $data_dir/meta.properties ]] || keep=
	[[ -n $keep ]] || rm -rf "$data_dir"
	mkdir -p "$run_dir"
	: >"$log_file"
	local format_args=()
	if [[ $secure == 1 ]]; then
		write_certs
		format_args=(
			--add-scram "SCRAM-SHA-256=[name=$scram_user,password=$scram_password]"
			--add-scram "SCRAM-SHA-512=[name=$scram_user,password=$scram_password]"
		)
	fi
	write_config
	write_log4j_config "$log4j_config" INFO

	local java_opts=(
		"-Xmx$heap" -Xms128m -XX:+UseG1GC -XX:+ExitOnOutOfMemoryError
		-Djava.awt.headless=true
		"-Dlog4j2.configurationFile=$log4j_config"
	)
	if [[ -z $keep ]] && ! java "${java_opts[@]}" -cp "$libs/*" kafka.tools.StorageTool \
		format -t "$cluster_id" -c "$config" --standalone ${format_args[@]+"${format_args[@]}"} \
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
	if [[ $secure == 1 ]]; then
		log "secure listeners: SSL $host:$ssl_port, mTLS $host:$mtls_port, SASL_PLAINTEXT $host:$sasl_port, SASL_SSL $host:$sasl_ssl_port; certificates in $tls_dir"
	fi
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
