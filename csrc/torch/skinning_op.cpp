// ATen glue for skinning: forward LBS of points, the per-frame skinning-weight volume (with the
// vertex bins of its neighbour search) and inverse skinning through the volumes.
#include <ATen/Dispatch.h>
#include <ATen/TensorOperators.h>
#include <ATen/ops/aminmax.h>
#include <ATen/ops/argsort.h>
#include <ATen/ops/bincount.h>
#include <ATen/ops/cat.h>
#include <ATen/ops/cumsum.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>
#include <ATen/ops/floor.h>
#include <ATen/ops/index_select.h>
#include <ATen/ops/minimum.h>
#include <ATen/ops/stack.h>
#include <ATen/ops/tensor.h>
#include <ATen/ops/zeros.h>
#include <ATen/ops/zeros_like.h>
#include <torch/library.h>

#include <algorithm>
#include <cmath>

#include "kernels/kernels.h"
#include "torch/common.h"

namespace hold::torch_ops {
namespace {

void check_frame(const char* op, const at::Tensor& frame, const at::Tensor& like, int64_t n) {
  check_shape(op, "frame", frame, {n});
  TORCH_CHECK(frame.scalar_type() == at::kLong && frame.is_contiguous() &&
                  frame.device() == like.device(),
              op, ": frame must be a contiguous int64 tensor on ", like.device());
}

// ---- lbs_points -------------------------------------------------------------------------------

constexpr const char* kLbs = "lbs_points";

/// Checks x [N, 3], weights [N, J], bone_transforms [B, J, 3, 4], frame [N]; returns J.
int check_lbs(const at::Tensor& x, const at::Tensor& weights, const at::Tensor& bone_transforms,
              const at::Tensor& frame) {
  check_shape(kLbs, "x", x, {-1, 3});
  check_shape(kLbs, "weights", weights, {x.size(0), -1});
  check_shape(kLbs, "bone_transforms", bone_transforms, {-1, weights.size(1), 3, 4});
  check_float_tensors(kLbs, {{"x", &x}, {"weights", &weights},
                             {"bone_transforms", &bone_transforms}});
  check_frame(kLbs, frame, x, x.size(0));
  return (int)weights.size(1);
}

template <bool kCuda>
at::Tensor lbs_points_fwd(const at::Tensor& x, const at::Tensor& weights,
                          const at::Tensor& bone_transforms, const at::Tensor& frame) {
  const int n_joints = check_lbs(x, weights, bone_transforms, frame);
  at::Tensor out = at::empty_like(x);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "lbs_points_fwd", [&] {
    const auto *px = x.data_ptr<scalar_t>(), *pw = weights.data_ptr<scalar_t>(),
               *pt = bone_transforms.data_ptr<scalar_t>();
    const auto* pf = frame.data_ptr<int64_t>();
    auto* po = out.data_ptr<scalar_t>();
    if constexpr (kCuda) {
#if HOLD_WITH_CUDA
      const c10::cuda::CUDAGuard guard(x.device());
      kernels::cuda::lbs_points_fwd<scalar_t>(exec_for(x), x.size(0), n_joints, px, pw, pt, pf,
                                              po);
#endif
    } else {
      kernels::cpu::lbs_points_fwd<scalar_t>(Exec{}, x.size(0), n_joints, px, pw, pt, pf, po);
    }
  });
  return out;
}

template <bool kCuda>
std::tuple<at::Tensor, at::Tensor, at::Tensor> lbs_points_bwd(
    const at::Tensor& grad_out, const at::Tensor& x, const at::Tensor& weights,
    const at::Tensor& bone_transforms, const at::Tensor& frame, bool need_grad_x,
    bool need_grad_weights, bool need_grad_bone_transforms) {
  const int n_joints = check_lbs(x, weights, bone_transforms, frame);
  check_shape(kLbs, "grad_out", grad_out, {x.size(0), 3});
  check_float_tensors(kLbs, {{"x", &x}, {"grad_out", &grad_out}});
  const auto none = at::empty({0}, x.options());
  at::Tensor grad_x = need_grad_x ? at::empty_like(x) : none;
  at::Tensor grad_w = need_grad_weights ? at::empty_like(weights) : none;
  at::Tensor grad_t = need_grad_bone_transforms ? at::zeros_like(bone_transforms) : none;
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "lbs_points_bwd", [&] {
    const auto *pg = grad_out.data_ptr<scalar_t>(), *px = x.data_ptr<scalar_t>(),
               *pw = weights.data_ptr<scalar_t>(), *pt = bone_transforms.data_ptr<scalar_t>();
    const auto* pf = frame.data_ptr<int64_t>();
    auto* gx = need_grad_x ? grad_x.data_ptr<scalar_t>() : nullptr;
    auto* gw = need_grad_weights ? grad_w.data_ptr<scalar_t>() : nullptr;
    auto* gt = need_grad_bone_transforms ? grad_t.data_ptr<scalar_t>() : nullptr;
    if constexpr (kCuda) {
#if HOLD_WITH_CUDA
      const c10::cuda::CUDAGuard guard(x.device());
      kernels::cuda::lbs_points_bwd<scalar_t>(exec_for(x), x.size(0), n_joints, pg, px, pw, pt,
                                              pf, gx, gw, gt);
#endif
    } else {
      kernels::cpu::lbs_points_bwd<scalar_t>(Exec{}, x.size(0), n_joints, pg, px, pw, pt, pf, gx,
                                             gw, gt);
    }
  });
  return {grad_x, grad_w, grad_t};
}

