#!/usr/bin/env bash
# abi/check-baseline.sh LIB BASELINE HEADERS_DIR
#
# Compare the ABI of the freshly built LIB with the committed BASELINE
# (abi/libsenate.abi) and fail on any difference, additions included: every
# change of the public ABI must show up in review as a change of the
# baseline. Run by the CTest test `abi_baseline`; regenerate the baseline
# deliberately with `make abi-update`.
#
# Exit 0: identical. 1: the ABI changed (or abidiff failed). 77: cannot
# compare (the library has no debug info), reported by CTest as skipped.
set -euo pipefail

lib=${1:?usage: check-baseline.sh LIB BASELINE HEADERS_DIR}
baseline=${2:?usage: check-baseline.sh LIB BASELINE HEADERS_DIR}
headers=${3:?usage: check-baseline.sh LIB BASELINE HEADERS_DIR}

if ! command -v abidiff >/dev/null; then
	echo "abi_baseline: abidiff not found (Debian: abigail-tools;" \
	     "run .ci/bootstrap)" >&2
	exit 1
fi
if [[ ! -f $baseline ]]; then
	echo "abi_baseline: no baseline at $baseline; create it with" \
	     "'make abi-update' and commit it" >&2
	exit 1
fi
if ! readelf -S "$lib" | grep -q '\.debug_info'; then
	echo "abi_baseline: $lib has no debug info; build with" \
	     "CMAKE_BUILD_TYPE=RelWithDebInfo (the default) or Debug" >&2
	exit 77
fi

# abidiff's exit status is a bit mask: 1 error, 2 usage, 4 ABI change,
# 8 incompatible change. Anything but 0 fails this test.
set +e
report=$(abidiff --no-corpus-path --no-architecture \
	--headers-dir2 "$headers" "$baseline" "$lib" 2>&1)
rc=$?
set -e

if ((rc == 0)); then
	echo "abi_baseline: $(basename "$lib") matches $(basename "$baseline")"
	exit 0
fi
echo "$report"
if ((rc & 3)); then
	echo "abi_baseline: abidiff failed (status $rc)" >&2
else
	echo "abi_baseline: the public ABI differs from the committed baseline" \
	     "(abidiff status $rc)." >&2
	echo "If the change is intended, run 'make abi-update' and commit" \
	     "$(basename "$baseline") with it." >&2
fi
exit 1
