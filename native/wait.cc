// The wait protocol (see wait.h): completions, the wait worker, and the order in which errors are
// reported.
#include "wait.h"

#include <cstring>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "addon_data.h"
#include "backend_wrap.h"

namespace lenet {
namespace {

// The result of a task a caller waits for: the data it read (if any) and whether it ran at all.
// A task is skipped when an earlier op failed; its waiter must then fail too, even if another
// waiter already reported (and cleared) that error.
struct Completion {
  std::vector<float> data;
  bool ran = false;
  /// Blocks until the device has finished the read or the work before the sync (see
  /// Device::download and Device::fence); may be empty. Run by the waiter, off the executor.
  std::function<void()> fence;
  /// What the fence reported (an error the device raised in the work waited for), if anything.
  std::optional<std::string> fence_error;
};

// Runs a completion's fence on the waiting thread, keeping what it reports.
void run_fence(Completion& done) {
  if (!done.ran || !done.fence) return;
  try {
    done.fence();
  } catch (const std::exception& e) {
    done.fence_error = e.what();
  } catch (...) {
    done.fence_error = "unknown native error while waiting";
  }
}

// The error a waiter reports, if any: what its fence found (an error the device raised in the
// work it waited for, which came before any later sticky error), the sticky error, or the reason
// its own task was skipped.
std::optional<std::string> completion_error(Executor& executor, const Completion& done) {
  if (done.fence_error) return done.fence_error;
  if (auto error = executor.take_error()) return error;
  if (!done.ran) return "not performed because an earlier operation failed: " + executor.last_error();
  return std::nullopt;
}

Napi::Value result(Napi::Env env, const Completion& done, bool with_data) {
  if (!with_data) return env.Undefined();
  auto out = Napi::Float32Array::New(env, done.data.size());
  std::memcpy(out.Data(), done.data.data(), done.data.size() * sizeof(float));
  return out;
}

// Queues a read of `src` (or, without src, a device synchronization); returns what to wait on.
std::pair<uint64_t, std::shared_ptr<Completion>> queue_wait(BackendState& backend, const char* op,
                                                            const TensorRef* src) {
  auto done = std::make_shared<Completion>();
  std::shared_ptr<Device> device = backend.device;
  uint64_t seq;
  if (src) {
    done->data.resize(src->numel());
    TensorRef t = *src;
    seq = backend.executor->enqueue(op, [device, t, done] {
      done->fence = device->download(t, done->data.data());
      done->ran = true;
    });
  } else {
    seq = backend.executor->enqueue(op, [device, done] {
      done->fence = device->fence();
      done->ran = true;
    });
  }
  return {seq, done};
}

// Waits off the JS thread for a queued task, then settles a promise.
class WaitWorker : public Napi::AsyncWorker {
 public:
  WaitWorker(Napi::Env env, std::shared_ptr<BackendState> backend, uint64_t seq, std::shared_ptr<Completion> done,
             bool with_data)
      : Napi::AsyncWorker(env, "lenet:wait"),
        deferred_(Napi::Promise::Deferred::New(env)),
        backend_(std::move(backend)),
        seq_(seq),
        done_(std::move(done)),
        with_data_(with_data) {}

  Napi::Promise promise() { return deferred_.Promise(); }

  void Execute() override {
    backend_->executor->wait_for(seq_);
    run_fence(*done_);
  }

  void OnOK() override {
    Napi::Env env = Env();
    if (auto error = completion_error(*backend_->executor, *done_)) {
      deferred_.Reject(make_error(env, *error, "LENET_NATIVE").Value());
      return;
    }
    deferred_.Resolve(result(env, *done_, with_data_));
  }

  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  std::shared_ptr<BackendState> backend_;
  uint64_t seq_;
  std::shared_ptr<Completion> done_;
  bool with_data_;
};

}  // namespace

Napi::Value wait_async(Napi::Env env, const std::shared_ptr<BackendState>& backend, const char* op,
                       const TensorRef* src) {
  auto [seq, done] = queue_wait(*backend, op, src);
  auto* worker = new WaitWorker(env, backend, seq, done, src != nullptr);
  Napi::Promise promise = worker->promise();
  worker->Queue();
  return promise;
}

Napi::Value wait_sync(Napi::Env env, const std::shared_ptr<BackendState>& backend, const char* op,
                      const TensorRef* src) {
  auto [seq, done] = queue_wait(*backend, op, src);
  backend->executor->wait_for(seq);
  run_fence(*done);
  if (auto error = completion_error(*backend->executor, *done)) throw make_error(env, *error, "LENET_NATIVE");
  return result(env, *done, src != nullptr);
}

}  // namespace lenet