// ---- skin_weight_volume -----------------------------------------------------------------------

constexpr const char* kVolume = "skin_weight_volume";
// Vertex bins: cubic cells of edge kCellScale·(box volume / V)^(1/3), at most kMaxDims per
// axis. For the built-in hand (~1.6 cm cells) this was the fastest search on 8 evaluation
// poses at 32³ and 64³: scales 1 and 1.5 spend more on cells, 3 on vertices (docs/KERNELS.md).
constexpr double kCellScale = 2.0;
constexpr int kMaxDims = 64;

/// The bins of `vertices` [V, 3]: fills the geometry and returns the arrays it points to,
/// (cell_start, cell_vertex, cell_points).
template <typename T>
std::tuple<at::Tensor, at::Tensor, at::Tensor> bin_vertices(const at::Tensor& vertices,
                                                            core::VertexBins<T>* bins) {
  const int64_t n = vertices.size(0);
  const auto [vmin, vmax] = at::aminmax(vertices, 0);
  const at::Tensor box = at::stack({vmin, vmax}).to(at::kCPU, at::kDouble).contiguous();
  const double* b = box.data_ptr<double>();
  double extent[3], longest = 0.0;
  for (int a = 0; a < 3; ++a) longest = std::max(longest, extent[a] = b[3 + a] - b[a]);
  // Flat point sets would get a zero volume: give every axis at least 1/8 of the longest.
  double volume = 1.0;
  for (double e : extent) volume *= std::max(e, longest / 8);
  double cell = kCellScale * std::cbrt(volume / (double)n);
  for (double e : extent) cell = std::max(cell, e / (kMaxDims - 1));
  if (!(cell > 0.0)) cell = 1.0;  // every vertex at one point: one cell
  for (int a = 0; a < 3; ++a) {
    bins->lo[a] = (T)b[a];
    bins->dims[a] = (int)std::floor(extent[a] / cell) + 1;
  }
  bins->cell = (T)cell;
  // Binning below rounds in T; 1e-3 cell covers it in float32 as well as float64.
  bins->slack = (T)(1e-3 * cell);
  const auto opts = vertices.options();
  const at::Tensor origin = at::tensor({b[0], b[1], b[2]}, opts);
  const at::Tensor top = at::tensor({(double)bins->dims[0] - 1, (double)bins->dims[1] - 1,
                                     (double)bins->dims[2] - 1}, opts);
  at::Tensor index = at::floor((vertices - origin) / cell).clamp_min(0);
  index = at::minimum(index, top).to(at::kLong);
  const at::Tensor flat =
      index.select(1, 0) + bins->dims[0] * (index.select(1, 1) + bins->dims[1] * index.select(1, 2));
  const int64_t n_cells = (int64_t)bins->dims[0] * bins->dims[1] * bins->dims[2];
  at::Tensor cell_vertex = at::argsort(flat, /*stable=*/true, /*dim=*/0, /*descending=*/false);
  at::Tensor counts = at::bincount(flat, {}, n_cells);
  at::Tensor cell_start = at::cat({at::zeros({1}, counts.options()), at::cumsum(counts, 0)});
  at::Tensor cell_points = vertices.index_select(0, cell_vertex).contiguous();
  bins->cell_start = cell_start.data_ptr<int64_t>();
  bins->cell_vertex = cell_vertex.data_ptr<int64_t>();
  bins->cell_points = cell_points.data_ptr<T>();
  return {cell_start, cell_vertex, cell_points};
}

