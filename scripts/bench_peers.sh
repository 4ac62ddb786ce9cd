#!/usr/bin/env bash
# CLCP beside its peers on this host, in one run (docs/results.md): for
# ROUNDS rounds, clcp_pingpong (loopback, polling, with its shared-memory
# floor; udp over 127.0.0.1, polling), UCX's ucx_perftest (UCX_TLS=sm:
# tag_lat, tag_bw), libfabric's fi_pingpong (-p shm, and -p udp up to one
# datagram) and sockperf (UDP ping-pong, busy-polling), every pair of ends
# pinned to CPUs 0 and 1. Prints per size the medians over the rounds of
# each one's one-way latency (p50; fi_pingpong: its mean) and bandwidth, and
# of each round's ratio ours/peer (latency: below 1 is better; bandwidth:
# above 1 is better; against the floor, clcp_pingpong's own ratio: 5 of our
# points, each against the floor measured right after it, their median).
# Installs the peers when they are missing (as root).
#
# Environment: CLCP_BUILD_DIR (build-bench), CLCP_BENCH_ROUNDS (5: one round
# in the VM's slow placement moves a median of 3),
# CLCP_BENCH_PORT (7640: ports PORT..PORT+9), CLCP_BENCH_OUT
# ($CLCP_BUILD_DIR/bench-peers), CLCP_BENCH_QUICK=1 (two sizes, short runs:
# the CI's check that every tool still runs).
set -euo pipefail

cd "$(dirname "$0")/.."
. scripts/bench_lib.sh
build=${CLCP_BUILD_DIR:-build-bench}
rounds=${CLCP_BENCH_ROUNDS:-5}
port=${CLCP_BENCH_PORT:-7640}
out=${CLCP_BENCH_OUT:-$build/bench-peers}
exe=$build/tools/clcp_pingpong
if [ "${CLCP_BENCH_QUICK:-0}" = 1 ]; then
	lat_sizes="8 1024" bw_sizes="65536" iters=2000 secs=1 point_ms=20 floor_pairs=1
else
	lat_sizes="8 64 1024 4096 65536 1048576" bw_sizes="65536 1048576" iters=20000 secs=3
	point_ms=100 floor_pairs=5
fi

need_tools() {
	"$PWD/scripts/deps.sh" build
	need_pkg ucx_perftest ucx-utils
	need_pkg fi_pingpong libfabric-bin
	need_pkg sockperf sockperf
	bench_build "$build"
}

# rec METRIC SIZE VALUE: one figure of this round.
rec() {
	[ -n "$3" ] && echo "$1 $2 $3" >>"$out/round-$round.txt"
	return 0
}

# ours: clcp_pingpong on loopback (with the floor) and on udp, polling.
ours() {
	local s f=$out/clcp-$round
	for s in $(printf '%s\n' $lat_sizes $bw_sizes | sort -nu); do
		"$exe" --mode poll --min "$s" --max "$s" --floor shm --point-ms "$point_ms" \
			--repeat "$floor_pairs" --csv "$f-lb-$s.csv" >"$f-lb-$s.txt" 2>&1 ||
			{ cat "$f-lb-$s.txt" >&2; exit 1; }
		rec clcp_lb_lat "$s" "$(csv_field "$f-lb-$s.csv" poll "$s" 4 1e3)"
		rec clcp_lb_bw "$s" "$(csv_field "$f-lb-$s.csv" poll "$s" 7 1)"
		rec floor_lat "$s" "$(csv_field "$f-lb-$s.csv" memcpy_pingpong "$s" 4 1e3)"
		# the tool's ratio: each of ours against the floor taken right after it
		[ "$s" -ge 65536 ] || rec floor_x "$s" "$(csv_field "$f-lb-$s.csv" poll "$s" 9 1)"
		[ "$s" -le 65536 ] || continue
		"$exe" --backend "udp://?local=$port&dead_ms=30000" --mode poll --min "$s" --max "$s" \
			--no-floor --point-ms "$point_ms" --csv "$f-udp-$s.csv" >"$f-udp-$s.txt" 2>&1 ||
			{ cat "$f-udp-$s.txt" >&2; exit 1; }
		rec clcp_udp_lat "$s" "$(csv_field "$f-udp-$s.csv" poll "$s" 4 1e3)"
	done
}

# server CMD...: a peer's server on CPU 1, in the background ($spid).
server() {
	taskset -c 1 "$@" >"$out/server.txt" 2>&1 &
	spid=$!
	sleep 0.5
}

server_stop() {
	kill "$spid" 2>/dev/null || true
	wait "$spid" 2>/dev/null || true
}

# ucx TEST SIZE: ucx_perftest over shared memory; prints its "Final:" line.
ucx() {
	local p=$((port + 1)) n=$iters
	[ "$2" -ge 65536 ] && n=$((iters / 10))
	server env UCX_TLS=sm ucx_perftest -p "$p"
	UCX_TLS=sm taskset -c 0 timeout 60 ucx_perftest 127.0.0.1 -p "$p" -t "$1" -s "$2" -n "$n" \
		2>&1 | tee -a "$out/ucx-$round.txt" | awk '/^Final:/ { print; exit }' || true
	server_stop
}

