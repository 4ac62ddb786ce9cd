#!/usr/bin/env bash
# Kernel-path fault test: two network namespaces joined by a veth pair, on
# each end a tc clsact egress BPF program (fault.bpf.c: UDP loss,
# duplication, corruption), then over udp between the namespaces:
#   conformance  the conformance suite (instance udpns) with FILTER
#   stream       fault_stream: 10,000 messages of 1 B..1 MiB, intact, once, in order
#   kill         fault_stream --kill: a peer killed halfway, the survivor sees -ECONNRESET
# The namespaces get unique names and go on every exit path (those of
# earlier runs that were killed go first). Needs root, ip, tc: without them
# it FAILS (CI runs as root), it never skips.
#
# CLCP_NETNS_MODE=xdp runs the nodes in the udp backend's AF_XDP mode
# (conformance instance udpxdp, CLCP_UDP_MODE=xdp), =mix those of the first
# namespace in AF_XDP mode and those of the second on sockets (instance
# udpmix). The ring's packets leave by the driver directly, past the tc
# program: the nodes drop CLCP_UDP_TEST_LOSS of what they send themselves
# instead (5 % unless set), and the run must show datagrams through the
# AF_XDP sockets and frames resent; in AF_XDP mode, except in kill, data
# frames the kernel wrote straight into their Rx buffer (xdp_rx_inplace) and
# data frames sent from their store slot in the UMEM (xdp_tx_inplace).
# CLCP_NETNS_EXPECT="NAME=VALUE ...": every node's counter NAME must read
# VALUE at its close (the rings' sizes, xdp_ring_rx and xdp_ring_tx).
#
#   netns.sh conformance|stream|kill BPF_OBJECT PROGRAM [ARGS...]
set -euo pipefail

what=$1 bpf=$2 prog=$3
mode=${CLCP_NETNS_MODE:-}
case $mode in
'') instance=udpns ;;
xdp) instance=udpxdp ;;
mix) instance=udpmix ;;
*) echo "netns.sh: FAIL: CLCP_NETNS_MODE=$mode is not xdp or mix" >&2; exit 1 ;;
esac
if [ -n "$mode" ]; then
	export CLCP_UDP_TEST_LOSS=${CLCP_UDP_TEST_LOSS:-50}
	[ "$mode" = xdp ] && export CLCP_UDP_MODE=xdp
fi
shift 3
. "$(dirname "$0")/../../scripts/netns_lib.sh"
tag=clcpf$$
ns_a=${tag}a ns_b=${tag}b
addr_a=10.77.0.1 addr_b=10.77.0.2

fail() {
	echo "netns.sh: FAIL: $*" >&2
	exit 1
}

[ "$(id -u)" -eq 0 ] || fail "needs root (network namespaces, tc)"
command -v ip >/dev/null && command -v tc >/dev/null || fail "needs ip and tc (iproute2)"
[ -r "$bpf" ] || fail "no BPF object $bpf (clang -target bpf)"

netns_reap clcpf # namespaces of runs that died without cleaning up

log=$(mktemp)
cleanup() {
	netns_pair_del "$tag"
	rm -f "$log"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Jumbo frames: a 4 KiB frame is one packet (IP fragments would multiply the loss).
# CLCP_NETNS_MTU=1500 lets a veth run XDP natively (larger MTUs: generic XDP only).
netns_pair "$tag" "$addr_a" "$addr_b" "${CLCP_NETNS_MTU:-9000}" || fail "namespaces and veth pair"
for side in a b; do
	ns=${tag}$side dev=${tag}v$side
	# ICMP errors unthrottled (the default is one a second per destination after a
	# burst of 6): a dead peer's port unreachable reaches every test running at once.
	ip netns exec "$ns" sysctl -qw net.ipv4.icmp_ratelimit=0 || fail "sysctl in $ns"
	ip netns exec "$ns" tc qdisc add dev "$dev" clsact || fail "tc clsact on $dev"
	ip netns exec "$ns" tc filter add dev "$dev" egress bpf direct-action obj "$bpf" sec tc ||
		fail "tc BPF program on $dev"
done
echo "namespaces $ns_a ($addr_a) and $ns_b ($addr_b), veth ${tag}va-${tag}vb, BPF faults on both egresses"

# Packets the BPF program dropped (TC_ACT_SHOT shows in the clsact qdisc's counters).
dropped() {
	ip netns exec "$1" tc -s qdisc show dev "$2" | awk '/ingress|clsact/ {q=1} q && /dropped/ {
		for (i = 1; i <= NF; i++) if ($i == "(dropped") { gsub(",", "", $(i + 1)); print $(i + 1); exit } }'
}

