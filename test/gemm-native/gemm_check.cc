// The built-in SGEMM (native/cpu/gemm.cc) on its own, outside the addon, against a double-precision
// reference: every micro-kernel given on the command line (default: every one this CPU runs), over
// edges of M, N and K, all transposes, three alpha/beta cases (beta 0 over NaN), tight and padded
// leading dimensions with a sentinel in C's padding that must survive, and LeNet5's shapes.
// test/gemm-native.test.ts builds it natively and, where a cross compiler and qemu exist, for
// aarch64, which is how the NEON kernel is tested on an x86 machine. Prints ALL PASS or SOME FAILED.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "native/cpu/gemm.h"

using lenet::cpu::Gemm;
using lenet::cpu::GemmImpl;
using lenet::cpu::GemmKernel;

namespace {

constexpr double kEps = 1.19e-7;
const float kSentinel = -12345.0f;

struct Worst {
  double ratio = 0, err = 0, ref = 0, got = 0;
  std::string where;
};

struct Stats {
  long cases = 0, failed_cases = 0, bad_elems = 0, sentinel_clobbered = 0;
  Worst worst;
};

std::mt19937 rng(12345);
float urand() { return std::uniform_real_distribution<float>(-1.0f, 1.0f)(rng); }

// One call: op(A) [m,k], op(B) [k,n], C [m,n]; pad adds to every leading dimension (padding of C is
// filled with a sentinel that must survive).
void run_case(GemmKernel kern, Stats& st, bool ta, bool tb, int m, int n, int k, float alpha, float beta, bool nan_c,
              int pad) {
  const int a_rows = ta ? k : m, a_cols = ta ? m : k;
  const int b_rows = tb ? n : k, b_cols = tb ? k : n;
  const int lda = a_cols + pad, ldb = b_cols + pad, ldc = n + pad;
  std::vector<float> A(static_cast<size_t>(a_rows) * lda), B(static_cast<size_t>(b_rows) * ldb),
      C(static_cast<size_t>(m) * ldc + 16, kSentinel);
  for (auto& x : A) x = urand();
  for (auto& x : B) x = urand();
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) C[static_cast<size_t>(i) * ldc + j] = nan_c ? std::numeric_limits<float>::quiet_NaN() : urand();
  std::vector<float> C0 = C;

  lenet::cpu::sgemm(Gemm{GemmImpl::Builtin, kern}, ta, tb, m, n, k, alpha, A.data(), lda, B.data(), ldb, beta, C.data(),
                    ldc);
  st.cases++;
  bool case_bad = false;
  const double tol_abs = 2.0 * k * kEps * (std::fabs(alpha) + std::fabs(beta));
  for (int i = 0; i < m; ++i) {
    for (int j = 0; j < n; ++j) {
      double s = 0;
      for (int p = 0; p < k; ++p) {
        const double av = ta ? A[static_cast<size_t>(p) * lda + i] : A[static_cast<size_t>(i) * lda + p];
        const double bv = tb ? B[static_cast<size_t>(j) * ldb + p] : B[static_cast<size_t>(p) * ldb + j];
        s += av * bv;
      }
      double ref = alpha * s;
      if (beta != 0.0f) ref += static_cast<double>(beta) * C0[static_cast<size_t>(i) * ldc + j];
      const double got = C[static_cast<size_t>(i) * ldc + j];
      const double err = std::fabs(got - ref);
      const double tol = tol_abs + 8.0 * kEps * std::fabs(ref);
      const double ratio = std::isnan(err) ? INFINITY : err / tol;
      if (!(err <= tol)) {
        st.bad_elems++;
        if (!case_bad && st.failed_cases < 8)
          std::printf("  FAIL %s ta=%d tb=%d m=%d n=%d k=%d alpha=%g beta=%g pad=%d at (%d,%d): got %.9g ref %.9g\n",
                      lenet::cpu::kernel_name(kern), ta, tb, m, n, k, alpha, beta, pad, i, j, got, ref);
        case_bad = true;
      }
      if (ratio > st.worst.ratio) {
        char buf[200];
        std::snprintf(buf, sizeof buf, "ta=%d tb=%d m=%d n=%d k=%d alpha=%g beta=%g pad=%d (%d,%d)", ta, tb, m, n, k,
                      alpha, beta, pad, i, j);
        st.worst = {ratio, err, ref, got, buf};
      }
    }
    for (int j = n; j < ldc; ++j)
      if (C[static_cast<size_t>(i) * ldc + j] != kSentinel) st.sentinel_clobbered++, case_bad = true;
  }
  for (size_t x = static_cast<size_t>(m) * ldc; x < C.size(); ++x)
    if (C[x] != kSentinel) st.sentinel_clobbered++, case_bad = true;
  if (case_bad) st.failed_cases++;
}

