// ATen glue for the hash-grid encoding: checks, allocation, dtype dispatch, registration.
#include <ATen/Dispatch.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>
#include <ATen/ops/zeros_like.h>
#include <torch/library.h>

#include "kernels/kernels.h"
#include "torch/common.h"

namespace hold::torch_ops {
namespace {

constexpr const char* kOp = "hashgrid_encode";

core::HashGridLayout make_layout(int64_t n_levels, int64_t n_features, int64_t log2_table_size,
                                 int64_t base_resolution, double per_level_scale) {
  core::HashGridLayout layout;
  TORCH_CHECK(core::hashgrid_make_layout((int)n_levels, (int)n_features, (int)log2_table_size,
                                         (int)base_resolution, per_level_scale, &layout),
              kOp, ": unsupported grid (n_levels=", n_levels, " in [1, 32], n_features=",
              n_features, " in {1, 2, 4, 8}, log2_table_size=", log2_table_size,
              " in [4, 24], base_resolution=", base_resolution, " >= 2, per_level_scale=",
              per_level_scale, " >= 1)");
  return layout;
}

/// Checks x [N, 3] and params [P, F] against the layout; returns it.
core::HashGridLayout checked_layout(const at::Tensor& x, const at::Tensor& params,
                                    int64_t n_levels, int64_t log2_table_size,
                                    int64_t base_resolution, double per_level_scale) {
  check_shape(kOp, "x", x, {-1, 3});
  check_shape(kOp, "params", params, {-1, -1});
  check_float_tensors(kOp, {{"x", &x}, {"params", &params}});
  const auto layout = make_layout(n_levels, params.size(1), log2_table_size, base_resolution,
                                  per_level_scale);
  TORCH_CHECK(params.size(0) == layout.n_params, kOp, ": params must have ", layout.n_params,
              " rows for this grid, got ", params.size(0));
  return layout;
}

at::Tensor hashgrid_layout(int64_t n_levels, int64_t n_features, int64_t log2_table_size,
                           int64_t base_resolution, double per_level_scale) {
  const auto layout =
      make_layout(n_levels, n_features, log2_table_size, base_resolution, per_level_scale);
  at::Tensor table = at::empty({n_levels, 5}, at::TensorOptions().dtype(at::kDouble));
  auto a = table.accessor<double, 2>();
  for (int l = 0; l < n_levels; ++l) {
    a[l][0] = layout.scale[l];
    a[l][1] = layout.resolution[l];
    a[l][2] = layout.offset[l];
    a[l][3] = layout.offset[l + 1] - layout.offset[l];
    a[l][4] = layout.hashed[l] ? 1.0 : 0.0;
  }
  return table;
}

template <bool kCuda>
at::Tensor encode_fwd(const at::Tensor& x, const at::Tensor& params, int64_t n_levels,
                      int64_t log2_table_size, int64_t base_resolution, double per_level_scale) {
  const auto layout =
      checked_layout(x, params, n_levels, log2_table_size, base_resolution, per_level_scale);
  at::Tensor out = at::empty({x.size(0), n_levels * params.size(1)}, x.options());
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "hashgrid_encode_fwd", [&] {
    const auto* px = x.data_ptr<scalar_t>();
    const auto* pp = params.data_ptr<scalar_t>();
    auto* po = out.data_ptr<scalar_t>();
    if constexpr (kCuda) {
#if HOLD_WITH_CUDA
      const c10::cuda::CUDAGuard guard(x.device());
      kernels::cuda::hashgrid_encode_fwd<scalar_t>(exec_for(x), layout, x.size(0), px, pp, po);
#endif
    } else {
      kernels::cpu::hashgrid_encode_fwd<scalar_t>(Exec{}, layout, x.size(0), px, pp, po);
    }
  });
  return out;
}

template <bool kCuda>
std::tuple<at::Tensor, at::Tensor> encode_bwd(const at::Tensor& grad_out, const at::Tensor& x,
                                              const at::Tensor& params, int64_t n_levels,
                                              int64_t log2_table_size, int64_t base_resolution,
                                              double per_level_scale, bool need_grad_params,
                                              bool need_grad_x) {
  const auto layout =
      checked_layout(x, params, n_levels, log2_table_size, base_resolution, per_level_scale);
  check_shape(kOp, "grad_out", grad_out, {x.size(0), n_levels * params.size(1)});
  check_float_tensors(kOp, {{"x", &x}, {"grad_out", &grad_out}});
  at::Tensor grad_params =
      need_grad_params ? at::zeros_like(params) : at::empty({0}, x.options());
  at::Tensor grad_x = need_grad_x ? at::empty_like(x) : at::empty({0}, x.options());
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "hashgrid_encode_bwd", [&] {
    const auto* pg = grad_out.data_ptr<scalar_t>();
    const auto* px = x.data_ptr<scalar_t>();
    const auto* pp = params.data_ptr<scalar_t>();
    auto* gp = need_grad_params ? grad_params.data_ptr<scalar_t>() : nullptr;
    auto* gx = need_grad_x ? grad_x.data_ptr<scalar_t>() : nullptr;
    if constexpr (kCuda) {
#if HOLD_WITH_CUDA
      const c10::cuda::CUDAGuard guard(x.device());
      kernels::cuda::hashgrid_encode_bwd<scalar_t>(exec_for(x), layout, x.size(0), pg, px, pp,
                                                   gp, gx);
#endif
    } else {
      kernels::cpu::hashgrid_encode_bwd<scalar_t>(Exec{}, layout, x.size(0), pg, px, pp, gp,
                                                  gx);
    }
  });
  return {grad_params, grad_x};
}

