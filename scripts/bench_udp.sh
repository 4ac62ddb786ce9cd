#!/usr/bin/env bash
# The udp backend against raw UDP on this host: clcp_pingpong over
# 127.0.0.1 (both ends in one command, CPUs 0 and 1, polling, 8 B .. 1 MiB)
# with its raw-UDP floor measured in the same run, with the default mtu
# (1436: 1500-byte Ethernet), ?mtu=8936 (9000-byte jumbo frames),
# ?mtu=65000 (one host only: the loopback's MTU) and the same with crc=1
# (the CRC32C pass a table with a node off this host has; on loopback it is
# off by default, as the raw stream has none), one run per size (8 B, 1 KiB,
# 64 KiB, 1 MiB), for several rounds (the machine's noise drifts over
# seconds: each ratio compares figures taken a moment apart); then sockperf (busy-polling ping-pong,
# throughput) and qperf (udp_lat, udp_bw) as cross-checks. Prints per size the medians over the rounds
# of ours, raw and of each round's ratio ours/raw, and the targets of the
# udp work: 8 B round trip <= 1.15x raw, 1 MiB bandwidth >= 0.8x the raw
# stream of the same datagram size. Installs what is missing when run as
# root.
#
# Environment: CLCP_BUILD_DIR (build-bench; built when it has no
# clcp_pingpong), CLCP_BENCH_PORT (7600: UDP ports PORT..PORT+2, TCP PORT+3 for qperf),
# CLCP_BENCH_ROUNDS (5), CLCP_BENCH_OUT (where the raw outputs go:
# $CLCP_BUILD_DIR/bench-udp).
set -euo pipefail

cd "$(dirname "$0")/.."
. scripts/bench_lib.sh
build=${CLCP_BUILD_DIR:-build-bench}
port=${CLCP_BENCH_PORT:-7600}
rounds=${CLCP_BENCH_ROUNDS:-5}
out=${CLCP_BENCH_OUT:-$build/bench-udp}
exe=$build/tools/clcp_pingpong

need_tools() {
	"$PWD/scripts/deps.sh" build
	need_pkg sockperf sockperf
	need_pkg qperf qperf
	bench_build "$build"
}

# ours LABEL SIZE ROUND URI_OPTIONS: one clcp_pingpong run of one size with
# the raw floor right after it (a long dead_ms: on a loaded machine a
# starved peer is not a dead one).
ours() {
	local f=$out/ours-$1-$2-$3
	echo "clcp_pingpong, mtu $1, $2 B, round $3 ..." >&2
	"$exe" --backend "udp://?local=$port&dead_ms=30000$4" --mode poll --min "$2" --max "$2" \
		--floor udp --stats --csv "$f.csv" >"$f.txt" 2>&1 || { cat "$f.txt" >&2; exit 1; }
}

