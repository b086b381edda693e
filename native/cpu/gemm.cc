// SGEMM: the OpenBLAS path and the portable cache-blocked path (see gemm.h).
//
// The portable GEMM follows the classic Goto/BLIS structure: B is packed into KC x NC panels, A
// into MC x KC panels laid out as MR-row slivers, and a register-blocked MR x NR micro-kernel
// accumulates one tile of C. The micro-kernel is plain C++ that GCC vectorizes; it is compiled for
// AVX-512, AVX2 and baseline x86-64 and picked at load time (target_clones), so one binary runs
// everywhere and uses the widest vectors the CPU has.
#include "gemm.h"

#include <algorithm>
#include <cstring>
#include <vector>

#ifdef LENET_HAVE_OPENBLAS
#include <cblas.h>
#endif

namespace lenet::cpu {

bool have_openblas() {
#ifdef LENET_HAVE_OPENBLAS
  return true;
#else
  return false;
#endif
}

GemmImpl default_gemm() { return have_openblas() ? GemmImpl::OpenBLAS : GemmImpl::Portable; }

void gemm_init_single_threaded() {
#ifdef LENET_HAVE_OPENBLAS
  openblas_set_num_threads(1);
#endif
}

std::string gemm_description(GemmImpl impl) {
#ifdef LENET_HAVE_OPENBLAS
  if (impl == GemmImpl::OpenBLAS) {
    std::string config = openblas_get_config();
    return "openblas (" + config + ", core " + openblas_get_corename() + ")";
  }
#endif
  (void)impl;
  return "portable (cache-blocked, built in)";
}

namespace {

constexpr int MR = 6;
constexpr int NR = 16;
constexpr int KC = 256;
constexpr int MC = 120;   // multiple of MR
constexpr int NC = 2048;  // multiple of NR

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define LENET_MULTIVERSION __attribute__((target_clones("avx512f", "avx2,fma", "default")))
#else
#define LENET_MULTIVERSION
#endif

// acc[MR][NR] = sum_p a[p*MR + i] * b[p*NR + j]; then C tile (mr x nr valid) = alpha*acc + beta*C.
LENET_MULTIVERSION
void micro_kernel(int kc, const float* a, const float* b, float* c, int ldc, int mr, int nr,
                  float alpha, float beta) {
  float acc[MR][NR] = {};
  for (int p = 0; p < kc; ++p) {
    const float* bp = b + p * NR;
    const float* ap = a + p * MR;
    for (int i = 0; i < MR; ++i) {
      const float ai = ap[i];
      for (int j = 0; j < NR; ++j) acc[i][j] += ai * bp[j];
    }
  }
  for (int i = 0; i < mr; ++i) {
    float* ci = c + static_cast<long>(i) * ldc;
    if (beta == 0.0f) {
      for (int j = 0; j < nr; ++j) ci[j] = alpha * acc[i][j];
    } else {
      for (int j = 0; j < nr; ++j) ci[j] = alpha * acc[i][j] + beta * ci[j];
    }
  }
}

// Element (r, col) of op(X) where X is row-major with leading dimension ld.
inline float at(const float* x, int ld, bool trans, int r, int col) {
  return trans ? x[static_cast<long>(col) * ld + r] : x[static_cast<long>(r) * ld + col];
}

// Packs op(B)[pc:pc+kc, jc:jc+nc] into NR-wide column slivers, zero-padded.
void pack_b(const float* b, int ldb, bool trans, int pc, int kc, int jc, int nc, float* out) {
  for (int j0 = 0; j0 < nc; j0 += NR) {
    const int nr = std::min(NR, nc - j0);
    for (int p = 0; p < kc; ++p) {
      float* dst = out + (static_cast<long>(j0) * kc) + p * NR;
      if (!trans && nr == NR) {
        std::memcpy(dst, b + static_cast<long>(pc + p) * ldb + jc + j0, NR * sizeof(float));
      } else {
        for (int j = 0; j < nr; ++j) dst[j] = at(b, ldb, trans, pc + p, jc + j0 + j);
        for (int j = nr; j < NR; ++j) dst[j] = 0.0f;
      }
    }
  }
}

// Packs op(A)[ic:ic+mc, pc:pc+kc] into MR-tall row slivers, zero-padded.
void pack_a(const float* a, int lda, bool trans, int ic, int mc, int pc, int kc, float* out) {
  for (int i0 = 0; i0 < mc; i0 += MR) {
    const int mr = std::min(MR, mc - i0);
    for (int p = 0; p < kc; ++p) {
      float* dst = out + static_cast<long>(i0) * kc + p * MR;
      for (int i = 0; i < mr; ++i) dst[i] = at(a, lda, trans, ic + i0 + i, pc + p);
      for (int i = mr; i < MR; ++i) dst[i] = 0.0f;
    }
  }
}

void sgemm_portable(bool ta, bool tb, int m, int n, int k, float alpha, const float* a, int lda,
                    const float* b, int ldb, float beta, float* c, int ldc) {
  if (m <= 0 || n <= 0) return;
  if (k <= 0 || alpha == 0.0f) {
    for (int i = 0; i < m; ++i) {
      float* ci = c + static_cast<long>(i) * ldc;
      for (int j = 0; j < n; ++j) ci[j] = beta == 0.0f ? 0.0f : beta * ci[j];
    }
    return;
  }
  thread_local std::vector<float> bpack, apack;
  bpack.resize(static_cast<size_t>(KC) * NC);
  apack.resize(static_cast<size_t>(KC) * MC);
  for (int jc = 0; jc < n; jc += NC) {
    const int nc = std::min(NC, n - jc);
    for (int pc = 0; pc < k; pc += KC) {
      const int kc = std::min(KC, k - pc);
      const float beta_eff = pc == 0 ? beta : 1.0f;  // later K blocks accumulate
      pack_b(b, ldb, tb, pc, kc, jc, nc, bpack.data());
      for (int ic = 0; ic < m; ic += MC) {
        const int mc = std::min(MC, m - ic);
        pack_a(a, lda, ta, ic, mc, pc, kc, apack.data());
        for (int j0 = 0; j0 < nc; j0 += NR) {
          const int nr = std::min(NR, nc - j0);
          for (int i0 = 0; i0 < mc; i0 += MR) {
            const int mr = std::min(MR, mc - i0);
            micro_kernel(kc, apack.data() + static_cast<long>(i0) * kc,
                         bpack.data() + static_cast<long>(j0) * kc,
                         c + static_cast<long>(ic + i0) * ldc + jc + j0, ldc, mr, nr, alpha,
                         beta_eff);
          }
        }
      }
    }
  }
}

}  // namespace

void sgemm(GemmImpl impl, bool trans_a, bool trans_b, int m, int n, int k, float alpha,
           const float* a, int lda, const float* b, int ldb, float beta, float* c, int ldc) {
#ifdef LENET_HAVE_OPENBLAS
  if (impl == GemmImpl::OpenBLAS) {
    if (m <= 0 || n <= 0) return;
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    return;
  }
#endif
  (void)impl;
  sgemm_portable(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

}  // namespace lenet::cpu
