# Shell functions shared by the benchmark scripts (sourced, not run).

# need_pkg CMD PKG: installs Debian package PKG when command CMD is missing (as root).
need_pkg() {
	command -v "$1" >/dev/null && return
	if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
		DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$2" ||
			{ apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y \
				--no-install-recommends "$2"; }
	else
		echo "${0##*/}: $1 missing (as root: apt-get install $2)" >&2
		exit 1
	fi
}

# bench_build DIR: a release build of clcp_pingpong in DIR, unless there is one.
bench_build() {
	[ -x "$1/tools/clcp_pingpong" ] && return
	cmake -G Ninja -S . -B "$1" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCLCP_TESTS=OFF
	cmake --build "$1" -j "${CLCP_JOBS:-2}" --target clcp_pingpong
}

# csv_field FILE KIND SIZE COL DIV: column COL / DIV of clcp_pingpong's CSV row
# whose first or second field is KIND ("poll", "memcpy_pingpong") for SIZE.
csv_field() {
	awk -F, -v k="$2" -v s="$3" -v c="$4" -v d="$5" \
		'($1 == k || $2 == k) && $3 == s && $c != "" { printf "%.3f\n", $c / d; exit }' "$1"
}

# An awk function: med(a, n), the median of a[1..n] (sorts a).
AWK_MED='
function med(a, cnt,   i, j, t) {
	for (i = 2; i <= cnt; i++)
		for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
	return cnt % 2 ? a[(cnt + 1) / 2] : (a[cnt / 2] + a[cnt / 2 + 1]) / 2
}'

# The median of the numbers on stdin (empty when none).
median() {
	sort -g | awk '{ v[++n] = $1 } END {
		if (n) printf "%.3f\n", n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2 }'
}

# median_of METRIC SIZE: over "$out"/round-*.txt ("metric size value" lines).
median_of() {
	awk -v m="$1" -v s="$2" '$1 == m && $2 == s { print $3 }' "$out"/round-*.txt | median
}

# median_ratio A B SIZE: the median over the rounds of A / B, each round's own.
median_ratio() {
	local f
	for f in "$out"/round-*.txt; do
		awk -v a="$1" -v b="$2" -v s="$3" '$2 == s && $1 == a { x = $3 } $2 == s && $1 == b { y = $3 }
			END { if (x != "" && y > 0) printf "%.3f\n", x / y }' "$f"
	done | median
}
