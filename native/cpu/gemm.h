// Single-threaded row-major SGEMM for the CPU backend: OpenBLAS's CBLAS when the build found it,
// and our own, always compiled: packed panels and a register-blocked micro-kernel for AVX-512,
// AVX2+FMA or aarch64 NEON, chosen at run time from the CPU's features (a portable C++ kernel
// where none applies). The backend's thread pool does the threading; each call is one thread.
#pragma once

#include <string>
#include <vector>

namespace lenet::cpu {

enum class GemmImpl { OpenBLAS, Builtin };

/// @brief The micro-kernels of the built-in GEMM.
enum class GemmKernel { Generic, Avx2, Avx512, Neon };

/// @brief Which GEMM a backend uses: the library, and for the built-in one its micro-kernel.
struct Gemm {
  GemmImpl impl;
  GemmKernel kernel;
};

/// @brief True when the addon was built against OpenBLAS.
bool have_openblas();
/// @brief The best micro-kernel this CPU can run (AVX-512F, else AVX2+FMA, NEON on aarch64, else generic).
GemmKernel best_kernel();
/// @brief The micro-kernels this CPU (and this build) can run, best first.
std::vector<GemmKernel> supported_kernels();
/// @brief "avx512", "avx2", "neon" or "generic".
const char* kernel_name(GemmKernel k);
/// @brief The kernel of that name, if this CPU can run it; throws Error otherwise (listing the ones it can).
GemmKernel kernel_from_name(const std::string& name);
/// @brief The GEMM used by default (see default_gemm_reason()).
Gemm default_gemm();
/// @brief Why default_gemm() is what it is, for the README's "which GEMM" and buildInfo().
std::string default_gemm_reason();
/// @brief "openblas (OpenBLAS 0.3.21 ..., core Haswell)" or "built-in (avx512 10x32 micro-kernel)".
std::string gemm_description(const Gemm& gemm);
/// @brief Makes OpenBLAS single-threaded (our pool does the threading). No-op without OpenBLAS.
void gemm_init_single_threaded();

/// @brief C[M,N] = alpha * op(A) * op(B) + beta * C, all row-major with leading dimensions.
/// op(A) is [M,K] (A is [K,M] when trans_a), op(B) is [K,N] (B is [N,K] when trans_b).
/// With beta == 0, C is not read (NaNs in C do not propagate).
void sgemm(const Gemm& gemm, bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float* a, int lda,
           const float* b, int ldb, float beta, float* c, int ldc);

}  // namespace lenet::cpu
