#!/usr/bin/env bash
# check_image.sh LLVM_MC IMAGE MAP: reads the linked LANai image back with
# llvm-mc's disassembler and checks that it is what the map says: the
# entry point is _start at 0 and sets the stack, _start branches to
# lanai_main, calls land on their functions, branches and 21-bit absolutes
# hold the targets the linker wrote, and the image has the mapped size.
set -euo pipefail
mc=$1 img=$2 map=$3
checked=0

fail() { echo "FAIL: $*"; exit 1; }
word() { od -An -tx1 -j $(($1)) -N 4 "$img" | awk '{printf "0x%s 0x%s 0x%s 0x%s\n",$1,$2,$3,$4}'; }
dis() { word "$1" | "$mc" --disassemble -triple=lanai | grep -v '^[[:space:]]*\.text' | tr -s ' \t' ' '; }
sym() { awk -v s="$1" '$1 == "symbol" && $3 == s { print $2 }' "$map"; }

# One relocated instruction: it must name the target the map lists.
check_target() { # place target what
	local d t
	d=$(dis "$1")
	t=$(grep -o '0x[0-9a-f]*' <<<"$d" | tail -n 1 || true)
	[ -n "$t" ] && [ $((t)) -eq $(($2)) ] || fail "$3 at $1: '$d', want $2"
	checked=$((checked + 1))
}

[ "$(stat -c %s "$img")" -eq "$(($(awk '$1 == "image" { print $2 }' "$map")))" ] ||
	fail "image size differs from the map"
entry=$(awk '$1 == "entry" { print $2 }' "$map")
[ $((entry)) -eq 0 ] && [ $(($(sym _start))) -eq 0 ] || fail "entry $entry is not _start at 0"
first=$(dis "$entry")
[[ $first == *mov*0x20000*%sp* ]] || fail "first instruction '$first' does not set the stack"

place=$(awk '$1 == "branch" && $4 == "lanai_main" { print $2; exit }' "$map")
[ -n "$place" ] || fail "_start does not branch to lanai_main"
check_target "$place" "$(sym lanai_main)" "branch to lanai_main"

# Calls to global functions: the branch lands on the mapped symbol.
while read -r _ p t s; do
	a=$(sym "$s")
	[ -n "$a" ] || continue # a static function: not in the map's symbols
	[ $((t)) -eq $((a)) ] || fail "branch to $s: map says $t, symbol is $a"
	check_target "$p" "$t" "call of $s"
done < <(awk '$1 == "branch" && $4 !~ /^\./' "$map" | head -n 40)
# Local branches and absolutes: what the linker wrote is what decodes.
while read -r _ p t s; do
	check_target "$p" "$t" "branch to $s"
done < <(awk '$1 == "branch" && $4 ~ /^\./' "$map" | head -n 25)
while read -r _ p t s; do
	check_target "$p" "$t" "address of $s"
done < <(awk '$1 == "abs21"' "$map" | head -n 10)
[ "$checked" -ge 20 ] || fail "only $checked relocations checked"
echo "ok: entry $entry, $checked relocated instructions decode to their mapped targets," \
	"image $(stat -c %s "$img") bytes"
