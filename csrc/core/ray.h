// Ray geometry shared by the marcher and the occupancy grid: rigid transforms, ray–box slabs,
// cells of a dense grid and the distance to a cell's exit.
#pragma once

#include <cmath>
#include <cstdint>

#include "core/macros.h"

namespace hold::core {

template <typename T>
HOLD_HD T min_value(T a, T b) {
  return a < b ? a : b;
}
template <typename T>
HOLD_HD T max_value(T a, T b) {
  return a > b ? a : b;
}
template <typename T>
HOLD_HD T huge_value() {
  return T(1e30);
}

/// out = R·p + t for a row-major 3×4 rigid transform m [12] = [R | t].
template <typename T>
HOLD_HD void transform_point(const T* m, const T* p, T* out) {
  for (int r = 0; r < 3; ++r) out[r] = m[4 * r] * p[0] + m[4 * r + 1] * p[1] + m[4 * r + 2] * p[2] + m[4 * r + 3];
}

/// out = R·v (directions ignore the translation).
template <typename T>
HOLD_HD void transform_vector(const T* m, const T* v, T* out) {
  for (int r = 0; r < 3; ++r) out[r] = m[4 * r] * v[0] + m[4 * r + 1] * v[1] + m[4 * r + 2] * v[2];
}

/// Slab test of the ray o + t·d against the box [lo, hi]. Returns false on a miss; else
/// [*t_enter, *t_exit] is where the ray is inside (t_enter may be negative when o is inside).
/// An axis with d = 0 constrains nothing when o lies within its slab and misses otherwise,
/// so rays parallel to a face never produce 0·∞.
template <typename T>
HOLD_HD bool ray_aabb(const T* o, const T* d, const T* lo, const T* hi, T* t_enter, T* t_exit) {
  T t0 = -huge_value<T>(), t1 = huge_value<T>();
  for (int a = 0; a < 3; ++a) {
    if (d[a] == T(0)) {
      if (o[a] < lo[a] || o[a] > hi[a]) return false;
      continue;
    }
    const T inv = T(1) / d[a];
    T ta = (lo[a] - o[a]) * inv, tb = (hi[a] - o[a]) * inv;
    if (ta > tb) {
      const T s = ta;
      ta = tb;
      tb = s;
    }
    t0 = max_value(t0, ta);
    t1 = min_value(t1, tb);
  }
  *t_enter = t0;
  *t_exit = t1;
  return t0 <= t1;
}

/// Dense grid of res³ cells over the box [lo, hi], cell index x + y·res + z·res².
template <typename T>
struct GridBox {
  T lo[3];
  T size[3];      // hi − lo
  T inv_cell[3];  // res / size (cells per unit length)
  int res;
};

template <typename T>
HOLD_HD GridBox<T> make_grid_box(const T* lo, const T* hi, int res) {
  GridBox<T> g;
  for (int a = 0; a < 3; ++a) {
    g.lo[a] = lo[a];
    g.size[a] = hi[a] - lo[a];
    g.inv_cell[a] = T(res) / g.size[a];
  }
  g.res = res;
  return g;
}

/// Cell (clamped into the grid) containing point p [3].
template <typename T>
HOLD_HD void grid_cell(const GridBox<T>& g, const T* p, int cell[3]) {
  for (int a = 0; a < 3; ++a) {
    const T u = (p[a] - g.lo[a]) * g.inv_cell[a];
    int c = u > T(0) ? (int)u : 0;  // u ≥ 0 here, so truncation is floor
    cell[a] = c < g.res ? c : g.res - 1;
  }
}

HOLD_HD int64_t grid_cell_index(const int cell[3], int res) {
  return cell[0] + (int64_t)res * (cell[1] + (int64_t)res * cell[2]);
}

/// Whether bit `index` of a packed bitfield (byte index >> 3, bit index & 7) is set.
HOLD_HD bool bit_is_set(const uint8_t* bits, int64_t index) {
  return (bits[index >> 3] >> (index & 7)) & 1;
}

/// Ray parameter distance from p (on the ray, direction d) to where the ray leaves `cell`.
template <typename T>
HOLD_HD T distance_to_cell_exit(const GridBox<T>& g, const int cell[3], const T* p, const T* d) {
  T best = huge_value<T>();
  for (int a = 0; a < 3; ++a) {
    if (d[a] == T(0)) continue;
    const T cell_size = g.size[a] / T(g.res);
    const T boundary = g.lo[a] + cell_size * T(d[a] > T(0) ? cell[a] + 1 : cell[a]);
    best = min_value(best, (boundary - p[a]) / d[a]);
  }
  return max_value(best, T(0));
}

}  // namespace hold::core