template <bool kCuda>
at::Tensor skin_weight_volume(const at::Tensor& posed_vertices, const at::Tensor& vertex_weights,
                              const at::Tensor& bounds, at::IntArrayRef resolution, int64_t k,
                              double sigma, double cutoff) {
  check_shape(kVolume, "posed_vertices", posed_vertices, {-1, 3});
  check_shape(kVolume, "vertex_weights", vertex_weights, {posed_vertices.size(0), -1});
  check_shape(kVolume, "bounds", bounds, {2, 3});
  check_float_tensors(kVolume, {{"posed_vertices", &posed_vertices},
                                {"vertex_weights", &vertex_weights}, {"bounds", &bounds}});
  TORCH_CHECK(resolution.size() == 3, kVolume, ": resolution must hold 3 values, got ",
              resolution.size());
  for (int64_t r : resolution)
    TORCH_CHECK(r >= 2, kVolume, ": every resolution must be >= 2, got ", resolution);
  const int64_t n_vertices = posed_vertices.size(0);
  TORCH_CHECK(k >= 1 && k <= core::kSkinMaxNeighbours && k <= n_vertices, kVolume,
              ": k must lie in [1, min(V, ", core::kSkinMaxNeighbours, ")] with V = ",
              n_vertices, ", got ", k);
  TORCH_CHECK(sigma > 0.0, kVolume, ": sigma must be > 0, got ", sigma);
  TORCH_CHECK(!std::isnan(cutoff), kVolume, ": cutoff must be a number (<= 0: none), got nan");
  const int64_t n_joints = vertex_weights.size(1);
  at::Tensor volume = at::empty({resolution[2], resolution[1], resolution[0], n_joints + 1},
                                posed_vertices.options());
  AT_DISPATCH_FLOATING_TYPES(posed_vertices.scalar_type(), kVolume, [&] {
    core::WeightVolumeQuery<scalar_t> q;
    // Held through the launch; on CUDA their (stream-ordered) frees after it are safe too.
    const auto bin_arrays = bin_vertices(posed_vertices, &q.bins);
    q.vertex_weights = vertex_weights.data_ptr<scalar_t>();
    q.bounds = bounds.data_ptr<scalar_t>();
    q.n_joints = (int)n_joints;
    for (int a = 0; a < 3; ++a) q.resolution[a] = (int)resolution[a];
    q.k = (int)k;
    q.sigma_sq = (scalar_t)(sigma * sigma);
    q.cutoff = (scalar_t)cutoff;
    if constexpr (kCuda) {
#if HOLD_WITH_CUDA
      const c10::cuda::CUDAGuard guard(posed_vertices.device());
      kernels::cuda::skin_weight_volume<scalar_t>(exec_for(posed_vertices), q,
                                                  volume.data_ptr<scalar_t>());
#endif
    } else {
      kernels::cpu::skin_weight_volume<scalar_t>(Exec{}, q, volume.data_ptr<scalar_t>());
    }
  });
  return volume;
}

