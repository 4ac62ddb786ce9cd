#!/usr/bin/env bash
# The kernel driver in a qemu guest against the simulated Myrinet board.
#
#   tests/vm/run.sh BUILD_DIR
#
# BUILD_DIR is a CMake build of the project (firmware/clcp_ivshmem_nic,
# firmware/clcp_mcp.bin, tests/kdrv_guest). Steps, each fatal:
#  1. the installed Debian kernel image and the headers of the same version;
#  2. kdriver/ built with kbuild, W=1 and sparse: any warning fails;
#  3. a busybox initramfs: the module, the firmware image, the tests;
#  4. five simulated NICs (our firmware, host build) as ivshmem servers,
#     host DMA into the guest's RAM file, links on one private crossbar;
#  5. qemu (TCG, under timeout) boots Debian's kernel; /init (guest-init.sh)
#     runs the tests and prints "CLCP-VM: <step> pass|FAIL" lines;
#  6. two guests, each with one board, node 0 and node 1 on one crossbar:
#     round trips between them; then node 1's kernel panics (its qemu and
#     its board run on) and node 0's channel must fail: the board finds
#     its host dead by the driver's missing beats.
# Exit status 0 only if every step passed. Environment: CLCP_VM_TIMEOUT
# (seconds for qemu, 300), CLCP_VM_KEEP=1 keeps the work directory.
set -euo pipefail

die() { echo "vm: $*" >&2; exit 1; }

[ $# -eq 1 ] || die "usage: $0 BUILD_DIR"
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "$1" && pwd)
timeout_s=${CLCP_VM_TIMEOUT:-300}
t_start=$SECONDS

