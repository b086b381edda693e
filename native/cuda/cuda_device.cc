// The CUDA backend (see cuda_device.h).
//
// All work goes to one non-blocking stream, issued by the backend's executor thread; nothing in
// an op waits for the GPU except download() and synchronize(). cuDNN and cuBLAS are bound to that
// stream. Descriptors and algorithm choices are made once per shape and cached (a ConvPlan per
// convolution shape, a TensorDesc per 4-d shape), and a single workspace buffer grows to the
// largest need, as in cuDNN's own samples.
#include "cuda_device.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <functional>
#include <map>
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
// status SUCCESS, within the workspace limit, deterministic when asked, and no tensor-op math
// unless TF32 is allowed. With TF32 the descriptor takes the math type the algorithm was timed
// with; without, it stays CUDNN_FMA_MATH (DEFAULT_MATH would still permit TF32 on Ampere and
// newer).
template <class Perf>
const Perf& choose(const Perf* results, int count, bool deterministic, bool tf32, std::size_t limit,
                   ConvDesc& conv, const char* what) {
  for (int i = 0; i < count; ++i) {
    const Perf& p = results[i];
    if (p.status != cudnnStatus_t::CUDNN_STATUS_SUCCESS) continue;
    if (p.memory > limit) continue;
    if (deterministic && p.determinism != cudnnDeterminism_t::CUDNN_DETERMINISTIC) continue;
    if (!tf32 && p.mathType != cudnnMathType_t::CUDNN_FMA_MATH && p.mathType != cudnnMathType_t::CUDNN_DEFAULT_MATH) continue;
    conv.set_math(tf32 ? p.mathType : cudnnMathType_t::CUDNN_FMA_MATH);
    return p;
  }
  throw Error(std::string("cuDNN offers no usable ") + what + " algorithm for this shape" +
              (deterministic ? " in deterministic mode" : "") + (tf32 ? "" : " without TF32"));
}

class CudaDevice final : public Device {
 public:
  explicit CudaDevice(const CudaOptions& options) : options_(options) {
    const CudartApi& rt = cudart();
    int count = 0;
    LENET_CUDART(cudaGetDeviceCount, &count);
    if (count == 0) throw Error("no CUDA device found");
    if (options.device < 0 || options.device >= count)
      throw Error("CUDA device " + std::to_string(options.device) + " does not exist (" + std::to_string(count) + " found)");
    bind();
    // cuBLAS and cuDNN load after the device check, so a machine without a driver reports that.
    const CublasApi& bl = cublas();
    const CudnnApi& dnn = cudnn();
    LENET_CUDART(cudaStreamCreateWithFlags, &stream_, kCudaStreamNonBlocking);
    LENET_CUBLAS(cublasCreate_v2, &blas_);
    LENET_CUBLAS(cublasSetStream_v2, blas_, stream_);
    LENET_CUBLAS(cublasSetPointerMode_v2, blas_, cublasPointerMode_t::CUBLAS_POINTER_MODE_HOST);
    LENET_CUBLAS(cublasSetMathMode, blas_, options.tf32 ? cublasMath_t::CUBLAS_TF32_TENSOR_OP_MATH : cublasMath_t::CUBLAS_PEDANTIC_MATH);
    LENET_CUDNN(cudnnCreate, &dnn_);
    LENET_CUDNN(cudnnSetStream, dnn_, stream_);
    LENET_CUDART(cudaLibraryLoadData, &kernels_, kKernelsPtx, nullptr, nullptr, 0, nullptr, nullptr, 0);
    LENET_CUDART(cudaLibraryGetKernel, &k_fill_, kernels_, "lenet_fill");
    LENET_CUDART(cudaLibraryGetKernel, &k_nll_stats_, kernels_, "lenet_nll_stats");
    LENET_CUDART(cudaLibraryGetKernel, &k_nll_grad_, kernels_, "lenet_nll_grad");
    LENET_CUDNN(cudnnCreatePoolingDescriptor, &pool_);
    LENET_CUDNN(cudnnSetPooling2dDescriptor, pool_,
                options.deterministic ? cudnnPoolingMode_t::CUDNN_POOLING_MAX_DETERMINISTIC : cudnnPoolingMode_t::CUDNN_POOLING_MAX,
                cudnnNanPropagation_t::CUDNN_NOT_PROPAGATE_NAN, 2, 2, 0, 0, 2, 2);
    LENET_CUDNN(cudnnCreateActivationDescriptor, &tanh_);
    LENET_CUDNN(cudnnSetActivationDescriptor, tanh_, cudnnActivationMode_t::CUDNN_ACTIVATION_TANH,
                cudnnNanPropagation_t::CUDNN_PROPAGATE_NAN, 0.0);

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
      << bl.patch << ", cuDNN " << cudnn_version_text(dnn) << (options.deterministic ? ", deterministic" : "")
      << (options.tf32 ? ", TF32 on" : ", TF32 off");
    description_ = d.str();
  }

