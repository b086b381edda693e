// The CPU backend: the op set of device.h on host memory.
//
// Convolution is im2col + GEMM over chunks of samples: a chunk's columns are laid out side by
// side ([C*KH*KW, B*OH*OW]) so that each GEMM is large enough to run near the machine's SGEMM
// ceiling, while the column buffer stays small enough for the core's L2 cache. The batch is split
// into one contiguous range of samples per pool thread; each thread calls single-threaded BLAS on
// its own scratch buffers, which are kept between steps (no allocation inside a training step).
// Reductions across threads (filter and bias gradients) are summed in worker order, so results
// are deterministic for a given thread count.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include "../device.h"
#include "cpu_device.h"
#include "gemm.h"
#include "kernels.h"
#include "thread_pool.h"

namespace lenet {
namespace {

// Physical memory plus nothing else (swap is not counted: zeroing a tensor in swap is a hang).
size_t physical_memory_bytes() {
  static const size_t bytes = [] {
    const long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
    return pages > 0 && size > 0 ? static_cast<size_t>(pages) * static_cast<size_t>(size) : SIZE_MAX;
  }();
  return bytes;
}


using cpu::Gemm;
using cpu::ThreadPool;
namespace kernels = cpu::kernels;

// Output columns (samples x output pixels) per convolution chunk. About 1500 columns make each
// GEMM large enough to amortize OpenBLAS's packing (measured: LeNet5's layer-1 GEMMs reach their
// best rate from ~1000 to ~2000 columns and lose a third of it at 256 or at 16000).
constexpr int64_t kTargetColumns = 1536;
// Below this many elements an elementwise op runs on one thread.
constexpr int64_t kParallelMin = 1 << 15;

std::string cpu_model() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("model name", 0) == 0) {
      auto p = line.find(':');
      if (p != std::string::npos) return line.substr(p + 2);
    }
  }
  return "unknown CPU";
}

struct ConvDims {
  int64_t n, c, h, w, k, kh, kw, oh, ow;
  int64_t ckk() const { return c * kh * kw; }
  int64_t ohw() const { return oh * ow; }
};

// Copies a short run of floats (8 to 64 here). Inlined loops: a memcpy call per run costs more
// than the copy itself for these lengths.
inline void copy_run(const float* __restrict src, float* __restrict dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = src[i];
}

// A label stored as a float, checked to be a class index (a bad one would index out of bounds).
int64_t checked_label(float v, int64_t row, int64_t classes) {
  if (!(v >= 0.0f) || v >= static_cast<float>(classes) || v != static_cast<float>(static_cast<int64_t>(v)))
    throw Error(bad_label_message(v, row, classes));
  return static_cast<int64_t>(v);
}

ConvDims conv_dims(const TensorRef& x, const TensorRef& w) {
  ConvDims d{};
  d.n = x.dim(0), d.c = x.dim(1), d.h = x.dim(2), d.w = x.dim(3);
  d.k = w.dim(0), d.kh = w.dim(2), d.kw = w.dim(3);
  d.oh = d.h - d.kh + 1, d.ow = d.w - d.kw + 1;
  return d;
}

class CpuDevice final : public Device {
 public:
  CpuDevice(int threads, Gemm gemm, bool composed_conv_pool)
      : pool_(threads > 0 ? threads : std::max(1u, std::thread::hardware_concurrency())),
        gemm_(gemm),
        composed_conv_pool_(composed_conv_pool),
        scratch_(pool_.size()) {
    cpu::gemm_init_single_threaded();
  }

  const char* kind() const override { return "cpu"; }

  std::string describe() const override {
    return cpu_model() + ", " + std::to_string(pool_.size()) + " threads, GEMM: " +
           cpu::gemm_description(gemm_);
  }

