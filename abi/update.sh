#!/usr/bin/env bash
# abi/update.sh LIB BASELINE HEADERS_DIR
#
# Regenerate the committed ABI baseline from a built library. Called by
# `make abi-update`; run it only for an intended ABI change, and commit the
# new baseline together with that change.
set -euo pipefail

lib=${1:?usage: update.sh LIB BASELINE HEADERS_DIR}
baseline=${2:?usage: update.sh LIB BASELINE HEADERS_DIR}
headers=${3:?usage: update.sh LIB BASELINE HEADERS_DIR}

if ! readelf -S "$lib" | grep -q '\.debug_info'; then
	echo "abi-update: $lib has no debug info; build with" \
	     "CMAKE_BUILD_TYPE=RelWithDebInfo (the default)" >&2
	exit 1
fi

# Output that does not depend on this checkout: no corpus or compilation
# directory paths, source paths made relative to the repository (libabigail
# needs the locations: with --headers-dir2 they tell public types from
# private ones), hashed type ids (stable when unrelated types come and go).
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
abidw --no-corpus-path --no-comp-dir-path --type-id-style hash \
	--headers-dir "$headers" "$lib" |
	sed "s|path='$root/|path='|g" >"$tmp"
if [[ -f $baseline ]] && cmp -s "$tmp" "$baseline"; then
	echo "abi-update: $baseline is already up to date"
	exit 0
fi
cat "$tmp" >"$baseline"
echo "abi-update: wrote $baseline; review 'git diff $baseline' and commit it"
