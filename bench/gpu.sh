#!/usr/bin/env bash
# `npm run bench:gpu`: the one-shot GPU proof. Everything a GPU machine has to run, in one call that
# fits in 8 minutes on an H200 (no npm or network needed there: only `node`, the packed build
# outputs and, for stage 5, PyTorch's Python):
#   1. GPU, driver, runtime, cuBLAS, cuDNN versions and the libraries the loader chose
#   2. native/cuda/api.h against the NVIDIA headers of PyTorch's pip packages (--require-all)
#   3. the whole jest suite; fails on any failure or any CUDA test skipped
#   4. the tutorial's 200-epoch reproduction on CUDA (node lib/train.js --device cuda)
#   5. the same recipe in PyTorch on the same GPU (bench/torch_lenet.py --device cuda); ours / theirs
#   6. the results file bench/results/gpu-<gpu name>.md (copied into the out folder)
# Each stage runs even when an earlier one failed; its output goes to OUT/gpu.log between a header
# line and a footer with its exit status. Stages pass data to each other through files in a
# temporary work folder, so a failed stage leaves the others their inputs.
#
# Usage: bash bench/gpu.sh [--dry-run] [--out DIR] [--epochs N] [--torch-epochs N] [--budget S]
#   --dry-run         check the script on a machine without a GPU: CPU backend, one epoch on a
#                     cut-down MNIST copy, PyTorch on the CPU (skipped when not importable), one
#                     jest file, header check without --require-all; the results file goes to
#                     the out folder, not bench/results
#   --out DIR         where the outputs go (default: $OUT if set, else bench/out/gpu)
#   --epochs N        epochs of the reproduction (default 200; dry run 1)
#   --torch-epochs N  epochs of PyTorch's run (default 20: enough for a per-epoch time)
#   --budget S        seconds for all stages (default 450, dry run 900); each stage's limit shrinks so that
#                     the later ones keep theirs, but every stage gets at least 30 s
# Env: PYTHON, the interpreter with torch (default /opt/torch/.venv/bin/python3 if it exists, else
# python3; for stage 5 also /usr/bin/python3 when those cannot import torch).
# Outputs (at most 8 files come back from a GPU machine): gpu.log, jest.json, curves-<device>.svg,
# figures.json, gpu-<gpu name>.md. Exit status: 0 when every stage passed, else 1.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 1

DRY=0
OUT_DIR=
EPOCHS=
TORCH_EPOCHS=20
BUDGET=
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) DRY=1 ;;
    --out) OUT_DIR=${2:?--out needs a folder}; shift ;;
    --out=*) OUT_DIR=${1#--out=} ;;
    --epochs) EPOCHS=${2:?--epochs needs a number}; shift ;;
    --torch-epochs) TORCH_EPOCHS=${2:?--torch-epochs needs a number}; shift ;;
    --budget) BUDGET=${2:?--budget needs seconds}; shift ;;
    -h|--help) sed -n '2,/^set -uo/p' "$0" | sed '$d'; exit 0 ;;
    *) echo "gpu.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done
[ -n "$OUT_DIR" ] || OUT_DIR=${OUT:-$ROOT/bench/out/gpu}
mkdir -p "$OUT_DIR" || exit 1
OUT_DIR=$(cd "$OUT_DIR" && pwd)
DRY_ARG=
[ "$DRY" -eq 1 ] && DRY_ARG=--dry-run
[ "$DRY" -eq 1 ] && [ -z "$EPOCHS" ] && EPOCHS=1
# 8 minutes on the GPU machine, with room for unpacking; a dry run has no such limit but a slow CPU.
[ -n "$BUDGET" ] || { [ "$DRY" -eq 1 ] && BUDGET=900 || BUDGET=450; }

# Only what this script writes is cleared: a shared $OUT may hold other files.
rm -f "$OUT_DIR/gpu.log" "$OUT_DIR/jest.json" "$OUT_DIR/figures.json" "$OUT_DIR"/curves-*.svg "$OUT_DIR"/gpu-*.md
LOG=$OUT_DIR/gpu.log
WORK=$(mktemp -d "${TMPDIR:-/tmp}/lenet-gpu.XXXXXX") || exit 1
trap 'rm -rf "$WORK"' EXIT
: > "$WORK/stages.tsv"
DEADLINE=$((SECONDS + BUDGET))

say() { echo "$*" | tee -a "$LOG"; }