  std::shared_ptr<Storage> allocate(size_t numel) override {
    const size_t bytes = std::max<size_t>(numel, 1) * sizeof(float);
    // More than the machine's memory can never be zeroed: refuse it here rather than let an
    // overcommitting kernel hand it out and the memset below end in the OOM killer.
    if (bytes > physical_memory_bytes())
      throw OutOfMemory("cannot allocate " + std::to_string(bytes) + " bytes of host memory (the machine has " +
                        std::to_string(physical_memory_bytes()) + ")");
    // 64-byte alignment: full cache lines and aligned AVX-512 loads at offset 0.
    void* p = std::aligned_alloc(64, (bytes + 63) / 64 * 64);
    if (!p) throw OutOfMemory("cannot allocate " + std::to_string(bytes) + " bytes of host memory");
    std::memset(p, 0, bytes);
    counters.on_alloc(bytes);
    return std::make_shared<Storage>(shared_from_this(), static_cast<float*>(p), numel);
  }

  void release(float* data, size_t numel) override {
    std::free(data);
    counters.on_free(std::max<size_t>(numel, 1) * sizeof(float));
  }

  void upload(const TensorRef& dst, const float* src) override {
    std::memcpy(dst.data(), src, dst.numel() * sizeof(float));
  }
  std::function<void()> download(const TensorRef& src, float* dst) override {
    std::memcpy(dst, src.data(), src.numel() * sizeof(float));
    return {};
  }
  void fill(const TensorRef& dst, float value) override {
    elementwise(dst.numel(), [&](int64_t b, int64_t e) { std::fill(dst.data() + b, dst.data() + e, value); });
  }
  void copy(const TensorRef& src, const TensorRef& dst) override {
    std::memmove(dst.data(), src.data(), src.numel() * sizeof(float));
  }
  // Ops run synchronously on the executor: when it gets here, everything before is done.
  std::function<void()> fence() override { return {}; }

  // ---- convolution ----

  void conv2d_forward(const TensorRef& x, const TensorRef& w, const TensorRef& y) override {
    const ConvDims d = conv_dims(x, w);
    float* yp = y.data();
    forward_chunks(d, x.data(), w.data(), "conv2dForward", [&](int64_t b0, int64_t nb, const float* out, int64_t cols) {
      // [K, B*OHW] -> y[b, k, :]
      for (int64_t b = 0; b < nb; ++b)
        for (int64_t k = 0; k < d.k; ++k)
          copy_run(out + k * cols + b * d.ohw(), yp + ((b0 + b) * d.k + k) * d.ohw(), d.ohw());
    });
  }

  void conv2d_backward_data(const TensorRef& dy, const TensorRef& w, const TensorRef& dx) override {
    conv_backward(conv_dims(dx, w), nullptr, w.data(), dy.data(), dx.data(), nullptr);
  }

  void conv2d_backward_filter(const TensorRef& x, const TensorRef& dy, const TensorRef& dw) override {
    conv_backward(conv_dims(x, dw), x.data(), nullptr, dy.data(), nullptr, dw.data());
  }

  void conv2d_backward(const TensorRef& x, const TensorRef& w, const TensorRef& dy, const TensorRef* dx,
                       const TensorRef& dw) override {
    conv_backward(conv_dims(x, w), x.data(), w.data(), dy.data(), dx ? dx->data() : nullptr, dw.data());
  }

  // ---- a whole conv-pool layer, fused ----

  std::shared_ptr<ConvPoolPlan> conv_pool_plan(const Shape& x_shape, const Shape& w_shape) override;

