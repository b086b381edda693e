// The CUDA backend (see cuda_device.h).
//
// All work goes to one non-blocking stream, issued by the backend's executor thread; no op waits
// for the GPU. cuDNN and cuBLAS are bound to that stream; our own kernels are loaded and launched
// with the driver API on the device's primary context, which the runtime shares. Reads and syncs
// record an event and hand the waiting to the waiter's thread (download(), fence()), so the
// executor keeps issuing work. Memory is stream-ordered (cudaMallocAsync/cudaFreeAsync on the
// stream), so a free from any thread never stalls the device and never frees memory that queued
// work still uses; transfers are staged through pinned buffers recycled with events. Descriptors
// and algorithm choices are made once per shape and cached (a ConvPlan per convolution shape, a
// TensorDesc per 4-d shape), and a single workspace buffer grows to the largest need, as in
// cuDNN's own samples. Every handle has an owner that frees it on every path.
#include "cuda_device.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <tuple>

#include "kernels_ptx.h"
#include "loader.h"
#include "status.h"

namespace lenet::cuda {
namespace {

using Dims4 = std::array<int, 4>;

constexpr float kOne = 1.0f;
constexpr float kZero = 0.0f;

std::string version_text(int v) {  // 13000 -> "13.0"
  return std::to_string(v / 1000) + "." + std::to_string((v % 1000) / 10);
}

std::string cudnn_version_text(const CudnnApi& api) {
  const std::size_t v = api.version;
  if (api.major >= 9) return std::to_string(v / 10000) + "." + std::to_string((v % 10000) / 100) + "." + std::to_string(v % 100);
  return std::to_string(v / 1000) + "." + std::to_string((v % 1000) / 100) + "." + std::to_string(v % 100);
}

int checked_int(size_t v, const char* what) {
  if (v > 0x7fffffff) throw Error(std::string(what) + " has more than 2^31-1 elements, beyond cuDNN's and cuBLAS's int sizes");
  return static_cast<int>(v);
}

// ---- RAII descriptors: each keeps nothing but its handle; the device outlives them ----

class TensorDesc {
 public:
  explicit TensorDesc(const Dims4& d) {
    LENET_CUDNN(cudnnCreateTensorDescriptor, &desc_);
    try {
      LENET_CUDNN(cudnnSetTensor4dDescriptor, desc_, cudnnTensorFormat_t::CUDNN_TENSOR_NCHW,
                  cudnnDataType_t::CUDNN_DATA_FLOAT, d[0], d[1], d[2], d[3]);
    } catch (...) {
      cudnn().cudnnDestroyTensorDescriptor(desc_);
      throw;
    }
  }
  ~TensorDesc() { cudnn().cudnnDestroyTensorDescriptor(desc_); }
  TensorDesc(const TensorDesc&) = delete;
  TensorDesc& operator=(const TensorDesc&) = delete;
  cudnnTensorDescriptor_t get() const { return desc_; }

 private:
  cudnnTensorDescriptor_t desc_ = nullptr;
};

class FilterDesc {
 public:
  explicit FilterDesc(const Dims4& d) {
    LENET_CUDNN(cudnnCreateFilterDescriptor, &desc_);
    try {
      LENET_CUDNN(cudnnSetFilter4dDescriptor, desc_, cudnnDataType_t::CUDNN_DATA_FLOAT,
                  cudnnTensorFormat_t::CUDNN_TENSOR_NCHW, d[0], d[1], d[2], d[3]);
    } catch (...) {
      cudnn().cudnnDestroyFilterDescriptor(desc_);
      throw;
    }
  }
  ~FilterDesc() { cudnn().cudnnDestroyFilterDescriptor(desc_); }
  FilterDesc(const FilterDesc&) = delete;
  FilterDesc& operator=(const FilterDesc&) = delete;
  cudnnFilterDescriptor_t get() const { return desc_; }

 private:
  cudnnFilterDescriptor_t desc_ = nullptr;
};

// Valid (no padding), stride 1, cross-correlation, float math.
class ConvDesc {
 public:
  explicit ConvDesc(cudnnMathType_t math) {
    LENET_CUDNN(cudnnCreateConvolutionDescriptor, &desc_);
    try {
      LENET_CUDNN(cudnnSetConvolution2dDescriptor, desc_, 0, 0, 1, 1, 1, 1,
                  cudnnConvolutionMode_t::CUDNN_CROSS_CORRELATION, cudnnDataType_t::CUDNN_DATA_FLOAT);
      set_math(math);
    } catch (...) {
      cudnn().cudnnDestroyConvolutionDescriptor(desc_);
      throw;
    }
  }
  ~ConvDesc() { cudnn().cudnnDestroyConvolutionDescriptor(desc_); }
  ConvDesc(const ConvDesc&) = delete;
  ConvDesc& operator=(const ConvDesc&) = delete;
  void set_math(cudnnMathType_t math) { LENET_CUDNN(cudnnSetConvolutionMathType, desc_, math); }
  cudnnConvolutionDescriptor_t get() const { return desc_; }

