#!/usr/bin/env bash
# `senatectl cluster up|down|status` with real senated processes on free
# loopback ports, in a temporary directory:
#   up 3 members (raft): the endpoints line, a put/get through it;
#   up again: nothing started, the same pids, the endpoints again;
#   the leader killed with SIGKILL: up restarts just that member, and it
#   catches up (its applied index reaches the leader's, per status);
#   down: exit 0, none of the members (nor any senated of the directory)
#   is left, pid files gone; down again: "not running", exit 0;
#   up again: the data is still there; taken ports are named;
#   --engine paxos once; bad arguments: exit 2 with a message.
#   cluster_cmd_test.sh BIN_DIR
set -euo pipefail

bin=$1
ctl=$bin/senatectl
tmp=$(mktemp -d "${TMPDIR:-/tmp}/cluster-cmd-test.XXXXXX")
dir=$tmp/raft pdir=$tmp/paxos
cleanup() {
	for d in "$dir" "$pdir"; do
		[ -f "$d/cluster.conf" ] &&
			"$ctl" cluster down --data-dir "$d" --timeout 2 >/dev/null 2>&1
		for f in "$d"/n*.pid; do
			[ -f "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null
		done
	done
	rm -rf "$tmp"
}
trap cleanup EXIT

. "$(dirname "$0")/../common/cluster.sh"
log_dirs="$dir $pdir"

up_new() { # up_new DIR ARGS...: the first up, on a free base (retried)
	local d=$1 rc
	shift
	for _ in 1 2 3 4 5; do
		base=$(free_base)
		rc=0
		out=$("$ctl" cluster up --data-dir "$d" --base-port "$base" "$@" \
			2>&1) || rc=$?
		[ "$rc" = 0 ] && return 0
		grep -q "is in use" <<<"$out" || fail "first up (exit $rc): $out"
	done
	fail "no free ports after five tries: $out"
}

pids_of() { # the pid files' contents, in member order
	local d=$1 s=""
	for i in 1 2 3; do s+="$(cat "$d/n$i.pid" 2>/dev/null || echo -) "; done
	echo "$s"
}

eps() { sed -n 's/^endpoints: //p' <<<"$1"; }

# ---- up: three members, a leader, the endpoints line -------------------
up_new "$dir" --nodes 3 --engine raft
endpoints=$(eps "$out")
want="127.0.0.1:$((base + 1)),127.0.0.1:$((base + 2)),127.0.0.1:$((base + 3))"
[ "$endpoints" = "$want" ] || fail "endpoints line '$endpoints', want '$want': $out"
[ "$(grep -c '^endpoints: ' <<<"$out")" = 1 ] || fail "not one endpoints line: $out"
grep -q "engine raft" <<<"$out" || fail "up does not name the engine: $out"
grep -q "$dir" <<<"$out" || fail "up does not name the data dir: $out"
grep -q '^nodes = 3$' "$dir/cluster.conf" || fail "cluster.conf: $(cat "$dir/cluster.conf")"
ctl() { "$ctl" --endpoints "$endpoints" "$@"; }
v=$(ctl put greeting hello) || fail "put: $v"
[ "$(ctl get greeting)" = hello ] || fail "get after put"
pids=$(pids_of "$dir")
for p in $pids; do kill -0 "$p" 2>/dev/null || fail "pid $p of $pids is not running"; done

# ---- up again: a no-op that still prints the endpoints -----------------
out=$("$ctl" cluster up --data-dir "$dir" 2>&1) || fail "second up: $out"
[ "$(eps "$out")" = "$endpoints" ] || fail "second up's endpoints: $out"
if grep -q '^started' <<<"$out"; then fail "second up started a member: $out"; fi
[ "$(pids_of "$dir")" = "$pids" ] || fail "pids changed: $pids -> $(pids_of "$dir")"
out=$("$ctl" cluster up --data-dir "$dir" --nodes 3 --engine raft \
	--base-port "$base" 2>&1) || fail "up with the same flags: $out"

# ---- kill -9 the leader: up restarts just it, and it catches up --------
leader_member() { ctl status 2>/dev/null | awk '$3 == "leader" { print $2; exit }'; }
k=$(leader_member)
[ -n "$k" ] || fail "no leader in status: $(ctl status 2>&1)"
victim=$(cat "$dir/n$k.pid")
kill -9 "$victim"
while kill -0 "$victim" 2>/dev/null; do sleep 0.05; done
ok=""
for _ in $(seq 100); do # the survivors elect a leader and take writes
	if ctl put after kill9 >/dev/null 2>&1; then ok=1; break; fi
	sleep 0.1
done
[ -n "$ok" ] || fail "no write after the leader was killed"
for n in $(seq 20); do ctl put "k$n" "v$n" >/dev/null || fail "put k$n"; done
out=$("$ctl" cluster up --data-dir "$dir" 2>&1) || fail "up after kill -9: $out"
[ "$(grep -c '^started' <<<"$out")" = 1 ] || fail "not exactly one member started: $out"
grep -q "^started n$k " <<<"$out" || fail "n$k was not the one restarted: $out"
[ "$(eps "$out")" = "$endpoints" ] || fail "endpoints after the restart: $out"
new=$(cat "$dir/n$k.pid")
[ "$new" != "$victim" ] && kill -0 "$new" || fail "n$k.pid: $new"
for i in 1 2 3; do # the others kept running, untouched
	[ "$i" = "$k" ] && continue
	[ "$(cut -d' ' -f"$i" <<<"$pids")" = "$(cat "$dir/n$i.pid")" ] ||
		fail "n$i was restarted too"
done
caught=""
for _ in $(seq 100); do
	st=$(ctl status 2>/dev/null || true)
	mine=$(awk -v k="$k" '$2 == k { print $6 }' <<<"$st")
	lead=$(awk '$3 == "leader" { print $6 }' <<<"$st")
	if [ -n "$mine" ] && [ -n "$lead" ] && [ "$mine" -ge 22 ] &&
		[ "$mine" = "$lead" ]; then
		caught=1
		break
	fi
	sleep 0.1
done
[ -n "$caught" ] || fail "n$k did not catch up (applied $mine, leader $lead): $st"
v=$("$ctl" --endpoints "127.0.0.1:$((base + k))" get k20 --serializable) ||
	fail "serializable read on n$k: $v"
[ "$v" = v20 ] || fail "n$k reads k20 as '$v'"
out=$("$ctl" cluster status --data-dir "$dir" 2>&1) || fail "cluster status: $out"
[ "$(grep -c -E '^n[123] .* (leader|follower) ' <<<"$out")" = 3 ] ||
	fail "cluster status: $out"

# ---- taken ports are named; nothing is written then --------------------
rc=0
out=$("$ctl" cluster up --data-dir "$tmp/other" --base-port "$base" 2>&1) || rc=$?
[ "$rc" = 1 ] || fail "up on taken ports: exit $rc: $out"
grep -q "port $((base + 1)) (n1's client port) is in use" <<<"$out" ||
	fail "taken port not named: $out"
[ ! -e "$tmp/other/cluster.conf" ] || fail "cluster.conf written despite taken ports"

# ---- down: exit 0, nothing of the directory left running ---------------
pids=$(pids_of "$dir")
out=$("$ctl" cluster down --data-dir "$dir" 2>&1) || fail "down: $out"
for p in $pids; do
	if kill -0 "$p" 2>/dev/null &&
		! grep -q '^State:.*Z' "/proc/$p/status" 2>/dev/null; then
		fail "pid $p still runs after down: $(tr '\0' ' ' <"/proc/$p/cmdline")"
	fi
done
for f in /proc/[0-9]*/cmdline; do
	if tr '\0' '\n' 2>/dev/null <"$f" | grep -qx "$dir/n[0-9]"; then
		fail "a senated of $dir still runs: $f"
	fi
done
ls "$dir"/n*.pid >/dev/null 2>&1 && fail "pid files left: $(ls "$dir")"
out=$("$ctl" cluster down --data-dir "$dir" 2>&1) || fail "down of a stopped cluster: $out"
grep -q "not running" <<<"$out" || fail "down of a stopped cluster says: $out"

# ---- up again: the data is still there ---------------------------------
out=$("$ctl" cluster up --data-dir "$dir" 2>&1) || fail "up after down: $out"
[ "$(grep -c '^started' <<<"$out")" = 3 ] || fail "up after down: $out"
[ "$(eps "$out")" = "$endpoints" ] || fail "endpoints after down/up: $out"
[ "$(ctl get greeting)" = hello ] || fail "greeting lost across down/up"
[ "$(ctl get k20)" = v20 ] || fail "k20 lost across down/up"
out=$("$ctl" cluster down --data-dir "$dir" 2>&1) || fail "second down: $out"

# ---- bad arguments: exit 2 and a message --------------------------------
usage() { # usage WHAT ARGS...: exit 2 and something on stderr
	local what=$1 rc=0 err
	shift
	err=$("$ctl" cluster "$@" 2>&1 >/dev/null) || rc=$?
	[ "$rc" = 2 ] || fail "$what: exit $rc, want 2"
	[ -n "$err" ] || fail "$what: no message"
	echo "$err"
}
err=$(usage "--nodes 0" up --data-dir "$tmp/bad" --nodes 0)
grep -q -- "--nodes" <<<"$err" || fail "--nodes 0 says: $err"
[ ! -e "$tmp/bad" ] || fail "--nodes 0 created the directory"
err=$(usage "no --data-dir" up --nodes 3)
grep -q -- "--data-dir" <<<"$err" || fail "missing --data-dir says: $err"
err=$(usage "contradicting engine" up --data-dir "$dir" --engine paxos)
grep -q "contradicts" <<<"$err" && grep -q "engine = raft" <<<"$err" ||
	fail "contradicting engine says: $err"
err=$(usage "contradicting nodes" up --data-dir "$dir" --nodes 5)
grep -q "nodes = 3" <<<"$err" || fail "contradicting nodes says: $err"
mkdir -p "$tmp/plain" && touch "$tmp/plain/notes.txt"
err=$(usage "down on a plain dir" down --data-dir "$tmp/plain")
grep -q "not a cluster" <<<"$err" || fail "down on a plain dir says: $err"
err=$(usage "up on a foreign dir" up --data-dir "$tmp/plain")
grep -q "notes.txt" <<<"$err" || fail "up on a foreign dir says: $err"
ls "$dir"/n*.pid >/dev/null 2>&1 && fail "a refused up started something"

# ---- paxos, once ---------------------------------------------------------
up_new "$pdir" --engine paxos
grep -q "engine paxos" <<<"$out" || fail "paxos up: $out"
endpoints=$(eps "$out")
ctl put p q >/dev/null || fail "paxos put"
[ "$(ctl get p)" = q ] || fail "paxos get"
out=$("$ctl" cluster down --data-dir "$pdir" 2>&1) || fail "paxos down: $out"
ls "$pdir"/n*.pid >/dev/null 2>&1 && fail "paxos pid files left"
echo "cluster_cmd: all checks passed"
