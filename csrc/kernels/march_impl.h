// Ray-marching launchers (compiled as march_cpu.cpp and march_cuda.cu): one thread per ray, the
// same march_ray_of body for the count pass and the fill pass, so both agree sample for sample.
#pragma once

#include "core/march.h"
#include "core/parallel_for.h"
#include "kernels/kernels.h"

namespace hold::kernels::HOLD_BACKEND_NS {

template <typename T>
void march_count(const Exec& ex, const core::MarchRays<T>& rays, int64_t* counts) {
  parallel_for(
      rays.n_rays,
      [=] HOLD_DEVICE_LAMBDA(int64_t r) {
        counts[r] = core::march_ray_of(rays, r, [](int, T, T) {});
      },
      ex);
}

template <typename T>
void march_fill(const Exec& ex, const core::MarchRays<T>& rays, const int64_t* offsets,
                int64_t* ray_indices, T* t_starts, T* t_ends) {
  parallel_for(
      rays.n_rays,
      [=] HOLD_DEVICE_LAMBDA(int64_t r) {
        const int64_t base = offsets[r];
        core::march_ray_of(rays, r, [&](int k, T t0, T t1) {
          ray_indices[base + k] = r;
          t_starts[base + k] = t0;
          t_ends[base + k] = t1;
        });
      },
      ex);
}

#define HOLD_INSTANTIATE_MARCH(T)                                                           \
  template void march_count<T>(const Exec&, const core::MarchRays<T>&, int64_t*);           \
  template void march_fill<T>(const Exec&, const core::MarchRays<T>&, const int64_t*,       \
                              int64_t*, T*, T*);
HOLD_INSTANTIATE_MARCH(float)
HOLD_INSTANTIATE_MARCH(double)
#undef HOLD_INSTANTIATE_MARCH

}  // namespace hold::kernels::HOLD_BACKEND_NS