 private:
  cudnnConvolutionDescriptor_t desc_ = nullptr;
};

// One convolution shape: its descriptors, one per direction (each direction's algorithm may need
// its own math type), the chosen algorithms and their workspace sizes.
struct ConvPlan {
  ConvPlan(const Dims4& x, const Dims4& w, const Dims4& y, cudnnMathType_t math)
      : x_desc(x), y_desc(y), w_desc(w), fwd_conv(math), bwd_data_conv(math), bwd_filter_conv(math) {}
  TensorDesc x_desc, y_desc;
  FilterDesc w_desc;
  ConvDesc fwd_conv, bwd_data_conv, bwd_filter_conv;
  bool fwd_ready = false, bwd_data_ready = false, bwd_filter_ready = false;
  cudnnConvolutionFwdAlgo_t fwd_algo{};
  cudnnConvolutionBwdDataAlgo_t bwd_data_algo{};
  cudnnConvolutionBwdFilterAlgo_t bwd_filter_algo{};
  std::size_t fwd_ws = 0, bwd_data_ws = 0, bwd_filter_ws = 0;
};

// Picks the fastest usable algorithm from cudnnFind*'s timed results (sorted fastest first):
// status SUCCESS, within the workspace limit, deterministic when asked and, without TF32, timed
// with CUDNN_FMA_MATH (plain FP32; as PyTorch filters), so that the kernel that runs is the one
// that was timed. With TF32 the descriptor takes the math type the algorithm was timed with.
// Should a cuDNN report no FMA_MATH result at all, DEFAULT_MATH results are taken next, run under
// an FMA_MATH descriptor (still no TF32).
template <class Perf>
const Perf& choose(const std::vector<Perf>& results, int count, bool deterministic, bool tf32,
                   std::size_t limit, ConvDesc& conv, const char* what) {
  for (int pass = 0; pass < (tf32 ? 1 : 2); ++pass) {
    for (int i = 0; i < count; ++i) {
      const Perf& p = results[i];
      if (p.status != cudnnStatus_t::CUDNN_STATUS_SUCCESS) continue;
      if (p.memory > limit) continue;
      if (deterministic && p.determinism != cudnnDeterminism_t::CUDNN_DETERMINISTIC) continue;
      if (!tf32 && p.mathType != (pass == 0 ? cudnnMathType_t::CUDNN_FMA_MATH : cudnnMathType_t::CUDNN_DEFAULT_MATH)) continue;
      conv.set_math(tf32 ? p.mathType : cudnnMathType_t::CUDNN_FMA_MATH);
      return p;
    }
  }
  throw Error(std::string("cuDNN offers no usable ") + what + " algorithm for this shape" +
              (deterministic ? " in deterministic mode" : "") + (tf32 ? "" : " without TF32"));
}

// ---- owners of the other handles (each frees on every path, errors ignored: nothing to do) ----

struct StreamFree {
  void operator()(cudaStream_t s) const noexcept {
    if (const CudartApi* rt = cudart_if_loaded()) rt->cudaStreamDestroy(s);
  }
};
struct EventFree {
  void operator()(cudaEvent_t e) const noexcept {
    if (const CudartApi* rt = cudart_if_loaded()) rt->cudaEventDestroy(e);
  }
};
struct HostFree {
  void operator()(void* p) const noexcept {
    if (const CudartApi* rt = cudart_if_loaded()) rt->cudaFreeHost(p);
  }
};
struct CublasFree {
  void operator()(cublasHandle_t h) const noexcept {
    if (const CublasApi* bl = cublas_if_loaded()) bl->cublasDestroy_v2(h);
  }
};
struct CudnnFree {
  void operator()(cudnnHandle_t h) const noexcept {
    if (const CudnnApi* dnn = cudnn_if_loaded()) dnn->cudnnDestroy(h);
  }
};
struct ActivationFree {
  void operator()(cudnnActivationDescriptor_t d) const noexcept {
    if (const CudnnApi* dnn = cudnn_if_loaded()) dnn->cudnnDestroyActivationDescriptor(d);
  }
};
using UniqueStream = std::unique_ptr<::CUstream_st, StreamFree>;
using UniqueEvent = std::unique_ptr<::CUevent_st, EventFree>;
using UniqueHost = std::unique_ptr<void, HostFree>;
using UniqueCublas = std::unique_ptr<::cublasContext, CublasFree>;
using UniqueCudnn = std::unique_ptr<::cudnnContext, CudnnFree>;
using UniqueActivation = std::unique_ptr<::cudnnActivationStruct, ActivationFree>;

UniqueEvent make_event(unsigned flags) {
  cudaEvent_t e = nullptr;
  LENET_CUDART(cudaEventCreateWithFlags, &e, flags);
  return UniqueEvent(e);
}

// Makes `device` the calling thread's current device for the scope and restores the previous one
// after: for the threads that are not ours (JS, finalizers, waiters). Errors are ignored (a call
// that needs the device reports them). No cache: the runtime is asked every time.
class DeviceScope {
 public:
  explicit DeviceScope(int device) noexcept {
    const CudartApi* rt = cudart_if_loaded();
    int current = -1;
    if (rt && rt->cudaGetDevice(&current) == cudaError_t::cudaSuccess && current != device &&
        rt->cudaSetDevice(device) == cudaError_t::cudaSuccess) {
      previous_ = current;
    }
  }
  ~DeviceScope() {
    if (previous_ >= 0) cudart_if_loaded()->cudaSetDevice(previous_);
  }
  DeviceScope(const DeviceScope&) = delete;
  DeviceScope& operator=(const DeviceScope&) = delete;

 private:
  int previous_ = -1;
};

// The device's primary context (the one the runtime uses), retained for the device's lifetime.
class PrimaryContext {
 public:
  explicit PrimaryContext(int ordinal) {
    LENET_CU(cuInit, 0);
    LENET_CU(cuDeviceGet, &device_, ordinal);
    LENET_CU(cuDevicePrimaryCtxRetain, &ctx_, device_);
  }
  ~PrimaryContext() {
    if (ctx_) driver_if_loaded()->cuDevicePrimaryCtxRelease_v2(device_);
  }
  PrimaryContext(const PrimaryContext&) = delete;
  PrimaryContext& operator=(const PrimaryContext&) = delete;
  CUcontext get() const { return ctx_; }

 private:
  CUdevice device_ = 0;
  CUcontext ctx_ = nullptr;
};

// Makes a context current for the scope and restores the previous one (errors ignored).
class ContextScope {
 public:
  explicit ContextScope(CUcontext ctx) noexcept {
    const DriverApi* cu = driver_if_loaded();
    CUcontext current = nullptr;
    if (cu && cu->cuCtxGetCurrent(&current) == CUresult::CUDA_SUCCESS && current != ctx &&
        cu->cuCtxSetCurrent(ctx) == CUresult::CUDA_SUCCESS) {
      previous_ = current;
      changed_ = true;
    }
  }
  ~ContextScope() {
    if (changed_) driver_if_loaded()->cuCtxSetCurrent(previous_);
  }
  ContextScope(const ContextScope&) = delete;
  ContextScope& operator=(const ContextScope&) = delete;

 private:
  CUcontext previous_ = nullptr;
  bool changed_ = false;
};

// Our kernels: the PTX module, loaded into the primary context with the driver API (every CUDA
// 12 and 13 driver can; the runtime's cudaLibrary* API needs CUDA 12.8).
class KernelModule {
 public:
  explicit KernelModule(CUcontext ctx) : ctx_(ctx) {
    ContextScope scope(ctx_);
    LENET_CU(cuModuleLoadData, &module_, kKernelsPtx);
    try {
      fill = function("lenet_fill");
      nll_stats = function("lenet_nll_stats");
      nll_grad = function("lenet_nll_grad");
      labels = function("lenet_labels");
      maxpool = function("lenet_maxpool2x2");
      maxpool_backward = function("lenet_maxpool2x2_backward");
    } catch (...) {
      driver().cuModuleUnload(module_);
      throw;
    }
  }
  ~KernelModule() {
    ContextScope scope(ctx_);
    driver_if_loaded()->cuModuleUnload(module_);
  }
  KernelModule(const KernelModule&) = delete;
  KernelModule& operator=(const KernelModule&) = delete;

  CUfunction fill = nullptr, nll_stats = nullptr, nll_grad = nullptr, labels = nullptr, maxpool = nullptr,
             maxpool_backward = nullptr;

