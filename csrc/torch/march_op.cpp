// ATen glue for occupancy-culled ray marching: checks, the count pass, the scan of the counts
// (at::cumsum), allocation of the packed outputs, the fill pass.
#include <ATen/Dispatch.h>
#include <ATen/ops/cumsum.h>
#include <ATen/TensorOperators.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/stack.h>
#include <torch/library.h>

#include "kernels/kernels.h"
#include "torch/common.h"

namespace hold::torch_ops {
namespace {

constexpr const char* kOp = "march_rays";

template <bool kCuda>
std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> march_rays(
    const at::Tensor& origins, const at::Tensor& dirs, const at::Tensor& near,
    const at::Tensor& far, const std::optional<at::Tensor>& offsets,
    const std::optional<at::Tensor>& frame, const std::optional<at::Tensor>& transforms,
    const at::Tensor& bits, const at::Tensor& aabbs, int64_t resolution, double step,
    double cone_angle, int64_t max_samples, int64_t mip_factor) {
  const int64_t n_rays = origins.size(0);
  check_shape(kOp, "origins", origins, {-1, 3});
  check_shape(kOp, "dirs", dirs, {n_rays, 3});
  check_shape(kOp, "near", near, {n_rays});
  check_shape(kOp, "far", far, {n_rays});
  check_shape(kOp, "aabbs", aabbs, {-1, 2, 3});
  check_float_tensors(kOp, {{"origins", &origins}, {"dirs", &dirs}, {"near", &near},
                            {"far", &far}, {"aabbs", &aabbs}});
  TORCH_CHECK(resolution >= 2 && resolution % 2 == 0, kOp,
              ": resolution must be even and >= 2, got ", resolution);
  const int64_t n_cells = resolution * resolution * resolution;
  check_shape(kOp, "bits", bits, {aabbs.size(0), n_cells / 8});
  TORCH_CHECK(bits.scalar_type() == at::kByte && bits.is_contiguous() &&
                  bits.device() == origins.device(),
              kOp, ": bits must be a contiguous uint8 tensor on ", origins.device());
  TORCH_CHECK(step > 0 && cone_angle >= 0 && max_samples > 0, kOp,
              ": need step > 0, cone_angle >= 0, max_samples > 0");
  TORCH_CHECK(mip_factor >= 1 && resolution % mip_factor == 0, kOp,
              ": mip_factor must be >= 1 and divide resolution ", resolution, ", got ", mip_factor);
  if (offsets) {
    check_shape(kOp, "offsets", *offsets, {n_rays});
    check_float_tensors(kOp, {{"origins", &origins}, {"offsets", &*offsets}});
  }
  if (frame) {
    check_shape(kOp, "frame", *frame, {n_rays});
    TORCH_CHECK(frame->scalar_type() == at::kLong && frame->is_contiguous() &&
                    frame->device() == origins.device(),
                kOp, ": frame must be a contiguous int64 tensor on ", origins.device());
  }
  if (transforms) {
    check_shape(kOp, "transforms", *transforms, {-1, 3, 4});
    check_float_tensors(kOp, {{"origins", &origins}, {"transforms", &*transforms}});
  }
  at::Tensor counts = at::empty({n_rays}, origins.options().dtype(at::kLong));
  // Coarse bitfields for empty-space skipping, rebuilt per call (res³/8 bytes read per grid).
  at::Tensor mip;
  if (mip_factor > 1) {
    const int64_t coarse = resolution / mip_factor;
    mip = at::empty({bits.size(0), (coarse * coarse * coarse + 7) / 8}, bits.options());
    if constexpr (kCuda) {
#if HOLD_WITH_CUDA
      const c10::cuda::CUDAGuard guard(origins.device());
      kernels::cuda::occgrid_mip(exec_for(origins), bits.size(0), (int)resolution,
                                 (int)mip_factor, bits.data_ptr<uint8_t>(),
                                 mip.data_ptr<uint8_t>());
#endif
    } else {
      kernels::cpu::occgrid_mip(Exec{}, bits.size(0), (int)resolution, (int)mip_factor,
                                bits.data_ptr<uint8_t>(), mip.data_ptr<uint8_t>());
    }
  }
  at::Tensor packed, ray_indices, t_starts, t_ends;
  AT_DISPATCH_FLOATING_TYPES(origins.scalar_type(), kOp, [&] {
    core::MarchRays<scalar_t> rays;
    rays.n_rays = n_rays;
    rays.origins = origins.data_ptr<scalar_t>();
    rays.dirs = dirs.data_ptr<scalar_t>();
    rays.near = near.data_ptr<scalar_t>();
    rays.far = far.data_ptr<scalar_t>();
    rays.offsets = offsets ? offsets->data_ptr<scalar_t>() : nullptr;
    rays.frame = frame ? frame->data_ptr<int64_t>() : nullptr;
    rays.transforms = transforms ? transforms->data_ptr<scalar_t>() : nullptr;
    rays.n_transforms = transforms ? transforms->size(0) : 0;
    rays.bits = bits.data_ptr<uint8_t>();
    rays.n_grids = bits.size(0);
    rays.grid_bytes = bits.size(1);
    rays.mip = mip.defined() ? mip.data_ptr<uint8_t>() : nullptr;
    rays.mip_bytes = mip.defined() ? mip.size(1) : 0;
    rays.mip_factor = (int)mip_factor;
    rays.aabbs = aabbs.data_ptr<scalar_t>();
    rays.res = (int)resolution;
    rays.step = (scalar_t)step;
    rays.cone_angle = (scalar_t)cone_angle;
    rays.max_samples = (int)max_samples;
#if HOLD_WITH_CUDA
    std::optional<c10::cuda::CUDAGuard> guard;
    if constexpr (kCuda) guard.emplace(origins.device());
#endif
    const Exec ex = exec_for(origins);
    if constexpr (kCuda) {
#if HOLD_WITH_CUDA
      kernels::cuda::march_count<scalar_t>(ex, rays, counts.data_ptr<int64_t>());
#endif
    } else {
      kernels::cpu::march_count<scalar_t>(ex, rays, counts.data_ptr<int64_t>());
    }
    at::Tensor ends = at::cumsum(counts, 0);
    at::Tensor starts = ends - counts;
    packed = at::stack({starts, counts}, 1).contiguous();
    const int64_t n_samples = n_rays ? ends[n_rays - 1].item<int64_t>() : 0;
    ray_indices = at::empty({n_samples}, counts.options());
    t_starts = at::empty({n_samples}, origins.options());
    t_ends = at::empty({n_samples}, origins.options());
    if constexpr (kCuda) {
#if HOLD_WITH_CUDA
      kernels::cuda::march_fill<scalar_t>(ex, rays, starts.data_ptr<int64_t>(),
                                          ray_indices.data_ptr<int64_t>(),
                                          t_starts.data_ptr<scalar_t>(),
                                          t_ends.data_ptr<scalar_t>());
#endif
    } else {
      kernels::cpu::march_fill<scalar_t>(ex, rays, starts.data_ptr<int64_t>(),
                                         ray_indices.data_ptr<int64_t>(),
                                         t_starts.data_ptr<scalar_t>(),
                                         t_ends.data_ptr<scalar_t>());
    }
  });
  return {packed, ray_indices, t_starts, t_ends};
}

}  // namespace
}  // namespace hold::torch_ops

TORCH_LIBRARY_IMPL(hold, CPU, m) { m.impl("march_rays", &hold::torch_ops::march_rays<false>); }

#if HOLD_WITH_CUDA
TORCH_LIBRARY_IMPL(hold, CUDA, m) { m.impl("march_rays", &hold::torch_ops::march_rays<true>); }
#endif