  ~CudaDevice() override {
    // Never throw from here, and never reset the device: the process belongs to the user.
    const CudartApi* rt = cudart_if_loaded();
    if (!rt) return;
    rt->cudaSetDevice(options_.device);
    if (stream_) rt->cudaStreamSynchronize(stream_);
    plans_.clear();
    descs_.clear();
    if (workspace_) rt->cudaFree(workspace_);
    if (const CudnnApi* dnn = cudnn_if_loaded()) {
      if (pool_) dnn->cudnnDestroyPoolingDescriptor(pool_);
      if (tanh_) dnn->cudnnDestroyActivationDescriptor(tanh_);
      if (dnn_) dnn->cudnnDestroy(dnn_);
    }
    if (const CublasApi* bl = cublas_if_loaded()) {
      if (blas_) bl->cublasDestroy_v2(blas_);
    }
    if (kernels_) rt->cudaLibraryUnload(kernels_);
    if (stream_) rt->cudaStreamDestroy(stream_);
  }

  const char* kind() const override { return "cuda"; }
  std::string describe() const override { return description_; }

  std::shared_ptr<Storage> allocate(size_t numel) override {
    bind();
    const size_t bytes = std::max<size_t>(numel, 1) * sizeof(float);
    void* p = nullptr;
    LENET_CUDART(cudaMalloc, &p, bytes);
    // Zero on the stream: ordered before every op that can use the buffer.
    const cudaError_t st = cudart().cudaMemsetAsync(p, 0, bytes, stream_);
    if (st != cudaError_t::cudaSuccess) {
      cudart().cudaFree(p);
      check_cuda(st, "cudaMemsetAsync");
    }
    counters.on_alloc(bytes);
    return std::make_shared<Storage>(shared_from_this(), static_cast<float*>(p), numel);
  }

  void release(float* data, size_t numel) override {
    if (const CudartApi* rt = cudart_if_loaded()) {
      rt->cudaSetDevice(options_.device);
      rt->cudaFree(data);  // waits for work using it; errors here can't be reported, and don't matter
    }
    counters.on_free(std::max<size_t>(numel, 1) * sizeof(float));
  }

  // ---- transfers ----

  void upload(const TensorRef& dst, const float* src) override {
    bind();
    // From pageable memory the copy is staged before cudaMemcpyAsync returns, so the host buffer
    // may be freed right after.
    LENET_CUDART(cudaMemcpyAsync, dst.data(), src, dst.numel() * sizeof(float), cudaMemcpyKind::cudaMemcpyHostToDevice, stream_);
  }

  void download(const TensorRef& src, float* dst) override {
    bind();
    LENET_CUDART(cudaMemcpyAsync, dst, src.data(), src.numel() * sizeof(float), cudaMemcpyKind::cudaMemcpyDeviceToHost, stream_);
    LENET_CUDART(cudaStreamSynchronize, stream_);
  }

  void fill(const TensorRef& dst, float value) override {
    bind();
    if (value == 0.0f && !std::signbit(value)) {
      LENET_CUDART(cudaMemsetAsync, dst.data(), 0, dst.numel() * sizeof(float), stream_);
      return;
    }
    float* x = dst.data();
    unsigned long long n = dst.numel();
    void* args[] = {&x, &value, &n};
    launch(k_fill_, grid_for(n, 256), 256, args, "lenet_fill");
  }

  void copy(const TensorRef& src, const TensorRef& dst) override {
    bind();
    LENET_CUDART(cudaMemcpyAsync, dst.data(), src.data(), src.numel() * sizeof(float), cudaMemcpyKind::cudaMemcpyDeviceToDevice, stream_);
  }

  void synchronize() override {
    bind();
    LENET_CUDART(cudaStreamSynchronize, stream_);
  }

