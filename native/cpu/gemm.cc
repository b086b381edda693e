// SGEMM: the OpenBLAS path and the built-in one (see gemm.h).
//
// The built-in GEMM has the Goto/BLIS structure: op(B) is packed into KC x NC blocks laid out as
// NR-wide slivers, op(A) into MC x KC blocks of MR-tall slivers, and a register-blocked MR x NR
// micro-kernel (gemm_kernels.cc) accumulates one tile of C from a sliver of each. The loop over
// tiles runs along A's slivers for one B sliver, so that sliver stays in L1. Packing reads A and B
// in whichever order is contiguous for their layout (transposed or not). Partial tiles at the
// matrix's edges are computed by the same kernel into a small buffer and copied out.
#include "gemm.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "../device.h"
#include "gemm_kernels.h"

#ifdef LENET_HAVE_OPENBLAS
#include <cblas.h>
#endif

namespace lenet::cpu {

using detail::KernelSpec;

bool have_openblas() {
#ifdef LENET_HAVE_OPENBLAS
  return true;
#else
  return false;
#endif
}

std::vector<GemmKernel> supported_kernels() {
  std::vector<GemmKernel> out;
  for (GemmKernel k : {GemmKernel::Avx512, GemmKernel::Avx2, GemmKernel::Neon, GemmKernel::Generic})
    if (detail::cpu_supports(k)) out.push_back(k);
  return out;
}

GemmKernel best_kernel() { return supported_kernels().front(); }

const char* kernel_name(GemmKernel k) {
  switch (k) {
    case GemmKernel::Avx512:
      return "avx512";
    case GemmKernel::Avx2:
      return "avx2";
    case GemmKernel::Neon:
      return "neon";
    case GemmKernel::Generic:
      break;
  }
  return "generic";
}

GemmKernel kernel_from_name(const std::string& name) {
  std::string can;
  for (GemmKernel k : supported_kernels()) {
    if (name == kernel_name(k)) return k;
    can += std::string(can.empty() ? "" : ", ") + kernel_name(k);
  }
  throw Error("gemmKernel '" + name + "' cannot run here; this CPU and build can run: " + can);
}

Gemm default_gemm() { return {GemmImpl::Builtin, best_kernel()}; }

std::string default_gemm_reason() {
  return std::string("the built-in GEMM with the ") + kernel_name(best_kernel()) +
         " micro-kernel (measured as fast as OpenBLAS per LeNet5 training epoch: npm run bench)";
}

void gemm_init_single_threaded() {
#ifdef LENET_HAVE_OPENBLAS
  openblas_set_num_threads(1);
#endif
}

std::string gemm_description(const Gemm& gemm) {
#ifdef LENET_HAVE_OPENBLAS
  if (gemm.impl == GemmImpl::OpenBLAS) {
    std::string config = openblas_get_config();
    return "openblas (" + config + ", core " + openblas_get_corename() + ")";
  }
#endif
  const KernelSpec* s = detail::find_kernel(gemm.kernel);
  if (!s) return std::string("built-in (") + kernel_name(gemm.kernel) + ": not in this build)";
  return std::string("built-in (") + s->name + " " + std::to_string(s->mr) + "x" + std::to_string(s->nr) +
         " micro-kernel)";
}

namespace {

// Element (r, col) of op(X) where X is row-major with leading dimension ld.
inline const float* at(const float* x, long ld, bool trans, long r, long col) {
  return trans ? x + col * ld + r : x + r * ld + col;
}

// Packs op(B)[pc:pc+kc, jc:jc+nc] into NR-wide slivers (sliver s at out + s*kc*NR, row p of it at
// + p*NR), zero-padded to NR.
void pack_b(const float* b, long ldb, bool trans, int pc, int kc, int jc, int nc, int NR, detail::PackTransposed pack_bt,
            float* out) {
  for (int j0 = 0; j0 < nc; j0 += NR) {
    const int nr = std::min(NR, nc - j0);
    float* sliver = out + static_cast<long>(j0) * kc;
    if (!trans) {
      // op(B) = B [K,N]: each row of the sliver is nr contiguous floats of B.
      for (int p = 0; p < kc; ++p) {
        const float* src = b + static_cast<long>(pc + p) * ldb + jc + j0;
        float* dst = sliver + p * NR;
        for (int j = 0; j < nr; ++j) dst[j] = src[j];
        for (int j = nr; j < NR; ++j) dst[j] = 0.0f;
      }
    } else {
      // op(B) = B^T, B [N,K]: each column of the sliver is kc contiguous floats of B; the kernel's
      // own transposing pack.
      pack_bt(b + static_cast<long>(jc + j0) * ldb + pc, ldb, kc, nr, NR, sliver);
    }
  }
}

// Packs op(A)[ic:ic+mc, pc:pc+kc] into MR-tall slivers (sliver s at out + s*kc*MR, column p of it
// at + p*MR), zero-padded to MR.
void pack_a(const float* a, long lda, bool trans, int ic, int mc, int pc, int kc, int MR, float* out) {
  for (int i0 = 0; i0 < mc; i0 += MR) {
    const int mr = std::min(MR, mc - i0);
    float* sliver = out + static_cast<long>(i0) * kc;
    if (trans) {
      // op(A) = A^T, A [K,M]: column p of the sliver is mr contiguous floats of A.
      for (int p = 0; p < kc; ++p) {
        const float* src = a + static_cast<long>(pc + p) * lda + ic + i0;
        float* dst = sliver + p * MR;
        for (int i = 0; i < mr; ++i) dst[i] = src[i];
        for (int i = mr; i < MR; ++i) dst[i] = 0.0f;
      }
    } else {
      // op(A) = A [M,K]: row i of the sliver is kc contiguous floats of A.
      for (int i = 0; i < mr; ++i) {
        const float* src = a + static_cast<long>(ic + i0 + i) * lda + pc;
        for (int p = 0; p < kc; ++p) sliver[p * MR + i] = src[p];
      }
      for (int i = mr; i < MR; ++i)
        for (int p = 0; p < kc; ++p) sliver[p * MR + i] = 0.0f;
    }
  }
}

// The dot-product form's limit: B (N x K floats) within half of a 512 KiB L2.
constexpr long kDotMaxBytes = 256 * 1024;
constexpr int kDotMinK = 64;
// B is read in place when a sliver of it serves at most this many tiles of A.
constexpr int kInPlaceMaxTiles = 6;

// A thread's packing buffers, 64-byte aligned, grown as needed and kept between calls (the
// backend's pool threads call sgemm every step).
struct PackBuffer {
  std::unique_ptr<float, decltype(&std::free)> data{nullptr, &std::free};
  size_t size = 0;
  float* get(size_t n) {
    if (n > size) {
      // 64 bytes of slack: a vectorized kernel may load a full vector at a panel's last element.
      void* p = std::aligned_alloc(64, (n * sizeof(float) + 64 + 63) / 64 * 64);
      if (!p) throw OutOfMemory("cannot allocate " + std::to_string(n * sizeof(float)) + " bytes for GEMM packing");
      data.reset(static_cast<float*>(p));
      size = n;
    }
    return data.get();
  }
};

void sgemm_builtin(const KernelSpec& ks, bool ta, bool tb, int m, int n, int k, float alpha, const float* a, int lda,
                   const float* b, int ldb, float beta, float* c, int ldc) {
  if (m <= 0 || n <= 0) return;
  if (k <= 0 || alpha == 0.0f) {
    for (int i = 0; i < m; ++i) {
      float* ci = c + static_cast<long>(i) * ldc;
      for (int j = 0; j < n; ++j) ci[j] = beta == 0.0f ? 0.0f : beta * ci[j];
    }
    return;
  }
  const int MR = ks.mr, NR = ks.nr;
  // The dot-product form pays when K is long enough for its reductions (one per output) to be
  // noise, and B small enough to stay in L2.
  const bool b_small = k >= kDotMinK && static_cast<long>(n) * k * sizeof(float) <= kDotMaxBytes;
  // C = A B^T with both contiguous along K and B small enough for L2: dot products need no packing,
  // where packing (a transpose of B) would cost more than the arithmetic.
  if (tb && !ta && b_small) {
    ks.dot(m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    return;
  }
  // A narrow C (N well under a tile's NR: the logistic layer's 10 classes) would waste most of
  // every tile. With A row-major, transposing the small B makes it the dot-product form; with A
  // transposed, C^T = op(B)^T A is a GEMM whose narrow side is M, which the tiles' MR covers.
  if (n < NR / 2 && m >= 2 * n && !tb) {
    thread_local PackBuffer tbuf;
    if (!ta && b_small) {
      float* bt = tbuf.get(static_cast<size_t>(n) * k);
      for (int p = 0; p < k; ++p)
        for (int j = 0; j < n; ++j) bt[static_cast<long>(j) * k + p] = b[static_cast<long>(p) * ldb + j];
      ks.dot(m, n, k, alpha, a, lda, bt, k, beta, c, ldc);
      return;
    }
    if (ta) {
      // The inner call cannot come back here (its N is this M >= 2 N'), so tbuf is not reused
      // while this call holds it.
      float* ct = tbuf.get(static_cast<size_t>(n) * m);
      sgemm_builtin(ks, true, false, n, m, k, alpha, b, ldb, a, lda, 0.0f, ct, m);
      for (int i = 0; i < m; ++i) {
        float* ci = c + static_cast<long>(i) * ldc;
        for (int j = 0; j < n; ++j) {
          const float t = ct[static_cast<long>(j) * m + i];
          ci[j] = beta == 0.0f ? t : beta * ci[j] + t;  // beta 0: C not read (and -0 stays -0)
        }
      }
      return;
    }
  }
  // With few tiles of A per sliver of B (M small: LeNet5's 20 and 50 filters), packing B costs more
  // than reading it in place, which a row-major B allows (its slivers are NR contiguous floats per
  // row); the partial last sliver is still packed.
  const bool b_in_place = !tb && (static_cast<long>(m) + MR - 1) / MR <= kInPlaceMaxTiles;
  // Rounded up in 64 bits: M or N may be within a tile of INT_MAX.
  const int kc_max = std::min(ks.kc, k);
  const int nc_max = static_cast<int>(std::min<long>(ks.nc, (static_cast<long>(n) + NR - 1) / NR * NR));
  const int mc_max = static_cast<int>(std::min<long>(ks.mc, (static_cast<long>(m) + MR - 1) / MR * MR));
  thread_local PackBuffer bbuf, abuf;
  float* bpack = bbuf.get(static_cast<size_t>(kc_max) * nc_max);
  float* apack = abuf.get(static_cast<size_t>(kc_max) * mc_max);
  alignas(64) float edge[16 * 32];  // the largest tile (MR x NR <= 512)
  for (int jc = 0; jc < n; jc += ks.nc) {
    const int nc = std::min(ks.nc, n - jc);
    const int full = b_in_place ? nc / NR * NR : 0;  // columns read in place
    for (int pc = 0; pc < k; pc += ks.kc) {
      const int kc = std::min(ks.kc, k - pc);
      const float beta_k = pc == 0 ? beta : 1.0f;  // later K blocks accumulate onto the first
      if (full < nc) pack_b(b, ldb, tb, pc, kc, jc + full, nc - full, NR, ks.pack_bt, bpack);
      for (int ic = 0; ic < m; ic += ks.mc) {
        const int mc = std::min(ks.mc, m - ic);
        pack_a(a, lda, ta, ic, mc, pc, kc, MR, apack);
        for (int j0 = 0; j0 < nc; j0 += NR) {
          const int nr = std::min(NR, nc - j0);
          const bool direct = j0 < full;
          const float* bs = direct ? b + static_cast<long>(pc) * ldb + jc + j0 : bpack + static_cast<long>(j0 - full) * kc;
          const long bstride = direct ? ldb : NR;
          for (int i0 = 0; i0 < mc; i0 += MR) {
            const int mr = std::min(MR, mc - i0);
            const float* as = apack + static_cast<long>(i0) * kc;
            float* ct = c + static_cast<long>(ic + i0) * ldc + jc + j0;
            if (mr == MR && nr == NR) {
              ks.fn(kc, as, bs, bstride, ct, ldc, alpha, beta_k);
              continue;
            }
            // A partial tile: the same kernel on a full tile in `edge`, holding C's part when
            // beta_k is not 0, then the valid part copied back.
            if (beta_k != 0.0f) {
              std::memset(edge, 0, sizeof edge);
              for (int i = 0; i < mr; ++i) std::memcpy(edge + i * NR, ct + static_cast<long>(i) * ldc, nr * sizeof(float));
            }
            ks.fn(kc, as, bs, bstride, edge, NR, alpha, beta_k);
            for (int i = 0; i < mr; ++i) std::memcpy(ct + static_cast<long>(i) * ldc, edge + i * NR, nr * sizeof(float));
          }
        }
      }
    }
  }
}

}  // namespace

void sgemm(const Gemm& gemm, bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float* a, int lda,
           const float* b, int ldb, float beta, float* c, int ldc) {
#ifdef LENET_HAVE_OPENBLAS
  if (gemm.impl == GemmImpl::OpenBLAS) {
    if (m <= 0 || n <= 0) return;
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, m, n, k,
                alpha, a, lda, b, ldb, beta, c, ldc);
    return;
  }
#endif
  const KernelSpec* ks = detail::find_kernel(gemm.kernel);
  if (!ks || !detail::cpu_supports(gemm.kernel))
    throw Error(std::string("sgemm: the ") + kernel_name(gemm.kernel) + " micro-kernel cannot run on this CPU or build");
  sgemm_builtin(*ks, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

}  // namespace lenet::cpu
