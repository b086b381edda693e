// NativeBackend (see backend_wrap.h): every op checks its tensors (backend, liveness, shapes) on
// the JS thread, then queues the work on the backend's executor and returns at once. Results come
// back through read()/sync(), which wait off the JS thread (N-API async work) and resolve a
// promise, or through their *Sync twins for scripts and tests.
#include "backend_wrap.h"

#include <algorithm>
#include <cstring>
#include <functional>
#include <optional>
#include <utility>
#include <string>
#include <vector>

#include "addon_data.h"
#include "tensor_wrap.h"

namespace lenet {

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

namespace {

[[noreturn]] void fail(const std::string& op, const std::string& message) {
  throw Error(op + ": " + message);
}

void expect_rank(const char* op, const char* name, const TensorRef& t, size_t rank) {
  if (t.rank() != rank)
    fail(op, std::string(name) + " must have rank " + std::to_string(rank) + ", got shape " + shape_str(t.shape));
}

void expect_shape(const char* op, const char* name, const TensorRef& t, const Shape& want) {
  if (t.shape != want)
    fail(op, std::string(name) + " must have shape " + shape_str(want) + ", got " + shape_str(t.shape));
}

void expect_numel(const char* op, const char* name, const TensorRef& t, size_t n) {
  if (t.numel() != n)
    fail(op, std::string(name) + " must have " + std::to_string(n) + " elements, got shape " + shape_str(t.shape));
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
  return s;
}

double number_arg(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name) {
  if (i >= info.Length() || !info[i].IsNumber())
    throw Napi::TypeError::New(info.Env(), std::string(op) + ": " + name + " must be a number");
  return info[i].As<Napi::Number>().DoubleValue();
}

bool bool_arg(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name) {
  if (i >= info.Length() || !info[i].IsBoolean())
    throw Napi::TypeError::New(info.Env(), std::string(op) + ": " + name + " must be a boolean");
  return info[i].As<Napi::Boolean>().Value();
}

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

// Waits off the JS thread for a queued task, then settles a promise (resolving with a
// Float32Array when `with_data`, else with undefined).
class WaitWorker : public Napi::AsyncWorker {
 public:
  WaitWorker(Napi::Env env, std::shared_ptr<BackendState> state, uint64_t seq, std::shared_ptr<Completion> done,
             bool with_data)
      : Napi::AsyncWorker(env, "lenet:wait"),
        deferred_(Napi::Promise::Deferred::New(env)),
        state_(std::move(state)),
        seq_(seq),
        done_(std::move(done)),
        with_data_(with_data) {}

  Napi::Promise promise() { return deferred_.Promise(); }

  void Execute() override {
    state_->executor->wait_for(seq_);
    run_fence(*done_);
  }

