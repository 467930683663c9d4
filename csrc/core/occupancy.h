// Occupancy grids (instant-NGP's density grid, nerfacc's OccGridEstimator): per-element math of
// the decay-then-max update and of packing the thresholded grid into a bitfield.
#pragma once

#include <cstdint>

#include "core/atomic.h"
#include "core/macros.h"

namespace hold::core {

/// Splat a fresh value into its cell's slot of `fresh` (several values may share a cell; they
/// combine by max). fresh [C] starts at -inf. Scatters: launch with parallel_for_scatter.
template <typename T>
HOLD_HD void occgrid_splat(int64_t cell, T value, T* fresh) {
  scatter_max(fresh + cell, value);
}

/// density_out = max(density · decay, fresh) where the cell got a fresh value, else unchanged
/// (instant-NGP: "maximum instead of EMA allows capture of very thin features").
template <typename T>
HOLD_HD T occgrid_decay_max(T density, T fresh, T decay) {
  if (!(fresh > -huge_float<T>())) return density;
  const T decayed = density * decay;
  return decayed > fresh ? decayed : fresh;
}

/// Byte `b` of the bitfield: bit k set iff density[8b + k] > threshold. density [C], C % 8 == 0.
template <typename T>
HOLD_HD uint8_t occgrid_pack_byte(const T* density, int64_t b, T threshold) {
  uint8_t byte = 0;
  for (int k = 0; k < 8; ++k) byte |= uint8_t(density[8 * b + k] > threshold) << k;
  return byte;
}

}  // namespace hold::core
