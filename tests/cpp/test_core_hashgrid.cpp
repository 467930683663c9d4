// Hash-grid per-element math and the CPU launchers, without torch.
#include <cstdint>
#include <random>
#include <vector>

#include "core/hashgrid.h"
#include "kernels/kernels.h"
#include "test_main.h"

using hold::core::HashGridLayout;

static HashGridLayout make(int levels, int features, int log2t, int base, double b) {
  HashGridLayout layout;
  CHECK(hold::core::hashgrid_make_layout(levels, features, log2t, base, b, &layout));
  return layout;
}

HOLD_TEST(layout_follows_tcnn_rule) {
  const auto layout = make(16, 2, 16, 16, 1.447);
  CHECK(layout.resolution[0] == 16);  // scale 15, ceil + 1
  CHECK(!layout.hashed[0] && !layout.hashed[2] && layout.hashed[3]);  // 34³ ≤ 2^16 < 49³
  CHECK(layout.offset[1] == 16 * 16 * 16);
  CHECK(layout.offset[16] - layout.offset[15] == 65536);
  HashGridLayout bad;
  CHECK(!hold::core::hashgrid_make_layout(0, 2, 16, 16, 1.5, &bad));
  CHECK(!hold::core::hashgrid_make_layout(4, 3, 16, 16, 1.5, &bad));
}

HOLD_TEST(dense_level_is_trilinear_interpolation_of_vertex_values) {
  // One dense level with res 5 (scale 4): θ at vertex (i, j, k) = i + 10 j + 100 k, so the
  // encoding of a point is the same affine function of its cell position p = 4x + 0.5.
  const auto layout = make(1, 1, 10, 5, 2.0);
  std::vector<double> params(layout.n_params);
  for (uint32_t k = 0; k < 5; ++k)
    for (uint32_t j = 0; j < 5; ++j)
      for (uint32_t i = 0; i < 5; ++i) params[i + 5 * j + 25 * k] = i + 10.0 * j + 100.0 * k;
  const double x[3] = {0.3, 0.55, 0.7};
  double out = 0;
  hold::core::hashgrid_fwd_level<double, 1>(hold::core::hashgrid_level<double>(layout, 0), x,
                                            params.data(), &out);
  const double p[3] = {4 * 0.3 + 0.5, 4 * 0.55 + 0.5, 4 * 0.7 + 0.5};
  CHECK_NEAR(out, p[0] + 10 * p[1] + 100 * p[2], 1e-12);
  // Its position gradient is then (4, 40, 400).
  double grad_x[3];
  const double g = 1.0;
  hold::core::hashgrid_bwd_x_point<double, 1>(layout, x, &g, params.data(), grad_x);
  CHECK_NEAR(grad_x[0], 4.0, 1e-12);
  CHECK_NEAR(grad_x[1], 40.0, 1e-12);
  CHECK_NEAR(grad_x[2], 400.0, 1e-12);
}

HOLD_TEST(hashed_rows_use_the_coherent_prime_hash) {
  const auto layout = make(1, 2, 4, 40, 1.0);  // 40³ > 16: hashed into 16 rows
  CHECK(layout.hashed[0]);
  const uint32_t g[3] = {3, 5, 7};
  uint32_t rows[8];
  hold::core::hashgrid_corner_rows(hold::core::hashgrid_level<float>(layout, 0), g, rows);
  for (int c = 0; c < 8; ++c) {
    const uint32_t vx = 3 + (c & 1), vy = 5 + ((c >> 1) & 1), vz = 7 + (c >> 2);
    CHECK(rows[c] == ((vx * 1u) ^ (vy * 2654435761u) ^ (vz * 805459861u)) % 16u);
  }
}

HOLD_TEST(position_gradient_matches_finite_differences) {
  const auto layout = make(4, 2, 8, 4, 1.7);
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> u(-1, 1);
  std::vector<double> params(layout.n_params * 2);
  for (auto& v : params) v = u(rng);
  const double x[3] = {0.31, 0.47, 0.62};
  const double g[8] = {0.3, -1.2, 0.5, 0.8, -0.4, 1.1, 0.9, -0.7};
  auto loss = [&](const double* xx) {
    double s = 0, out[2];
    for (int l = 0; l < 4; ++l) {
      hold::core::hashgrid_fwd_level<double, 2>(hold::core::hashgrid_level<double>(layout, l), xx,
                                                params.data(), out);
      s += g[2 * l] * out[0] + g[2 * l + 1] * out[1];
    }
    return s;
  };
  double grad[3];
  hold::core::hashgrid_bwd_x_point<double, 2>(layout, x, g, params.data(), grad);
  for (int d = 0; d < 3; ++d) {
    double xp[3] = {x[0], x[1], x[2]}, xm[3] = {x[0], x[1], x[2]};
    xp[d] += 1e-7;
    xm[d] -= 1e-7;
    CHECK_NEAR(grad[d], (loss(xp) - loss(xm)) / 2e-7, 1e-5);
  }
}

HOLD_TEST(cpu_launchers_match_per_element_calls_and_weights_sum_to_one) {
  const auto layout = make(6, 2, 10, 4, 1.9);
  const int64_t n = 3000;
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(0, 1);
  std::vector<float> x(3 * n), params(layout.n_params * 2), out(n * 12), grad_out(n * 12, 1.f),
      grad_params(layout.n_params * 2, 0.f);
  for (auto& v : x) v = u(rng);
  for (auto& v : params) v = u(rng) - 0.5f;
  hold::kernels::cpu::hashgrid_encode_fwd<float>(hold::Exec{}, layout, n, x.data(),
                                                 params.data(), out.data());
  for (int64_t i = 0; i < n; i += 97)
    for (int l = 0; l < 6; ++l) {
      float ref[2];
      hold::core::hashgrid_fwd_level<float, 2>(hold::core::hashgrid_level<float>(layout, l),
                                               &x[3 * i], params.data(), ref);
      CHECK(ref[0] == out[i * 12 + 2 * l] && ref[1] == out[i * 12 + 2 * l + 1]);
    }
  hold::kernels::cpu::hashgrid_encode_bwd<float>(hold::Exec{}, layout, n, grad_out.data(),
                                                 x.data(), params.data(), grad_params.data(),
                                                 nullptr);
  double total = 0;  // each point spreads weight 1 per level and feature
  for (float v : grad_params) total += v;
  CHECK_NEAR(total, double(n) * 6 * 2, 1e-2);
}