  void OnOK() override {
    Napi::Env env = Env();
    if (auto error = completion_error(*state_->executor, *done_)) {
      deferred_.Reject(make_error(env, *error, "LENET_NATIVE").Value());
      return;
    }
    if (!with_data_) {
      deferred_.Resolve(env.Undefined());
      return;
    }
    auto out = Napi::Float32Array::New(env, done_->data.size());
    std::memcpy(out.Data(), done_->data.data(), done_->data.size() * sizeof(float));
    deferred_.Resolve(out);
  }

  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  std::shared_ptr<BackendState> state_;
  uint64_t seq_;
  std::shared_ptr<Completion> done_;
  bool with_data_;
};

}  // namespace

Napi::Function BackendWrap::Init(Napi::Env env) {
  return DefineClass(
      env, "NativeBackend",
      {
          InstanceAccessor<&BackendWrap::Kind>("kind"),
          InstanceMethod<&BackendWrap::Describe>("describe"),
          InstanceMethod<&BackendWrap::Counters>("counters"),
          InstanceMethod<&BackendWrap::Pending>("pending"),
          InstanceMethod<&BackendWrap::SetProfiling>("setProfiling"),
          InstanceMethod<&BackendWrap::Profile>("profile"),
          InstanceMethod<&BackendWrap::Alloc>("alloc"),
          InstanceMethod<&BackendWrap::View>("view"),
          InstanceMethod<&BackendWrap::Close>("close"),
          InstanceMethod<&BackendWrap::Upload>("upload"),
          InstanceMethod<&BackendWrap::Read>("read"),
          InstanceMethod<&BackendWrap::ReadSync>("readSync"),
          InstanceMethod<&BackendWrap::Sync>("sync"),
          InstanceMethod<&BackendWrap::SyncSync>("syncSync"),
          InstanceMethod<&BackendWrap::Fill>("fill"),
          InstanceMethod<&BackendWrap::Copy>("copy"),
          InstanceMethod<&BackendWrap::Conv2dForward>("conv2dForward"),
          InstanceMethod<&BackendWrap::Conv2dBackwardData>("conv2dBackwardData"),
          InstanceMethod<&BackendWrap::Conv2dBackwardFilter>("conv2dBackwardFilter"),
          InstanceMethod<&BackendWrap::Conv2dBackward>("conv2dBackward"),
          InstanceMethod<&BackendWrap::ConvPoolForward>("convPoolForward"),
          InstanceMethod<&BackendWrap::ConvPoolBackward>("convPoolBackward"),
          InstanceMethod<&BackendWrap::MaxPoolBiasTanhForward>("maxPoolBiasTanhForward"),
          InstanceMethod<&BackendWrap::MaxPoolBiasTanhBackward>("maxPoolBiasTanhBackward"),
          InstanceMethod<&BackendWrap::MaxPoolForward>("maxPool2x2Forward"),
          InstanceMethod<&BackendWrap::MaxPoolBackward>("maxPool2x2Backward"),
          InstanceMethod<&BackendWrap::BiasAdd>("biasAdd"),
          InstanceMethod<&BackendWrap::BiasGrad>("biasGrad"),
          InstanceMethod<&BackendWrap::BiasTanhForward>("biasTanhForward"),
          InstanceMethod<&BackendWrap::TanhForward>("tanhForward"),
          InstanceMethod<&BackendWrap::TanhBackward>("tanhBackward"),
          InstanceMethod<&BackendWrap::Gemm>("gemm"),
          InstanceMethod<&BackendWrap::Axpy>("axpy"),
          InstanceMethod<&BackendWrap::Scale>("scale"),
          InstanceMethod<&BackendWrap::SoftmaxNll>("softmaxNll"),
          InstanceMethod<&BackendWrap::SoftmaxNllBackward>("softmaxNllBackward"),
      });
}

namespace {
struct BackendInit {
  std::shared_ptr<Device> device;
};
}  // namespace

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

TensorRef BackendWrap::arg(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name) {
  Napi::Value v = i < info.Length() ? info[i] : info.Env().Undefined();
  TensorWrap& t = TensorWrap::From(info.Env(), v, std::string(op) + ": " + name);
  if (t.backend() != state_)
    throw Napi::Error::New(info.Env(), std::string(op) + ": " + name + " belongs to another backend");
  return t.ref();
}

const TensorRef* BackendWrap::optional_arg(const Napi::CallbackInfo& info, size_t i, const char* op,
                                           const char* name, TensorRef& storage) {
  if (i >= info.Length() || info[i].IsNull() || info[i].IsUndefined()) return nullptr;
  storage = arg(info, i, op, name);
  return &storage;
}

Napi::Value BackendWrap::enqueue(Napi::Env env, const char* op, Op fn) {
  std::shared_ptr<Device> device = state_->device;
  state_->executor->enqueue(op, [device, fn = std::move(fn)] { fn(*device); });
  return env.Undefined();
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
    TensorRef base = arg(info, 0, "view", "base");
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

Napi::Value BackendWrap::Close(const Napi::CallbackInfo& info) {
  state_->executor->shutdown();
  return info.Env().Undefined();
}

// ---- transfers and synchronisation ----

Napi::Value BackendWrap::Upload(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    TensorRef dst = arg(info, 0, "upload", "dst");
    if (info.Length() < 2 || !info[1].IsTypedArray())
      throw Napi::TypeError::New(env, "upload: data must be a Float32Array or a Uint8Array");
    auto typed = info[1].As<Napi::TypedArray>();
    const double scale = info.Length() > 2 && info[2].IsNumber() ? info[2].As<Napi::Number>().DoubleValue() : 1.0;
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
    return enqueue(env, "upload", [dst, host](Device& d) { d.upload(dst, host->data()); });
  });
}

