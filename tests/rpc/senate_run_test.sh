#!/usr/bin/env bash
# What `make run` does (rpc/cmd/senate-run.sh), for a few seconds: three
# senated members start (`senatectl cluster up`), a leader is shown in the
# status view, the endpoints and an example are printed, the members stop
# cleanly (`senatectl cluster down`, exit 0, none left running); a second
# run restarts them on their data; an engine that contradicts the data
# directory's cluster.conf is refused (exit 2) and starts nothing.
#   senate_run_test.sh SOURCE_DIR BIN_DIR
set -euo pipefail
src=$1 bin=$2
dir=$(mktemp -d "${TMPDIR:-/tmp}/senate-run-test.XXXXXX")
cleanup() {
	"$bin/senatectl" cluster down --data-dir "$dir/data" >/dev/null 2>&1 || true
	rm -rf "$dir"
}
trap cleanup EXIT

run() { # run BASE [ENV...]: the script for 2 s
	local base=$1
	shift
	env SENATE_BASE_PORT="$base" SENATE_RUN_SECONDS=2 "$@" \
		"$src/rpc/cmd/senate-run.sh" "$bin" "$dir/data" 2>&1
}

stopped_all() { # no pid file left, no senated of the directory running
	if ls "$dir"/data/n*.pid >/dev/null 2>&1; then return 1; fi
	for f in /proc/[0-9]*/cmdline; do
		if tr '\0' '\n' 2>/dev/null <"$f" | grep -q "^$dir/data/n"; then
			return 1
		fi
	done
}

# The first run on a free base port (the data directory then records it).
ok=""
for _ in 1 2 3 4 5; do
	base=$((20000 + RANDOM % 30000))
	if out=$(run "$base"); then ok=1; break; fi
	grep -q "is in use" <<<"$out" || break
	rm -rf "$dir/data"
done
[ -n "$ok" ] || { echo "FAIL: first run: $out"; exit 1; }
grep -q '^endpoints: 127.0.0.1:' <<<"$out" || { echo "FAIL: no endpoints: $out"; exit 1; }
grep -q ' leader ' <<<"$(grep -v '^endpoint ' <<<"$out")" ||
	{ echo "FAIL: no leader in the status view: $out"; exit 1; }
grep -q '^stopped' <<<"$out" || { echo "FAIL: no clean stop: $out"; exit 1; }
stopped_all || { echo "FAIL: members left running after the first run"; exit 1; }

out=$(run "$base") || { echo "FAIL: second run on the same data: $out"; exit 1; }
grep -q 'recovered WAL' "$dir/data/n1.log" || { echo "FAIL: no recovery logged"; exit 1; }
grep -q '^stopped' <<<"$out" || { echo "FAIL: no clean stop (second run): $out"; exit 1; }
stopped_all || { echo "FAIL: members left running after the second run"; exit 1; }

rc=0
out=$(run "$base" SENATE_ENGINE=paxos) || rc=$?
[ "$rc" = 2 ] || { echo "FAIL: paxos on raft data: exit $rc: $out"; exit 1; }
grep -q 'contradicts' <<<"$out" || { echo "FAIL: paxos on raft data says: $out"; exit 1; }
stopped_all || { echo "FAIL: a refused run started members"; exit 1; }
echo "senate-run: all checks passed"
