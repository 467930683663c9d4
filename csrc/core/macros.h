// Portability macros shared by every per-element function (host g++ and device nvcc).
#pragma once

#if defined(__CUDACC__)
#define HOLD_HD __host__ __device__ __forceinline__
#define HOLD_DEVICE_LAMBDA __device__  // needs nvcc --extended-lambda
#define HOLD_BACKEND_NS cuda
#else
#define HOLD_HD inline
#define HOLD_DEVICE_LAMBDA
#define HOLD_BACKEND_NS cpu
#endif

#if defined(__CUDACC__) || defined(__GNUC__) || defined(__clang__)
#define HOLD_RESTRICT __restrict__
#else
#define HOLD_RESTRICT
#endif

// True while compiling device code (the second nvcc pass); host code and g++ see false.
#if defined(__CUDA_ARCH__)
#define HOLD_DEVICE_CODE 1
#else
#define HOLD_DEVICE_CODE 0
#endif
