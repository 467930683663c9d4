// Volume rendering of packed samples, per-element math: SDF → density, front-to-back compositing
// of one ray with per-node (semantic) accumulation, its backward, and the depth-ordered merge of
// two nodes' samples on a ray.
//
// Density (per sample, β = beta[node]):
//   Laplace (VolSDF, Yariv et al. 2021; HOLD):  σ = (1/β)·Ψ(−s/β),  Ψ(−u) = ½e^{−u} (u ≥ 0), 1 − ½e^{u} (u < 0)
//   logistic (NeuS's logistic density):         σ = (1/β)·e^{−u}/(1 + e^{−u})²,   u = s/β
//   raw:                                         σ = s (the input already is a density)
// Compositing (samples i of a ray in depth order, δ_i = t_end − t_start, t_i = midpoint):
//   α_i = 1 − exp(−σ_i δ_i),  T_i = Π_{j<i}(1 − α_j),  w_i = T_i α_i
//   rgb = Σ w_i c_i + T_N·bg,  depth = Σ w_i t_i,  opacity = Σ w_i,  node_k = Σ_{node_i = k} w_i
// Early termination: the first sample with T_i < eps and all after it get w = 0, T_N = T_i.
// Backward (no division by 1 − α): with g_i = ∂L/∂w_i (through rgb, depth, opacity, node, w)
//   ∂L/∂σ_i = δ_i·(T_{i+1} g_i − Σ_{j>i} w_j g_j − T_N·(∂L/∂rgb · bg)).
#pragma once

#include <cmath>
#include <cstdint>

#include "core/macros.h"

