// Multiresolution hash-grid encoding (instant-NGP, Müller et al. 2022): per-element math.
//
// Index rule, identical to tiny-cuda-nn's HashGrid (include/tiny-cuda-nn/encodings/grid.h):
//   scale_l      = b^l · base_resolution − 1          (b = per_level_scale; computed in double)
//   resolution_l = ceil(scale_l) + 1                  (vertices per axis)
//   size_l       = min(next_multiple_of_8(resolution_l³), T)      rows of level l
//   x̂            = clamp(x, 0, 1)                      (x outside the unit cube is clamped;
//                                                       NaN is mapped to 0 and rejected upstream)
//   p_d          = x̂_d · scale_l + 0.5 ;  g_d = floor(p_d) ;  f_d = p_d − g_d
//   corner c ∈ {0..7}: vertex v = g + bits(c), weight w_c = Π_d (bit_d(c) ? f_d : 1 − f_d)
//   index(v)     = resolution_l³ ≤ T ? (v_x + v_y·res + v_z·res²) mod size_l      (dense level)
//                                    : (v_x·1 ⊕ v_y·2654435761 ⊕ v_z·805459861) mod T  (hashed)
//   y_{l,f}      = Σ_c w_c · θ[offset_l + index(v_c), f]
// The +0.5 lets a point near the upper face reach vertex res_l on a dense level, which wraps
// through the modulo exactly as in tiny-cuda-nn (harmless: scenes keep a margin to the box).
// d x̂/dx follows torch.clamp: 1 where 0 ≤ x ≤ 1, else 0.
#pragma once

#include <cmath>
#include <cstdint>

#include "core/atomic.h"
#include "core/macros.h"

