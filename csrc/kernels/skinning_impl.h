// Skinning launchers (compiled as skinning_cpu.cpp and skinning_cuda.cu). Per-element bodies are
// in core/skinning.h. Bone-transform gradients are scattered by (joint, point) bodies launched
// with parallel_for_owned_levels, joints in the role of levels: on the CPU each thread owns whole
// joints (the rows (b, j) of every frame), so the sums need no atomics and are bitwise
// reproducible for any thread count; on CUDA the same body adds atomically.
#pragma once

#include "core/parallel_for.h"
#include "core/skinning.h"
#include "kernels/kernels.h"

namespace hold::kernels::HOLD_BACKEND_NS {

template <typename T>
void lbs_points_fwd(const Exec& ex, int64_t n, int n_joints, const T* x, const T* weights,
                    const T* bone_transforms, const int64_t* frame, T* out) {
  parallel_for(
      n,
      [=] HOLD_DEVICE_LAMBDA(int64_t i) {
        core::lbs_point_fwd(x + 3 * i, weights + i * n_joints,
                            bone_transforms + frame[i] * n_joints * 12, n_joints, out + 3 * i);
      },
      ex);
}

template <typename T>
void lbs_points_bwd(const Exec& ex, int64_t n, int n_joints, const T* grad_out, const T* x,
                    const T* weights, const T* bone_transforms, const int64_t* frame, T* grad_x,
                    T* grad_weights, T* grad_bone_transforms) {
  if (grad_x || grad_weights)
    parallel_for(
        n,
        [=] HOLD_DEVICE_LAMBDA(int64_t i) {
          core::lbs_point_bwd(grad_out + 3 * i, x + 3 * i, weights + i * n_joints,
                              bone_transforms + frame[i] * n_joints * 12, n_joints,
                              grad_x ? grad_x + 3 * i : nullptr,
                              grad_weights ? grad_weights + i * n_joints : nullptr);
        },
        ex);
  if (grad_bone_transforms)
    parallel_for_owned_levels(
        n, n_joints,
        [=] HOLD_DEVICE_LAMBDA(int joint, int64_t i) {
          core::lbs_point_bwd_bone(grad_out + 3 * i, x + 3 * i, weights[i * n_joints + joint],
                                   grad_bone_transforms + (frame[i] * n_joints + joint) * 12);
        },
        ex);
}

template <typename T>
void skin_weight_volume(const Exec& ex, const core::WeightVolumeQuery<T>& query, T* volume) {
  const int64_t n_voxels =
      (int64_t)query.resolution[0] * query.resolution[1] * query.resolution[2];
  const int64_t channels = query.n_joints + 1;
  parallel_for(
      n_voxels,
      [=] HOLD_DEVICE_LAMBDA(int64_t voxel) {
        core::weight_volume_voxel(query, voxel, volume + voxel * channels);
      },
      ex);
}

template <typename T>
void inverse_skin_volume_fwd(const Exec& ex, const core::SkinVolumes<T>& volumes, int64_t n,
                             const T* x, const int64_t* frame, const T* bone_transforms,
                             T max_dist, T* x_can, bool* valid) {
  const int n_joints = volumes.n_joints;
  parallel_for(
      n,
      [=] HOLD_DEVICE_LAMBDA(int64_t i) {
        const int64_t b = frame[i];
        const core::InverseSkin<T> s = core::inverse_skin_point(
            volumes, b, x + 3 * i, bone_transforms + b * n_joints * 12, max_dist, (T*)nullptr);
        for (int a = 0; a < 3; ++a) x_can[3 * i + a] = s.x_can[a];
        valid[i] = s.valid;
      },
      ex);
}

template <typename T>
void inverse_skin_volume_bwd(const Exec& ex, const core::SkinVolumes<T>& volumes, int64_t n,
                             const T* grad_x_can, const T* x, const int64_t* frame,
                             const T* bone_transforms, T* point_weights, T* point_grad_blend,
                             T* grad_x, T* grad_bone_transforms) {
  const int n_joints = volumes.n_joints;
  // Pass 1, per point: ∂L/∂x and ∂L/∂[R | t] with the point's weights, kept for pass 2.
  parallel_for(
      n,
      [=] HOLD_DEVICE_LAMBDA(int64_t i) {
        const int64_t b = frame[i];
        const core::InverseSkin<T> s =
            core::inverse_skin_point(volumes, b, x + 3 * i, bone_transforms + b * n_joints * 12,
                                     T(0), point_weights + i * n_joints);
        core::inverse_skin_point_bwd(s, grad_x_can + 3 * i, point_grad_blend + 12 * i,
                                     grad_x ? grad_x + 3 * i : nullptr);
      },
      ex);
  // Pass 2, per (joint, point): scatter w_j · ∂L/∂[R | t] into the bone's gradient.
  if (grad_bone_transforms)
    parallel_for_owned_levels(
        n, n_joints,
        [=] HOLD_DEVICE_LAMBDA(int joint, int64_t i) {
          core::inverse_skin_point_bwd_bone(
              point_grad_blend + 12 * i, point_weights[i * n_joints + joint],
              grad_bone_transforms + (frame[i] * n_joints + joint) * 12);
        },
        ex);
}

#define HOLD_INSTANTIATE_SKINNING(T)                                                          \
  template void lbs_points_fwd<T>(const Exec&, int64_t, int, const T*, const T*, const T*,    \
                                  const int64_t*, T*);                                        \
  template void lbs_points_bwd<T>(const Exec&, int64_t, int, const T*, const T*, const T*,    \
                                  const T*, const int64_t*, T*, T*, T*);                      \
  template void skin_weight_volume<T>(const Exec&, const core::WeightVolumeQuery<T>&, T*);    \
  template void inverse_skin_volume_fwd<T>(const Exec&, const core::SkinVolumes<T>&, int64_t, \
                                           const T*, const int64_t*, const T*, T, T*, bool*); \
  template void inverse_skin_volume_bwd<T>(const Exec&, const core::SkinVolumes<T>&, int64_t, \
                                           const T*, const T*, const int64_t*, const T*, T*,  \
                                           T*, T*, T*);
HOLD_INSTANTIATE_SKINNING(float)
HOLD_INSTANTIATE_SKINNING(double)
#undef HOLD_INSTANTIATE_SKINNING

}  // namespace hold::kernels::HOLD_BACKEND_NS
