#!/bin/sh
# expect_usage_error.sh SIM: bad flags, an unknown engine or an unknown
# mutant must exit 2 and name the valid choices.
sim=$1
fail=0

expect2() {
	want=$1
	shift
	err=$("$sim" "$@" 2>&1 >/dev/null)
	status=$?
	if [ "$status" -ne 2 ]; then
		echo "FAIL: senate-sim $* exited $status, expected 2" >&2
		fail=1
	elif ! printf '%s\n' "$err" | grep -q -- "$want"; then
		echo "FAIL: senate-sim $* did not mention '$want':" >&2
		printf '%s\n' "$err" >&2
		fail=1
	fi
}

expect2 "commit-old-term" --engine raft --seeds 1-1 --mutant no-such-mutant
expect2 "ack-before-sync" --engine raft --seeds 1-1 --mutant no-such-mutant
expect2 "snapshot window" --engine raft --seeds 1-1 --snap-window x
expect2 "raft" --engine no-such-engine --seeds 1-1
expect2 "paxos" --engine no-such-engine --seeds 1-1
expect2 "skip-recovery" --engine paxos --seeds 1-1 --mutant no-such-mutant
expect2 "seed" --engine raft --seeds 5-1
expect2 "seeds" --engine raft
expect2 "unknown option" --engine raft --seeds 1-1 --bogus 1
expect2 "node" --engine raft --seeds 1-1 --nodes 0
exit $fail
