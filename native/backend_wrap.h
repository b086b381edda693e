// The JS handle of a backend: argument parsing, shape re-checks and the enqueueing of ops.
#pragma once

#include <napi.h>

#include <functional>
#include <memory>
#include <utility>

#include "device.h"
#include "executor.h"

namespace lenet {

struct Completion;

/// @brief A device and the executor thread that runs its ops in issue order.
class BackendState {
 public:
  BackendState(std::shared_ptr<Device> device, std::shared_ptr<Executor> executor)
      : device(std::move(device)), executor(std::move(executor)) {}
  ~BackendState() { executor->shutdown(); }

  std::shared_ptr<Device> device;
  std::shared_ptr<Executor> executor;
};

/// @brief JS class `NativeBackend`; see lib/native.d.ts for the surface it exposes.
class BackendWrap : public Napi::ObjectWrap<BackendWrap> {
 public:
  static Napi::Function Init(Napi::Env env);
  /// @brief Wraps a device in a new JS backend object with its own executor thread.
  static Napi::Object New(Napi::Env env, std::shared_ptr<Device> device);

  explicit BackendWrap(const Napi::CallbackInfo& info);

 private:
  using Op = std::function<void(Device&)>;

  TensorRef arg(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name);
  const TensorRef* optional_arg(const Napi::CallbackInfo& info, size_t i, const char* op,
                                const char* name, TensorRef& storage);
  Napi::Value enqueue(Napi::Env env, const char* op, Op fn);
  std::pair<uint64_t, std::shared_ptr<Completion>> queue_wait(const char* op, const TensorRef* src);
  Napi::Value wait_async(Napi::Env env, const char* op, const TensorRef* src);
  Napi::Value wait_sync(Napi::Env env, const char* op, const TensorRef* src);

  // metadata and memory
  Napi::Value Kind(const Napi::CallbackInfo& info);
  Napi::Value Describe(const Napi::CallbackInfo& info);
  Napi::Value Counters(const Napi::CallbackInfo& info);
  Napi::Value Pending(const Napi::CallbackInfo& info);
  Napi::Value SetProfiling(const Napi::CallbackInfo& info);
  Napi::Value Profile(const Napi::CallbackInfo& info);
  Napi::Value Alloc(const Napi::CallbackInfo& info);
  Napi::Value View(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  // transfers and synchronisation
  Napi::Value Upload(const Napi::CallbackInfo& info);
  Napi::Value Read(const Napi::CallbackInfo& info);
  Napi::Value ReadSync(const Napi::CallbackInfo& info);
  Napi::Value Sync(const Napi::CallbackInfo& info);
  Napi::Value SyncSync(const Napi::CallbackInfo& info);
  Napi::Value Fill(const Napi::CallbackInfo& info);
  Napi::Value Copy(const Napi::CallbackInfo& info);
  // the op set
  Napi::Value Conv2dForward(const Napi::CallbackInfo& info);
  Napi::Value Conv2dBackwardData(const Napi::CallbackInfo& info);
  Napi::Value Conv2dBackwardFilter(const Napi::CallbackInfo& info);
  Napi::Value Conv2dBackward(const Napi::CallbackInfo& info);
  Napi::Value ConvPoolForward(const Napi::CallbackInfo& info);
  Napi::Value ConvPoolBackward(const Napi::CallbackInfo& info);
  Napi::Value MaxPoolBiasTanhForward(const Napi::CallbackInfo& info);
  Napi::Value MaxPoolBiasTanhBackward(const Napi::CallbackInfo& info);
  Napi::Value MaxPoolForward(const Napi::CallbackInfo& info);
  Napi::Value MaxPoolBackward(const Napi::CallbackInfo& info);
  Napi::Value BiasAdd(const Napi::CallbackInfo& info);
  Napi::Value BiasGrad(const Napi::CallbackInfo& info);
  Napi::Value BiasTanhForward(const Napi::CallbackInfo& info);
  Napi::Value TanhForward(const Napi::CallbackInfo& info);
  Napi::Value TanhBackward(const Napi::CallbackInfo& info);
  Napi::Value Gemm(const Napi::CallbackInfo& info);
  Napi::Value Axpy(const Napi::CallbackInfo& info);
  Napi::Value Scale(const Napi::CallbackInfo& info);
  Napi::Value SoftmaxNll(const Napi::CallbackInfo& info);
  Napi::Value SoftmaxNllBackward(const Napi::CallbackInfo& info);

  std::shared_ptr<BackendState> state_;
};

}  // namespace lenet
