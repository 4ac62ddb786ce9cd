#!/usr/bin/env bash
# The benchmark tools still work (CI, scripts/test.sh): each runs on small
# sizes and its figures must be present and not absurd. Never a timing
# assertion: the bounds are 100 times off the floor measured in the same
# run, which no noise reaches and a broken path does.
#   1. clcp_pingpong, every mode, with the shared-memory floor: 8 B polling
#      within 100x the memcpy ping-pong, interrupt within 100x the futex
#      wake-up ping-pong, 64 KiB streaming above 1/100 of one core's memcpy;
#   2. scripts/fig12.sh, 1 round, 0 and 4 null processes, up to 16 KiB,
#      loopback and (as root) udp between namespaces: every row, the plots;
#   3. scripts/bench_peers.sh quick: our figures and each ratio present
#      (a peer that fails is named, it does not fail the check);
#   4. clcp_pingpong --any 2 (receives from CLCP_ANY, idle channels open),
#      every mode, 8 B .. 256 KiB: every row sane, and 256 KiB streaming
#      above 1/100 of the same run's on the channel.
# Prints one line per check; exit status 1 if one failed.
#
#   bench_check.sh BUILD_DIR
set -uo pipefail

cd "$(dirname "$0")/.."
dir=$1
exe=$dir/tools/clcp_pingpong
out=$dir/bench-check
failed=0
mkdir -p "$out"

say() {
	echo "bench_check: $*"
}

# pingpong: one run, every mode, floor; sane and within 100x the floors.
pingpong() {
	timeout 300 "$exe" --mode all --floor shm --min 8 --max 64K --iters 300 --warmup 10 \
		--point-ms 20 --csv "$out/pp.csv" >"$out/pp.txt" 2>&1 || { cat "$out/pp.txt"; return 1; }
	awk -F, '
		NR == 1 { next }
		$1 != "floor" { rows++; seen[$1]++
			if (!($4 > 0 && $5 >= $4 && $6 > 0 && $7 > 0)) { print "insane row: " $0; bad = 1 } }
		$1 != "floor" && $3 == 8 { lat[$1] = $4 }
		$1 != "floor" && $3 == 65536 { bw[$1] = $7 }
		$2 == "memcpy_pingpong" && $3 == 8 { pp = $4 }
		$2 == "futex_wake" { wake = $4 }
		$2 == "memcpy" && $3 == 65536 { cpy = $7 }
		END {
			if (rows != 42) { print "want 14 sizes x 3 modes, got " rows " rows"; bad = 1 }
			if (!(pp > 0 && wake > 0 && cpy > 0)) { print "floor missing"; bad = 1 }
			if (!(lat["poll"] < 100 * pp)) { print "poll 8 B " lat["poll"] " ns vs floor " pp; bad = 1 }
			if (!(lat["intr"] < 100 * wake)) { print "intr 8 B " lat["intr"] " ns vs wake " wake; bad = 1 }
			if (!(lat["adapt"] < 100 * wake)) { print "adapt 8 B " lat["adapt"] " ns vs wake " wake; bad = 1 }
			for (m in bw) if (!(bw[m] > cpy / 100)) { print m " 64 KiB " bw[m] " MB/s vs memcpy " cpy; bad = 1 }
			exit bad }' "$out/pp.csv"
}

# fig12: a tiny rerun; every (backend, nulls, mode, size) row and the plots.
fig12() {
	local backends=loopback rows
	[ "$(id -u)" -eq 0 ] && backends="loopback udp"
	CLCP_BUILD_DIR=$dir CLCP_FIG12_OUT=$out/fig12 CLCP_FIG12_ROUNDS=1 CLCP_FIG12_NULLS="0 4" \
		CLCP_FIG12_MAX=16K CLCP_FIG12_POINT_MS=10 CLCP_FIG12_LOADED_POINT_MS=10 \
		CLCP_FIG12_BACKENDS=$backends \
		CLCP_BENCH_PORT=$((21000 + $$ % 5000)) timeout 600 scripts/fig12.sh >"$out/fig12.txt" 2>&1 ||
		{ cat "$out/fig12.txt"; return 1; }
	rows=$(awk -F, 'NR > 1 && $5 > 0 && $6 > 0 && $7 > 0' "$out/fig12/fig12.csv" | wc -l)
	# backends x 2 null counts x 3 modes x 12 sizes (8 B .. 16 KiB)
	[ "$rows" -eq $(($(wc -w <<<"$backends") * 72)) ] || { say "fig12: $rows sane rows"; return 1; }
	for b in $backends; do
		[ "$(stat -c %s "$out/fig12/fig12-$b.png" 2>/dev/null || echo 0)" -gt 10000 ] ||
			{ say "fig12: no plot for $b"; return 1; }
	done
}

# peers: the quick comparison; ours must be there, a missing peer is named.
peers() {
	CLCP_BUILD_DIR=$dir CLCP_BENCH_OUT=$out/peers CLCP_BENCH_QUICK=1 CLCP_BENCH_ROUNDS=1 \
		CLCP_BENCH_PORT=$((26000 + $$ % 5000)) timeout 600 scripts/bench_peers.sh \
		>"$out/peers.txt" 2>&1 || { cat "$out/peers.txt"; return 1; }
	awk '$2 ~ /^(loopback|udp)$/ && $3 == "/" {
			k = 0
			for (i = 4; i <= NF; i++) if ($i ~ /^[0-9.]+$/) num[++k] = $i
			if (!(k >= 1 && num[1] > 0)) { print "ours missing: " $0; bad = 1 }
			else if (k < 3) print "peer missing (not a failure): " $0
			n++ }
		END { if (n < 10) { print "report has " n " rows"; bad = 1 } exit bad }' \
		"$out/peers/report.txt"
}

# any: receives from CLCP_ANY with two idle channels more; sane, and not
# 100x slower than receives on the channel in the same run.
any() {
	local a
	for a in "" "--any 2"; do
		# shellcheck disable=SC2086 # $a: no option, or two words
		timeout 300 "$exe" --mode all --no-floor --min 8 --max 256K --iters 200 --warmup 10 \
			--point-ms 20 $a --csv "$out/any${a:+-any}.csv" >"$out/any.txt" 2>&1 ||
			{ cat "$out/any.txt"; return 1; }
	done
	awk -F, '
		FNR == 1 { f++; next }
		{ rows[f]++
			if (!($4 > 0 && $5 >= $4 && $6 > 0 && $7 > 0)) { print "insane row: " $0; bad = 1 }
			if ($3 == 262144) bw[f, $1] = $7 }
		END {
			if (rows[1] != 48 || rows[2] != 48) { print "want 16 sizes x 3 modes, got " rows[1] " and " rows[2]; bad = 1 }
			for (m in bw) { split(m, k, SUBSEP)
				if (k[1] == 2 && !(bw[m] > bw[1, k[2]] / 100)) { print k[2] " 256 KiB from CLCP_ANY " bw[m] " MB/s vs " bw[1, k[2]]; bad = 1 } }
			exit bad }' "$out/any.csv" "$out/any-any.csv"
}

for check in pingpong fig12 peers any; do
	if "$check"; then
		say "$check: passed"
	else
		say "$check: FAILED (outputs in $out)"
		failed=1
	fi
done
exit "$failed"
