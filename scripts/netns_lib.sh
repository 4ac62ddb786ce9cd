# Two network namespaces joined by a veth pair, for the udp backend's tests
# and benchmarks (sourced; needs root and iproute2):
#   netns_pair TAG ADDR_A ADDR_B [MTU]  namespaces TAGa and TAGb, the veth
#                                       TAGva (in TAGa, ADDR_A/24) and TAGvb
#                                       (in TAGb, ADDR_B/24), loopbacks up,
#                                       both ends' carrier up (a program
#                                       started at once sees the veth
#                                       running); nonzero when a step fails
#   netns_pair_del TAG                  removes them (for the caller's trap)
#   netns_reap PREFIX                   removes the pairs PREFIX<pid> of runs
#                                       that died without cleaning up

netns_pair() {
	local tag=$1 side addr

	ip netns add "${tag}a" && ip netns add "${tag}b" &&
		ip link add "${tag}va" netns "${tag}a" type veth peer name "${tag}vb" netns "${tag}b" ||
		return 1
	for side in a b; do
		[ "$side" = a ] && addr=$2 || addr=$3
		ip -n "$tag$side" link set lo up &&
			ip -n "$tag$side" addr add "$addr/24" dev "${tag}v$side" &&
			{ [ -z "${4:-}" ] || ip -n "$tag$side" link set "${tag}v$side" mtu "$4"; } &&
			ip -n "$tag$side" link set "${tag}v$side" up || return 1
	done
	netns_carrier "$tag"
}

# Waits up to 2 s for both ends of TAG's veth to report state UP.
netns_carrier() {
	local i

	for i in $(seq 100); do
		ip -n "${1}a" link show "${1}va" | grep -q "state UP" &&
			ip -n "${1}b" link show "${1}vb" | grep -q "state UP" && return 0
		sleep 0.02
	done
	return 1
}

netns_pair_del() {
	ip netns del "${1}a" 2>/dev/null || true
	ip netns del "${1}b" 2>/dev/null || true
}

netns_reap() {
	local ns pid

	for ns in $(ip netns list | awk -v p="$1" '$1 ~ "^" p "[0-9]+[ab]$" { print $1 }'); do
		pid=${ns#"$1"}
		pid=${pid%?}
		kill -0 "$pid" 2>/dev/null || ip netns del "$ns" 2>/dev/null || true
	done
}
