#!/bin/sh
# mpirun.sh MPIRUN NP [--die D] PROGRAM [ARGS...]: runs clcp_alltoall under
# Open MPI's mpirun with NP ranks on this host (no hostfile: the udp
# bootstrap reads the node table from mpirun's PMIx server) and checks what
# each rank printed. Without --die: mpirun's exit status 0 and NP lines
# "rank R of NP: ok". With --die D: rank D kills itself after the first
# round; mpirun is told to let the others run on (--enable-recovery, which
# also makes its exit status 0 whatever happened, so the lines are what
# counts): NP - 1 lines "ok" and NP - 1 lines "lost rank D", within LIMIT
# seconds (CLCP_MPIRUN_LIMIT, 60). Exit status 0 only if all that holds.
set -u
[ $# -ge 3 ] || { echo "usage: $0 MPIRUN NP [--die D] PROGRAM [ARGS...]" >&2; exit 2; }
mpirun=$1
np=$2
shift 2
die=
if [ "$1" = --die ]; then
	die=$2
	shift 2
fi
limit=${CLCP_MPIRUN_LIMIT:-60}
flags="--oversubscribe --bind-to none"
[ "$(id -u)" -eq 0 ] && flags="$flags --allow-run-as-root"
[ -n "$die" ] && flags="$flags --enable-recovery --mca orte_abort_on_non_zero_status 0"
# Sanitizer settings go to the ranks too (an ASan build: lsan.supp).
for v in ASAN_OPTIONS LSAN_OPTIONS UBSAN_OPTIONS; do
	[ -n "$(printenv "$v")" ] && flags="$flags -x $v"
done
out=$(mktemp)
trap 'rm -f "$out"' EXIT
start=$(date +%s)
# shellcheck disable=SC2086 # flags are words
timeout -k 5 "$limit" "$mpirun" $flags -np "$np" "$@" ${die:+--die "$die"} >"$out" 2>&1
rc=$?
took=$(($(date +%s) - start))
cat "$out"
ok=$(grep -c "^clcp_alltoall: rank [0-9]* of $np: ok" "$out")
fail=0
if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
	echo "mpirun.sh: FAILED: not done within $limit s (a hang?)"
	exit 1
fi
if [ -z "$die" ]; then
	[ "$rc" -eq 0 ] || { echo "mpirun.sh: FAILED: mpirun exit status $rc"; fail=1; }
	[ "$ok" -eq "$np" ] || { echo "mpirun.sh: FAILED: $ok of $np ranks ok"; fail=1; }
else
	lost=$(grep -c "^clcp_alltoall: rank [0-9]*: lost rank $die as expected" "$out")
	[ "$ok" -eq $((np - 1)) ] || { echo "mpirun.sh: FAILED: $ok of $((np - 1)) survivors ok"; fail=1; }
	[ "$lost" -eq $((np - 1)) ] ||
		{ echo "mpirun.sh: FAILED: $lost of $((np - 1)) survivors saw rank $die fail"; fail=1; }
fi
[ "$fail" -eq 0 ] && echo "mpirun.sh: passed: $np ranks${die:+, rank $die died}, $took s"
exit "$fail"
