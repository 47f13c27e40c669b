#!/usr/bin/env bash
# The mpi backend against a raw MPI master/worker loop: mpirun -np 3 on loopback.
# Usage: bench/mpi_bench.sh [BUILD_DIR]; REPS=N (default 7).
set -euo pipefail
build=${1:-build/release}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export OMPI_MCA_btl=self,vader OMPI_MCA_oob_tcp_if_include=lo
echo "machine: $(nproc) cores, $(uname -r); $(mpirun --version | head -1)"
mpirun -np 3 "$build/bench/mpi_bench" "${REPS:-7}"