  // Per chunk of samples: im2col, GEMM, then each output plane is pooled straight from the GEMM's
  // (cache-hot) output: the first-maximum offsets go to `argmax` (int32 in a plan buffer only the
  // CPU reads) and tanh(max + b) to y. The convolution's output never goes to memory.
  void fused_forward(const TensorRef& x, const TensorRef& w, const TensorRef& b, const TensorRef& argmax,
                     const TensorRef& y) {
    const ConvDims d = conv_dims(x, w);
    const int64_t parea = (d.oh / 2) * (d.ow / 2);
    const float* bp = b.data();
    int32_t* am = reinterpret_cast<int32_t*>(argmax.data());
    float* yp = y.data();
    forward_chunks(d, x.data(), w.data(), "convPoolForward", [&](int64_t b0, int64_t nb, const float* out, int64_t cols) {
      ScopedTimer t(profiler, "convPoolForward: pool, bias, tanh");
      for (int64_t i = 0; i < nb; ++i)
        for (int64_t k = 0; k < d.k; ++k) {
          const int64_t o = ((b0 + i) * d.k + k) * parea;
          kernels::maxpool2x2_argmax_bias_tanh(out + k * cols + i * d.ohw(), d.oh, d.ow, bp[k], am + o, yp + o);
        }
    });
  }

  // Per chunk: dpooled = dy * (1 - y^2) and its per-filter sums (db); the gradient at the
  // convolution's output is built directly in the chunk's GEMM layout from the saved argmax
  // offsets; then dw and dx as in conv_backward.
  void fused_backward(const TensorRef& x, const TensorRef& w, const TensorRef& argmax, const TensorRef& y,
                      const TensorRef& dy, const TensorRef& dpooled, const TensorRef* dx, const TensorRef& dw,
                      const TensorRef& db) {
    const ConvDims d = conv_dims(x, w);
    const int64_t parea = (d.oh / 2) * (d.ow / 2);
    const float* xp = x.data();
    const float* wp = w.data();
    const int32_t* am = reinterpret_cast<const int32_t*>(argmax.data());
    const float* yp = y.data();
    const float* g = dy.data();
    float* dp = dpooled.data();
    float* dxp = dx ? dx->data() : nullptr;
    const int64_t chunk = chunk_samples(d);
    const int64_t wsize = d.k * d.ckk();
    pool_.parallel_for(d.n, [&](int worker, int64_t n0, int64_t n1) {
      Scratch& s = scratch_[worker];
      float* accw = s.get(s.acc, wsize);
      float* accb = s.get(s.acc2, d.k);
      std::fill(accb, accb + d.k, 0.0f);
      bool first = true;
      for (int64_t b0 = n0; b0 < n1; b0 += chunk) {
        const int64_t nb = std::min(chunk, n1 - b0);
        const int64_t cols = nb * d.ohw();
        float* gc = s.get(s.out, d.k * cols);
        float* col = s.get(s.col, d.ckk() * cols);
        {
          ScopedTimer t(profiler, "convPoolBackward: tanh, bias, unpool");
          std::fill(gc, gc + d.k * cols, 0.0f);
          for (int64_t i = 0; i < nb; ++i)
            for (int64_t k = 0; k < d.k; ++k) {
              const int64_t o = ((b0 + i) * d.k + k) * parea;
              kernels::tanh_backward(yp + o, g + o, dp + o, parea);
              accb[k] += kernels::sum(dp + o, parea);
              float* plane = gc + k * cols + i * d.ohw();
              for (int64_t q = 0; q < parea; ++q) plane[am[o + q]] = dp[o + q];
            }
        }
        {
          ScopedTimer t(profiler, "convPoolBackward: im2col");
          im2col(d, xp, b0, nb, col);
        }
        {
          ScopedTimer t(profiler, "convPoolBackward: GEMM dW");
          sgemm(false, true, d.k, d.ckk(), cols, 1.0f, gc, cols, col, cols, first ? 0.0f : 1.0f, accw, d.ckk());
        }
        first = false;
        if (dxp) {
          {
            ScopedTimer t(profiler, "convPoolBackward: GEMM dx");
            sgemm(true, false, d.ckk(), cols, d.k, 1.0f, wp, d.ckk(), gc, cols, 0.0f, col, cols);
          }
          ScopedTimer t(profiler, "convPoolBackward: col2im");
          col2im(d, col, b0, nb, dxp);
        }
      }
      if (first) std::fill(accw, accw + wsize, 0.0f);
    });
    reduce_partials(d.n, wsize, dw.data(), [](Scratch& s) { return s.acc.data(); });
    reduce_partials(d.n, d.k, db.data(), [](Scratch& s) { return s.acc2.data(); });
  }

