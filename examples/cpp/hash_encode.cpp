// Encodes a few points with a hash grid through hold-fast's C++ API (no torch, no Python).
#include <cstdio>
#include <vector>

#include "kernels/kernels.h"

int main() {
  hold::core::HashGridLayout layout;
  if (!hold::core::hashgrid_make_layout(/*n_levels=*/16, /*n_features=*/2,
                                        /*log2_table_size=*/16, /*base_resolution=*/16,
                                        /*per_level_scale=*/1.447, &layout)) {
    std::fprintf(stderr, "invalid grid\n");
    return 1;
  }
  const int64_t n = 4;
  std::vector<float> x = {0.1f, 0.2f, 0.3f, 0.5f, 0.5f, 0.5f, 0.9f, 0.1f, 0.4f, 1.f, 1.f, 1.f};
  std::vector<float> params(layout.n_params * 2);
  for (size_t i = 0; i < params.size(); ++i) params[i] = float(i % 7) * 0.01f;
  std::vector<float> features(n * 32);
  hold::kernels::cpu::hashgrid_encode_fwd<float>(hold::Exec{}, layout, n, x.data(),
                                                 params.data(), features.data());
  std::printf("table rows: %lld\n", (long long)layout.n_params);
  for (int64_t i = 0; i < n; ++i)
    std::printf("point %lld: level 0 = (%.4f, %.4f), level 15 = (%.4f, %.4f)\n", (long long)i,
                features[i * 32], features[i * 32 + 1], features[i * 32 + 30],
                features[i * 32 + 31]);
  return 0;
}
