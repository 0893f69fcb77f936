#!/usr/bin/env bash
# tests/headertest/clang-check.sh INCLUDE_DIR [INCLUDE_DIR...]
#
# The header test again with a second compiler: every public header under
# each INCLUDE_DIR/senate, alone and included twice, must pass clang as strict C99
# and as C++17 with warnings as errors. Run by the CTest test
# `headertest_clang`.
set -euo pipefail

: "${1:?usage: clang-check.sh INCLUDE_DIR [INCLUDE_DIR...]}"
incs=()
for d in "$@"; do incs+=("-I$d"); done
cc=${CLANG:-clang}
cxx=${CLANGXX:-clang++}
status=0 n=0

while IFS= read -r h; do
	src="#include <$h>
#include <$h>
int headertest_clang(void);
int headertest_clang(void) { return 0; }"
	if ! "$cc" -std=c99 -pedantic -Wall -Wextra -Werror -fsyntax-only \
		"${incs[@]}" -x c - <<<"$src"; then
		echo "headertest_clang: <$h> fails as C99" >&2
		status=1
	fi
	if ! "$cxx" -std=c++17 -pedantic -Wall -Wextra -Werror -fsyntax-only \
		"${incs[@]}" -x c++ - <<<"$src"; then
		echo "headertest_clang: <$h> fails as C++17" >&2
		status=1
	fi
	n=$((n + 1))
done < <(for d in "$@"; do (cd "$d" && find senate -name '*.h'); done | sort)

if ((n == 0)); then
	echo "headertest_clang: no headers under $*" >&2
	exit 1
fi
((status == 0)) && echo "headertest_clang: $n public headers pass clang" \
	"as C99 and C++17"
exit $status
