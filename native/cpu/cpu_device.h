// Factory of the CPU backend (implementation in cpu_device.cc).
#pragma once

#include <memory>

#include "../device.h"
#include "gemm.h"

namespace lenet {

/// @brief The CPU backend with `threads` pool threads (<= 0: one per hardware thread) and the
/// given GEMM implementation.
std::shared_ptr<Device> make_cpu_device(int threads, cpu::Gemm gemm, bool composed_conv_pool = false);

}  // namespace lenet