// Queues a read of `src` (or, without src, a device synchronization) and returns what to wait on.
std::pair<uint64_t, std::shared_ptr<Completion>> BackendWrap::queue_wait(const char* op, const TensorRef* src) {
  auto done = std::make_shared<Completion>();
  std::shared_ptr<Device> device = state_->device;
  uint64_t seq;
  if (src) {
    done->data.resize(src->numel());
    TensorRef t = *src;
    seq = state_->executor->enqueue(op, [device, t, done] {
      done->fence = device->download(t, done->data.data());
      done->ran = true;
    });
  } else {
    seq = state_->executor->enqueue(op, [device, done] {
      done->fence = device->fence();
      done->ran = true;
    });
  }
  return {seq, done};
}

Napi::Value BackendWrap::wait_async(Napi::Env env, const char* op, const TensorRef* src) {
  auto [seq, done] = queue_wait(op, src);
  auto* worker = new WaitWorker(env, state_, seq, done, src != nullptr);
  Napi::Promise promise = worker->promise();
  worker->Queue();
  return promise;
}

Napi::Value BackendWrap::wait_sync(Napi::Env env, const char* op, const TensorRef* src) {
  auto [seq, done] = queue_wait(op, src);
  state_->executor->wait_for(seq);
  run_fence(*done);
  if (auto error = completion_error(*state_->executor, *done)) throw make_error(env, *error, "LENET_NATIVE");
  if (!src) return env.Undefined();
  auto out = Napi::Float32Array::New(env, done->data.size());
  std::memcpy(out.Data(), done->data.data(), done->data.size() * sizeof(float));
  return out;
}

Napi::Value BackendWrap::Read(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&] {
    TensorRef src = arg(info, 0, "read", "tensor");
    return wait_async(info.Env(), "read", &src);
  });
}

Napi::Value BackendWrap::ReadSync(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&] {
    TensorRef src = arg(info, 0, "readSync", "tensor");
    return wait_sync(info.Env(), "readSync", &src);
  });
}

Napi::Value BackendWrap::Sync(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&] { return wait_async(info.Env(), "sync", nullptr); });
}

Napi::Value BackendWrap::SyncSync(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&] { return wait_sync(info.Env(), "syncSync", nullptr); });
}

Napi::Value BackendWrap::Fill(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&] {
    TensorRef t = arg(info, 0, "fill", "tensor");
    float v = static_cast<float>(number_arg(info, 1, "fill", "value"));
    return enqueue(info.Env(), "fill", [t, v](Device& d) { d.fill(t, v); });
  });
}

Napi::Value BackendWrap::Copy(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&] {
    TensorRef src = arg(info, 0, "copy", "src"), dst = arg(info, 1, "copy", "dst");
    expect_numel("copy", "dst", dst, src.numel());
    return enqueue(info.Env(), "copy", [src, dst](Device& d) { d.copy(src, dst); });
  });
}

// ---- convolution ----

namespace {
// Checks an input x [N,C,H,W] and filters w [K,C,KH,KW] of a valid, stride-1 convolution and
// returns its output shape [N,K,H-KH+1,W-KW+1]; xname/wname name them in messages.
Shape conv_output(const char* op, const TensorRef& x, const TensorRef& w, const char* xname, const char* wname) {
  expect_rank(op, xname, x, 4);
  expect_rank(op, wname, w, 4);
  if (w.dim(1) != x.dim(1) || w.dim(2) > x.dim(2) || w.dim(3) > x.dim(3) || w.dim(2) < 1 || w.dim(3) < 1)
    fail(op, std::string(wname) + " " + shape_str(w.shape) + " does not fit " + xname + " " + shape_str(x.shape));
  return {x.dim(0), w.dim(0), x.dim(2) - w.dim(2) + 1, x.dim(3) - w.dim(3) + 1};
}
}  // namespace

Napi::Value BackendWrap::Conv2dForward(const Napi::CallbackInfo& info) {
  static const char* op = "conv2dForward";
  return guard(info.Env(), [&] {
    TensorRef x = arg(info, 0, op, "x"), w = arg(info, 1, op, "w"), y = arg(info, 2, op, "y");
    expect_shape(op, "y", y, conv_output(op, x, w, "x", "w"));
    return enqueue(info.Env(), op, [x, w, y](Device& d) { d.conv2d_forward(x, w, y); });
  });
}

