// Single-threaded row-major SGEMM for the CPU backend: OpenBLAS's CBLAS when the build found it,
// and a portable cache-blocked implementation that is always compiled (the fallback, and a second
// path the tests exercise even where OpenBLAS is present).
#pragma once

#include <string>

namespace lenet::cpu {

enum class GemmImpl { OpenBLAS, Portable };

/// @brief True when the addon was built against OpenBLAS.
bool have_openblas();
/// @brief The GEMM used by default: OpenBLAS if built in, else the portable one.
GemmImpl default_gemm();
/// @brief "openblas 0.3.21 (Haswell, pthread)" or "portable (cache-blocked, built in)".
std::string gemm_description(GemmImpl impl);
/// @brief Makes OpenBLAS single-threaded (our pool does the threading). No-op without OpenBLAS.
void gemm_init_single_threaded();

/// @brief C[M,N] = alpha * op(A) * op(B) + beta * C, all row-major with leading dimensions.
/// op(A) is [M,K] (A is [K,M] when trans_a), op(B) is [K,N] (B is [N,K] when trans_b).
/// With beta == 0, C is not read (NaNs in C do not propagate).
void sgemm(GemmImpl impl, bool trans_a, bool trans_b, int m, int n, int k, float alpha,
           const float* a, int lda, const float* b, int ldb, float beta, float* c, int ldc);

}  // namespace lenet::cpu
