#!/usr/bin/env bash
# kill -9 of every member in the middle of a write load, then a restart on
# their disks: every acknowledged write is there, and any write that was not
# acknowledged is either absent or whole (never half-applied). Three real
# senated processes on free loopback ports, driven by senatectl.
#   crash_all_test.sh BIN_DIR ENGINE
set -euo pipefail

bin=$1 engine=$2
dir=$(mktemp -d "${TMPDIR:-/tmp}/senate-crash.XXXXXX")
pids=() loader=""
cleanup() {
	[ -n "$loader" ] && kill -9 "$loader" 2>/dev/null || true
	for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
	rm -rf "$dir"
}
trap cleanup EXIT
# free_base (and a fail that the one below replaces)
. "$(dirname "$0")/../common/cluster.sh"
fail() {
	echo "FAIL ($engine): $*" >&2
	for f in "$dir"/*.log; do echo "--- $f" >&2; tail -5 "$f" >&2; done
	exit 1
}

base=$(free_base)
ports=($((base + 101)) $((base + 102)) $((base + 103))
	$((base + 1)) $((base + 2)) $((base + 3)))
cluster="" endpoints=""
for i in 0 1 2; do
	cluster+="${cluster:+,}n$((i + 1))=127.0.0.1:${ports[$i]};127.0.0.1:${ports[$((i + 3))]}"
	endpoints+="${endpoints:+,}127.0.0.1:${ports[$((i + 3))]}"
done
start() {
	"$bin/senated" --name "n$(($1 + 1))" --data-dir "$dir/n$(($1 + 1))" \
		--listen-peer "127.0.0.1:${ports[$1]}" \
		--listen-client "127.0.0.1:${ports[$(($1 + 3))]}" \
		--initial-cluster "$cluster" --engine "$engine" --tick-ms 20 \
		>>"$dir/n$(($1 + 1)).log" 2>&1 &
	pids[$1]=$!
}
ctl() { "$bin/senatectl" --endpoints "$endpoints" "$@"; }
value() { printf 'value-of-%s-%0200d' "$1" 7; } # long: a torn one shows

for i in 0 1 2; do start "$i"; done
ok=""
for _ in $(seq 100); do
	if ctl put warmup 1 >/dev/null 2>&1; then ok=1; break; fi
	sleep 0.1
done
[ -n "$ok" ] || fail "the cluster never accepted a write"

# The load: one put after the other; each acknowledged key is recorded
# only after senatectl said OK.
: >"$dir/acked"
(
	for n in $(seq 1 100000); do
		if ctl put "k$n" "$(value "k$n")" >/dev/null 2>&1; then
			echo "k$n" >>"$dir/acked"
		fi
	done
) &
loader=$!
for _ in $(seq 200); do
	[ "$(wc -l <"$dir/acked")" -ge 60 ] && break
	sleep 0.05
done
for i in 0 1 2; do kill -9 "${pids[$i]}"; done
kill -9 "$loader" 2>/dev/null || true
wait "$loader" 2>/dev/null || true
loader=""
for i in 0 1 2; do wait "${pids[$i]}" 2>/dev/null || true; done
acked=$(wc -l <"$dir/acked")
[ "$acked" -ge 20 ] || fail "only $acked writes acknowledged before the crash"

for i in 0 1 2; do start "$i"; done
ok=""
for _ in $(seq 100); do
	if ctl put after restart >/dev/null 2>&1; then ok=1; break; fi
	sleep 0.1
done
[ -n "$ok" ] || fail "no write after the restart"

# Every acknowledged key, with its whole value (a linearizable read).
while read -r k; do
	got=$(ctl get "$k" 2>/dev/null) || fail "acknowledged $k is lost"
	[ "$got" = "$(value "$k")" ] || fail "$k has '$got'"
done <"$dir/acked"
# Whatever else is there is whole.
ctl range k >"$dir/all" || fail "range after restart"
while IFS='=' read -r k v; do
	[ "$v" = "$(value "$k")" ] || fail "unacknowledged $k is half-applied: '$v'"
done <"$dir/all"
echo "crash-all ($engine): $acked acknowledged writes survived," \
     "$(wc -l <"$dir/all") keys whole"

for i in 0 1 2; do kill -TERM "${pids[$i]}"; done
for i in 0 1 2; do
	rc=0; wait "${pids[$i]}" || rc=$?
	[ "$rc" = 0 ] || fail "member $((i + 1)) exited $rc after SIGTERM"
done
pids=()
