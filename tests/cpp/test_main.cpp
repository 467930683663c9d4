// Runs every HOLD_TEST; exit status = number of failed checks (0 = success).
#include "test_main.h"

int main() {
  auto& registry = hold_test::Registry::get();
  for (auto& [name, fn] : registry.tests) {
    const int before = registry.failures;
    fn();
    std::printf("%s %s\n", registry.failures == before ? "ok  " : "FAIL", name.c_str());
  }
  std::printf("%zu tests, %d failed checks\n", registry.tests.size(), registry.failures);
  return registry.failures == 0 ? 0 : 1;
}
