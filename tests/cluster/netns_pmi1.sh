#!/usr/bin/env bash
# The bootstrap across hosts, two network namespaces standing in for them
# (joined by a veth pair, 10.78.0.1 and 10.78.0.2): pmi1_launch starts 2
# ranks of clcp_alltoall, rank 0 in the first namespace, rank 1 in the
# second, each finding its address itself (the first interface up, not
# loopback). Open MPI's mpirun cannot do this: its PMIx server listens on
# 127.0.0.1 of its own namespace, out of the ranks' reach. Needs root and
# ip (iproute2): without them it FAILS, it never skips.
#
#   netns_pmi1.sh PMI1_LAUNCH ALLTOALL
#   netns_pmi1.sh --rank NS_PREFIX PROGRAM [ARGS...]   (per rank, internal)
set -euo pipefail

if [ "$1" = --rank ]; then # rank r runs in namespace ${prefix}a or b
	prefix=$2
	shift 2
	ns=${prefix}a
	[ "${PMI_RANK:-0}" = 1 ] && ns=${prefix}b
	exec ip netns exec "$ns" "$@"
fi
launch=$1 prog=$2
. "$(dirname "$0")/../../scripts/netns_lib.sh"
tag=clcpb$$

fail() {
	echo "netns_pmi1.sh: FAIL: $*" >&2
	exit 1
}

[ "$(id -u)" -eq 0 ] || fail "needs root (network namespaces)"
command -v ip >/dev/null || fail "needs ip (iproute2)"
netns_reap clcpb # namespaces of runs that died without cleaning up
trap 'netns_pair_del "$tag"' EXIT
netns_pair "$tag" 10.78.0.1 10.78.0.2 || fail "namespaces and veth pair"

out=$(timeout -k 5 60 "$launch" 2 "$0" --rank "$tag" "$prog" 2>&1) || true
echo "$out"
echo "$out" | grep -q '^pmi1_launch: 2 ranks, 2 keys put: all ok$' || fail "the ranks did not all pass"
# The namespaces share nothing but the veth: the messages went over it.
pkts=$(ip -n "${tag}a" -s link show "${tag}va" | awk '/TX:/ {getline; print $2}')
echo "netns_pmi1.sh: ${pkts:-?} packets sent over the veth from the first namespace"
[ "${pkts:-0}" -ge 64 ] || fail "too few packets over the veth"
echo "netns_pmi1.sh: passed"
