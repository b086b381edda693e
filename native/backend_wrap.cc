// NativeBackend (see backend_wrap.h): the backend's metadata, memory and transfers, and one
// generic method for every op of the op table (ops.h). An op call checks its tensors (type,
// backend, liveness, then the op's extents) on the JS thread, queues the work on the backend's
// executor and returns at once. Results come back through read()/sync() and their *Sync twins
// (the wait protocol: wait.h).
#include "backend_wrap.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "addon_data.h"
#include "ops.h"
#include "plan_wrap.h"
#include "tensor_wrap.h"
#include "wait.h"

namespace lenet {

namespace {

[[noreturn]] void fail(const std::string& op, const std::string& message) {
  throw Error(op + ": " + message);
}

Shape parse_shape(Napi::Env env, const Napi::Value& v, const char* what) {
  if (!v.IsArray()) throw Napi::TypeError::New(env, std::string(what) + ": shape must be an array of integers");
  auto arr = v.As<Napi::Array>();
  Shape s;
  for (uint32_t i = 0; i < arr.Length(); ++i) {
    Napi::Value d = arr.Get(i);
    double x = d.IsNumber() ? d.As<Napi::Number>().DoubleValue() : -1.0;
    if (!(x >= 0) || x != static_cast<double>(static_cast<int64_t>(x)) || x > 2147483647.0)
      throw Napi::TypeError::New(env, std::string(what) + ": shape must be an array of non-negative integers");
    s.push_back(static_cast<int64_t>(x));
  }
  // The element count must not wrap (a shape of 4 bytes whose ops index terabytes); a count no
  // process could hold is reported as the out-of-memory error it is.
  uint64_t n = 1;
  for (int64_t d : s)
    if (__builtin_mul_overflow(n, static_cast<uint64_t>(d), &n) || n > (uint64_t{1} << 53))
      throw OutOfMemory(std::string(what) + ": shape " + shape_str(s) + " has more elements than memory can hold");
  return s;
}

double number_arg(const Napi::CallbackInfo& info, size_t i, const char* op, const std::string& name) {
  if (i >= info.Length() || !info[i].IsNumber())
    throw Napi::TypeError::New(info.Env(), std::string(op) + ": " + name + " must be a number");
  return info[i].As<Napi::Number>().DoubleValue();
}

bool bool_arg(const Napi::CallbackInfo& info, size_t i, const char* op, const std::string& name) {
  if (i >= info.Length() || !info[i].IsBoolean())
    throw Napi::TypeError::New(info.Env(), std::string(op) + ": " + name + " must be a boolean");
  return info[i].As<Napi::Boolean>().Value();
}

struct BackendInit {
  std::shared_ptr<Device> device;
};

}  // namespace

Napi::Function BackendWrap::Init(Napi::Env env) {
  std::vector<Napi::ClassPropertyDescriptor<BackendWrap>> props = {
      InstanceAccessor<&BackendWrap::Kind>("kind"),
      InstanceMethod<&BackendWrap::Describe>("describe"),
      InstanceMethod<&BackendWrap::Counters>("counters"),
      InstanceMethod<&BackendWrap::Pending>("pending"),
      InstanceMethod<&BackendWrap::SetProfiling>("setProfiling"),
      InstanceMethod<&BackendWrap::Profile>("profile"),
      InstanceMethod<&BackendWrap::Ops>("ops"),
      InstanceMethod<&BackendWrap::Alloc>("alloc"),
      InstanceMethod<&BackendWrap::View>("view"),
      InstanceMethod<&BackendWrap::ConvPoolPlan>("convPoolPlan"),
      InstanceMethod<&BackendWrap::Close>("close"),
      InstanceMethod<&BackendWrap::Upload>("upload"),
      InstanceMethod<&BackendWrap::Read>("read"),
      InstanceMethod<&BackendWrap::ReadSync>("readSync"),
      InstanceMethod<&BackendWrap::Sync>("sync"),
      InstanceMethod<&BackendWrap::SyncSync>("syncSync"),
  };
  // The op table is static: its entries outlive every environment, so they can be method data.
  for (const OpDef& op : op_table())
    props.push_back(InstanceMethod(op.name, &BackendWrap::RunOp, napi_default, const_cast<OpDef*>(&op)));
  return DefineClass(env, "NativeBackend", props);
}

Napi::Object BackendWrap::New(Napi::Env env, std::shared_ptr<Device> device) {
  BackendInit init{std::move(device)};
  auto* data = env.GetInstanceData<AddonData>();
  return data->backend_ctor.New({Napi::External<BackendInit>::New(env, &init)});
}

BackendWrap::BackendWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<BackendWrap>(info) {
  if (info.Length() != 1 || !info[0].IsExternal())
    throw Napi::TypeError::New(info.Env(), "NativeBackend cannot be constructed directly; use createCpuBackend() or createCudaBackend()");
  auto* init = info[0].As<Napi::External<BackendInit>>().Data();
  auto executor = std::make_shared<Executor>(init->device->kind(), &init->device->profiler);
  auto& executors = info.Env().GetInstanceData<AddonData>()->executors;
  executors.erase(std::remove_if(executors.begin(), executors.end(), [](auto& w) { return w.expired(); }),
                  executors.end());
  executors.push_back(executor);
  state_ = std::make_shared<BackendState>(std::move(init->device), executor);
}

TensorRef BackendWrap::tensor_arg(const Napi::CallbackInfo& info, size_t i, const char* op, const std::string& name) {
  Napi::Value v = i < info.Length() ? info[i] : info.Env().Undefined();
  TensorWrap& t = TensorWrap::From(info.Env(), v, std::string(op) + ": " + name);
  if (t.backend() != state_)
    throw Napi::Error::New(info.Env(), std::string(op) + ": " + name + " belongs to another backend");
  return t.ref();
}

// ---- the op table ----

Napi::Value BackendWrap::RunOp(const Napi::CallbackInfo& info) {
  const OpDef& def = *static_cast<const OpDef*>(info.Data());
  return guard(info.Env(), [&]() -> Napi::Value {
    OpArgs a;
    a.op = def.name;
    for (size_t i = 0; i < def.args.size(); ++i) {
      const ArgSpec& spec = def.args[i];
      switch (spec.kind) {
        case ArgSpec::kTensor:
          a.tensors.push_back(tensor_arg(info, i, def.name, spec.name));
          a.names.push_back(spec.name.c_str());
          break;
        case ArgSpec::kOptionalTensor:
          a.tensors.push_back(i >= info.Length() || info[i].IsNull() || info[i].IsUndefined()
                                  ? TensorRef{}
                                  : tensor_arg(info, i, def.name, spec.name));
          a.names.push_back(spec.name.c_str());
          break;
        case ArgSpec::kNumber:
          a.numbers.push_back(number_arg(info, i, def.name, spec.name));
          break;
        case ArgSpec::kBoolean:
          a.booleans.push_back(bool_arg(info, i, def.name, spec.name));
          break;
        case ArgSpec::kPlan: {
          PlanWrap& p = PlanWrap::From(info.Env(), i < info.Length() ? info[i] : info.Env().Undefined(),
                                       std::string(def.name) + ": " + spec.name);
          if (p.backend() != state_)
            throw Napi::Error::New(info.Env(), std::string(def.name) + ": " + spec.name + " belongs to another backend");
          a.plan = p.plan();
          break;
        }
      }
    }
    Work work = def.make(a);
    std::shared_ptr<Device> device = state_->device;
    state_->executor->enqueue(def.name, [device, work = std::move(work)] { work(*device); });
    return info.Env().Undefined();
  });
}

Napi::Value BackendWrap::Ops(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Array out = Napi::Array::New(env);
  uint32_t i = 0;
  for (const OpDef& op : op_table()) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("name", Napi::String::New(env, op.name));
    o.Set("signature", Napi::String::New(env, op.signature));
    out.Set(i++, o);
  }
  return out;
}

