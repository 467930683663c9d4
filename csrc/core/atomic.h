// Accumulation into memory that several elements may touch (gradient scatters).
#pragma once

#include "core/macros.h"

namespace hold::core {

/// *dst += v for scatter bodies. On the device this is atomicAdd (float: sm_20+, double:
/// sm_60+). On the host it is a plain add: host launchers that run scatter bodies
/// (`parallel_for_owned_levels`) give each thread exclusive ownership of the destination
/// rows, which also makes the CPU result independent of scheduling (bitwise reproducible).
template <typename T>
HOLD_HD void scatter_add(T* dst, T v) {
#if HOLD_DEVICE_CODE
  atomicAdd(dst, v);
#else
  *dst += v;
#endif
}

}  // namespace hold::core
