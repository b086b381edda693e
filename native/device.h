// The op set every backend implements, and the storage/tensor types the ops work on.
//
// A Device is one backend (the CPU, or one CUDA GPU). Its ops take TensorRefs (a shared owner of
// the storage plus an element offset and a shape) and run on the backend's executor thread, in
// the order JavaScript issued them, like kernels on a CUDA stream. Shapes are validated twice:
// first in TypeScript with user-facing messages (lib/shapes.ts), then by each op's entry in the op
// table (ops.cc) so that no op can ever read or write outside a buffer.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "profiler.h"

namespace lenet {

/// @brief An error raised by the addon; becomes a JS Error with the same message.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

/// @brief Thrown by allocate() when a backend is out of memory; the process stays usable.
class OutOfMemory : public Error {
 public:
  explicit OutOfMemory(const std::string& what) : Error(what) {}
};

using Shape = std::vector<int64_t>;

/// @brief Number of elements of a shape (1 for a scalar shape []).
inline size_t numel_of(const Shape& s) {
  size_t n = 1;
  for (int64_t d : s) n *= static_cast<size_t>(d);
  return n;
}

std::string shape_str(const Shape& s);

/// @brief "label 12 of row 1 is not a class in 0..9": the message of a bad label on every backend
/// (the label in its shortest exact form: 12, 2.5, -1, nan).
std::string bad_label_message(float label, int64_t row, int64_t classes);

/// @brief Live-allocation counters of one backend; tests assert they return to zero.
struct Counters {
  std::atomic<int64_t> live_buffers{0};
  std::atomic<int64_t> live_bytes{0};
  std::atomic<int64_t> peak_bytes{0};
  void on_alloc(size_t bytes);
  void on_free(size_t bytes);
};

class Device;
class ConvPoolPlan;

/// @brief One allocation of float32 elements on a device (host memory for the CPU backend).
///
/// Freed when the last owner lets go: the JS tensor that allocated it, a view of it, or an op
/// still queued on the executor that uses it. The storage keeps its device alive.
class Storage {
 public:
  Storage(std::shared_ptr<Device> device, float* data, size_t numel)
      : device_(std::move(device)), data_(data), numel_(numel) {}
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  float* data() const { return data_; }
  size_t numel() const { return numel_; }
  Device& device() const { return *device_; }

 private:
  std::shared_ptr<Device> device_;
  float* data_;
  size_t numel_;
};

/// @brief A contiguous, row-major (NCHW) window onto a storage: what every op receives.
struct TensorRef {
  std::shared_ptr<Storage> storage;
  size_t offset = 0;  // in elements
  Shape shape;

  float* data() const { return storage->data() + offset; }
  size_t numel() const { return numel_of(shape); }
  int64_t dim(size_t i) const { return shape[i]; }
  size_t rank() const { return shape.size(); }
};

/// @brief The op set of a backend. Every method but allocate(), conv_pool_plan() and describe()
/// runs on the backend's executor thread, one at a time; allocate() and conv_pool_plan() run on the
/// JS thread.
///
/// Conventions (identical on every backend):
/// - float32, row-major, NCHW activations, OIHW weights;
/// - convolution is cross-correlation (no kernel flip), valid, stride 1;
/// - max-pooling is 2x2, stride 2, ignore_border (a trailing odd row/column is dropped); on ties
///   the gradient goes to the first maximum in row-major order;
/// - GEMM is row-major: C = alpha * op(A) * op(B) + beta * C.
class Device : public std::enable_shared_from_this<Device> {
 public:
  virtual ~Device() = default;

  /// @brief "cpu" or "cuda".
  virtual const char* kind() const = 0;
  /// @brief Human-readable description (CPU model and BLAS, or GPU name and library versions).
  virtual std::string describe() const = 0;

  /// @brief Allocates numel zero-initialised floats (JS thread). Throws OutOfMemory.
  virtual std::shared_ptr<Storage> allocate(size_t numel) = 0;
  /// @brief Releases memory of a storage (called from ~Storage, on any thread).
  virtual void release(float* data, size_t numel) = 0;