  // ---- pooling ----

  void maxpool2x2_forward(const TensorRef& x, const TensorRef& y) override {
    const int64_t planes = x.dim(0) * x.dim(1), h = x.dim(2), w = x.dim(3), pooled = (h / 2) * (w / 2);
    const float* xp = x.data();
    float* yp = y.data();
    pool_.parallel_for(planes, [&](int, int64_t p0, int64_t p1) {
      for (int64_t p = p0; p < p1; ++p) kernels::maxpool2x2(xp + p * h * w, h, w, yp + p * pooled);
    });
  }

  void maxpool2x2_backward(const TensorRef& x, const TensorRef& y, const TensorRef& dy,
                           const TensorRef& dx) override {
    const int64_t planes = x.dim(0) * x.dim(1), h = x.dim(2), w = x.dim(3), pooled = (h / 2) * (w / 2);
    const float* xp = x.data();
    const float* yp = y.data();
    const float* g = dy.data();
    float* dxp = dx.data();
    pool_.parallel_for(planes, [&](int, int64_t p0, int64_t p1) {
      for (int64_t p = p0; p < p1; ++p)
        kernels::maxpool2x2_backward(xp + p * h * w, yp + p * pooled, g + p * pooled, h, w, dxp + p * h * w);
    });
  }

  void maxpool_bias_tanh_forward(const TensorRef& x, const TensorRef& b, const TensorRef& pooled,
                                 const TensorRef& y) override {
    const int64_t c = x.dim(1), planes = x.dim(0) * c, h = x.dim(2), w = x.dim(3), area = (h / 2) * (w / 2);
    const float* xp = x.data();
    const float* bp = b.data();
    float* pp = pooled.data();
    float* yp = y.data();
    pool_.parallel_for(planes, [&](int, int64_t p0, int64_t p1) {
      for (int64_t p = p0; p < p1; ++p)
        kernels::maxpool2x2_bias_tanh(xp + p * h * w, h, w, bp[p % c], pp + p * area, yp + p * area);
    });
  }

  void maxpool_bias_tanh_backward(const TensorRef& x, const TensorRef& pooled, const TensorRef& y,
                                  const TensorRef& dy, const TensorRef& dpooled, const TensorRef& db,
                                  const TensorRef& dx) override {
    const int64_t n = x.dim(0), c = x.dim(1), h = x.dim(2), w = x.dim(3), area = (h / 2) * (w / 2);
    const float* xp = x.data();
    const float* pp = pooled.data();
    const float* yp = y.data();
    const float* g = dy.data();
    float* dp = dpooled.data();
    float* dxp = dx.data();
    // One pass per plane: tanh backward, the plane's bias-gradient share, then the pool backward.
    pool_.parallel_for(n, [&](int worker, int64_t n0, int64_t n1) {
      float* acc = Scratch::get(scratch_[worker].acc, c);
      std::fill(acc, acc + c, 0.0f);
      for (int64_t i = n0; i < n1; ++i)
        for (int64_t ch = 0; ch < c; ++ch) {
          const int64_t p = i * c + ch;
          kernels::tanh_backward(yp + p * area, g + p * area, dp + p * area, area);
          acc[ch] += kernels::sum(dp + p * area, area);
          kernels::maxpool2x2_backward(xp + p * h * w, pp + p * area, dp + p * area, h, w, dxp + p * h * w);
        }
    });
    reduce_partials(n, c, db.data(), [](Scratch& s) { return s.acc.data(); });
  }

  // ---- bias and tanh ----

