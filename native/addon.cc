// Registers the addon's exports; every area lives in its own file (see the README's architecture).
#include <napi.h>

#include "addon_data.h"
#include "backend_wrap.h"
#include "cpu/cpu_device.h"
#include "cpu/gemm.h"
#include "tensor_wrap.h"

namespace lenet {

Napi::Error make_error(Napi::Env env, const std::string& message, const char* code) {
  Napi::Error e = Napi::Error::New(env, message);
  e.Set("code", Napi::String::New(env, code));
  return e;
}

namespace {

// createCpuBackend({ threads?: number, gemm?: 'openblas' | 'portable' })
Napi::Value CreateCpuBackend(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    int threads = 0;
    cpu::GemmImpl gemm = cpu::default_gemm();
    if (info.Length() > 0 && info[0].IsObject()) {
      Napi::Object o = info[0].As<Napi::Object>();
      if (o.Has("threads") && o.Get("threads").IsNumber()) threads = o.Get("threads").As<Napi::Number>().Int32Value();
      if (o.Has("gemm") && o.Get("gemm").IsString()) {
        std::string g = o.Get("gemm").As<Napi::String>();
        if (g == "portable") {
          gemm = cpu::GemmImpl::Portable;
        } else if (g == "openblas") {
          if (!cpu::have_openblas())
            throw Error("createCpuBackend: gemm 'openblas' requested, but this build has no OpenBLAS "
                        "(install libopenblas-dev and rebuild with npm run build:native)");
          gemm = cpu::GemmImpl::OpenBLAS;
        } else {
          throw Error("createCpuBackend: gemm must be 'openblas' or 'portable', got '" + g + "'");
        }
      }
    }
    return BackendWrap::New(env, make_cpu_device(threads, gemm));
  });
}

Napi::Value BuildInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("openblas", Napi::Boolean::New(env, cpu::have_openblas()));
  o.Set("defaultGemm", Napi::String::New(env, cpu::gemm_description(cpu::default_gemm())));
#ifdef LENET_BUILD_SYSTEM
  o.Set("buildSystem", Napi::String::New(env, LENET_BUILD_SYSTEM));
#endif
  o.Set("compiler", Napi::String::New(env, __VERSION__));
  return o;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  auto* data = new AddonData();
  data->tensor_ctor = Napi::Persistent(TensorWrap::Init(env));
  data->backend_ctor = Napi::Persistent(BackendWrap::Init(env));
  env.SetInstanceData<AddonData>(data);  // deleted (executors joined) when this environment exits
  exports.Set("createCpuBackend", Napi::Function::New<CreateCpuBackend>(env, "createCpuBackend"));
  exports.Set("buildInfo", Napi::Function::New<BuildInfo>(env, "buildInfo"));
  exports.Set("NativeTensor", data->tensor_ctor.Value());
  exports.Set("NativeBackend", data->backend_ctor.Value());
  return exports;
}

}  // namespace

AddonData::~AddonData() {
  for (auto& weak : executors)
    if (auto e = weak.lock()) e->shutdown();
}

}  // namespace lenet

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) { return lenet::Init(env, exports); }

NODE_API_MODULE(lenet_cudnn, InitAddon)
