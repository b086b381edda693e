// The CPU backend's vectorized inner loops (see kernels.h). Loops are written so that GCC
// vectorizes them (no branches: selects become blends; -fno-trapping-math lets it if-convert).
#include "kernels.h"

#include <algorithm>
#include <cstring>

#include "vmath.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define LENET_CLONES __attribute__((target_clones("avx512f", "avx2,fma", "default")))
#else
#define LENET_CLONES
#endif

namespace lenet::cpu::kernels {

LENET_CLONES void bias_tanh(const float* x, float b, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = tanh_approx(x[i] + b);
}

LENET_CLONES void bias_add(const float* x, float b, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] + b;
}

LENET_CLONES void bias_tanh_rows(const float* x, const float* b, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = tanh_approx(x[i] + b[i]);
}

LENET_CLONES void bias_add_rows(const float* x, const float* b, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] + b[i];
}

LENET_CLONES void tanh(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = tanh_approx(x[i]);
}

LENET_CLONES void tanh_backward(const float* y, const float* dy, float* dx, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dx[i] = dy[i] * (1.0f - y[i] * y[i]);
}

LENET_CLONES float sum(const float* x, int64_t n) {
  // 16 independent partial sums: vectorizable without -ffast-math, and a fixed order.
  float lanes[16] = {};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int l = 0; l < 16; ++l) lanes[l] += x[i + l];
  float total = 0.0f;
  for (int l = 0; l < 16; ++l) total += lanes[l];
  for (; i < n; ++i) total += x[i];
  return total;
}

LENET_CLONES void axpy(float a, const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += a * x[i];
}

LENET_CLONES void scale(float a, float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] *= a;
}

LENET_CLONES void add(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += x[i];
}

namespace {
inline float max4(float a, float b, float c, float d) {
  const float ab = a > b ? a : b;
  const float cd = c > d ? c : d;
  return ab > cd ? ab : cd;
}
}  // namespace

LENET_CLONES void maxpool2x2(const float* x, int64_t h, int64_t w, float* y) {
  const int64_t oh = h / 2, ow = w / 2;
  for (int64_t i = 0; i < oh; ++i) {
    const float* r0 = x + 2 * i * w;
    const float* r1 = r0 + w;
    float* out = y + i * ow;
    for (int64_t j = 0; j < ow; ++j) out[j] = max4(r0[2 * j], r0[2 * j + 1], r1[2 * j], r1[2 * j + 1]);
  }
}

LENET_CLONES void maxpool2x2_bias_tanh(const float* x, int64_t h, int64_t w, float b, float* pooled, float* y) {
  const int64_t oh = h / 2, ow = w / 2;
  for (int64_t i = 0; i < oh; ++i) {
    const float* r0 = x + 2 * i * w;
    const float* r1 = r0 + w;
    float* p = pooled + i * ow;
    float* out = y + i * ow;
    for (int64_t j = 0; j < ow; ++j) {
      const float m = max4(r0[2 * j], r0[2 * j + 1], r1[2 * j], r1[2 * j + 1]);
      p[j] = m;
      out[j] = tanh_approx(m + b);
    }
  }
}

LENET_CLONES void maxpool2x2_backward(const float* x, const float* y, const float* g, int64_t h, int64_t w, float* dx) {
  const int64_t oh = h / 2, ow = w / 2;
  for (int64_t i = 0; i < oh; ++i) {
    const float* r0 = x + 2 * i * w;
    const float* r1 = r0 + w;
    float* d0 = dx + 2 * i * w;
    float* d1 = d0 + w;
    const float* yi = y + i * ow;
    const float* gi = g + i * ow;
    for (int64_t j = 0; j < ow; ++j) {
      const float m = yi[j], gj = gi[j];
      // Exactly one of the four takes the gradient: the first (row-major) equal to the max.
      const bool a = r0[2 * j] == m;
      const bool b = !a && r0[2 * j + 1] == m;
      const bool c = !a && !b && r1[2 * j] == m;
      const bool d = !a && !b && !c;
      d0[2 * j] = a ? gj : 0.0f;
      d0[2 * j + 1] = b ? gj : 0.0f;
      d1[2 * j] = c ? gj : 0.0f;
      d1[2 * j + 1] = d ? gj : 0.0f;
    }
    if (w & 1) {
      d0[w - 1] = 0.0f;
      d1[w - 1] = 0.0f;
    }
  }
  if (h & 1) std::fill(dx + (h - 1) * w, dx + h * w, 0.0f);
}

}  // namespace lenet::cpu::kernels
