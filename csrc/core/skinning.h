// Linear blend skinning of hand samples, per-element math: forward LBS of points, the per-frame
// skinning-weight volume (k nearest posed vertices of each voxel centre), and inverse skinning
// by a trilinear weight lookup + closed-form inverse of the blended 3×3 (Fast-SNARF's voxel
// weights without its root finding). Specification: hold/ops/reference/skinning.py.
//
// Conventions:
//   bone transforms [B, J, 3, 4]: row-major top rows of the canonical → posed 4×4 of frame b;
//   M = Σ_j w_j T_j = [R | t] is the blend of one point.
//   A volume over the box [lo, hi] with resolution (rx, ry, rz) is stored [rz, ry, rx, C];
//   voxel (i, j, k) sits at lo + (i, j, k)·(hi − lo)/(res − 1) ("align corners").
//
//   lbs:       y = R x + t
//   volume:    k nearest posed vertices v_1..v_k of the voxel centre c (d_1 ≤ … ≤ d_k, ties by
//              vertex id), a_i = exp(−(d_i² − d_1²)/σ²), channel j < J: Σ a_i W[v_i, j] / Σ a_i,
//              channel J: d_1. With a cutoff c > 0, a voxel with no vertex within c stores
//              weights 0 and d = c (its search stops there): for a volume of voxel diagonal δ and
//              c ≥ max_dist + 2δ, every sample inverse skinning can call valid reads only exact
//              voxels, and every other one stays invalid (the distance is 1-Lipschitz).
//   inverse:   u = (x − lo)/(hi − lo)·(res − 1); inside = 0 ≤ u ≤ res − 1 on every axis; u clamped,
//              i0 = min(⌊u⌋, res − 2), trilinear (w, d) over the 8 corners; w ← w / max(Σw, 1e-12);
//              x_can = adj(R)(x − t)/det R  (÷1 instead where |det R| ≤ 1e-8);
//              valid = inside ∧ d ≤ max_dist ∧ |det R| > 1e-8.
#pragma once

#include <cmath>
#include <cstdint>

#include "core/atomic.h"
#include "core/macros.h"
#include "core/ray.h"