 private:
  CUfunction function(const char* name) {
    CUfunction f = nullptr;
    check_driver(driver().cuModuleGetFunction(&f, module_, name), name);
    return f;
  }
  CUcontext ctx_;
  CUmodule module_ = nullptr;
};

// Page-locked host buffers for transfers, each with an event recorded after the copy that uses
// it: a buffer is reused once its event has completed, so staging never waits for the GPU to go
// idle. Up to kCachedBytes are kept for reuse; beyond that an upload waits for its own earlier
// chunks, and larger one-off buffers (a big read) are freed when done.
class PinnedPool {
 public:
  struct Block {
    UniqueHost memory;
    std::size_t bytes = 0;
    UniqueEvent event;
    bool busy = false;     // handed out
    bool pending = false;  // its event was recorded and may not have completed
    void* data() const { return memory.get(); }
  };

  static constexpr std::size_t kCachedBytes = std::size_t(64) << 20;

  /// A buffer of at least `bytes`. `may_wait`: when the cache is full, wait for a pending buffer
  /// instead of allocating beyond it.
  Block* acquire(std::size_t bytes, bool may_wait) {
    std::unique_lock<std::mutex> lock(mu_);
    Block* best = nullptr;
    for (auto& b : blocks_) {
      if (b->busy || b->bytes < bytes) continue;
      if (b->pending) {
        if (cudart().cudaEventQuery(b->event.get()) != cudaError_t::cudaSuccess) continue;
        b->pending = false;
      }
      if (!best || b->bytes < best->bytes) best = b.get();
    }
    if (best) {
      best->busy = true;
      return best;
    }
    if (may_wait && cached_ + bytes > kCachedBytes) {
      for (auto& slot : blocks_) {
        Block* b = slot.get();  // the vector may change once unlocked; the block does not move
        if (!b->busy && b->pending && b->bytes >= bytes) {
          b->busy = true;
          lock.unlock();
          const cudaError_t st = cudart().cudaEventSynchronize(b->event.get());
          if (st != cudaError_t::cudaSuccess) {
            release_pending(b);
            check_cuda(st, "cudaEventSynchronize");
          }
          b->pending = false;
          return b;
        }
      }
    }
    lock.unlock();
    // Allocated outside the lock: pinning pages is slow, and waiters return buffers meanwhile.
    auto block = std::make_unique<Block>();
    block->bytes = std::max<std::size_t>(4096, round_up(bytes));
    void* p = nullptr;
    LENET_CUDART(cudaHostAlloc, &p, block->bytes, kCudaHostAllocPortable);
    block->memory.reset(p);
    block->event = make_event(kCudaEventBlockingSync | kCudaEventDisableTiming);
    block->busy = true;
    Block* out = block.get();
    lock.lock();
    cached_ += block->bytes;
    blocks_.push_back(std::move(block));
    return out;
  }

  /// Returns a buffer whose event was just recorded after its last use.
  void release_pending(Block* b) noexcept {
    std::lock_guard<std::mutex> lock(mu_);
    b->busy = false;
    b->pending = true;
  }

  /// Returns a buffer whose last use is known to be complete; oversized ones are freed.
  void release_done(Block* b) noexcept {
    std::unique_ptr<Block> drop;  // freed after unlocking: cudaFreeHost may wait for the device
    {
      std::lock_guard<std::mutex> lock(mu_);
      b->busy = false;
      b->pending = false;
      if (cached_ > kCachedBytes && b->bytes > kCachedBytes / 4) {
        cached_ -= b->bytes;
        auto it = std::find_if(blocks_.begin(), blocks_.end(), [&](auto& x) { return x.get() == b; });
        drop = std::move(*it);
        blocks_.erase(it);
      }
    }
  }

 private:
  static std::size_t round_up(std::size_t n) {
    std::size_t p = 1;
    while (p < n) p <<= 1;
    return p;
  }
  std::mutex mu_;
  std::vector<std::unique_ptr<Block>> blocks_;
  std::size_t cached_ = 0;
};

// What a kernel recorded about a bad label (see lenet_check_labels in kernels.cu).
constexpr std::size_t kStatusWords = 8;
constexpr std::size_t kStatusBytes = kStatusWords * sizeof(unsigned);

class CudaDevice final : public Device {
 public:
  explicit CudaDevice(const CudaOptions& options) : options_(options) {
    const CudartApi& rt = cudart();
    int count = 0;
    LENET_CUDART(cudaGetDeviceCount, &count);
    if (count == 0) throw Error("no CUDA device found");
    if (options.device < 0 || options.device >= count)
      throw Error("CUDA device " + std::to_string(options.device) + " does not exist (" + std::to_string(count) + " found)");
    DeviceScope scope(options_.device);
    // cuBLAS and cuDNN load after the device check, so a machine without a driver reports that.
    const CudnnApi& dnn = cudnn();
    const CublasApi& bl = cublas();
    ctx_ = std::make_unique<PrimaryContext>(options_.device);
    cudaStream_t stream = nullptr;
    LENET_CUDART(cudaStreamCreateWithFlags, &stream, kCudaStreamNonBlocking);
    stream_.reset(stream);
    int pools = 0;
    LENET_CUDART(cudaDeviceGetAttribute, &pools, cudaDeviceAttr::cudaDevAttrMemoryPoolsSupported, options_.device);
    pools_ = pools != 0;
    if (pools_) {
      // Keep freed memory in the pool across synchronizations instead of returning it to the
      // driver (the default threshold, 0, would make every sync release and every step re-map).
      // The default pool is the process's: other cudaMallocAsync users in it keep theirs too.
      cudaMemPool_t pool = nullptr;
      LENET_CUDART(cudaDeviceGetDefaultMemPool, &pool, options_.device);
      std::uint64_t keep = UINT64_MAX;
      LENET_CUDART(cudaMemPoolSetAttribute, pool, cudaMemPoolAttr::cudaMemPoolAttrReleaseThreshold, &keep);
    }
    cublasHandle_t blas = nullptr;
    LENET_CUBLAS(cublasCreate_v2, &blas);
    blas_.reset(blas);
    LENET_CUBLAS(cublasSetStream_v2, blas_.get(), stream_.get());
    LENET_CUBLAS(cublasSetPointerMode_v2, blas_.get(), cublasPointerMode_t::CUBLAS_POINTER_MODE_HOST);
    LENET_CUBLAS(cublasSetMathMode, blas_.get(), options.tf32 ? cublasMath_t::CUBLAS_TF32_TENSOR_OP_MATH : cublasMath_t::CUBLAS_PEDANTIC_MATH);
    cudnnHandle_t handle = nullptr;
    LENET_CUDNN(cudnnCreate, &handle);
    dnn_.reset(handle);
    LENET_CUDNN(cudnnSetStream, dnn_.get(), stream_.get());
    kernels_ = std::make_unique<KernelModule>(ctx_->get());
    cudnnActivationDescriptor_t act = nullptr;
    LENET_CUDNN(cudnnCreateActivationDescriptor, &act);
    tanh_.reset(act);
    LENET_CUDNN(cudnnSetActivationDescriptor, tanh_.get(), cudnnActivationMode_t::CUDNN_ACTIVATION_TANH,
                cudnnNanPropagation_t::CUDNN_PROPAGATE_NAN, 0.0);
    status_ = DeviceMemory(this, kStatusBytes);
    LENET_CUDART(cudaMemsetAsync, status_.get(), 0, kStatusBytes, stream_.get());

    char props[kDevicePropBufferBytes] = {};
    LENET_CUDART(cudaGetDeviceProperties_v2, props, options.device);
    int major = 0, minor = 0, sms = 0;
    LENET_CUDART(cudaDeviceGetAttribute, &major, cudaDeviceAttr::cudaDevAttrComputeCapabilityMajor, options.device);
    LENET_CUDART(cudaDeviceGetAttribute, &minor, cudaDeviceAttr::cudaDevAttrComputeCapabilityMinor, options.device);
    LENET_CUDART(cudaDeviceGetAttribute, &sms, cudaDeviceAttr::cudaDevAttrMultiProcessorCount, options.device);
    std::size_t free_b = 0, total_b = 0;
    LENET_CUDART(cudaMemGetInfo, &free_b, &total_b);
    std::ostringstream d;
    d.precision(1);
    d << std::fixed << std::string(props, strnlen(props, kDevicePropNameBytes)) << " (sm_" << major << minor << ", "
      << sms << " SMs, " << total_b / 1073741824.0 << " GiB), driver " << version_text(rt.driver_version)
      << ", CUDA runtime " << version_text(rt.runtime_version) << ", cuBLAS " << bl.major << "." << bl.minor << "."
      << bl.patch << ", cuDNN " << cudnn_version_text(dnn) << (pools_ ? "" : ", no memory pools (cudaMalloc)")
      << (options.deterministic ? ", deterministic" : "") << (options.tf32 ? ", TF32 on" : ", TF32 off");
    description_ = d.str();
  }

