#!/usr/bin/env bash
# The paper's Figure 12 again (docs/results.md): response time and bandwidth
# over message sizes for polling, interrupt and adaptive receive, with 0, 30
# and 90 null processes (each runs 3 ms of CPU, then blocks 50 ms), on
# loopback (two processes, CPUs 0 and 1) and on udp between two network
# namespaces joined by a veth pair (needs root). Each point is the median
# of ROUNDS runs of clcp_pingpong. Each point runs for POINT_MS, with null
# processes LOADED_POINT_MS (the mean is then made by rare waits of
# milliseconds: it needs many scheduling periods; clcp_pingpong --fill),
# the three modes in turn at each size. Writes, in OUT:
#   fig12.csv                  backend,nulls,mode,size,rt_mean_us,rt_p50_us,bw_MBps
#   fig12-ratios.csv           backend,nulls,size,adapt_over_poll,adapt_over_best,
#                              poll_lo,poll_hi,best_lo,best_hi: medians over the
#                              rounds of each round's ratios, and their range
#   fig12-BACKEND.png          (a)-(f) laid out like the paper's: (e), (f)
#                              with the most null processes measured
#   fig12-BACKEND-nullN.png    the long messages with N null processes, for
#                              the other N > 0 (30)
#   runs/                      every run's CSV and output
# Installs gnuplot when run as root and it is missing.
#
# Environment: CLCP_BUILD_DIR (build-bench), CLCP_FIG12_ROUNDS (3),
# CLCP_FIG12_NULLS ("0 30 90"), CLCP_FIG12_BACKENDS ("loopback udp"),
# CLCP_FIG12_MAX (1M), CLCP_FIG12_POINT_MS (100), CLCP_FIG12_LOADED_POINT_MS
# (500), CLCP_FIG12_NULL_RUN_MS (3),
# CLCP_FIG12_NULL_BLOCK_MS (50), CLCP_FIG12_OUT ($CLCP_BUILD_DIR/fig12),
# CLCP_BENCH_PORT (7600: the udp nodes' port).
set -euo pipefail

cd "$(dirname "$0")/.."
. scripts/bench_lib.sh
. scripts/netns_lib.sh
build=${CLCP_BUILD_DIR:-build-bench}
rounds=${CLCP_FIG12_ROUNDS:-3}
nulls=${CLCP_FIG12_NULLS:-0 30 90}
backends=${CLCP_FIG12_BACKENDS:-loopback udp}
max=${CLCP_FIG12_MAX:-1M}
point_ms=${CLCP_FIG12_POINT_MS:-100}
loaded_point_ms=${CLCP_FIG12_LOADED_POINT_MS:-500}
run_ms=${CLCP_FIG12_NULL_RUN_MS:-3}
block_ms=${CLCP_FIG12_NULL_BLOCK_MS:-50}
out=${CLCP_FIG12_OUT:-$build/fig12}
port=${CLCP_BENCH_PORT:-7600}
exe=$PWD/$build/tools/clcp_pingpong
tag=clcpg$$
ns_a=${tag}a ns_b=${tag}b
addr_a=10.78.0.1 addr_b=10.78.0.2

fail() {
	echo "fig12.sh: FAIL: $*" >&2
	exit 1
}

need_tools() {
	"$PWD/scripts/deps.sh" build
	need_pkg gnuplot gnuplot-nox
	bench_build "$build"
}

netns_up() {
	[ "$(id -u)" -eq 0 ] || fail "udp between namespaces needs root"
	trap 'netns_pair_del "$tag"' EXIT
	netns_pair "$tag" "$addr_a" "$addr_b" || fail "namespaces and veth pair"
}

# run BACKEND NULLS ROUND: one clcp_pingpong run, every mode, into runs/.
run() {
	local f=$out/runs/$1-n$2-r$3 spid common ms=$point_ms
	[ "$2" -eq 0 ] || ms=$loaded_point_ms
	common=(--mode all --min 8 --max "$max" --no-floor --point-ms "$ms" --fill --null "$2"
		--null-run-ms "$run_ms" --null-block-ms "$block_ms" --timeout 600)
	echo "fig12: $1, $2 null processes, round $3 ..." >&2
	if [ "$1" = loopback ]; then
		"$exe" "${common[@]}" --csv "$f.csv" >"$f.txt" 2>&1 || { cat "$f.txt" >&2; exit 1; }
		return
	fi
	export CLCP_NODES="0=$addr_a:$port,1=$addr_b:$port"
	ip netns exec "$ns_b" "$exe" --role server --backend "udp://1?dead_ms=30000" \
		--peer-node 0 --cpu 1 --timeout 300 >"$f.server.txt" 2>&1 &
	spid=$!
	ip netns exec "$ns_a" "$exe" --role client --backend "udp://0?dead_ms=30000" \
		--peer-node 1 --cpu 0 "${common[@]}" --csv "$f.csv" >"$f.txt" 2>&1 ||
		{ cat "$f.txt" "$f.server.txt" >&2; kill "$spid" 2>/dev/null; exit 1; }
	wait "$spid" || { cat "$f.server.txt" >&2; fail "the udp server failed"; }
}

