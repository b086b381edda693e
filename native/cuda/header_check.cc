// Compile-only check that our declarations (api.h) agree with NVIDIA's real headers: every enum
// value we declare equals the real one, every struct has the real size and member offsets, every
// handle is the real type, and every PFN_ typedef is the real function's type once our types
// are replaced by the real ones. Nothing here runs; the build of this file is the test:
//
//   g++ -std=c++17 -fsyntax-only -I<cuda include> [-I<cublas include>] [-I<cudnn include>]
//       native/cuda/header_check.cc
//
// (test/cuda-headers/check.sh finds the headers and runs that.) The CUDA runtime part is
// required; the driver, cuBLAS and cuDNN parts are compiled only when <cuda.h> / <cublas_v2.h> /
// <cudnn.h> are found (__has_include), and `#pragma message` lines say which parts were checked
// or skipped.
//
// The real headers are included FIRST on purpose: their macros (cublas_v2.h's
// `#define cublasSgemm cublasSgemm_v2`, CUDA 12's `#define cudaGetDeviceProperties
// cudaGetDeviceProperties_v2`, the stream-flag macros, ...) are then active while api.h is
// parsed, which proves api.h survives them.
#include <cuda_runtime_api.h>
#if __has_include(<cuda.h>)
#include <cuda.h>
#define LENET_CHECK_DRIVER 1
#else
#define LENET_CHECK_DRIVER 0
#endif
#if __has_include(<cublas_v2.h>)
#include <cublas_v2.h>
#define LENET_CHECK_CUBLAS 1
#else
#define LENET_CHECK_CUBLAS 0
#endif
#if __has_include(<cudnn.h>)
#include <cudnn.h>
#define LENET_CHECK_CUDNN 1
#else
#define LENET_CHECK_CUDNN 0
#endif

#include <cstddef>
#include <type_traits>

#include "api.h"

#define LENET_STR2(x) #x
#define LENET_STR(x) LENET_STR2(x)