Napi::Value BackendWrap::Conv2dBackwardData(const Napi::CallbackInfo& info) {
  static const char* op = "conv2dBackwardData";
  return guard(info.Env(), [&] {
    TensorRef dy = arg(info, 0, op, "dy"), w = arg(info, 1, op, "w"), dx = arg(info, 2, op, "dx");
    expect_shape(op, "dy", dy, conv_output(op, dx, w, "dx", "w"));
    return enqueue(info.Env(), op, [dy, w, dx](Device& d) { d.conv2d_backward_data(dy, w, dx); });
  });
}

Napi::Value BackendWrap::Conv2dBackwardFilter(const Napi::CallbackInfo& info) {
  static const char* op = "conv2dBackwardFilter";
  return guard(info.Env(), [&] {
    TensorRef x = arg(info, 0, op, "x"), dy = arg(info, 1, op, "dy"), dw = arg(info, 2, op, "dw");
    expect_shape(op, "dy", dy, conv_output(op, x, dw, "x", "dw"));
    return enqueue(info.Env(), op, [x, dy, dw](Device& d) { d.conv2d_backward_filter(x, dy, dw); });
  });
}

Napi::Value BackendWrap::Conv2dBackward(const Napi::CallbackInfo& info) {
  static const char* op = "conv2dBackward";
  return guard(info.Env(), [&] {
    TensorRef x = arg(info, 0, op, "x"), w = arg(info, 1, op, "w"), dy = arg(info, 2, op, "dy");
    TensorRef dx_s;
    const TensorRef* dx = optional_arg(info, 3, op, "dx", dx_s);
    TensorRef dw = arg(info, 4, op, "dw");
    expect_shape(op, "dy", dy, conv_output(op, x, w, "x", "w"));
    expect_shape(op, "dw", dw, w.shape);
    if (dx) expect_shape(op, "dx", *dx, x.shape);
    const bool has_dx = dx != nullptr;
    return enqueue(info.Env(), op, [=](Device& d) { d.conv2d_backward(x, w, dy, has_dx ? &dx_s : nullptr, dw); });
  });
}

// ---- pooling ----

namespace {
Shape pooled_shape(const char* op, const TensorRef& x) {
  expect_rank(op, "x", x, 4);
  if (x.dim(2) < 2 || x.dim(3) < 2) fail(op, "x " + shape_str(x.shape) + " is smaller than the 2x2 window");
  return {x.dim(0), x.dim(1), x.dim(2) / 2, x.dim(3) / 2};
}

// The shapes of a conv-pool layer: checks x and w, returns the convolution's output shape.
Shape conv_pool_shapes(const char* op, const TensorRef& x, const TensorRef& w) {
  const Shape conv = conv_output(op, x, w, "x", "w");
  if (conv[2] < 2 || conv[3] < 2) fail(op, "the convolution's output " + shape_str(conv) + " is smaller than the 2x2 window");
  return conv;
}
}  // namespace

Napi::Value BackendWrap::ConvPoolForward(const Napi::CallbackInfo& info) {
  static const char* op = "convPoolForward";
  return guard(info.Env(), [&] {
    TensorRef x = arg(info, 0, op, "x"), w = arg(info, 1, op, "w"), b = arg(info, 2, op, "b"),
              conv = arg(info, 3, op, "conv"), pooled = arg(info, 4, op, "pooled"), y = arg(info, 5, op, "y");
    const Shape cs = conv_pool_shapes(op, x, w);
    const Shape ps{cs[0], cs[1], cs[2] / 2, cs[3] / 2};
    expect_shape(op, "b", b, {w.dim(0)});
    expect_shape(op, "conv", conv, cs);
    expect_shape(op, "pooled", pooled, ps);
    expect_shape(op, "y", y, ps);
    return enqueue(info.Env(), op, [=](Device& d) { d.conv_pool_forward(x, w, b, conv, pooled, y); });
  });
}

