#!/usr/bin/env bash
# What `make run` does (rpc/cmd/senate-run.sh), for a few seconds: three
# senated members start, a leader is shown in the status view, the
# endpoints and an example are printed, the members stop cleanly (exit 0);
# a second run restarts them on their data.
#   senate_run_test.sh SOURCE_DIR BIN_DIR
set -euo pipefail
src=$1 bin=$2
dir=$(mktemp -d "${TMPDIR:-/tmp}/senate-run-test.XXXXXX")
trap 'rm -rf "$dir"' EXIT

run() { # a free base port, then the script for 2 s
	for _ in 1 2 3 4 5; do
		base=$((20000 + RANDOM % 30000))
		out=$(SENATE_BASE_PORT=$base SENATE_RUN_SECONDS=2 \
			"$src/rpc/cmd/senate-run.sh" "$bin" "$dir/data" 2>&1) && {
			echo "$out"
			return 0
		}
		grep -q "is in use" <<<"$out" || { echo "$out"; return 1; }
	done
	return 1
}

out=$(run) || { echo "FAIL: first run: $out"; exit 1; }
grep -q '^endpoints: 127.0.0.1:' <<<"$out" || { echo "FAIL: no endpoints: $out"; exit 1; }
grep -q ' leader ' <<<"$(grep -v '^endpoint ' <<<"$out")" ||
	{ echo "FAIL: no leader in the status view: $out"; exit 1; }
grep -q '^stopped' <<<"$out" || { echo "FAIL: no clean stop: $out"; exit 1; }
out=$(run) || { echo "FAIL: second run on the same data: $out"; exit 1; }
grep -q 'recovered WAL' "$dir/data/n1.log" || { echo "FAIL: no recovery logged"; exit 1; }
echo "senate-run: all checks passed"
