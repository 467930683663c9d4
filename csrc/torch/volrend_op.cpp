// ATen glue for volume rendering of packed samples: compositing forward/backward and the
// depth-ordered merge of two nodes' samples.
#include <ATen/Dispatch.h>
#include <ATen/ops/cumsum.h>
#include <ATen/TensorOperators.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>
#include <ATen/ops/stack.h>
#include <ATen/ops/zeros.h>
#include <ATen/ops/index_add.h>
#include <ATen/ops/select.h>
#include <torch/library.h>

#include "kernels/kernels.h"
#include "torch/common.h"

namespace hold::torch_ops {
namespace {

constexpr const char* kOp = "composite";

/// Checks the sample tensors of a composite call; returns (n_rays, n_samples, n_nodes).
std::tuple<int64_t, int64_t, int64_t> check_composite(
    const at::Tensor& packed, const at::Tensor& t_starts, const at::Tensor& t_ends,
    const at::Tensor& sdf, const at::Tensor& node, const at::Tensor& beta, const at::Tensor& rgb,
    const std::optional<at::Tensor>& bg, int64_t mode) {
  check_shape(kOp, "packed", packed, {-1, 2});
  const int64_t n_rays = packed.size(0), n_samples = t_starts.size(0);
  check_shape(kOp, "t_starts", t_starts, {-1});
  check_shape(kOp, "t_ends", t_ends, {n_samples});
  check_shape(kOp, "sdf", sdf, {n_samples});
  check_shape(kOp, "node", node, {n_samples});
  check_shape(kOp, "beta", beta, {-1});
  check_shape(kOp, "rgb", rgb, {n_samples, 3});
  check_float_tensors(kOp, {{"sdf", &sdf}, {"t_starts", &t_starts}, {"t_ends", &t_ends},
                            {"beta", &beta}, {"rgb", &rgb}});
  for (const auto& [name, t] : {std::pair<const char*, const at::Tensor*>{"packed", &packed},
                                {"node", &node}}) {
    TORCH_CHECK(t->scalar_type() == at::kLong && t->is_contiguous() &&
                    t->device() == sdf.device(),
                kOp, ": ", name, " must be a contiguous int64 tensor on ", sdf.device());
  }
  TORCH_CHECK(beta.size(0) >= 1 && beta.size(0) <= core::kMaxNodes, kOp,
              ": beta must hold 1 to ", core::kMaxNodes, " nodes, got ", beta.size(0));
  TORCH_CHECK(mode >= 0 && mode <= 2, kOp, ": mode must be 0 (Laplace), 1 (logistic) or 2 (raw)");
  if (bg) {
    check_shape(kOp, "bg", *bg, {n_rays, 3});
    check_float_tensors(kOp, {{"sdf", &sdf}, {"bg", &*bg}});
  }
  return {n_rays, n_samples, beta.size(0)};
}

template <typename T>
core::CompositeInputs<T> composite_inputs(const at::Tensor& t_starts, const at::Tensor& t_ends,
                                          const at::Tensor& sdf, const at::Tensor& node,
                                          const at::Tensor& beta, const at::Tensor& rgb,
                                          const std::optional<at::Tensor>& bg, int64_t mode,
                                          double eps) {
  core::CompositeInputs<T> in;
  in.t_starts = t_starts.data_ptr<T>();
  in.t_ends = t_ends.data_ptr<T>();
  in.sdf = sdf.data_ptr<T>();
  in.node = node.data_ptr<int64_t>();
  in.beta = beta.data_ptr<T>();
  in.rgb = rgb.data_ptr<T>();
  in.bg = bg ? bg->data_ptr<T>() : nullptr;
  in.n_nodes = (int)beta.size(0);
  in.mode = (int)mode;
  in.eps = (T)eps;
  return in;
}

template <bool kCuda>
std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor> composite_fwd(
    const at::Tensor& packed, const at::Tensor& t_starts, const at::Tensor& t_ends,
    const at::Tensor& sdf, const at::Tensor& node, const at::Tensor& beta, const at::Tensor& rgb,
    const std::optional<at::Tensor>& bg, int64_t mode, double eps) {
  const auto [n_rays, n_samples, n_nodes] =
      check_composite(packed, t_starts, t_ends, sdf, node, beta, rgb, bg, mode);
  const auto opts = sdf.options();
  at::Tensor out_rgb = at::empty({n_rays, 3}, opts), depth = at::empty({n_rays}, opts),
             opacity = at::empty({n_rays}, opts), node_w = at::empty({n_rays, n_nodes}, opts),
             weights = at::empty({n_samples}, opts), trans = at::empty({n_samples}, opts);
  AT_DISPATCH_FLOATING_TYPES(sdf.scalar_type(), "composite_fwd", [&] {
    const auto in = composite_inputs<scalar_t>(t_starts, t_ends, sdf, node, beta, rgb, bg, mode, eps);
    auto *p_rgb = out_rgb.data_ptr<scalar_t>(), *p_depth = depth.data_ptr<scalar_t>(),
         *p_opacity = opacity.data_ptr<scalar_t>(), *p_node = node_w.data_ptr<scalar_t>(),
         *p_w = weights.data_ptr<scalar_t>(), *p_trans = trans.data_ptr<scalar_t>();
    if constexpr (kCuda) {
#if HOLD_WITH_CUDA
      const c10::cuda::CUDAGuard guard(sdf.device());
      kernels::cuda::composite_fwd<scalar_t>(exec_for(sdf), in, n_rays,
                                             packed.data_ptr<int64_t>(), p_rgb, p_depth,
                                             p_opacity, p_node, p_w, p_trans);
#endif
    } else {
      kernels::cpu::composite_fwd<scalar_t>(Exec{}, in, n_rays, packed.data_ptr<int64_t>(),
                                            p_rgb, p_depth, p_opacity, p_node, p_w, p_trans);
    }
  });
  return {out_rgb, depth, opacity, node_w, weights, trans};
}

template <bool kCuda>
std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> composite_bwd(
    const at::Tensor& grad_rgb, const at::Tensor& grad_depth, const at::Tensor& grad_opacity,
    const at::Tensor& grad_node, const std::optional<at::Tensor>& grad_weights,
    const at::Tensor& packed, const at::Tensor& t_starts, const at::Tensor& t_ends,
    const at::Tensor& sdf, const at::Tensor& node, const at::Tensor& beta, const at::Tensor& rgb,
    const std::optional<at::Tensor>& bg, int64_t mode, double eps, const at::Tensor& weights,
    const at::Tensor& trans) {
  const auto [n_rays, n_samples, n_nodes] =
      check_composite(packed, t_starts, t_ends, sdf, node, beta, rgb, bg, mode);
  check_shape(kOp, "grad_rgb", grad_rgb, {n_rays, 3});
  check_shape(kOp, "grad_depth", grad_depth, {n_rays});
  check_shape(kOp, "grad_opacity", grad_opacity, {n_rays});
  check_shape(kOp, "grad_node_weights", grad_node, {n_rays, n_nodes});
  check_shape(kOp, "weights", weights, {n_samples});
  check_shape(kOp, "trans", trans, {n_samples});
  check_float_tensors(kOp, {{"sdf", &sdf}, {"grad_rgb", &grad_rgb}, {"grad_depth", &grad_depth},
                            {"grad_opacity", &grad_opacity}, {"grad_node_weights", &grad_node},
                            {"weights", &weights}, {"trans", &trans}});
  if (grad_weights) {
    check_shape(kOp, "grad_weights", *grad_weights, {n_samples});
    check_float_tensors(kOp, {{"sdf", &sdf}, {"grad_weights", &*grad_weights}});
  }
  const auto opts = sdf.options();
  at::Tensor grad_sdf = at::empty({n_samples}, opts), grad_beta_s = at::empty({n_samples}, opts),
             grad_rgb_s = at::empty({n_samples, 3}, opts),
             grad_bg = bg ? at::empty({n_rays, 3}, opts) : at::empty({0}, opts);
  AT_DISPATCH_FLOATING_TYPES(sdf.scalar_type(), "composite_bwd", [&] {
    const auto in = composite_inputs<scalar_t>(t_starts, t_ends, sdf, node, beta, rgb, bg, mode, eps);
    core::CompositeGrads<scalar_t> g;
    g.rgb = grad_rgb.data_ptr<scalar_t>();
    g.depth = grad_depth.data_ptr<scalar_t>();
    g.opacity = grad_opacity.data_ptr<scalar_t>();
    g.node = grad_node.data_ptr<scalar_t>();
    g.weights = grad_weights ? grad_weights->data_ptr<scalar_t>() : nullptr;
    auto* pgb = bg ? grad_bg.data_ptr<scalar_t>() : nullptr;
    if constexpr (kCuda) {
#if HOLD_WITH_CUDA
      const c10::cuda::CUDAGuard guard(sdf.device());
      kernels::cuda::composite_bwd<scalar_t>(
          exec_for(sdf), in, g, n_rays, packed.data_ptr<int64_t>(), weights.data_ptr<scalar_t>(),
          trans.data_ptr<scalar_t>(), grad_sdf.data_ptr<scalar_t>(),
          grad_beta_s.data_ptr<scalar_t>(), grad_rgb_s.data_ptr<scalar_t>(), pgb);
#endif
    } else {
      kernels::cpu::composite_bwd<scalar_t>(
          Exec{}, in, g, n_rays, packed.data_ptr<int64_t>(), weights.data_ptr<scalar_t>(),
          trans.data_ptr<scalar_t>(), grad_sdf.data_ptr<scalar_t>(),
          grad_beta_s.data_ptr<scalar_t>(), grad_rgb_s.data_ptr<scalar_t>(), pgb);
    }
  });
  // Each sample's ∂L/∂β belongs to its node's β: a K-way reduction, left to ATen.
  at::Tensor grad_beta = at::zeros({n_nodes}, opts).index_add_(0, node, grad_beta_s);
  return {grad_sdf, grad_beta, grad_rgb_s, grad_bg};
}

template <bool kCuda>
std::tuple<at::Tensor, at::Tensor> merge_samples(const at::Tensor& packed_a,
                                                 const at::Tensor& t_mid_a,
                                                 const at::Tensor& packed_b,
                                                 const at::Tensor& t_mid_b) {
  constexpr const char* op = "merge_samples";
  check_shape(op, "packed_a", packed_a, {-1, 2});
  check_shape(op, "packed_b", packed_b, {packed_a.size(0), 2});
  check_shape(op, "t_mid_a", t_mid_a, {-1});
  check_shape(op, "t_mid_b", t_mid_b, {-1});
  check_float_tensors(op, {{"t_mid_a", &t_mid_a}, {"t_mid_b", &t_mid_b}});
  for (const auto& [name, t] : {std::pair<const char*, const at::Tensor*>{"packed_a", &packed_a},
                                {"packed_b", &packed_b}}) {
    TORCH_CHECK(t->scalar_type() == at::kLong && t->is_contiguous() &&
                    t->device() == t_mid_a.device(),
                op, ": ", name, " must be a contiguous int64 tensor on ", t_mid_a.device());
  }
  const int64_t n_rays = packed_a.size(0);
  at::Tensor counts = packed_a.select(1, 1) + packed_b.select(1, 1);
  at::Tensor starts = at::cumsum(counts, 0) - counts;
  at::Tensor packed = at::stack({starts, counts}, 1).contiguous();
  at::Tensor order = at::empty({t_mid_a.size(0) + t_mid_b.size(0)}, packed_a.options());
  AT_DISPATCH_FLOATING_TYPES(t_mid_a.scalar_type(), op, [&] {
    if constexpr (kCuda) {
#if HOLD_WITH_CUDA
      const c10::cuda::CUDAGuard guard(t_mid_a.device());
      kernels::cuda::merge_samples<scalar_t>(
          exec_for(t_mid_a), n_rays, packed_a.data_ptr<int64_t>(), t_mid_a.data_ptr<scalar_t>(),
          t_mid_a.size(0), packed_b.data_ptr<int64_t>(), t_mid_b.data_ptr<scalar_t>(),
          packed.data_ptr<int64_t>(), order.data_ptr<int64_t>());
#endif
    } else {
      kernels::cpu::merge_samples<scalar_t>(
          Exec{}, n_rays, packed_a.data_ptr<int64_t>(), t_mid_a.data_ptr<scalar_t>(),
          t_mid_a.size(0), packed_b.data_ptr<int64_t>(), t_mid_b.data_ptr<scalar_t>(),
          packed.data_ptr<int64_t>(), order.data_ptr<int64_t>());
    }
  });
  return {packed, order};
}

}  // namespace
}  // namespace hold::torch_ops

TORCH_LIBRARY_IMPL(hold, CPU, m) {
  m.impl("composite_fwd", &hold::torch_ops::composite_fwd<false>);
  m.impl("composite_bwd", &hold::torch_ops::composite_bwd<false>);
  m.impl("merge_samples", &hold::torch_ops::merge_samples<false>);
}

#if HOLD_WITH_CUDA
TORCH_LIBRARY_IMPL(hold, CUDA, m) {
  m.impl("composite_fwd", &hold::torch_ops::composite_fwd<true>);
  m.impl("composite_bwd", &hold::torch_ops::composite_bwd<true>);
  m.impl("merge_samples", &hold::torch_ops::merge_samples<true>);
}
#endif
