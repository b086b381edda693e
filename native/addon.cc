// Registers the addon's exports; every area lives in its own file (see the README's architecture).
#include <napi.h>

#include "addon_data.h"
#include "backend_wrap.h"
#include "cpu/cpu_device.h"
#include "cpu/gemm.h"
#include "cuda/cuda_device.h"
#include "cuda/loader.h"
#include "plan_wrap.h"
#include "tensor_wrap.h"

namespace lenet {

Napi::Error make_error(Napi::Env env, const std::string& message, const char* code) {
  Napi::Error e = Napi::Error::New(env, message);
  e.Set("code", Napi::String::New(env, code));
  return e;
}

namespace {

// createCpuBackend({ threads?: number, gemm?: 'builtin' | 'openblas', gemmKernel?: 'avx512' | 'avx2' | 'neon' |
// 'generic', convPool?: 'fused' | 'composed' })
Napi::Value CreateCpuBackend(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    int threads = 0;
    cpu::Gemm gemm = cpu::default_gemm();
    bool composed_conv_pool = false;
    if (info.Length() > 0 && info[0].IsObject()) {
      Napi::Object o = info[0].As<Napi::Object>();
      if (o.Has("threads") && o.Get("threads").IsNumber()) threads = o.Get("threads").As<Napi::Number>().Int32Value();
      if (o.Has("gemm") && !o.Get("gemm").IsUndefined()) {
        const std::string g = o.Get("gemm").ToString();
        if (g == "builtin") {
          gemm.impl = cpu::GemmImpl::Builtin;
        } else if (g == "openblas") {
          if (!cpu::have_openblas())
            throw Error("createCpuBackend: gemm 'openblas' requested, but this build has no OpenBLAS "
                        "(install libopenblas-dev and rebuild with npm run build:native)");
          gemm.impl = cpu::GemmImpl::OpenBLAS;
        } else {
          throw Error("createCpuBackend: gemm must be 'builtin' or 'openblas', got '" + g + "'");
        }
      }
      if (o.Has("gemmKernel") && !o.Get("gemmKernel").IsUndefined()) {
        if (gemm.impl != cpu::GemmImpl::Builtin) throw Error("createCpuBackend: gemmKernel applies to the built-in GEMM only");
        try {
          gemm.kernel = cpu::kernel_from_name(o.Get("gemmKernel").ToString());
        } catch (const Error& e) {
          throw Error(std::string("createCpuBackend: ") + e.what());
        }
      }
      if (o.Has("convPool") && !o.Get("convPool").IsUndefined()) {
        const std::string c = o.Get("convPool").ToString();
        if (c != "fused" && c != "composed")
          throw Error("createCpuBackend: convPool must be 'fused' or 'composed', got '" + c + "'");
        composed_conv_pool = c == "composed";
      }
    }
    return BackendWrap::New(env, make_cpu_device(threads, gemm, composed_conv_pool));
  });
}

// Applies { libraryDirs?: string[] } (folders searched first for the CUDA libraries).
void apply_library_dirs(const Napi::CallbackInfo& info) {
  if (info.Length() == 0 || !info[0].IsObject()) return;
  Napi::Object o = info[0].As<Napi::Object>();
  if (!o.Has("libraryDirs") || o.Get("libraryDirs").IsUndefined()) return;
  Napi::Value v = o.Get("libraryDirs");
  if (!v.IsArray()) throw Error("libraryDirs must be an array of folder paths");
  std::vector<std::string> dirs;
  Napi::Array a = v.As<Napi::Array>();
  for (uint32_t i = 0; i < a.Length(); ++i) {
    if (!a.Get(i).IsString()) throw Error("libraryDirs must be an array of folder paths");
    dirs.push_back(a.Get(i).As<Napi::String>());
  }
  if (dirs != cuda::search_dirs()) cuda::set_search_dirs(std::move(dirs));
}

