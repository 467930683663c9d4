// Skinning per-element math and the CPU launchers, without torch.
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "core/skinning.h"
#include "kernels/kernels.h"
#include "test_main.h"

namespace {

using hold::core::SkinVolumes;

/// A rotation about the unit axis n by angle a, with translation t, as a row-major 3×4.
void rigid(const double n[3], double a, const double t[3], double* m) {
  const double c = std::cos(a), s = std::sin(a), k = 1 - c;
  const double r[9] = {c + n[0] * n[0] * k,        n[0] * n[1] * k - n[2] * s, n[0] * n[2] * k + n[1] * s,
                       n[1] * n[0] * k + n[2] * s, c + n[1] * n[1] * k,        n[1] * n[2] * k - n[0] * s,
                       n[2] * n[0] * k - n[1] * s, n[2] * n[1] * k + n[0] * s, c + n[2] * n[2] * k};
  for (int row = 0; row < 3; ++row) {
    for (int col = 0; col < 3; ++col) m[4 * row + col] = r[3 * row + col];
    m[4 * row + 3] = t[row];
  }
}

/// Three bones of one frame: two rotations and a pure translation.
std::vector<double> three_bones() {
  std::vector<double> bones(36);
  const double n0[3] = {0.0, 0.6, 0.8}, n1[3] = {1.0, 0.0, 0.0}, none[3] = {0.0, 0.0, 1.0};
  const double t0[3] = {0.1, -0.2, 0.3}, t1[3] = {-0.05, 0.0, 0.02}, t2[3] = {0.3, 0.1, -0.1};
  rigid(n0, 0.7, t0, bones.data());
  rigid(n1, -0.4, t1, bones.data() + 12);
  rigid(none, 0.0, t2, bones.data() + 24);
  return bones;
}

/// A 2×2×2 volume over [−1, 1]³ whose every voxel holds the weights w [3] and distance 0.
struct ConstantVolume {
  std::vector<double> data, bounds{-1, -1, -1, 1, 1, 1};
  SkinVolumes<double> volumes;
  explicit ConstantVolume(const double w[3]) {
    for (int v = 0; v < 8; ++v) data.insert(data.end(), {w[0], w[1], w[2], 0.0});
    volumes.volumes = data.data();
    volumes.bounds = bounds.data();
    volumes.resolution[0] = volumes.resolution[1] = volumes.resolution[2] = 2;
    volumes.n_joints = 3;
  }
};

}  // namespace

HOLD_TEST(identity_bones_keep_points_and_translations_move_them) {
  std::vector<double> identity(36, 0.0), shifted(36, 0.0);
  const double t[3] = {0.2, -0.1, 0.05};
  for (int j = 0; j < 3; ++j)
    for (int r = 0; r < 3; ++r) {
      identity[12 * j + 5 * r] = shifted[12 * j + 5 * r] = 1.0;
      shifted[12 * j + 4 * r + 3] = t[r];
    }
  const double x[3] = {0.3, -0.7, 0.25}, w[3] = {0.2, 0.5, 0.3};
  double y[3], z[3];
  hold::core::lbs_point_fwd(x, w, identity.data(), 3, y);
  hold::core::lbs_point_fwd(x, w, shifted.data(), 3, z);
  for (int a = 0; a < 3; ++a) {
    CHECK_NEAR(y[a], x[a], 1e-15);
    CHECK_NEAR(z[a], x[a] + t[a], 1e-15);
  }
  // Inverse skinning of a pure translation subtracts it.
  ConstantVolume volume(w);
  const auto s = hold::core::inverse_skin_point(volume.volumes, 0, z, shifted.data(), 0.0,
                                                (double*)nullptr);
  CHECK(s.valid);
  for (int a = 0; a < 3; ++a) CHECK_NEAR(s.x_can[a], x[a], 1e-15);
}

HOLD_TEST(inverse_skinning_undoes_forward_lbs_with_the_same_weights) {
  const auto bones = three_bones();
  const double w[3] = {0.6, 0.3, 0.1};  // a blend of rotations: not rigid, but invertible
  ConstantVolume volume(w);
  std::mt19937 rng(3);
  std::uniform_real_distribution<double> uniform(-0.3, 0.3);
  for (int trial = 0; trial < 20; ++trial) {
    const double x[3] = {uniform(rng), uniform(rng), uniform(rng)};
    double posed[3], weights_out[3];
    hold::core::lbs_point_fwd(x, w, bones.data(), 3, posed);
    const auto s = hold::core::inverse_skin_point(volume.volumes, 0, posed, bones.data(), 0.0,
                                                  weights_out);
    CHECK(s.valid);
    for (int a = 0; a < 3; ++a) {
      CHECK_NEAR(s.x_can[a], x[a], 1e-14);
      CHECK_NEAR(weights_out[a], w[a], 1e-15);
    }
  }
}