  void bias_add(const TensorRef& x, const TensorRef& b, const TensorRef& y) override {
    per_channel(x, b, y, kernels::bias_add, kernels::bias_add_rows);
  }

  void bias_tanh_forward(const TensorRef& x, const TensorRef& b, const TensorRef& y) override {
    per_channel(x, b, y, kernels::bias_tanh, kernels::bias_tanh_rows);
  }

  void bias_grad(const TensorRef& dy, const TensorRef& db) override {
    const int64_t n = dy.dim(0), c = dy.dim(1), inner = static_cast<int64_t>(dy.numel()) / std::max<int64_t>(n * c, 1);
    const float* g = dy.data();
    pool_.parallel_for(n, [&](int worker, int64_t n0, int64_t n1) {
      float* acc = Scratch::get(scratch_[worker].acc, c);
      std::fill(acc, acc + c, 0.0f);
      for (int64_t i = n0; i < n1; ++i)
        if (inner == 1) {
          kernels::add(g + i * c, acc, c);
        } else {
          for (int64_t ch = 0; ch < c; ++ch) acc[ch] += kernels::sum(g + (i * c + ch) * inner, inner);
        }
    });
    reduce_partials(n, c, db.data(), [](Scratch& s) { return s.acc.data(); });
  }

  void tanh_forward(const TensorRef& x, const TensorRef& y) override {
    const float* xp = x.data();
    float* yp = y.data();
    elementwise(x.numel(), [&](int64_t b, int64_t e) { kernels::tanh(xp + b, yp + b, e - b); });
  }

  void tanh_backward(const TensorRef& y, const TensorRef& dy, const TensorRef& dx) override {
    const float* yp = y.data();
    const float* g = dy.data();
    float* out = dx.data();
    elementwise(y.numel(), [&](int64_t b, int64_t e) { kernels::tanh_backward(yp + b, g + b, out + b, e - b); });
  }

  // ---- dense algebra ----

  void gemm(bool ta, bool tb, float alpha, const TensorRef& a, const TensorRef& b, float beta,
            const TensorRef& c) override {
    const int64_t m = c.dim(0), n = c.dim(1);
    const int64_t k = ta ? a.dim(0) : a.dim(1);
    const int64_t lda = a.dim(1), ldb = b.dim(1);
    const float* ap = a.data();
    const float* bp = b.data();
    float* cp = c.data();
    // Split the larger of M and N across the pool; each part is a single-threaded GEMM.
    const bool split_rows = m >= n;
    pool_.parallel_for(split_rows ? m : n, [&](int, int64_t s0, int64_t s1) {
      if (split_rows) {
        const float* a0 = ta ? ap + s0 : ap + s0 * lda;
        sgemm(ta, tb, s1 - s0, n, k, alpha, a0, lda, bp, ldb, beta, cp + s0 * n, n);
      } else {
        const float* b0 = tb ? bp + s0 * ldb : bp + s0;
        sgemm(ta, tb, m, s1 - s0, k, alpha, ap, lda, b0, ldb, beta, cp + s0, n);
      }
    });
  }

  void axpy(float alpha, const TensorRef& x, const TensorRef& y) override {
    const float* xp = x.data();
    float* yp = y.data();
    elementwise(x.numel(), [&](int64_t b, int64_t e) { kernels::axpy(alpha, xp + b, yp + b, e - b); });
  }

  void scale(float alpha, const TensorRef& x) override {
    float* xp = x.data();
    elementwise(x.numel(), [&](int64_t b, int64_t e) { kernels::scale(alpha, xp + b, e - b); });
  }

  // ---- softmax and negative log-likelihood ----