// ---- metadata and memory ----

Napi::Value BackendWrap::Kind(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), state_->device->kind());
}

Napi::Value BackendWrap::Describe(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&] { return Napi::String::New(info.Env(), state_->device->describe()); });
}

Napi::Value BackendWrap::Counters(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto& c = state_->device->counters;
  Napi::Object o = Napi::Object::New(env);
  o.Set("liveBuffers", Napi::Number::New(env, static_cast<double>(c.live_buffers.load())));
  o.Set("liveBytes", Napi::Number::New(env, static_cast<double>(c.live_bytes.load())));
  o.Set("peakBytes", Napi::Number::New(env, static_cast<double>(c.peak_bytes.load())));
  return o;
}

Napi::Value BackendWrap::Pending(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(state_->executor->pending()));
}

Napi::Value BackendWrap::SetProfiling(const Napi::CallbackInfo& info) {
  state_->device->profiler.set_enabled(info.Length() > 0 && info[0].ToBoolean().Value());
  return info.Env().Undefined();
}

Napi::Value BackendWrap::Profile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);
  for (const auto& [op, entry] : state_->device->profiler.snapshot()) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("calls", Napi::Number::New(env, static_cast<double>(entry.first)));
    o.Set("seconds", Napi::Number::New(env, entry.second));
    out.Set(op, o);
  }
  return out;
}