HOLD_TEST(outside_far_and_singular_points_are_invalid_but_finite) {
  const auto bones = three_bones();
  const double w[3] = {0.6, 0.3, 0.1};
  ConstantVolume volume(w);
  const double outside[3] = {1.5, 0.0, 0.0};
  CHECK(!hold::core::inverse_skin_point(volume.volumes, 0, outside, bones.data(), 1.0,
                                        (double*)nullptr).valid);
  volume.data[3] = 0.5;  // voxel (0, 0, 0) now says 0.5 from the hand
  const double corner[3] = {-1.0, -1.0, -1.0};
  CHECK(!hold::core::inverse_skin_point(volume.volumes, 0, corner, bones.data(), 0.4,
                                        (double*)nullptr).valid);
  std::vector<double> flat(bones);
  for (int r = 0; r < 3; ++r) flat[4 * r + 2] = flat[12 + 4 * r + 2] = flat[24 + 4 * r + 2] = 0;
  const auto s = hold::core::inverse_skin_point(volume.volumes, 0, outside, flat.data(), 1.0,
                                                (double*)nullptr);
  CHECK(!s.valid && !s.regular && s.det == 0.0);
  for (int a = 0; a < 3; ++a) CHECK(std::isfinite(s.x_can[a]));
}

HOLD_TEST(inverse_backward_matches_finite_differences) {
  const auto bones = three_bones();
  const double w[3] = {0.5, 0.3, 0.2};
  ConstantVolume volume(w);
  const double x[3] = {0.2, -0.1, 0.4}, g[3] = {0.3, -1.1, 0.7};
  const auto s = hold::core::inverse_skin_point(volume.volumes, 0, x, bones.data(), 0.0,
                                                (double*)nullptr);
  double grad_blend[12], grad_x[3];
  hold::core::inverse_skin_point_bwd(s, g, grad_blend, grad_x);
  auto loss = [&](const double* m, const double* p) {
    double blend[36] = {};
    for (int e = 0; e < 12; ++e) blend[e] = m[e];  // bone 0 alone, weight 1
    const double one_hot[3] = {1.0, 0.0, 0.0};
    ConstantVolume single(one_hot);
    const auto r = hold::core::inverse_skin_point(single.volumes, 0, p, blend, 0.0,
                                                  (double*)nullptr);
    return g[0] * r.x_can[0] + g[1] * r.x_can[1] + g[2] * r.x_can[2];
  };
  const double h = 1e-6;
  for (int e = 0; e < 12; ++e) {
    double plus[12], minus[12];
    for (int f = 0; f < 12; ++f) plus[f] = minus[f] = s.m[f];
    plus[e] += h;
    minus[e] -= h;
    CHECK_NEAR(grad_blend[e], (loss(plus, x) - loss(minus, x)) / (2 * h), 1e-7);
  }
  for (int a = 0; a < 3; ++a) {
    double plus[3] = {x[0], x[1], x[2]}, minus[3] = {x[0], x[1], x[2]};
    plus[a] += h;
    minus[a] -= h;
    CHECK_NEAR(grad_x[a], (loss(s.m, plus) - loss(s.m, minus)) / (2 * h), 1e-7);
  }
}

