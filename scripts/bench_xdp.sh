#!/usr/bin/env bash
# The udp backend's AF_XDP mode beside its socket mode and raw UDP, between
# two network namespaces joined by a veth pair (MTU 1500: a veth runs XDP
# natively only when its MTU fits a page). Per round and size (8 B, 1 KiB,
# 64 KiB, 1 MiB): clcp_pingpong, its server in namespace B on CPU 1, its
# client in namespace A on CPU 0, polling, in three modes: mode=sock (UDP
# sockets), mode=xdp-skb (generic XDP: the packet is an skb until the XDP
# hook, copied into the UMEM) and mode=xdp (native XDP on the veth, copy
# mode: veth has no zero-copy). Raw UDP: sockperf between the same
# namespaces (busy-polling ping-pong at 14 B, its minimum; throughput at
# 1472 B, the default mtu's datagram). Prints per size and mode the
# medians over the rounds (latency: p50 of half a round trip; bandwidth:
# one-way stream) and the counters of the last round. docs/udp.md,
# "AF_XDP mode", says what generic mode on a veth cannot show.
#
# Run it alone: flock /tmp/clcp-quiet.lock scripts/bench_xdp.sh
# Environment: CLCP_BUILD_DIR (build-bench; built when it has no
# clcp_pingpong), CLCP_BENCH_PORT (7720), CLCP_BENCH_ROUNDS (3),
# CLCP_BENCH_OUT (the raw outputs: $CLCP_BUILD_DIR/bench-xdp). As root.
set -euo pipefail

cd "$(dirname "$0")/.."
. scripts/bench_lib.sh
. scripts/netns_lib.sh
build=${CLCP_BUILD_DIR:-build-bench}
port=${CLCP_BENCH_PORT:-7720}
rounds=${CLCP_BENCH_ROUNDS:-3}
out=${CLCP_BENCH_OUT:-$build/bench-xdp}
exe=$PWD/$build/tools/clcp_pingpong
tag=clcpx$$
ns_a=${tag}a ns_b=${tag}b addr_a=10.79.0.1 addr_b=10.79.0.2
modes="sock xdp-skb xdp"

[ "$(id -u)" -eq 0 ] || { echo "bench_xdp.sh: needs root (namespaces, XDP)" >&2; exit 1; }
command -v sockperf >/dev/null || { echo "bench_xdp.sh: needs sockperf (apt-get install sockperf)" >&2; exit 1; }
if [ ! -x "$exe" ]; then
	"$PWD/scripts/deps.sh" build
	cmake -G Ninja -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCLCP_TESTS=OFF
	cmake --build "$build" -j "${CLCP_JOBS:-2}" --target clcp_pingpong
fi

trap 'netns_pair_del "$tag"' EXIT
netns_pair "$tag" "$addr_a" "$addr_b" || { echo "bench_xdp.sh: namespaces and veth pair failed" >&2; exit 1; }
export CLCP_NODES="0=$addr_a:$port,1=$addr_b:$port"

# ours MODE SIZE ROUND: one clcp_pingpong run, server in B, client in A.
ours() {
	local f=$out/ours-$1-$2-$3 pid
	echo "clcp_pingpong, mode $1, $2 B, round $3 ..." >&2
	ip netns exec "$ns_b" "$exe" --role server --backend "udp://1?mode=$1&dead_ms=30000" \
		--node 1 --peer-node 0 --cpu 1 --stats >"$f-server.txt" 2>&1 &
	pid=$!
	ip netns exec "$ns_a" "$exe" --role client --backend "udp://0?mode=$1&dead_ms=30000" \
		--node 0 --peer-node 1 --cpu 0 --mode poll --min "$2" --max "$2" --no-floor --stats \
		--csv "$f.csv" >"$f.txt" 2>&1 || { cat "$f.txt" >&2; exit 1; }
	wait "$pid" || true
}

# raw: sockperf between the namespaces, server on CPU 1.
raw() {
	local sp=$((port + 1)) pid
	echo "sockperf ..." >&2
	ip netns exec "$ns_b" taskset -c 1 sockperf sr -i "$addr_b" -p "$sp" --nonblocked \
		>"$out/sockperf-server.txt" 2>&1 &
	pid=$!
	sleep 1
	ip netns exec "$ns_a" taskset -c 0 sockperf pp -i "$addr_b" -p "$sp" -m 14 -t 5 \
		--nonblocked >"$out/sockperf-pp.txt" 2>&1 || true
	ip netns exec "$ns_a" taskset -c 0 sockperf tp -i "$addr_b" -p "$sp" -m 1472 -t 5 \
		>"$out/sockperf-tp.txt" 2>&1 || true
	kill "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

# medians MODE: "size p50_us MB/s" per size, medians over the rounds.
medians() {
	awk -F, "$AWK_MED"'
		$1 == "poll" { r = ++n[$3]; p50[r, $3] = $4 / 1e3; bw[r, $3] = $7 }
		END {
			split("8 1024 65536 1048576", s, " ")
			for (i = 1; i <= 4; i++) {
				z = s[i]
				for (k = 1; k <= n[z]; k++) { a[k] = p50[k, z]; b[k] = bw[k, z] }
				print z, med(a, n[z]), med(b, n[z])
			}
		}' "$out"/ours-"$1"-*.csv
}

mkdir -p "$out"
rm -f "$out"/ours-*
load_before=$(cut -d' ' -f1-4 /proc/loadavg)
for r in $(seq "$rounds"); do
	for size in 8 1024 65536 1048576; do
		for m in $modes; do
			ours "$m" "$size" "$r"
		done
	done
done
raw
load_after=$(cut -d' ' -f1-4 /proc/loadavg)

echo
echo "== udp backend over a veth between two namespaces, poll, CPUs 0,1; medians of $rounds rounds =="
echo "load (1, 5, 15 min, running/total): before $load_before, after $load_after; $(nproc) CPUs"
printf "%8s | %9s %9s %9s | %10s %10s %10s\n" size "sock us" "skb us" "xdp us" "sock MB/s" \
	"skb MB/s" "xdp MB/s"
paste -d' ' <(medians sock) <(medians xdp-skb) <(medians xdp) | awk '
	BEGIN { name[8] = "8 B"; name[1024] = "1 KiB"; name[65536] = "64 KiB"; name[1048576] = "1 MiB" }
	{ printf "%8s | %9.2f %9.2f %9.2f | %10.1f %10.1f %10.1f\n", name[$1], $2, $5, $8, $3, $6, $9 }'
echo "(sock: mode=sock; skb: mode=xdp-skb, generic XDP; xdp: mode=xdp, native XDP on the veth,"
echo " copy mode; us: p50 one-way = round trip / 2; MB/s: streaming, 1e6 bytes per second)"
echo "raw UDP (sockperf, same namespaces and CPUs): ping-pong 14 B busy-poll p50" \
	"$(sed -n 's/.*percentile 50.000 = *\([0-9.]*\).*/\1/p' "$out/sockperf-pp.txt") us one-way;" \
	"throughput 1472 B $(sed -n 's/.*BandWidth is \([0-9.]*\) MBps.*/\1/p' "$out/sockperf-tp.txt") MB/s"
for m in $modes; do
	echo "counters, mode $m, 1 MiB, last round (client):"
	grep -E "rexmits|xdp_" "$out/ours-$m-1048576-$rounds.txt" | sed 's/^/  /' || true
done
echo "raw outputs: $out"