# sockperf_run: a busy-polling server on CPU 1, clients on CPU 0.
sockperf_run() {
	local sp=$((port + 2)) pid
	echo "sockperf ..." >&2
	taskset -c 1 sockperf sr -i 127.0.0.1 -p "$sp" --nonblocked >"$out/sockperf-server.txt" 2>&1 &
	pid=$!
	sleep 1
	taskset -c 0 sockperf pp -i 127.0.0.1 -p "$sp" -m 14 -t 5 --nonblocked --timeout 0 \
		>"$out/sockperf-pp.txt" 2>&1 || true
	for m in 1472 8968 65032; do
		taskset -c 0 sockperf tp -i 127.0.0.1 -p "$sp" -m "$m" -t 5 \
			>"$out/sockperf-tp-$m.txt" 2>&1 || true
	done
	kill "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

# qperf_run: its server on CPU 1, the client on CPU 0: udp_lat (blocking
# receive: a wake-up per message), udp_bw at each backend datagram size.
qperf_run() {
	local qp=$((port + 3)) pid
	echo "qperf ..." >&2
	taskset -c 1 qperf --listen_port "$qp" >"$out/qperf-server.txt" 2>&1 &
	pid=$!
	sleep 1
	taskset -c 0 qperf 127.0.0.1 --listen_port "$qp" -t 3 -m 8 udp_lat -m 1472 udp_bw \
		-m 8968 udp_bw -m 65032 udp_bw >"$out/qperf.txt" 2>&1 || true
	kill "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

# medians LABEL: per size and round, ours and raw (latency p50 in us, MB/s);
# prints "size lat_ours lat_raw lat_x bw_ours bw_raw bw_x", medians over rounds.
medians() {
	awk -F, "$AWK_MED"'
		$1 == "poll" { r = ++n[$3]; p50[r, $3] = $4; bw[r, $3] = $7 }
		$2 == "udp_pingpong" { rp50[n[$3], $3] = $4 }
		$2 == "udp_stream" { rbw[n[$3], $3] = $7 }
		END {
			split("8 1024 65536 1048576", s, " ")
			for (i = 1; i <= 4; i++) {
				z = s[i]
				r = n[z]
				for (k = 1; k <= r; k++) {
					a[k] = p50[k, z] / 1e3; b[k] = rp50[k, z] / 1e3
					c[k] = p50[k, z] / rp50[k, z]; d[k] = bw[k, z]
					e[k] = rbw[k, z]; f[k] = bw[k, z] / rbw[k, z]
				}
				print z, med(a, r), med(b, r), med(c, r), med(d, r), med(e, r), med(f, r)
			}
		}' "$out"/ours-"$1"-*.csv
}

# table LABEL: the medians, one line per size.
table() {
	medians "$1" | awk -v mtu="$1" '
		BEGIN { name[8] = "8 B"; name[1024] = "1 KiB"; name[65536] = "64 KiB"; name[1048576] = "1 MiB" }
		{ printf "%6s %8s %10.2f %10.2f %7.2f | %10.1f %10.1f %7.2f\n", mtu, name[$1],
		         $2, $3, $4, $5, $6, $7 }'
}

# verdict LABEL: the two targets for one mtu, on the median ratios.
verdict() {
	medians "$1" | awk -v mtu="$1" '
		$1 == 8 { l = $4 }
		$1 == 1048576 { b = $7 }
		END {
			printf "mtu %s: 8 B round trip %.2fx raw (target <= 1.15: %s); ", mtu, l,
			       (l <= 1.15 ? "met" : "MISSED")
			printf "1 MiB bandwidth %.2fx raw stream (target >= 0.8: %s)\n", b,
			       (b >= 0.8 ? "met" : "MISSED")
		}'
}

sockperf_summary() {
	local p50 tp m line="          throughput (sender's rate)"
	p50=$(sed -n 's/.*percentile 50.000 = *\([0-9.]*\).*/\1/p' "$out/sockperf-pp.txt")
	echo "sockperf: ping-pong 14 B (its minimum), busy-poll: p50 ${p50:-?} us one-way;"
	for m in 1472 8968 65032; do
		tp=$(sed -n 's/.*BandWidth is \([0-9.]*\) MBps.*/\1/p' "$out/sockperf-tp-$m.txt")
		line="$line $m B: ${tp:-?} MB/s"
	done
	echo "$line"
	echo "qperf: udp_lat 8 B (blocking receive) $(sed -n 's/.*latency *= *//p' "$out/qperf.txt" |
		head -1) one-way; udp_bw received at 1472, 8968, 65032 B:" \
		"$(sed -n 's/.*recv_bw *= *//p' "$out/qperf.txt" | paste -sd, - | sed 's/,/, /g')"
}

need_tools
mkdir -p "$out"
load_before=$(cut -d' ' -f1-4 /proc/loadavg)
rm -f "$out"/ours-*
for r in $(seq "$rounds"); do
	for size in 8 1024 65536 1048576; do
		ours 1436 "$size" "$r" ""
		ours 8936 "$size" "$r" "&mtu=8936"
		ours 65000 "$size" "$r" "&mtu=65000"
		ours 65k-crc "$size" "$r" "&mtu=65000&crc=1"
	done
done
sockperf_run
qperf_run
load_after=$(cut -d' ' -f1-4 /proc/loadavg)

echo
echo "== udp backend vs raw UDP, 127.0.0.1, poll, CPUs 0,1; medians of $rounds rounds =="
echo "load (1, 5, 15 min, running/total): before $load_before, after $load_after; $(nproc) CPUs"
printf "%6s %8s %10s %10s %7s | %10s %10s %7s\n" mtu size "ours us" "raw us" "lat x" \
	"ours MB/s" "raw MB/s" "bw x"
table 1436
table 8936
table 65000
table 65k-crc
echo "(us: p50 one-way = round trip / 2; raw: the same run's raw UDP ping-pong and stream"
echo " in datagrams of mtu + 32 bytes; MB/s: streaming, 1e6 bytes per second; x: median"
echo " of the rounds' ratios ours/raw, each from one run; 65k-crc: mtu 65000 and crc=1, the"
echo " CRC32C pass that is off by default on loopback, on where a node is off this host)"
sockperf_summary
verdict 1436
verdict 8936
verdict 65000
verdict 65k-crc
echo "raw outputs: $out"
