// The error paths of check_cuda / check_cublas / check_cudnn: build the message from the
// libraries' own texts and throw lenet::Error or lenet::OutOfMemory.
//
// These run only after a call into a library returned an error, so the library is loaded; they
// still use the *_if_loaded() accessors (never load, never throw) so that a bogus status passed
// in by mistake produces a message instead of a second, confusing exception.
#include "status.h"

#include <string>

#include "../device.h"
#include "loader.h"

namespace lenet::cuda {
namespace {

std::string or_unknown(const char* s) { return s && *s ? std::string(s) : std::string("unknown"); }

/// A remedy for the statuses whose fix is not obvious from CUDA's text.
const char* cuda_hint(int status) {
  switch (static_cast<cudaError_t>(status)) {
    case cudaError_t::cudaErrorInsufficientDriver:
      return "no NVIDIA driver is installed, or it is older than this CUDA runtime: install or "
             "update the driver, or use a runtime no newer than the driver (see "
             "cudaAvailable()'s report)";
    case cudaError_t::cudaErrorStubLibrary:
      return "the libcuda.so found is the CUDA toolkit's stub, not the driver: remove the "
             "toolkit's stubs folder from LD_LIBRARY_PATH";
    case cudaError_t::cudaErrorNoDevice:
      return "no CUDA-capable GPU is visible (check CUDA_VISIBLE_DEVICES and nvidia-smi)";
    case cudaError_t::cudaErrorNoKernelImageForDevice:
    case cudaError_t::cudaErrorUnsupportedPtxVersion:
      return "the addon's kernels were not built for this GPU, or their PTX is newer than the "
             "driver: rebuild with this GPU's architecture or update the driver";
    case cudaError_t::cudaErrorIllegalAddress:
    case cudaError_t::cudaErrorLaunchFailure:
      return "this error is sticky: the CUDA context is unusable until the process restarts";
    default:
      return nullptr;
  }
}

}  // namespace

void throw_cuda_error(int status, const char* call) {
  std::string name = "CUDA error";
  std::string text;
  if (const CudartApi* rt = cudart_if_loaded()) {
    const auto s = static_cast<cudaError_t>(status);
    name = or_unknown(rt->cudaGetErrorName(s));
    text = or_unknown(rt->cudaGetErrorString(s));
  }
  std::string msg = std::string(call ? call : "CUDA call") + " failed: " + name + " (" +
                    std::to_string(status) + ")";
  if (!text.empty()) msg += ": " + text;
  if (const char* hint = cuda_hint(status)) msg += std::string(" (") + hint + ")";
  if (status == static_cast<int>(cudaError_t::cudaErrorMemoryAllocation)) throw OutOfMemory(msg);
  throw Error(msg);
}

void throw_driver_error(int status, const char* call) {
  std::string name = "CUDA driver error";
  std::string text;
  if (const DriverApi* cu = driver_if_loaded()) {
    const char* n = nullptr;
    const char* t = nullptr;
    cu->cuGetErrorName(static_cast<CUresult>(status), &n);
    cu->cuGetErrorString(static_cast<CUresult>(status), &t);
    name = or_unknown(n);
    text = or_unknown(t);
  }
  std::string msg = std::string(call ? call : "CUDA driver call") + " failed: " + name + " (" +
                    std::to_string(status) + ")";
  if (!text.empty()) msg += ": " + text;
  if (const char* hint = cuda_hint(status)) msg += std::string(" (") + hint + ")";
  if (status == static_cast<int>(CUresult::CUDA_ERROR_OUT_OF_MEMORY)) throw OutOfMemory(msg);
  throw Error(msg);
}

void throw_cublas_error(int status, const char* call) {
  std::string name = "cuBLAS error";
  std::string text;
  if (const CublasApi* bl = cublas_if_loaded()) {
    const auto s = static_cast<cublasStatus_t>(status);
    name = or_unknown(bl->cublasGetStatusName(s));
    text = or_unknown(bl->cublasGetStatusString(s));
  }
  std::string msg = std::string(call ? call : "cuBLAS call") + " failed: " + name + " (" +
                    std::to_string(status) + ")";
  if (!text.empty()) msg += ": " + text;
  if (status == static_cast<int>(cublasStatus_t::CUBLAS_STATUS_ALLOC_FAILED)) throw OutOfMemory(msg);
  throw Error(msg);
}

void throw_cudnn_error(int status, const char* call) {
  std::string name = "cuDNN error";
  std::string detail;
  if (const CudnnApi* dnn = cudnn_if_loaded()) {
    // cudnnGetErrorString returns the status's name ("CUDNN_STATUS_BAD_PARAM"), which is right
    // for the loaded version whatever the number means elsewhere.
    name = or_unknown(dnn->cudnnGetErrorString(static_cast<cudnnStatus_t>(status)));
    if (dnn->cudnnGetLastErrorString) {
      // cuDNN 9: the calling thread's last error in words (which parameter, which check).
      char buf[2048] = {0};
      dnn->cudnnGetLastErrorString(buf, sizeof buf);
      buf[sizeof buf - 1] = '\0';
      detail = buf;
      while (!detail.empty() && (detail.back() == '\n' || detail.back() == ' ')) detail.pop_back();
    }
  }
  std::string msg = std::string(call ? call : "cuDNN call") + " failed: " + name + " (" +
                    std::to_string(status) + ")";
  if (!detail.empty()) msg += ": " + detail;
  if (cudnn_status_is_alloc_failure(status)) throw OutOfMemory(msg);
  throw Error(msg);
}

namespace {

/// 8 or 9 when cuDNN is loaded, else 0 (then both numberings are accepted: they do not overlap).
int cudnn_major() noexcept {
  const CudnnApi* dnn = cudnn_if_loaded();
  return dnn ? dnn->major : 0;
}

}  // namespace

bool cudnn_status_is_alloc_failure(int status) noexcept {
  const int major = cudnn_major();
  const bool v8 = status == cudnn8_status::kAllocFailed;
  const bool v9 = status == cudnn9_status::kHostAllocationFailed ||
                  status == cudnn9_status::kDeviceAllocationFailed;
  return major == 8 ? v8 : major >= 9 ? v9 : (v8 || v9);
}

}  // namespace lenet::cuda