bool test_kernel(GemmKernel kern) {
  Stats st;
  const int Ms[] = {1, 7, 8, 9, 19, 50}, Ns[] = {1, 11, 12, 13, 37, 500}, Ks[] = {1, 7, 64, 257, 515};
  struct AB { float alpha, beta; bool nan_c; } abs_[] = {{1, 0, true}, {1, 1, false}, {0.75f, 0.5f, false}};
  for (int pad : {0, 3})
    for (int m : Ms)
      for (int n : Ns)
        for (int k : Ks)
          for (int t = 0; t < 4; ++t)
            for (const AB& ab : abs_) run_case(kern, st, t & 1, t & 2, m, n, k, ab.alpha, ab.beta, ab.nan_c, pad);
  struct Shape { int m, n, k; bool ta, tb; } shapes[] = {
      {250, 10, 500, false, false}, {500, 10, 250, true, false}, {20, 25, 1152, false, true}, {50, 1536, 500, false, false}};
  for (const Shape& s : shapes)
    for (int pad : {0, 3})
      for (const AB& ab : abs_) run_case(kern, st, s.ta, s.tb, s.m, s.n, s.k, ab.alpha, ab.beta, ab.nan_c, pad);
  const bool ok = st.failed_cases == 0;
  std::printf("%-8s %s: %ld cases, %ld failed, %ld bad elements, %ld sentinel clobbers; worst err/tol = %.4g "
              "(|err| %.3g, ref %.9g, got %.9g at %s)\n",
              lenet::cpu::kernel_name(kern), ok ? "PASS" : "FAIL", st.cases, st.failed_cases, st.bad_elems,
              st.sentinel_clobbered, st.worst.ratio, st.worst.err, st.worst.ref, st.worst.got, st.worst.where.c_str());
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  bool ok = true;
  std::printf("supported_kernels():");
  for (GemmKernel k : lenet::cpu::supported_kernels()) std::printf(" %s", lenet::cpu::kernel_name(k));
  std::printf("\nbest_kernel(): %s\n", lenet::cpu::kernel_name(lenet::cpu::best_kernel()));
  std::printf("gemm_description(default): %s\n", lenet::cpu::gemm_description(lenet::cpu::default_gemm()).c_str());
#if defined(__aarch64__)
  {
    auto ks = lenet::cpu::supported_kernels();
    const bool first = !ks.empty() && ks.front() == GemmKernel::Neon;
    const bool best = lenet::cpu::best_kernel() == GemmKernel::Neon;
    std::printf("aarch64: Neon first in supported_kernels(): %s; best_kernel() == Neon: %s\n", first ? "yes" : "NO",
                best ? "yes" : "NO");
    ok = ok && first && best;
  }
  std::vector<GemmKernel> kernels = {GemmKernel::Neon, GemmKernel::Generic};
#else
  std::vector<GemmKernel> kernels;
  for (GemmKernel k : lenet::cpu::supported_kernels()) kernels.push_back(k);
#endif
  for (int i = 1; i < argc; ++i) kernels = {lenet::cpu::kernel_from_name(argv[i])};
  for (GemmKernel k : kernels) ok = test_kernel(k) && ok;
  std::printf("%s\n", ok ? "ALL PASS" : "SOME FAILED");
  return ok ? 0 : 1;
}
