// Storage lifetime, allocation counters, shape formatting and the default (composed) fused ops
// of a Device (see device.h).
#include "device.h"

namespace lenet {

std::string shape_str(const Shape& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) {
    if (i) out += ",";
    out += std::to_string(s[i]);
  }
  return out + "]";
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

void Device::conv_pool_forward(const TensorRef& x, const TensorRef& w, const TensorRef& b, const TensorRef& conv,
                               const TensorRef& pooled, const TensorRef& y) {
  conv2d_forward(x, w, conv);
  maxpool_bias_tanh_forward(conv, b, pooled, y);
}

void Device::conv_pool_backward(const TensorRef& x, const TensorRef& w, const TensorRef& conv, const TensorRef& pooled,
                                const TensorRef& y, const TensorRef& dy, const TensorRef& dpooled, const TensorRef& dconv,
                                const TensorRef* dx, const TensorRef& dw, const TensorRef& db) {
  maxpool_bias_tanh_backward(conv, pooled, y, dy, dpooled, db, dconv);
  conv2d_backward(x, w, dconv, dx, dw);
}

void Device::conv2d_backward(const TensorRef& x, const TensorRef& w, const TensorRef& dy, const TensorRef* dx,
                             const TensorRef& dw) {
  conv2d_backward_filter(x, dy, dw);
  if (dx) conv2d_backward_data(dy, w, *dx);
}

}  // namespace lenet
