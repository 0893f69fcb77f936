#!/usr/bin/env bash
# senate-run.sh BIN_DIR [DATA_DIR] - what `make run` does: `senatectl
# cluster up` three senated members on loopback in DATA_DIR (created the
# first time, restarted on their data afterwards), print the endpoints and
# an example senatectl, show a live status view, and `senatectl cluster
# down` on Ctrl-C.
#
# Environment: SENATE_BASE_PORT (default: what DATA_DIR/cluster.conf says,
# else 7000: clients on 7001-7003, peers on 7101-7103), SENATE_ENGINE
# (raft | paxos; default: the conf's, else raft), SENATE_RUN_SECONDS (stop
# by itself after this many seconds: for tests; default: until Ctrl-C).
# Either set against an existing DATA_DIR must agree with its cluster.conf.
set -euo pipefail

bin=${1:?usage: senate-run.sh BIN_DIR [DATA_DIR]}
data=${2:-senate-data}
seconds=${SENATE_RUN_SECONDS:-0}

up=(cluster up --nodes 3 --data-dir "$data")
[ -n "${SENATE_BASE_PORT:-}" ] && up+=(--base-port "$SENATE_BASE_PORT")
[ -n "${SENATE_ENGINE:-}" ] && up+=(--engine "$SENATE_ENGINE")

# The members are detached (they outlive a `cluster up`), so whatever ends
# this script stops them: Ctrl-C (also while `cluster up` waits for a
# leader), kill, a closed terminal (HUP), a closed pipe.
stop() {
	trap - INT TERM HUP
	trap '' PIPE # with nobody reading, writes fail instead of killing
	set +e
	echo 2>/dev/null
	echo "stopping the cluster..." 2>/dev/null
	"$bin/senatectl" cluster down --data-dir "$data" 2>&1
	rc=$?
	[ "$rc" = 0 ] &&
		echo "stopped; the data stays in $data (make run restarts on it)" 2>/dev/null
	exit $rc
}
trap stop INT TERM HUP PIPE

# Shown as it comes (the wait for a leader takes a moment) and kept.
out="" rc=0
while IFS= read -r line; do
	printf '%s\n' "$line"
	out+=$line$'\n'
done < <("$bin/senatectl" "${up[@]}" 2>&1)
wait $! || rc=$?
if [ "$rc" != 0 ]; then
	if grep -q "is in use" <<<"$out"; then
		echo "senate-run: SENATE_BASE_PORT=N moves a new cluster's ports" >&2
	fi
	# Members started for a cluster that found no leader are stopped
	# again; a refusal (taken ports, flags that contradict cluster.conf)
	# started nothing.
	if grep -q '^started n' <<<"$out"; then
		trap - INT TERM HUP PIPE
		"$bin/senatectl" cluster down --data-dir "$data" || true
	fi
	exit "$rc"
fi
endpoints=$(sed -n 's/^endpoints: //p' <<<"$out")

cat <<EOF
try:
  $bin/senatectl --endpoints $endpoints put hello world
  $bin/senatectl --endpoints $endpoints get hello
  $bin/senatectl cluster status --data-dir $data
Ctrl-C stops the cluster (senatectl cluster down --data-dir $data).
EOF

ctl() { "$bin/senatectl" --endpoints "$endpoints" "$@"; }
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
