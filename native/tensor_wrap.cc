// NativeTensor (see tensor_wrap.h).
#include "tensor_wrap.h"

#include "addon_data.h"
#include "backend_wrap.h"

namespace lenet {

namespace {
// Carries the C++ state into the JS constructor, which only the addon calls.
struct TensorInit {
  std::shared_ptr<BackendState> backend;
  TensorRef ref;
  bool owner;
};
}  // namespace

Napi::Function TensorWrap::Init(Napi::Env env) {
  return DefineClass(env, "NativeTensor",
                     {InstanceMethod<&TensorWrap::Dispose>("dispose"),
                      InstanceAccessor<&TensorWrap::IsDisposed>("disposed")});
}

Napi::Object TensorWrap::New(Napi::Env env, std::shared_ptr<BackendState> backend, TensorRef ref,
                             bool owner) {
  TensorInit init{std::move(backend), std::move(ref), owner};
  auto* data = env.GetInstanceData<AddonData>();
  return data->tensor_ctor.New({Napi::External<TensorInit>::New(env, &init)});
}

TensorWrap::TensorWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<TensorWrap>(info) {
  if (info.Length() != 1 || !info[0].IsExternal()) {
    throw Napi::TypeError::New(info.Env(), "NativeTensor cannot be constructed directly; use a backend's alloc()");
  }
  auto* init = info[0].As<Napi::External<TensorInit>>().Data();
  backend_ = std::move(init->backend);
  ref_ = std::move(init->ref);
  if (init->owner) external_.hold(info.Env(), static_cast<int64_t>(ref_.storage->numel() * sizeof(float)));
}

TensorWrap::~TensorWrap() { release(nullptr); }

// A basic finalizer: it runs during GC and must not touch the JS heap; telling V8 about freed
// external memory is one of the calls allowed there.
void TensorWrap::Finalize(Napi::BasicEnv env) { release(env); }

void TensorWrap::release(Napi::node_addon_api_basic_env env) {
  external_.release(env);
  ref_.storage.reset();
}

Napi::Value TensorWrap::Dispose(const Napi::CallbackInfo& info) {
  release(info.Env());
  return info.Env().Undefined();
}

Napi::Value TensorWrap::IsDisposed(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), disposed());
}

TensorWrap& TensorWrap::From(Napi::Env env, const Napi::Value& value, const std::string& what) {
  auto* data = env.GetInstanceData<AddonData>();
  if (!value.IsObject() || !value.As<Napi::Object>().InstanceOf(data->tensor_ctor.Value())) {
    throw Napi::TypeError::New(env, what + " must be a NativeTensor");
  }
  TensorWrap* t = Unwrap(value.As<Napi::Object>());
  if (t->disposed()) throw Napi::Error::New(env, what + " was used after dispose()");
  return *t;
}

}  // namespace lenet