Napi::Value BackendWrap::Alloc(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    Shape shape = parse_shape(env, info.Length() > 0 ? info[0] : env.Undefined(), "alloc");
    TensorRef ref{state_->device->allocate(numel_of(shape)), 0, shape};
    return TensorWrap::New(env, state_, std::move(ref), true);
  });
}

Napi::Value BackendWrap::View(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    TensorRef base = tensor_arg(info, 0, "view", "base");
    double offset = number_arg(info, 1, "view", "offset");
    Shape shape = parse_shape(env, info.Length() > 2 ? info[2] : env.Undefined(), "view");
    if (!(offset >= 0) || offset != static_cast<double>(static_cast<int64_t>(offset)))
      fail("view", "offset must be a non-negative integer");
    const size_t off = static_cast<size_t>(offset);
    if (off + numel_of(shape) > base.numel())
      fail("view", "a view of shape " + shape_str(shape) + " at offset " + std::to_string(off) +
                       " does not fit in a tensor of shape " + shape_str(base.shape));
    TensorRef ref{base.storage, base.offset + off, shape};
    return TensorWrap::New(env, state_, std::move(ref), false);
  });
}

Napi::Value BackendWrap::ConvPoolPlan(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    Shape x = parse_shape(env, info.Length() > 0 ? info[0] : env.Undefined(), "convPoolPlan");
    Shape w = parse_shape(env, info.Length() > 1 ? info[1] : env.Undefined(), "convPoolPlan");
    check_conv_pool_shapes("convPoolPlan", x, w);
    return PlanWrap::New(env, state_, state_->device->conv_pool_plan(x, w));
  });
}

Napi::Value BackendWrap::Close(const Napi::CallbackInfo& info) {
  state_->executor->shutdown();
  return info.Env().Undefined();
}

// ---- transfers and synchronisation ----

Napi::Value BackendWrap::Upload(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    TensorRef dst = tensor_arg(info, 0, "upload", "dst");
    if (info.Length() < 2 || !info[1].IsTypedArray())
      throw Napi::TypeError::New(env, "upload: data must be a Float32Array or a Uint8Array");
    auto typed = info[1].As<Napi::TypedArray>();
    const double scale = info.Length() > 2 && !info[2].IsUndefined() ? number_arg(info, 2, "upload", "scale") : 1.0;
    if (typed.ElementLength() != dst.numel())
      fail("upload", "data has " + std::to_string(typed.ElementLength()) + " elements, the tensor " +
                         shape_str(dst.shape) + " has " + std::to_string(dst.numel()));
    // Stage a copy now: the caller may change its array as soon as upload() returns.
    auto host = std::make_shared<std::vector<float>>(dst.numel());
    if (typed.TypedArrayType() == napi_float32_array) {
      const float* src = typed.As<Napi::Float32Array>().Data();
      if (scale == 1.0) {
        std::memcpy(host->data(), src, host->size() * sizeof(float));
      } else {
        for (size_t i = 0; i < host->size(); ++i) (*host)[i] = src[i] * static_cast<float>(scale);
      }
    } else if (typed.TypedArrayType() == napi_uint8_array) {
      const uint8_t* src = typed.As<Napi::Uint8Array>().Data();
      for (size_t i = 0; i < host->size(); ++i) (*host)[i] = static_cast<float>(src[i] * scale);
    } else {
      throw Napi::TypeError::New(env, "upload: data must be a Float32Array or a Uint8Array");
    }
    std::shared_ptr<Device> device = state_->device;
    state_->executor->enqueue("upload", [device, dst, host] { device->upload(dst, host->data()); });
    return env.Undefined();
  });
}

Napi::Value BackendWrap::Read(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&] {
    TensorRef src = tensor_arg(info, 0, "read", "tensor");
    return wait_async(info.Env(), state_, "read", &src);
  });
}

Napi::Value BackendWrap::ReadSync(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&] {
    TensorRef src = tensor_arg(info, 0, "readSync", "tensor");
    return wait_sync(info.Env(), state_, "readSync", &src);
  });
}

Napi::Value BackendWrap::Sync(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&] { return wait_async(info.Env(), state_, "sync", nullptr); });
}

Napi::Value BackendWrap::SyncSync(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&] { return wait_sync(info.Env(), state_, "syncSync", nullptr); });
}

}  // namespace lenet
