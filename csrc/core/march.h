// Occupancy-culled ray marching of one ray (instant-NGP's training marcher, Müller et al. 2022;
// nerfacc's two-pass packed layout, Li et al. 2023), per-element math.
//
// The ray o + t·d is given in camera space; an optional rigid 3×4 transform maps it into the
// node's space, where the node's grid box holds res³ cells with an occupancy bitfield and a
// coarse "mip" bitfield of (res/f)³ cells (a coarse cell is set iff any of its f³ cells is).
// Rigid transforms keep lengths, so t (and the step) mean the same in both spaces.
//
//   t_0  = max(near, t_enter) + offset·step        (offset ∈ [0, 1) jitters training rays)
//   loop:  dt = max(step, t·cone_angle) ; t_mid = t + dt/2 ; stop when t_mid ≥ min(far, t_exit)
//          coarse cell of o + t_mid·d empty → skip past the coarse cell's exit
//          else fine cell occupied         → emit sample [t, t + dt], next step
//          else                             → skip past the fine cell's exit
//   skip past x: constant step (cone_angle = 0): t = t_0 + k·step with the first k whose
//          midpoint t_0 + (k + ½)·step ≥ x (always advancing); cone steps: t += dt until
//          t + dt/2 ≥ x.
//   at most max_samples samples per ray.
#pragma once

#include <cmath>
#include <cstdint>

#include "core/macros.h"
#include "core/ray.h"

