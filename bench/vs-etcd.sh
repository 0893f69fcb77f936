#!/usr/bin/env bash
# bench/vs-etcd.sh [--quick] [--keep] [--data DIR] [--rounds N]
#
# Senate against etcd on this machine, both measured by the same program:
# `senatectl bench put` (the same writer threads, the same gRPC C core, the
# same clock and percentiles; with --etcd it sends raw etcdserverpb.KV/Put
# calls). The workload: 100-byte values at random keys among 100000,
#   1 client  over 1 connection,   3000 requests,
#   64 clients over 8 connections, 60000 requests,
# against a 3-member Senate cluster (raft, and paxos unless --quick; all
# endpoints, the client finds the leader) and a 3-member etcd cluster
# (Debian's etcd 3.4.23, default fsync; requests go to its leader). The
# systems run alternately (senate raft, etcd, senate paxos, then again),
# each configuration --rounds times (3); the table shows the median of the
# runs, and every raw `result:` line is kept.
#
# It also records the disk's raw fdatasync rate (bench/fio-fdatasync.sh on
# the scratch directory), the machine, the versions, and etcd's own
# `etcdctl check perf --load=s` (about a minute; not with --quick).
# Explained, with results: docs/benchmarks.md ("Senate vs etcd").
#
#   --quick      raft only, no `check perf`
#   --keep       keep the scratch directory (data and logs of every member)
#   --data DIR   where the scratch directory goes [the repository's
#                bench-data/, i.e. the disk holding the project]
#   --rounds N   runs of each configuration per system [3]
#   --etcd-sched batch|other
#                etcd's members run SCHED_BATCH (under `chrt -b 0`), as
#                senated's do by default, or as shipped [other]
# Environment: BUILD=dir (default build; configured if need be, then
# senated and senatectl are built), JOBS=n (build jobs, 2), MAX_SECONDS
# (bound of each run, 180), REQUESTS_1 / REQUESTS_64 (3000 / 60000; smaller
# for a trial of the script, not for numbers).
#
# Output: the table (markdown) on stdout; everything (machine, fio, every
# run's full output, check perf, the table) in bench-results/
# vs-etcd-DATE.txt, whose path is printed at the end. Every process it
# starts is stopped on exit, also on Ctrl-C or a failure.
set -euo pipefail

usage() {
	sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
}

args="$*" quick=0 keep=0 rounds=3 data_root= etcd_sched=other
while (($#)); do
	case $1 in
	--quick) quick=1 ;;
	--keep) keep=1 ;;
	--data)
		[ $# -ge 2 ] || { echo "vs-etcd: --data needs a directory" >&2; exit 2; }
		data_root=$2
		shift
		;;
	--rounds)
		[[ ${2:-} =~ ^[1-9][0-9]*$ ]] ||
			{ echo "vs-etcd: --rounds needs a number >= 1" >&2; exit 2; }
		rounds=$2
		shift
		;;
	--etcd-sched)
		[[ ${2:-} =~ ^(batch|other)$ ]] ||
			{ echo "vs-etcd: --etcd-sched needs batch or other" >&2; exit 2; }
		etcd_sched=$2
		shift
		;;
	-h | --help) usage; exit 0 ;;
	*) echo "vs-etcd: unknown argument '$1' (see --help)" >&2; exit 2 ;;
	esac
	shift
