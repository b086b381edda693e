// The JS handle of a backend: its metadata, memory and transfers, and the marshalling of the op
// table's ops (ops.h) onto its executor.
#pragma once

#include <napi.h>

#include <functional>
#include <memory>
#include <utility>

#include "device.h"
#include "executor.h"

namespace lenet {

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
  TensorRef tensor_arg(const Napi::CallbackInfo& info, size_t i, const char* op, const std::string& name);

  // metadata and memory
  Napi::Value Kind(const Napi::CallbackInfo& info);
  Napi::Value Describe(const Napi::CallbackInfo& info);
  Napi::Value Counters(const Napi::CallbackInfo& info);
  Napi::Value Pending(const Napi::CallbackInfo& info);
  Napi::Value SetProfiling(const Napi::CallbackInfo& info);
  Napi::Value Profile(const Napi::CallbackInfo& info);
  Napi::Value Ops(const Napi::CallbackInfo& info);
  Napi::Value Alloc(const Napi::CallbackInfo& info);
  Napi::Value View(const Napi::CallbackInfo& info);
  Napi::Value ConvPoolPlan(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  // transfers and synchronisation
  Napi::Value Upload(const Napi::CallbackInfo& info);
  Napi::Value Read(const Napi::CallbackInfo& info);
  Napi::Value ReadSync(const Napi::CallbackInfo& info);
  Napi::Value Sync(const Napi::CallbackInfo& info);
  Napi::Value SyncSync(const Napi::CallbackInfo& info);
  /// Every op of the op table (ops.h): parses the arguments by the op's signature, runs its
  /// checks and queues its work. info.Data() is the OpDef.
  Napi::Value RunOp(const Napi::CallbackInfo& info);

  std::shared_ptr<BackendState> state_;
};

}  // namespace lenet
