// The per-backend executor thread (see executor.h).
#include "executor.h"

#include <exception>

#include "device.h"

namespace lenet {

Executor::Executor(std::string name, Profiler* profiler) : name_(std::move(name)), profiler_(profiler) {
  thread_ = std::thread([this] { run(); });
}

Executor::~Executor() { shutdown(); }

uint64_t Executor::enqueue(const char* op, Task task) {
  std::lock_guard<std::mutex> lock(mu_);
  if (stopping_) throw Error(std::string(op) + ": the " + name_ + " backend has been disposed");
  uint64_t seq = next_seq_++;
  queue_.push_back(Item{seq, op, std::move(task)});
  cv_work_.notify_one();
  return seq;
}

void Executor::run() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_work_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping and drained
    Item item = std::move(queue_.front());
    queue_.pop_front();
    bool skip = error_.has_value();
    lock.unlock();
    if (!skip) {
      try {
        ScopedTimer timer(*profiler_, item.op);
        item.task();
      } catch (const std::exception& e) {
        std::lock_guard<std::mutex> g(mu_);
        if (!error_) error_ = last_error_ = std::string(item.op) + ": " + e.what();
      } catch (...) {
        std::lock_guard<std::mutex> g(mu_);
        if (!error_) error_ = last_error_ = std::string(item.op) + ": unknown native error";
      }
    }
    // Destroy the task (and the tensors it holds) before reporting it done, so that a waiter sees
    // its storages released.
    item.task = nullptr;
    lock.lock();
    done_seq_ = item.seq;
    cv_done_.notify_all();
  }
}

void Executor::wait_for(uint64_t seq) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_done_.wait(lock, [&] { return done_seq_ >= seq; });
}

std::optional<std::string> Executor::take_error() {
  std::lock_guard<std::mutex> lock(mu_);
  std::optional<std::string> e = std::move(error_);
  error_.reset();
  return e;
}

std::string Executor::last_error() {
  std::lock_guard<std::mutex> lock(mu_);
  return last_error_;
}

size_t Executor::pending() {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<size_t>(next_seq_ - 1 - done_seq_);
}

void Executor::shutdown() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
    cv_work_.notify_all();
  }
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

}  // namespace lenet
