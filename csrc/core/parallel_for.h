// The only place that knows how work is spread over threads: OpenMP on the host, a grid-stride
// kernel on CUDA. Every launcher in csrc/kernels goes through these helpers, so the CUDA path
// differs from the CPU path in the launch only. Bodies capture by value.
#pragma once

#include <algorithm>
#include <cstdint>

#include "core/exec.h"
#include "core/macros.h"

#if defined(_OPENMP) && !defined(__CUDACC__)
#include <omp.h>
#endif

#if defined(__CUDACC__)
#include <stdexcept>
#include <string>
#endif

namespace hold {

#if defined(__CUDACC__)

/// Throws std::runtime_error with file and line when a CUDA call fails (never drops it).
#define HOLD_CUDA_CHECK(expr)                                                                \
  do {                                                                                       \
    cudaError_t hold_err_ = (expr);                                                          \
    if (hold_err_ != cudaSuccess)                                                            \
      throw std::runtime_error(std::string("CUDA error ") + cudaGetErrorString(hold_err_) + \
                               " at " + __FILE__ + ":" + std::to_string(__LINE__));          \
  } while (0)

template <typename F>
__global__ void parallel_for_kernel(int64_t n, F f) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n;
       i += (int64_t)blockDim.x * gridDim.x)
    f(i);
}

/// f(i) for i in [0, n).
template <typename F>
void parallel_for(int64_t n, F f, const Exec& ex) {
  if (n <= 0) return;
  constexpr int kThreads = 256;
  const unsigned blocks = (unsigned)std::min<int64_t>((n + kThreads - 1) / kThreads, 65535);
  parallel_for_kernel<<<blocks, kThreads, 0, (cudaStream_t)ex.stream>>>(n, f);
  HOLD_CUDA_CHECK(cudaGetLastError());
}

/// f(prepare(level), i) for every level in [0, n_levels) and i in [0, n): prepare builds the
/// per-level constants. Consecutive threads share a level (tiny-cuda-nn's blockIdx.y = level
/// layout), so one level's table is hot in L2.
template <typename P, typename F>
void parallel_for_levels(int64_t n, int n_levels, P prepare, F f, const Exec& ex) {
  parallel_for(
      n * n_levels, [=] __device__(int64_t k) { f(prepare((int)(k / n)), k % n); }, ex);
}

/// f(i) for i in [0, n) for cheap scatter passes; bodies use the atomic core::scatter_* ops.
template <typename F>
void parallel_for_scatter(int64_t n, F f, const Exec& ex) {
  parallel_for(n, f, ex);
}

/// Same visiting order; bodies may scatter with core::scatter_add, which is atomic here.
template <typename P, typename F>
void parallel_for_owned_levels(int64_t n, int n_levels, P prepare, F f, const Exec& ex) {
  parallel_for_levels(n, n_levels, prepare, f, ex);
}

#else  // host

/// f(i) for i in [0, n), static OpenMP schedule.
template <typename F>
void parallel_for(int64_t n, F f, const Exec&) {
  if (n <= 0) return;
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) f(i);
}

/// f(prepare(level), i) for every level and i. Threads take blocks of points; inside a block
/// the level loop is outermost, so prepare runs once per level and block and each level's table
/// stays in cache while the block walks it.
template <typename P, typename F>
void parallel_for_levels(int64_t n, int n_levels, P prepare, F f, const Exec&) {
  if (n <= 0) return;
  constexpr int64_t kBlock = 16384;
  const int64_t n_blocks = (n + kBlock - 1) / kBlock;
#pragma omp parallel for schedule(static)
  for (int64_t b = 0; b < n_blocks; ++b) {
    const int64_t end = std::min(n, (b + 1) * kBlock);
    for (int level = 0; level < n_levels; ++level) {
      const auto ctx = prepare(level);
      for (int64_t i = b * kBlock; i < end; ++i) f(ctx, i);
    }
  }
}

/// f(i) for i in [0, n) in one thread, in index order: for cheap scatter passes whose bodies
/// use core::scatter_* (plain read-modify-write on the host). Deterministic by construction.
template <typename F>
void parallel_for_scatter(int64_t n, F f, const Exec&) {
  for (int64_t i = 0; i < n; ++i) f(i);
}

/// f(level, i) where each thread owns whole levels (level mod thread count), so scatters into
/// a level's rows need no atomics and every row sees its points in index order: the result is
/// deterministic and independent of the thread count. Points are walked in blocks, all of a
/// thread's levels per block, so per-point inputs ([N, L·F] gradients) are read from cache
/// rather than streamed once per level.
template <typename P, typename F>
void parallel_for_owned_levels(int64_t n, int n_levels, P prepare, F f, const Exec&) {
  if (n <= 0) return;
  constexpr int64_t kBlock = 16384;
#pragma omp parallel
  {
#ifdef _OPENMP
    const int thread = omp_get_thread_num(), n_threads = omp_get_num_threads();
#else
    const int thread = 0, n_threads = 1;
#endif
    for (int64_t start = 0; start < n; start += kBlock) {
      const int64_t end = std::min(n, start + kBlock);
      for (int level = thread; level < n_levels; level += n_threads) {
        const auto ctx = prepare(level);
        for (int64_t i = start; i < end; ++i) f(ctx, i);
      }
    }
  }
}

#endif

/// The forms without per-level constants: f(level, i).
template <typename F>
void parallel_for_levels(int64_t n, int n_levels, F f, const Exec& ex) {
  parallel_for_levels(n, n_levels, [] HOLD_DEVICE_LAMBDA(int level) { return level; }, f, ex);
}

template <typename F>
void parallel_for_owned_levels(int64_t n, int n_levels, F f, const Exec& ex) {
  parallel_for_owned_levels(n, n_levels, [] HOLD_DEVICE_LAMBDA(int level) { return level; }, f,
                            ex);
}

}  // namespace hold
