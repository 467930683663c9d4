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

#define HOLD_INSTANTIATE_OCCGRID(T)                                                            \
  template void occgrid_update<T>(const Exec&, int64_t, const T*, int64_t, const int64_t*,     \
                                  const T*, T, T*, T*);                                        \
  template void occgrid_pack<T>(const Exec&, int64_t, const T*, T, uint8_t*);
HOLD_INSTANTIATE_OCCGRID(float)
HOLD_INSTANTIATE_OCCGRID(double)
#undef HOLD_INSTANTIATE_OCCGRID

}  // namespace hold::kernels::HOLD_BACKEND_NS
