// Vectorizable float math for the CPU backend's elementwise loops.
//
// std::tanh is a scalar libm call (~20 ns); the network evaluates about two million tanh per
// training step, so the CPU backend uses branch-free versions of Cephes' expf/tanhf that GCC
// vectorizes inside plain loops. Accuracy: within 2 ulp of the correctly rounded float result
// over the whole range (test/ops.test.ts compares against float64 Math.tanh).
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

namespace lenet::cpu {

/// @brief exp(x) for x in [-88, 88] (Cephes expf: range reduction by ln 2, degree-5 polynomial).
inline float exp_approx(float x) {
  x = x < -87.3f ? -87.3f : (x > 88.3f ? 88.3f : x);
  // Round to nearest by adding and subtracting 1.5 * 2^23 (vectorizes without SSE4.1's roundps).
  const float fx = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
  float r = x - fx * 0.693359375f;
  r = r - fx * -2.12194440e-4f;
  const float z = r * r;
  float p = 1.9875691500E-4f;
  p = p * r + 1.3981999507E-3f;
  p = p * r + 8.3334519073E-3f;
  p = p * r + 4.1665795894E-2f;
  p = p * r + 1.6666665459E-1f;
  p = p * r + 5.0000001201E-1f;
  p = p * z + r + 1.0f;
  const int32_t n = static_cast<int32_t>(fx);
  const int32_t bits = (n + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}

/// @brief tanh(x) (Cephes tanhf): a odd polynomial for |x| < 0.625, 1 - 2/(exp(2|x|)+1) above.
inline float tanh_approx(float x) {
  const float ax = std::fabs(x);
  const float z = x * x;
  float small = -5.70498872745E-3f;
  small = small * z + 2.06390887954E-2f;
  small = small * z - 5.37397155531E-2f;
  small = small * z + 1.33314422036E-1f;
  small = small * z - 3.33332819422E-1f;
  small = small * z * x + x;
  const float e = exp_approx(ax < 20.0f ? 2.0f * ax : 40.0f);
  const float large = std::copysign(1.0f - 2.0f / (e + 1.0f), x);
  return ax < 0.625f ? small : large;
}

}  // namespace lenet::cpu
