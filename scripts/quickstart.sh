#!/usr/bin/env bash
# First run: installs what is missing (as root, Debian/Ubuntu), builds the
# library and tools into build-quick/, and runs clcp_pingpong: two processes
# on the loopback backend, latency and bandwidth over message sizes in
# polling and interrupt mode, against a shared-memory floor.
set -euo pipefail

cd "$(dirname "$0")/.."
"$PWD/scripts/deps.sh" build
cmake -G Ninja -S . -B build-quick -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	-DCLCP_TESTS=OFF
cmake --build build-quick -j "${CLCP_JOBS:-2}"
exec build-quick/tools/clcp_pingpong "$@"
