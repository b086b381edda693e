// The executor: one thread per backend that runs the backend's ops in issue order.
//
// JavaScript enqueues ops and returns at once, as a host enqueues kernels on a CUDA stream; the
// host only waits where it asks for results (a read, a sync). That keeps Node's event loop free
// while the CPU backend computes, and gives both backends the same ordering semantics.
//
// Errors are sticky, like asynchronous CUDA errors: the first op that throws records its message,
// the ops after it are skipped, and the next wait (read/sync) reports the error and clears it, so
// the backend stays usable. A waiter whose own task was skipped fails too (see wait.cc).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "profiler.h"

namespace lenet {

class Executor {
 public:
  using Task = std::function<void()>;

  /// @brief `profiler` (owned by the device, which outlives the executor) times every op when on.
  Executor(std::string name, Profiler* profiler);
  ~Executor();  // drains the queue, then joins
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  /// @brief Queues a task; `op` names it in error messages. Returns the task's sequence number.
  uint64_t enqueue(const char* op, Task task);
  /// @brief Blocks until every task up to `seq` has run (or been skipped after an error).
  void wait_for(uint64_t seq);
  /// @brief Returns and clears the sticky error, if any.
  std::optional<std::string> take_error();
  /// @brief The most recent error, even once taken (to explain why a task was skipped).
  std::string last_error();
  /// @brief Runs and joins; later enqueues are rejected. Idempotent.
  void shutdown();
  /// @brief Number of tasks queued or running.
  size_t pending();

 private:
  struct Item {
    uint64_t seq;
    const char* op;
    Task task;
  };
  void run();

  std::string name_;
  std::mutex mu_;
  std::condition_variable cv_work_;
  std::condition_variable cv_done_;
  std::deque<Item> queue_;
  uint64_t next_seq_ = 1;
  uint64_t done_seq_ = 0;
  bool stopping_ = false;
  std::optional<std::string> error_;
  std::string last_error_;
  Profiler* profiler_;
  std::thread thread_;
};

}  // namespace lenet
