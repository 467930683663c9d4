// Volume-rendering launchers (compiled as volrend_cpu.cpp and volrend_cuda.cu): one thread per
// ray over its packed samples.
#pragma once

#include "core/parallel_for.h"
#include "core/volrend.h"
#include "kernels/kernels.h"

namespace hold::kernels::HOLD_BACKEND_NS {

template <typename T>
void composite_fwd(const Exec& ex, const core::CompositeInputs<T>& in, int64_t n_rays,
                   const int64_t* packed, T* out_rgb, T* out_depth, T* out_opacity, T* out_node,
                   T* weights, T* trans) {
  parallel_for(
      n_rays,
      [=] HOLD_DEVICE_LAMBDA(int64_t r) {
        core::composite_ray_fwd(in, r, packed[2 * r], packed[2 * r + 1], out_rgb + 3 * r,
                                out_depth + r, out_opacity + r, out_node + r * in.n_nodes,
                                weights, trans);
      },
      ex);
}

template <typename T>
void composite_bwd(const Exec& ex, const core::CompositeInputs<T>& in,
                   const core::CompositeGrads<T>& grads, int64_t n_rays, const int64_t* packed,
                   const T* weights, const T* trans, T* grad_sdf, T* grad_beta_sample,
                   T* grad_rgb, T* grad_bg) {
  parallel_for(
      n_rays,
      [=] HOLD_DEVICE_LAMBDA(int64_t r) {
        core::composite_ray_bwd(in, grads, r, packed[2 * r], packed[2 * r + 1], weights, trans,
                                grad_sdf, grad_beta_sample, grad_rgb,
                                in.bg ? grad_bg + 3 * r : nullptr);
      },
      ex);
}

template <typename T>
void merge_samples(const Exec& ex, int64_t n_rays, const int64_t* packed_a, const T* mid_a,
                   int64_t n_a, const int64_t* packed_b, const T* mid_b,
                   const int64_t* packed_out, int64_t* order) {
  parallel_for(
      n_rays,
      [=] HOLD_DEVICE_LAMBDA(int64_t r) {
        core::merge_ray(mid_a, packed_a[2 * r], packed_a[2 * r + 1], mid_b, packed_b[2 * r],
                        packed_b[2 * r + 1], n_a, packed_out[2 * r], order);
      },
      ex);
}

#define HOLD_INSTANTIATE_VOLREND(T)                                                           \
  template void composite_fwd<T>(const Exec&, const core::CompositeInputs<T>&, int64_t,       \
                                 const int64_t*, T*, T*, T*, T*, T*, T*);                     \
  template void composite_bwd<T>(const Exec&, const core::CompositeInputs<T>&,                \
                                 const core::CompositeGrads<T>&, int64_t, const int64_t*,     \
                                 const T*, const T*, T*, T*, T*, T*);                         \
  template void merge_samples<T>(const Exec&, int64_t, const int64_t*, const T*, int64_t,     \
                                 const int64_t*, const T*, const int64_t*, int64_t*);
HOLD_INSTANTIATE_VOLREND(float)
HOLD_INSTANTIATE_VOLREND(double)
#undef HOLD_INSTANTIATE_VOLREND

}  // namespace hold::kernels::HOLD_BACKEND_NS
