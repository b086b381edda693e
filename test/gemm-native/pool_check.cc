// The CPU backend's fork-join pool (native/cpu/thread_pool.cc) on its own: an exception on any
// thread of a job (out of memory for a scratch or packing buffer) reaches the caller once every
// thread is done, instead of ending the process, and the pool stays usable. Prints ALL PASS.
#include <cstdio>
#include <mutex>
#include <stdexcept>
#include <string>

#include "native/cpu/thread_pool.h"

int main() {
  lenet::cpu::ThreadPool pool(4);
  bool ok = true;
  for (int thrower = 0; thrower < 4; ++thrower) {
    try {
      pool.run_on_all([&](int w) {
        if (w == thrower) throw std::runtime_error("out of memory on worker " + std::to_string(w));
      });
      std::printf("FAIL: worker %d threw, run_on_all returned normally\n", thrower);
      ok = false;
    } catch (const std::exception& e) {
      std::printf("caught: %s\n", e.what());
      ok = ok && std::string(e.what()) == "out of memory on worker " + std::to_string(thrower);
    }
  }
  int sum = 0;
  std::mutex m;
  pool.parallel_for(100, [&](int, int64_t b, int64_t e) {
    std::lock_guard<std::mutex> lock(m);
    for (int64_t i = b; i < e; ++i) sum += static_cast<int>(i);
  });
  std::printf("a job after the failures: sum %d (want 4950)\n", sum);
  ok = ok && sum == 4950;
  std::printf("%s\n", ok ? "ALL PASS" : "SOME FAILED");
  return ok ? 0 : 1;
}
