// The built-in GEMM's micro-kernels (see gemm_kernels.h). Each is compiled for its instruction set
// with a target attribute, so one binary carries all of them and gemm.cc picks one at run time.
// The tiles are sized so that every accumulator lives in a register (AVX-512: 20 of 32 zmm; AVX2:
// 12 of 16 ymm; NEON: 24 of 32 q), plus the B vectors and one broadcast of A; the loops over the
// tile are fully unrolled so the compiler keeps them there (the inner loop has no stack access).
//
// Tile shapes: AVX-512 10 x 32 divides LeNet5's filter counts (20, 50) and its im2col widths
// (25, 500) by 10, so the small-M GEMMs of the convolutions have no partial tiles; AVX2 6 x 16 and
// NEON 8 x 12 are the usual register-file optima.
#include "gemm_kernels.h"

#include <algorithm>

#if defined(__x86_64__)
#include <immintrin.h>
#endif
#if defined(__aarch64__)
#include <arm_neon.h>
#endif

namespace lenet::cpu::detail {
namespace {

// Portable: plain C++ the compiler vectorizes for the baseline ISA (SSE2 on x86-64): 6 xmm
// accumulators (a 4 x 8 tile spills one: SSE2 has no FMA, so products need registers too).
constexpr int kGenericMR = 3, kGenericNR = 8;
void kernel_generic(int kc, const float* __restrict a, const float* __restrict b, long ldb, float* c, long ldc,
                    float alpha, float beta) {
  float acc[kGenericMR][kGenericNR] = {};
  for (int p = 0; p < kc; ++p) {
    for (int i = 0; i < kGenericMR; ++i) {
      const float ai = a[i];
      for (int j = 0; j < kGenericNR; ++j) acc[i][j] += ai * b[j];
    }
    a += kGenericMR;
    b += ldb;
  }
  for (int i = 0; i < kGenericMR; ++i) {
    float* ci = c + i * ldc;
    for (int j = 0; j < kGenericNR; ++j) ci[j] = beta == 0.0f ? alpha * acc[i][j] : alpha * acc[i][j] + beta * ci[j];
  }
}

// The dot-product form (see DotKernel), generically: 2 x 2 outputs at a time.
void dot_generic(int m, int n, int k, float alpha, const float* a, long lda, const float* b, long ldb, float beta,
                 float* c, long ldc) {
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) {
      const float* ai = a + i * lda;
      const float* bj = b + j * ldb;
      float acc[8] = {};
      int p = 0;
      for (; p + 8 <= k; p += 8)
        for (int q = 0; q < 8; ++q) acc[q] += ai[p + q] * bj[p + q];
      float sum = 0.0f;
      for (; p < k; ++p) sum += ai[p] * bj[p];
      for (int q = 0; q < 8; ++q) sum += acc[q];
      float* cij = c + i * ldc + j;
      *cij = beta == 0.0f ? alpha * sum : alpha * sum + beta * *cij;
    }
}

// The transposed pack (see PackTransposed), 8 columns of the sliver at a time so that the writes
// stay within a few cache lines.
void pack_bt_generic(const float* b, long ldb, int kc, int nr, int NR, float* sliver) {
  for (int p0 = 0; p0 < kc; p0 += 8) {
    const int pe = std::min(kc, p0 + 8);
    for (int j = 0; j < NR; ++j) {
      if (j < nr) {
        const float* src = b + j * ldb;
        for (int p = p0; p < pe; ++p) sliver[p * NR + j] = src[p];
      } else {
        for (int p = p0; p < pe; ++p) sliver[p * NR + j] = 0.0f;
      }
    }
  }
}

#if defined(__x86_64__) && defined(__GNUC__)
// GCC 12's AVX-512 intrinsics (unpack, shuffle, reduce) trip -Wmaybe-uninitialized inside its own
// header.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
// The transposed pack with 16 x 16 in-register transposes (unpack, shuffle, two lane shuffles):
// 16 rows of B x 16 values of K in, 16 rows of the sliver out; the edges go through the generic
// loop. Packing B^T is most of the cost of C = A B^T otherwise (the filter gradients).
__attribute__((target("avx512f"))) void pack_bt_avx512(const float* b, long ldb, int kc, int nr, int NR, float* sliver) {
  const int j16 = nr / 16 * 16, p16 = kc / 16 * 16;
  for (int j0 = 0; j0 < j16; j0 += 16) {
    for (int p0 = 0; p0 < p16; p0 += 16) {
      __m512 r[16], t[16];
#pragma GCC unroll 16
      for (int i = 0; i < 16; ++i) r[i] = _mm512_loadu_ps(b + (j0 + i) * ldb + p0);
#pragma GCC unroll 8
      for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
      }
#pragma GCC unroll 4
      for (int i = 0; i < 16; i += 4) {
        r[i] = _mm512_shuffle_ps(t[i], t[i + 2], 0x44);
        r[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], 0xEE);
        r[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0x44);
        r[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
      }
#pragma GCC unroll 4
      for (int i = 0; i < 4; ++i) {
        t[i] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0x88);
        t[i + 4] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0xDD);
        t[i + 8] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0x88);
        t[i + 12] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0xDD);
      }