namespace hold::core {

constexpr int kHashGridMaxLevels = 32;
constexpr uint32_t kHashPrimeY = 2654435761u;
constexpr uint32_t kHashPrimeZ = 805459861u;

/// Geometry of every level; built once on the host by hashgrid_make_layout, passed by value.
struct HashGridLayout {
  int n_levels = 0;
  int n_features = 0;                          // F, features per level
  int64_t n_params = 0;                        // rows of the table (= offset[n_levels])
  double scale[kHashGridMaxLevels] = {};       // scale_l
  uint32_t resolution[kHashGridMaxLevels] = {};  // resolution_l
  uint32_t offset[kHashGridMaxLevels + 1] = {};  // first row of each level
  bool hashed[kHashGridMaxLevels] = {};        // resolution_l³ > T
};

/// Fills `layout`; returns false (leaving it unspecified) for arguments outside the supported
/// range: 1 ≤ n_levels ≤ 32, F ∈ {1, 2, 4, 8}, 4 ≤ log2_table_size ≤ 24, base ≥ 2, b ≥ 1.
inline bool hashgrid_make_layout(int n_levels, int n_features, int log2_table_size,
                                 int base_resolution, double per_level_scale,
                                 HashGridLayout* layout) {
  if (n_levels < 1 || n_levels > kHashGridMaxLevels) return false;
  if (n_features != 1 && n_features != 2 && n_features != 4 && n_features != 8) return false;
  if (log2_table_size < 4 || log2_table_size > 24) return false;
  if (base_resolution < 2 || !(per_level_scale >= 1.0)) return false;
  const uint64_t table = uint64_t(1) << log2_table_size;
  layout->n_levels = n_levels;
  layout->n_features = n_features;
  uint64_t offset = 0;
  for (int l = 0; l < n_levels; ++l) {
    const double scale = std::exp2(l * std::log2(per_level_scale)) * base_resolution - 1.0;
    const double res = std::ceil(scale) + 1.0;
    if (res > 2097151.0) return false;  // res³ must fit in 64 bits
    const uint64_t r = (uint64_t)res;
    const uint64_t dense = r * r * r;
    layout->scale[l] = scale;
    layout->resolution[l] = (uint32_t)r;
    layout->hashed[l] = dense > table;
    layout->offset[l] = (uint32_t)offset;
    offset += layout->hashed[l] ? table : (dense + 7) / 8 * 8;
    if (offset > 0x7fffffffu) return false;
  }
  layout->offset[n_levels] = (uint32_t)offset;
  layout->n_params = (int64_t)offset;
  return true;
}

/// Cell coordinates of one point on one level.
template <typename T>
struct LevelCell {
  uint32_t g[3];  // lower corner vertex
  T frac[3];      // position inside the cell, [0, 1)
  T pass[3];      // d x̂ / dx per axis (1 inside the closed unit cube, else 0)
};

/// The constants of one level, in the kernel's scalar type (built once per level and block on
/// the CPU, per thread on CUDA).
template <typename T>
struct HashLevel {
  T scale;         // scale_l
  uint32_t res;    // vertices per axis
  uint32_t size;   // rows of the level
  bool hashed;     // res³ > T
  int64_t offset;  // first row of the level
};

template <typename T>
HOLD_HD HashLevel<T> hashgrid_level(const HashGridLayout& layout, int level) {
  HashLevel<T> h;
  h.scale = (T)layout.scale[level];
  h.res = layout.resolution[level];
  h.size = layout.offset[level + 1] - layout.offset[level];
  h.hashed = layout.hashed[level];
  h.offset = layout.offset[level];
  return h;
}

/// x [3] → its cell on a level. Clamps to the unit cube; NaN becomes 0 (never UB).
template <typename T>
HOLD_HD LevelCell<T> hashgrid_cell(const HashLevel<T>& lv, const T* x) {
  LevelCell<T> cell;
  const T scale = lv.scale;
  for (int d = 0; d < 3; ++d) {
    const T v = x[d];
    const T clamped = v > T(0) ? (v < T(1) ? v : T(1)) : T(0);
    cell.pass[d] = (v >= T(0) && v <= T(1)) ? T(1) : T(0);
    const T pos = clamped * scale + T(0.5);
    // pos ≥ 0.5, so truncation is floor (and avoids a libm call on baseline x86-64).
    const int32_t lower = (int32_t)pos;
    cell.g[d] = (uint32_t)lower;
    cell.frac[d] = pos - (T)lower;
  }
  return cell;
}

/// Rows (within the level) of the 8 corner vertices cell.g + bits(c), c = 0..7 with bit d
/// of c selecting the upper vertex on axis d.
template <typename T>
HOLD_HD void hashgrid_corner_rows(const HashLevel<T>& lv, const uint32_t g[3], uint32_t rows[8]) {
  const uint32_t size = lv.size;
  if (lv.hashed) {
    const uint32_t hy[2] = {g[1] * kHashPrimeY, (g[1] + 1) * kHashPrimeY};
    const uint32_t hz[2] = {g[2] * kHashPrimeZ, (g[2] + 1) * kHashPrimeZ};
    for (int c = 0; c < 8; ++c)
      rows[c] = ((g[0] + (c & 1)) ^ hy[(c >> 1) & 1] ^ hz[c >> 2]) & (size - 1);
  } else {
    const uint32_t res = lv.res;
    const uint32_t base = g[0] + g[1] * res + g[2] * res * res;
    for (int c = 0; c < 8; ++c) {
      const uint32_t index = base + (c & 1) + ((c >> 1) & 1) * res + (c >> 2) * res * res;
      rows[c] = index < size ? index : index % size;
    }
  }
}

/// Trilinear weights of the 8 corners: w_c = Π_d (bit_d(c) ? f_d : 1 − f_d).
template <typename T>
HOLD_HD void hashgrid_corner_weights(const T frac[3], T w[8]) {
  const T wx[2] = {T(1) - frac[0], frac[0]};
  const T wy[2] = {T(1) - frac[1], frac[1]};
  const T wz[2] = {T(1) - frac[2], frac[2]};
  for (int c = 0; c < 8; ++c) w[c] = wx[c & 1] * wy[(c >> 1) & 1] * wz[c >> 2];
}

/// Trilinear weight of a corner and its derivatives with respect to the cell position.
template <typename T>
struct CornerWeight {
  T w;        // Π_d w_d
  T dw[3];    // ∂w/∂p_d = s_d Π_{e≠d} w_e   (s_d = +1 if the corner's bit d is set, else −1)
};

template <typename T>
HOLD_HD CornerWeight<T> hashgrid_corner_weight(const T frac[3], int corner) {
  T wd[3], sd[3];
  for (int d = 0; d < 3; ++d) {
    const bool upper = (corner >> d) & 1;
    wd[d] = upper ? frac[d] : T(1) - frac[d];
    sd[d] = upper ? T(1) : T(-1);
  }
  CornerWeight<T> cw;
  cw.w = wd[0] * wd[1] * wd[2];
  cw.dw[0] = sd[0] * wd[1] * wd[2];
  cw.dw[1] = wd[0] * sd[1] * wd[2];
  cw.dw[2] = wd[0] * wd[1] * sd[2];
  return cw;
}

/// Forward of one (point, level): out[f] = Σ_c w_c θ[row_c, f].
/// x [3]; params [P, F]; out [F] (the level's slice of the point's [L·F] output row).
template <typename T, int F>
HOLD_HD void hashgrid_fwd_level(const HashLevel<T>& lv, const T* x,
                                const T* HOLD_RESTRICT params, T* HOLD_RESTRICT out) {
  const LevelCell<T> cell = hashgrid_cell(lv, x);
  uint32_t rows[8];
  T w[8];
  hashgrid_corner_rows(lv, cell.g, rows);
  hashgrid_corner_weights(cell.frac, w);
  const T* table = params + lv.offset * F;
  T acc[F];
  for (int f = 0; f < F; ++f) acc[f] = T(0);
  for (int c = 0; c < 8; ++c) {
    const T* row = table + (int64_t)rows[c] * F;
    for (int f = 0; f < F; ++f) acc[f] += w[c] * row[f];
  }
  for (int f = 0; f < F; ++f) out[f] = acc[f];
}

/// Parameter gradient of one (point, level): grad_params[row_c, f] += w_c · grad_out[f].
/// grad_out [F]; grad_params [P, F]. Scatters: launch with parallel_for_owned_levels.
template <typename T, int F>
HOLD_HD void hashgrid_bwd_params_level(const HashLevel<T>& lv, const T* x, const T* grad_out,
                                       T* grad_params) {
  T g[F];
  bool any = false;
  for (int f = 0; f < F; ++f) {
    g[f] = grad_out[f];
    any |= g[f] != T(0);
  }
  if (!any) return;  // saves 8 scatters for samples the loss did not reach
  const LevelCell<T> cell = hashgrid_cell(lv, x);
  uint32_t rows[8];
  T w[8];
  hashgrid_corner_rows(lv, cell.g, rows);
  hashgrid_corner_weights(cell.frac, w);
  T* table = grad_params + lv.offset * F;
  for (int c = 0; c < 8; ++c) {
    T* row = table + (int64_t)rows[c] * F;
    for (int f = 0; f < F; ++f) scatter_add(row + f, w[c] * g[f]);
  }
}

/// Position gradient of one point, all levels:
///   grad_x[d] = pass_d · Σ_l scale_l Σ_c ∂w_c/∂p_d · (Σ_f grad_out[l,f] θ[row_c, f]).
/// x [3]; grad_out [L·F]; params [P, F]; grad_x [3] (overwritten).
template <typename T, int F>
HOLD_HD void hashgrid_bwd_x_point(const HashGridLayout& layout, const T* x, const T* grad_out,
                                  const T* HOLD_RESTRICT params, T* HOLD_RESTRICT grad_x) {
  T acc[3] = {T(0), T(0), T(0)};
  for (int level = 0; level < layout.n_levels; ++level) {
    const HashLevel<T> lv = hashgrid_level<T>(layout, level);
    const LevelCell<T> cell = hashgrid_cell(lv, x);
    uint32_t rows[8];
    hashgrid_corner_rows(lv, cell.g, rows);
    const T* table = params + lv.offset * F;
    const T* g = grad_out + level * F;
    T dpos[3] = {T(0), T(0), T(0)};
    for (int c = 0; c < 8; ++c) {
      const T* row = table + (int64_t)rows[c] * F;
      T v = T(0);  // g · θ_c
      for (int f = 0; f < F; ++f) v += g[f] * row[f];
      const CornerWeight<T> cw = hashgrid_corner_weight(cell.frac, c);
      for (int d = 0; d < 3; ++d) dpos[d] += cw.dw[d] * v;
    }
    for (int d = 0; d < 3; ++d) acc[d] += lv.scale * cell.pass[d] * dpos[d];
  }
  for (int d = 0; d < 3; ++d) grad_x[d] = acc[d];
}

/// Double backward, the part that is per (point, level). With q_d = gg_x[d]·scale_l·pass_d and
/// u_c = Σ_d q_d ∂w_c/∂p_d (how grad_x moves with corner c):
///   grad_grad_out[l,f] = Σ_c u_c θ[row_c, f]          (written when grad_grad_out != nullptr)
///   grad_params[row_c, f] += u_c · grad_out[l,f]      (scatter, when grad_params != nullptr)
/// gg_x [3]; grad_out [F]; params [P, F]; grad_grad_out [F]; grad_params [P, F].
/// Scatters: launch with parallel_for_owned_levels.
template <typename T, int F>
HOLD_HD void hashgrid_bwd_bwd_level(const HashLevel<T>& lv, const T* x, const T* gg_x,
                                    const T* grad_out, const T* params, T* grad_grad_out,
                                    T* grad_params) {
  const LevelCell<T> cell = hashgrid_cell(lv, x);
  uint32_t rows[8];
  hashgrid_corner_rows(lv, cell.g, rows);
  T q[3];
  for (int d = 0; d < 3; ++d) q[d] = gg_x[d] * lv.scale * cell.pass[d];
  const int64_t base = lv.offset * F;
  T acc[F];
  for (int f = 0; f < F; ++f) acc[f] = T(0);
  for (int c = 0; c < 8; ++c) {
    const CornerWeight<T> cw = hashgrid_corner_weight(cell.frac, c);
    const T u = q[0] * cw.dw[0] + q[1] * cw.dw[1] + q[2] * cw.dw[2];
    const int64_t row = base + (int64_t)rows[c] * F;
    if (grad_grad_out)
      for (int f = 0; f < F; ++f) acc[f] += u * params[row + f];
    if (grad_params && u != T(0))
      for (int f = 0; f < F; ++f) scatter_add(grad_params + row + f, u * grad_out[f]);
  }
  if (grad_grad_out)
    for (int f = 0; f < F; ++f) grad_grad_out[f] = acc[f];
}

/// Double backward, the position part (all levels of one point): the trilinear weights have
/// mixed second derivatives ∂²w_c/∂p_d∂p_e = s_d s_e Π_{k∉{d,e}} w_k for d ≠ e (zero for d = e),
///   grad_x[e] = pass_e Σ_l scale_l Σ_c v_c Σ_{d≠e} q_d ∂²w_c/∂p_d∂p_e,   v_c = Σ_f g_f θ_cf.
/// gg_x [3]; grad_out [L·F]; params [P, F]; grad_x [3] (overwritten).
template <typename T, int F>
HOLD_HD void hashgrid_bwd_bwd_x_point(const HashGridLayout& layout, const T* x, const T* gg_x,
                                      const T* grad_out, const T* HOLD_RESTRICT params,
                                      T* HOLD_RESTRICT grad_x) {
  T acc[3] = {T(0), T(0), T(0)};
  for (int level = 0; level < layout.n_levels; ++level) {
    const HashLevel<T> lv = hashgrid_level<T>(layout, level);
    const LevelCell<T> cell = hashgrid_cell(lv, x);
    uint32_t rows[8];
    hashgrid_corner_rows(lv, cell.g, rows);
    T q[3];
    for (int d = 0; d < 3; ++d) q[d] = gg_x[d] * lv.scale * cell.pass[d];
    const T* table = params + lv.offset * F;
    const T* g = grad_out + level * F;
    T h[3] = {T(0), T(0), T(0)};
    for (int c = 0; c < 8; ++c) {
      const T* row = table + (int64_t)rows[c] * F;
      T v = T(0);
      for (int f = 0; f < F; ++f) v += g[f] * row[f];
      T wd[3], sd[3];
      for (int d = 0; d < 3; ++d) {
        const bool upper = (c >> d) & 1;
        wd[d] = upper ? cell.frac[d] : T(1) - cell.frac[d];
        sd[d] = upper ? T(1) : T(-1);
      }
      // e = 0 pairs with d = 1, 2 (remaining factor w_2 resp. w_1), and so on.
      h[0] += v * sd[0] * (q[1] * sd[1] * wd[2] + q[2] * sd[2] * wd[1]);
      h[1] += v * sd[1] * (q[0] * sd[0] * wd[2] + q[2] * sd[2] * wd[0]);
      h[2] += v * sd[2] * (q[0] * sd[0] * wd[1] + q[1] * sd[1] * wd[0]);
    }
    for (int e = 0; e < 3; ++e) acc[e] += lv.scale * cell.pass[e] * h[e];
  }
  for (int e = 0; e < 3; ++e) grad_x[e] = acc[e];
}

}  // namespace hold::core
