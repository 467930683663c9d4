// The launch helpers visit every index exactly once; owned levels keep a per-level order.
#include <atomic>
#include <vector>

#include "core/parallel_for.h"
#include "test_main.h"

HOLD_TEST(parallel_for_visits_each_index_once) {
  for (int64_t n : {0, 1, 7, 1000, 4097}) {
    std::vector<std::atomic<int>> hits(n);
    hold::parallel_for(n, [&](int64_t i) { hits[i]++; }, hold::Exec{});
    for (int64_t i = 0; i < n; ++i) CHECK(hits[i] == 1);
  }
}

HOLD_TEST(parallel_for_levels_visits_each_pair_once) {
  const int64_t n = 5000;
  const int levels = 5;
  std::vector<std::atomic<int>> hits(n * levels);
  hold::parallel_for_levels(n, levels, [&](int l, int64_t i) { hits[l * n + i]++; },
                            hold::Exec{});
  for (auto& h : hits) CHECK(h == 1);
}

HOLD_TEST(owned_levels_give_each_level_to_one_thread_in_index_order) {
  const int64_t n = 9000;
  const int levels = 7;
  std::vector<std::vector<int64_t>> order(levels);  // written only by the level's owner
  hold::parallel_for_owned_levels(n, levels, [&](int l, int64_t i) { order[l].push_back(i); },
                                  hold::Exec{});
  for (int l = 0; l < levels; ++l) {
    CHECK((int64_t)order[l].size() == n);
    bool increasing = true;
    for (int64_t i = 0; i < (int64_t)order[l].size(); ++i) increasing &= order[l][i] == i;
    CHECK(increasing);
  }
}
