#!/usr/bin/env bash
# Compile-only check of the CUDA kernels (no GPU needed): builds hold::kernels with nvcc for
# sm_80 and sm_90 (+ sm_90 PTX) through CMake. Catches __host__ __device__ mistakes in csrc/core
# and csrc/kernels on GPU-less CI. Usage: tools/check_cuda_compile.sh [build-dir]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$root/build/cuda-check}"
command -v nvcc >/dev/null || { echo "check_cuda_compile: nvcc not found on PATH" >&2; exit 1; }
start=$(date +%s)
cmake -S "$root" -B "$build" -G Ninja -DHOLD_WITH_CUDA=ON -DHOLD_BUILD_TESTS=OFF \
  -DHOLD_BUILD_EXAMPLES=OFF -DCMAKE_CUDA_ARCHITECTURES="80-real;90-real;90-virtual" >/dev/null
cmake --build "$build" --target hold_kernels
n_cu=$(find "$root/csrc/kernels" -name '*_cuda.cu' | wc -l)
n_obj=$(find "$build" -name '*_cuda.cu.o' | wc -l)
if [ "$n_cu" != "$n_obj" ]; then
  echo "check_cuda_compile: $n_cu .cu files but $n_obj objects" >&2
  exit 1
fi
echo "check_cuda_compile: $n_obj CUDA units built for sm_80, sm_90 (+PTX) in $(( $(date +%s) - start )) s"