namespace hold::core {

/// The grid a ray is marched through.
template <typename T>
struct MarchGrid {
  GridBox<T> box;        // res³ fine cells
  GridBox<T> mip_box;    // (res/f)³ coarse cells over the same box
  const uint8_t* bits;   // [res³ / 8] fine bitfield
  const uint8_t* mip;    // [(res/f)³ / 8] coarse bitfield, or nullptr
};

template <typename T>
HOLD_HD T march_step(T t, T step, T cone_angle) {
  return max_value(step, t * cone_angle);
}

HOLD_HD float ceil_value(float v) { return ceilf(v); }
HOLD_HD double ceil_value(double v) { return ceil(v); }

/// Marches one ray; calls emit(k, t_start, t_end) for its k-th sample and returns the count.
/// o_cam, d_cam [3]; transform [12] row-major camera → node (nullptr: identity).
template <typename T, typename Emit>
HOLD_HD int march_ray(const T* o_cam, const T* d_cam, T near, T far, T offset, const T* transform,
                      const MarchGrid<T>& grid, T step, T cone_angle, int max_samples, Emit emit) {
  T o[3], d[3];
  if (transform) {
    transform_point(transform, o_cam, o);
    transform_vector(transform, d_cam, d);
  } else {
    for (int a = 0; a < 3; ++a) {
      o[a] = o_cam[a];
      d[a] = d_cam[a];
    }
  }
  const T hi[3] = {grid.box.lo[0] + grid.box.size[0], grid.box.lo[1] + grid.box.size[1],
                   grid.box.lo[2] + grid.box.size[2]};
  T t_enter, t_exit;
  if (!ray_aabb(o, d, grid.box.lo, hi, &t_enter, &t_exit)) return 0;
  const T t_end = min_value(far, t_exit);
  const T t_first = max_value(near, t_enter) + offset * step;
  const bool lattice = !(cone_angle > T(0));
  int64_t k = 0;  // lattice index of t (constant steps)
  T t = t_first;
  int count = 0;
  while (count < max_samples) {
    T dt = march_step(t, step, cone_angle);
    const T t_mid = t + T(0.5) * dt;
    if (!(t_mid < t_end)) break;
    const T p[3] = {o[0] + t_mid * d[0], o[1] + t_mid * d[1], o[2] + t_mid * d[2]};
    int cell[3];
    T target;  // where the empty region holding the midpoint ends along the ray
    bool coarse_occupied = true;
    if (grid.mip) {
      grid_cell(grid.mip_box, p, cell);
      if (!bit_is_set(grid.mip, grid_cell_index(cell, grid.mip_box.res))) {
        coarse_occupied = false;
        target = t_mid + distance_to_cell_exit(grid.mip_box, cell, p, d);
      }
    }
    if (coarse_occupied) {
      grid_cell(grid.box, p, cell);
      if (bit_is_set(grid.bits, grid_cell_index(cell, grid.box.res))) {
        emit(count, t, t + dt);
        ++count;
        ++k;
        t = lattice ? t_first + T(k) * step : t + dt;
        continue;
      }
      target = t_mid + distance_to_cell_exit(grid.box, cell, p, d);
    }
    if (lattice) {
      const T k_target = ceil_value((target - t_first) / step - T(0.5));
      k = k_target > T(k + 1) ? (int64_t)k_target : k + 1;
      t = t_first + T(k) * step;
    } else {
      do {
        t += dt;
        dt = march_step(t, step, cone_angle);
      } while (t + T(0.5) * dt < target);
    }
  }
  return count;
}

/// Everything the marcher reads, for all rays of one node. Per ray r: frame f = frame[r] (0 when
/// frame is nullptr); transform = transforms[f] when n_transforms > 1, transforms[0] when 1,
/// none when nullptr; grid g = f when n_grids > 1, else 0 (one canonical grid, or per-frame
/// posed-space grids for the hand).
template <typename T>
struct MarchRays {
  int64_t n_rays = 0;
  const T* origins = nullptr;       // [R, 3] camera space
  const T* dirs = nullptr;          // [R, 3] camera space (unit length: t in metres)
  const T* near = nullptr;          // [R]
  const T* far = nullptr;           // [R]
  const T* offsets = nullptr;       // [R] start jitter in [0, 1) steps, or nullptr
  const int64_t* frame = nullptr;   // [R] or nullptr
  const T* transforms = nullptr;    // [B, 3, 4] camera → node, or nullptr
  int64_t n_transforms = 0;
  const uint8_t* bits = nullptr;    // [G, grid_bytes]
  const uint8_t* mip = nullptr;     // [G, mip_bytes] coarse bitfields, or nullptr
  int64_t n_grids = 0;
  int64_t grid_bytes = 0;
  int64_t mip_bytes = 0;
  const T* aabbs = nullptr;         // [G, 2, 3] min and max corner of each grid's box
  int res = 0;                      // fine cells per axis
  int mip_factor = 1;               // fine cells per coarse cell and axis (res % f == 0)
  T step = T(0);
  T cone_angle = T(0);
  int max_samples = 0;
};

/// Marches ray r of `rays`; emit(k, t_start, t_end) per sample; returns the count.
template <typename T, typename Emit>
HOLD_HD int march_ray_of(const MarchRays<T>& rays, int64_t r, Emit emit) {
  const int64_t f = rays.frame ? rays.frame[r] : 0;
  const T* transform = nullptr;
  if (rays.transforms) transform = rays.transforms + 12 * (rays.n_transforms > 1 ? f : 0);
  const int64_t g = rays.n_grids > 1 ? f : 0;
  const T* aabb = rays.aabbs + 6 * g;
  MarchGrid<T> grid;
  grid.box = make_grid_box(aabb, aabb + 3, rays.res);
  grid.mip_box = make_grid_box(aabb, aabb + 3, rays.res / rays.mip_factor);
  grid.bits = rays.bits + g * rays.grid_bytes;
  grid.mip = rays.mip ? rays.mip + g * rays.mip_bytes : nullptr;
  return march_ray(rays.origins + 3 * r, rays.dirs + 3 * r, rays.near[r], rays.far[r],
                   rays.offsets ? rays.offsets[r] : T(0), transform, grid, rays.step,
                   rays.cone_angle, rays.max_samples, emit);
}

}  // namespace hold::core
