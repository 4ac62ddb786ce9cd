#!/usr/bin/env bash
# Installs what CLCP needs on Debian/Ubuntu, only what is missing (apt-get
# update runs once, and only then). As non-root, or without apt, it lists
# what is missing and fails.
#   deps.sh          building and testing (gcc, clang, g++, Criterion; llvm
#                    for llvm-mc, which reads the LANai firmware image back;
#                    libclang-rt-dev: clang's sanitizer and libFuzzer runtimes,
#                    only recommended by clang; iproute2 for the fault tests:
#                    ip netns, veth, tc clsact with a BPF program that clang
#                    builds with -target bpf; libxdp-dev and libbpf-dev: the
#                    udp backend's AF_XDP mode and its tests; the kernel driver's VM test,
#                    tests/vm/run.sh: Debian's kernel image and the headers
#                    of the same version, qemu, a static busybox, cpio,
#                    sparse; the benchmark scripts' check: gnuplot, and the
#                    peers UCX, libfabric and sockperf; openmpi-bin and
#                    libpmix-dev for the cluster tests: clcp_alltoall under
#                    mpirun, through the udp backend's PMIx bootstrap,
#                    docs/cluster.md)
#   deps.sh build    building the library and tools only
set -euo pipefail

pkgs=(cmake ninja-build gcc libc6-dev)
[ "${1:-}" = build ] || pkgs+=(g++ clang llvm libclang-rt-dev libcriterion-dev pkg-config iproute2
	libxdp-dev libbpf-dev
	linux-image-amd64 linux-headers-amd64 qemu-system-x86 busybox-static cpio make sparse
	gnuplot-nox ucx-utils libfabric-bin sockperf openmpi-bin libpmix-dev)
missing=()

if ! command -v dpkg-query >/dev/null; then
	for c in cmake ninja gcc; do
		command -v "$c" >/dev/null || missing+=("$c")
	done
	if [ ${#missing[@]} -gt 0 ]; then
		echo "deps.sh: not a Debian system; install: ${missing[*]}" >&2
		exit 1
	fi
	exit 0
fi

for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
		missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
	echo "deps.sh: missing packages: ${missing[*]}" >&2
	echo "deps.sh: as root: apt-get install ${missing[*]}" >&2
	exit 1
fi
echo "deps.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends "${missing[@]}"
