// The JS handle of a tensor: a TensorRef (storage + offset + shape) owned by a JS object.
#pragma once

#include <napi.h>

#include <memory>

#include "addon_data.h"
#include "device.h"

namespace lenet {

class BackendState;

/// @brief JS class `NativeTensor`: created only by a backend (alloc/view); `dispose()` releases
/// this handle's reference to the storage at once and is idempotent; the finalizer takes the
/// same path. Memory returns to the backend when the last handle, view or queued op lets go.
class TensorWrap : public Napi::ObjectWrap<TensorWrap> {
 public:
  static Napi::Function Init(Napi::Env env);
  /// @brief Wraps ref in a new JS object; `owner` says whether it owns an allocation (then its
  /// bytes are reported to V8 as external memory).
  static Napi::Object New(Napi::Env env, std::shared_ptr<BackendState> backend, TensorRef ref, bool owner);
  /// @brief The tensor behind a JS value, or throws an Error naming `what` (e.g. "conv2dForward: x").
  static TensorWrap& From(Napi::Env env, const Napi::Value& value, const std::string& what);

  explicit TensorWrap(const Napi::CallbackInfo& info);
  ~TensorWrap() override;
  void Finalize(Napi::BasicEnv env) override;

  const TensorRef& ref() const { return ref_; }
  bool disposed() const { return !ref_.storage; }
  const std::shared_ptr<BackendState>& backend() const { return backend_; }

 private:
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  Napi::Value IsDisposed(const Napi::CallbackInfo& info);
  void release(Napi::node_addon_api_basic_env env);

  std::shared_ptr<BackendState> backend_;
  TensorRef ref_;
  ExternalBytes external_;
};

}  // namespace lenet
