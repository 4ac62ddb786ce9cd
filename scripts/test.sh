#!/usr/bin/env bash
# Builds and tests CLCP the ways CI does: gcc (RelWithDebInfo), clang, gcc
# with ASan+UBSan, clang with TSan (threaded stress test only), and clang
# with libFuzzer+ASan+UBSan (the udp datagram fuzz target for
# CLCP_FUZZ_SECONDS, 60 by default), each followed by its ctest run; then
# short clcp_pingpong runs that must print sane numbers (loopback; udp with
# the raw UDP floor and the counters; scripts/bench_check.sh: every mode
# against the floors, a tiny Figure 12 rerun, the peers' comparison); the
# kernel driver's tests in a qemu
# guest (tests/vm/run.sh). Installs missing Debian packages first when run
# as root. Ends with one line "N passed, N failed" (ctest
# tests of all builds, plus one for each benchmark check; a build that
# fails counts as one failure). Tests ctest reports skipped (a tool
# missing, or the cluster tests in a sanitizer build: the reason is in the
# configure output and the test's own) count neither way: each config's
# summary line names them. Exit status 0 only if nothing failed.
#
# Environment: CLCP_BUILD_ROOT (build-ci), CLCP_JOBS (2) for ninja,
# CLCP_CTEST_JOBS (1), CLCP_CONFIGS ("gcc clang asan tsan fuzz"),
# CLCP_FUZZ_SECONDS (60), plus the usual CLCP_TEST_BACKENDS, passed through
# to the tests.
set -euo pipefail

cd "$(dirname "$0")/.."
root=$PWD
build_root=${CLCP_BUILD_ROOT:-build-ci}
jobs=${CLCP_JOBS:-2}
ctest_jobs=${CLCP_CTEST_JOBS:-1}
configs=${CLCP_CONFIGS:-gcc clang asan tsan fuzz}
fuzz_seconds=${CLCP_FUZZ_SECONDS:-60}

"$root/scripts/deps.sh"

# A private loopback namespace: other users of /dev/shm on this machine do
# not see our nodes and ports, and files left by a crash go with it.
shm_parent=/dev/shm
[ -d "$shm_parent" ] && [ -w "$shm_parent" ] || shm_parent=${TMPDIR:-/tmp}
CLCP_SHM_DIR=$(mktemp -d "$shm_parent/ci-clcp.XXXXXX")
export CLCP_SHM_DIR
trap 'rm -rf "$CLCP_SHM_DIR"' EXIT

total_pass=0
total_fail=0
summary=()

note() { printf '\n=== %s\n' "$*"; }