  void softmax_nll(const TensorRef& logits, const TensorRef* labels, const TensorRef& probs,
                   const TensorRef* stats) override {
    const int64_t n = logits.dim(0), k = logits.dim(1);
    if (k == 0 && n > 0 && labels) throw Error("logits have no classes");
    if (k == 0) return;
    const float* z = logits.data();
    const float* y = labels ? labels->data() : nullptr;
    float* p = probs.data();
    double loss = 0.0;
    int64_t errors = 0;
    for (int64_t i = 0; i < n; ++i) {
      // probs may alias logits: read everything needed from the logits before writing.
      const float* zi = z + i * k;
      float* pi = p + i * k;
      int64_t arg = 0;
      for (int64_t j = 1; j < k; ++j)
        if (zi[j] > zi[arg]) arg = j;
      const float mx = zi[arg];
      const int64_t label = y ? checked_label(y[i], i, k) : 0;
      const float z_label = zi[label];
      double sum = 0.0;
      for (int64_t j = 0; j < k; ++j) {
        pi[j] = std::exp(zi[j] - mx);
        sum += pi[j];
      }
      const float inv = static_cast<float>(1.0 / sum);
      for (int64_t j = 0; j < k; ++j) pi[j] *= inv;
      if (y) {
        loss += std::log(sum) - (z_label - mx);  // -log softmax, from the logits
        errors += arg != label;
      }
    }
    if (stats && y) {
      float* s = stats->data();
      s[0] += static_cast<float>(loss);
      s[1] += static_cast<float>(errors);
    }
  }

  void softmax_nll_backward(const TensorRef& probs, const TensorRef& labels,
                            const TensorRef& dlogits) override {
    const int64_t n = probs.dim(0), k = probs.dim(1);
    if (k == 0 && n > 0) throw Error("probs have no classes");
    const float* p = probs.data();
    const float* y = labels.data();
    float* g = dlogits.data();
    const float inv_n = 1.0f / static_cast<float>(n);
    for (int64_t i = 0; i < n; ++i) {
      const int64_t label = checked_label(y[i], i, k);
      for (int64_t j = 0; j < k; ++j) g[i * k + j] = p[i * k + j] * inv_n;
      g[i * k + label] -= inv_n;
    }
  }

 private:
  // Per-worker scratch buffers, grown on demand and kept for the device's lifetime.
  struct Scratch {
    std::vector<float> col, out, acc, acc2;
    static float* get(std::vector<float>& v, int64_t n) {
      if (v.size() < static_cast<size_t>(n)) v.resize(static_cast<size_t>(n));
      return v.data();
    }
  };