done

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
build=${BUILD:-build}
[[ $build = /* ]] || build=$repo/$build
jobs=${JOBS:-2}
max_s=${MAX_SECONDS:-180}
req1=${REQUESTS_1:-3000}
req64=${REQUESTS_64:-60000}
conns64=8
engines=(raft)
((quick)) || engines+=(paxos)

# etcd and etcdctl read ETCD_* / ETCDCTL_* from the environment; a shell
# set up for some other etcd must not change this one.
while read -r v; do unset "$v"; done < <(compgen -e | grep -E '^ETCD(CTL)?_' || true)
export ETCDCTL_API=3
[ "$(uname -m)" = aarch64 ] && export ETCD_UNSUPPORTED_ARCH=arm64

# ---- packages and binaries ---------------------------------------------------
.ci/bootstrap bench
if [ ! -f "$build/CMakeCache.txt" ]; then
	cmake -S "$repo" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
fi
cmake --build "$build" -j "$jobs" --target senated senatectl
ctl=$build/bin/senatectl
src=$(sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$build/CMakeCache.txt")
for t in etcd etcdctl fio python3 timeout; do
	command -v "$t" >/dev/null || { echo "vs-etcd: $t not found" >&2; exit 1; }
done

# ---- scratch directory, results file, cleanup -------------------------------
root=${data_root:-$repo/bench-data}
mkdir -p "$root"
root=$(cd "$root" && pwd)
work=$(mktemp -d "$root/vs-etcd.XXXXXX")
mkdir -p "$repo/bench-results"
stamp=$(date +%Y%m%d-%H%M%S)
out=$repo/bench-results/vs-etcd-$stamp.txt
: >"$out"

bench_pid= senate_dirs=() etcd_pids=()
stop_etcd() {
	local p i
	for p in "${etcd_pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for i in $(seq 100); do
		local alive=0
		for p in "${etcd_pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
		((alive)) || break
		sleep 0.1
	done
	for p in "${etcd_pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
	for p in "${etcd_pids[@]}"; do wait "$p" 2>/dev/null || true; done
	etcd_pids=()
}
cleanup() {
	local rc=$? d f
	trap - EXIT INT TERM
	if [ -n "$bench_pid" ]; then
		kill "$bench_pid" 2>/dev/null || true
		wait "$bench_pid" 2>/dev/null || true
	fi
	for d in "${senate_dirs[@]}"; do
		[ -f "$d/cluster.conf" ] &&
			{ "$ctl" cluster down --data-dir "$d" --timeout 10 >/dev/null 2>&1 || true; }
		for f in "$d"/n*.pid; do
			[ -f "$f" ] && { kill -9 "$(cat "$f")" 2>/dev/null || true; }
		done
	done
	stop_etcd
	if ((keep)); then
		echo "vs-etcd: kept $work (data and logs of every member)" >&2
	else
		rm -rf "$work"
		rmdir "$root" 2>/dev/null || true
	fi
	((rc == 0)) || echo "vs-etcd: stopped (exit $rc); output so far: $out" >&2
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

log() { echo "$*" | tee -a "$out"; }
die() { log "vs-etcd: $*"; exit 1; }

# ---- the machine and the versions --------------------------------------------
fstype=$(df --output=fstype "$work" | tail -1 | tr -d ' ')
dev=$(df --output=source "$work" | tail -1 | tr -d ' ')
log "# Senate vs etcd: bench/vs-etcd.sh${args:+ $args} ($(date -u '+%Y-%m-%d %H:%M UTC'))"
log "machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)," \
	"$(uname -m), Linux $(uname -r), $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) RAM"
log "disk: scratch $work on $dev ($fstype); repository on $(df --output=source "$repo" | tail -1 | tr -d ' ')"
[ "$fstype" = tmpfs ] && log "WARNING: $work is on a tmpfs: fsync costs nothing there; use --data on a real disk"
log "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
log "senate: $(git -C "$src" describe --always --dirty 2>/dev/null || echo '?')" \
	"($(git -C "$src" log -1 --format='%h %cd' --date=short 2>/dev/null || echo '?')), binaries $build/bin"
etcd_version=$(etcd --version | sed -n 's/^etcd Version: //p')
log "etcd: $etcd_version ($(etcd --version | sed -n 's/^Go Version: //p')), $(command -v etcd);" \
	"etcdctl $(etcdctl version | sed -n 's/^etcdctl version: //p')"
if (exec 3<>/dev/tcp/127.0.0.1/2379) 2>/dev/null; then
	log "note: something listens on 127.0.0.1:2379 (a system etcd started by the package?); not used"
fi
log "workload: 100-byte values, keys at random among 100000; 1 client/1 conn/$req1 requests," \
	"64 clients/$conns64 conns/$req64 requests; $rounds rounds, systems alternating; --max-seconds $max_s"
log "scheduling: senated SCHED_BATCH (its default), etcd $([ "$etcd_sched" = batch ] && echo "SCHED_BATCH (chrt -b 0)" || echo "as shipped (SCHED_OTHER)")"
log ""

# ---- the disk's raw fdatasync rate (before anything else runs) --------------
log "## fio: the disk's raw fdatasync rate on the scratch directory"
bench/fio-fdatasync.sh "$work" 2>&1 | tee -a "$out"
log ""

# ---- free loopback ports --------------------------------------------------------
chosen=" "
pick_base() { # sets base: clients base+1..3 and peers base+101..103 free
	local b p ok
	while :; do
		b=$((20000 + RANDOM % 40000)) ok=1
		for p in $((b + 1)) $((b + 2)) $((b + 3)) \
			$((b + 101)) $((b + 102)) $((b + 103)); do
			if [[ $chosen = *" $p "* ]] ||
				(exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
				ok=0
				break
			fi
		done
		((ok)) && break
	done
	for p in 1 2 3 101 102 103; do chosen+="$((b + p)) "; done
	base=$b
}

# ---- Senate: senatectl cluster up -------------------------------------------
declare -A senate_eps
senate_up() { # ENGINE
	local eng=$1 d=$work/senate-$1 try rc o
	senate_dirs+=("$d")
	for try in 1 2 3 4 5; do
		pick_base
		rc=0
		o=$("$ctl" cluster up --nodes 3 --engine "$eng" --data-dir "$d" \
			--base-port "$base" 2>&1) || rc=$?
		((rc == 0)) && break
		grep -q "is in use" <<<"$o" || die "senate $eng: cluster up failed (exit $rc): $o"
		((try < 5)) || die "senate $eng: no free ports: $o"
	done
	senate_eps[$eng]=$(sed -n 's/^endpoints: //p' <<<"$o")
	log "senate $eng: $(grep '^cluster: ' <<<"$o" || true)"
	log "senate $eng: endpoints ${senate_eps[$eng]}"
}

# ---- etcd: three members on loopback, fsync on (the default) ----------------
etcd_eps=
etcd_cmd=(etcd)
[ "$etcd_sched" = batch ] && etcd_cmd=(chrt -b 0 etcd)
etcd_try() { # returns 0 once all three are healthy
	local b i cluster="" url
	pick_base
	b=$base
	rm -rf "$work/etcd"
	mkdir -p "$work/etcd"
	for i in 1 2 3; do
		cluster+="${cluster:+,}e$i=http://127.0.0.1:$((b + 100 + i))"
	done
	for i in 1 2 3; do
		url=http://127.0.0.1:$((b + i))
		"${etcd_cmd[@]}" --name "e$i" --data-dir "$work/etcd/e$i" \
			--listen-client-urls "$url" --advertise-client-urls "$url" \
			--listen-peer-urls "http://127.0.0.1:$((b + 100 + i))" \
			--initial-advertise-peer-urls "http://127.0.0.1:$((b + 100 + i))" \
			--initial-cluster "$cluster" --initial-cluster-state new \
			--initial-cluster-token "vs-etcd-$$-$b" \
			--logger zap --log-outputs stderr \
			>"$work/etcd/e$i.log" 2>&1 </dev/null &
		etcd_pids+=($!)
	done
	etcd_eps=127.0.0.1:$((b + 1)),127.0.0.1:$((b + 2)),127.0.0.1:$((b + 3))
	for i in $(seq 60); do
		local p dead=0
		for p in "${etcd_pids[@]}"; do kill -0 "$p" 2>/dev/null || dead=1; done
		((dead)) && return 1
		etcdctl --endpoints "$etcd_eps" --dial-timeout 1s --command-timeout 2s \
			endpoint health >/dev/null 2>&1 && return 0
		sleep 0.5
	done
	return 1
}
etcd_up() {
	local try
	for try in 1 2 3; do
		etcd_try && break
		local busy=0
		grep -qs "address already in use" "$work"/etcd/e*.log && busy=1
		if ((!busy || try == 3)); then
			tail -n 5 "$work"/etcd/e*.log | tee -a "$out"
			die "etcd: a member exited, or the cluster was not healthy within 30 s (logs above)"
		fi
		stop_etcd # a port was taken meanwhile: other ports
	done
	log "etcd: healthy: $(etcdctl --endpoints "$etcd_eps" endpoint health 2>&1 | tr '\n' ' ')"
	log "etcd: endpoints $etcd_eps, pids ${etcd_pids[*]}, logs $work/etcd/e*.log"
}
etcd_leader() { # the leader's client address, host:port
	etcdctl --endpoints "$etcd_eps" --command-timeout 5s endpoint status -w json |
		python3 -c '
import json, sys
for e in json.load(sys.stdin):
    s = e["Status"]
    if s["header"]["member_id"] == s["leader"]:
        print(e["Endpoint"].split("://")[-1])
        break'
}

log "## clusters"
for eng in "${engines[@]}"; do senate_up "$eng"; done
etcd_up
log "etcd: leader $(etcd_leader)"
log ""

# ---- the runs ------------------------------------------------------------------
results=$work/results.txt raw=$work/raw.txt
: >"$results"
: >"$raw"
nrun=0 total=$((2 * rounds * (${#engines[@]} + 1)))
run_bench() { # SYSTEM ENGINE CLIENTS CONNS REQUESTS
	local sys=$1 eng=$2 cl=$3 co=$4 rq=$5 eps extra=() rc=0 f=$work/run.out res
	nrun=$((nrun + 1))
	if [ "$sys" = etcd ]; then
		local leader
		leader=$(etcd_leader)
		[ -n "$leader" ] || die "etcd: no leader"
		eps=$leader,$(tr ',' '\n' <<<"$etcd_eps" | grep -vx "$leader" | paste -sd,)
		extra=(--etcd)
	else
		eps=${senate_eps[$eng]}
	fi
	timeout -k 10 $((max_s + 60)) "$ctl" --endpoints "$eps" bench put \
		--clients "$cl" --conns "$co" --requests "$rq" --value-size 100 \
		--keys 100000 --max-seconds "$max_s" "${extra[@]}" >"$f" 2>&1 &
	bench_pid=$!
	wait "$bench_pid" || rc=$?
	bench_pid=
	{
		echo "--- run $nrun/$total: $sys $eng, $cl clients, $co conns," \
			"$rq requests, endpoints $eps: exit $rc"
		cat "$f"
	} >>"$out"
	res=$(grep '^result: ' "$f" | tail -1 || true)
	echo "system=$sys engine=$eng exit=$rc ${res#result: }" >>"$results"
	printf '%-6s %-5s exit %d: %s\n' "$sys" "$eng" "$rc" "${res:-(no result line)}" >>"$raw"
	printf '[%2d/%d] %-6s %-5s %2d clients: ' "$nrun" "$total" "$sys" "$eng" "$cl"
	if [ -n "$res" ]; then
		sed 's/.* ok=\([^ ]*\) failed=\([^ ]*\) .* ops_s=\([^ ]*\) p50_ms=\([^ ]*\) .* p99_ms=\([^ ]*\) .*/\3 ops\/s, p50 \4 ms, p99 \5 ms (ok \1, failed \2)/' <<<"$res"
	else
		echo "no result (exit $rc): $(tail -n 2 "$f" | tr '\n' ' ')"
	fi
}

log "## runs (full output of each in $out)"
for config in "1 1 $req1" "64 $conns64 $req64"; do
	read -r cl co rq <<<"$config"
	for r in $(seq "$rounds"); do
		run_bench senate raft "$cl" "$co" "$rq"
		run_bench etcd raft "$cl" "$co" "$rq"
		for eng in "${engines[@]:1}"; do run_bench senate "$eng" "$cl" "$co" "$rq"; done
	done
done
log ""

# ---- etcd's own reference ------------------------------------------------------
if ((!quick)); then
	log "## etcdctl check perf --load=s (etcd's own disk/cluster check, about a minute)"
	rc=0
	etcdctl --endpoints "$etcd_eps" check perf --load=s >"$work/perf.out" 2>&1 || rc=$?
	# Drop the progress bar (redrawn with \r; the verdict follows its last
	# frame on the same line), keep everything else.
	tr '\r' '\n' <"$work/perf.out" |
		sed -E 's/^ *[0-9]+ \/ [0-9]+ +[^%]*%( [0-9]+m[0-9]+s)?//' |
		grep -v '^ *$' | tee -a "$out" || true
	log "(check perf exit $rc)"
	log ""
fi
log "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
log ""

# ---- the table -----------------------------------------------------------------
table=$(python3 - "$results" "$etcd_version" "$rounds" <<'EOF'
import statistics, sys
path, etcd_version, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
runs = []
for line in open(path):
    kv = dict(w.split("=", 1) for w in line.split() if "=" in w)
    runs.append(kv)

def complete(r):
    return ("ok" in r and r.get("exit") == "0" and r["ok"] == r["requests"]
            and r["failed"] == "0")

rows, order = {}, []
for r in runs:
    key = (r["system"], r["engine"], int(r.get("clients") or 0))
    if key not in rows:
        rows[key] = []
        order.append(key)
    rows[key].append(r)

def med(rs, f):
    v = [float(r[f]) for r in rs if complete(r)]
    return statistics.median(v) if v else None

def fmt(v, ms=False):
    if v is None:
        return "-"
    return ("%.2f" % v) if ms else "{:,.0f}".format(v)

print("| system | engine | clients | ops/s (median) | p50 ms | p99 ms | p999 ms |")
print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
order.sort(key=lambda k: (k[2], {"raft": 0, "paxos": 1}.get(k[1], 2), k[0] != "senate"))
notes = []
for k in order:
    rs = rows[k]
    n = sum(complete(r) for r in rs)
    name = "Senate" if k[0] == "senate" else "etcd " + etcd_version
    mark = "" if n == rounds else " (%d of %d runs)" % (n, rounds)
    if n < len(rs) or n < rounds:
        notes.append("%s %s %d clients: %d of %d runs complete" % (name, k[1], k[2], n, rounds))
    print("| %s | %s | %d | %s%s | %s | %s | %s |" % (
        name, k[1], k[2], fmt(med(rs, "ops_s")), mark, fmt(med(rs, "p50_ms"), True),
        fmt(med(rs, "p99_ms"), True), fmt(med(rs, "p999_ms"), True)))

def ratio(a, b):
    return "%.2fx" % (a / b) if a is not None and b else "-"

etcd1 = rows.get(("etcd", "raft", 1), [])
etcd64 = rows.get(("etcd", "raft", 64), [])
for eng in ("raft", "paxos"):
    s64, s1 = rows.get(("senate", eng, 64)), rows.get(("senate", eng, 1))
    if s64 is not None:
        print("| **Senate / etcd** | %s | 64 | **%s** (target >= 2x) | | | |" % (
            eng, ratio(med(s64, "ops_s"), med(etcd64, "ops_s"))))
    if s1 is not None:
        print("| **Senate / etcd** | %s | 1 | | **%s** (target <= 0.5x) | | |" % (
            eng, ratio(med(s1, "p50_ms"), med(etcd1, "p50_ms"))))
for n in notes:
    print()
    print("Note: " + n + "; medians are over the complete runs.")
EOF
)
log "## results: median of $rounds runs per row (each column its own median)"
log ""
log "$table"
log ""
log "## raw result lines, in the order run"
tee -a "$out" <"$raw"
log ""
echo "raw output: $out"