#pragma GCC unroll 8
      for (int i = 0; i < 8; ++i) {
        // column i and column i + 8 of the 16 x 16 block (rows j0..j0+15 of the sliver's p)
        _mm512_storeu_ps(sliver + (p0 + i) * NR + j0, _mm512_shuffle_f32x4(t[i], t[i + 8], 0x88));
        _mm512_storeu_ps(sliver + (p0 + i + 8) * NR + j0, _mm512_shuffle_f32x4(t[i], t[i + 8], 0xDD));
      }
    }
    for (int i = 0; i < 16; ++i)
      for (int p = p16; p < kc; ++p) sliver[p * NR + j0 + i] = b[(j0 + i) * ldb + p];
  }
  // the columns past the last whole 16 (and the zero padding)
  for (int p = 0; p < kc; ++p)
    for (int j = j16; j < NR; ++j) sliver[p * NR + j] = j < nr ? b[j * ldb + p] : 0.0f;
}

// The dot-product form with 4 rows of A x 4 rows of B in 16 zmm accumulators, 16 floats of K per
// step (masked at the end of K), each reduced once.
__attribute__((target("avx512f"))) void dot_avx512(int m, int n, int k, float alpha, const float* a, long lda,
                                                   const float* b, long ldb, float beta, float* c, long ldc) {
  constexpr int RA = 4, RB = 4;
  const __mmask16 tail = static_cast<__mmask16>((1u << (k % 16)) - 1);
  const int kv = k / 16 * 16;
  for (int i0 = 0; i0 < m; i0 += RA) {
    const int mr = std::min(RA, m - i0);
    for (int j0 = 0; j0 < n; j0 += RB) {
      const int nr = std::min(RB, n - j0);
      // Rows past the edge repeat the last one (their sums are computed and dropped).
      const float* ar[RA];
      const float* br[RB];
      for (int r = 0; r < RA; ++r) ar[r] = a + (i0 + std::min(r, mr - 1)) * lda;
      for (int r = 0; r < RB; ++r) br[r] = b + (j0 + std::min(r, nr - 1)) * ldb;
      __m512 acc[RA][RB];
#pragma GCC unroll 32
      for (int x = 0; x < RA * RB; ++x) acc[x / RB][x % RB] = _mm512_setzero_ps();
      for (int p = 0; p < kv; p += 16) {
        __m512 av[RA], bv[RB];
#pragma GCC unroll 8
        for (int r = 0; r < RA; ++r) av[r] = _mm512_loadu_ps(ar[r] + p);
#pragma GCC unroll 8
        for (int r = 0; r < RB; ++r) bv[r] = _mm512_loadu_ps(br[r] + p);
#pragma GCC unroll 32
        for (int x = 0; x < RA * RB; ++x) acc[x / RB][x % RB] = _mm512_fmadd_ps(av[x / RB], bv[x % RB], acc[x / RB][x % RB]);
      }
      if (tail) {
        __m512 av[RA], bv[RB];
#pragma GCC unroll 8
        for (int r = 0; r < RA; ++r) av[r] = _mm512_maskz_loadu_ps(tail, ar[r] + kv);
#pragma GCC unroll 8
        for (int r = 0; r < RB; ++r) bv[r] = _mm512_maskz_loadu_ps(tail, br[r] + kv);
#pragma GCC unroll 32
        for (int x = 0; x < RA * RB; ++x) acc[x / RB][x % RB] = _mm512_fmadd_ps(av[x / RB], bv[x % RB], acc[x / RB][x % RB]);
      }
      for (int r = 0; r < mr; ++r)
        for (int q = 0; q < nr; ++q) {
          const float sum = _mm512_reduce_add_ps(acc[r][q]);
          float* cij = c + (i0 + r) * ldc + j0 + q;
          *cij = beta == 0.0f ? alpha * sum : alpha * sum + beta * *cij;
        }
    }
  }
}

