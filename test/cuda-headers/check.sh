#!/usr/bin/env bash
# Checks native/cuda/api.h (our own declarations of the CUDA runtime, cuBLAS and cuDNN) against
# NVIDIA's real headers by compiling native/cuda/header_check.cc, whose static_asserts compare
# every enum value, struct layout and function signature. Nothing is linked or run.
#
# Usage: test/cuda-headers/check.sh [--require-all] [INCLUDE_DIR ...]
#   INCLUDE_DIR     folders searched first for cuda_runtime_api.h, cublas_v2.h, cudnn.h
#   --require-all   fail when the cuBLAS or cuDNN part is skipped for want of headers
#                   (use it on a machine that is expected to have them, e.g. with PyTorch)
# Then: $CUDA_HOME/include, $CUDA_PATH/include, the include folders of Python's NVIDIA wheels
# (site-packages/nvidia/{cuda_runtime,cublas,cudnn,cu13,cu12}/include, as pip's
# nvidia-*-cu12 / CUDA 13 packages and PyTorch install them), /usr/local/cuda/include.
# Compiler: $CXX, else g++, else clang++.
#
# Exit status: 0 PASS, 1 FAIL (a mismatch, or a part skipped under --require-all),
# 2 cannot check (no compiler, or no cuda_runtime_api.h anywhere).
set -u

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
src="$root/native/cuda/header_check.cc"

require_all=0
user_dirs=()
for arg in "$@"; do
  case "$arg" in
    --require-all) require_all=1 ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) user_dirs+=("$arg") ;;
  esac
done

cxx="${CXX:-}"
if [ -z "$cxx" ]; then
  for c in g++ clang++; do
    if command -v "$c" >/dev/null 2>&1; then cxx="$c"; break; fi
  done
fi
if [ -z "$cxx" ]; then
  echo "cuda-headers: cannot check: no C++ compiler (set CXX)"
  exit 2
fi

# --- candidate include folders, in priority order -------------------------------------------
candidates=("${user_dirs[@]}")
for var in CUDA_HOME CUDA_PATH; do
  if [ -n "${!var:-}" ]; then candidates+=("${!var}/include"); fi
done

# site-packages: what python3 reports, plus the usual places (no python3 needed).
sites=()
if command -v python3 >/dev/null 2>&1; then
  while IFS= read -r line; do
    [ -n "$line" ] && sites+=("$line")
  done < <(python3 -c "import sys; print('\n'.join(p for p in sys.path if p.endswith(('site-packages', 'dist-packages'))))" 2>/dev/null)
fi
shopt -s nullglob
for d in /usr/lib/python3*/dist-packages /usr/local/lib/python3*/dist-packages \
         /usr/local/lib/python3*/site-packages "${HOME:-/nonexistent}"/.local/lib/python3*/site-packages \
         "${VIRTUAL_ENV:-/nonexistent}"/lib/python3*/site-packages \
         "${CONDA_PREFIX:-/nonexistent}"/lib/python3*/site-packages; do
  sites+=("$d")
done
for s in "${sites[@]}"; do
  for pkg in cuda_runtime cublas cudnn cu13 cu12; do
    candidates+=("$s/nvidia/$pkg/include")
  done
done
candidates+=("/usr/local/cuda/include")

# Existing folders, each once.
dirs=()
declare -A seen=()
for d in "${candidates[@]}"; do
  [ -d "$d" ] || continue
  real="$(cd "$d" && pwd -P)"
  [ -n "${seen[$real]:-}" ] && continue
  seen[$real]=1
  dirs+=("$real")
done

find_header() {  # prints the first folder holding $1
  for d in "${dirs[@]}"; do
    if [ -f "$d/$1" ]; then echo "$d"; return 0; fi
  done
  return 1
}

rt_dir="$(find_header cuda_runtime_api.h)" || rt_dir=""
blas_dir="$(find_header cublas_v2.h)" || blas_dir=""
dnn_dir="$(find_header cudnn.h)" || dnn_dir=""

echo "cuda-headers: compiler: $cxx ($("$cxx" --version 2>/dev/null | head -n1))"
echo "cuda-headers: source:   $src"
if [ -z "$rt_dir" ]; then
  echo "cuda-headers: cannot check: no cuda_runtime_api.h in any of:"
  for d in "${candidates[@]}"; do echo "  $d"; done
  echo "cuda-headers: pass a folder that holds it, or set CUDA_HOME"
  exit 2
fi
echo "cuda-headers: CUDA runtime headers: $rt_dir/cuda_runtime_api.h"
if [ -n "$blas_dir" ]; then
  echo "cuda-headers: cuBLAS headers:       $blas_dir/cublas_v2.h"
else
  echo "cuda-headers: cuBLAS headers:       NOT FOUND -> the cuBLAS part will be SKIPPED"
fi
if [ -n "$dnn_dir" ]; then
  echo "cuda-headers: cuDNN headers:        $dnn_dir/cudnn.h"
else
  echo "cuda-headers: cuDNN headers:        NOT FOUND -> the cuDNN part will be SKIPPED"
fi

# The folders of the three headers first (so each library's own headers win), then the rest for
# what they include (cuda_fp16.h, library_types.h, ...).
incs=()
declare -A used=()
for d in "$rt_dir" "$blas_dir" "$dnn_dir" "${dirs[@]}"; do
  [ -n "$d" ] || continue
  [ -n "${used[$d]:-}" ] && continue
  used[$d]=1
  incs+=("-I$d")
done

log="$(mktemp)"
trap 'rm -f "$log"' EXIT
echo "cuda-headers: $cxx -std=c++17 -fsyntax-only ${incs[*]} $src"
LC_ALL=C "$cxx" -std=c++17 -fsyntax-only "${incs[@]}" "$src" >"$log" 2>&1
rc=$?

# The file reports each part it checked or skipped with #pragma message.
# GCC prints them as notes, clang as warnings; skip the echoed source lines.
parts="$(grep 'lenet header_check: ' "$log" | grep -v 'pragma message(' |
  sed -e 's/.*lenet header_check: /  /' -e "s/['’]*\$//" -e 's/ *\[-W#pragma-messages\]$//' | sort -u)"
echo "cuda-headers: parts:"
if [ -n "$parts" ]; then echo "$parts"; else echo "  (none reported)"; fi

if [ $rc -ne 0 ]; then
  echo "cuda-headers: mismatches / errors:"
  grep -E 'error|static assertion' "$log" | grep -v 'pragma message' | sed 's/^/  /' | head -n 60
  echo "cuda-headers: FAIL (the compiler's full output follows)"
  cat "$log"
  exit 1
fi

skipped="$(printf '%s\n' "$parts" | grep -c 'SKIPPED' || true)"
if [ "$require_all" -eq 1 ] && [ "$skipped" -gt 0 ]; then
  echo "cuda-headers: FAIL (--require-all, but $skipped part(s) were skipped for missing headers)"
  exit 1
fi
if [ "$skipped" -gt 0 ]; then
  echo "cuda-headers: PASS (with $skipped part(s) SKIPPED for missing headers; see above)"
else
  echo "cuda-headers: PASS (all parts checked)"
fi
exit 0