  // -- transfers (executor thread) --
  virtual void upload(const TensorRef& dst, const float* src) = 0;
  /// @brief Copies src into host memory at dst (src.numel() floats). Returns a callable that
  /// blocks until the data is in dst and reports errors the device raised in work issued before
  /// the download (CUDA: a bad label found by a kernel); it runs on the waiting thread, so the
  /// executor keeps feeding the device. Empty when the copy is complete on return (the CPU).
  virtual std::function<void()> download(const TensorRef& src, float* dst) = 0;
  virtual void fill(const TensorRef& dst, float value) = 0;
  virtual void copy(const TensorRef& src, const TensorRef& dst) = 0;
  /// @brief Marks the work issued so far and returns a callable that blocks until it is done
  /// and reports errors the device raised in it, as download() does. The callable runs on the
  /// waiting thread, not the executor, so the executor keeps feeding the device meanwhile (CUDA:
  /// an event recorded on the stream). Empty when the work is already done once the executor
  /// gets here (the CPU).
  virtual std::function<void()> fence() = 0;

  // -- convolution: x [N,C,H,W], w [K,C,KH,KW], y [N,K,H-KH+1,W-KW+1] --
  virtual void conv2d_forward(const TensorRef& x, const TensorRef& w, const TensorRef& y) = 0;
  virtual void conv2d_backward_data(const TensorRef& dy, const TensorRef& w, const TensorRef& dx) = 0;
  virtual void conv2d_backward_filter(const TensorRef& x, const TensorRef& dy, const TensorRef& dw) = 0;

  // -- pooling: x [N,C,H,W], y [N,C,H/2,W/2] --
  virtual void maxpool2x2_forward(const TensorRef& x, const TensorRef& y) = 0;
  virtual void maxpool2x2_backward(const TensorRef& x, const TensorRef& y, const TensorRef& dy,
                                   const TensorRef& dx) = 0;

  // -- bias (per channel: axis 1) and tanh --
  /// y = x + b (broadcast over N and the spatial axes); y may alias x.
  virtual void bias_add(const TensorRef& x, const TensorRef& b, const TensorRef& y) = 0;
  /// db[c] = sum over n and spatial of dy[n,c,...]
  virtual void bias_grad(const TensorRef& dy, const TensorRef& db) = 0;
  /// y = tanh(x); y may alias x.
  virtual void tanh_forward(const TensorRef& x, const TensorRef& y) = 0;
  /// dx = dy * (1 - y^2); dx may alias dy.
  virtual void tanh_backward(const TensorRef& y, const TensorRef& dy, const TensorRef& dx) = 0;
  /// y = tanh(x + b): the fused epilogue of every layer (x may alias y).
  virtual void bias_tanh_forward(const TensorRef& x, const TensorRef& b, const TensorRef& y) = 0;

  // -- fused layer steps; the defaults compose the ops above, a backend may do them in one pass --
  /// pooled = maxpool2x2(x); y = tanh(pooled + b): the epilogue of a LeNetConvPoolLayer.
  virtual void maxpool_bias_tanh_forward(const TensorRef& x, const TensorRef& b, const TensorRef& pooled,
                                         const TensorRef& y);
  /// Its backward: dpooled = dy * (1 - y^2); db = sum of dpooled per channel;
  /// dx = maxpool2x2_backward(x, pooled, dpooled). dpooled may alias dy.
  virtual void maxpool_bias_tanh_backward(const TensorRef& x, const TensorRef& pooled, const TensorRef& y,
                                          const TensorRef& dy, const TensorRef& dpooled, const TensorRef& db,
                                          const TensorRef& dx);
  /// @brief The fused op of a LeNetConvPoolLayer for inputs x_shape [N,C,H,W] and filters
  /// w_shape [K,C,KH,KW] (JS thread: it allocates the plan's state). The default composes the ops
  /// above; a backend may return its own (the CPU fuses pooling into the convolution's GEMM).
  virtual std::shared_ptr<ConvPoolPlan> conv_pool_plan(const Shape& x_shape, const Shape& w_shape);
  /// dw = conv2d_backward_filter(x, dy) and, when dx is given, dx = conv2d_backward_data(dy, w).
  virtual void conv2d_backward(const TensorRef& x, const TensorRef& w, const TensorRef& dy, const TensorRef* dx,
                               const TensorRef& dw);