  ~CudaDevice() override {
    // Never throw from here, and never reset the device: the process belongs to the user.
    DeviceScope scope(options_.device);
    if (stream_) cudart_if_loaded()->cudaStreamSynchronize(stream_.get());
    plans_.clear();
    descs_.clear();
    workspace_ = DeviceMemory();
    status_ = DeviceMemory();
    if (stream_) cudart_if_loaded()->cudaStreamSynchronize(stream_.get());
    deferred_.free_completed(true);
    // The handles go while this device is current, in reverse order of creation; the context is
    // released last (with the other members).
    tanh_.reset();
    kernels_.reset();
    dnn_.reset();
    blas_.reset();
    stream_.reset();
  }

  const char* kind() const override { return "cuda"; }
  std::string describe() const override { return description_; }

  std::shared_ptr<Storage> allocate(size_t numel) override {
    if (numel > (SIZE_MAX / sizeof(float)))
      throw OutOfMemory("cannot allocate " + std::to_string(numel) + " floats: the byte count overflows");
    DeviceScope scope(options_.device);
    const size_t bytes = std::max<size_t>(numel, 1) * sizeof(float);
    void* p = allocate_bytes(bytes);
    // Zero on the stream: ordered before every op that can use the buffer.
    const cudaError_t st = cudart().cudaMemsetAsync(p, 0, bytes, stream_.get());
    if (st != cudaError_t::cudaSuccess) {
      free_bytes(p);
      check_cuda(st, "cudaMemsetAsync");
    }
    counters.on_alloc(bytes);
    return std::make_shared<Storage>(shared_from_this(), static_cast<float*>(p), numel);
  }

  void release(float* data, size_t numel) override {
    DeviceScope scope(options_.device);
    free_bytes(data);
    counters.on_free(std::max<size_t>(numel, 1) * sizeof(float));
  }

  // ---- transfers ----

  void upload(const TensorRef& dst, const float* src) override {
    bind();
    const char* from = reinterpret_cast<const char*>(src);
    char* to = reinterpret_cast<char*>(dst.data());
    const std::size_t total = dst.numel() * sizeof(float);
    for (std::size_t at = 0; at < total; at += kUploadChunk) {
      const std::size_t n = std::min(kUploadChunk, total - at);
      PinnedPool::Block* b = pinned_.acquire(n, true);
      std::memcpy(b->data(), from + at, n);
      const cudaError_t copy = cudart().cudaMemcpyAsync(to + at, b->data(), n, cudaMemcpyKind::cudaMemcpyHostToDevice, stream_.get());
      const cudaError_t record = copy == cudaError_t::cudaSuccess ? cudart().cudaEventRecord(b->event.get(), stream_.get()) : copy;
      if (record == cudaError_t::cudaSuccess) {
        pinned_.release_pending(b);
      } else if (copy != cudaError_t::cudaSuccess) {
        pinned_.release_done(b);  // nothing was queued from it
      }  // else: a copy is queued but not fenced; the buffer is left busy rather than reused early
      check_cuda(copy, "cudaMemcpyAsync");
      check_cuda(record, "cudaEventRecord");
    }
  }

  std::function<void()> download(const TensorRef& src, float* dst) override {
    bind();
    const std::size_t bytes = src.numel() * sizeof(float);
    const std::size_t status_at = (bytes + 63) / 64 * 64;
    auto lease = stage_status(status_at + kStatusBytes, [&](void* host) {
      if (bytes) LENET_CUDART(cudaMemcpyAsync, host, src.data(), bytes, cudaMemcpyKind::cudaMemcpyDeviceToHost, stream_.get());
    });
    return [lease, dst, bytes, status_at] { lease->wait(dst, bytes, status_at); };
  }

  std::function<void()> fence() override {
    bind();
    auto lease = stage_status(kStatusBytes, [](void*) {});
    return [lease] { lease->wait(nullptr, 0, 0); };
  }

  void fill(const TensorRef& dst, float value) override {
    bind();
    if (dst.numel() == 0) return;
    if (value == 0.0f && !std::signbit(value)) {
      zero(dst);
      return;
    }
    float* x = dst.data();
    unsigned long long n = dst.numel();
    void* args[] = {&x, &value, &n};
    launch(kernels_->fill, grid_for(n, 256), 256, args, "lenet_fill");
  }

  void copy(const TensorRef& src, const TensorRef& dst) override {
    bind();
    if (src.numel() == 0) return;
    LENET_CUDART(cudaMemcpyAsync, dst.data(), src.data(), src.numel() * sizeof(float), cudaMemcpyKind::cudaMemcpyDeviceToDevice, stream_.get());
  }

  // ---- convolution (an empty sum is zero: outputs of empty inputs are zeroed, never passed to
  // cuDNN, whose descriptors reject zero dimensions) ----

