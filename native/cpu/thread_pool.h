// A small fork-join pool for the CPU backend's ops.
//
// The executor thread runs an op and calls parallel_for; the pool's T-1 workers and the calling
// thread split the range. BLAS calls made inside a parallel region are single-threaded (the CPU
// device sets OpenBLAS to one thread), so there is exactly one busy thread per core and no
// oversubscription between our threads and OpenBLAS's.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace lenet::cpu {

class ThreadPool {
 public:
  /// @brief A pool of `threads` threads in all, the caller included (threads >= 1).
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return threads_; }

  /// @brief Runs fn(worker, begin, end) over [0, n) split into size() contiguous chunks of
  /// near-equal length (worker is 0..size()-1; chunk i always goes to worker i, which makes
  /// per-worker scratch buffers and reductions deterministic). Blocks until all chunks are done.
  /// Not reentrant: fn must not call parallel_for.
  void parallel_for(int64_t n, const std::function<void(int worker, int64_t begin, int64_t end)>& fn);

  /// @brief Runs fn(worker) once on every worker.
  void run_on_all(const std::function<void(int worker)>& fn);

 private:
  void worker_loop(int index);

  int threads_;
  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable cv_start_;
  std::condition_variable cv_done_;
  const std::function<void(int)>* job_ = nullptr;
  uint64_t generation_ = 0;
  int remaining_ = 0;
  std::exception_ptr error_;  // the first exception a worker threw in the current job
  bool stop_ = false;
};

}  // namespace lenet::cpu