HOLD_TEST(binned_neighbour_search_equals_brute_force) {
  // Random vertices; the same volume from 1 cell (brute force) and from a grid of ~7³ bins.
  const int n = 200, joints = 4;
  std::mt19937 rng(5);
  std::normal_distribution<double> normal(0.0, 0.05);
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  std::vector<double> verts(3 * n), weights(n * joints);
  for (auto& v : verts) v = normal(rng);
  for (auto& w : weights) w = uniform(rng);
  const double bounds[6] = {-0.2, -0.15, -0.25, 0.18, 0.2, 0.1};
  hold::core::WeightVolumeQuery<double> q;
  q.vertex_weights = weights.data();
  q.bounds = bounds;
  q.n_joints = joints;
  q.resolution[0] = 7, q.resolution[1] = 6, q.resolution[2] = 5;
  q.k = 6;
  q.sigma_sq = 0.01 * 0.01;
  q.cutoff = 0.0;
  const int64_t n_voxels = 7 * 6 * 5;
  // Cells of edge `cell` from the vertices' lower corner, enough to hold every vertex.
  auto build = [&](double cell, std::vector<int64_t>& start, std::vector<int64_t>& order,
                   std::vector<double>& points) {
    double lo[3] = {1e9, 1e9, 1e9}, hi[3] = {-1e9, -1e9, -1e9};
    for (int i = 0; i < n; ++i)
      for (int a = 0; a < 3; ++a) {
        lo[a] = std::min(lo[a], verts[3 * i + a]);
        hi[a] = std::max(hi[a], verts[3 * i + a]);
      }
    int dims[3];
    for (int a = 0; a < 3; ++a) dims[a] = (int)std::floor((hi[a] - lo[a]) / cell) + 1;
    const int cells = dims[0] * dims[1] * dims[2];
    std::vector<int> of(n);
    start.assign(cells + 1, 0);
    for (int i = 0; i < n; ++i) {
      int c[3];
      for (int a = 0; a < 3; ++a)
        c[a] = std::min(dims[a] - 1, (int)std::floor((verts[3 * i + a] - lo[a]) / cell));
      of[i] = c[0] + dims[0] * (c[1] + dims[1] * c[2]);
      ++start[of[i] + 1];
    }
    for (int c = 0; c < cells; ++c) start[c + 1] += start[c];
    std::vector<int64_t> fill(start.begin(), start.end() - 1);
    order.resize(n);
    for (int i = 0; i < n; ++i) order[fill[of[i]]++] = i;
    points.resize(3 * n);
    for (int e = 0; e < n; ++e)
      for (int a = 0; a < 3; ++a) points[3 * e + a] = verts[3 * order[e] + a];
    for (int a = 0; a < 3; ++a) {
      q.bins.lo[a] = lo[a];
      q.bins.dims[a] = dims[a];
    }
    q.bins.cell = cell;
    q.bins.slack = 1e-9;
    q.bins.cell_start = start.data();
    q.bins.cell_vertex = order.data();
    q.bins.cell_points = points.data();
  };
  std::vector<int64_t> start, order;
  std::vector<double> points;
  std::vector<double> brute(n_voxels * (joints + 1)), binned(n_voxels * (joints + 1));
  build(10.0, start, order, points);
  CHECK(q.bins.dims[0] * q.bins.dims[1] * q.bins.dims[2] == 1);
  hold::kernels::cpu::skin_weight_volume<double>(hold::Exec{}, q, brute.data());
  build(0.04, start, order, points);
  CHECK(q.bins.dims[0] * q.bins.dims[1] * q.bins.dims[2] > 100);
  hold::kernels::cpu::skin_weight_volume<double>(hold::Exec{}, q, binned.data());
  bool same = true;
  for (size_t i = 0; i < brute.size(); ++i) same = same && brute[i] == binned[i];
  CHECK(same);
  // Voxel 0 against an explicit search: its distance channel is the nearest vertex's.
  double nearest = 1e9;
  for (int i = 0; i < n; ++i) {
    double d2 = 0;
    for (int a = 0; a < 3; ++a) d2 += (verts[3 * i + a] - bounds[a]) * (verts[3 * i + a] - bounds[a]);
    nearest = std::min(nearest, std::sqrt(d2));
  }
  CHECK_NEAR(brute[joints], nearest, 1e-15);
}

HOLD_TEST(bone_gradients_of_lbs_are_the_serial_sums) {
  const int n = 1000, joints = 3, frames = 2;
  std::mt19937 rng(9);
  std::uniform_real_distribution<double> uniform(-1.0, 1.0);
  std::vector<double> x(3 * n), w(n * joints), g(3 * n), bones(frames * 36);
  std::vector<int64_t> frame(n);
  for (auto& v : x) v = uniform(rng);
  for (auto& v : w) v = uniform(rng) > 0 ? uniform(rng) : 0.0;
  for (auto& v : g) v = uniform(rng);
  for (auto& v : bones) v = uniform(rng);
  for (int i = 0; i < n; ++i) frame[i] = i % 3 == 0;
  std::vector<double> grad(frames * 36, 0.0), expected(frames * 36, 0.0);
  hold::kernels::cpu::lbs_points_bwd<double>(hold::Exec{}, n, joints, g.data(), x.data(),
                                             w.data(), bones.data(), frame.data(), nullptr,
                                             nullptr, grad.data());
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < joints; ++j)
      for (int r = 0; r < 3; ++r)
        for (int c = 0; c < 4; ++c)
          expected[(frame[i] * joints + j) * 12 + 4 * r + c] +=
              w[i * joints + j] * g[3 * i + r] * (c < 3 ? x[3 * i + c] : 1.0);
  for (int e = 0; e < frames * 36; ++e) CHECK_NEAR(grad[e], expected[e], 1e-12);
}
