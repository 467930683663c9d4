// ATen glue for occupancy grids: the decay-then-max update and bit packing.
#include <ATen/Dispatch.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>
#include <torch/library.h>

#include "kernels/kernels.h"
#include "torch/common.h"

namespace hold::torch_ops {
namespace {

template <bool kCuda>
at::Tensor occgrid_update(const at::Tensor& density, const at::Tensor& cells,
                          const at::Tensor& values, double decay) {
  constexpr const char* op = "occgrid_update";
  check_shape(op, "density", density, {-1});
  check_shape(op, "cells", cells, {-1});
  check_shape(op, "values", values, {cells.size(0)});
  check_float_tensors(op, {{"density", &density}, {"values", &values}});
  TORCH_CHECK(cells.scalar_type() == at::kLong, op, ": cells must be int64, got ",
              cells.scalar_type());
  TORCH_CHECK(cells.device() == density.device() && cells.is_contiguous(), op,
              ": cells must be contiguous on ", density.device());
  at::Tensor out = at::empty_like(density);
  at::Tensor fresh = at::empty_like(density);
  AT_DISPATCH_FLOATING_TYPES(density.scalar_type(), op, [&] {
    const auto* pd = density.data_ptr<scalar_t>();
    const auto* pc = cells.data_ptr<int64_t>();
    const auto* pv = values.data_ptr<scalar_t>();
    auto* pf = fresh.data_ptr<scalar_t>();
    auto* po = out.data_ptr<scalar_t>();
    if constexpr (kCuda) {
#if HOLD_WITH_CUDA
      const c10::cuda::CUDAGuard guard(density.device());
      kernels::cuda::occgrid_update<scalar_t>(exec_for(density), density.size(0), pd,
                                              cells.size(0), pc, pv, (scalar_t)decay, pf, po);
#endif
    } else {
      kernels::cpu::occgrid_update<scalar_t>(Exec{}, density.size(0), pd, cells.size(0), pc, pv,
                                             (scalar_t)decay, pf, po);
    }
  });
  return out;
}

template <bool kCuda>
at::Tensor occgrid_pack(const at::Tensor& density, double threshold) {
  constexpr const char* op = "occgrid_pack";
  check_shape(op, "density", density, {-1});
  check_float_tensors(op, {{"density", &density}});
  TORCH_CHECK(density.size(0) % 8 == 0, op, ": density must have a multiple of 8 cells, got ",
              density.size(0));
  at::Tensor bits = at::empty({density.size(0) / 8}, density.options().dtype(at::kByte));
  AT_DISPATCH_FLOATING_TYPES(density.scalar_type(), op, [&] {
    if constexpr (kCuda) {
#if HOLD_WITH_CUDA
      const c10::cuda::CUDAGuard guard(density.device());
      kernels::cuda::occgrid_pack<scalar_t>(exec_for(density), density.size(0),
                                            density.data_ptr<scalar_t>(), (scalar_t)threshold,
                                            bits.data_ptr<uint8_t>());
#endif
    } else {
      kernels::cpu::occgrid_pack<scalar_t>(Exec{}, density.size(0), density.data_ptr<scalar_t>(),
                                           (scalar_t)threshold, bits.data_ptr<uint8_t>());
    }
  });
  return bits;
}

}  // namespace
}  // namespace hold::torch_ops

TORCH_LIBRARY_IMPL(hold, CPU, m) {
  m.impl("occgrid_update", &hold::torch_ops::occgrid_update<false>);
  m.impl("occgrid_pack", &hold::torch_ops::occgrid_pack<false>);
}

#if HOLD_WITH_CUDA
TORCH_LIBRARY_IMPL(hold, CUDA, m) {
  m.impl("occgrid_update", &hold::torch_ops::occgrid_update<true>);
  m.impl("occgrid_pack", &hold::torch_ops::occgrid_pack<true>);
}
#endif