  void conv2d_forward(const TensorRef& x, const TensorRef& w, const TensorRef& y) override {
    bind();
    if (y.numel() == 0) return;
    if (x.numel() == 0 || w.numel() == 0) return zero(y);
    ConvPlan& p = plan(x, w, y);
    if (!p.fwd_ready) {
      int max_count = 0;
      LENET_CUDNN(cudnnGetConvolutionForwardAlgorithmMaxCount, dnn_.get(), &max_count);
      std::vector<cudnnConvolutionFwdAlgoPerf_t> perf(std::max(max_count, 1));
      int found = 0;
      LENET_CUDNN(cudnnFindConvolutionForwardAlgorithm, dnn_.get(), p.x_desc.get(), p.w_desc.get(), p.fwd_conv.get(), p.y_desc.get(),
                  static_cast<int>(perf.size()), &found, perf.data());
      const auto& best = choose(perf, found, options_.deterministic, options_.tf32, kWorkspaceLimit, p.fwd_conv, "forward convolution");
      p.fwd_algo = best.algo;
      LENET_CUDNN(cudnnGetConvolutionForwardWorkspaceSize, dnn_.get(), p.x_desc.get(), p.w_desc.get(), p.fwd_conv.get(), p.y_desc.get(), p.fwd_algo, &p.fwd_ws);
      p.fwd_ready = true;
    }
    void* ws = workspace(p.fwd_ws);
    LENET_CUDNN(cudnnConvolutionForward, dnn_.get(), &kOne, p.x_desc.get(), x.data(), p.w_desc.get(), w.data(), p.fwd_conv.get(),
                p.fwd_algo, ws, p.fwd_ws, &kZero, p.y_desc.get(), y.data());
  }

  void conv2d_backward_data(const TensorRef& dy, const TensorRef& w, const TensorRef& dx) override {
    bind();
    if (dx.numel() == 0) return;
    if (dy.numel() == 0 || w.numel() == 0) return zero(dx);
    ConvPlan& p = plan(dx, w, dy);
    if (!p.bwd_data_ready) {
      int max_count = 0;
      LENET_CUDNN(cudnnGetConvolutionBackwardDataAlgorithmMaxCount, dnn_.get(), &max_count);
      std::vector<cudnnConvolutionBwdDataAlgoPerf_t> perf(std::max(max_count, 1));
      int found = 0;
      LENET_CUDNN(cudnnFindConvolutionBackwardDataAlgorithm, dnn_.get(), p.w_desc.get(), p.y_desc.get(), p.bwd_data_conv.get(), p.x_desc.get(),
                  static_cast<int>(perf.size()), &found, perf.data());
      const auto& best = choose(perf, found, options_.deterministic, options_.tf32, kWorkspaceLimit, p.bwd_data_conv, "backward-data convolution");
      p.bwd_data_algo = best.algo;
      LENET_CUDNN(cudnnGetConvolutionBackwardDataWorkspaceSize, dnn_.get(), p.w_desc.get(), p.y_desc.get(), p.bwd_data_conv.get(), p.x_desc.get(), p.bwd_data_algo, &p.bwd_data_ws);
      p.bwd_data_ready = true;
    }
    void* ws = workspace(p.bwd_data_ws);
    LENET_CUDNN(cudnnConvolutionBackwardData, dnn_.get(), &kOne, p.w_desc.get(), w.data(), p.y_desc.get(), dy.data(), p.bwd_data_conv.get(),
                p.bwd_data_algo, ws, p.bwd_data_ws, &kZero, p.x_desc.get(), dx.data());
  }

  void conv2d_backward_filter(const TensorRef& x, const TensorRef& dy, const TensorRef& dw) override {
    bind();
    if (dw.numel() == 0) return;
    if (x.numel() == 0 || dy.numel() == 0) return zero(dw);
    ConvPlan& p = plan(x, dw, dy);
    if (!p.bwd_filter_ready) {
      int max_count = 0;
      LENET_CUDNN(cudnnGetConvolutionBackwardFilterAlgorithmMaxCount, dnn_.get(), &max_count);
      std::vector<cudnnConvolutionBwdFilterAlgoPerf_t> perf(std::max(max_count, 1));
      int found = 0;
      LENET_CUDNN(cudnnFindConvolutionBackwardFilterAlgorithm, dnn_.get(), p.x_desc.get(), p.y_desc.get(), p.bwd_filter_conv.get(), p.w_desc.get(),
                  static_cast<int>(perf.size()), &found, perf.data());
      const auto& best = choose(perf, found, options_.deterministic, options_.tf32, kWorkspaceLimit, p.bwd_filter_conv, "backward-filter convolution");
      p.bwd_filter_algo = best.algo;
      LENET_CUDNN(cudnnGetConvolutionBackwardFilterWorkspaceSize, dnn_.get(), p.x_desc.get(), p.y_desc.get(), p.bwd_filter_conv.get(), p.w_desc.get(), p.bwd_filter_algo, &p.bwd_filter_ws);
      p.bwd_filter_ready = true;
    }
    void* ws = workspace(p.bwd_filter_ws);
    LENET_CUDNN(cudnnConvolutionBackwardFilter, dnn_.get(), &kOne, p.x_desc.get(), x.data(), p.y_desc.get(), dy.data(), p.bwd_filter_conv.get(),
                p.bwd_filter_algo, ws, p.bwd_filter_ws, &kZero, p.w_desc.get(), dw.data());
  }

  // ---- pooling ----

  void maxpool2x2_forward(const TensorRef& x, const TensorRef& y) override {
    bind();
    if (y.numel() == 0) return;
    const float* xp = x.data();
    float* yp = y.data();
    long long planes = x.dim(0) * x.dim(1);
    int h = checked_int(x.dim(2), "maxPool2x2: x"), w = checked_int(x.dim(3), "maxPool2x2: x");
    void* args[] = {&xp, &yp, &planes, &h, &w};
    launch(kernels_->maxpool, grid_for(y.numel(), 256), 256, args, "lenet_maxpool2x2");
  }

  void maxpool2x2_backward(const TensorRef& x, const TensorRef& y, const TensorRef& dy, const TensorRef& dx) override {
    bind();
    if (dx.numel() == 0) return;
    zero(dx);  // the kernel writes one element per window; the rest (and dropped borders) stay 0
    if (y.numel() == 0) return;
    const float* xp = x.data();
    const float* yp = y.data();
    const float* gp = dy.data();
    float* dxp = dx.data();
    long long planes = x.dim(0) * x.dim(1);
    int h = checked_int(x.dim(2), "maxPool2x2Backward: x"), w = checked_int(x.dim(3), "maxPool2x2Backward: x");
    void* args[] = {&xp, &yp, &gp, &dxp, &planes, &h, &w};
    launch(kernels_->maxpool_backward, grid_for(y.numel(), 256), 256, args, "lenet_maxpool2x2_backward");
  }

