// Occupancy-grid launchers (compiled as occgrid_cpu.cpp and occgrid_cuda.cu).
#pragma once

#include "core/occupancy.h"
#include "core/parallel_for.h"
#include "kernels/kernels.h"

namespace hold::kernels::HOLD_BACKEND_NS {

template <typename T>
void occgrid_update(const Exec& ex, int64_t n_cells, const T* density, int64_t n_values,
                    const int64_t* cells, const T* values, T decay, T* fresh, T* density_out) {
  parallel_for(n_cells, [=] HOLD_DEVICE_LAMBDA(int64_t i) { fresh[i] = -core::huge_float<T>(); },
               ex);
  parallel_for_scatter(
      n_values,
      [=] HOLD_DEVICE_LAMBDA(int64_t i) { core::occgrid_splat(cells[i], values[i], fresh); }, ex);
  parallel_for(
      n_cells,
      [=] HOLD_DEVICE_LAMBDA(int64_t i) {
        density_out[i] = core::occgrid_decay_max(density[i], fresh[i], decay);
      },
      ex);
}

template <typename T>
void occgrid_pack(const Exec& ex, int64_t n_cells, const T* density, T threshold,
                  uint8_t* bits) {
  parallel_for(
      n_cells / 8,
      [=] HOLD_DEVICE_LAMBDA(int64_t b) { bits[b] = core::occgrid_pack_byte(density, b, threshold); },
      ex);
}

void occgrid_mip(const Exec& ex, int64_t n_grids, int res, int factor, const uint8_t* bits,
                 uint8_t* mip) {
  const int coarse = res / factor;
  const int64_t coarse_bytes = ((int64_t)coarse * coarse * coarse + 7) / 8;
  const int64_t fine_bytes = (int64_t)res * res * res / 8;
  // One thread per output byte: it owns its 8 bits, so no atomics are needed.
  parallel_for(
      n_grids * coarse_bytes,
      [=] HOLD_DEVICE_LAMBDA(int64_t i) {
        const int64_t g = i / coarse_bytes, byte = i % coarse_bytes;
        const int64_t n_coarse = (int64_t)coarse * coarse * coarse;
        uint8_t value = 0;
        for (int b = 0; b < 8; ++b) {
          const int64_t c = 8 * byte + b;
          if (c < n_coarse && core::occgrid_mip_cell(bits + g * fine_bytes, res, factor, c))
            value |= uint8_t(1u << b);
        }
        mip[i] = value;
      },
      ex);
}

#define HOLD_INSTANTIATE_OCCGRID(T)                                                            \
  template void occgrid_update<T>(const Exec&, int64_t, const T*, int64_t, const int64_t*,     \
                                  const T*, T, T*, T*);                                        \
  template void occgrid_pack<T>(const Exec&, int64_t, const T*, T, uint8_t*);
HOLD_INSTANTIATE_OCCGRID(float)
HOLD_INSTANTIATE_OCCGRID(double)
#undef HOLD_INSTANTIATE_OCCGRID

}  // namespace hold::kernels::HOLD_BACKEND_NS
