#!/usr/bin/env bash
# senatectl against three real senated processes on free loopback ports:
# put / get / range / del / status, writes through a follower endpoint
# (the client follows senate-leader), the leader killed with SIGKILL (the
# next write still succeeds), the killed member restarted (it catches up:
# a serializable read on it sees the latest write), usage errors, and a
# clean SIGTERM of every member.
#   senatectl_test.sh BIN_DIR
set -euo pipefail

bin=$1
dir=$(mktemp -d "${TMPDIR:-/tmp}/senatectl-test.XXXXXX")
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
	rm -rf "$dir"
}
trap cleanup EXIT

# fail, free_base
. "$(dirname "$0")/../common/cluster.sh"

base=$(free_base)
ports=($((base + 101)) $((base + 102)) $((base + 103))
	$((base + 1)) $((base + 2)) $((base + 3)))
peer=("${ports[0]}" "${ports[1]}" "${ports[2]}")
client=("${ports[3]}" "${ports[4]}" "${ports[5]}")
cluster=""
for i in 0 1 2; do
	cluster+="${cluster:+,}n$((i + 1))=127.0.0.1:${peer[$i]};127.0.0.1:${client[$i]}"
done
endpoints="127.0.0.1:${client[0]},127.0.0.1:${client[1]},127.0.0.1:${client[2]}"

start() { # start member i (0-based)
	"$bin/senated" --name "n$(($1 + 1))" --data-dir "$dir/n$(($1 + 1))" \
		--listen-peer "127.0.0.1:${peer[$1]}" \
		--listen-client "127.0.0.1:${client[$1]}" \
		--initial-cluster "$cluster" --tick-ms 20 \
		>>"$dir/n$(($1 + 1)).log" 2>&1 &
	pids[$1]=$!
}

ctl() { "$bin/senatectl" --endpoints "$endpoints" "$@"; }

leader() { # index of the member that leads, per status
	ctl status 2>/dev/null | awk '$3 == "leader" { print $2 - 1; exit }'
}

for i in 0 1 2; do start "$i"; done
for _ in $(seq 100); do
	[ -n "$(leader)" ] && break
	sleep 0.1
done
l=$(leader)
[ -n "$l" ] || fail "no leader after 10 s"

out=$(ctl put greeting hello) || fail "put: $out"
[[ $out == "OK revision 1" ]] || fail "first put answered '$out'"
[ "$(ctl get greeting)" = hello ] || fail "get after put"
ctl put gravity 9.81 >/dev/null || fail "second put"
[ "$(ctl range gr)" = $'gravity=9.81\ngreeting=hello' ] ||
	fail "range gr: $(ctl range gr)"

# A second member started on a running member's addresses must not share
# its ports (gRPC's default SO_REUSEPORT would let it): it fails to listen.
rc=0
timeout 20 "$bin/senated" --name n1 --data-dir "$dir/dup" \
	--listen-peer "127.0.0.1:${peer[0]}" --listen-client "127.0.0.1:${client[0]}" \
	--initial-cluster "$cluster" >"$dir/dup.log" 2>&1 || rc=$?
[ "$rc" != 0 ] && [ "$rc" != 124 ] ||
	fail "a second senated on n1's ports: exit $rc (want a failure)"
grep -q "cannot listen on 127.0.0.1:${peer[0]}" "$dir/dup.log" ||
	fail "the duplicate did not say why: $(tail -3 "$dir/dup.log")"
[ "$(ctl get greeting)" = hello ] || fail "the cluster after the duplicate"

# Through a follower first: the client follows senate-leader.
f=$(((l + 1) % 3))
out=$("$bin/senatectl" --endpoints "127.0.0.1:${client[$f]}" put via follower) ||
	fail "put through a follower: $out"
[ "$(ctl get via)" = follower ] || fail "write through a follower is missing"

[ "$(ctl del gravity)" = "deleted 1" ] || fail "del"
if ctl get gravity 2>/dev/null; then fail "deleted key still there"; fi
rc=0; ctl get nosuchkey >/dev/null 2>&1 || rc=$?
[ "$rc" = 1 ] || fail "missing key: exit $rc, want 1"
rc=0; "$bin/senatectl" put x 2>/dev/null || rc=$?
[ "$rc" = 2 ] || fail "usage error: exit $rc, want 2"

# Kill the leader: the others elect a new one and the next write works.
kill -9 "${pids[$l]}"
wait "${pids[$l]}" 2>/dev/null || true
ok=""
for _ in $(seq 50); do
	if ctl put after kill9 >/dev/null 2>&1; then ok=1; break; fi
	sleep 0.2
done
[ -n "$ok" ] || fail "no write succeeded after the leader was killed"
[ "$(ctl get greeting)" = hello ] || fail "acknowledged write lost"

# Restart it: it catches up (a local read on it sees the new write).
start "$l"
seen=""
for _ in $(seq 100); do
	v=$("$bin/senatectl" --endpoints "127.0.0.1:${client[$l]}" \
		get after --serializable 2>/dev/null || true)
	if [ "$v" = kill9 ]; then seen=1; break; fi
	sleep 0.1
done
[ -n "$seen" ] || fail "restarted member did not catch up"
healthy=""
for _ in $(seq 50); do
	n=$(ctl status 2>/dev/null | awk 'NR > 1 && ($3 == "leader" ||
		$3 == "follower") { n++ } END { print n + 0 }' || true)
	if [ "$n" = 3 ]; then healthy=1; break; fi
	sleep 0.1
done
[ -n "$healthy" ] || fail "status does not show three members: $(ctl status)"

for i in 0 1 2; do kill -TERM "${pids[$i]}"; done
for i in 0 1 2; do
	rc=0; wait "${pids[$i]}" || rc=$?
	[ "$rc" = 0 ] || fail "member $((i + 1)) exited $rc after SIGTERM"
done
pids=()
echo "senatectl: all checks passed"