Napi::Value BackendWrap::ConvPoolBackward(const Napi::CallbackInfo& info) {
  static const char* op = "convPoolBackward";
  return guard(info.Env(), [&] {
    TensorRef x = arg(info, 0, op, "x"), w = arg(info, 1, op, "w"), conv = arg(info, 2, op, "conv"),
              pooled = arg(info, 3, op, "pooled"), y = arg(info, 4, op, "y"), dy = arg(info, 5, op, "dy"),
              dpooled = arg(info, 6, op, "dpooled"), dconv = arg(info, 7, op, "dconv");
    TensorRef dx_s;
    const TensorRef* dx = optional_arg(info, 8, op, "dx", dx_s);
    TensorRef dw = arg(info, 9, op, "dw"), db = arg(info, 10, op, "db");
    const Shape cs = conv_pool_shapes(op, x, w);
    const Shape ps{cs[0], cs[1], cs[2] / 2, cs[3] / 2};
    expect_shape(op, "conv", conv, cs);
    expect_shape(op, "pooled", pooled, ps);
    expect_shape(op, "y", y, ps);
    expect_numel(op, "dy", dy, numel_of(ps));
    expect_shape(op, "dpooled", dpooled, ps);
    expect_shape(op, "dconv", dconv, cs);
    if (dx) expect_shape(op, "dx", *dx, x.shape);
    expect_shape(op, "dw", dw, w.shape);
    expect_shape(op, "db", db, {w.dim(0)});
    const bool has_dx = dx != nullptr;
    return enqueue(info.Env(), op, [=](Device& d) {
      d.conv_pool_backward(x, w, conv, pooled, y, dy, dpooled, dconv, has_dx ? &dx_s : nullptr, dw, db);
    });
  });
}

Napi::Value BackendWrap::MaxPoolBiasTanhForward(const Napi::CallbackInfo& info) {
  static const char* op = "maxPoolBiasTanhForward";
  return guard(info.Env(), [&] {
    TensorRef x = arg(info, 0, op, "x"), b = arg(info, 1, op, "b"), pooled = arg(info, 2, op, "pooled"),
              y = arg(info, 3, op, "y");
    const Shape ps = pooled_shape(op, x);
    expect_shape(op, "b", b, {x.dim(1)});
    expect_shape(op, "pooled", pooled, ps);
    expect_shape(op, "y", y, ps);
    return enqueue(info.Env(), op, [=](Device& d) { d.maxpool_bias_tanh_forward(x, b, pooled, y); });
  });
}

Napi::Value BackendWrap::MaxPoolBiasTanhBackward(const Napi::CallbackInfo& info) {
  static const char* op = "maxPoolBiasTanhBackward";
  return guard(info.Env(), [&] {
    TensorRef x = arg(info, 0, op, "x"), pooled = arg(info, 1, op, "pooled"), y = arg(info, 2, op, "y"),
              dy = arg(info, 3, op, "dy"), dpooled = arg(info, 4, op, "dpooled"), db = arg(info, 5, op, "db"),
              dx = arg(info, 6, op, "dx");
    const Shape ps = pooled_shape(op, x);
    expect_shape(op, "pooled", pooled, ps);
    expect_shape(op, "y", y, ps);
    expect_numel(op, "dy", dy, numel_of(ps));
    expect_shape(op, "dpooled", dpooled, ps);
    expect_shape(op, "db", db, {x.dim(1)});
    expect_shape(op, "dx", dx, x.shape);
    return enqueue(info.Env(), op, [=](Device& d) { d.maxpool_bias_tanh_backward(x, pooled, y, dy, dpooled, db, dx); });
  });
}

Napi::Value BackendWrap::MaxPoolForward(const Napi::CallbackInfo& info) {
  static const char* op = "maxPool2x2Forward";
  return guard(info.Env(), [&] {
    TensorRef x = arg(info, 0, op, "x"), y = arg(info, 1, op, "y");
    expect_rank(op, "x", x, 4);
    if (x.dim(2) < 2 || x.dim(3) < 2) fail(op, "x " + shape_str(x.shape) + " is smaller than the 2x2 window");
    expect_shape(op, "y", y, {x.dim(0), x.dim(1), x.dim(2) / 2, x.dim(3) / 2});
    return enqueue(info.Env(), op, [x, y](Device& d) { d.maxpool2x2_forward(x, y); });
  });
}