  void sgemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
            int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
    cpu::sgemm(gemm_, ta, tb, static_cast<int>(m), static_cast<int>(n), static_cast<int>(k), alpha,
               a, static_cast<int>(lda), b, static_cast<int>(ldb), beta, c, static_cast<int>(ldc));
  }

  // The forward convolution over chunks of samples, split across the pool: per chunk, im2col and
  // one GEMM into [K, chunk * OH*OW] (in the worker's scratch), then epilogue(b0, nb, out, cols)
  // consumes it while it is still in cache. `op` names the phases for the profiler.
  template <class Epilogue>
  void forward_chunks(const ConvDims& d, const float* x, const float* w, const char* op, Epilogue&& epilogue) {
    const std::string im2col_name = std::string(op) + ": im2col", gemm_name = std::string(op) + ": GEMM";
    const int64_t chunk = chunk_samples(d);
    pool_.parallel_for(d.n, [&](int worker, int64_t n0, int64_t n1) {
      Scratch& s = scratch_[worker];
      for (int64_t b0 = n0; b0 < n1; b0 += chunk) {
        const int64_t nb = std::min(chunk, n1 - b0);
        const int64_t cols = nb * d.ohw();
        float* col = s.get(s.col, d.ckk() * cols);
        float* out = s.get(s.out, d.k * cols);
        {
          ScopedTimer t(profiler, im2col_name.c_str());
          im2col(d, x, b0, nb, col);
        }
        {
          ScopedTimer t(profiler, gemm_name.c_str());
          sgemm(false, false, d.k, cols, d.ckk(), 1.0f, w, d.ckk(), col, cols, 0.0f, out, cols);
        }
        epilogue(b0, nb, out, cols);
      }
    });
  }

  // The backward pass of a convolution over chunks of samples. With x: dw = sum of dy @ col(x)^T
  // (per-worker partials, then reduced in worker order); with dx: dx = col2im(w^T @ dy). Both
  // share the chunk's gathered dy, and dcol reuses the column buffer.
  void conv_backward(const ConvDims& d, const float* x, const float* w, const float* dy, float* dx, float* dw) {
    const int64_t chunk = chunk_samples(d);
    const int64_t wsize = d.k * d.ckk();
    pool_.parallel_for(d.n, [&](int worker, int64_t n0, int64_t n1) {
      Scratch& s = scratch_[worker];
      float* acc = dw ? s.get(s.acc, wsize) : nullptr;
      bool first = true;
      for (int64_t b0 = n0; b0 < n1; b0 += chunk) {
        const int64_t nb = std::min(chunk, n1 - b0);
        const int64_t cols = nb * d.ohw();
        float* g = s.get(s.out, d.k * cols);
        float* col = s.get(s.col, d.ckk() * cols);
        gather_dy(d, dy, b0, nb, g);
        if (dw) {
          im2col(d, x, b0, nb, col);
          sgemm(false, true, d.k, d.ckk(), cols, 1.0f, g, cols, col, cols, first ? 0.0f : 1.0f, acc, d.ckk());
          first = false;
        }
        if (dx) {
          sgemm(true, false, d.ckk(), cols, d.k, 1.0f, w, d.ckk(), g, cols, 0.0f, col, cols);
          col2im(d, col, b0, nb, dx);
        }
      }
      if (dw && first) std::fill(acc, acc + wsize, 0.0f);
    });
    if (dw) reduce_partials(d.n, wsize, dw, [](Scratch& s) { return s.acc.data(); });
  }

  // Samples per im2col chunk: about kTargetColumns output columns.
  static int64_t chunk_samples(const ConvDims& d) {
    return std::max<int64_t>(1, (kTargetColumns + d.ohw() / 2) / std::max<int64_t>(d.ohw(), 1));
  }

  // col[(c*KH+i)*KW+j, b*OHW + oh*OW + ow] = x[b0+b, c, oh+i, ow+j]
  static void im2col(const ConvDims& d, const float* x, int64_t b0, int64_t nb, float* col) {
    kernels::im2col(x + b0 * d.c * d.h * d.w, nb, d.c, d.h, d.w, d.kh, d.kw, col);
  }

  // dx[b0+b, c, oh+i, ow+j] = sum of the col entries that im2col took from there.
  static void col2im(const ConvDims& d, const float* col, int64_t b0, int64_t nb, float* dx) {
    float* first = dx + b0 * d.c * d.h * d.w;
    std::fill(first, first + nb * d.c * d.h * d.w, 0.0f);
    kernels::col2im_add(col, nb, d.c, d.h, d.w, d.kh, d.kw, first);
  }

  // g[k, b*OHW + p] = dy[b0+b, k, p]
  static void gather_dy(const ConvDims& d, const float* dy, int64_t b0, int64_t nb, float* g) {
    const int64_t cols = nb * d.ohw();
    for (int64_t b = 0; b < nb; ++b)
      for (int64_t k = 0; k < d.k; ++k)
        copy_run(dy + ((b0 + b) * d.k + k) * d.ohw(), g + k * cols + b * d.ohw(), d.ohw());
  }

  // out = sum over the workers that took part in a parallel_for of length n of their partials.
  template <class Get>
  void reduce_partials(int64_t n, int64_t size, float* out, Get get) {
    const int parts = static_cast<int>(std::min<int64_t>(pool_.size(), n));
    if (parts == 0) {  // nothing to reduce (an empty batch): the sum is zero
      std::fill(out, out + size, 0.0f);
      return;
    }
    std::memcpy(out, get(scratch_[0]), size * sizeof(float));
    for (int w = 1; w < parts; ++w) {
      const float* p = get(scratch_[w]);
      for (int64_t i = 0; i < size; ++i) out[i] += p[i];
    }
  }

  // y[n, c, ...] = f(x[n, c, ...], b[c]) plane by plane.
  void per_channel(const TensorRef& x, const TensorRef& b, const TensorRef& y,
                   void (*f)(const float*, float, float*, int64_t),
                   void (*rows)(const float*, const float*, float*, int64_t)) {
    const int64_t n = x.dim(0), c = x.dim(1), inner = static_cast<int64_t>(x.numel()) / std::max<int64_t>(n * c, 1);
    const float* xp = x.data();
    const float* bp = b.data();
    float* yp = y.data();
    pool_.parallel_for(n, [&](int, int64_t n0, int64_t n1) {
      if (inner == 1) {
        for (int64_t i = n0; i < n1; ++i) rows(xp + i * c, bp, yp + i * c, c);  // [N, C]
      } else {
        for (int64_t i = n0; i < n1; ++i)
          for (int64_t ch = 0; ch < c; ++ch) f(xp + (i * c + ch) * inner, bp[ch], yp + (i * c + ch) * inner, inner);
      }
    });
  }

  template <class F>
  void elementwise(size_t n, F f) {
    const int64_t len = static_cast<int64_t>(n);
    if (len < kParallelMin) {
      f(0, len);
      return;
    }
    pool_.parallel_for(len, [&](int, int64_t b, int64_t e) { f(b, e); });
  }

  ThreadPool pool_;
  Gemm gemm_;
  // Conv-pool plans composed from the separate ops (Device's default, which CUDA uses) instead of
  // the fused pass: lets the CPU run, and the tests check, the composed plan.
  bool composed_conv_pool_;
  std::vector<Scratch> scratch_;
};