  // -- dense algebra --
  /// C[M,N] = alpha * op(A) * op(B) + beta * C, A and B 2-D, row-major.
  virtual void gemm(bool trans_a, bool trans_b, float alpha, const TensorRef& a, const TensorRef& b,
                    float beta, const TensorRef& c) = 0;
  /// y += alpha * x
  virtual void axpy(float alpha, const TensorRef& x, const TensorRef& y) = 0;
  /// x *= alpha
  virtual void scale(float alpha, const TensorRef& x) = 0;

  // -- softmax + negative log-likelihood: logits [N,K], labels [N] (class ids as floats) --
  /// probs = softmax(logits, axis 1); if stats ([2]) is given: stats[0] += sum_n -log p[n, y_n],
  /// stats[1] += number of rows whose first argmax differs from the label.
  virtual void softmax_nll(const TensorRef& logits, const TensorRef* labels, const TensorRef& probs,
                           const TensorRef* stats) = 0;
  /// dlogits = (probs - onehot(labels)) / N: the gradient of the mean NLL.
  virtual void softmax_nll_backward(const TensorRef& probs, const TensorRef& labels,
                                    const TensorRef& dlogits) = 0;

  Counters counters;
  /// Op and phase timings for benchmarks (see profiler.h).
  Profiler profiler;
};

/// @brief The fused op of one LeNetConvPoolLayer for one shape, as cudarc's op structs: forward
/// y = tanh(maxpool2x2(conv(x, w)) + b) and its backward, with whatever the backend keeps between
/// the two passes owned here (the default keeps the convolution's output and the pooled values;
/// the CPU keeps each window's argmax, and never writes the convolution's output to memory).
/// The caller passes x, w and y again to backward (the plan keeps no reference to them, so
/// disposing them frees them). Made by Device::conv_pool_plan on the JS thread; forward and backward
/// run on the executor thread, in issue order, so the state they share needs no lock.
class ConvPoolPlan {
 public:
  /// @brief Shapes are checked by the caller: x [N,C,H,W], w [K,C,KH,KW], conv output >= 2x2.
  ConvPoolPlan(Shape x_shape, Shape w_shape);
  virtual ~ConvPoolPlan() = default;
  ConvPoolPlan(const ConvPoolPlan&) = delete;
  ConvPoolPlan& operator=(const ConvPoolPlan&) = delete;

  const Shape& x_shape() const { return x_shape_; }
  const Shape& w_shape() const { return w_shape_; }
  /// @brief The convolution's output [N,K,H-KH+1,W-KW+1].
  const Shape& conv_shape() const { return conv_shape_; }
  /// @brief The layer's output [N,K,OH/2,OW/2].
  const Shape& y_shape() const { return y_shape_; }
  /// @brief Bytes of the state the plan owns.
  size_t state_bytes() const;

  /// @brief y = tanh(maxpool2x2(conv(x, w)) + b), keeping what backward needs.
  void forward(const TensorRef& x, const TensorRef& w, const TensorRef& b, const TensorRef& y);
  /// @brief The backward of the last forward, given its x, w and y (unchanged since): from dy (the
  /// gradient at y, any shape of y's size) writes dw, db and, when dx is given, dx.
  void backward(const TensorRef& x, const TensorRef& w, const TensorRef& y, const TensorRef& dy, const TensorRef* dx,
                const TensorRef& dw, const TensorRef& db);

 protected:
  /// @brief Allocates a state buffer on `device` that the plan owns.
  TensorRef own(Device& device, Shape shape);
  virtual void run_forward(const TensorRef& x, const TensorRef& w, const TensorRef& b, const TensorRef& y) = 0;
  /// dy has y's shape here.
  virtual void run_backward(const TensorRef& x, const TensorRef& w, const TensorRef& y, const TensorRef& dy,
                            const TensorRef* dx, const TensorRef& dw, const TensorRef& db) = 0;

 private:
  Shape x_shape_, w_shape_, conv_shape_, y_shape_;
  std::vector<std::shared_ptr<Storage>> state_;
  bool forwarded_ = false;
};

}  // namespace lenet