  std::function<void()> fence() override {
    bind();
    cudaEvent_t event = nullptr;
    LENET_CUDART(cudaEventCreateWithFlags, &event, kCudaEventBlockingSync | kCudaEventDisableTiming);
    const cudaError_t st = cudart().cudaEventRecord(event, stream_);
    if (st != cudaError_t::cudaSuccess) {
      cudart().cudaEventDestroy(event);
      check_cuda(st, "cudaEventRecord");
    }
    auto self = shared_from_this();  // the waiter may outlive every other owner
    return [self, event, device = options_.device] {
      cudart().cudaSetDevice(device);
      const cudaError_t wait = cudart().cudaEventSynchronize(event);
      cudart().cudaEventDestroy(event);
      check_cuda(wait, "cudaEventSynchronize");
    };
  }

  // ---- convolution ----

  void conv2d_forward(const TensorRef& x, const TensorRef& w, const TensorRef& y) override {
    bind();
    ConvPlan& p = plan(x, w, y);
    if (!p.fwd_ready) {
      cudnnConvolutionFwdAlgoPerf_t perf[8];
      int found = 0;
      LENET_CUDNN(cudnnFindConvolutionForwardAlgorithm, dnn_, p.x_desc.get(), p.w_desc.get(), p.fwd_conv.get(), p.y_desc.get(), 8, &found, perf);
      const auto& best = choose(perf, found, options_.deterministic, options_.tf32, kWorkspaceLimit, p.fwd_conv, "forward convolution");
      p.fwd_algo = best.algo;
      LENET_CUDNN(cudnnGetConvolutionForwardWorkspaceSize, dnn_, p.x_desc.get(), p.w_desc.get(), p.fwd_conv.get(), p.y_desc.get(), p.fwd_algo, &p.fwd_ws);
      p.fwd_ready = true;
    }
    void* ws = workspace(p.fwd_ws);
    LENET_CUDNN(cudnnConvolutionForward, dnn_, &kOne, p.x_desc.get(), x.data(), p.w_desc.get(), w.data(), p.fwd_conv.get(),
                p.fwd_algo, ws, p.fwd_ws, &kZero, p.y_desc.get(), y.data());
  }

  void conv2d_backward_data(const TensorRef& dy, const TensorRef& w, const TensorRef& dx) override {
    bind();
    ConvPlan& p = plan(dx, w, dy);
    if (!p.bwd_data_ready) {
      cudnnConvolutionBwdDataAlgoPerf_t perf[8];
      int found = 0;
      LENET_CUDNN(cudnnFindConvolutionBackwardDataAlgorithm, dnn_, p.w_desc.get(), p.y_desc.get(), p.bwd_data_conv.get(), p.x_desc.get(), 8, &found, perf);
      const auto& best = choose(perf, found, options_.deterministic, options_.tf32, kWorkspaceLimit, p.bwd_data_conv, "backward-data convolution");
      p.bwd_data_algo = best.algo;
      LENET_CUDNN(cudnnGetConvolutionBackwardDataWorkspaceSize, dnn_, p.w_desc.get(), p.y_desc.get(), p.bwd_data_conv.get(), p.x_desc.get(), p.bwd_data_algo, &p.bwd_data_ws);
      p.bwd_data_ready = true;
    }
    void* ws = workspace(p.bwd_data_ws);
    LENET_CUDNN(cudnnConvolutionBackwardData, dnn_, &kOne, p.w_desc.get(), w.data(), p.y_desc.get(), dy.data(), p.bwd_data_conv.get(),
                p.bwd_data_algo, ws, p.bwd_data_ws, &kZero, p.x_desc.get(), dx.data());
  }

  void conv2d_backward_filter(const TensorRef& x, const TensorRef& dy, const TensorRef& dw) override {
    bind();
    ConvPlan& p = plan(x, dw, dy);
    if (!p.bwd_filter_ready) {
      cudnnConvolutionBwdFilterAlgoPerf_t perf[8];
      int found = 0;
      LENET_CUDNN(cudnnFindConvolutionBackwardFilterAlgorithm, dnn_, p.x_desc.get(), p.y_desc.get(), p.bwd_filter_conv.get(), p.w_desc.get(), 8, &found, perf);
      const auto& best = choose(perf, found, options_.deterministic, options_.tf32, kWorkspaceLimit, p.bwd_filter_conv, "backward-filter convolution");
      p.bwd_filter_algo = best.algo;
      LENET_CUDNN(cudnnGetConvolutionBackwardFilterWorkspaceSize, dnn_, p.x_desc.get(), p.y_desc.get(), p.bwd_filter_conv.get(), p.w_desc.get(), p.bwd_filter_algo, &p.bwd_filter_ws);
      p.bwd_filter_ready = true;
    }
    void* ws = workspace(p.bwd_filter_ws);
    LENET_CUDNN(cudnnConvolutionBackwardFilter, dnn_, &kOne, p.x_desc.get(), x.data(), p.y_desc.get(), dy.data(), p.bwd_filter_conv.get(),
                p.bwd_filter_algo, ws, p.bwd_filter_ws, &kZero, p.w_desc.get(), dw.data());
  }