# per_run PROGRAM: the awk PROGRAM on every run's CSV, given b (backend) and
# n (null processes).
per_run() {
	local f b n
	for f in "$out"/runs/*.csv; do
		b=$(basename "$f" .csv)
		n=${b#*-n}
		n=${n%-r*}
		awk -F, -v b="${b%%-n*}" -v n="$n" "$1" "$f"
	done
}

# medians NKEY [range]: lines of NKEY key fields (backend, nulls, [mode,]
# size), then values: per key, the median of each value (over the rounds);
# with range, then the smallest and largest of each.
medians() {
	local by=(-k1,1 -k2,2n -k3,3n)

	[ "$1" -eq 4 ] && by=(-k1,1 -k2,2n -k3,3 -k4,4n)
	sort -t, "${by[@]}" | awk -F, -v nk="$1" -v range="${2:-}" '
		function sorted(c,   i, j, t) {
			for (i = 1; i <= k; i++) v[i] = val[c, i]
			for (i = 2; i <= k; i++)
				for (j = i; j > 1 && v[j - 1] > v[j]; j--) { t = v[j]; v[j] = v[j - 1]; v[j - 1] = t }
		}
		function flush(   c, line, ends) {
			if (k == 0) return
			line = key
			ends = ""
			for (c = nk + 1; c <= nf; c++) {
				sorted(c)
				line = line sprintf(",%.3f", k % 2 ? v[(k + 1) / 2] : (v[k / 2] + v[k / 2 + 1]) / 2)
				ends = ends sprintf(",%.3f,%.3f", v[1], v[k])
			}
			print line (range ? ends : "")
			k = 0
		}
		{ key0 = $1; for (c = 2; c <= nk; c++) key0 = key0 "," $c
		  if (key0 != key) { flush(); key = key0 }
		  k++; nf = NF; for (c = nk + 1; c <= NF; c++) val[c, k] = $c }
		END { flush() }'
}

# merge: medians over the rounds of every (backend, nulls, mode, size).
merge() {
	echo "backend,nulls,mode,size,rt_mean_us,rt_p50_us,bw_MBps"
	per_run 'NR > 1 && $1 != "floor" {
		printf "%s,%s,%s,%s,%.3f,%.3f,%.1f\n", b, n, $1, $3, 2 * $6 / 1e3, 2 * $4 / 1e3, $7 }' |
		medians 4
}

# ratios: per (backend, nulls, size) the median over the rounds of each
# round's adaptive / polling and adaptive / the better of polling and
# interrupt (mean round trips of one run: the modes take turns per size, so
# a ratio compares figures taken moments apart; the VM's slow spells move
# whole runs).
ratios() {
	echo "backend,nulls,size,adapt_over_poll,adapt_over_best,poll_lo,poll_hi,best_lo,best_hi"
	per_run 'NR > 1 { m[$1 "," $3] = $6; s[$3] = 1 }
		END { for (z in s) {
			p = m["poll," z]; i = m["intr," z]; a = m["adapt," z]
			if (p > 0 && i > 0 && a > 0)
				printf "%s,%s,%s,%.4f,%.4f\n", b, n, z, a / p, a / (p < i ? p : i) } }' |
		medians 3 range
}

# targets: the performance work's Figure 12 targets, counted from fig12-ratios.csv; the
# sizes that miss, with their median ratio and the rounds' range; the ratio over all sizes
# (geometric mean: which mode is faster, where single sizes are noise).
targets() {
	awk -F, 'NR > 1 { k = $1 ", " $2 " null processes"; n[k]++
			lg[k] += log($2 == 0 ? $4 : $5)
			miss = $2 == 0 ? $4 > 1.10 : $5 > 1.0
			if (miss && $2 == 0) bad[k] = bad[k] sprintf(" %s B %.2f (%.2f-%.2f)", $3, $4, $6, $7)
			else if (miss) bad[k] = bad[k] sprintf(" %s B %.2f (%.2f-%.2f)", $3, $5, $8, $9)
			ok[k] += !miss; both[k] += $2 > 0 && $5 < 1.0 }
		END { for (k in n) {
			if (k ~ / 0 null/) printf "fig12: %s: adaptive within 10 %% of polling at %d of %d sizes", k, ok[k], n[k]
			else printf "fig12: %s: adaptive at least as good as the better mode at %d of %d sizes, better than both at %d", k, ok[k], n[k], both[k]
			printf "; over all sizes %.2fx%s\n", exp(lg[k] / n[k]), bad[k] ? "; the others:" bad[k] : "" } }' \
		"$out/fig12-ratios.csv" | sort
}

# gp_head PNG SIZE: gnuplot's settings shared by the plots.
gp_head() {
	printf '%s\n' 'set datafile separator ","' "set terminal pngcairo size $2 font \",10\"" \
		"set output \"$1\"" 'set logscale x 2' 'set format x "%.0s%cB"' 'set grid' 'set key top left'
}

# plot BACKEND NLO NHI: (a)-(f), (a)-(d) with NLO null processes (the
# paper's 0), (e) and (f) with NHI; (a) and (b) alone when no size is above
# short_max (CLCP_FIG12_MAX of 4K or less).
plot() {
	local csv=$out/fig12.csv b=$1 nlo=$2 nhi=$3 short_max=4096 top panels="a b c d e f" rows=3 height=1500
	top=$(awk -F, 'NR > 1 && $4 > m { m = $4 } END { print m }' "$csv")
	[ "$top" -gt "$short_max" ] || panels="a b" rows=1 height=500
	{ gp_head "$out/fig12-$b.png" 1200,$height; cat; } <<-EOF | gnuplot
		set multiplot layout $rows,2 title "CLCP on $b: Figure 12 again (polling, interrupt, adaptive)"
		sel(mode, n, lo, hi, col) = (strcol(1) eq "$b" && \$2 == n && strcol(3) eq mode && \$4 >= lo && \$4 <= hi) ? column(col) : NaN
		do for [panel in "$panels"] {
			n = (panel eq "e" || panel eq "f") ? $nhi : $nlo
			lo = (panel eq "a" || panel eq "b") ? 8 : $short_max
			hi = (panel eq "a" || panel eq "b") ? $short_max : $top
			set xrange [lo:hi]
			col = (panel eq "a" || panel eq "c" || panel eq "e") ? 5 : 7
			set title sprintf("(%s) %s, %s messages, %d null processes", panel, \
				col == 5 ? "response time (round trip)" : "bandwidth", \
				lo == 8 ? "short" : "long", n)
			set ylabel (col == 5 ? "us (mean)" : "MB/s")
			if (col == 5) { set logscale y 10 } else { unset logscale y }
			plot "$csv" using 4:(sel("poll", n, lo, hi, col)) with linespoints title "polling", \
			     "$csv" using 4:(sel("intr", n, lo, hi, col)) with linespoints title "interrupt", \
			     "$csv" using 4:(sel("adapt", n, lo, hi, col)) with linespoints title "adaptive"
		}
		unset multiplot
	EOF
}

# plot_long BACKEND N: long messages with N null processes (none: no plot).
plot_long() {
	local csv=$out/fig12.csv b=$1 n=$2 short_max=4096 top
	top=$(awk -F, 'NR > 1 && $4 > m { m = $4 } END { print m }' "$csv")
	[ "$top" -gt "$short_max" ] || return 0
	{ gp_head "$out/fig12-$b-null$n.png" 1200,500; cat; } <<-EOF | gnuplot
		set xrange [$short_max:$top]
		set multiplot layout 1,2 title "CLCP on $b: long messages, $n null processes"
		sel(mode, col) = (strcol(1) eq "$b" && \$2 == $n && strcol(3) eq mode && \$4 >= $short_max) ? column(col) : NaN
		set title "response time (round trip)"; set ylabel "us (mean)"; set logscale y 10
		plot "$csv" using 4:(sel("poll", 5)) w lp t "polling", "$csv" using 4:(sel("intr", 5)) w lp t "interrupt", \
		     "$csv" using 4:(sel("adapt", 5)) w lp t "adaptive"
		set title "bandwidth"; set ylabel "MB/s"; unset logscale y
		plot "$csv" using 4:(sel("poll", 7)) w lp t "polling", "$csv" using 4:(sel("intr", 7)) w lp t "interrupt", \
		     "$csv" using 4:(sel("adapt", 7)) w lp t "adaptive"
		unset multiplot
	EOF
}

need_tools
mkdir -p "$out/runs"
rm -f "$out"/runs/*
case " $backends " in *" udp "*) netns_up ;; esac
load_before=$(cut -d' ' -f1-4 /proc/loadavg)
for r in $(seq "$rounds"); do
	for n in $nulls; do
		for b in $backends; do
			run "$b" "$n" "$r"
		done
	done
done
load_after=$(cut -d' ' -f1-4 /proc/loadavg)
merge >"$out/fig12.csv"
ratios >"$out/fig12-ratios.csv"
nlo=$(printf '%s\n' $nulls | sort -n | head -1)
nhi=$(printf '%s\n' $nulls | sort -n | tail -1)
for b in $backends; do
	plot "$b" "$nlo" "$nhi"
	for n in $nulls; do
		[ "$n" -eq "$nlo" ] || [ "$n" -eq "$nhi" ] || plot_long "$b" "$n"
	done
done
echo "load (1, 5, 15 min, running/total): before $load_before, after $load_after; $(nproc) CPUs"
targets
echo "fig12: $out/fig12.csv, $out/fig12-ratios.csv, plots $(ls "$out"/fig12-*.png | tr '\n' ' ')"