# --- 1. kernel image and headers of one version ---
kver=
for img in /boot/vmlinuz-*; do
	v=${img#/boot/vmlinuz-}
	[ -d "/usr/src/linux-headers-$v" ] && kver=$v
done
[ -n "$kver" ] || die "no /boot/vmlinuz-V with /usr/src/linux-headers-V (scripts/deps.sh installs them)"
for t in qemu-system-x86_64 cpio gzip timeout sparse make; do
	command -v "$t" >/dev/null || die "$t missing (scripts/deps.sh installs it)"
done
busybox=/bin/busybox
[ -x "$busybox" ] || die "busybox missing (package busybox-static)"
readelf -l "$busybox" | grep -q 'program interpreter' &&
	die "$busybox is not static (package busybox-static)"
for f in firmware/clcp_ivshmem_nic firmware/clcp_mcp.bin tests/kdrv_guest \
	tests/conformance tests/clcp_test_peer; do
	[ -e "$build/$f" ] || die "$build/$f missing: build the project first"
done
echo "vm: kernel $kver"

work=$(mktemp -d "${TMPDIR:-/tmp}/clcp-vm.XXXXXX")
nic_pid=
cleanup() {
	[ -n "$nic_pid" ] && kill $nic_pid 2>/dev/null && wait $nic_pid 2>/dev/null
	if [ "${CLCP_VM_KEEP:-0}" = 1 ]; then echo "vm: kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

# --- 2. the module, W=1, no warnings ---
mkdir -p "$work/kdriver"
cp "$root"/kdriver/*.c "$root"/kdriver/*.h "$root"/kdriver/Kbuild "$work/kdriver/"
if ! make -C "/usr/src/linux-headers-$kver" M="$work/kdriver" CLCP_ROOT="$root" W=1 \
	C=1 CHECK=sparse modules >"$work/kbuild.log" 2>&1; then
	cat "$work/kbuild.log"
	die "module build failed"
fi
if grep -E 'warning:|error:' "$work/kbuild.log"; then
	die "module build has warnings"
fi
echo "vm: module built (W=1 and sparse, no warnings)"

# --- 3. initramfs ---
ird=$work/initramfs
mkdir -p "$ird"/{bin,proc,sys,dev,tmp,lib/modules,lib/firmware/clcp}
cp "$busybox" "$ird/bin/busybox"
cp "$root/tests/vm/guest-init.sh" "$ird/init"
chmod +x "$ird/init"
cp "$work/kdriver/clcp_mx.ko" "$ird/lib/modules/"
cp "$build/firmware/clcp_mcp.bin" "$ird/lib/firmware/clcp/"
head -c 200000 /dev/zero >"$ird/lib/firmware/clcp/big.bin" # over MCP_IMAGE_MAX
cp "$build/tests/kdrv_guest" "$ird/bin/"
# The conformance suite and its peer program, at their build paths (the
# suite names the peer by its path), with the libraries they load.
for exe in "$build/tests/conformance" "$build/tests/clcp_test_peer"; do
	mkdir -p "$ird$(dirname "$exe")"
	cp "$exe" "$ird$exe"
	ldd "$exe" | awk '/=> \// { print $3 } /^\t\/[^ ]+ / { print $1 }' | while read -r lib; do
		mkdir -p "$ird$(dirname "$lib")"
		cp -L "$lib" "$ird$lib"
	done
done
printf '%s\n' '#!/bin/sh' '# The conformance suite over the myrinet backend, through /dev/clcpN.' \
	"cd /tmp && CLCP_TEST_BACKENDS=myrinet $build/tests/conformance --filter '!(final/*)' -j1" \
	>"$ird/bin/conformance.sh"
chmod +x "$ird/bin/conformance.sh"
(cd "$ird" && find . | cpio -o -H newc --quiet | gzip -1) >"$work/initrd.gz"

# --- 4. simulated boards, 5. guests ---
ram_mib=256

# nic_start NAME PORT: a simulated NIC on port PORT of $work/fabric-NAME,
# its DMA into $work/ram-NAME; adds its ivshmem device to boards_NAME.
nic_start() {
	local name=$1 port=$2 sock=$work/ivshmem-$1-$2.sock
	mkdir -p "$work/fabric-$name"
	"$build/firmware/clcp_ivshmem_nic" --socket "$sock" --ram "$work/ram-$name" \
		--ram-size "$ram_mib" --fabric "$work/fabric-$name" --port "$port" \
		>"$work/nic-$name-$port.log" 2>&1 &
	nic_pid="$nic_pid $!"
	for _ in $(seq 100); do # one after the other: each sweeps the fabric first
		[ -S "$sock" ] && break
		sleep 0.05
	done
	[ -S "$sock" ] || { cat "$work/nic-$name-$port.log"; die "simulated NIC $name-$port did not start"; }
	eval "boards_$name+=(-chardev socket,path=$sock,id=ivs$port" \
		"-device ivshmem-doorbell,chardev=ivs$port,vectors=1)"
}

# guest NAME CMDLINE_EXTRA: qemu with the boards of NAME, its console in
# $work/console-NAME.log; returns qemu's status.
guest() {
	local name=$1 extra=$2 rc=0
	local -n devs=boards_$name
	timeout "$timeout_s" qemu-system-x86_64 -accel tcg -m "${ram_mib}M" -smp 1 \
		-object "memory-backend-file,id=ram,size=${ram_mib}M,mem-path=$work/ram-$name,share=on" \
		-machine pc,memory-backend=ram \
		-kernel "/boot/vmlinuz-$kver" -initrd "$work/initrd.gz" \
		-append "console=ttyS0 panic=-1 quiet $extra" "${devs[@]}" \
		-nographic -no-reboot -net none </dev/null >"$work/console-$name.log" 2>&1 || rc=$?
	return $rc
}

# report NAME QEMU_STATUS: the console and the NICs; fails on any FAIL.
report() {
	local name=$1 qrc=$2 fails passes
	echo "=== guest $name"
	sed 's/\r$//' "$work/console-$name.log" | grep -v '^$' | grep -vE '^\[ *[0-9.]+\] ' || true
	echo "--- simulated NICs:"
	cat "$work"/nic-"$name"-*.log
	fails=$(grep -c 'CLCP-VM: .* FAIL' "$work/console-$name.log" || true)
	passes=$(grep -c 'CLCP-VM: .* pass' "$work/console-$name.log" || true)
	echo "vm: guest $name: qemu exit $qrc, $passes steps passed, $fails failed"
	[ "$qrc" -eq 0 ] || die "guest $name: qemu failed or timed out ($qrc)"
	grep -q 'CLCP-VM: done' "$work/console-$name.log" || die "guest $name did not finish"
	[ "$fails" -eq 0 ] && [ "$passes" -gt 0 ] || die "guest $name: $fails steps failed"
	! grep -q 'host_gone=[1-9]' "$work"/nic-"$name"-*.log || die "guest $name: a board found its host dead"
}

# report_died NAME QEMU_STATUS: a guest whose kernel panicked on purpose
# (kdrv_guest peer 1) after its checks passed; its board saw the host die.
report_died() {
	local name=$1 qrc=$2 log=$work/console-$1.log
	echo "=== guest $name (its kernel panics on purpose)"
	sed 's/\r$//' "$log" | grep -v '^$' | grep -vE '^\[ *[0-9.]+\] ' || true
	echo "--- simulated NICs:"
	cat "$work"/nic-"$name"-*.log
	echo "vm: guest $name: qemu stopped by the harness ($qrc)"
	! grep -qE '^FAIL |CLCP-VM: .* FAIL' "$log" || die "guest $name: a check failed"
	grep -q 'CLCP-VM: host dies' "$log" || die "guest $name: its checks did not get to the panic"
	grep -q 'Kernel panic' "$log" || die "guest $name: no kernel panic"
	grep -q 'host_gone=1' "$work"/nic-"$name"-*.log || die "guest $name: its board did not find it dead"
}

# One guest, five boards on one crossbar (the suite's largest test has
# five nodes): everything but the peer test.
boards_main=()
for port in 0 1 2 3 4; do nic_start main "$port"; done
t_boot=$SECONDS
qrc=0
guest main "clcp_boards=5" || qrc=$?
wait $nic_pid 2>/dev/null || true
nic_pid=
report main "$qrc"
echo "vm: guest main took $((SECONDS - t_boot)) s"

# --- 6. two guests, one board each, joined by the crossbar ---
boards_peer0=()
boards_peer1=()
mkdir -p "$work/fabric-peer"
ln -s fabric-peer "$work/fabric-peer0"
ln -s fabric-peer "$work/fabric-peer1"
nic_start peer0 0
nic_start peer1 1
t_boot=$SECONDS
guest peer0 "clcp_boards=1 clcp_peer=0" & q0=$!
guest peer1 "clcp_boards=1 clcp_peer=1 panic=0" & q1=$! # a panic halts: qemu stays
qrc0=0 qrc1=0
wait $q0 || qrc0=$?
pkill -f "mem-path=$work/ram-peer1," || true # node 0 is done: node 1's host has died
wait $q1 || qrc1=$?
wait $nic_pid 2>/dev/null || true
nic_pid=
report peer0 "$qrc0"
report_died peer1 "$qrc1"
echo "vm: two guests took $((SECONDS - t_boot)) s; harness $((SECONDS - t_start)) s"
echo "vm: all passed"
