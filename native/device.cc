// Storage lifetime, allocation counters, shape formatting, the default (composed) fused ops of a
// Device and the conv-pool plan (see device.h).
#include "device.h"

#include <cstdio>

namespace lenet {

std::string shape_str(const Shape& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) {
    if (i) out += ",";
    out += std::to_string(s[i]);
  }
  return out + "]";
}

std::string bad_label_message(float label, int64_t row, int64_t classes) {
  char text[32];
  std::snprintf(text, sizeof text, "%.9g", static_cast<double>(label));
  return "label " + std::string(text) + " of row " + std::to_string(row) + " is not a class in 0.." +
         std::to_string(classes - 1);
}

void Counters::on_alloc(size_t bytes) {
  live_buffers.fetch_add(1);
  const int64_t now = live_bytes.fetch_add(static_cast<int64_t>(bytes)) + static_cast<int64_t>(bytes);
  int64_t peak = peak_bytes.load();
  while (now > peak && !peak_bytes.compare_exchange_weak(peak, now)) {
  }
}

void Counters::on_free(size_t bytes) {
  live_buffers.fetch_sub(1);
  live_bytes.fetch_sub(static_cast<int64_t>(bytes));
}

Storage::~Storage() { device_->release(data_, numel_); }

void Device::maxpool_bias_tanh_forward(const TensorRef& x, const TensorRef& b, const TensorRef& pooled,
                                       const TensorRef& y) {
  maxpool2x2_forward(x, pooled);
  bias_tanh_forward(pooled, b, y);
}

void Device::maxpool_bias_tanh_backward(const TensorRef& x, const TensorRef& pooled, const TensorRef& y,
                                        const TensorRef& dy, const TensorRef& dpooled, const TensorRef& db,
                                        const TensorRef& dx) {
  tanh_backward(y, dy, dpooled);
  bias_grad(dpooled, db);
  maxpool2x2_backward(x, pooled, dpooled, dx);
}

ConvPoolPlan::ConvPoolPlan(Shape x_shape, Shape w_shape) : x_shape_(std::move(x_shape)), w_shape_(std::move(w_shape)) {
  const int64_t oh = x_shape_[2] - w_shape_[2] + 1, ow = x_shape_[3] - w_shape_[3] + 1;
  conv_shape_ = {x_shape_[0], w_shape_[0], oh, ow};
  y_shape_ = {x_shape_[0], w_shape_[0], oh / 2, ow / 2};
}

size_t ConvPoolPlan::state_bytes() const {
  size_t bytes = 0;
  for (const auto& s : state_) bytes += s->numel() * sizeof(float);
  return bytes;
}

TensorRef ConvPoolPlan::own(Device& device, Shape shape) {
  TensorRef t{device.allocate(numel_of(shape)), 0, std::move(shape)};
  state_.push_back(t.storage);
  return t;
}

void ConvPoolPlan::forward(const TensorRef& x, const TensorRef& w, const TensorRef& b, const TensorRef& y) {
  forwarded_ = true;
  run_forward(x, w, b, y);
}

void ConvPoolPlan::backward(const TensorRef& x, const TensorRef& w, const TensorRef& y, const TensorRef& dy,
                            const TensorRef* dx, const TensorRef& dw, const TensorRef& db) {
  if (!forwarded_) throw Error("backward before any forward");
  run_backward(x, w, y, TensorRef{dy.storage, dy.offset, y_shape_}, dx, dw, db);
}

namespace {
// The default plan: the convolution, then the fused pooling epilogue, each a Device op. It keeps
// the convolution's output and the pooled values from the forward, and two gradient buffers.
class ComposedConvPoolPlan final : public ConvPoolPlan {
 public:
  ComposedConvPoolPlan(Device& device, const Shape& x, const Shape& w) : ConvPoolPlan(x, w), device_(device) {
    conv_ = own(device, conv_shape());
    pooled_ = own(device, y_shape());
    dpooled_ = own(device, y_shape());
    dconv_ = own(device, conv_shape());
  }

 private:
  void run_forward(const TensorRef& x, const TensorRef& w, const TensorRef& b, const TensorRef& y) override {
    device_.conv2d_forward(x, w, conv_);
    device_.maxpool_bias_tanh_forward(conv_, b, pooled_, y);
  }
  void run_backward(const TensorRef& x, const TensorRef& w, const TensorRef& y, const TensorRef& dy,
                    const TensorRef* dx, const TensorRef& dw, const TensorRef& db) override {
    device_.maxpool_bias_tanh_backward(conv_, pooled_, y, dy, dpooled_, db, dconv_);
    device_.conv2d_backward(x, w, dconv_, dx, dw);
  }

  Device& device_;  // alive as long as the plan: the plan's storages hold it
  TensorRef conv_, pooled_, dpooled_, dconv_;
};
}  // namespace

std::shared_ptr<ConvPoolPlan> Device::conv_pool_plan(const Shape& x_shape, const Shape& w_shape) {
  return std::make_shared<ComposedConvPoolPlan>(*this, x_shape, w_shape);
}

void Device::conv2d_backward(const TensorRef& x, const TensorRef& w, const TensorRef& dy, const TensorRef* dx,
                             const TensorRef& dw) {
  conv2d_backward_filter(x, dy, dw);
  if (dx) conv2d_backward_data(dy, w, *dx);
}

}  // namespace lenet
