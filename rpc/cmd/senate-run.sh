#!/usr/bin/env bash
# senate-run.sh BIN_DIR [DATA_DIR] - what `make run` does: start (or
# restart, on their existing data) three senated members on loopback, print
# the endpoints and an example senatectl, show a live status view, and stop
# the members cleanly on Ctrl-C.
#
# Environment: SENATE_BASE_PORT (default 7000: clients on 7001-7003, peers
# on 7101-7103), SENATE_ENGINE (raft | paxos), SENATE_RUN_SECONDS (stop by
# itself after this many seconds: for tests; default: until Ctrl-C).
set -euo pipefail

bin=${1:?usage: senate-run.sh BIN_DIR [DATA_DIR]}
data=${2:-senate-data}
base=${SENATE_BASE_PORT:-7000}
engine=${SENATE_ENGINE:-raft}
seconds=${SENATE_RUN_SECONDS:-0}

mkdir -p "$data"
data=$(cd "$data" && pwd)
cluster="" endpoints=""
for i in 1 2 3; do
	cluster+="${cluster:+,}n$i=127.0.0.1:$((base + 100 + i));127.0.0.1:$((base + i))"
	endpoints+="${endpoints:+,}127.0.0.1:$((base + i))"
done

for port in $((base + 1)) $((base + 2)) $((base + 3)) \
	$((base + 101)) $((base + 102)) $((base + 103)); do
	if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
		echo "senate-run: port $port is in use (another cluster?);" \
		     "set SENATE_BASE_PORT" >&2
		exit 1
	fi
done

pids=()
stop() {
	trap - INT TERM
	echo
	echo "stopping the cluster..."
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	rc=0
	for p in "${pids[@]}"; do wait "$p" || rc=1; done
	echo "stopped; the data stays in $data (make run restarts on it)"
	exit $rc
}
trap stop INT TERM

for i in 1 2 3; do
	"$bin/senated" --name "n$i" --data-dir "$data/n$i" \
		--listen-peer "127.0.0.1:$((base + 100 + i))" \
		--listen-client "127.0.0.1:$((base + i))" \
		--initial-cluster "$cluster" --engine "$engine" \
		>>"$data/n$i.log" 2>&1 &
	pids+=($!)
done

ctl() { "$bin/senatectl" --endpoints "$endpoints" "$@"; }
for _ in $(seq 100); do
	ctl status 2>/dev/null | awk '$3 == "leader" { f = 1 } END { exit !f }' &&
		break
	sleep 0.1
done

cat <<EOF
Senate: a local 3-member cluster ($engine), data in $data (logs: n1.log ...)
endpoints: $endpoints
try:
  $bin/senatectl --endpoints $endpoints put hello world
  $bin/senatectl --endpoints $endpoints get hello
Ctrl-C stops the cluster.
EOF

start=$SECONDS
while :; do
	if [ -t 1 ]; then
		printf '\033[s'
		ctl status 2>&1 || true
		sleep 1
		printf '\033[u\033[J'
	else
		ctl status 2>&1 || true
		sleep 1
	fi
	if [ "$seconds" != 0 ] && ((SECONDS - start >= seconds)); then
		stop
	fi
done