namespace hold::core {

constexpr int kMaxNodes = 8;
enum DensityMode : int { kDensityLaplace = 0, kDensityLogistic = 1, kDensityRaw = 2 };

HOLD_HD float exp_of(float v) { return expf(v); }
HOLD_HD double exp_of(double v) { return exp(v); }

/// σ and its partial derivatives with respect to the SDF value s and the scale β.
template <typename T>
struct Density {
  T sigma, d_sdf, d_beta;
};

template <typename T>
HOLD_HD Density<T> sdf_density(T s, T beta, int mode) {
  Density<T> out;
  if (mode == kDensityRaw) {
    out.sigma = s;
    out.d_sdf = T(1);
    out.d_beta = T(0);
    return out;
  }
  const T inv = T(1) / beta;
  const T u = s * inv;
  const T e = exp_of(u >= T(0) ? -u : u);  // e^{−|u|}, never overflows
  T f, df;                                 // shape function of u and its derivative
  if (mode == kDensityLaplace) {
    f = u >= T(0) ? T(0.5) * e : T(1) - T(0.5) * e;
    df = T(-0.5) * e;
  } else {
    const T one_plus = T(1) + e;
    f = e / (one_plus * one_plus);  // logistic density, symmetric in u
    const T sig = u >= T(0) ? T(1) / one_plus : e / one_plus;
    df = f * (T(1) - T(2) * sig);
  }
  out.sigma = f * inv;
  out.d_sdf = df * inv * inv;
  out.d_beta = -(f + u * df) * inv * inv;
  return out;
}

/// Inputs of one ray's compositing; sample arrays are indexed by global sample id.
template <typename T>
struct CompositeInputs {
  const T* t_starts;     // [S]
  const T* t_ends;       // [S]
  const T* sdf;          // [S] SDF values (or densities in raw mode)
  const int64_t* node;   // [S] node of each sample, in [0, K)
  const T* beta;         // [K] per-node density scale
  const T* rgb;          // [S, 3]
  const T* bg;           // [R, 3] background colour, or nullptr (black)
  int n_nodes;           // K ≤ kMaxNodes
  int mode;              // DensityMode
  T eps;                 // early-termination transmittance (0 disables it)
};

/// Forward of ray r over samples [start, start + count).
/// out_rgb [3], out_depth [1], out_opacity [1], out_node [K]; weights [S], trans [S] (T_i; samples
/// after termination store the final transmittance).
template <typename T>
HOLD_HD void composite_ray_fwd(const CompositeInputs<T>& in, int64_t r, int64_t start,
                               int64_t count, T* out_rgb, T* out_depth, T* out_opacity,
                               T* out_node, T* weights, T* trans) {
  T transmittance = T(1), acc[3] = {T(0), T(0), T(0)}, depth = T(0), opacity = T(0);
  T node_acc[kMaxNodes];
  for (int k = 0; k < in.n_nodes; ++k) node_acc[k] = T(0);
  for (int64_t i = start; i < start + count; ++i) {
    trans[i] = transmittance;
    if (transmittance < in.eps) {
      weights[i] = T(0);
      continue;
    }
    const int64_t k = in.node[i];
    const T sigma = sdf_density(in.sdf[i], in.beta[k], in.mode).sigma;
    const T delta = in.t_ends[i] - in.t_starts[i];
    const T keep = exp_of(-sigma * delta);  // 1 − α
    const T w = transmittance * (T(1) - keep);
    weights[i] = w;
    for (int c = 0; c < 3; ++c) acc[c] += w * in.rgb[3 * i + c];
    depth += w * T(0.5) * (in.t_starts[i] + in.t_ends[i]);
    opacity += w;
    node_acc[k] += w;
    transmittance *= keep;
  }
  for (int c = 0; c < 3; ++c) out_rgb[c] = acc[c] + (in.bg ? transmittance * in.bg[3 * r + c] : T(0));
  *out_depth = depth;
  *out_opacity = opacity;
  for (int k = 0; k < in.n_nodes; ++k) out_node[k] = node_acc[k];
}

/// Upstream gradients of one ray's outputs (grad_weights may be nullptr).
template <typename T>
struct CompositeGrads {
  const T* rgb;       // [R, 3]
  const T* depth;     // [R]
  const T* opacity;   // [R]
  const T* node;      // [R, K]
  const T* weights;   // [S] or nullptr
};

/// Backward of ray r. Uses the forward's weights [S] and trans [S]. Writes grad_sdf [S],
/// grad_beta_sample [S] (∂L/∂β of the sample's node; the caller sums per node), grad_rgb [S, 3]
/// and grad_bg [3] (when in.bg != nullptr).
template <typename T>
HOLD_HD void composite_ray_bwd(const CompositeInputs<T>& in, const CompositeGrads<T>& g,
                               int64_t r, int64_t start, int64_t count, const T* weights,
                               const T* trans, T* grad_sdf, T* grad_beta_sample, T* grad_rgb,
                               T* grad_bg) {
  const T* g_rgb = g.rgb + 3 * r;
  // Samples that took part: those before the first with T_i < eps.
  int64_t end = start;
  while (end < start + count && !(trans[end] < in.eps)) ++end;
  T t_final = T(1);  // T_N
  if (end < start + count) {
    t_final = trans[end];
  } else if (end > start) {
    const int64_t i = end - 1;
    const T sigma = sdf_density(in.sdf[i], in.beta[in.node[i]], in.mode).sigma;
    t_final = trans[i] * exp_of(-sigma * (in.t_ends[i] - in.t_starts[i]));
  }
  T bg_dot = T(0);
  if (in.bg) {
    for (int c = 0; c < 3; ++c) {
      bg_dot += g_rgb[c] * in.bg[3 * r + c];
      grad_bg[c] = t_final * g_rgb[c];
    }
  }
  T suffix = t_final * bg_dot;  // Σ_{j>i} w_j g_j + T_N (∂L/∂rgb · bg)
  for (int64_t i = end - 1; i >= start; --i) {
    const int64_t k = in.node[i];
    const T t_mid = T(0.5) * (in.t_starts[i] + in.t_ends[i]);
    T gi = g_rgb[0] * in.rgb[3 * i] + g_rgb[1] * in.rgb[3 * i + 1] + g_rgb[2] * in.rgb[3 * i + 2] +
           g.depth[r] * t_mid + g.opacity[r] + g.node[r * in.n_nodes + k];
    if (g.weights) gi += g.weights[i];
    const Density<T> dens = sdf_density(in.sdf[i], in.beta[k], in.mode);
    const T delta = in.t_ends[i] - in.t_starts[i];
    const T t_next = trans[i] * exp_of(-dens.sigma * delta);
    const T d_sigma = delta * (t_next * gi - suffix);
    grad_sdf[i] = d_sigma * dens.d_sdf;
    grad_beta_sample[i] = d_sigma * dens.d_beta;
    for (int c = 0; c < 3; ++c) grad_rgb[3 * i + c] = weights[i] * g_rgb[c];
    suffix += weights[i] * gi;
  }
  for (int64_t i = end; i < start + count; ++i) {  // terminated samples: no influence
    grad_sdf[i] = T(0);
    grad_beta_sample[i] = T(0);
    for (int c = 0; c < 3; ++c) grad_rgb[3 * i + c] = T(0);
  }
}

/// Depth-ordered merge of two nodes' samples on one ray. Samples of a ray are already sorted
/// within each node; intervals of different nodes may overlap, so the merge orders them by
/// midpoint (ties: node a first). Writes order[out_start + k] = index into cat(a, b) (b indices
/// offset by n_a). mid_a [S_a], mid_b [S_b] midpoints; order [S_a + S_b].
template <typename T>
HOLD_HD void merge_ray(const T* mid_a, int64_t start_a, int64_t count_a, const T* mid_b,
                       int64_t start_b, int64_t count_b, int64_t n_a, int64_t out_start,
                       int64_t* order) {
  int64_t ia = 0, ib = 0, k = out_start;
  while (ia < count_a && ib < count_b) {
    if (mid_b[start_b + ib] < mid_a[start_a + ia]) {
      order[k++] = n_a + start_b + ib++;
    } else {
      order[k++] = start_a + ia++;
    }
  }
  while (ia < count_a) order[k++] = start_a + ia++;
  while (ib < count_b) order[k++] = n_a + start_b + ib++;
}

}  // namespace hold::core
