// The micro-kernels of the built-in GEMM (gemm.cc drives them): each computes one MR x NR tile
// of C from packed panels, with its accumulators in registers.
#pragma once

#include "gemm.h"

namespace lenet::cpu::detail {

/// @brief C[MR x NR] (row stride ldc) = alpha * sum_p a[p*MR + i] * b[p*ldb + j] + beta * C, for
/// p < kc; a is a packed sliver (gemm.cc's pack_a), b a packed sliver (ldb = NR) or NR columns of
/// B in place (ldb = B's row stride). With beta == 0, C is not read.
using MicroKernel = void (*)(int kc, const float* a, const float* b, long ldb, float* c, long ldc, float alpha,
                             float beta);

/// @brief The dot-product form for C = A B^T when A [M,K] and B [N,K] are both contiguous along K
/// and small: C[i][j] = alpha * dot(a[i*lda:], b[j*ldb:], k) + beta * C[i][j], with no packing.
/// Used where packing would cost more than the arithmetic (LeNet5's first-layer filter gradient:
/// 20 x 25 outputs, K = 1152).
using DotKernel = void (*)(int m, int n, int k, float alpha, const float* a, long lda, const float* b, long ldb,
                           float beta, float* c, long ldc);

/// @brief Packs a sliver of op(B) = B^T: rows j < nr of B (row j at b + j*ldb, kc contiguous
/// floats) become sliver[p*NR + j]; columns nr..NR-1 are zero.
using PackTransposed = void (*)(const float* b, long ldb, int kc, int nr, int NR, float* sliver);

/// @brief A micro-kernel with its tile and the cache blocking that suits it: a KC x NR panel of B
/// stays in L1 across a row of tiles, an MC x KC block of A in L2.
struct KernelSpec {
  GemmKernel id;
  const char* name;
  int mr, nr;
  int kc, mc, nc;
  MicroKernel fn;
  DotKernel dot;
  PackTransposed pack_bt;
};

/// @brief The spec of a kernel this build has (Neon only on aarch64, the x86 ones only on x86-64).
const KernelSpec* find_kernel(GemmKernel k);
/// @brief Whether this CPU can run it.
bool cpu_supports(GemmKernel k);

}  // namespace lenet::cpu::detail