// The same with 8-float ymm steps; the tail of K is done in scalar.
__attribute__((target("avx2,fma"))) void dot_avx2(int m, int n, int k, float alpha, const float* a, long lda,
                                                  const float* b, long ldb, float beta, float* c, long ldc) {
  constexpr int R = 3;
  const int kv = k / 8 * 8;
  for (int i0 = 0; i0 < m; i0 += R) {
    const int mr = std::min(R, m - i0);
    for (int j0 = 0; j0 < n; j0 += R) {
      const int nr = std::min(R, n - j0);
      const float* ar[R];
      const float* br[R];
      for (int r = 0; r < R; ++r) {
        ar[r] = a + (i0 + std::min(r, mr - 1)) * lda;
        br[r] = b + (j0 + std::min(r, nr - 1)) * ldb;
      }
      __m256 acc[R][R];
#pragma GCC unroll 16
      for (int x = 0; x < R * R; ++x) acc[x / R][x % R] = _mm256_setzero_ps();
      for (int p = 0; p < kv; p += 8) {
        __m256 av[R], bv[R];
#pragma GCC unroll 4
        for (int r = 0; r < R; ++r) av[r] = _mm256_loadu_ps(ar[r] + p), bv[r] = _mm256_loadu_ps(br[r] + p);
#pragma GCC unroll 16
        for (int x = 0; x < R * R; ++x) acc[x / R][x % R] = _mm256_fmadd_ps(av[x / R], bv[x % R], acc[x / R][x % R]);
      }
      for (int r = 0; r < mr; ++r)
        for (int q = 0; q < nr; ++q) {
          alignas(32) float lanes[8];
          _mm256_store_ps(lanes, acc[r][q]);
          float sum = ((lanes[0] + lanes[4]) + (lanes[1] + lanes[5])) + ((lanes[2] + lanes[6]) + (lanes[3] + lanes[7]));
          for (int p = kv; p < k; ++p) sum += ar[r][p] * br[q][p];
          float* cij = c + (i0 + r) * ldc + j0 + q;
          *cij = beta == 0.0f ? alpha * sum : alpha * sum + beta * *cij;
        }
    }
  }
}

constexpr int kAvx512MR = 10;
__attribute__((target("avx512f"))) void kernel_avx512(int kc, const float* __restrict a, const float* __restrict b,
                                                      long ldb, float* c, long ldc, float alpha, float beta) {
  __m512 acc0[kAvx512MR], acc1[kAvx512MR];
#pragma GCC unroll 16
  for (int i = 0; i < kAvx512MR; ++i) acc0[i] = acc1[i] = _mm512_setzero_ps();
  for (int p = 0; p < kc; ++p) {
    const __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16);
#pragma GCC unroll 16
    for (int i = 0; i < kAvx512MR; ++i) {
      const __m512 ai = _mm512_set1_ps(a[i]);
      acc0[i] = _mm512_fmadd_ps(ai, b0, acc0[i]);
      acc1[i] = _mm512_fmadd_ps(ai, b1, acc1[i]);
    }
    a += kAvx512MR;
    b += ldb;
  }
  const __m512 va = _mm512_set1_ps(alpha);
  if (beta == 0.0f) {
#pragma GCC unroll 16
    for (int i = 0; i < kAvx512MR; ++i) {
      _mm512_storeu_ps(c + i * ldc, _mm512_mul_ps(va, acc0[i]));
      _mm512_storeu_ps(c + i * ldc + 16, _mm512_mul_ps(va, acc1[i]));
    }
  } else {
    const __m512 vb = _mm512_set1_ps(beta);
#pragma GCC unroll 16
    for (int i = 0; i < kAvx512MR; ++i) {
      float* ci = c + i * ldc;
      _mm512_storeu_ps(ci, _mm512_fmadd_ps(va, acc0[i], _mm512_mul_ps(vb, _mm512_loadu_ps(ci))));
      _mm512_storeu_ps(ci + 16, _mm512_fmadd_ps(va, acc1[i], _mm512_mul_ps(vb, _mm512_loadu_ps(ci + 16))));
    }
  }
}