Napi::Value BackendWrap::MaxPoolBackward(const Napi::CallbackInfo& info) {
  static const char* op = "maxPool2x2Backward";
  return guard(info.Env(), [&] {
    TensorRef x = arg(info, 0, op, "x"), y = arg(info, 1, op, "y"), dy = arg(info, 2, op, "dy"),
              dx = arg(info, 3, op, "dx");
    expect_rank(op, "x", x, 4);
    if (x.dim(2) < 2 || x.dim(3) < 2) fail(op, "x " + shape_str(x.shape) + " is smaller than the 2x2 window");
    const Shape pooled{x.dim(0), x.dim(1), x.dim(2) / 2, x.dim(3) / 2};
    expect_shape(op, "y", y, pooled);
    expect_shape(op, "dy", dy, pooled);
    expect_shape(op, "dx", dx, x.shape);
    return enqueue(info.Env(), op, [x, y, dy, dx](Device& d) { d.maxpool2x2_backward(x, y, dy, dx); });
  });
}

// ---- bias and tanh ----

namespace {
void check_bias(const char* op, const TensorRef& x, const TensorRef& b, const TensorRef& y) {
  if (x.rank() < 2) fail(op, "x must have rank 2 or more, got shape " + shape_str(x.shape));
  expect_shape(op, "b", b, {x.dim(1)});
  expect_shape(op, "y", y, x.shape);
}
}  // namespace

Napi::Value BackendWrap::BiasAdd(const Napi::CallbackInfo& info) {
  static const char* op = "biasAdd";
  return guard(info.Env(), [&] {
    TensorRef x = arg(info, 0, op, "x"), b = arg(info, 1, op, "b"), y = arg(info, 2, op, "y");
    check_bias(op, x, b, y);
    return enqueue(info.Env(), op, [x, b, y](Device& d) { d.bias_add(x, b, y); });
  });
}

Napi::Value BackendWrap::BiasTanhForward(const Napi::CallbackInfo& info) {
  static const char* op = "biasTanhForward";
  return guard(info.Env(), [&] {
    TensorRef x = arg(info, 0, op, "x"), b = arg(info, 1, op, "b"), y = arg(info, 2, op, "y");
    check_bias(op, x, b, y);
    return enqueue(info.Env(), op, [x, b, y](Device& d) { d.bias_tanh_forward(x, b, y); });
  });
}

Napi::Value BackendWrap::BiasGrad(const Napi::CallbackInfo& info) {
  static const char* op = "biasGrad";
  return guard(info.Env(), [&] {
    TensorRef dy = arg(info, 0, op, "dy"), db = arg(info, 1, op, "db");
    if (dy.rank() < 2) fail(op, "dy must have rank 2 or more, got shape " + shape_str(dy.shape));
    expect_shape(op, "db", db, {dy.dim(1)});
    return enqueue(info.Env(), op, [dy, db](Device& d) { d.bias_grad(dy, db); });
  });
}

Napi::Value BackendWrap::TanhForward(const Napi::CallbackInfo& info) {
  static const char* op = "tanhForward";
  return guard(info.Env(), [&] {
    TensorRef x = arg(info, 0, op, "x"), y = arg(info, 1, op, "y");
    expect_numel(op, "y", y, x.numel());
    return enqueue(info.Env(), op, [x, y](Device& d) { d.tanh_forward(x, y); });
  });
}

Napi::Value BackendWrap::TanhBackward(const Napi::CallbackInfo& info) {
  static const char* op = "tanhBackward";
  return guard(info.Env(), [&] {
    TensorRef y = arg(info, 0, op, "y"), dy = arg(info, 1, op, "dy"), dx = arg(info, 2, op, "dx");
    expect_numel(op, "dy", dy, y.numel());
    expect_numel(op, "dx", dx, y.numel());
    return enqueue(info.Env(), op, [y, dy, dx](Device& d) { d.tanh_backward(y, dy, dx); });
  });
}

// ---- dense algebra ----