rc=0
case $what in
conformance)
	CLCP_TEST_BACKENDS=$instance CLCP_TEST_NETNS="$ns_a,$ns_b,$addr_a,$addr_b" CLCP_UDP_STATS=1 \
		"$prog" "$@" >"$log" 2>&1 || rc=$?
	# The nodes' counters only when something failed: they tell why a peer was declared gone.
	if [ $rc -eq 0 ]; then grep -v '^clcp udp node' "$log" || true; else cat "$log"; fi
	grep -q 'Synthesis: Tested: [1-9]' "$log" || fail "the conformance suite ran no test"
	;;
stream | kill)
	"$prog" --netns "$ns_a,$ns_b" --addr "$addr_a,$addr_b" "$@" >"$log" 2>&1 || rc=$?
	cat "$log"
	;;
*)
	fail "unknown test $what"
	;;
esac

# The faults must have happened, or the run proved nothing (a killed node
# prints no counters: there only the drops are checked).
da=$(dropped "$ns_a" "${tag}va") db=$(dropped "$ns_b" "${tag}vb")
dups=$(sed -nE 's/.*dups ([0-9]+).*/\1/p' "$log" | awk '{s += $1} END {print s + 0}')
crc=$(sed -nE 's/.* drop_crc ([0-9]+).*/\1/p' "$log" | awk '{s += $1} END {print s + 0}')
csum=$(for ns in "$ns_a" "$ns_b"; do ip netns exec "$ns" awk '/^Udp: [0-9]/ {print $8}' /proc/net/snmp; done |
	awk '{s += $1} END {print s + 0}')
echo "kernel path: BPF dropped ${da:-?} + ${db:-?} packets; duplicates dropped by clcp: $dups;" \
	"corrupt: $crc dropped by clcp's CRC32C, $csum by the kernel's UDP checksum"
sum() { sed -nE "s/.* $1 ([0-9]+).*/\1/p" "$log" | awk '{s += $1} END {print s + 0}'; }
if [ -n "$mode" ]; then
	xtx=$(sum xdp_tx) xrx=$(sum xdp_rx) rex=$(sum rexmits)
	echo "AF_XDP ($mode): $xtx datagrams sent and $xrx received through the rings; $rex frames resent" \
		"(CLCP_UDP_TEST_LOSS=$CLCP_UDP_TEST_LOSS per mille)"
	[ "$xtx" -gt 0 ] && [ "$xrx" -gt 0 ] || fail "no datagram went through an AF_XDP socket"
	[ "$what" = kill ] || [ "$rex" -gt 0 ] || fail "nothing was resent: no loss happened"
fi
if [ "$mode" = xdp ] && [ "$what" != kill ]; then
	inp=$(sum xdp_rx_inplace) cop=$(sum xdp_rx_copied) txp=$(sum xdp_tx_inplace)
	echo "AF_XDP: $inp data frames received in place, $cop copied into their Rx buffer;" \
		"$txp sent from their store slot"
	[ "$inp" -gt 0 ] || fail "no data frame was received in place"
	[ "$txp" -gt 0 ] || fail "no data frame was sent from its store slot"
fi
for kv in ${CLCP_NETNS_EXPECT:-}; do
	nodes=$(grep -c '^clcp udp node' "$log" || true)
	good=$(grep '^clcp udp node' "$log" | grep -c " ${kv%%=*} ${kv#*=} " || true)
	echo "counter ${kv%%=*}: $good of $nodes nodes read ${kv#*=}"
	[ "$nodes" -gt 0 ] && [ "$good" -eq "$nodes" ] ||
		fail "counter ${kv%%=*} is not ${kv#*=} everywhere"
done
if [ "$mode" = xdp ]; then
	: # the ring's packets pass no tc program: the checks below are the socket path's
elif [ "$mode" = mix ]; then
	[ $((${da:-0} + ${db:-0})) -gt 0 ] || fail "the BPF program dropped nothing"
else
	[ "${da:-0}" -gt 0 ] && [ "${db:-0}" -gt 0 ] || fail "the BPF program dropped nothing"
fi
if [ "$what" != kill ] && [ "$mode" != xdp ]; then
	[ "$dups" -gt 0 ] || fail "no duplicate reached clcp"
	[ $((crc + csum)) -gt 0 ] || fail "no corrupted packet was caught"
fi
[ $rc -eq 0 ] || fail "$what: exit status $rc"
echo "netns.sh $what: passed"