constexpr int kAvx2MR = 6;
__attribute__((target("avx2,fma"))) void kernel_avx2(int kc, const float* __restrict a, const float* __restrict b,
                                                     long ldb, float* c, long ldc, float alpha, float beta) {
  __m256 acc0[kAvx2MR], acc1[kAvx2MR];
#pragma GCC unroll 16
  for (int i = 0; i < kAvx2MR; ++i) acc0[i] = acc1[i] = _mm256_setzero_ps();
  for (int p = 0; p < kc; ++p) {
    const __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
#pragma GCC unroll 16
    for (int i = 0; i < kAvx2MR; ++i) {
      const __m256 ai = _mm256_broadcast_ss(a + i);
      acc0[i] = _mm256_fmadd_ps(ai, b0, acc0[i]);
      acc1[i] = _mm256_fmadd_ps(ai, b1, acc1[i]);
    }
    a += kAvx2MR;
    b += ldb;
  }
  const __m256 va = _mm256_set1_ps(alpha);
  if (beta == 0.0f) {
#pragma GCC unroll 16
    for (int i = 0; i < kAvx2MR; ++i) {
      _mm256_storeu_ps(c + i * ldc, _mm256_mul_ps(va, acc0[i]));
      _mm256_storeu_ps(c + i * ldc + 8, _mm256_mul_ps(va, acc1[i]));
    }
  } else {
    const __m256 vb = _mm256_set1_ps(beta);
#pragma GCC unroll 16
    for (int i = 0; i < kAvx2MR; ++i) {
      float* ci = c + i * ldc;
      _mm256_storeu_ps(ci, _mm256_fmadd_ps(va, acc0[i], _mm256_mul_ps(vb, _mm256_loadu_ps(ci))));
      _mm256_storeu_ps(ci + 8, _mm256_fmadd_ps(va, acc1[i], _mm256_mul_ps(vb, _mm256_loadu_ps(ci + 8))));
    }
  }
}
#endif