Napi::Value BackendWrap::Gemm(const Napi::CallbackInfo& info) {
  static const char* op = "gemm";
  return guard(info.Env(), [&] {
    const bool ta = bool_arg(info, 0, op, "transA"), tb = bool_arg(info, 1, op, "transB");
    const float alpha = static_cast<float>(number_arg(info, 2, op, "alpha"));
    TensorRef a = arg(info, 3, op, "a"), b = arg(info, 4, op, "b");
    const float beta = static_cast<float>(number_arg(info, 5, op, "beta"));
    TensorRef c = arg(info, 6, op, "c");
    expect_rank(op, "a", a, 2);
    expect_rank(op, "b", b, 2);
    expect_rank(op, "c", c, 2);
    const int64_t m = ta ? a.dim(1) : a.dim(0), ka = ta ? a.dim(0) : a.dim(1);
    const int64_t kb = tb ? b.dim(1) : b.dim(0), n = tb ? b.dim(0) : b.dim(1);
    if (ka != kb)
      fail(op, "inner dimensions differ: op(a) is [" + std::to_string(m) + "," + std::to_string(ka) +
                   "], op(b) is [" + std::to_string(kb) + "," + std::to_string(n) + "]");
    expect_shape(op, "c", c, {m, n});
    return enqueue(info.Env(), op, [=](Device& d) { d.gemm(ta, tb, alpha, a, b, beta, c); });
  });
}

Napi::Value BackendWrap::Axpy(const Napi::CallbackInfo& info) {
  static const char* op = "axpy";
  return guard(info.Env(), [&] {
    const float alpha = static_cast<float>(number_arg(info, 0, op, "alpha"));
    TensorRef x = arg(info, 1, op, "x"), y = arg(info, 2, op, "y");
    expect_numel(op, "y", y, x.numel());
    return enqueue(info.Env(), op, [=](Device& d) { d.axpy(alpha, x, y); });
  });
}

Napi::Value BackendWrap::Scale(const Napi::CallbackInfo& info) {
  static const char* op = "scale";
  return guard(info.Env(), [&] {
    const float alpha = static_cast<float>(number_arg(info, 0, op, "alpha"));
    TensorRef x = arg(info, 1, op, "x");
    return enqueue(info.Env(), op, [=](Device& d) { d.scale(alpha, x); });
  });
}

// ---- softmax and NLL ----

Napi::Value BackendWrap::SoftmaxNll(const Napi::CallbackInfo& info) {
  static const char* op = "softmaxNll";
  return guard(info.Env(), [&] {
    TensorRef logits = arg(info, 0, op, "logits");
    TensorRef labels_s, stats_s;
    const TensorRef* labels = optional_arg(info, 1, op, "labels", labels_s);
    TensorRef probs = arg(info, 2, op, "probs");
    const TensorRef* stats = optional_arg(info, 3, op, "stats", stats_s);
    expect_rank(op, "logits", logits, 2);
    expect_shape(op, "probs", probs, logits.shape);
    if (labels) expect_shape(op, "labels", *labels, {logits.dim(0)});
    if (labels && logits.dim(0) > 0 && logits.dim(1) == 0) fail(op, "logits " + shape_str(logits.shape) + " have no classes");
    if (stats) {
      if (!labels) fail(op, "stats need labels");
      expect_shape(op, "stats", *stats, {2});
    }
    const bool has_labels = labels != nullptr, has_stats = stats != nullptr;
    return enqueue(info.Env(), op, [=](Device& d) {
      d.softmax_nll(logits, has_labels ? &labels_s : nullptr, probs, has_stats ? &stats_s : nullptr);
    });
  });
}

Napi::Value BackendWrap::SoftmaxNllBackward(const Napi::CallbackInfo& info) {
  static const char* op = "softmaxNllBackward";
  return guard(info.Env(), [&] {
    TensorRef probs = arg(info, 0, op, "probs"), labels = arg(info, 1, op, "labels"),
              dlogits = arg(info, 2, op, "dlogits");
    expect_rank(op, "probs", probs, 2);
    expect_shape(op, "labels", labels, {probs.dim(0)});
    if (probs.dim(0) > 0 && probs.dim(1) == 0) fail(op, "probs " + shape_str(probs.shape) + " have no classes");
    expect_shape(op, "dlogits", dlogits, probs.shape);
    return enqueue(info.Env(), op, [=](Device& d) { d.softmax_nll_backward(probs, labels, dlogits); });
  });
}

}  // namespace lenet
