#!/bin/busybox sh
# /init of the test guests (tests/vm/run.sh; on the kernel command line
# clcp_boards=N: the simulated boards; clcp_peer=0|1: one of two guests
# that only run the peer test, at whose end node 1's kernel panics on
# purpose): loads the driver, runs the
# tests against the simulated board, loads and unloads the driver ten
# times, prints one "CLCP-VM: <step> pass|FAIL" line per step and
# "CLCP-VM: done", then powers off.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mkdir -p /dev/shm /tmp
mount -t tmpfs shm /dev/shm
echo 4 > /proc/sys/kernel/printk

step() { # step NAME CMD...: one result line
	name=$1
	shift
	if "$@"; then echo "CLCP-VM: $name pass"; else echo "CLCP-VM: $name FAIL"; fi
}

load() { # load [PARAM=VALUE...], node=0 by default
	[ $# -gt 0 ] || set -- node=0
	insmod /lib/modules/clcp_mx.ko "$@" || return 1
	last=/dev/clcp$((16 * clcp_boards - 1)) # board b: /dev/clcp<16b> .. <16b + 15>
	i=0
	while [ ! -e $last ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
	[ -e $last ]
}

unload() {
	rmmod clcp_mx && [ ! -e /dev/clcp0 ]
}

# Probes that fail leave nothing behind: a missing image, one too big.
badfw() {
	for fw in clcp/none.bin clcp/big.bin; do
		insmod /lib/modules/clcp_mx.ko firmware=$fw || return 1
		[ ! -e /dev/clcp0 ] && dmesg | grep -q "firmware $fw" && rmmod clcp_mx || return 1
	done
}

mem_free_kib() {
	awk '/^MemFree:/ { print $2 }' /proc/meminfo
}

# Ten loads and unloads, each with an endpoint allocated and mapped by a
# process that is killed; every unload reports no buffer left, and the
# free memory comes back (within 2 MiB: the page cache moves a little).
cycles() {
	before=$(mem_free_kib)
	n=0
	while [ $n -lt 10 ]; do
		load && /bin/kdrv_guest ioctl >/tmp/cycle.log 2>&1 && unload || {
			cat /tmp/cycle.log
			return 1
		}
		n=$((n + 1))
	done
	after=$(mem_free_kib)
	clean=$(dmesg | grep -c 'clcp_mx: unloaded, no endpoint buffer left')
	echo "cycles: $n, MemFree $before -> $after KiB, clean unloads $clean"
	[ "$clean" -ge 10 ] && [ $((before - after)) -lt 2048 ] &&
		! dmesg | grep -q 'endpoint buffers leaked'
}

start=$(cut -d' ' -f1 /proc/uptime)
if [ -n "${clcp_peer:-}" ]; then # one of two guests: node 0 or 1
	# Node 1's kernel panics at the end of the peer test (its board runs on):
	# node 0's channel fails within host_dead_ms.
	step load load node=$clcp_peer host_dead_ms=5000
	step peer /bin/kdrv_guest peer "$clcp_peer"
	step unload unload
else
	step badfw badfw
	step load load node=0
	step ioctl /bin/kdrv_guest ioctl
	step msg /bin/kdrv_guest msg
	step conformance /bin/conformance.sh
	step unplug /bin/kdrv_guest unplug
	step unload unload
	step cycles cycles
fi
if dmesg | grep -qE 'Oops|BUG:|WARNING:|general protection'; then
	echo "CLCP-VM: kernel FAIL"
	dmesg | tail -50
else
	echo "CLCP-VM: kernel pass"
fi
echo "CLCP-VM: guest time $start .. $(cut -d' ' -f1 /proc/uptime) s"
echo "CLCP-VM: done"
poweroff -f