# run_config NAME CC CMAKE_ARGS... (ctest_filter: ctest -R; build_targets: only those)
run_config() {
	local name=$1 cc=$2 dir=$build_root/$1 log start p f s skipped line
	shift 2
	start=$SECONDS
	note "$name: configure and build ($cc $*)"
	if ! cmake -G Ninja -S . -B "$dir" -DCMAKE_C_COMPILER="$cc" "$@" ||
	   ! cmake --build "$dir" -j "$jobs" ${build_targets:+--target $build_targets}; then
		total_fail=$((total_fail + 1))
		summary+=("$name: build FAILED")
		return 0
	fi
	note "$name: ctest"
	log=$dir/ctest.log
	set +e
	(cd "$dir" && ctest --output-on-failure --no-tests=error -j "$ctest_jobs" \
		--timeout 600 ${ctest_filter:+-R "$ctest_filter"}) 2>&1 | tee "$log"
	set -e
	line=$(grep -E '^[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -n 1 || true)
	if [ -z "$line" ]; then
		total_fail=$((total_fail + 1))
		summary+=("$name: ctest did not run")
		return 0
	fi
	f=$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\1/' <<<"$line")
	# Skipped tests (ctest: "NAME (Skipped)") are neither passed nor failed.
	skipped=$(sed -nE 's/^[[:space:]]*[0-9]+ - ([^ ]+) \(Skipped\)$/\1/p' "$log" | sort -u | tr '\n' ' ')
	s=$(wc -w <<<"$skipped")
	p=$(( $(sed -E 's/.* out of ([0-9]+).*/\1/' <<<"$line") - f - s ))
	total_pass=$((total_pass + p))
	total_fail=$((total_fail + f))
	summary+=("$name: $p tests passed, $f tests failed${skipped:+, $s skipped: ${skipped% }} ($((SECONDS - start)) s)")
}

# bench_check BUILD_DIR: the benchmark tools run on small sizes and their
# figures are sane (scripts/bench_check.sh: clcp_pingpong in every mode
# with its floors, a tiny Figure 12 rerun with its plots, the peers'
# comparison, receives from CLCP_ANY). Never a timing assertion: bounds
# are 100x off the floor.
bench_check() {
	if [ ! -x "$1/tools/clcp_pingpong" ]; then
		summary+=("bench tools: not built, skipped")
		return 0
	fi
	note "bench tools: pingpong (every mode, floors), fig12.sh, bench_peers.sh, pingpong --any; small sizes"
	if scripts/bench_check.sh "$1"; then
		total_pass=$((total_pass + 1))
		summary+=("bench tools: run, figures sane")
	else
		total_fail=$((total_fail + 1))
		summary+=("bench tools: FAILED")
	fi
}

# bench_udp_check BUILD_DIR: a tiny udp run (both ends in one command) with
# the raw-UDP floor and --stats; the output must hold the ratio table (one
# positive ratio per size) and the counters of both ends. No timing check;
# dead_ms is long because a loaded machine can starve a peer for seconds.
bench_udp_check() {
	local exe=$1/tools/clcp_pingpong out=$1/pingpong-udp.out
	local port=$((20000 + $$ % 10000 * 2))
	[ -x "$exe" ] || return 0
	note "pingpong: udp, 8 B .. 64 KiB, poll, raw UDP floor, counters"
	if timeout 300 "$exe" --backend "udp://?local=$port&dead_ms=30000" --mode poll --min 8 --max 64K \
		--iters 100 --warmup 10 --point-ms 20 --floor udp --stats >"$out" 2>&1 &&
	   awk '
		/^== floor: raw UDP sockets/ { floor = 1 }
		/^== ours \/ floor/ { ratios = 1; next }
		ratios && $2 ~ /^(lat|bw)$/ {
			rows++
			if (!($3 ~ /^[0-9]+\.[0-9]+$/ && $3 + 0 > 0)) {
				print "pingpong udp: insane ratio: " $0; bad = 1 }
			next }
		ratios && $2 != "kind" { ratios = 0 }
		/^== counters: (client|server) ==/ { who = $3 }
		who != "" && /^device .*tx_data=/ { dev[who] = 1 }
		who != "" && /^endpoint .*rx_frames=/ { ep[who] = 1 }
		END { if (!floor) { print "pingpong udp: no raw UDP floor"; bad = 1 }
		      if (rows != 14) { print "pingpong udp: want 14 ratios, got " rows; bad = 1 }
		      if (!dev["client"] || !dev["server"] || !ep["client"] || !ep["server"]) {
			print "pingpong udp: counters of both ends missing"; bad = 1 }
		      exit bad }' "$out"; then
		total_pass=$((total_pass + 1))
		summary+=("pingpong udp: floor, ratios and counters present")
	else
		cat "$out"
		total_fail=$((total_fail + 1))
		summary+=("pingpong udp: FAILED")
	fi
}

for c in $configs; do
	case $c in
	gcc) run_config gcc gcc -DCMAKE_BUILD_TYPE=RelWithDebInfo ;;
	clang) run_config clang clang -DCMAKE_BUILD_TYPE=RelWithDebInfo ;;
	asan) run_config asan gcc -DCMAKE_BUILD_TYPE=Debug \
		-DCLCP_SANITIZE=address,undefined ;;
	# Criterion cannot start under TSan: the threaded stress test only.
	tsan) ctest_filter=stress_threads run_config tsan clang \
		-DCMAKE_BUILD_TYPE=Debug -DCLCP_SANITIZE=thread ;;
	# The fuzz target only: seeds, then fuzz_seconds of fuzzing; any crash fails.
	fuzz) build_targets="fuzz_udp_rx fuzz_udp_corpus" ctest_filter=fuzz_ \
		run_config fuzz clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
		-DCLCP_FUZZ=ON -DCLCP_SANITIZE=address,undefined -DCLCP_TOOLS=OFF \
		-DCLCP_FUZZ_SECONDS="$fuzz_seconds" ;;
	*) echo "test.sh: unknown config $c" >&2; exit 2 ;;
	esac
done
# vm_check: the kernel driver in a qemu guest against the simulated board
# (tests/vm/run.sh), with the programs of the first gcc or clang build.
vm_check() {
	local c dir=
	for c in $configs; do
		case $c in
		gcc | clang) [ -x "$build_root/$c/tests/kdrv_guest" ] && dir=$build_root/$c && break ;;
		esac
	done
	if [ -z "$dir" ]; then
		summary+=("vm: skipped (needs a gcc or clang build; configs: $configs)")
		return 0
	fi
	note "vm: kernel driver in qemu, simulated board ($dir)"
	if tests/vm/run.sh "$dir"; then
		total_pass=$((total_pass + 1))
		summary+=("vm: driver tests in the guest passed")
	else
		total_fail=$((total_fail + 1))
		summary+=("vm: FAILED")
	fi
}

first=${configs%% *}
if [ -d "$build_root/$first" ]; then
	bench_check "$build_root/$first"
	bench_udp_check "$build_root/$first"
fi
vm_check

note "summary"
printf '%s\n' "${summary[@]}"
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
