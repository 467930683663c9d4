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

/// Coarse cell c of a mip: set iff any of its factor³ fine cells is set. bits [res³ / 8] fine
/// bitfield (cell x + y·res + z·res²); returns the bit of coarse cell c (index over (res/f)³).
HOLD_HD bool occgrid_mip_cell(const uint8_t* bits, int res, int factor, int64_t c) {
  const int coarse = res / factor;
  const int cx = (int)(c % coarse), cy = (int)((c / coarse) % coarse), cz = (int)(c / coarse / coarse);
  for (int z = cz * factor; z < (cz + 1) * factor; ++z)
    for (int y = cy * factor; y < (cy + 1) * factor; ++y)
      for (int x = cx * factor; x < (cx + 1) * factor; ++x) {
        const int64_t i = x + (int64_t)res * (y + (int64_t)res * z);
        if ((bits[i >> 3] >> (i & 7)) & 1) return true;
      }
  return false;
}

}  // namespace hold::core