# Seconds a stage may take: `want`, less if that would eat into `reserve` seconds kept for the
# stages after it; never under 30 (every stage runs, even past the budget).
cap() {
  local want=$1 reserve=$2 left
  left=$((DEADLINE - SECONDS - reserve))
  [ "$left" -lt "$want" ] && want=$left
  [ "$want" -lt 30 ] && want=30
  echo "$want"
}

# Runs "$@" with a time limit (when coreutils' timeout exists), saying so when it hits. Its own
# lines go to stderr: the command's stdout may be data (PyTorch's JSON).
limited() {
  local secs=$1 rc
  shift
  echo "+ $* (time limit ${secs} s)" >&2
  if command -v timeout >/dev/null 2>&1; then
    timeout -k 15 "$secs" "$@"
    rc=$?
    if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then echo "TIMED OUT after ${secs} s (exit $rc)" >&2; fi
    return "$rc"
  fi
  "$@"
}

FAILED=()
run_stage() {  # run_stage N TITLE FUNCTION
  local n=$1 title=$2 fn=$3 t0=$SECONDS rc secs verdict
  say ""
  say "===== stage $n/6: $title ====="
  "$fn" 2>&1 | tee -a "$LOG"
  rc=${PIPESTATUS[0]}
  secs=$((SECONDS - t0))
  if [ "$rc" -eq 0 ]; then verdict=PASS; else verdict=FAIL; FAILED+=("$n"); fi
  local note=
  [ -f "$WORK/note$n" ] && note=$(head -c 300 "$WORK/note$n" | tr '\t\n' '  ' | sed 's/ *$//')
  printf '%s\t%s\t%s\t%s\t%s\n' "$n" "$title" "$rc" "$secs" "$note" >> "$WORK/stages.tsv"
  say "===== stage $n/6: $title: $verdict (exit $rc, ${secs} s) ====="
}

# Python: $PYTHON, else PyTorch's venv on the GPU machines, else python3.
if [ -n "${PYTHON:-}" ]; then PY=$PYTHON
elif [ -x /opt/torch/.venv/bin/python3 ]; then PY=/opt/torch/.venv/bin/python3
else PY=python3
fi

# --- stage 1 -------------------------------------------------------------------------------
stage_info() {
  local rc=0
  node bench/gpu.js info "$WORK/info.json" $DRY_ARG || rc=1
  echo
  if command -v nvidia-smi >/dev/null 2>&1; then
    nvidia-smi
    nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv,noheader > "$WORK/nvidia-smi.csv" 2>&1
    echo "nvidia-smi --query-gpu: $(cat "$WORK/nvidia-smi.csv")"
  else
    echo "nvidia-smi: not found"
  fi
  [ "$DRY" -eq 0 ] && [ "$rc" -ne 0 ] && echo "FAIL: CUDA is not usable here (see the reason above)"
  return "$rc"
}