// createCudaBackend({ device?: number, deterministic?: boolean, tf32?: boolean, libraryDirs?: string[] })
Napi::Value CreateCudaBackend(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    apply_library_dirs(info);
    cuda::CudaOptions options;
    if (info.Length() > 0 && info[0].IsObject()) {
      Napi::Object o = info[0].As<Napi::Object>();
      if (o.Has("device") && o.Get("device").IsNumber()) options.device = o.Get("device").As<Napi::Number>().Int32Value();
      if (o.Has("deterministic")) options.deterministic = o.Get("deterministic").ToBoolean().Value();
      if (o.Has("tf32")) options.tf32 = o.Get("tf32").ToBoolean().Value();
    }
    return BackendWrap::New(env, cuda::make_cuda_device(options));
  });
}

// cudaAvailable({ device?: number, libraryDirs?: string[] }) -> { ok, reason, device, deviceCount, versions, tried }
Napi::Value CudaAvailable(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int device = 0;
  std::string options_error;
  try {
    apply_library_dirs(info);
    if (info.Length() > 0 && info[0].IsObject()) {
      Napi::Object o = info[0].As<Napi::Object>();
      if (o.Has("device") && o.Get("device").IsNumber()) device = o.Get("device").As<Napi::Number>().Int32Value();
    }
  } catch (const std::exception& e) {
    options_error = e.what();
  }
  cuda::CudaProbe probe = options_error.empty() ? cuda::probe_cuda(device) : cuda::CudaProbe{};
  if (!options_error.empty()) probe.reason = options_error;
  Napi::Object o = Napi::Object::New(env);
  o.Set("ok", Napi::Boolean::New(env, probe.ok));
  o.Set("reason", Napi::String::New(env, probe.reason));
  o.Set("device", probe.ok ? Napi::Value(Napi::String::New(env, probe.device)) : env.Undefined());
  o.Set("deviceCount", Napi::Number::New(env, probe.device_count));
  Napi::Object versions = Napi::Object::New(env);
  for (const auto& [k, v] : probe.versions) versions.Set(k, Napi::String::New(env, v));
  o.Set("versions", versions);
  Napi::Array tried = Napi::Array::New(env, probe.tried.size());
  for (uint32_t i = 0; i < probe.tried.size(); ++i) tried.Set(i, Napi::String::New(env, probe.tried[i]));
  o.Set("tried", tried);
  return o;
}

Napi::Value BuildInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("openblas", Napi::Boolean::New(env, cpu::have_openblas()));
  // The CUDA backend is always compiled in: it loads the CUDA libraries at run time.
  o.Set("cuda", Napi::Boolean::New(env, true));
  o.Set("defaultGemm", Napi::String::New(env, cpu::gemm_description(cpu::default_gemm())));
  o.Set("defaultGemmReason", Napi::String::New(env, cpu::default_gemm_reason()));
  Napi::Array kernels = Napi::Array::New(env);
  uint32_t ki = 0;
  for (cpu::GemmKernel k : cpu::supported_kernels()) kernels.Set(ki++, Napi::String::New(env, cpu::kernel_name(k)));
  o.Set("gemmKernels", kernels);
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
  data->plan_ctor = Napi::Persistent(PlanWrap::Init(env));
  env.SetInstanceData<AddonData>(data);  // deleted (executors joined) when this environment exits
  exports.Set("createCpuBackend", Napi::Function::New<CreateCpuBackend>(env, "createCpuBackend"));
  exports.Set("createCudaBackend", Napi::Function::New<CreateCudaBackend>(env, "createCudaBackend"));
  exports.Set("cudaAvailable", Napi::Function::New<CudaAvailable>(env, "cudaAvailable"));
  exports.Set("buildInfo", Napi::Function::New<BuildInfo>(env, "buildInfo"));
  exports.Set("NativeTensor", data->tensor_ctor.Value());
  exports.Set("NativeBackend", data->backend_ctor.Value());
  exports.Set("NativeConvPoolPlan", data->plan_ctor.Value());
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
