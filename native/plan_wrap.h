// The JS handle of a conv-pool plan (Device::conv_pool_plan): made by a backend's convPoolPlan(),
// passed to its convPoolForward/convPoolBackward ops.
#pragma once

#include <napi.h>

#include <memory>

#include "addon_data.h"
#include "device.h"

namespace lenet {

class BackendState;

/// @brief JS class `NativeConvPoolPlan`. `dispose()` releases this handle's reference at once and
/// is idempotent; the finalizer takes the same path. The plan's state is freed when the handle
/// and every queued op that uses it have let go.
class PlanWrap : public Napi::ObjectWrap<PlanWrap> {
 public:
  static Napi::Function Init(Napi::Env env);
  static Napi::Object New(Napi::Env env, std::shared_ptr<BackendState> backend, std::shared_ptr<ConvPoolPlan> plan);
  /// @brief The plan behind a JS value, or throws an Error naming `what` (e.g. "convPoolForward: plan").
  static PlanWrap& From(Napi::Env env, const Napi::Value& value, const std::string& what);

  explicit PlanWrap(const Napi::CallbackInfo& info);
  ~PlanWrap() override;
  void Finalize(Napi::BasicEnv env) override;

  const std::shared_ptr<ConvPoolPlan>& plan() const { return plan_; }
  const std::shared_ptr<BackendState>& backend() const { return backend_; }

 private:
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  Napi::Value IsDisposed(const Napi::CallbackInfo& info);
  Napi::Value StateBytes(const Napi::CallbackInfo& info);
  void release(Napi::node_addon_api_basic_env env);

  std::shared_ptr<BackendState> backend_;
  std::shared_ptr<ConvPoolPlan> plan_;
  ExternalBytes external_;
};

}  // namespace lenet
