// Per-op timing for benchmarks: the executor times every op, and a backend may time phases
// inside an op (the CPU's im2col, GEMMs and pooling). Off by default; when off, a timer costs one
// relaxed atomic load.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>

namespace lenet {

/// @brief Accumulates (calls, seconds) per name; thread-safe.
class Profiler {
 public:
  using Totals = std::map<std::string, std::pair<uint64_t, double>>;

  /// @brief Turns timing on (clearing the totals) or off.
  void set_enabled(bool on) {
    std::lock_guard<std::mutex> lock(mu_);
    totals_.clear();
    enabled_.store(on, std::memory_order_relaxed);
  }
  bool enabled() const { return enabled_.load(std::memory_order_relaxed); }
  void add(const char* name, double seconds) {
    std::lock_guard<std::mutex> lock(mu_);
    auto& t = totals_[name];
    t.first += 1;
    t.second += seconds;
  }
  Totals snapshot() {
    std::lock_guard<std::mutex> lock(mu_);
    return totals_;
  }

 private:
  std::atomic<bool> enabled_{false};
  std::mutex mu_;
  Totals totals_;
};

/// @brief Adds the lifetime of the scope to `name` when the profiler is on.
class ScopedTimer {
 public:
  ScopedTimer(Profiler& p, const char* name) : p_(p.enabled() ? &p : nullptr), name_(name) {
    if (p_) start_ = std::chrono::steady_clock::now();
  }
  ~ScopedTimer() {
    if (p_) p_->add(name_, std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count());
  }
  ScopedTimer(const ScopedTimer&) = delete;
  ScopedTimer& operator=(const ScopedTimer&) = delete;

 private:
  Profiler* p_;
  const char* name_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace lenet
