// A tiny test harness: HOLD_TEST(name) { … } registers a test, CHECK/CHECK_NEAR record failures,
// main() (in test_main.cpp) runs everything and returns non-zero on any failure.
#pragma once

#include <cmath>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

namespace hold_test {

struct Registry {
  std::vector<std::pair<std::string, std::function<void()>>> tests;
  int failures = 0;
  static Registry& get() {
    static Registry r;
    return r;
  }
};

struct Register {
  Register(const char* name, std::function<void()> fn) {
    Registry::get().tests.emplace_back(name, std::move(fn));
  }
};

inline void fail(const char* file, int line, const std::string& what) {
  ++Registry::get().failures;
  std::fprintf(stderr, "%s:%d: FAILED %s\n", file, line, what.c_str());
}

}  // namespace hold_test

#define HOLD_TEST(name)                                                  \
  static void name();                                                    \
  static hold_test::Register name##_registration(#name, name);           \
  static void name()

#define CHECK(cond) \
  do {              \
    if (!(cond)) hold_test::fail(__FILE__, __LINE__, #cond); \
  } while (0)

#define CHECK_NEAR(a, b, tol)                                                              \
  do {                                                                                     \
    const double a_ = (a), b_ = (b);                                                       \
    if (!(std::fabs(a_ - b_) <= (tol)))                                                    \
      hold_test::fail(__FILE__, __LINE__,                                                  \
                      std::string(#a " ≈ " #b ": ") + std::to_string(a_) + " vs " +        \
                          std::to_string(b_));                                             \
  } while (0)