# --- stage 2 -------------------------------------------------------------------------------
# Include folders of NVIDIA's pip wheels (nvidia/<pkg>/include), from what the interpreter reports
# and from plain globs (the interpreter may be absent or another one).
include_dirs() {
  local sites=() s d
  if command -v "$PY" >/dev/null 2>&1; then
    while IFS= read -r s; do [ -n "$s" ] && sites+=("$s"); done < <("$PY" -c '
import site, sys
ps = list(getattr(site, "getsitepackages", lambda: [])()) + [site.getusersitepackages()]
ps += [p for p in sys.path if p.endswith(("site-packages", "dist-packages"))]
print("\n".join(ps))' 2>/dev/null)
  fi
  shopt -s nullglob
  sites+=(/opt/torch/.venv/lib/python3*/site-packages /usr/local/lib/python3*/site-packages
          /usr/local/lib/python3*/dist-packages /usr/lib/python3/dist-packages /usr/lib/python3*/site-packages
          "${VIRTUAL_ENV:-/nonexistent}"/lib/python3*/site-packages "${CONDA_PREFIX:-/nonexistent}"/lib/python3*/site-packages)
  for s in "${sites[@]}"; do
    for d in "$s"/nvidia/*/include; do [ -d "$d" ] && (cd "$d" && pwd -P); done
  done | awk '!seen[$0]++'
  shopt -u nullglob
}

header_versions() {  # the versions the headers in folder $1 declare
  local d=$1 out=()
  [ -f "$d/cuda_runtime_api.h" ] && out+=("cuda_runtime_api.h CUDART_VERSION $(grep -m1 -E '#define CUDART_VERSION' "$d/cuda_runtime_api.h" | awk '{print $3}')")
  [ -f "$d/cublas_api.h" ] && out+=("cublas_api.h $(grep -E '#define CUBLAS_VER_(MAJOR|MINOR|PATCH) ' "$d/cublas_api.h" | awk '{print $3}' | paste -sd. -)")
  [ -f "$d/cudnn_version.h" ] && out+=("cudnn_version.h $(grep -E '#define CUDNN_(MAJOR|MINOR|PATCHLEVEL) ' "$d/cudnn_version.h" | awk '{print $3}' | paste -sd. -)")
  [ -f "$d/cublas_v2.h" ] && out+=("cublas_v2.h")
  [ -f "$d/cudnn.h" ] && out+=("cudnn.h")
  local IFS=';'
  echo "${out[*]:-no CUDA runtime, cuBLAS or cuDNN headers}"
}

stage_headers() {
  local dirs=() d args=() rc
  echo "python for site-packages: $PY"
  while IFS= read -r d; do dirs+=("$d"); done < <(include_dirs)
  printf '%s\n' "${dirs[@]}" > "$WORK/include-dirs.txt"
  echo "NVIDIA wheel include folders found: ${#dirs[@]}"
  for d in "${dirs[@]}"; do echo "  $d: $(header_versions "$d")"; done
  [ -d /usr/local/cuda/include ] && echo "  /usr/local/cuda/include: $(header_versions /usr/local/cuda/include)"
  [ "$DRY" -eq 0 ] && args+=(--require-all)
  bash test/cuda-headers/check.sh "${args[@]}" "${dirs[@]}" 2>&1 | tee "$WORK/headers.log"
  rc=${PIPESTATUS[0]}
  return "$rc"
}

# --- stage 3 -------------------------------------------------------------------------------
stage_jest() {
  local args=(--json "--outputFile=$OUT_DIR/jest.json" --forceExit) jrc src d
  # test/cuda-build.test.ts runs the header check only where CUDA_HOME, CUDA_PATH or
  # /usr/local/cuda has cuda_runtime_api.h; point CUDA_HOME at the pip wheel's when none does,
  # so that the check is not skipped on a machine whose CUDA comes from PyTorch.
  if [ -z "${CUDA_HOME:-}${CUDA_PATH:-}" ] && [ ! -f /usr/local/cuda/include/cuda_runtime_api.h ] && [ -f "$WORK/include-dirs.txt" ]; then
    while IFS= read -r d; do
      if [ -f "$d/cuda_runtime_api.h" ]; then export CUDA_HOME=${d%/include}; echo "CUDA_HOME=$CUDA_HOME (for the header check in test/cuda-build.test.ts)"; break; fi
    done < "$WORK/include-dirs.txt"
  fi
  # A dry run runs one quick file: the whole suite contains test/gpu-proof.test.ts, which runs a
  # dry run, which must not run the suite again.
  [ "$DRY" -eq 1 ] && args+=(test/cuda-build.test.ts)
  rm -f "$OUT_DIR/jest.json"
  limited "$(cap 210 240)" node node_modules/jest/bin/jest.js "${args[@]}"
  jrc=$?
  echo "jest exit status: $jrc"
  if [ "$jrc" -eq 124 ] || [ "$jrc" -eq 137 ]; then echo "jest timed out" > "$WORK/note3"; fi
  node bench/gpu.js jest-summary "$OUT_DIR/jest.json" "$WORK/jest-summary.json" $DRY_ARG
  src=$?
  [ "$jrc" -eq 0 ] && [ "$src" -eq 0 ]
}

# --- stage 4 -------------------------------------------------------------------------------
stage_train() {
  local args=() trc prc
  if [ "$DRY" -eq 1 ]; then
    node bench/gpu.js small-mnist "$WORK/mnist-small" || return 1
    args=(--device cpu --data "$WORK/mnist-small" --plot "$OUT_DIR/curves-cpu.svg")
  else
    args=(--device cuda --plot "$OUT_DIR/curves-cuda.svg")
  fi
  [ -n "$EPOCHS" ] && args+=(--epochs "$EPOCHS")
  # Leave PyTorch (stage 5, about 30 s on an H200) and the report their time.
  limited "$(cap 1800 80)" node lib/train.js "${args[@]}" 2>&1 | tee "$WORK/train.log"
  trc=${PIPESTATUS[0]}
  echo "lib/train.js exit status: $trc"
  node bench/gpu.js parse-train "$WORK/train.log" "$WORK/train.json"
  prc=$?
  if [ "$trc" -eq 124 ] || [ "$trc" -eq 137 ]; then
    echo "TIMED OUT: the figures are those of the epochs done (rerun with --epochs N)" > "$WORK/note4"
  elif [ "$trc" -ne 0 ]; then
    echo "lib/train.js failed (exit $trc)" > "$WORK/note4"
  fi
  [ "$trc" -eq 0 ] && [ "$prc" -eq 0 ]
}

# --- stage 5 -------------------------------------------------------------------------------
stage_torch() {
  local py= c tried=() args=() rc
  local candidates=("$PY")
  [ -z "${PYTHON:-}" ] && candidates+=(python3 /usr/bin/python3)
  for c in "${candidates[@]}"; do
    tried+=("$c")
    if command -v "$c" >/dev/null 2>&1 && "$c" -c 'import torch' >/dev/null 2>&1; then py=$c; break; fi
  done
  if [ -z "$py" ]; then
    echo "skipped: torch not importable (tried: ${tried[*]}; set PYTHON)" | tee "$WORK/torch-skipped.txt" "$WORK/note5"
    [ "$DRY" -eq 1 ] && return 0 # a machine without PyTorch can still check the rest
    return 1
  fi
  echo "python: $py ($("$py" -c 'import sys, torch; print(sys.version.split()[0], "torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())' 2>&1))"
  if [ "$DRY" -eq 1 ]; then
    args=(--device cpu --epochs 1 --train-limit 500)
  else
    args=(--device cuda --epochs "$TORCH_EPOCHS")
  fi
  limited "$(cap 150 20)" "$py" bench/torch_lenet.py "${args[@]}" --test-on-best --threads "$(nproc 2>/dev/null || echo 2)" > "$WORK/torch.out"
  rc=$?
  echo "bench/torch_lenet.py exit status: $rc"
  [ "$rc" -eq 0 ] || return "$rc"
  tail -n 1 "$WORK/torch.out" > "$WORK/torch.json"
  echo "its result: $(cat "$WORK/torch.json")"
  node bench/gpu.js compare "$WORK"
}

# --- stage 6 -------------------------------------------------------------------------------
stage_report() {
  local results=bench/results n
  # A dry run's figures are no results: they stay in the out folder.
  [ "$DRY" -eq 1 ] && results=$OUT_DIR
  node bench/gpu.js report "$WORK" "$OUT_DIR" "$results" $DRY_ARG || return 1
  n=$(find "$OUT_DIR" -type f | wc -l)
  echo "files in $OUT_DIR: $n"
  find "$OUT_DIR" -type f -printf '  %P (%s bytes)\n' | sort
  if [ "$n" -gt 8 ]; then echo "FAIL: more than 8 files in $OUT_DIR (only 8 come back from a GPU machine)"; return 1; fi
}

say "gpu.sh: $([ "$DRY" -eq 1 ] && echo 'DRY RUN' || echo 'GPU proof') in $ROOT, out $OUT_DIR, budget ${BUDGET} s, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
run_stage 1 "GPU, driver, runtime, cuBLAS, cuDNN and the libraries loaded" stage_info
run_stage 2 "native/cuda/api.h against NVIDIA's headers" stage_headers
run_stage 3 "the jest suite$([ "$DRY" -eq 1 ] && echo ' (dry run: test/cuda-build.test.ts)')" stage_jest
run_stage 4 "the tutorial's reproduction$([ "$DRY" -eq 1 ] && echo ' (dry run: CPU, 1 epoch, small data)' || echo ' on CUDA')" stage_train
run_stage 5 "PyTorch, same recipe$([ "$DRY" -eq 1 ] && echo ' (dry run: CPU)' || echo ' on the same GPU')" stage_torch
run_stage 6 "results file" stage_report

say ""
if [ ${#FAILED[@]} -eq 0 ]; then
  say "gpu.sh: all 6 stages passed in $SECONDS s; log: $LOG"
  exit 0
fi
say "gpu.sh: stage(s) ${FAILED[*]} FAILED (of 6) in $SECONDS s; log: $LOG"
exit 1
