#!/bin/sh
# smoke.sh BENCH DIR: run senate-bench-wal briefly (tiny counts) and check
# that it succeeds and prints one row per case. Numbers are not checked.
set -eu
bench=$1 dir=$2
rm -rf "$dir"
set +e
out=$("$bench" --dir "$dir" --seconds 0.15 --max-entries 300)
rc=$?
set -e
echo "$out"
if [ "$rc" -ne 0 ]; then
	echo "FAIL: senate-bench-wal exited with status $rc" >&2
	exit 1
fi
rows=$(echo "$out" | grep -cE '^ *(100|4096) +(1|8|64) +[0-9]+ ')
if [ "$rows" -ne 6 ]; then
	echo "FAIL: expected 6 result rows, got $rows" >&2
	exit 1
fi