template <bool kCuda>
std::tuple<at::Tensor, at::Tensor, at::Tensor> encode_bwd_bwd(
    const at::Tensor& grad_grad_x, const at::Tensor& grad_out, const at::Tensor& x,
    const at::Tensor& params, int64_t n_levels, int64_t log2_table_size,
    int64_t base_resolution, double per_level_scale, bool need_grad_grad_out,
    bool need_grad_params, bool need_grad_x) {
  const auto layout =
      checked_layout(x, params, n_levels, log2_table_size, base_resolution, per_level_scale);
  check_shape(kOp, "grad_out", grad_out, {x.size(0), n_levels * params.size(1)});
  check_shape(kOp, "grad_grad_x", grad_grad_x, {x.size(0), 3});
  check_float_tensors(kOp, {{"x", &x}, {"grad_out", &grad_out}, {"grad_grad_x", &grad_grad_x}});
  at::Tensor grad_grad_out =
      need_grad_grad_out ? at::empty_like(grad_out) : at::empty({0}, x.options());
  at::Tensor grad_params =
      need_grad_params ? at::zeros_like(params) : at::empty({0}, x.options());
  at::Tensor grad_x = need_grad_x ? at::empty_like(x) : at::empty({0}, x.options());
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "hashgrid_encode_bwd_bwd", [&] {
    const auto* pgg = grad_grad_x.data_ptr<scalar_t>();
    const auto* pg = grad_out.data_ptr<scalar_t>();
    const auto* px = x.data_ptr<scalar_t>();
    const auto* pp = params.data_ptr<scalar_t>();
    auto* ggo = need_grad_grad_out ? grad_grad_out.data_ptr<scalar_t>() : nullptr;
    auto* gp = need_grad_params ? grad_params.data_ptr<scalar_t>() : nullptr;
    auto* gx = need_grad_x ? grad_x.data_ptr<scalar_t>() : nullptr;
    if constexpr (kCuda) {
#if HOLD_WITH_CUDA
      const c10::cuda::CUDAGuard guard(x.device());
      kernels::cuda::hashgrid_encode_bwd_bwd<scalar_t>(exec_for(x), layout, x.size(0), pgg, pg,
                                                       px, pp, ggo, gp, gx);
#endif
    } else {
      kernels::cpu::hashgrid_encode_bwd_bwd<scalar_t>(Exec{}, layout, x.size(0), pgg, pg, px,
                                                      pp, ggo, gp, gx);
    }
  });
  return {grad_grad_out, grad_params, grad_x};
}

}  // namespace
}  // namespace hold::torch_ops

TORCH_LIBRARY_IMPL(hold, CompositeExplicitAutograd, m) {
  m.impl("hashgrid_layout", &hold::torch_ops::hashgrid_layout);
}

TORCH_LIBRARY_IMPL(hold, CPU, m) {
  m.impl("hashgrid_encode_fwd", &hold::torch_ops::encode_fwd<false>);
  m.impl("hashgrid_encode_bwd", &hold::torch_ops::encode_bwd<false>);
  m.impl("hashgrid_encode_bwd_bwd", &hold::torch_ops::encode_bwd_bwd<false>);
}

#if HOLD_WITH_CUDA
TORCH_LIBRARY_IMPL(hold, CUDA, m) {
  m.impl("hashgrid_encode_fwd", &hold::torch_ops::encode_fwd<true>);
  m.impl("hashgrid_encode_bwd", &hold::torch_ops::encode_bwd<true>);
  m.impl("hashgrid_encode_bwd_bwd", &hold::torch_ops::encode_bwd_bwd<true>);
}
#endif
