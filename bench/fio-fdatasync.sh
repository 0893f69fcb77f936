#!/bin/sh
# fio-fdatasync.sh [DIR]: the disk's raw fdatasync rate, measured the way
# etcd's documentation does: sequential 2300-byte writes (about one small
# WAL entry with its framing), each followed by fdatasync, 22 MiB in all.
# That is one entry per fsync: the rate a WAL without group commit gets.
#
# DIR must be on the disk being measured (default: the repository itself,
# i.e. the disk holding the project; a temporary directory is made inside
# DIR and removed afterwards). Needs fio
# (Debian package fio; .ci/bootstrap installs it).
set -eu

dir=${1:-$(cd "$(dirname "$0")/.." && pwd)}
if ! command -v fio >/dev/null; then
	echo "fio-fdatasync.sh: fio is not installed (apt-get install fio," \
	     "or run .ci/bootstrap)" >&2
	exit 1
fi
work=$(mktemp -d "$dir/senate-fio.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM

echo "fio-fdatasync: $(fio --version), directory $work"
df -hT "$work" | sed 's/^/  /'
out=$(fio --rw=write --ioengine=sync --fdatasync=1 --bs=2300 --size=22m \
	--name=raw --directory="$work" --output-format=json)

# Writes per second = fdatasyncs per second (one per write); and the sync
# latency percentiles fio measured.
echo "$out" | python3 -c '
import json, sys
j = json.load(sys.stdin)["jobs"][0]
w, s = j["write"], j["sync"]
lat = s.get("lat_ns", {})
pct = lat.get("percentile", {})
def us(k):
    v = pct.get(k)
    return "%.0f" % (v / 1000) if v else "?"
print("raw: %.0f writes/s = fdatasyncs/s (%d writes of 2300 B in %.2f s)"
      % (w["iops"], w["total_ios"], w["runtime"] / 1000))
print("fdatasync latency: mean %.0f us, p50 %s us, p99 %s us"
      % (lat.get("mean", 0) / 1000, us("50.000000"), us("99.000000")))
'