  // ---- bias and tanh ----

  void bias_add(const TensorRef& x, const TensorRef& b, const TensorRef& y) override {
    bind();
    if (y.numel() == 0) return;
    if (y.data() != x.data()) copy(x, y);
    LENET_CUDNN(cudnnAddTensor, dnn_.get(), &kOne, bias_desc(b).get(), b.data(), &kOne, desc(y).get(), y.data());
  }

  void bias_tanh_forward(const TensorRef& x, const TensorRef& b, const TensorRef& y) override {
    bias_add(x, b, y);
    tanh_forward(y, y);
  }

  void bias_grad(const TensorRef& dy, const TensorRef& db) override {
    bind();
    if (db.numel() == 0) return;
    if (dy.numel() == 0) return zero(db);
    LENET_CUDNN(cudnnConvolutionBackwardBias, dnn_.get(), &kOne, desc(dy).get(), dy.data(), &kZero, bias_desc(db).get(), db.data());
  }

  void tanh_forward(const TensorRef& x, const TensorRef& y) override {
    bind();
    if (x.numel() == 0) return;
    const TensorDesc& d = flat_desc(x.numel());
    LENET_CUDNN(cudnnActivationForward, dnn_.get(), tanh_.get(), &kOne, d.get(), x.data(), &kZero, d.get(), y.data());
  }

  void tanh_backward(const TensorRef& y, const TensorRef& dy, const TensorRef& dx) override {
    bind();
    if (y.numel() == 0) return;
    const TensorDesc& d = flat_desc(y.numel());
    // tanh's gradient needs only y; cuDNN still asks for x, which it does not read for TANH.
    LENET_CUDNN(cudnnActivationBackward, dnn_.get(), tanh_.get(), &kOne, d.get(), y.data(), d.get(), dy.data(), d.get(), y.data(), &kZero,
                d.get(), dx.data());
  }

  // ---- dense algebra ----

  void gemm(bool ta, bool tb, float alpha, const TensorRef& a, const TensorRef& b, float beta, const TensorRef& c) override {
    bind();
    // Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T: swap the operands.
    const int m = checked_int(c.dim(0), "gemm: c"), n = checked_int(c.dim(1), "gemm: c");
    const int k = checked_int(ta ? a.dim(0) : a.dim(1), "gemm: a");
    if (m == 0 || n == 0) return;
    if (k == 0) {  // C = beta * C; cuBLAS would reject the leading dimensions of empty operands
      if (beta == 0.0f) return zero(c);
      if (beta != 1.0f) LENET_CUBLAS(cublasSscal_v2, blas_.get(), checked_int(c.numel(), "gemm: c"), &beta, c.data(), 1);
      return;
    }
    // cuBLAS checks ld >= max(1, rows of the stored matrix) even where a dimension is 0.
    const int lda = std::max(1, checked_int(a.dim(1), "gemm: a")), ldb = std::max(1, checked_int(b.dim(1), "gemm: b"));
    LENET_CUBLAS(cublasSgemm_v2, blas_.get(), tb ? cublasOperation_t::CUBLAS_OP_T : cublasOperation_t::CUBLAS_OP_N,
                 ta ? cublasOperation_t::CUBLAS_OP_T : cublasOperation_t::CUBLAS_OP_N, n, m, k, &alpha, b.data(), ldb, a.data(),
                 lda, &beta, c.data(), n);
  }

  void axpy(float alpha, const TensorRef& x, const TensorRef& y) override {
    bind();
    if (x.numel() == 0) return;
    LENET_CUBLAS(cublasSaxpy_v2, blas_.get(), checked_int(x.numel(), "axpy: x"), &alpha, x.data(), 1, y.data(), 1);
  }

  void scale(float alpha, const TensorRef& x) override {
    bind();
    if (x.numel() == 0) return;
    LENET_CUBLAS(cublasSscal_v2, blas_.get(), checked_int(x.numel(), "scale: x"), &alpha, x.data(), 1);
  }

  // ---- softmax and NLL ----

  void softmax_nll(const TensorRef& logits, const TensorRef* labels, const TensorRef& probs, const TensorRef* stats) override {
    bind();
    int n = checked_int(logits.dim(0), "softmaxNll: logits"), k = checked_int(logits.dim(1), "softmaxNll: logits");
    if (n == 0) return;
    if (k == 0) {  // before any kernel reads a row: there is none
      if (labels) throw Error("logits have no classes");
      return;
    }
    if (stats && labels) {
      // Before the softmax: probs may be the logits' own buffer.
      const float* z = logits.data();
      const float* y = labels->data();
      float* s = stats->data();
      unsigned* status = static_cast<unsigned*>(status_.get());
      void* args[] = {&z, &y, &n, &k, &s, &status};
      launch(kernels_->nll_stats, 1, 256, args, "lenet_nll_stats");
    } else if (labels) {
      check_labels(*labels, n, k, 0);
    }
    const TensorDesc& d = desc(Dims4{n, k, 1, 1});
    LENET_CUDNN(cudnnSoftmaxForward, dnn_.get(), cudnnSoftmaxAlgorithm_t::CUDNN_SOFTMAX_ACCURATE, cudnnSoftmaxMode_t::CUDNN_SOFTMAX_MODE_INSTANCE,
                &kOne, d.get(), logits.data(), &kZero, d.get(), probs.data());
  }

  void softmax_nll_backward(const TensorRef& probs, const TensorRef& labels, const TensorRef& dlogits) override {
    bind();
    int n = checked_int(probs.dim(0), "softmaxNllBackward: probs"), k = checked_int(probs.dim(1), "softmaxNllBackward: probs");
    if (n == 0) return;
    if (k == 0) throw Error("probs have no classes");
    const float* p = probs.data();
    const float* y = labels.data();
    float* g = dlogits.data();
    unsigned* status = static_cast<unsigned*>(status_.get());
    void* args[] = {&p, &y, &n, &k, &g, &status};
    launch(kernels_->nll_grad, grid_for(static_cast<unsigned long long>(n) * k, 256), 256, args, "lenet_nll_grad");
  }

 private:
  // Workspace requests above this are skipped when choosing algorithms.
  static constexpr std::size_t kWorkspaceLimit = std::size_t(1) << 30;
  // Uploads are staged through pinned buffers of this size.
  static constexpr std::size_t kUploadChunk = std::size_t(4) << 20;