#if defined(__aarch64__)
constexpr int kNeonMR = 8;
// One row of the tile: acc{0,1,2} += b{0,1,2} * lane L of av (a[i] with A loaded 4 floats at a
// time: 24 accumulators + 3 B vectors + 2 A vectors = 29 of 32 q registers; 8 scalar broadcasts
// of A would need 35, and GCC spills three accumulators).
template <int L>
inline void neon_row(float32x4_t& c0, float32x4_t& c1, float32x4_t& c2, float32x4_t b0, float32x4_t b1,
                     float32x4_t b2, float32x4_t av) {
  c0 = vfmaq_laneq_f32(c0, b0, av, L);
  c1 = vfmaq_laneq_f32(c1, b1, av, L);
  c2 = vfmaq_laneq_f32(c2, b2, av, L);
}
void kernel_neon(int kc, const float* __restrict a, const float* __restrict b, long ldb, float* c, long ldc,
                 float alpha, float beta) {
  float32x4_t acc0[kNeonMR], acc1[kNeonMR], acc2[kNeonMR];
#pragma GCC unroll 16
  for (int i = 0; i < kNeonMR; ++i) acc0[i] = acc1[i] = acc2[i] = vdupq_n_f32(0.0f);
  for (int p = 0; p < kc; ++p) {
    const float32x4_t b0 = vld1q_f32(b), b1 = vld1q_f32(b + 4), b2 = vld1q_f32(b + 8);
    const float32x4_t a0 = vld1q_f32(a), a1 = vld1q_f32(a + 4);
    neon_row<0>(acc0[0], acc1[0], acc2[0], b0, b1, b2, a0);
    neon_row<1>(acc0[1], acc1[1], acc2[1], b0, b1, b2, a0);
    neon_row<2>(acc0[2], acc1[2], acc2[2], b0, b1, b2, a0);
    neon_row<3>(acc0[3], acc1[3], acc2[3], b0, b1, b2, a0);
    neon_row<0>(acc0[4], acc1[4], acc2[4], b0, b1, b2, a1);
    neon_row<1>(acc0[5], acc1[5], acc2[5], b0, b1, b2, a1);
    neon_row<2>(acc0[6], acc1[6], acc2[6], b0, b1, b2, a1);
    neon_row<3>(acc0[7], acc1[7], acc2[7], b0, b1, b2, a1);
    a += kNeonMR;
    b += ldb;
  }
#pragma GCC unroll 16
  for (int i = 0; i < kNeonMR; ++i) {
    float* ci = c + i * ldc;
    float32x4_t r0 = vmulq_n_f32(acc0[i], alpha), r1 = vmulq_n_f32(acc1[i], alpha), r2 = vmulq_n_f32(acc2[i], alpha);
    if (beta != 0.0f) {
      r0 = vfmaq_n_f32(r0, vld1q_f32(ci), beta);
      r1 = vfmaq_n_f32(r1, vld1q_f32(ci + 4), beta);
      r2 = vfmaq_n_f32(r2, vld1q_f32(ci + 8), beta);
    }
    vst1q_f32(ci, r0);
    vst1q_f32(ci + 4, r1);
    vst1q_f32(ci + 8, r2);
  }
}
#endif

// kc: a KC x NR panel of B within about half of a 32 KiB L1; mc: an MC x KC block of A well within
// L2; nc: a multiple of NR, so only the matrix's own last columns make partial tiles.
constexpr KernelSpec kKernels[] = {
#if defined(__x86_64__) && defined(__GNUC__)
    {GemmKernel::Avx512, "avx512", kAvx512MR, 32, 256, 120, 3072, kernel_avx512, dot_avx512, pack_bt_avx512},
    {GemmKernel::Avx2, "avx2", kAvx2MR, 16, 256, 120, 3072, kernel_avx2, dot_avx2, pack_bt_generic},
#endif
#if defined(__aarch64__)
    {GemmKernel::Neon, "neon", kNeonMR, 12, 256, 128, 3072, kernel_neon, dot_generic, pack_bt_generic},
#endif
    {GemmKernel::Generic, "generic", kGenericMR, kGenericNR, 256, 126, 2048, kernel_generic, dot_generic, pack_bt_generic},
};

// The driver packs MC rows of A and NC columns of B in whole slivers: both must be multiples of
// the tile (a generic MC of 128 with MR = 3 once wrote a sliver past its buffer).
constexpr bool blocks_are_whole_tiles() {
  for (const KernelSpec& s : kKernels)
    if (s.mc % s.mr != 0 || s.nc % s.nr != 0 || s.mr * s.nr > 512) return false;  // 512: gemm.cc's edge tile
  return true;
}
static_assert(blocks_are_whole_tiles(), "every kernel's MC and NC must be multiples of its MR and NR, and its tile fit 512 floats");

}  // namespace

const KernelSpec* find_kernel(GemmKernel k) {
  for (const KernelSpec& s : kKernels)
    if (s.id == k) return &s;
  return nullptr;
}

bool cpu_supports(GemmKernel k) {
  if (!find_kernel(k)) return false;
  switch (k) {
#if defined(__x86_64__) && defined(__GNUC__)
    case GemmKernel::Avx512:
      return __builtin_cpu_supports("avx512f");
    case GemmKernel::Avx2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
    default:
      return true;  // NEON is part of every aarch64 CPU; generic runs anywhere
  }
}

}  // namespace lenet::cpu::detail
