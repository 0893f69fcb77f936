# tests/common/cluster.sh - shell helpers for the tests that
# start members on free ports (tests/rpc/cluster_cmd_test.sh, senatectl_test.sh,
# crash_all_test.sh, bench/put_smoke.sh).
# Source it; it defines:
#   fail MSG...   print FAIL: MSG and the last lines of every *.log in the
#                 directories of $log_dirs (default: $dir), exit 1
#   free_base     a base port whose client (base+1..3) and peer
#                 (base+101..103) ports are all free now; exit 1 after 200
#                 tries

fail() {
	echo "FAIL: $*" >&2
	local d f
	for d in ${log_dirs:-"$dir"}; do
		for f in "$d"/*.log; do
			[ -f "$f" ] && { echo "--- $f" >&2; tail -5 "$f" >&2; }
		done
	done
	exit 1
}

free_base() {
	local try b p ok
	for try in $(seq 200); do
		# below the ephemeral range (32768-): no outgoing connection
		# can take these ports before the members bind them
		b=$((15000 + RANDOM % 16800)) ok=1
		for p in $((b + 1)) $((b + 2)) $((b + 3)) \
			$((b + 101)) $((b + 102)) $((b + 103)); do
			if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
				ok=""
				break
			fi
		done
		[ -n "$ok" ] && { echo "$b"; return 0; }
	done
	echo "free_base: no free base port in 200 tries" >&2
	exit 1
}
