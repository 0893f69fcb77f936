#!/usr/bin/env bash
# abi/check-exports.sh LIB SONAME
#
# The shared library may export only the public ABI: every defined dynamic
# symbol starts with `sn_`, none with the internal prefix `sn__`, and the
# SONAME is the expected one (libsenate.so.MAJOR). Run by the CTest test
# `abi_exports`.
set -euo pipefail

lib=${1:?usage: check-exports.sh LIB SONAME}
want_soname=${2:?usage: check-exports.sh LIB SONAME}
nm=${NM:-nm}
readelf=${READELF:-readelf}
status=0

# Defined dynamic symbols, one "TYPE NAME" per line, version suffix dropped.
# Type A with a name like SENATE_0 is the version node of senate.map.
symbols=$("$nm" -D --defined-only "$lib" | awk '{ sub(/@.*/, "", $3); print $2, $3 }')
exported=$(awk '$1 != "A" { print $2 }' <<<"$symbols" | sort -u)

bad=$(grep -v '^sn_' <<<"$exported" || true)
internal=$(grep '^sn__' <<<"$exported" || true)
if [[ -n $bad ]]; then
	echo "abi_exports: symbols outside the sn_ prefix are exported:" >&2
	sed 's/^/  /' <<<"$bad" >&2
	status=1
fi
if [[ -n $internal ]]; then
	echo "abi_exports: internal sn__ symbols are exported (make them" \
	     "static, or keep them without SN_API):" >&2
	sed 's/^/  /' <<<"$internal" >&2
	status=1
fi
if [[ -z $exported ]]; then
	echo "abi_exports: $lib exports no symbols at all" >&2
	status=1
fi

soname=$("$readelf" -d "$lib" | sed -n 's/.*(SONAME).*\[\(.*\)\].*/\1/p')
if [[ $soname != "$want_soname" ]]; then
	echo "abi_exports: SONAME is '${soname}', expected '${want_soname}'" >&2
	status=1
fi

if ((status == 0)); then
	echo "abi_exports: $(wc -l <<<"$exported") symbols, all sn_*; SONAME $soname"
fi
exit $status
