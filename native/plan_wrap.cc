// NativeConvPoolPlan (see plan_wrap.h).
#include "plan_wrap.h"

#include "addon_data.h"
#include "backend_wrap.h"

namespace lenet {

namespace {
struct PlanInit {
  std::shared_ptr<BackendState> backend;
  std::shared_ptr<ConvPoolPlan> plan;
};
}  // namespace

Napi::Function PlanWrap::Init(Napi::Env env) {
  return DefineClass(env, "NativeConvPoolPlan",
                     {InstanceMethod<&PlanWrap::Dispose>("dispose"),
                      InstanceAccessor<&PlanWrap::IsDisposed>("disposed"),
                      InstanceAccessor<&PlanWrap::StateBytes>("stateBytes")});
}

Napi::Object PlanWrap::New(Napi::Env env, std::shared_ptr<BackendState> backend, std::shared_ptr<ConvPoolPlan> plan) {
  PlanInit init{std::move(backend), std::move(plan)};
  return env.GetInstanceData<AddonData>()->plan_ctor.New({Napi::External<PlanInit>::New(env, &init)});
}

PlanWrap::PlanWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<PlanWrap>(info) {
  if (info.Length() != 1 || !info[0].IsExternal())
    throw Napi::TypeError::New(info.Env(), "NativeConvPoolPlan cannot be constructed directly; use a backend's convPoolPlan()");
  auto* init = info[0].As<Napi::External<PlanInit>>().Data();
  backend_ = std::move(init->backend);
  plan_ = std::move(init->plan);
  external_.hold(info.Env(), static_cast<int64_t>(plan_->state_bytes()));
}

PlanWrap::~PlanWrap() { release(nullptr); }

// A basic finalizer: it touches only the external-memory count (see ExternalBytes).
void PlanWrap::Finalize(Napi::BasicEnv env) { release(env); }

void PlanWrap::release(Napi::node_addon_api_basic_env env) {
  external_.release(env);
  plan_.reset();
}

Napi::Value PlanWrap::Dispose(const Napi::CallbackInfo& info) {
  release(info.Env());
  return info.Env().Undefined();
}

Napi::Value PlanWrap::IsDisposed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), !plan_); }

Napi::Value PlanWrap::StateBytes(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), plan_ ? static_cast<double>(plan_->state_bytes()) : 0.0);
}

PlanWrap& PlanWrap::From(Napi::Env env, const Napi::Value& value, const std::string& what) {
  auto* data = env.GetInstanceData<AddonData>();
  if (!value.IsObject() || !value.As<Napi::Object>().InstanceOf(data->plan_ctor.Value()))
    throw Napi::TypeError::New(env, what + " must be a NativeConvPoolPlan");
  PlanWrap* p = Unwrap(value.As<Napi::Object>());
  if (!p->plan_) throw Napi::Error::New(env, what + " was used after dispose()");
  return *p;
}

}  // namespace lenet
