// Execution context handed to every launcher: which stream to use on CUDA. The CPU ignores it.
#pragma once

namespace hold {

/// Where a launcher runs. On CUDA `stream` is a `cudaStream_t` (nullptr = the default stream);
/// on the CPU it is unused and the OpenMP thread count (torch.set_num_threads /
/// OMP_NUM_THREADS) decides the parallelism.
struct Exec {
  void* stream = nullptr;
};

}  // namespace hold