namespace lenet_header_check {

namespace L = ::lenet::cuda;

// Real<T>: T with each of our types replaced by NVIDIA's, through pointers, const and function
// pointer types. Types we share with the real headers (handles, int, size_t, ...) map to
// themselves.
template <class T>
struct Real {
  using type = T;
};
template <class T>
using real_t = typename Real<T>::type;
template <class T>
struct Real<T*> {
  using type = real_t<T>*;
};
template <class T>
struct Real<const T> {
  using type = const real_t<T>;
};
template <class R, class... A>
struct Real<R (*)(A...)> {
  using type = real_t<R> (*)(real_t<A>...);
};

// Declares that our type `ours` stands for the real `real`, and checks they have the same size
// and alignment (which, for enums, also means the same calling convention on every ABI we
// target: both are 4-byte integers).
#define LENET_MAP_TYPE(ours, real)                                                   \
  template <>                                                                        \
  struct Real<ours> {                                                                \
    using type = real;                                                               \
  };                                                                                 \
  static_assert(sizeof(ours) == sizeof(real), "size of " #ours " != size of " #real); \
  static_assert(alignof(ours) == alignof(real), "alignment of " #ours " != that of " #real);

// One enumerator of ours equals the real one of the same name.
#define LENET_CHECK_VALUE(Enum, name)                                                    \
  static_assert(static_cast<long long>(L::Enum::name) == static_cast<long long>(::name), \
                #Enum "::" #name " differs from the real header");

// A PFN_ typedef matches the real declaration (see Real above).
#define LENET_CHECK_FUNCTION(name)                                                     \
  static_assert(std::is_same_v<real_t<L::PFN_##name>, decltype(&::name)>,              \
                "PFN_" #name " does not match the real declaration of " #name);

// A struct member is at the real offset with the real size.
#define LENET_CHECK_MEMBER(Ours, RealT, member)                                         \
  static_assert(offsetof(Ours, member) == offsetof(RealT, member),                      \
                "offset of " #Ours "::" #member " differs from the real header");         \
  static_assert(sizeof(Ours::member) == sizeof(RealT::member),                          \
                "size of " #Ours "::" #member " differs from the real header");

// =============================================================================================
// CUDA runtime
// =============================================================================================
#pragma message("lenet header_check: CUDA runtime: checking against cuda_runtime_api.h, CUDART_VERSION " LENET_STR(CUDART_VERSION))

// Handles are the very same types (api.h names the real struct tags).
static_assert(std::is_same_v<L::cudaStream_t, ::cudaStream_t>, "cudaStream_t");
static_assert(std::is_same_v<L::cudaEvent_t, ::cudaEvent_t>, "cudaEvent_t");
static_assert(std::is_same_v<L::cudaMemPool_t, ::cudaMemPool_t>, "cudaMemPool_t");

LENET_MAP_TYPE(L::cudaError_t, ::cudaError_t)
LENET_MAP_TYPE(L::cudaMemcpyKind, ::cudaMemcpyKind)
LENET_MAP_TYPE(L::cudaDeviceAttr, ::cudaDeviceAttr)
LENET_MAP_TYPE(L::cudaMemPoolAttr, ::cudaMemPoolAttr)

LENET_CHECK_VALUE(cudaError_t, cudaSuccess)
LENET_CHECK_VALUE(cudaError_t, cudaErrorInvalidValue)
LENET_CHECK_VALUE(cudaError_t, cudaErrorMemoryAllocation)
LENET_CHECK_VALUE(cudaError_t, cudaErrorInitializationError)
LENET_CHECK_VALUE(cudaError_t, cudaErrorInvalidConfiguration)
LENET_CHECK_VALUE(cudaError_t, cudaErrorStubLibrary)
LENET_CHECK_VALUE(cudaError_t, cudaErrorInsufficientDriver)
LENET_CHECK_VALUE(cudaError_t, cudaErrorDevicesUnavailable)
LENET_CHECK_VALUE(cudaError_t, cudaErrorNoDevice)
LENET_CHECK_VALUE(cudaError_t, cudaErrorInvalidDevice)
LENET_CHECK_VALUE(cudaError_t, cudaErrorInvalidKernelImage)
LENET_CHECK_VALUE(cudaError_t, cudaErrorNoKernelImageForDevice)
LENET_CHECK_VALUE(cudaError_t, cudaErrorUnsupportedPtxVersion)
LENET_CHECK_VALUE(cudaError_t, cudaErrorInvalidResourceHandle)
LENET_CHECK_VALUE(cudaError_t, cudaErrorSymbolNotFound)
LENET_CHECK_VALUE(cudaError_t, cudaErrorNotReady)
LENET_CHECK_VALUE(cudaError_t, cudaErrorIllegalAddress)
LENET_CHECK_VALUE(cudaError_t, cudaErrorLaunchOutOfResources)
LENET_CHECK_VALUE(cudaError_t, cudaErrorLaunchFailure)
LENET_CHECK_VALUE(cudaError_t, cudaErrorSystemDriverMismatch)
LENET_CHECK_VALUE(cudaError_t, cudaErrorCompatNotSupportedOnDevice)
LENET_CHECK_VALUE(cudaError_t, cudaErrorUnknown)

LENET_CHECK_VALUE(cudaMemcpyKind, cudaMemcpyHostToHost)
LENET_CHECK_VALUE(cudaMemcpyKind, cudaMemcpyHostToDevice)
LENET_CHECK_VALUE(cudaMemcpyKind, cudaMemcpyDeviceToHost)
LENET_CHECK_VALUE(cudaMemcpyKind, cudaMemcpyDeviceToDevice)
LENET_CHECK_VALUE(cudaMemcpyKind, cudaMemcpyDefault)

LENET_CHECK_VALUE(cudaDeviceAttr, cudaDevAttrMaxThreadsPerBlock)
LENET_CHECK_VALUE(cudaDeviceAttr, cudaDevAttrMaxBlockDimX)
LENET_CHECK_VALUE(cudaDeviceAttr, cudaDevAttrMaxGridDimX)
LENET_CHECK_VALUE(cudaDeviceAttr, cudaDevAttrMaxSharedMemoryPerBlock)
LENET_CHECK_VALUE(cudaDeviceAttr, cudaDevAttrWarpSize)
LENET_CHECK_VALUE(cudaDeviceAttr, cudaDevAttrMultiProcessorCount)
LENET_CHECK_VALUE(cudaDeviceAttr, cudaDevAttrIntegrated)
LENET_CHECK_VALUE(cudaDeviceAttr, cudaDevAttrL2CacheSize)
LENET_CHECK_VALUE(cudaDeviceAttr, cudaDevAttrComputeCapabilityMajor)
LENET_CHECK_VALUE(cudaDeviceAttr, cudaDevAttrComputeCapabilityMinor)
LENET_CHECK_VALUE(cudaDeviceAttr, cudaDevAttrMaxSharedMemoryPerBlockOptin)
LENET_CHECK_VALUE(cudaDeviceAttr, cudaDevAttrMemoryPoolsSupported)
LENET_CHECK_VALUE(cudaMemPoolAttr, cudaMemPoolAttrReleaseThreshold)

static_assert(L::kCudaStreamDefault == cudaStreamDefault, "cudaStreamDefault");
static_assert(L::kCudaStreamNonBlocking == cudaStreamNonBlocking, "cudaStreamNonBlocking");
static_assert(L::kCudaEventBlockingSync == cudaEventBlockingSync, "cudaEventBlockingSync");
static_assert(L::kCudaEventDisableTiming == cudaEventDisableTiming, "cudaEventDisableTiming");
static_assert(L::kCudaHostAllocPortable == cudaHostAllocPortable, "cudaHostAllocPortable");

// cudaGetDeviceProperties: we pass a raw buffer and read only `name` at its start.
static_assert(offsetof(::cudaDeviceProp, name) == 0, "cudaDeviceProp::name is not first");
static_assert(sizeof(::cudaDeviceProp::name) == L::kDevicePropNameBytes,
              "cudaDeviceProp::name size");
static_assert(sizeof(::cudaDeviceProp) <= L::kDevicePropBufferBytes,
              "kDevicePropBufferBytes is smaller than cudaDeviceProp");
// Our PFN takes void* where the real one takes cudaDeviceProp*; compare with that substituted.
template <>
struct Real<L::PFN_cudaGetDeviceProperties_v2> {
  using type = ::cudaError_t (*)(::cudaDeviceProp*, int);
};
// The exported name: CUDA 12's header maps cudaGetDeviceProperties to cudaGetDeviceProperties_v2
// with a macro; CUDA 13's declares cudaGetDeviceProperties itself and has no _v2.
#if !defined(cudaGetDeviceProperties)
#define cudaGetDeviceProperties_v2 cudaGetDeviceProperties
#endif

LENET_CUDART_FUNCTIONS(LENET_CHECK_FUNCTION)

// =============================================================================================
// CUDA driver API (cuda.h): the module-load-and-launch subset.
// =============================================================================================
#if LENET_CHECK_DRIVER
#pragma message("lenet header_check: CUDA driver: checking against cuda.h, CUDA_VERSION " LENET_STR(CUDA_VERSION))

static_assert(std::is_same_v<L::CUdevice, ::CUdevice>, "CUdevice");
static_assert(std::is_same_v<L::CUcontext, ::CUcontext>, "CUcontext");
static_assert(std::is_same_v<L::CUmodule, ::CUmodule>, "CUmodule");
static_assert(std::is_same_v<L::CUfunction, ::CUfunction>, "CUfunction");
static_assert(std::is_same_v<L::CUstream, ::CUstream>, "CUstream");
static_assert(std::is_same_v<L::CUstream, L::cudaStream_t>, "CUstream is cudaStream_t");

LENET_MAP_TYPE(L::CUresult, ::CUresult)
LENET_CHECK_VALUE(CUresult, CUDA_SUCCESS)
LENET_CHECK_VALUE(CUresult, CUDA_ERROR_INVALID_VALUE)
LENET_CHECK_VALUE(CUresult, CUDA_ERROR_OUT_OF_MEMORY)
LENET_CHECK_VALUE(CUresult, CUDA_ERROR_NOT_INITIALIZED)
LENET_CHECK_VALUE(CUresult, CUDA_ERROR_NO_DEVICE)
LENET_CHECK_VALUE(CUresult, CUDA_ERROR_INVALID_DEVICE)
LENET_CHECK_VALUE(CUresult, CUDA_ERROR_NO_BINARY_FOR_GPU)
LENET_CHECK_VALUE(CUresult, CUDA_ERROR_INVALID_PTX)
LENET_CHECK_VALUE(CUresult, CUDA_ERROR_UNSUPPORTED_PTX_VERSION)
LENET_CHECK_VALUE(CUresult, CUDA_ERROR_INVALID_HANDLE)
LENET_CHECK_VALUE(CUresult, CUDA_ERROR_NOT_FOUND)

// cuda.h #defines cuDevicePrimaryCtxRelease as cuDevicePrimaryCtxRelease_v2, so the _v2 name
// is declared directly; every other function here has one unversioned symbol.
LENET_DRIVER_FUNCTIONS(LENET_CHECK_FUNCTION)
#else
#pragma message("lenet header_check: CUDA driver: SKIPPED (no <cuda.h> on the include path)")
#endif

// =============================================================================================
// cuBLAS
// =============================================================================================
#if LENET_CHECK_CUBLAS
#pragma message("lenet header_check: cuBLAS: checking against cublas_v2.h of cuBLAS " LENET_STR(CUBLAS_VER_MAJOR) "." LENET_STR(CUBLAS_VER_MINOR) "." LENET_STR(CUBLAS_VER_PATCH))

static_assert(std::is_same_v<L::cublasHandle_t, ::cublasHandle_t>, "cublasHandle_t");

LENET_MAP_TYPE(L::cublasStatus_t, ::cublasStatus_t)
LENET_MAP_TYPE(L::cublasOperation_t, ::cublasOperation_t)
LENET_MAP_TYPE(L::cublasPointerMode_t, ::cublasPointerMode_t)
LENET_MAP_TYPE(L::cublasMath_t, ::cublasMath_t)
LENET_MAP_TYPE(L::libraryPropertyType, ::libraryPropertyType)

LENET_CHECK_VALUE(cublasStatus_t, CUBLAS_STATUS_SUCCESS)
LENET_CHECK_VALUE(cublasStatus_t, CUBLAS_STATUS_NOT_INITIALIZED)
LENET_CHECK_VALUE(cublasStatus_t, CUBLAS_STATUS_ALLOC_FAILED)
LENET_CHECK_VALUE(cublasStatus_t, CUBLAS_STATUS_INVALID_VALUE)
LENET_CHECK_VALUE(cublasStatus_t, CUBLAS_STATUS_ARCH_MISMATCH)
LENET_CHECK_VALUE(cublasStatus_t, CUBLAS_STATUS_MAPPING_ERROR)
LENET_CHECK_VALUE(cublasStatus_t, CUBLAS_STATUS_EXECUTION_FAILED)
LENET_CHECK_VALUE(cublasStatus_t, CUBLAS_STATUS_INTERNAL_ERROR)
LENET_CHECK_VALUE(cublasStatus_t, CUBLAS_STATUS_NOT_SUPPORTED)
LENET_CHECK_VALUE(cublasStatus_t, CUBLAS_STATUS_LICENSE_ERROR)

LENET_CHECK_VALUE(cublasOperation_t, CUBLAS_OP_N)
LENET_CHECK_VALUE(cublasOperation_t, CUBLAS_OP_T)
LENET_CHECK_VALUE(cublasOperation_t, CUBLAS_OP_C)

LENET_CHECK_VALUE(cublasPointerMode_t, CUBLAS_POINTER_MODE_HOST)
LENET_CHECK_VALUE(cublasPointerMode_t, CUBLAS_POINTER_MODE_DEVICE)

LENET_CHECK_VALUE(cublasMath_t, CUBLAS_DEFAULT_MATH)
LENET_CHECK_VALUE(cublasMath_t, CUBLAS_PEDANTIC_MATH)
LENET_CHECK_VALUE(cublasMath_t, CUBLAS_TF32_TENSOR_OP_MATH)
LENET_CHECK_VALUE(cublasMath_t, CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION)

LENET_CHECK_VALUE(libraryPropertyType, MAJOR_VERSION)
LENET_CHECK_VALUE(libraryPropertyType, MINOR_VERSION)
LENET_CHECK_VALUE(libraryPropertyType, PATCH_LEVEL)

LENET_CUBLAS_FUNCTIONS(LENET_CHECK_FUNCTION)
#else
#pragma message("lenet header_check: cuBLAS: SKIPPED (no <cublas_v2.h> on the include path)")
#endif

// =============================================================================================
// cuDNN
// =============================================================================================
#if LENET_CHECK_CUDNN
#pragma message("lenet header_check: cuDNN: checking against cudnn.h of cuDNN " LENET_STR(CUDNN_MAJOR) "." LENET_STR(CUDNN_MINOR) "." LENET_STR(CUDNN_PATCHLEVEL))

static_assert(std::is_same_v<L::cudnnHandle_t, ::cudnnHandle_t>, "cudnnHandle_t");
static_assert(std::is_same_v<L::cudnnTensorDescriptor_t, ::cudnnTensorDescriptor_t>, "tensor desc");
static_assert(std::is_same_v<L::cudnnFilterDescriptor_t, ::cudnnFilterDescriptor_t>, "filter desc");
static_assert(std::is_same_v<L::cudnnConvolutionDescriptor_t, ::cudnnConvolutionDescriptor_t>,
              "convolution desc");
static_assert(std::is_same_v<L::cudnnActivationDescriptor_t, ::cudnnActivationDescriptor_t>,
              "activation desc");

LENET_MAP_TYPE(L::cudnnStatus_t, ::cudnnStatus_t)
LENET_MAP_TYPE(L::cudnnDataType_t, ::cudnnDataType_t)
LENET_MAP_TYPE(L::cudnnTensorFormat_t, ::cudnnTensorFormat_t)
LENET_MAP_TYPE(L::cudnnConvolutionMode_t, ::cudnnConvolutionMode_t)
LENET_MAP_TYPE(L::cudnnMathType_t, ::cudnnMathType_t)
LENET_MAP_TYPE(L::cudnnDeterminism_t, ::cudnnDeterminism_t)
LENET_MAP_TYPE(L::cudnnConvolutionFwdAlgo_t, ::cudnnConvolutionFwdAlgo_t)
LENET_MAP_TYPE(L::cudnnConvolutionBwdDataAlgo_t, ::cudnnConvolutionBwdDataAlgo_t)
LENET_MAP_TYPE(L::cudnnConvolutionBwdFilterAlgo_t, ::cudnnConvolutionBwdFilterAlgo_t)
LENET_MAP_TYPE(L::cudnnNanPropagation_t, ::cudnnNanPropagation_t)
LENET_MAP_TYPE(L::cudnnActivationMode_t, ::cudnnActivationMode_t)
LENET_MAP_TYPE(L::cudnnSoftmaxAlgorithm_t, ::cudnnSoftmaxAlgorithm_t)
LENET_MAP_TYPE(L::cudnnSoftmaxMode_t, ::cudnnSoftmaxMode_t)
LENET_MAP_TYPE(L::cudnnConvolutionFwdAlgoPerf_t, ::cudnnConvolutionFwdAlgoPerf_t)
LENET_MAP_TYPE(L::cudnnConvolutionBwdDataAlgoPerf_t, ::cudnnConvolutionBwdDataAlgoPerf_t)
LENET_MAP_TYPE(L::cudnnConvolutionBwdFilterAlgoPerf_t, ::cudnnConvolutionBwdFilterAlgoPerf_t)

// Status: only SUCCESS is an enumerator of ours; the classification constants are checked
// against the numbering of the cuDNN whose header this is.
LENET_CHECK_VALUE(cudnnStatus_t, CUDNN_STATUS_SUCCESS)
#if CUDNN_MAJOR >= 9
static_assert(L::cudnn9_status::kNotInitialized == ::CUDNN_STATUS_NOT_INITIALIZED, "v9 status");
static_assert(L::cudnn9_status::kBadParam == ::CUDNN_STATUS_BAD_PARAM, "v9 status");
static_assert(L::cudnn9_status::kNotSupported == ::CUDNN_STATUS_NOT_SUPPORTED, "v9 status");
static_assert(L::cudnn9_status::kInternalError == ::CUDNN_STATUS_INTERNAL_ERROR, "v9 status");
static_assert(L::cudnn9_status::kHostAllocationFailed ==
                  ::CUDNN_STATUS_INTERNAL_ERROR_HOST_ALLOCATION_FAILED, "v9 status");
static_assert(L::cudnn9_status::kHostAllocationFailed == ::CUDNN_STATUS_ALLOC_FAILED,
              "v9: CUDNN_STATUS_ALLOC_FAILED no longer aliases HOST_ALLOCATION_FAILED");
static_assert(L::cudnn9_status::kDeviceAllocationFailed ==
                  ::CUDNN_STATUS_INTERNAL_ERROR_DEVICE_ALLOCATION_FAILED, "v9 status");
static_assert(L::cudnn9_status::kExecutionFailed == ::CUDNN_STATUS_EXECUTION_FAILED, "v9 status");
#else
static_assert(L::cudnn8_status::kNotInitialized == ::CUDNN_STATUS_NOT_INITIALIZED, "v8 status");
static_assert(L::cudnn8_status::kAllocFailed == ::CUDNN_STATUS_ALLOC_FAILED, "v8 status");
static_assert(L::cudnn8_status::kBadParam == ::CUDNN_STATUS_BAD_PARAM, "v8 status");
static_assert(L::cudnn8_status::kInternalError == ::CUDNN_STATUS_INTERNAL_ERROR, "v8 status");
static_assert(L::cudnn8_status::kExecutionFailed == ::CUDNN_STATUS_EXECUTION_FAILED, "v8 status");
static_assert(L::cudnn8_status::kNotSupported == ::CUDNN_STATUS_NOT_SUPPORTED, "v8 status");
#endif

LENET_CHECK_VALUE(cudnnDataType_t, CUDNN_DATA_FLOAT)
LENET_CHECK_VALUE(cudnnTensorFormat_t, CUDNN_TENSOR_NCHW)
LENET_CHECK_VALUE(cudnnConvolutionMode_t, CUDNN_CONVOLUTION)
LENET_CHECK_VALUE(cudnnConvolutionMode_t, CUDNN_CROSS_CORRELATION)
LENET_CHECK_VALUE(cudnnMathType_t, CUDNN_DEFAULT_MATH)
LENET_CHECK_VALUE(cudnnMathType_t, CUDNN_TENSOR_OP_MATH)
LENET_CHECK_VALUE(cudnnMathType_t, CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION)
LENET_CHECK_VALUE(cudnnMathType_t, CUDNN_FMA_MATH)
LENET_CHECK_VALUE(cudnnDeterminism_t, CUDNN_NON_DETERMINISTIC)
LENET_CHECK_VALUE(cudnnDeterminism_t, CUDNN_DETERMINISTIC)

LENET_CHECK_VALUE(cudnnConvolutionFwdAlgo_t, CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM)
LENET_CHECK_VALUE(cudnnConvolutionFwdAlgo_t, CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM)
LENET_CHECK_VALUE(cudnnConvolutionFwdAlgo_t, CUDNN_CONVOLUTION_FWD_ALGO_GEMM)
LENET_CHECK_VALUE(cudnnConvolutionFwdAlgo_t, CUDNN_CONVOLUTION_FWD_ALGO_DIRECT)
LENET_CHECK_VALUE(cudnnConvolutionFwdAlgo_t, CUDNN_CONVOLUTION_FWD_ALGO_FFT)
LENET_CHECK_VALUE(cudnnConvolutionFwdAlgo_t, CUDNN_CONVOLUTION_FWD_ALGO_FFT_TILING)
LENET_CHECK_VALUE(cudnnConvolutionFwdAlgo_t, CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD)
LENET_CHECK_VALUE(cudnnConvolutionFwdAlgo_t, CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD_NONFUSED)
LENET_CHECK_VALUE(cudnnConvolutionFwdAlgo_t, CUDNN_CONVOLUTION_FWD_ALGO_COUNT)

LENET_CHECK_VALUE(cudnnConvolutionBwdDataAlgo_t, CUDNN_CONVOLUTION_BWD_DATA_ALGO_0)
LENET_CHECK_VALUE(cudnnConvolutionBwdDataAlgo_t, CUDNN_CONVOLUTION_BWD_DATA_ALGO_1)
LENET_CHECK_VALUE(cudnnConvolutionBwdDataAlgo_t, CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT)
LENET_CHECK_VALUE(cudnnConvolutionBwdDataAlgo_t, CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT_TILING)
LENET_CHECK_VALUE(cudnnConvolutionBwdDataAlgo_t, CUDNN_CONVOLUTION_BWD_DATA_ALGO_WINOGRAD)
LENET_CHECK_VALUE(cudnnConvolutionBwdDataAlgo_t, CUDNN_CONVOLUTION_BWD_DATA_ALGO_WINOGRAD_NONFUSED)
LENET_CHECK_VALUE(cudnnConvolutionBwdDataAlgo_t, CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT)

LENET_CHECK_VALUE(cudnnConvolutionBwdFilterAlgo_t, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_0)
LENET_CHECK_VALUE(cudnnConvolutionBwdFilterAlgo_t, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1)
LENET_CHECK_VALUE(cudnnConvolutionBwdFilterAlgo_t, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_FFT)
LENET_CHECK_VALUE(cudnnConvolutionBwdFilterAlgo_t, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_3)
LENET_CHECK_VALUE(cudnnConvolutionBwdFilterAlgo_t, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_WINOGRAD)
LENET_CHECK_VALUE(cudnnConvolutionBwdFilterAlgo_t,
                  CUDNN_CONVOLUTION_BWD_FILTER_ALGO_WINOGRAD_NONFUSED)
LENET_CHECK_VALUE(cudnnConvolutionBwdFilterAlgo_t, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_FFT_TILING)
LENET_CHECK_VALUE(cudnnConvolutionBwdFilterAlgo_t, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT)

LENET_CHECK_VALUE(cudnnNanPropagation_t, CUDNN_NOT_PROPAGATE_NAN)
LENET_CHECK_VALUE(cudnnNanPropagation_t, CUDNN_PROPAGATE_NAN)
LENET_CHECK_VALUE(cudnnActivationMode_t, CUDNN_ACTIVATION_TANH)
LENET_CHECK_VALUE(cudnnSoftmaxAlgorithm_t, CUDNN_SOFTMAX_FAST)
LENET_CHECK_VALUE(cudnnSoftmaxAlgorithm_t, CUDNN_SOFTMAX_ACCURATE)
LENET_CHECK_VALUE(cudnnSoftmaxAlgorithm_t, CUDNN_SOFTMAX_LOG)
LENET_CHECK_VALUE(cudnnSoftmaxMode_t, CUDNN_SOFTMAX_MODE_INSTANCE)
LENET_CHECK_VALUE(cudnnSoftmaxMode_t, CUDNN_SOFTMAX_MODE_CHANNEL)

#define LENET_CHECK_PERF(Ours, RealT)                \
  LENET_CHECK_MEMBER(Ours, RealT, algo)              \
  LENET_CHECK_MEMBER(Ours, RealT, status)            \
  LENET_CHECK_MEMBER(Ours, RealT, time)              \
  LENET_CHECK_MEMBER(Ours, RealT, memory)            \
  LENET_CHECK_MEMBER(Ours, RealT, determinism)       \
  LENET_CHECK_MEMBER(Ours, RealT, mathType)          \
  LENET_CHECK_MEMBER(Ours, RealT, reserved)
LENET_CHECK_PERF(L::cudnnConvolutionFwdAlgoPerf_t, ::cudnnConvolutionFwdAlgoPerf_t)
LENET_CHECK_PERF(L::cudnnConvolutionBwdDataAlgoPerf_t, ::cudnnConvolutionBwdDataAlgoPerf_t)
LENET_CHECK_PERF(L::cudnnConvolutionBwdFilterAlgoPerf_t, ::cudnnConvolutionBwdFilterAlgoPerf_t)

LENET_CUDNN_FUNCTIONS(LENET_CHECK_FUNCTION)
#if CUDNN_MAJOR >= 9
LENET_CUDNN_OPTIONAL_FUNCTIONS(LENET_CHECK_FUNCTION)
#endif
#else
#pragma message("lenet header_check: cuDNN: SKIPPED (no <cudnn.h> on the include path)")
#endif

}  // namespace lenet_header_check
