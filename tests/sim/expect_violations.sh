#!/bin/sh
# expect_violations.sh SIM ARGS...: run the simulator and pass only if it
# found what it was sent to find: exit status exactly 1 and a final line
# "seeds: S, violations: V" with V > 0. Used to prove each mutant is caught.
out=$("$@")
status=$?
last=$(printf '%s\n' "$out" | tail -n 1)
lines=$(printf '%s\n' "$out" | wc -l)
printf '%s\n' "$out" | head -n 5
if [ "$lines" -gt 6 ]; then
	echo "..."
fi
if [ "$lines" -gt 5 ]; then
	printf '%s\n' "$last"
fi
if [ "$status" -ne 1 ]; then
	echo "expected exit status 1, got $status" >&2
	exit 1
fi
case "$last" in
"seeds: "*", violations: "*)
	v=${last##*violations: }
	if [ "$v" -gt 0 ] 2>/dev/null; then
		exit 0
	fi
	;;
esac
echo "expected a final line 'seeds: S, violations: V' with V > 0" >&2
exit 1