// ---- inverse_skin_volume ----------------------------------------------------------------------

constexpr const char* kInverse = "inverse_skin_volume";

/// x [N, 3], frame [N], volumes [B, rz, ry, rx, J + 1], bounds [B, 2, 3], bone_transforms [B, J, 3, 4].
void check_inverse(const at::Tensor& x, const at::Tensor& frame, const at::Tensor& volumes,
                   const at::Tensor& bounds, const at::Tensor& bone_transforms) {
  check_shape(kInverse, "x", x, {-1, 3});
  check_frame(kInverse, frame, x, x.size(0));
  check_shape(kInverse, "volumes", volumes, {-1, -1, -1, -1, -1});
  const int64_t n_frames = volumes.size(0), channels = volumes.size(4);
  TORCH_CHECK(channels >= 2 && channels <= core::kSkinMaxJoints + 1, kInverse,
              ": volumes must have J + 1 channels with 1 <= J <= ", core::kSkinMaxJoints, ", got ",
              channels);
  for (int d = 1; d <= 3; ++d)
    TORCH_CHECK(volumes.size(d) >= 2, kInverse, ": volumes must have >= 2 voxels per axis, got ",
                volumes.sizes());
  check_shape(kInverse, "bounds", bounds, {n_frames, 2, 3});
  check_shape(kInverse, "bone_transforms", bone_transforms, {n_frames, channels - 1, 3, 4});
  check_float_tensors(kInverse, {{"x", &x}, {"volumes", &volumes}, {"bounds", &bounds},
                                 {"bone_transforms", &bone_transforms}});
}

template <typename T>
core::SkinVolumes<T> skin_volumes(const at::Tensor& volumes, const at::Tensor& bounds) {
  core::SkinVolumes<T> v;
  v.volumes = volumes.data_ptr<T>();
  v.bounds = bounds.data_ptr<T>();
  v.resolution[0] = (int)volumes.size(3);
  v.resolution[1] = (int)volumes.size(2);
  v.resolution[2] = (int)volumes.size(1);
  v.n_joints = (int)volumes.size(4) - 1;
  return v;
}

template <bool kCuda>
std::tuple<at::Tensor, at::Tensor> inverse_skin_volume_fwd(const at::Tensor& x,
                                                           const at::Tensor& frame,
                                                           const at::Tensor& volumes,
                                                           const at::Tensor& bounds,
                                                           const at::Tensor& bone_transforms,
                                                           double max_dist) {
  check_inverse(x, frame, volumes, bounds, bone_transforms);
  at::Tensor x_can = at::empty_like(x);
  at::Tensor valid = at::empty({x.size(0)}, x.options().dtype(at::kBool));
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "inverse_skin_volume_fwd", [&] {
    const auto v = skin_volumes<scalar_t>(volumes, bounds);
    const auto *px = x.data_ptr<scalar_t>(), *pt = bone_transforms.data_ptr<scalar_t>();
    const auto* pf = frame.data_ptr<int64_t>();
    auto* pc = x_can.data_ptr<scalar_t>();
    auto* pv = valid.data_ptr<bool>();
    if constexpr (kCuda) {
#if HOLD_WITH_CUDA
      const c10::cuda::CUDAGuard guard(x.device());
      kernels::cuda::inverse_skin_volume_fwd<scalar_t>(exec_for(x), v, x.size(0), px, pf, pt,
                                                       (scalar_t)max_dist, pc, pv);
#endif
    } else {
      kernels::cpu::inverse_skin_volume_fwd<scalar_t>(Exec{}, v, x.size(0), px, pf, pt,
                                                      (scalar_t)max_dist, pc, pv);
    }
  });
  return {x_can, valid};
}