// The CPU's conv-pool plan: each window's first-maximum offset (int32) from the forward, and the
// gradient at the pooled output; the convolution's output and its gradient never exist in memory.
class CpuConvPoolPlan final : public ConvPoolPlan {
 public:
  CpuConvPoolPlan(std::shared_ptr<CpuDevice> device, const Shape& x, const Shape& w)
      : ConvPoolPlan(x, w), device_(std::move(device)) {
    static_assert(sizeof(int32_t) == sizeof(float), "argmax offsets are stored in a float buffer");
    argmax_ = own(*device_, y_shape());
    dpooled_ = own(*device_, y_shape());
  }

 private:
  void run_forward(const TensorRef& x, const TensorRef& w, const TensorRef& b, const TensorRef& y) override {
    device_->fused_forward(x, w, b, argmax_, y);
  }
  void run_backward(const TensorRef& x, const TensorRef& w, const TensorRef& y, const TensorRef& dy,
                    const TensorRef* dx, const TensorRef& dw, const TensorRef& db) override {
    device_->fused_backward(x, w, argmax_, y, dy, dpooled_, dx, dw, db);
  }

  std::shared_ptr<CpuDevice> device_;
  TensorRef argmax_, dpooled_;
};

std::shared_ptr<ConvPoolPlan> CpuDevice::conv_pool_plan(const Shape& x_shape, const Shape& w_shape) {
  if (composed_conv_pool_) return Device::conv_pool_plan(x_shape, w_shape);
  return std::make_shared<CpuConvPoolPlan>(std::static_pointer_cast<CpuDevice>(shared_from_this()), x_shape, w_shape);
}

}  // namespace

std::shared_ptr<Device> make_cpu_device(int threads, cpu::Gemm gemm, bool composed_conv_pool) {
  return std::make_shared<CpuDevice>(threads, gemm, composed_conv_pool);
}

}  // namespace lenet
