#!/usr/bin/env bash
# `npm run sanitize`: builds the addon with AddressSanitizer and UndefinedBehaviorSanitizer into
# build-asan/ (cmake-js, -DLENET_SANITIZE=ON) and runs the CPU test suite against it. Every report
# is a defect: the first one stops the run (halt_on_error) and fails this script.
#
# Node.js itself is not instrumented, so the sanitizer runtimes are preloaded (LD_PRELOAD) into
# every node process, jest's workers and the children the tests start included; LENET_ADDON
# points them all at the instrumented addon. Leak detection is off: Node.js keeps allocations
# until exit that LeakSanitizer would report as its own. allocator_may_return_null lets the
# tests of too-large allocations see the out-of-memory error they expect.
#
# Left out, and why: suites that need a GPU or NVIDIA's libraries (cuda-*, gpu-proof; skipped
# here anyway), that build their own binaries (gemm-native: it runs its own ASan/UBSan build),
# that load other native code (parity: TensorFlow.js's WASM backend), and the suites that only
# start many child processes for the CLI, its terminal, the HTTP example, the README's examples,
# the install script and the package layout (cli*, terminal, http-service, readme, build-native,
# addon, exports): their native calls are the ones the in-process suites make.
# Arguments go to jest (e.g. `npm run sanitize -- test/ops.test.ts`).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v g++ >/dev/null; then
  echo "sanitize: g++ is needed (the sanitizer runtimes are GCC's libasan and libubsan)" >&2
  exit 2
fi
asan=$(g++ -print-file-name=libasan.so)
ubsan=$(g++ -print-file-name=libubsan.so)
for lib in "$asan" "$ubsan"; do
  if [ ! -e "$lib" ]; then
    echo "sanitize: $lib not found; install GCC's sanitizer runtimes (Debian: libasan8, libubsan1)" >&2
    exit 2
  fi
done

echo "== building the addon with -fsanitize=address,undefined into build-asan/"
# One summary line on success; the build's log on failure (scripts/build-native.js).
node scripts/build-native.js --out build-asan --CDLENET_SANITIZE=ON
addon=$PWD/build-asan/Release/lenet_cudnn.node
[ -f "$addon" ] || { echo "sanitize: the build did not produce $addon" >&2; exit 1; }

echo "== the CPU test suite against $addon"
export LENET_ADDON=$addon
export LD_PRELOAD="$asan $ubsan${LD_PRELOAD:+ $LD_PRELOAD}"
export ASAN_OPTIONS=detect_leaks=0:halt_on_error=1:abort_on_error=1:allocator_may_return_null=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# One worker per core, as npm test runs; a sanitized addon is several times slower.
# "$@" first: --testPathIgnorePatterns takes every argument after it as another pattern.
exec npx jest "$@" --testPathIgnorePatterns '/test/(cuda-[^/]*|gpu-proof|gemm-native|parity|cli[^/]*|terminal|http-service|addon|exports|readme|build-native)\.test\.ts$'