peers_ucx() {
	local s
	for s in $lat_sizes; do
		rec ucx_lat "$s" "$(ucx tag_lat "$s" | awk '{ print $3 }')"
	done
	for s in $bw_sizes; do
		rec ucx_bw "$s" "$(ucx tag_bw "$s" | awk '{ print $7 }')"
	done
}

# fi_run PROVIDER EP_TYPE SIZE: fi_pingpong; prints "usec/xfer MB/sec".
fi_run() {
	local p=$((port + 2)) n=$iters
	[ "$3" -ge 65536 ] && n=$((iters / 10))
	server fi_pingpong -p "$1" -e "$2" -B "$p" -I "$n" -S "$3"
	taskset -c 0 timeout 60 fi_pingpong -p "$1" -e "$2" -P "$p" -I "$n" -S "$3" 127.0.0.1 \
		2>&1 | tee -a "$out/fi-$round.txt" | awk '$1 ~ /^[0-9]/ { print $7, $6; exit }' || true
	server_stop
}

peers_fi() {
	local s r
	for s in $(printf '%s\n' $lat_sizes $bw_sizes | sort -nu); do
		r=$(fi_run shm rdm "$s")
		rec fi_shm_lat "$s" "${r% *}"
		rec fi_shm_bw "$s" "${r#* }"
		[ "$s" -le 1024 ] || continue
		r=$(fi_run udp dgram "$s")
		rec fi_udp_lat "$s" "${r% *}"
	done
}

# sockperf: UDP ping-pong, busy-polling both ends; p50 one-way.
peers_sockperf() {
	local p=$((port + 3)) s m
	server sockperf sr -i 127.0.0.1 -p "$p" --nonblocked
	for s in $lat_sizes; do
		[ "$s" -le 65000 ] || continue
		m=$((s < 14 ? 14 : s))
		rec sockperf_lat "$s" "$(taskset -c 0 timeout 60 sockperf pp -i 127.0.0.1 -p "$p" -m "$m" \
			-t "$secs" --nonblocked --timeout 0 2>&1 | tee -a "$out/sockperf-$round.txt" |
			sed -n 's/.*percentile 50.000 = *\([0-9.]*\).*/\1/p')"
	done
	server_stop
}

# row LABEL OURS PEER SIZE [X]: "ours peer ratio" medians for one size; the
# ratio is the median of each round's OURS / PEER, or of metric X when given.
row() {
	local x
	x=$([ -n "${5:-}" ] && median_of "$5" "$4" || median_ratio "$2" "$3" "$4")
	printf "%9s  %-28s %10s %10s %7s\n" "$4" "$1" "$(median_of "$2" "$4")" "$(median_of "$3" "$4")" \
		"$x"
}

report() {
	local s
	echo
	echo "== CLCP and its peers, medians of $rounds rounds (CPUs 0,1) =="
	echo "load (1, 5, 15 min, running/total): before $load_before, after $load_after; $(nproc) CPUs"
	printf "%9s  %-28s %10s %10s %7s\n" size "one-way latency (us)" ours peer "x"
	for s in $lat_sizes; do
		if [ "$s" -lt 65536 ]; then
			row "loopback / raw floor" clcp_lb_lat floor_lat "$s" floor_x
		else
			row "loopback / raw floor" clcp_lb_lat floor_lat "$s"
		fi
		row "loopback / UCX sm" clcp_lb_lat ucx_lat "$s"
		row "loopback / libfabric shm" clcp_lb_lat fi_shm_lat "$s"
		[ "$s" -le 65536 ] && row "udp / sockperf busy-poll" clcp_udp_lat sockperf_lat "$s"
		[ "$s" -le 1024 ] && row "udp / libfabric udp" clcp_udp_lat fi_udp_lat "$s"
	done
	printf "%9s  %-28s %10s %10s %7s\n" size "bandwidth (MB/s)" ours peer "x"
	for s in $bw_sizes; do
		row "loopback / UCX sm" clcp_lb_bw ucx_bw "$s"
		row "loopback / libfabric shm" clcp_lb_bw fi_shm_bw "$s"
	done
	echo "(latency: p50 of half a round trip, fi_pingpong its mean; bandwidth: streamed"
	echo " messages, 1e6 bytes/s; x: median of the rounds' ratios ours/peer; raw outputs: $out)"
}

need_tools
mkdir -p "$out"
rm -f "$out"/*
load_before=$(cut -d' ' -f1-4 /proc/loadavg)
for round in $(seq "$rounds"); do
	echo "bench_peers: round $round of $rounds ..." >&2
	ours
	peers_ucx
	peers_fi
	peers_sockperf
done
load_after=$(cut -d' ' -f1-4 /proc/loadavg)
cat "$out"/round-*.txt >"$out/all.txt"
report | tee "$out/report.txt"