  // Device memory owned through the device's allocator (stream-ordered where pools exist).
  class DeviceMemory {
   public:
    DeviceMemory() = default;
    DeviceMemory(CudaDevice* owner, std::size_t bytes) : owner_(owner), p_(owner->allocate_bytes(bytes)) {}
    DeviceMemory(DeviceMemory&& o) noexcept : owner_(o.owner_), p_(o.p_) { o.p_ = nullptr; }
    DeviceMemory& operator=(DeviceMemory&& o) noexcept {
      if (this != &o) {
        reset();
        owner_ = o.owner_;
        p_ = o.p_;
        o.p_ = nullptr;
      }
      return *this;
    }
    ~DeviceMemory() { reset(); }
    void* get() const { return p_; }

   private:
    void reset() noexcept {
      if (p_) owner_->free_bytes(p_);
      p_ = nullptr;
    }
    CudaDevice* owner_ = nullptr;
    void* p_ = nullptr;
  };

  // Where memory pools are unsupported: cudaFree (which may synchronize) only once an event
  // recorded at the free request has completed, checked at the next allocation.
  class DeferredFrees {
   public:
    void push(void* p, cudaStream_t stream) noexcept {
      const CudartApi* rt = cudart_if_loaded();
      cudaEvent_t e = nullptr;
      if (rt->cudaEventCreateWithFlags(&e, kCudaEventDisableTiming) != cudaError_t::cudaSuccess ||
          rt->cudaEventRecord(e, stream) != cudaError_t::cudaSuccess) {
        if (e) rt->cudaEventDestroy(e);
        rt->cudaStreamSynchronize(stream);
        rt->cudaFree(p);
        return;
      }
      std::lock_guard<std::mutex> lock(mu_);
      pending_.emplace_back(p, UniqueEvent(e));
    }
    void free_completed(bool wait) noexcept {
      const CudartApi* rt = cudart_if_loaded();
      if (!rt) return;
      std::lock_guard<std::mutex> lock(mu_);
      for (auto it = pending_.begin(); it != pending_.end();) {
        if (wait) rt->cudaEventSynchronize(it->second.get());
        if (rt->cudaEventQuery(it->second.get()) == cudaError_t::cudaSuccess) {
          rt->cudaFree(it->first);
          it = pending_.erase(it);
        } else {
          ++it;
        }
      }
    }
    ~DeferredFrees() { free_completed(true); }

   private:
    std::mutex mu_;
    std::vector<std::pair<void*, UniqueEvent>> pending_;
  };

  // A pinned buffer holding a copy of the status word (after an optional data copy), with its
  // event recorded; wait() blocks on the event, copies the data out and reports a bad label.
  class StatusLease {
   public:
    StatusLease(std::shared_ptr<CudaDevice> device, PinnedPool::Block* block) : device_(std::move(device)), block_(block) {}
    ~StatusLease() {
      if (block_) device_->pinned_.release_pending(block_);
    }
    StatusLease(const StatusLease&) = delete;
    StatusLease& operator=(const StatusLease&) = delete;

    void wait(float* dst, std::size_t bytes, std::size_t status_at) {
      DeviceScope scope(device_->options_.device);  // a waiter's thread may have another current
      PinnedPool::Block* b = block_;
      block_ = nullptr;
      const cudaError_t st = cudart().cudaEventSynchronize(b->event.get());
      if (st != cudaError_t::cudaSuccess) {
        device_->pinned_.release_pending(b);
        check_cuda(st, "cudaEventSynchronize");
      }
      unsigned status[kStatusWords];
      std::memcpy(status, static_cast<const char*>(b->data()) + status_at, kStatusBytes);
      if (bytes) std::memcpy(dst, b->data(), bytes);
      device_->pinned_.release_done(b);
      if (status[0]) throw Error(label_message(status));
    }

   private:
    static std::string label_message(const unsigned* s) {
      float label;
      std::memcpy(&label, &s[3], sizeof label);
      // The CPU's words (bad_label_message), after the op's name as the executor adds it.
      return std::string(s[1] == 0 ? "softmaxNll" : "softmaxNllBackward") + ": " +
             bad_label_message(label, static_cast<int64_t>(s[2]), static_cast<int64_t>(s[4]));
    }
    std::shared_ptr<CudaDevice> device_;
    PinnedPool::Block* block_;
  };

  // Copies the status word (after what `copy_data` queues into the buffer) to a pinned buffer,
  // clears it, and records the buffer's event: the one place a wait learns what kernels found.
  template <class CopyData>
  std::shared_ptr<StatusLease> stage_status(std::size_t bytes, CopyData copy_data) {
    PinnedPool::Block* b = pinned_.acquire(bytes, false);
    // On an error below, copies may be queued into the buffer with no event after them: it stays
    // busy (never handed out again) rather than be reused too early.
    copy_data(b->data());
    LENET_CUDART(cudaMemcpyAsync, static_cast<char*>(b->data()) + (bytes - kStatusBytes), status_.get(), kStatusBytes,
                 cudaMemcpyKind::cudaMemcpyDeviceToHost, stream_.get());
    LENET_CUDART(cudaMemsetAsync, status_.get(), 0, kStatusBytes, stream_.get());
    LENET_CUDART(cudaEventRecord, b->event.get(), stream_.get());
    return std::make_shared<StatusLease>(std::static_pointer_cast<CudaDevice>(shared_from_this()), b);
  }

  // The executor thread's current device must be ours; asks the runtime (no cache that a free
  // or a waiter on this thread could make stale).
  void bind() {
    int current = -1;
    LENET_CUDART(cudaGetDevice, &current);
    if (current != options_.device) LENET_CUDART(cudaSetDevice, options_.device);
  }

  void* allocate_bytes(std::size_t bytes) {
    void* p = nullptr;
    if (pools_) {
      LENET_CUDART(cudaMallocAsync, &p, bytes, stream_.get());
    } else {
      deferred_.free_completed(false);
      LENET_CUDART(cudaMalloc, &p, bytes);
    }
    return p;
  }

  // Stream-ordered: the memory returns to the pool once the work issued so far has run. Every op
  // using a buffer holds it until issued, so that work is always ahead of the free.
  void free_bytes(void* p) noexcept {
    const CudartApi* rt = cudart_if_loaded();
    if (!rt || !p) return;
    if (pools_) {
      rt->cudaFreeAsync(p, stream_.get());
    } else {
      deferred_.push(p, stream_.get());
    }
  }

  void zero(const TensorRef& t) {
    LENET_CUDART(cudaMemsetAsync, t.data(), 0, t.numel() * sizeof(float), stream_.get());
  }

  // softmaxNll's label check when it computes no stats (the stats kernel checks them itself).
  void check_labels(const TensorRef& labels, int n, int k, unsigned op) {
    const float* y = labels.data();
    unsigned* status = static_cast<unsigned*>(status_.get());
    void* args[] = {&y, &n, &k, &status, &op};
    launch(kernels_->labels, 1, 256, args, "lenet_labels");
  }

  static unsigned grid_for(unsigned long long n, unsigned block) {
    return static_cast<unsigned>(std::min<unsigned long long>((n + block - 1) / block, 65535ull));
  }

