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

/// A value below every density/alpha the grids store; -inf would trip fast-math builds.
template <typename T>
HOLD_HD T huge_float() {
  return T(3.0e38);
}

/// *dst = max(*dst, v). Device: compare-and-swap loop on the value's bits (works for any sign).
/// Host: plain max, safe under the serial host launch of parallel_for_scatter.
HOLD_HD void scatter_max(float* dst, float v) {
#if HOLD_DEVICE_CODE
  int* addr = (int*)dst;
  int old = *addr;
  while (__int_as_float(old) < v) {
    const int assumed = old;
    old = atomicCAS(addr, assumed, __float_as_int(v));
    if (old == assumed) break;
  }
#else
  if (*dst < v) *dst = v;
#endif
}

HOLD_HD void scatter_max(double* dst, double v) {
#if HOLD_DEVICE_CODE
  unsigned long long* addr = (unsigned long long*)dst;
  unsigned long long old = *addr;
  while (__longlong_as_double((long long)old) < v) {
    const unsigned long long assumed = old;
    old = atomicCAS(addr, assumed, (unsigned long long)__double_as_longlong(v));
    if (old == assumed) break;
  }
#else
  if (*dst < v) *dst = v;
#endif
}

}  // namespace hold::core
