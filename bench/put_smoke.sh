#!/usr/bin/env bash
# put_smoke.sh BIN_DIR: `senatectl bench put` against three real senated
# processes (raft) started with `senatectl cluster up` on free loopback
# ports in a temporary directory: 4 clients, 300 requests. It checks the
# `result:` line (ok=300 failed=0, ops_s > 0) and the exit status, that
# every member applied the puts (status), then `cluster down`. Numbers are not judged; bench/vs-etcd.sh measures.
# (ctest bench_put_smoke, label bench.)
set -euo pipefail

bin=$1
ctl=$bin/senatectl
tmp=$(mktemp -d "${TMPDIR:-/tmp}/put-smoke.XXXXXX")
dir=$tmp/cluster
cleanup() {
	if [ -f "$dir/cluster.conf" ]; then
		"$ctl" cluster down --data-dir "$dir" --timeout 5 >/dev/null 2>&1 ||
			true
	fi
	for f in "$dir"/n*.pid; do
		[ -f "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

. "$(dirname "$0")/../tests/common/cluster.sh"

# ---- three members on free ports (a port taken meanwhile: another try) --
for try in 1 2 3 4 5; do
	rc=0
	out=$("$ctl" cluster up --nodes 3 --engine raft --data-dir "$dir" \
		--base-port "$(free_base)" 2>&1) || rc=$?
	[ "$rc" = 0 ] && break
	grep -q "is in use" <<<"$out" || fail "cluster up (exit $rc): $out"
	[ "$try" = 5 ] && fail "no free ports after five tries: $out"
done
endpoints=$(sed -n 's/^endpoints: //p' <<<"$out")
[ -n "$endpoints" ] || fail "no endpoints line from cluster up: $out"

# ---- the benchmark ------------------------------------------------------
rc=0
bout=$("$ctl" --endpoints "$endpoints" bench put --clients 4 --conns 2 \
	--requests 300 --value-size 100 --max-seconds 60 2>&1) || rc=$?
echo "$bout"
[ "$rc" = 0 ] || fail "bench put exited with status $rc"
result=$(grep '^result: ' <<<"$bout" | tail -1)
[ -n "$result" ] || fail "no result: line"
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$result"; }
[ "$(field target)" = senate ] || fail "target is not senate: $result"
[ "$(field ok)" = 300 ] || fail "ok=$(field ok), want 300: $result"
[ "$(field failed)" = 0 ] || fail "failed=$(field failed), want 0: $result"
awk -v v="$(field ops_s)" 'BEGIN { exit !(v + 0 > 0) }' ||
	fail "ops_s=$(field ops_s), want > 0: $result"

# The puts are in the log: every member applies at least the 300 (plus
# the warm-ups) - a bench that counted answers it never got fails here. A
# follower learns the commit index with the next heartbeat: up to 5 s.
for i in $(seq 50); do
	st=$("$ctl" --endpoints "$endpoints" status 2>&1) || fail "status: $st"
	applied=$(awk 'NR > 1 && $3 ~ /^(leader|follower)$/ { print $6 }' \
		<<<"$st")
	low=$(awk '$1 < 301' <<<"$applied" | wc -l)
	[ "$(wc -l <<<"$applied")" = 3 ] && [ "$low" = 0 ] && break
	[ "$i" = 50 ] &&
		fail "want 3 members that applied >= 301 entries: $st"
	sleep 0.1
done
echo "$st"

"$ctl" cluster down --data-dir "$dir" >/dev/null ||
	fail "cluster down failed"
echo "PASS: $result"