template <bool kCuda>
std::tuple<at::Tensor, at::Tensor> inverse_skin_volume_bwd(
    const at::Tensor& grad_x_can, const at::Tensor& x, const at::Tensor& frame,
    const at::Tensor& volumes, const at::Tensor& bounds, const at::Tensor& bone_transforms,
    bool need_grad_x, bool need_grad_bone_transforms) {
  check_inverse(x, frame, volumes, bounds, bone_transforms);
  check_shape(kInverse, "grad_x_can", grad_x_can, {x.size(0), 3});
  check_float_tensors(kInverse, {{"x", &x}, {"grad_x_can", &grad_x_can}});
  const int64_t n = x.size(0), n_joints = volumes.size(4) - 1;
  const auto none = at::empty({0}, x.options());
  at::Tensor grad_x = need_grad_x ? at::empty_like(x) : none;
  at::Tensor grad_t = need_grad_bone_transforms ? at::zeros_like(bone_transforms) : none;
  at::Tensor point_weights = at::empty({n, n_joints}, x.options());
  at::Tensor point_grad_blend = at::empty({n, 12}, x.options());
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "inverse_skin_volume_bwd", [&] {
    const auto v = skin_volumes<scalar_t>(volumes, bounds);
    const auto *pg = grad_x_can.data_ptr<scalar_t>(), *px = x.data_ptr<scalar_t>(),
               *pt = bone_transforms.data_ptr<scalar_t>();
    const auto* pf = frame.data_ptr<int64_t>();
    auto *sw = point_weights.data_ptr<scalar_t>(), *sg = point_grad_blend.data_ptr<scalar_t>();
    auto* gx = need_grad_x ? grad_x.data_ptr<scalar_t>() : nullptr;
    auto* gt = need_grad_bone_transforms ? grad_t.data_ptr<scalar_t>() : nullptr;
    if constexpr (kCuda) {
#if HOLD_WITH_CUDA
      const c10::cuda::CUDAGuard guard(x.device());
      kernels::cuda::inverse_skin_volume_bwd<scalar_t>(exec_for(x), v, n, pg, px, pf, pt, sw, sg,
                                                       gx, gt);
#endif
    } else {
      kernels::cpu::inverse_skin_volume_bwd<scalar_t>(Exec{}, v, n, pg, px, pf, pt, sw, sg, gx,
                                                      gt);
    }
  });
  return {grad_x, grad_t};
}

}  // namespace
}  // namespace hold::torch_ops

TORCH_LIBRARY_IMPL(hold, CPU, m) {
  m.impl("lbs_points_fwd", &hold::torch_ops::lbs_points_fwd<false>);
  m.impl("lbs_points_bwd", &hold::torch_ops::lbs_points_bwd<false>);
  m.impl("skin_weight_volume", &hold::torch_ops::skin_weight_volume<false>);
  m.impl("inverse_skin_volume_fwd", &hold::torch_ops::inverse_skin_volume_fwd<false>);
  m.impl("inverse_skin_volume_bwd", &hold::torch_ops::inverse_skin_volume_bwd<false>);
}

#if HOLD_WITH_CUDA
TORCH_LIBRARY_IMPL(hold, CUDA, m) {
  m.impl("lbs_points_fwd", &hold::torch_ops::lbs_points_fwd<true>);
  m.impl("lbs_points_bwd", &hold::torch_ops::lbs_points_bwd<true>);
  m.impl("skin_weight_volume", &hold::torch_ops::skin_weight_volume<true>);
  m.impl("inverse_skin_volume_fwd", &hold::torch_ops::inverse_skin_volume_fwd<true>);
  m.impl("inverse_skin_volume_bwd", &hold::torch_ops::inverse_skin_volume_bwd<true>);
}
#endif
