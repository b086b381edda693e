// The CPU backend's inner loops (single-threaded; cpu_device.cc splits the work across threads).
//
// Each is compiled for AVX-512, AVX2+FMA and baseline x86-64 and chosen when the addon loads
// (GCC target_clones), so one binary uses the widest vectors the CPU has and still runs anywhere.
#pragma once

#include <cstdint>

namespace lenet::cpu::kernels {

/// y[i] = tanh(x[i] + b); y may alias x.
void bias_tanh(const float* x, float b, float* y, int64_t n);
/// y[i] = x[i] + b; y may alias x.
void bias_add(const float* x, float b, float* y, int64_t n);
/// y[i] = tanh(x[i] + b[i]) (one row of a [N, C] layer); y may alias x.
void bias_tanh_rows(const float* x, const float* b, float* y, int64_t n);
/// y[i] = x[i] + b[i]; y may alias x.
void bias_add_rows(const float* x, const float* b, float* y, int64_t n);
/// y[i] = tanh(x[i]); y may alias x.
void tanh(const float* x, float* y, int64_t n);
/// dx[i] = dy[i] * (1 - y[i]^2); dx may alias dy.
void tanh_backward(const float* y, const float* dy, float* dx, int64_t n);
/// Sum of x[0..n) (float accumulators in vector lanes, then a fixed-order reduction).
float sum(const float* x, int64_t n);
/// y[i] += a * x[i].
void axpy(float a, const float* x, float* y, int64_t n);
/// x[i] *= a.
void scale(float a, float* x, int64_t n);
/// y[i] += x[i].
void add(const float* x, float* y, int64_t n);
/// One plane of the conv-pool epilogue: y = tanh(maxpool2x2(x) + b), argmax[i] = the offset in x
/// of window i's first maximum.
void maxpool2x2_argmax_bias_tanh(const float* x, int64_t h, int64_t w, float b, int32_t* argmax, float* y);
/// im2col for `nb` consecutive samples x [nb, c, h, w] and a kh x kw valid convolution:
/// col[(ci*kh+i)*kw+j, b*oh*ow + r*ow + s] = x[b, ci, r+i, s+j], with oh = h-kh+1, ow = w-kw+1.
void im2col(const float* x, int64_t nb, int64_t c, int64_t h, int64_t w, int64_t kh, int64_t kw, float* col);
/// The adjoint of im2col: dx[b, ci, r+i, s+j] += col[...]; dx must be zeroed first.
void col2im_add(const float* col, int64_t nb, int64_t c, int64_t h, int64_t w, int64_t kh, int64_t kw, float* dx);
/// dst[i] = src[i] for short runs (inlined vector copies beat memcpy calls on 8-64 floats).
void copy(const float* src, float* dst, int64_t n);

/// One plane: y[i,j] = max of x[2i..2i+1, 2j..2j+1] for i < h/2, j < w/2.
void maxpool2x2(const float* x, int64_t h, int64_t w, float* y);
/// One plane of the layer epilogue: pooled = maxpool2x2(x); y = tanh(pooled + b).
void maxpool2x2_bias_tanh(const float* x, int64_t h, int64_t w, float b, float* pooled, float* y);
/// One plane: dx = 0 except, in each 2x2 window, the first maximum (row-major) equal to y, which
/// gets g. The trailing odd row/column of dx (ignored by the pooling) is zero.
void maxpool2x2_backward(const float* x, const float* y, const float* g, int64_t h, int64_t w, float* dx);

}  // namespace lenet::cpu::kernels
