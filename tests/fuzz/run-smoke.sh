#!/bin/sh
# run-smoke.sh TARGET SEEDS WORKDIR RUNS: a short, fixed-length libFuzzer run
# of TARGET from the committed seed corpus SEEDS (read only: new inputs go
# to WORKDIR/corpus, crashes to WORKDIR/artifacts). Used by the ctest tests
# fuzz_*_smoke; see docs/fuzzing.md for the longer run.
#
# run-smoke.sh --no-clang NAME: what the test runs when CMake found no
# clang. It fails on purpose: a missing fuzzer must be noticed, not skipped.
set -eu

if [ "$1" = "--no-clang" ]; then
	echo "FAIL: fuzz target '$2' was not built: no clang with libFuzzer" \
	     "was found when CMake configured this build." >&2
	echo "      Install it with .ci/bootstrap (Debian package 'clang')," \
	     "then reconfigure (cmake -S . -B build)." >&2
	exit 1
fi

target=$1 seeds=$2 work=$3 runs=$4
if [ ! -x "$target" ]; then
	echo "FAIL: $target is missing: build it first (ninja)" >&2
	exit 1
fi
rm -rf "$work"
mkdir -p "$work/corpus" "$work/artifacts"
# -seed fixes the mutation sequence, so a failure here replays;
# -max_total_time only bounds a pathological machine.
exec "$target" -runs="$runs" -seed=1 -max_total_time=60 -timeout=10 \
	-rss_limit_mb=2048 -print_final_stats=1 \
	-artifact_prefix="$work/artifacts/" "$work/corpus" "$seeds"