  // ---- pooling ----

  void maxpool2x2_forward(const TensorRef& x, const TensorRef& y) override {
    bind();
    LENET_CUDNN(cudnnPoolingForward, dnn_, pool_, &kOne, desc(x).get(), x.data(), &kZero, desc(y).get(), y.data());
  }

  void maxpool2x2_backward(const TensorRef& x, const TensorRef& y, const TensorRef& dy, const TensorRef& dx) override {
    bind();
    LENET_CUDNN(cudnnPoolingBackward, dnn_, pool_, &kOne, desc(y).get(), y.data(), desc(dy, y.shape).get(), dy.data(),
                desc(x).get(), x.data(), &kZero, desc(dx).get(), dx.data());
  }

  // ---- bias and tanh ----

  void bias_add(const TensorRef& x, const TensorRef& b, const TensorRef& y) override {
    bind();
    if (y.data() != x.data()) copy(x, y);
    LENET_CUDNN(cudnnAddTensor, dnn_, &kOne, bias_desc(b).get(), b.data(), &kOne, desc(y).get(), y.data());
  }

  void bias_tanh_forward(const TensorRef& x, const TensorRef& b, const TensorRef& y) override {
    bias_add(x, b, y);
    tanh_forward(y, y);
  }

  void bias_grad(const TensorRef& dy, const TensorRef& db) override {
    bind();
    LENET_CUDNN(cudnnConvolutionBackwardBias, dnn_, &kOne, desc(dy).get(), dy.data(), &kZero, bias_desc(db).get(), db.data());
  }

  void tanh_forward(const TensorRef& x, const TensorRef& y) override {
    bind();
    const TensorDesc& d = flat_desc(x.numel());
    LENET_CUDNN(cudnnActivationForward, dnn_, tanh_, &kOne, d.get(), x.data(), &kZero, d.get(), y.data());
  }

  void tanh_backward(const TensorRef& y, const TensorRef& dy, const TensorRef& dx) override {
    bind();
    const TensorDesc& d = flat_desc(y.numel());
    // tanh's gradient needs only y; cuDNN still asks for x, which it does not read for TANH.
    LENET_CUDNN(cudnnActivationBackward, dnn_, tanh_, &kOne, d.get(), y.data(), d.get(), dy.data(), d.get(), y.data(), &kZero,
                d.get(), dx.data());
  }

  // ---- dense algebra ----

  void gemm(bool ta, bool tb, float alpha, const TensorRef& a, const TensorRef& b, float beta, const TensorRef& c) override {
    bind();
    // Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T: swap the operands.
    const int m = checked_int(c.dim(0), "gemm: c"), n = checked_int(c.dim(1), "gemm: c");
    const int k = checked_int(ta ? a.dim(0) : a.dim(1), "gemm: a");
    const int lda = checked_int(a.dim(1), "gemm: a"), ldb = checked_int(b.dim(1), "gemm: b");
    if (m == 0 || n == 0) return;
    LENET_CUBLAS(cublasSgemm_v2, blas_, tb ? cublasOperation_t::CUBLAS_OP_T : cublasOperation_t::CUBLAS_OP_N,
                 ta ? cublasOperation_t::CUBLAS_OP_T : cublasOperation_t::CUBLAS_OP_N, n, m, k, &alpha, b.data(), ldb, a.data(),
                 lda, &beta, c.data(), n);
  }

  void axpy(float alpha, const TensorRef& x, const TensorRef& y) override {
    bind();
    LENET_CUBLAS(cublasSaxpy_v2, blas_, checked_int(x.numel(), "axpy: x"), &alpha, x.data(), 1, y.data(), 1);
  }

  void scale(float alpha, const TensorRef& x) override {
    bind();
    LENET_CUBLAS(cublasSscal_v2, blas_, checked_int(x.numel(), "scale: x"), &alpha, x.data(), 1);
  }

  // ---- softmax and NLL ----

