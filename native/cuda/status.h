// Turning CUDA runtime / cuBLAS / cuDNN status codes into exceptions with useful messages.
//
//   check_cudnn(cudnn().cudnnConvolutionForward(...), "cudnnConvolutionForward");
//   LENET_CUDNN(cudnnConvolutionForward, handle, &one, xd, x, ...);   // the same, shorter
//
// A failure throws lenet::Error (lenet::OutOfMemory for allocation failures, so callers can
// free caches and retry) with the call's name, the library's own name and description of the
// status, and its number, e.g.
//   "cudnnConvolutionForward failed: CUDNN_STATUS_BAD_PARAM (2000): <cuDNN's detail>"
//   "cudaMalloc failed: cudaErrorMemoryAllocation (2): out of memory"
// The success path is inline and costs one comparison.
#pragma once

#include "api.h"
#include "loader.h"  // cudart(), cublas(), cudnn() for the LENET_* macros

namespace lenet::cuda {

/// @brief Throws for a CUDA runtime status (always; use check_cuda for the test).
[[noreturn]] void throw_cuda_error(int status, const char* call);
/// @brief Throws for a CUDA driver API status (always).
[[noreturn]] void throw_driver_error(int status, const char* call);
/// @brief Throws for a cuBLAS status (always).
[[noreturn]] void throw_cublas_error(int status, const char* call);
/// @brief Throws for a cuDNN status (always).
[[noreturn]] void throw_cudnn_error(int status, const char* call);

/// @brief Throws lenet::Error unless `status` is cudaSuccess; lenet::OutOfMemory for
/// cudaErrorMemoryAllocation. `call` names the function, e.g. "cudaMalloc".
inline void check_cuda(int status, const char* call) {
  if (status != 0) throw_cuda_error(status, call);
}
/// @brief check_cuda for the typed status our function pointers return.
inline void check_cuda(cudaError_t status, const char* call) {
  check_cuda(static_cast<int>(status), call);
}

/// @brief Throws lenet::Error unless `status` is CUDA_SUCCESS; lenet::OutOfMemory for
/// CUDA_ERROR_OUT_OF_MEMORY.
inline void check_driver(CUresult status, const char* call) {
  if (status != CUresult::CUDA_SUCCESS) throw_driver_error(static_cast<int>(status), call);
}

/// @brief Throws lenet::Error unless `status` is CUBLAS_STATUS_SUCCESS; lenet::OutOfMemory for
/// CUBLAS_STATUS_ALLOC_FAILED.
inline void check_cublas(int status, const char* call) {
  if (status != 0) throw_cublas_error(status, call);
}
/// @brief check_cublas for the typed status.
inline void check_cublas(cublasStatus_t status, const char* call) {
  check_cublas(static_cast<int>(status), call);
}

/// @brief Throws lenet::Error unless `status` is CUDNN_STATUS_SUCCESS; lenet::OutOfMemory when
/// cuDNN failed to allocate (see cudnn_status_is_alloc_failure).
inline void check_cudnn(int status, const char* call) {
  if (status != 0) throw_cudnn_error(status, call);
}
/// @brief check_cudnn for the typed status.
inline void check_cudnn(cudnnStatus_t status, const char* call) {
  check_cudnn(static_cast<int>(status), call);
}

/// @brief True for cuDNN's allocation failures: CUDNN_STATUS_ALLOC_FAILED (2) in cuDNN 8;
/// INTERNAL_ERROR_HOST_ALLOCATION_FAILED (4003, which the deprecated ALLOC_FAILED aliases) and
/// INTERNAL_ERROR_DEVICE_ALLOCATION_FAILED (4004) in cuDNN 9. The two numberings do not
/// overlap (cuDNN 8: 0..14, cuDNN 9: 0 and >= 1000), but the loaded major version is used
/// when known.
bool cudnn_status_is_alloc_failure(int status) noexcept;

}  // namespace lenet::cuda

/// @brief Calls cudart().fn(args...) and check_cuda's the result with "fn" as the call name.
#define LENET_CUDART(fn, ...) \
  ::lenet::cuda::check_cuda(::lenet::cuda::cudart().fn(__VA_ARGS__), #fn)
/// @brief Calls driver().fn(args...) and checks it.
#define LENET_CU(fn, ...) \
  ::lenet::cuda::check_driver(::lenet::cuda::driver().fn(__VA_ARGS__), #fn)
/// @brief Calls cublas().fn(args...) (fn is the exported name, e.g. cublasSgemm_v2) and checks it.
#define LENET_CUBLAS(fn, ...) \
  ::lenet::cuda::check_cublas(::lenet::cuda::cublas().fn(__VA_ARGS__), #fn)
/// @brief Calls cudnn().fn(args...) and checks it.
#define LENET_CUDNN(fn, ...) \
  ::lenet::cuda::check_cudnn(::lenet::cuda::cudnn().fn(__VA_ARGS__), #fn)
