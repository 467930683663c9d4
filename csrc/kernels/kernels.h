// The public C++ API of hold-fast's kernels: raw pointers, sizes and an Exec (the CUDA stream).
// No torch, no Python, no allocation: the caller owns every buffer. Link hold::kernels
// (CMake) and call hold::kernels::cpu::… with host pointers, or hold::kernels::cuda::… with
// device pointers when the library was built with HOLD_WITH_CUDA.
#pragma once

#include <cstdint>

#include "core/exec.h"
#include "core/hashgrid.h"
#include "core/march.h"
#include "core/occupancy.h"
#include "core/skinning.h"
#include "core/volrend.h"

#ifndef HOLD_WITH_CUDA
#define HOLD_WITH_CUDA 0
#endif

namespace hold::kernels {

// kernels_api.inc holds the declarations once; it is expanded for each backend namespace.
namespace cpu {
#include "kernels/kernels_api.inc"
}  // namespace cpu

#if HOLD_WITH_CUDA
namespace cuda {
#include "kernels/kernels_api.inc"
}  // namespace cuda
#endif

}  // namespace hold::kernels