  void softmax_nll(const TensorRef& logits, const TensorRef* labels, const TensorRef& probs, const TensorRef* stats) override {
    bind();
    int n = checked_int(logits.dim(0), "softmaxNll: logits"), k = checked_int(logits.dim(1), "softmaxNll: logits");
    if (n == 0) return;
    if (stats && labels) {
      // Before the softmax: probs may be the logits' own buffer.
      const float* z = logits.data();
      const float* y = labels->data();
      float* s = stats->data();
      void* args[] = {&z, &y, &n, &k, &s};
      launch(k_nll_stats_, 1, 256, args, "lenet_nll_stats");
    }
    const TensorDesc& d = desc(Dims4{n, k, 1, 1});
    LENET_CUDNN(cudnnSoftmaxForward, dnn_, cudnnSoftmaxAlgorithm_t::CUDNN_SOFTMAX_ACCURATE, cudnnSoftmaxMode_t::CUDNN_SOFTMAX_MODE_INSTANCE,
                &kOne, d.get(), logits.data(), &kZero, d.get(), probs.data());
  }

  void softmax_nll_backward(const TensorRef& probs, const TensorRef& labels, const TensorRef& dlogits) override {
    bind();
    int n = checked_int(probs.dim(0), "softmaxNllBackward: probs"), k = checked_int(probs.dim(1), "softmaxNllBackward: probs");
    if (n == 0) return;
    const float* p = probs.data();
    const float* y = labels.data();
    float* g = dlogits.data();
    void* args[] = {&p, &y, &n, &k, &g};
    launch(k_nll_grad_, grid_for(static_cast<unsigned long long>(n) * k, 256), 256, args, "lenet_nll_grad");
  }

 private:
  // Workspace requests above this are skipped when choosing algorithms.
  static constexpr std::size_t kWorkspaceLimit = std::size_t(1) << 30;

  // The calling thread's current device must be ours (each host thread has its own).
  void bind() {
    thread_local int bound = -1;
    if (bound != options_.device) {
      LENET_CUDART(cudaSetDevice, options_.device);
      bound = options_.device;
    }
  }

  static unsigned grid_for(unsigned long long n, unsigned block) {
    return static_cast<unsigned>(std::min<unsigned long long>((n + block - 1) / block, 65535ull));
  }

  void launch(cudaKernel_t kernel, unsigned grid, unsigned block, void** args, const char* name) {
    if (grid == 0) return;
    dim3 g;
    g.x = grid;
    dim3 b;
    b.x = block;
    const cudaError_t st = cudart().cudaLaunchKernel(reinterpret_cast<const void*>(kernel), g, b, args, 0, stream_);
    check_cuda(st, name);
  }

  void* workspace(std::size_t bytes) {
    if (bytes <= workspace_bytes_) return workspace_;
    // Grow once to the largest need; the old buffer may still be in use by queued kernels, and
    // cudaFree waits for them.
    if (workspace_) cudart().cudaFree(workspace_);
    workspace_ = nullptr;
    workspace_bytes_ = 0;
    LENET_CUDART(cudaMalloc, &workspace_, bytes);
    workspace_bytes_ = bytes;
    return workspace_;
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
  const TensorDesc& desc(const TensorRef&, const Shape& as) { return desc(dims4(as)); }
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

  CudaOptions options_;
  std::string description_;
  cudaStream_t stream_ = nullptr;
  cublasHandle_t blas_ = nullptr;
  cudnnHandle_t dnn_ = nullptr;
  cudaLibrary_t kernels_ = nullptr;
  cudaKernel_t k_fill_ = nullptr, k_nll_stats_ = nullptr, k_nll_grad_ = nullptr;
  cudnnPoolingDescriptor_t pool_ = nullptr;
  cudnnActivationDescriptor_t tanh_ = nullptr;
  void* workspace_ = nullptr;
  std::size_t workspace_bytes_ = 0;
  std::map<std::tuple<Dims4, Dims4>, std::unique_ptr<ConvPlan>> plans_;
  std::map<Dims4, std::unique_ptr<TensorDesc>> descs_;
};

}  // namespace

CudaProbe probe_cuda(int device) noexcept {
  CudaProbe out;
  try {
    const LoadReport report = probe();
    for (const LibraryReport* lib : {&report.cudart, &report.cublas, &report.cudnn}) {
      for (const std::string& t : lib->tried) out.tried.push_back(lib->library + ": " + t);
    }
    if (report.driver_version > 0) out.versions.emplace_back("driver", version_text(report.driver_version));
    if (report.cudart.ok) out.versions.emplace_back("runtime", report.cudart.version);
    if (report.cublas.ok) out.versions.emplace_back("cublas", report.cublas.version);
    if (report.cudnn.ok) out.versions.emplace_back("cudnn", report.cudnn.version);
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
