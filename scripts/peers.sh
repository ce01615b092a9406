#!/usr/bin/env bash
# peers.sh installs the peer clients that feathr's end-to-end suite (e2e/)
# drives against the real Kafka broker and Redis: programs feathr did not
# write, so that the suite checks feathr against the rest of the world and
# not against itself.
#
#   scripts/peers.sh install   install what is missing with apt-get (Debian's
#                              packages); does nothing when all is there
#   scripts/peers.sh check     exit 1, naming what is missing, unless all is there
#   scripts/peers.sh versions  print the version of each peer
#
# The peers:
#   kcat                     produces Avro files as Kafka messages (librdkafka)
#   python3-confluent-kafka  Python producer, as Feathr's own test producer
#   python3-fastavro         Avro schemaless writer (python3-avro when Debian
#                            has no fastavro, e.g. bookworm)
#   python3-redis            Feathr's Python client's Redis reader
#   python3-protobuf         parses FeatureValue as Feathr's Python client does
#   protobuf-compiler        protoc, compiles sink/featurepb/feature_value.proto
#
# The Python packages are Debian's, for Debian's interpreter /usr/bin/python3
# (not a pyenv or virtualenv python3 that may come first on PATH).
set -euo pipefail

py=/usr/bin/python3

log() { printf 'peers.sh: %s\n' "$*" >&2; }
die() {
	log "$*"
	exit 1
}

# have_module succeeds when Debian's python3 imports module $1.
have_module() {
	[[ -x $py ]] && "$py" -c "import $1" 2>/dev/null
}

# avro_module prints the Avro module that is installed: fastavro, else avro.
avro_module() {
	if have_module fastavro; then
		echo fastavro
	elif have_module avro; then
		echo avro
	fi
}

# missing prints the Debian packages to install, one a line.
missing() {
	command -v kcat >/dev/null || echo kcat
	command -v protoc >/dev/null || echo protobuf-compiler
	# openssl makes the certificates of the secure broker and Redis TLS
	# tests; /usr/bin/time measures peak RSS in `make bench`.
	command -v openssl >/dev/null || echo openssl
	[[ -x /usr/bin/time ]] || echo time
	[[ -x $py ]] || echo python3
	have_module confluent_kafka || echo python3-confluent-kafka
	have_module redis || echo python3-redis
	have_module google.protobuf || echo python3-protobuf
	if [[ -z $(avro_module) ]]; then
		echo avro
	fi
}

# avro_package picks python3-fastavro when the archive has it, else
# python3-avro.
avro_package() {
	if [[ -n $(apt-cache policy python3-fastavro 2>/dev/null | awk '/Candidate:/ && $2 != "(none)"') ]]; then
		echo python3-fastavro
	else
		echo python3-avro
	fi
}

cmd_install() {
	local want
	want=$(missing)
	if [[ -z $want ]]; then
		log "all peers installed"
		return 0
	fi
	local sudo=()
	if [[ $(id -u) -ne 0 ]]; then
		command -v sudo >/dev/null || die "not root and no sudo: install these yourself: $(echo "$want" | tr '\n' ' ')"
		sudo=(sudo)
	fi
	"${sudo[@]}" apt-get update
	local pkgs=()
	while read -r p; do
		if [[ $p == avro ]]; then
			p=$(avro_package)
		fi
		pkgs+=("$p")
	done <<<"$want"
	log "installing ${pkgs[*]}"
	DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y --no-install-recommends "${pkgs[@]}"
	want=$(missing)
	[[ -z $want ]] || die "still missing after apt-get: $(echo "$want" | tr '\n' ' ')"
	log "all peers installed"
}

cmd_check() {
	local want
	want=$(missing)
	[[ -z $want ]] || die "missing: $(echo "$want" | tr '\n' ' ')(run scripts/peers.sh install)"
}

cmd_versions() {
	cmd_check
	echo "kcat: $(kcat -V 2>&1 | grep -m1 Version)"
	echo "protoc: $(protoc --version)"
	"$py" - "$(avro_module)" <<'EOF'
import sys, importlib
import confluent_kafka, redis, google.protobuf
print("python:", sys.version.split()[0])
print("confluent-kafka:", confluent_kafka.version()[0], "librdkafka:", confluent_kafka.libversion()[0])
avro = importlib.import_module(sys.argv[1])
print(sys.argv[1] + ":", getattr(avro, "__version__", "?"))
print("redis-py:", redis.__version__)
print("protobuf:", google.protobuf.__version__)
EOF
}

case ${1:-} in
install) cmd_install ;;
check) cmd_check ;;
versions) cmd_versions ;;
*)
	echo "usage: $0 install|check|versions" >&2
	exit 2
	;;
esac
