// Storage lifetime, allocation counters and shape formatting (see device.h).
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

}  // namespace lenet