namespace hold::core {

/// Most neighbours skin_weight_volume blends (k); sized for the per-voxel stack arrays.
constexpr int kSkinMaxNeighbours = 32;
/// Most joints inverse skinning looks up (J); sized for the per-point stack arrays.
constexpr int kSkinMaxJoints = 64;

/// |det R| at or below which a blended transform counts as singular (reference DET_EPS).
template <typename T>
HOLD_HD T skin_det_eps() {
  return T(1e-8);
}

HOLD_HD float skin_exp(float v) { return expf(v); }
HOLD_HD double skin_exp(double v) { return exp(v); }
HOLD_HD float skin_sqrt(float v) { return sqrtf(v); }
HOLD_HD double skin_sqrt(double v) { return sqrt(v); }

// ---- forward LBS ----------------------------------------------------------------------------

/// m [12] = Σ_j w_j T_j. weights [J]; transforms [J, 12] (one frame's bones). Zero weights are
/// skipped (the wrappers reject non-finite transforms, so that is exact).
template <typename T>
HOLD_HD void blend_transforms(const T* HOLD_RESTRICT weights, const T* HOLD_RESTRICT transforms,
                              int n_joints, T* HOLD_RESTRICT m) {
  for (int e = 0; e < 12; ++e) m[e] = T(0);
  for (int j = 0; j < n_joints; ++j) {
    const T w = weights[j];
    if (w == T(0)) continue;
    for (int e = 0; e < 12; ++e) m[e] += w * transforms[12 * j + e];
  }
}

/// y [3] = R x + t for m [12] = [R | t]; x [3].
template <typename T>
HOLD_HD void lbs_apply(const T* m, const T* x, T* y) {
  for (int r = 0; r < 3; ++r)
    y[r] = (m[4 * r] * x[0] + m[4 * r + 1] * x[1] + m[4 * r + 2] * x[2]) + m[4 * r + 3];
}

/// Forward LBS of one point. x [3]; weights [J]; transforms [J, 12] of its frame; y [3].
template <typename T>
HOLD_HD void lbs_point_fwd(const T* x, const T* weights, const T* transforms, int n_joints,
                           T* y) {
  T m[12];
  blend_transforms(weights, transforms, n_joints, m);
  lbs_apply(m, x, y);
}

/// Per-point gradients of y = M x̃ (x̃ = [x; 1]) given grad_y = ∂L/∂y [3]; x [3]; weights [J];
/// transforms [J, 12]:  grad_x [3] = Rᵀ grad_y,  grad_weights [J]: g · (T_j x̃)  (each skipped
/// when nullptr).
template <typename T>
HOLD_HD void lbs_point_bwd(const T* grad_y, const T* x, const T* weights, const T* transforms,
                           int n_joints, T* grad_x, T* grad_weights) {
  if (grad_x) {
    T m[12];
    blend_transforms(weights, transforms, n_joints, m);
    for (int c = 0; c < 3; ++c)
      grad_x[c] = m[c] * grad_y[0] + m[4 + c] * grad_y[1] + m[8 + c] * grad_y[2];
  }
  if (grad_weights) {
    for (int j = 0; j < n_joints; ++j) {
      T y[3];
      lbs_apply(transforms + 12 * j, x, y);
      grad_weights[j] = grad_y[0] * y[0] + grad_y[1] * y[1] + grad_y[2] * y[2];
    }
  }
}

/// Bone gradient of one (joint, point): grad_transform [12] += w_j · grad_y x̃ᵀ; grad_y [3],
/// x [3]. Scatters: launch with an owned-rows helper (parallel_for_owned_levels, joints as the
/// rows' owners).
template <typename T>
HOLD_HD void lbs_point_bwd_bone(const T* grad_y, const T* x, T weight, T* grad_transform) {
  if (weight == T(0)) return;
  for (int r = 0; r < 3; ++r) {
    const T g = weight * grad_y[r];
    for (int c = 0; c < 3; ++c) scatter_add(grad_transform + 4 * r + c, g * x[c]);
    scatter_add(grad_transform + 4 * r + 3, g);
  }
}

// ---- skinning-weight volume -----------------------------------------------------------------

/// Posed vertices binned into a uniform grid of cubic cells, for an exact k-NN search that
/// visits few vertices. Cell (cx, cy, cz) covers lo + [c, c + 1)·cell per axis and is entry
/// cx + dims_x·(cy + dims_y·cz) of cell_start; its vertices are
/// cell_vertex[cell_start[i] .. cell_start[i + 1]). One cell holding every vertex is plain brute
/// force. A vertex may lie up to `slack` outside its cell (rounding of whoever binned it).
template <typename T>
struct VertexBins {
  T lo[3];                     // corner of cell (0, 0, 0)
  T cell;                      // edge length of a cell
  T slack;                     // tolerance of the binning, taken off every cell-distance bound
  int dims[3];                 // cells per axis
  const int64_t* cell_start;   // [dims_x·dims_y·dims_z + 1]
  const int64_t* cell_vertex;  // [V] vertex ids grouped by cell
  const T* cell_points;        // [V, 3] their positions, in the same order (contiguous scans)
};

/// One frame's weight-volume query (the posed vertices are those of the bins).
template <typename T>
struct WeightVolumeQuery {
  const T* vertex_weights;  // [V, J]
  const T* bounds;          // [2, 3] lo, hi of the volume's box
  int n_joints;             // J
  int resolution[3];        // (rx, ry, rz), each ≥ 2
  int k;                    // neighbours blended, 1 ≤ k ≤ min(V, kSkinMaxNeighbours)
  T sigma_sq;               // σ² of the Gaussian blend
  T cutoff = T(0);          // > 0: stop searching at this distance (see the header); ≤ 0: exact
  VertexBins<T> bins;
};

/// The k nearest vertices found so far, ascending by (squared distance, vertex id).
template <typename T>
struct Neighbours {
  T d2[kSkinMaxNeighbours];
  int64_t id[kSkinMaxNeighbours];
  int count = 0;
};

template <typename T>
HOLD_HD bool neighbour_before(T d2_a, int64_t id_a, T d2_b, int64_t id_b) {
  return d2_a < d2_b || (d2_a == d2_b && id_a < id_b);
}

/// Inserts (d2, id) if it is among the k nearest (insertion into the sorted list).
template <typename T>
HOLD_HD void neighbours_insert(Neighbours<T>& nb, int k, T d2, int64_t id) {
  if (nb.count == k) {
    const T worst = nb.d2[k - 1];
    if (d2 > worst || (d2 == worst && id > nb.id[k - 1])) return;  // ties: lower id first
  }
  int pos = nb.count < k ? nb.count++ : k - 1;
  while (pos > 0 && neighbour_before(d2, id, nb.d2[pos - 1], nb.id[pos - 1])) {
    nb.d2[pos] = nb.d2[pos - 1];
    nb.id[pos] = nb.id[pos - 1];
    --pos;
  }
  nb.d2[pos] = d2;
  nb.id[pos] = id;
}

/// Squared distance from coordinate p to the slab of cell `index` along `axis`, less the slack.
template <typename T>
HOLD_HD T slab_gap2(const VertexBins<T>& bins, int axis, int index, T p) {
  const T lower = bins.lo[axis] + T(index) * bins.cell;
  const T gap = max_value(max_value(lower - p, p - (lower + bins.cell)) - bins.slack, T(0));
  return gap * gap;
}

/// True when the cutoff is on and no vertex found so far lies within it (nb ascending).
template <typename T>
HOLD_HD bool none_within_cutoff(const WeightVolumeQuery<T>& q, const Neighbours<T>& nb) {
  return q.cutoff > T(0) && (nb.count == 0 || nb.d2[0] > q.cutoff * q.cutoff);
}

/// Exact k nearest vertices of p [3]: cells are visited in growing cubic shells around p's cell,
/// skipping rows and cells farther than the current k-th neighbour, until every unvisited cell
/// is farther than it. With q.cutoff > 0 the search also stops once every unvisited cell lies
/// beyond the cutoff and no vertex within it was found (the voxel is far; see the header).
template <typename T>
HOLD_HD void nearest_vertices(const WeightVolumeQuery<T>& q, const T p[3], Neighbours<T>& nb) {
  const VertexBins<T>& bins = q.bins;
  T bound = huge_value<T>();  // the k-th nearest so far: vertices beyond it cannot enter
  int centre[3];
  int max_shell = 0;
  for (int a = 0; a < 3; ++a) {
    const T u = (p[a] - bins.lo[a]) / bins.cell;
    const int last = bins.dims[a] - 1;
    centre[a] = u > T(0) ? (u < T(last) ? (int)u : last) : 0;  // NaN → 0
    max_shell = max_value(max_shell, max_value(centre[a], last - centre[a]));
  }
  for (int r = 0; r <= max_shell; ++r) {
    // The cells at Chebyshev distance r from the centre cell, inside the grid.
    const int z0 = max_value(centre[2] - r, 0), z1 = min_value(centre[2] + r, bins.dims[2] - 1);
    const int y0 = max_value(centre[1] - r, 0), y1 = min_value(centre[1] + r, bins.dims[1] - 1);
    for (int z = z0; z <= z1; ++z) {
      const T gap_z = slab_gap2(bins, 2, z, p[2]);
      if (gap_z > bound) continue;
      for (int y = y0; y <= y1; ++y) {
        const T gap_yz = gap_z + slab_gap2(bins, 1, y, p[1]);
        if (gap_yz > bound) continue;
        const bool face = z == centre[2] - r || z == centre[2] + r || y == centre[1] - r ||
                          y == centre[1] + r;
        const int step = face || r == 0 ? 1 : 2 * r;  // off the y/z faces only x = ±r is new
        for (int x = centre[0] - r; x <= centre[0] + r; x += step) {
          if (x < 0 || x >= bins.dims[0] || gap_yz + slab_gap2(bins, 0, x, p[0]) > bound)
            continue;
          const int64_t cell = x + (int64_t)bins.dims[0] * (y + (int64_t)bins.dims[1] * z);
          for (int64_t e = bins.cell_start[cell]; e < bins.cell_start[cell + 1]; ++e) {
            const T* pv = bins.cell_points + 3 * e;
            const T dx = p[0] - pv[0], dy = p[1] - pv[1], dz = p[2] - pv[2];
            const T d2 = dx * dx + dy * dy + dz * dz;
            if (d2 > bound) continue;
            neighbours_insert(nb, q.k, d2, bins.cell_vertex[e]);
            if (nb.count == q.k) bound = nb.d2[q.k - 1];
          }
        }
      }
    }
    // Unvisited vertices lie beyond one of the visited block's faces that still has cells
    // behind it; the nearest such face bounds their distance from below.
    bool remaining = false;
    T gap = huge_value<T>();
    for (int a = 0; a < 3; ++a) {
      if (centre[a] - r > 0) {
        remaining = true;
        gap = min_value(gap, p[a] - (bins.lo[a] + T(centre[a] - r) * bins.cell));
      }
      if (centre[a] + r + 1 < bins.dims[a]) {
        remaining = true;
        gap = min_value(gap, bins.lo[a] + T(centre[a] + r + 1) * bins.cell - p[a]);
      }
    }
    gap -= bins.slack;
    if (!remaining || (gap > T(0) && gap * gap > bound)) break;
    // Nothing within the cutoff so far, and nothing unvisited can be: a far voxel.
    if (gap > q.cutoff && none_within_cutoff(q, nb)) break;
  }
}

/// Voxel `voxel` (flat index x + rx·(y + ry·z)) of the weight volume: out [J + 1].
template <typename T>
HOLD_HD void weight_volume_voxel(const WeightVolumeQuery<T>& q, int64_t voxel, T* out) {
  const int64_t plane = (int64_t)q.resolution[0] * q.resolution[1];
  const int64_t index[3] = {voxel % q.resolution[0], (voxel % plane) / q.resolution[0],
                            voxel / plane};
  T p[3];
  for (int a = 0; a < 3; ++a) {
    const T spacing = (q.bounds[3 + a] - q.bounds[a]) / T(q.resolution[a] - 1);
    p[a] = q.bounds[a] + T(index[a]) * spacing;
  }
  Neighbours<T> nb;
  nearest_vertices(q, p, nb);
  if (none_within_cutoff(q, nb)) {  // a far voxel
    for (int j = 0; j < q.n_joints; ++j) out[j] = T(0);
    out[q.n_joints] = q.cutoff;
    return;
  }
  T affinity[kSkinMaxNeighbours];
  T total = T(0);
  for (int i = 0; i < q.k; ++i) {
    affinity[i] = skin_exp(-((nb.d2[i] - nb.d2[0]) / q.sigma_sq));
    total += affinity[i];
  }
  for (int j = 0; j < q.n_joints; ++j) {
    T acc = T(0);
    for (int i = 0; i < q.k; ++i) acc += affinity[i] * q.vertex_weights[nb.id[i] * q.n_joints + j];
    out[j] = acc / total;
  }
  out[q.n_joints] = skin_sqrt(nb.d2[0]);
}

// ---- inverse skinning through the weight volume ---------------------------------------------

/// The per-frame weight volumes and their boxes.
template <typename T>
struct SkinVolumes {
  const T* volumes;   // [B, rz, ry, rx, J + 1]
  const T* bounds;    // [B, 2, 3]
  int resolution[3];  // (rx, ry, rz), each ≥ 2
  int n_joints;       // J ≤ kSkinMaxJoints
};

/// Trilinear lookup position of a point in its frame's volume: the 8 corner voxels (flat rows of
/// the [B·rz·ry·rx, J + 1] table, corner bit a = upper neighbour on axis a) and their weights.
template <typename T>
struct VolumeCell {
  int64_t row[8];
  T weight[8];
  bool inside;  // 0 ≤ u ≤ res − 1 on every axis (before clamping)
};

/// x [3] in frame b → its cell. NaN reads as 0 (rejected upstream; never UB).
template <typename T>
HOLD_HD VolumeCell<T> volume_cell(const SkinVolumes<T>& v, int64_t b, const T* x) {
  const T* lo = v.bounds + 6 * b;
  const T* hi = lo + 3;
  VolumeCell<T> cell;
  cell.inside = true;
  int64_t base[3];
  T frac[3];
  for (int a = 0; a < 3; ++a) {
    const T top = T(v.resolution[a] - 1);
    const T u = (x[a] - lo[a]) / (hi[a] - lo[a]) * top;
    cell.inside = cell.inside && u >= T(0) && u <= top;
    const T clamped = u > T(0) ? (u < top ? u : top) : T(0);
    base[a] = min_value<int64_t>((int64_t)clamped, v.resolution[a] - 2);  // clamped ≥ 0: floor
    frac[a] = clamped - T(base[a]);
  }
  const int64_t rx = v.resolution[0], ry = v.resolution[1], rz = v.resolution[2];
  for (int c = 0; c < 8; ++c) {
    const int bx = c & 1, by = (c >> 1) & 1, bz = c >> 2;
    cell.row[c] = ((b * rz + base[2] + bz) * ry + base[1] + by) * rx + base[0] + bx;
    cell.weight[c] = ((bx ? frac[0] : T(1) - frac[0]) * (by ? frac[1] : T(1) - frac[1])) *
                     (bz ? frac[2] : T(1) - frac[2]);
  }
  return cell;
}

/// Everything inverse skinning derives for one point.
template <typename T>
struct InverseSkin {
  T m[12];    // blended [R | t]
  T adj[9];   // adj(R), row-major
  T det;      // det R
  T scale;    // det R, or 1 where |det R| ≤ eps
  T y[3];     // x − t
  T x_can[3]; // adj(R) y / scale
  bool regular;  // |det R| > eps
  bool valid;
};

/// Inverse skinning of one point x [3] of frame b; transforms [J, 12] are that frame's bones.
/// weights_out [J] receives the normalised looked-up weights when not nullptr.
template <typename T>
HOLD_HD InverseSkin<T> inverse_skin_point(const SkinVolumes<T>& v, int64_t b, const T* x,
                                          const T* transforms, T max_dist, T* weights_out) {
  const VolumeCell<T> cell = volume_cell(v, b, x);
  // Trilinear lookup of all J + 1 channels, corner by corner (each corner's row is contiguous).
  const int64_t stride = v.n_joints + 1;
  T looked_up[kSkinMaxJoints + 1];
  for (int j = 0; j < stride; ++j) looked_up[j] = T(0);
  for (int c = 0; c < 8; ++c) {
    const T* row = v.volumes + cell.row[c] * stride;
    for (int j = 0; j < stride; ++j) looked_up[j] += cell.weight[c] * row[j];
  }
  InverseSkin<T> s;
  for (int e = 0; e < 12; ++e) s.m[e] = T(0);
  T total = T(0);
  for (int j = 0; j < v.n_joints; ++j) {
    const T w = looked_up[j];
    total += w;
    if (w == T(0)) continue;
    for (int e = 0; e < 12; ++e) s.m[e] += w * transforms[12 * j + e];
  }
  // (Σ w_j T_j)/s equals Σ (w_j/s) T_j up to rounding; dividing once saves J·12 divisions.
  const T norm = max_value(total, T(1e-12));
  for (int e = 0; e < 12; ++e) s.m[e] /= norm;
  if (weights_out)
    for (int j = 0; j < v.n_joints; ++j) weights_out[j] = looked_up[j] / norm;
  const T* m = s.m;
  const T a = m[0], bb = m[1], c = m[2], d = m[4], e = m[5], f = m[6], g = m[8], h = m[9],
          i = m[10];
  const T cof_a = e * i - f * h, cof_b = f * g - d * i, cof_c = d * h - e * g;
  s.det = a * cof_a + bb * cof_b + c * cof_c;
  const T adj[9] = {cof_a, c * h - bb * i, bb * f - c * e,
                    cof_b, a * i - c * g,  c * d - a * f,
                    cof_c, bb * g - a * h, a * e - bb * d};
  s.regular = (s.det >= T(0) ? s.det : -s.det) > skin_det_eps<T>();
  s.scale = s.regular ? s.det : T(1);
  for (int r = 0; r < 3; ++r) s.y[r] = x[r] - m[4 * r + 3];
  for (int r = 0; r < 9; ++r) s.adj[r] = adj[r];
  for (int r = 0; r < 3; ++r)
    s.x_can[r] = (adj[3 * r] * s.y[0] + adj[3 * r + 1] * s.y[1] + adj[3 * r + 2] * s.y[2]) / s.scale;
  s.valid = cell.inside && looked_up[v.n_joints] <= max_dist && s.regular;
  return s;
}

/// Backward of x_can = adj(R) y / s (s = det R, or the constant 1 where singular), y = x − t,
/// given g = ∂L/∂x_can [3]. With ĝ = g/s:
///   ∂L/∂y = adj(R)ᵀ ĝ  (= ∂L/∂x = −∂L/∂t);
///   ∂L/∂R[:, m] = ĝ_{m−1} (c_{m+1} × y) − ĝ_{m+1} (c_{m−1} × y) + [regular] ∂L/∂det · adj(R)[m, :]
///   (c_m = column m of R, indices mod 3; adj's rows are c_{m+1} × c_{m+2}, ∂L/∂det = −ĝ·x_can).
/// grad_blend [12] = ∂L/∂[R | t]; grad_x [3] (skipped when nullptr).
template <typename T>
HOLD_HD void inverse_skin_point_bwd(const InverseSkin<T>& s, const T* grad_x_can, T* grad_blend,
                                    T* grad_x) {
  T gh[3];
  for (int r = 0; r < 3; ++r) gh[r] = grad_x_can[r] / s.scale;
  T grad_y[3];
  for (int k = 0; k < 3; ++k)
    grad_y[k] = s.adj[k] * gh[0] + s.adj[3 + k] * gh[1] + s.adj[6 + k] * gh[2];
  if (grad_x)
    for (int k = 0; k < 3; ++k) grad_x[k] = grad_y[k];
  const T grad_det = s.regular ? -(gh[0] * s.x_can[0] + gh[1] * s.x_can[1] + gh[2] * s.x_can[2])
                             : T(0);
  T col[3][3];  // col[m] = column m of R
  for (int m = 0; m < 3; ++m)
    for (int r = 0; r < 3; ++r) col[m][r] = s.m[4 * r + m];
  for (int m = 0; m < 3; ++m) {
    const T* next = col[(m + 1) % 3];
    const T* prev = col[(m + 2) % 3];
    const T cn[3] = {next[1] * s.y[2] - next[2] * s.y[1], next[2] * s.y[0] - next[0] * s.y[2],
                     next[0] * s.y[1] - next[1] * s.y[0]};  // c_{m+1} × y
    const T cp[3] = {prev[1] * s.y[2] - prev[2] * s.y[1], prev[2] * s.y[0] - prev[0] * s.y[2],
                     prev[0] * s.y[1] - prev[1] * s.y[0]};  // c_{m−1} × y
    const T g_prev = gh[(m + 2) % 3], g_next = gh[(m + 1) % 3];
    for (int r = 0; r < 3; ++r)
      grad_blend[4 * r + m] = g_prev * cn[r] - g_next * cp[r] + grad_det * s.adj[3 * m + r];
  }
  for (int r = 0; r < 3; ++r) grad_blend[4 * r + 3] = -grad_y[r];
}

/// Bone gradient of one (joint, point): grad_transform [12] += w_j · grad_blend [12].
/// Scatters: launch with an owned-rows helper.
template <typename T>
HOLD_HD void inverse_skin_point_bwd_bone(const T* grad_blend, T weight, T* grad_transform) {
  if (weight == T(0)) return;
  for (int e = 0; e < 12; ++e) scatter_add(grad_transform + e, weight * grad_blend[e]);
}

}  // namespace hold::core