  void launch(CUfunction f, unsigned grid, unsigned block, void** args, const char* name) {
    if (grid == 0) return;
    const DriverApi& cu = driver();
    CUcontext current = nullptr;
    LENET_CU(cuCtxGetCurrent, &current);
    if (current != ctx_->get()) LENET_CU(cuCtxSetCurrent, ctx_->get());
    check_driver(cu.cuLaunchKernel(f, grid, 1, 1, block, 1, 1, 0, stream_.get(), args, nullptr), name);
  }

  void* workspace(std::size_t bytes) {
    if (bytes <= workspace_bytes_) return workspace_.get();
    // Grow once to the largest need; freeing the old one is stream-ordered after its users.
    workspace_ = DeviceMemory();
    workspace_bytes_ = 0;
    workspace_ = DeviceMemory(this, bytes);
    workspace_bytes_ = bytes;
    return workspace_.get();
  }

  static Dims4 dims4(const Shape& s) {
    Dims4 d{1, 1, 1, 1};
    if (s.size() == 4) {
      for (int i = 0; i < 4; ++i) d[i] = checked_int(static_cast<size_t>(s[i]), "tensor dimension");
    } else if (!s.empty()) {
      // [N, C, rest...] as [N, C, prod(rest), 1]: what bias and pooling need.
      d[0] = checked_int(static_cast<size_t>(s[0]), "tensor dimension");
      if (s.size() > 1) d[1] = checked_int(static_cast<size_t>(s[1]), "tensor dimension");
      size_t rest = 1;
      for (size_t i = 2; i < s.size(); ++i) rest *= static_cast<size_t>(s[i]);
      d[2] = checked_int(rest, "tensor");
    }
    return d;
  }

  const TensorDesc& desc(const Dims4& d) {
    auto it = descs_.find(d);
    if (it == descs_.end()) it = descs_.emplace(d, std::make_unique<TensorDesc>(d)).first;
    return *it->second;
  }
  const TensorDesc& desc(const TensorRef& t) { return desc(dims4(t.shape)); }
  const TensorDesc& bias_desc(const TensorRef& b) { return desc(Dims4{1, checked_int(b.numel(), "bias"), 1, 1}); }
  // Elementwise ops see any tensor as [1, n, 1, 1].
  const TensorDesc& flat_desc(size_t n) { return desc(Dims4{1, checked_int(n, "tensor"), 1, 1}); }

  ConvPlan& plan(const TensorRef& x, const TensorRef& w, const TensorRef& y) {
    const Dims4 xd = dims4(x.shape), wd = dims4(w.shape), yd = dims4(y.shape);
    const auto key = std::make_tuple(xd, wd);
    auto it = plans_.find(key);
    if (it == plans_.end()) {
      const cudnnMathType_t math = options_.tf32 ? cudnnMathType_t::CUDNN_DEFAULT_MATH : cudnnMathType_t::CUDNN_FMA_MATH;
      it = plans_.emplace(key, std::make_unique<ConvPlan>(xd, wd, yd, math)).first;
    }
    return *it->second;
  }

  // Declaration order is construction order; members are destroyed in reverse.
  CudaOptions options_;
  std::string description_;
  bool pools_ = false;
  std::unique_ptr<PrimaryContext> ctx_;
  UniqueStream stream_;
  UniqueCublas blas_;
  UniqueCudnn dnn_;
  std::unique_ptr<KernelModule> kernels_;
  UniqueActivation tanh_;
  PinnedPool pinned_;
  DeferredFrees deferred_;
  DeviceMemory status_;
  DeviceMemory workspace_;
  std::size_t workspace_bytes_ = 0;
  std::map<std::tuple<Dims4, Dims4>, std::unique_ptr<ConvPlan>> plans_;
  std::map<Dims4, std::unique_ptr<TensorDesc>> descs_;
};

}  // namespace

CudaProbe probe_cuda(int device) noexcept {
  CudaProbe out;
  try {
    const LoadReport report = probe();
    for (const LibraryReport* lib : {&report.cudart, &report.driver, &report.cudnn, &report.cublas, &report.nvrtc}) {
      for (const std::string& t : lib->tried) out.tried.push_back(lib->library + ": " + t);
      for (const std::string& n : lib->notes) out.tried.push_back(lib->library + ": note: " + n);
    }
    if (report.driver_version > 0) out.versions.emplace_back("driver", version_text(report.driver_version));
    if (report.cudart.ok) out.versions.emplace_back("runtime", report.cudart.version);
    if (report.cublas.ok) out.versions.emplace_back("cublas", report.cublas.version);
    if (report.cudnn.ok) out.versions.emplace_back("cudnn", report.cudnn.version);
    if (report.nvrtc.ok) out.versions.emplace_back("nvrtc", report.nvrtc.version);
    if (!report.cudart.ok) {
      out.reason = report.cudart.error;
      return out;
    }
    // The driver and the device come first: without them nothing else matters.
    const CudartApi& rt = cudart();
    int count = 0;
    const cudaError_t st = rt.cudaGetDeviceCount(&count);
    if (st != cudaError_t::cudaSuccess) {
      out.reason = std::string("cudaGetDeviceCount failed: ") + rt.cudaGetErrorName(st) + " (" + std::to_string(static_cast<int>(st)) +
                   "): " + rt.cudaGetErrorString(st) +
                   (st == cudaError_t::cudaErrorInsufficientDriver ? " (no NVIDIA driver is installed, or it is older than CUDA runtime " +
                                                                         version_text(rt.runtime_version) + ")"
                                                                   : "");
      return out;
    }
    out.device_count = count;
    if (count == 0) {
      out.reason = "no CUDA device found";
      return out;
    }
    if (device < 0 || device >= count) {
      out.reason = "CUDA device " + std::to_string(device) + " does not exist (" + std::to_string(count) + " found)";
      return out;
    }
    if (!report.driver.ok) {  // our kernels load through it
      out.reason = report.driver.error;
      return out;
    }
    if (!report.cublas.ok) {
      out.reason = report.cublas.error;
      return out;
    }
    if (!report.cudnn.ok) {
      out.reason = report.cudnn.error;
      return out;
    }
    char props[kDevicePropBufferBytes] = {};
    if (rt.cudaGetDeviceProperties_v2(props, device) == cudaError_t::cudaSuccess) {
      out.device = std::string(props, strnlen(props, kDevicePropNameBytes));
    }
    out.ok = true;
  } catch (const std::exception& e) {
    out.ok = false;
    out.reason = e.what();
  } catch (...) {
    out.ok = false;
    out.reason = "unknown error while probing CUDA";
  }
  return out;
}

std::shared_ptr<Device> make_cuda_device(const CudaOptions& options) { return std::make_shared<CudaDevice>(options); }

}  // namespace lenet::cuda
