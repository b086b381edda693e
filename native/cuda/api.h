// Our own declarations of the subset of the CUDA runtime, cuBLAS and cuDNN APIs the CUDA backend
// uses: opaque handle types, the enums (with the numeric values of NVIDIA's headers), the
// algorithm-performance structs, and one function-pointer typedef (PFN_<symbol>) per function.
//
// Why not include NVIDIA's headers? The libraries are loaded at run time with dlopen (see
// loader.h), so the addon must build on machines that have neither the CUDA headers nor the
// libraries. Everything here is written from the public headers (cuda_runtime_api.h and
// driver_types.h of CUDA 12/13, cublas_api.h of cuBLAS 12/13, cudnn_graph.h/cudnn_ops.h/
// cudnn_cnn.h of cuDNN 9 and cudnn_ops_infer.h/cudnn_cnn_infer.h of cuDNN 8), and
// header_check.cc static_asserts, against the real headers where they exist, that every value,
// layout and signature here matches.
//
// Coexistence with the real headers (header_check.cc includes both):
//  - Types live in namespace lenet::cuda. The enums are `enum class` with 32-bit underlying
//    type, so their enumerators (spelled as in NVIDIA's headers, for grep-ability against the
//    documentation) never clash with the real, unscoped ones. Do not `using namespace
//    lenet::cuda` in a file that also includes a real CUDA header.
//  - Opaque handles are pointers to the SAME global struct tags as the real headers
//    (CUstream_st, cudnnContext, ...), so lenet::cuda::cudaStream_t IS ::cudaStream_t: handles
//    pass between this code and code compiled against the real headers without casts.
//  - Names that the real headers #define as macros are avoided here: the stream flags
//    (cudaStreamNonBlocking is a macro, hence kCudaStreamNonBlocking), the cuBLAS v2 names
//    (cublas_v2.h #defines cublasSgemm to cublasSgemm_v2, so our typedefs are named after the
//    exported *_v2 symbols), and CUDA 12's `#define cudaGetDeviceProperties
//    cudaGetDeviceProperties_v2` (hence PFN_cudaGetDeviceProperties_v2).
//
// ABI notes: our enums have the size (4 bytes) of NVIDIA's C enums; GCC gives those an unsigned
// underlying type when no enumerator is negative, which passes and returns in the same registers
// as our `int`, so the signedness difference is invisible at the call boundary (header_check.cc
// asserts sizes; the values we use are all small and non-negative).
#pragma once

#include <cstddef>
#include <cstdint>

// The real headers' opaque struct tags, declared (never defined) at global scope so our handle
// typedefs are the very same types as NVIDIA's. Redeclaring an incomplete struct is harmless.
struct CUstream_st;             // cudaStream_t (driver_types.h), CUstream (cuda.h)
struct CUevent_st;              // cudaEvent_t (driver_types.h)
struct CUmemPoolHandle_st;      // cudaMemPool_t (driver_types.h)
struct CUctx_st;                // CUcontext (cuda.h)
struct CUmod_st;                // CUmodule (cuda.h)
struct CUfunc_st;               // CUfunction (cuda.h)
struct cublasContext;           // cublasHandle_t (cublas_api.h)
struct cudnnContext;            // cudnnHandle_t (cudnn_graph.h / cudnn_ops_infer.h)
struct cudnnTensorStruct;       // cudnnTensorDescriptor_t
struct cudnnFilterStruct;       // cudnnFilterDescriptor_t
struct cudnnConvolutionStruct;  // cudnnConvolutionDescriptor_t
struct cudnnActivationStruct;   // cudnnActivationDescriptor_t

namespace lenet::cuda {

// ================================================================================================
// CUDA runtime (libcudart.so.13 / .12; every function here exists from CUDA 12.0 on)
// ================================================================================================

/// @brief A CUDA stream (same type as ::cudaStream_t).
using cudaStream_t = ::CUstream_st*;
/// @brief A CUDA event (same type as ::cudaEvent_t): a point in a stream to wait for.
using cudaEvent_t = ::CUevent_st*;
/// @brief A stream-ordered memory pool (same type as ::cudaMemPool_t).
using cudaMemPool_t = ::CUmemPoolHandle_st*;

/// @brief cudaError_t: the runtime's status codes (only those we name; any value may come back).
///
/// Values from driver_types.h; identical in CUDA 12 and 13.
enum class cudaError_t : int {
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorMemoryAllocation = 2,  ///< out of device memory: check_cuda throws lenet::OutOfMemory
  cudaErrorInitializationError = 3,
  cudaErrorInvalidConfiguration = 9,
  cudaErrorStubLibrary = 34,         ///< the libcuda.so found is the toolkit's stub, not a driver
  cudaErrorInsufficientDriver = 35,  ///< no driver, or one older than the runtime
  cudaErrorDevicesUnavailable = 46,
  cudaErrorNoDevice = 100,
  cudaErrorInvalidDevice = 101,
  cudaErrorInvalidKernelImage = 200,
  cudaErrorNoKernelImageForDevice = 209,
  cudaErrorUnsupportedPtxVersion = 222,
  cudaErrorInvalidResourceHandle = 400,
  cudaErrorSymbolNotFound = 500,
  cudaErrorNotReady = 600,
  cudaErrorIllegalAddress = 700,
  cudaErrorLaunchOutOfResources = 701,
  cudaErrorLaunchFailure = 719,
  cudaErrorSystemDriverMismatch = 803,
  cudaErrorCompatNotSupportedOnDevice = 804,
  cudaErrorUnknown = 999,
};

/// @brief Direction of a cudaMemcpyAsync.
enum class cudaMemcpyKind : int {
  cudaMemcpyHostToHost = 0,
  cudaMemcpyHostToDevice = 1,
  cudaMemcpyDeviceToHost = 2,
  cudaMemcpyDeviceToDevice = 3,
  cudaMemcpyDefault = 4,  ///< inferred from the pointers (unified addressing)
};

/// @brief The cudaDeviceGetAttribute attributes we query (values from driver_types.h).
enum class cudaDeviceAttr : int {
  cudaDevAttrMaxThreadsPerBlock = 1,
  cudaDevAttrMaxBlockDimX = 2,
  cudaDevAttrMaxGridDimX = 5,
  cudaDevAttrMaxSharedMemoryPerBlock = 8,
  cudaDevAttrWarpSize = 10,
  cudaDevAttrMultiProcessorCount = 16,
  cudaDevAttrIntegrated = 18,
  cudaDevAttrL2CacheSize = 38,
  cudaDevAttrComputeCapabilityMajor = 75,
  cudaDevAttrComputeCapabilityMinor = 76,
  cudaDevAttrMaxSharedMemoryPerBlockOptin = 97,
  cudaDevAttrMemoryPoolsSupported = 115,  ///< cudaMallocAsync and the cudaMemPool API work
};

/// @brief cudaMemPoolSetAttribute attributes we set.
enum class cudaMemPoolAttr : int {
  /// uint64 bytes the pool keeps reserved at a synchronization instead of returning to the OS.
  cudaMemPoolAttrReleaseThreshold = 4,
};

/// @brief Flags of cudaStreamCreateWithFlags (macros cudaStreamDefault / cudaStreamNonBlocking
/// in driver_types.h, hence the different spelling).
constexpr unsigned int kCudaStreamDefault = 0x00;
/// @brief The stream does not synchronize with the legacy default stream.
constexpr unsigned int kCudaStreamNonBlocking = 0x01;
/// @brief cudaEventCreateWithFlags flag: waiting threads sleep instead of spinning.
constexpr unsigned int kCudaEventBlockingSync = 0x01;
/// @brief cudaEventCreateWithFlags flag: the event records no timestamp (cheaper).
constexpr unsigned int kCudaEventDisableTiming = 0x02;
/// @brief cudaHostAlloc flag: pinned memory usable by every CUDA context (macro
/// cudaHostAllocPortable in driver_types.h).
constexpr unsigned int kCudaHostAllocPortable = 0x01;

/// @brief Bytes we hand cudaGetDeviceProperties for its cudaDeviceProp.
///
/// We only read the leading `char name[256]` (offset 0 in every CUDA version), so we never
/// declare the ~100-field struct. Its size differs between versions (1008 bytes in CUDA 13.0,
/// about 1 KiB in CUDA 12, less in the CUDA 11 layout that CUDA 12 still fills under the plain
/// symbol name), and a runtime newer than this code may grow it; the runtime writes the whole
/// struct, so the buffer must be at least as large as whatever runtime gets loaded. 8 KiB is
/// many times today's size. header_check.cc asserts offsetof(name) == 0, sizeof(name) == 256
/// and sizeof(cudaDeviceProp) <= this.
constexpr std::size_t kDevicePropBufferBytes = 8192;
/// @brief Length of cudaDeviceProp::name (a NUL-terminated string).
constexpr std::size_t kDevicePropNameBytes = 256;

/// @brief cudaGetDeviceCount(int* count).
using PFN_cudaGetDeviceCount = cudaError_t (*)(int* count);
/// @brief cudaGetDevice(int* device): the calling thread's current device.
using PFN_cudaGetDevice = cudaError_t (*)(int* device);
/// @brief cudaSetDevice(int device): makes `device` current for the calling thread.
using PFN_cudaSetDevice = cudaError_t (*)(int device);
/// @brief cudaGetDeviceProperties(struct cudaDeviceProp* prop, int device), with `prop` a raw
/// buffer of kDevicePropBufferBytes.
///
/// Resolved to the symbol cudaGetDeviceProperties_v2 where the runtime exports it (CUDA 12,
/// whose header maps the plain name to it; the plain CUDA 12 symbol fills the CUDA 11 layout),
/// else to cudaGetDeviceProperties (CUDA 13, which dropped the _v2 name).
using PFN_cudaGetDeviceProperties_v2 = cudaError_t (*)(void* prop, int device);
/// @brief cudaDeviceGetAttribute(int* value, enum cudaDeviceAttr attr, int device).
using PFN_cudaDeviceGetAttribute = cudaError_t (*)(int* value, cudaDeviceAttr attr, int device);
/// @brief cudaRuntimeGetVersion(int*): the loaded runtime's version, 1000*major + 10*minor.
using PFN_cudaRuntimeGetVersion = cudaError_t (*)(int* runtime_version);
/// @brief cudaDriverGetVersion(int*): the newest CUDA version the driver supports, or 0 when no
/// driver is installed (needs no GPU and creates no context).
using PFN_cudaDriverGetVersion = cudaError_t (*)(int* driver_version);
/// @brief cudaGetErrorString(cudaError_t): a description, e.g. "out of memory".
using PFN_cudaGetErrorString = const char* (*)(cudaError_t error);
/// @brief cudaGetErrorName(cudaError_t): the enumerator's name, e.g. "cudaErrorMemoryAllocation".
using PFN_cudaGetErrorName = const char* (*)(cudaError_t error);
/// @brief cudaMalloc(void** ptr, size_t bytes).
using PFN_cudaMalloc = cudaError_t (*)(void** dev_ptr, std::size_t size);
/// @brief cudaFree(void* ptr). May synchronize the device: used only where pools are unsupported,
/// after the memory's last use is known to be complete.
using PFN_cudaFree = cudaError_t (*)(void* dev_ptr);
/// @brief cudaMallocAsync(void** ptr, size_t bytes, stream): stream-ordered allocation from the
/// current pool of the stream's device.
using PFN_cudaMallocAsync = cudaError_t (*)(void** dev_ptr, std::size_t size, cudaStream_t stream);
/// @brief cudaFreeAsync(ptr, stream): returns the memory to its pool once the stream's work
/// issued so far is done; never blocks the caller.
using PFN_cudaFreeAsync = cudaError_t (*)(void* dev_ptr, cudaStream_t stream);
/// @brief cudaDeviceGetDefaultMemPool(cudaMemPool_t*, int device).
using PFN_cudaDeviceGetDefaultMemPool = cudaError_t (*)(cudaMemPool_t* pool, int device);
/// @brief cudaMemPoolSetAttribute(pool, attr, void* value).
using PFN_cudaMemPoolSetAttribute = cudaError_t (*)(cudaMemPool_t pool, cudaMemPoolAttr attr,
                                                    void* value);
/// @brief cudaHostAlloc(void** ptr, size_t bytes, unsigned flags): page-locked host memory.
using PFN_cudaHostAlloc = cudaError_t (*)(void** host_ptr, std::size_t size, unsigned int flags);
/// @brief cudaFreeHost(void* ptr).
using PFN_cudaFreeHost = cudaError_t (*)(void* host_ptr);
/// @brief cudaMemcpyAsync(dst, src, bytes, kind, stream).
using PFN_cudaMemcpyAsync = cudaError_t (*)(void* dst, const void* src, std::size_t count,
                                            cudaMemcpyKind kind, cudaStream_t stream);
/// @brief cudaMemsetAsync(ptr, byte value, bytes, stream).
using PFN_cudaMemsetAsync = cudaError_t (*)(void* dev_ptr, int value, std::size_t count,
                                            cudaStream_t stream);
/// @brief cudaMemGetInfo(size_t* free, size_t* total) of the current device.
using PFN_cudaMemGetInfo = cudaError_t (*)(std::size_t* free_bytes, std::size_t* total_bytes);
/// @brief cudaStreamCreateWithFlags(cudaStream_t*, unsigned flags), flags kCudaStream*.
using PFN_cudaStreamCreateWithFlags = cudaError_t (*)(cudaStream_t* stream, unsigned int flags);
/// @brief cudaStreamDestroy(cudaStream_t).
using PFN_cudaStreamDestroy = cudaError_t (*)(cudaStream_t stream);
/// @brief cudaStreamSynchronize(cudaStream_t): blocks until the stream's work is done.
using PFN_cudaStreamSynchronize = cudaError_t (*)(cudaStream_t stream);
/// @brief cudaEventCreateWithFlags(cudaEvent_t*, unsigned flags), flags kCudaEvent*.
using PFN_cudaEventCreateWithFlags = cudaError_t (*)(cudaEvent_t* event, unsigned int flags);
/// @brief cudaEventRecord(event, stream): the event completes when the stream's work so far has.
using PFN_cudaEventRecord = cudaError_t (*)(cudaEvent_t event, cudaStream_t stream);
/// @brief cudaEventSynchronize(event): blocks until the event has completed.
using PFN_cudaEventSynchronize = cudaError_t (*)(cudaEvent_t event);
/// @brief cudaEventQuery(event): cudaSuccess when complete, cudaErrorNotReady when not yet.
using PFN_cudaEventQuery = cudaError_t (*)(cudaEvent_t event);
/// @brief cudaEventDestroy(event).
using PFN_cudaEventDestroy = cudaError_t (*)(cudaEvent_t event);

// ================================================================================================
// CUDA driver API (libcuda.so.1, installed with the NVIDIA driver). Used only to load and launch
// our own kernels (module load, get function, launch), which every CUDA 12 and 13 driver allows;
// everything else goes through the runtime, which shares the device's primary context with us.
// ================================================================================================

/// @brief A device ordinal of the driver API (same type as ::CUdevice).
using CUdevice = int;
/// @brief A context (same type as ::CUcontext); we only use the device's primary context.
using CUcontext = ::CUctx_st*;
/// @brief A loaded module (same type as ::CUmodule).
using CUmodule = ::CUmod_st*;
/// @brief A kernel of a loaded module (same type as ::CUfunction).
using CUfunction = ::CUfunc_st*;
/// @brief A stream; the very same type as cudaStream_t, so our runtime stream launches here.
using CUstream = ::CUstream_st*;

/// @brief CUresult: the driver's status codes (only those we name; any value may come back).
enum class CUresult : int {
  CUDA_SUCCESS = 0,
  CUDA_ERROR_INVALID_VALUE = 1,
  CUDA_ERROR_OUT_OF_MEMORY = 2,
  CUDA_ERROR_NOT_INITIALIZED = 3,
  CUDA_ERROR_NO_DEVICE = 100,
  CUDA_ERROR_INVALID_DEVICE = 101,
  CUDA_ERROR_NO_BINARY_FOR_GPU = 209,
  CUDA_ERROR_INVALID_PTX = 218,
  CUDA_ERROR_UNSUPPORTED_PTX_VERSION = 222,
  CUDA_ERROR_INVALID_HANDLE = 400,
  CUDA_ERROR_NOT_FOUND = 500,
};

/// @brief cuInit(flags): flags must be 0. Idempotent; the runtime calls it too.
using PFN_cuInit = CUresult (*)(unsigned int flags);
/// @brief cuDriverGetVersion(int*): e.g. 13000 for a driver supporting CUDA 13.0.
using PFN_cuDriverGetVersion = CUresult (*)(int* driver_version);
/// @brief cuDeviceGet(CUdevice*, ordinal).
using PFN_cuDeviceGet = CUresult (*)(CUdevice* device, int ordinal);
/// @brief cuDevicePrimaryCtxRetain(CUcontext*, dev): the context the runtime uses for `dev`.
using PFN_cuDevicePrimaryCtxRetain = CUresult (*)(CUcontext* ctx, CUdevice dev);
/// @brief cuDevicePrimaryCtxRelease(dev) (exported as cuDevicePrimaryCtxRelease_v2; cuda.h
/// maps the plain name to it with a macro).
using PFN_cuDevicePrimaryCtxRelease_v2 = CUresult (*)(CUdevice dev);
/// @brief cuCtxGetCurrent(CUcontext*): the calling thread's current context.
using PFN_cuCtxGetCurrent = CUresult (*)(CUcontext* ctx);
/// @brief cuCtxSetCurrent(ctx): makes `ctx` current for the calling thread.
using PFN_cuCtxSetCurrent = CUresult (*)(CUcontext ctx);
/// @brief cuModuleLoadData(CUmodule*, image): loads a PTX/cubin/fatbin image into the current
/// context (PTX is JIT-compiled for the GPU by the driver).
using PFN_cuModuleLoadData = CUresult (*)(CUmodule* module, const void* image);
/// @brief cuModuleUnload(module).
using PFN_cuModuleUnload = CUresult (*)(CUmodule module);
/// @brief cuModuleGetFunction(CUfunction*, module, "extern C name").
using PFN_cuModuleGetFunction = CUresult (*)(CUfunction* function, CUmodule module,
                                             const char* name);
/// @brief cuLaunchKernel(f, grid xyz, block xyz, shared bytes, stream, args, extra): args[i]
/// points at the i-th kernel argument.
using PFN_cuLaunchKernel = CUresult (*)(CUfunction f, unsigned int grid_x, unsigned int grid_y,
                                        unsigned int grid_z, unsigned int block_x,
                                        unsigned int block_y, unsigned int block_z,
                                        unsigned int shared_mem_bytes, CUstream stream,
                                        void** kernel_params, void** extra);
/// @brief cuGetErrorName(status, const char**): the enumerator's name.
using PFN_cuGetErrorName = CUresult (*)(CUresult error, const char** name);
/// @brief cuGetErrorString(status, const char**): a description.
using PFN_cuGetErrorString = CUresult (*)(CUresult error, const char** text);

// ================================================================================================
// cuBLAS (libcublas.so.13 / .12). The exported symbols of the handle API carry a _v2 suffix;
// cublas_v2.h maps the plain names to them with macros, so our typedefs use the symbol names.
// ================================================================================================

/// @brief A cuBLAS context (same type as ::cublasHandle_t).
using cublasHandle_t = ::cublasContext*;

/// @brief cublasStatus_t (cublas_api.h; identical in cuBLAS 12 and 13).
enum class cublasStatus_t : int {
  CUBLAS_STATUS_SUCCESS = 0,
  CUBLAS_STATUS_NOT_INITIALIZED = 1,
  CUBLAS_STATUS_ALLOC_FAILED = 3,  ///< check_cublas throws lenet::OutOfMemory
  CUBLAS_STATUS_INVALID_VALUE = 7,
  CUBLAS_STATUS_ARCH_MISMATCH = 8,
  CUBLAS_STATUS_MAPPING_ERROR = 11,
  CUBLAS_STATUS_EXECUTION_FAILED = 13,
  CUBLAS_STATUS_INTERNAL_ERROR = 14,
  CUBLAS_STATUS_NOT_SUPPORTED = 15,
  CUBLAS_STATUS_LICENSE_ERROR = 16,
};

/// @brief Transposition of a GEMM/GEMV operand (cuBLAS is column-major).
enum class cublasOperation_t : int {
  CUBLAS_OP_N = 0,
  CUBLAS_OP_T = 1,
  CUBLAS_OP_C = 2,
};

/// @brief Where alpha/beta live: host memory (the default) or device memory.
enum class cublasPointerMode_t : int {
  CUBLAS_POINTER_MODE_HOST = 0,
  CUBLAS_POINTER_MODE_DEVICE = 1,
};

/// @brief cublasSetMathMode modes. TF32 lets single-precision GEMMs use tensor cores with
/// 10-bit mantissa inputs; PEDANTIC forbids every such shortcut.
enum class cublasMath_t : int {
  CUBLAS_DEFAULT_MATH = 0,
  CUBLAS_PEDANTIC_MATH = 2,
  CUBLAS_TF32_TENSOR_OP_MATH = 3,
  /// OR-able flag: reductions accumulate in the compute type, never the output type.
  CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION = 16,
};

/// @brief libraryPropertyType (library_types.h), for cublasGetProperty.
enum class libraryPropertyType : int {
  MAJOR_VERSION = 0,
  MINOR_VERSION = 1,
  PATCH_LEVEL = 2,
};

/// @brief cublasCreate_v2(cublasHandle_t*): creates a context on the current device.
using PFN_cublasCreate_v2 = cublasStatus_t (*)(cublasHandle_t* handle);
/// @brief cublasDestroy_v2(cublasHandle_t).
using PFN_cublasDestroy_v2 = cublasStatus_t (*)(cublasHandle_t handle);
/// @brief cublasSetStream_v2(handle, stream): later calls on `handle` run on `stream`.
using PFN_cublasSetStream_v2 = cublasStatus_t (*)(cublasHandle_t handle, cudaStream_t stream);
/// @brief cublasSetPointerMode_v2(handle, mode).
using PFN_cublasSetPointerMode_v2 = cublasStatus_t (*)(cublasHandle_t handle,
                                                       cublasPointerMode_t mode);
/// @brief cublasSetMathMode(handle, mode) (no _v2 suffix): turns TF32 on or off.
using PFN_cublasSetMathMode = cublasStatus_t (*)(cublasHandle_t handle, cublasMath_t mode);
/// @brief cublasGetVersion_v2(handle, int*): e.g. 120902 for 12.9.2 (major*10000+minor*100+patch).
using PFN_cublasGetVersion_v2 = cublasStatus_t (*)(cublasHandle_t handle, int* version);
/// @brief cublasGetProperty(type, int*): version parts without a handle (so without a GPU).
using PFN_cublasGetProperty = cublasStatus_t (*)(libraryPropertyType type, int* value);
/// @brief cublasGetStatusName(status): e.g. "CUBLAS_STATUS_ALLOC_FAILED".
using PFN_cublasGetStatusName = const char* (*)(cublasStatus_t status);
/// @brief cublasGetStatusString(status): a description of the status.
using PFN_cublasGetStatusString = const char* (*)(cublasStatus_t status);
/// @brief cublasSgemm_v2: C = alpha * op(A) op(B) + beta * C, column-major, m x n x k.
using PFN_cublasSgemm_v2 = cublasStatus_t (*)(cublasHandle_t handle, cublasOperation_t transa,
                                              cublasOperation_t transb, int m, int n, int k,
                                              const float* alpha, const float* A, int lda,
                                              const float* B, int ldb, const float* beta,
                                              float* C, int ldc);
/// @brief cublasSgemv_v2: y = alpha * op(A) x + beta * y, A column-major m x n.
using PFN_cublasSgemv_v2 = cublasStatus_t (*)(cublasHandle_t handle, cublasOperation_t trans,
                                              int m, int n, const float* alpha, const float* A,
                                              int lda, const float* x, int incx,
                                              const float* beta, float* y, int incy);
/// @brief cublasSaxpy_v2: y += alpha * x.
using PFN_cublasSaxpy_v2 = cublasStatus_t (*)(cublasHandle_t handle, int n, const float* alpha,
                                              const float* x, int incx, float* y, int incy);
/// @brief cublasSscal_v2: x *= alpha.
using PFN_cublasSscal_v2 = cublasStatus_t (*)(cublasHandle_t handle, int n, const float* alpha,
                                              float* x, int incx);

// ================================================================================================
// cuDNN (libcudnn.so.9 / .8). The legacy ("imperative") API below exists, with the same
// signatures, in cuDNN 8 and 9; cuDNN 9 marks much of it deprecated but still exports it.
// ================================================================================================

/// @brief A cuDNN context (same type as ::cudnnHandle_t).
using cudnnHandle_t = ::cudnnContext*;
/// @brief Same type as ::cudnnTensorDescriptor_t.
using cudnnTensorDescriptor_t = ::cudnnTensorStruct*;
/// @brief Same type as ::cudnnFilterDescriptor_t.
using cudnnFilterDescriptor_t = ::cudnnFilterStruct*;
/// @brief Same type as ::cudnnConvolutionDescriptor_t.
using cudnnConvolutionDescriptor_t = ::cudnnConvolutionStruct*;
/// @brief Same type as ::cudnnActivationDescriptor_t.
using cudnnActivationDescriptor_t = ::cudnnActivationStruct*;

/// @brief cudnnStatus_t. Only SUCCESS == 0 is the same in every version: cuDNN 9 renumbered the
/// errors (categories of 1000: BAD_PARAM 2000, NOT_SUPPORTED 3000, ...) while cuDNN 8 used
/// 1..14. Never compare with other values; use cudnnGetErrorString for text and the helpers in
/// status.h (cudnn_status_is_alloc_failure, ...) or the constants below for classification.
enum class cudnnStatus_t : int {
  CUDNN_STATUS_SUCCESS = 0,
};

/// @brief cuDNN 9 status values we classify (cudnn_graph.h). Deliberately not enumerators of
/// cudnnStatus_t: they mean something else, or nothing, in cuDNN 8.
namespace cudnn9_status {
constexpr int kNotInitialized = 1001;
constexpr int kBadParam = 2000;  ///< category 2000..2999
constexpr int kNotSupported = 3000;  ///< category 3000..3999
constexpr int kInternalError = 4000;  ///< category 4000..4999
/// INTERNAL_ERROR_HOST_ALLOCATION_FAILED; the deprecated CUDNN_STATUS_ALLOC_FAILED aliases it.
constexpr int kHostAllocationFailed = 4003;
constexpr int kDeviceAllocationFailed = 4004;  ///< INTERNAL_ERROR_DEVICE_ALLOCATION_FAILED
constexpr int kExecutionFailed = 5000;  ///< category 5000..5999
}  // namespace cudnn9_status

/// @brief cuDNN 8 status values we classify (cudnn_ops_infer.h of cuDNN 8).
namespace cudnn8_status {
constexpr int kNotInitialized = 1;
constexpr int kAllocFailed = 2;
constexpr int kBadParam = 3;
constexpr int kInternalError = 4;
constexpr int kExecutionFailed = 8;
constexpr int kNotSupported = 9;
}  // namespace cudnn8_status

/// @brief Element type of tensors/filters/convolutions; the backend only uses FLOAT.
enum class cudnnDataType_t : int {
  CUDNN_DATA_FLOAT = 0,
};

/// @brief Memory layout of 4-d tensors/filters; the backend only uses NCHW.
enum class cudnnTensorFormat_t : int {
  CUDNN_TENSOR_NCHW = 0,
};

/// @brief CONVOLUTION flips the filter; CROSS_CORRELATION (what deep learning calls
/// convolution) does not.
enum class cudnnConvolutionMode_t : int {
  CUDNN_CONVOLUTION = 0,
  CUDNN_CROSS_CORRELATION = 1,
};

/// @brief Whether convolutions may use tensor cores (TF32 for float data on Ampere+).
enum class cudnnMathType_t : int {
  CUDNN_DEFAULT_MATH = 0,
  CUDNN_TENSOR_OP_MATH = 1,
  CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION = 2,
  CUDNN_FMA_MATH = 3,  ///< no tensor cores: plain FP32 FMA
};

/// @brief Whether an algorithm gives bitwise-reproducible results (in the perf structs).
enum class cudnnDeterminism_t : int {
  CUDNN_NON_DETERMINISTIC = 0,
  CUDNN_DETERMINISTIC = 1,
};

/// @brief Forward convolution algorithms.
enum class cudnnConvolutionFwdAlgo_t : int {
  CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM = 0,
  CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM = 1,
  CUDNN_CONVOLUTION_FWD_ALGO_GEMM = 2,
  CUDNN_CONVOLUTION_FWD_ALGO_DIRECT = 3,
  CUDNN_CONVOLUTION_FWD_ALGO_FFT = 4,
  CUDNN_CONVOLUTION_FWD_ALGO_FFT_TILING = 5,
  CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD = 6,
  CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD_NONFUSED = 7,
  CUDNN_CONVOLUTION_FWD_ALGO_COUNT = 8,
};

/// @brief Backward-data (input gradient) convolution algorithms.
enum class cudnnConvolutionBwdDataAlgo_t : int {
  CUDNN_CONVOLUTION_BWD_DATA_ALGO_0 = 0,  ///< non-deterministic
  CUDNN_CONVOLUTION_BWD_DATA_ALGO_1 = 1,
  CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT = 2,
  CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT_TILING = 3,
  CUDNN_CONVOLUTION_BWD_DATA_ALGO_WINOGRAD = 4,
  CUDNN_CONVOLUTION_BWD_DATA_ALGO_WINOGRAD_NONFUSED = 5,
  CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT = 6,
};

/// @brief Backward-filter (weight gradient) convolution algorithms.
enum class cudnnConvolutionBwdFilterAlgo_t : int {
  CUDNN_CONVOLUTION_BWD_FILTER_ALGO_0 = 0,  ///< non-deterministic
  CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1 = 1,
  CUDNN_CONVOLUTION_BWD_FILTER_ALGO_FFT = 2,
  CUDNN_CONVOLUTION_BWD_FILTER_ALGO_3 = 3,  ///< non-deterministic
  CUDNN_CONVOLUTION_BWD_FILTER_ALGO_WINOGRAD = 4,  ///< not implemented by cuDNN
  CUDNN_CONVOLUTION_BWD_FILTER_ALGO_WINOGRAD_NONFUSED = 5,
  CUDNN_CONVOLUTION_BWD_FILTER_ALGO_FFT_TILING = 6,
  CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT = 7,
};

/// @brief Whether max pooling / activations propagate NaNs.
enum class cudnnNanPropagation_t : int {
  CUDNN_NOT_PROPAGATE_NAN = 0,
  CUDNN_PROPAGATE_NAN = 1,
};

/// @brief Activation functions; LeNet uses tanh.
enum class cudnnActivationMode_t : int {
  CUDNN_ACTIVATION_TANH = 2,
};

/// @brief Softmax variants: FAST (no max subtraction), ACCURATE (subtracts the max), LOG
/// (log-softmax).
enum class cudnnSoftmaxAlgorithm_t : int {
  CUDNN_SOFTMAX_FAST = 0,
  CUDNN_SOFTMAX_ACCURATE = 1,
  CUDNN_SOFTMAX_LOG = 2,
};

/// @brief Softmax over C*H*W per image (INSTANCE) or over C per pixel (CHANNEL).
enum class cudnnSoftmaxMode_t : int {
  CUDNN_SOFTMAX_MODE_INSTANCE = 0,
  CUDNN_SOFTMAX_MODE_CHANNEL = 1,
};

/// @brief One result of cudnnGet/FindConvolutionForwardAlgorithm. Same layout in cuDNN 8
/// (cudnn_cnn_infer.h) and 9 (cudnn_cnn.h): 48 bytes on LP64, `memory` at offset 16.
struct cudnnConvolutionFwdAlgoPerf_t {
  cudnnConvolutionFwdAlgo_t algo;
  cudnnStatus_t status;  ///< SUCCESS if the algorithm is usable for the problem
  float time;            ///< milliseconds, measured by Find (Get_v7 does not time)
  std::size_t memory;    ///< workspace bytes needed
  cudnnDeterminism_t determinism;
  cudnnMathType_t mathType;
  int reserved[3];
};

/// @brief One result of cudnnGet/FindConvolutionBackwardDataAlgorithm (same layout as above).
struct cudnnConvolutionBwdDataAlgoPerf_t {
  cudnnConvolutionBwdDataAlgo_t algo;
  cudnnStatus_t status;
  float time;
  std::size_t memory;
  cudnnDeterminism_t determinism;
  cudnnMathType_t mathType;
  int reserved[3];
};

/// @brief One result of cudnnGet/FindConvolutionBackwardFilterAlgorithm (same layout).
struct cudnnConvolutionBwdFilterAlgoPerf_t {
  cudnnConvolutionBwdFilterAlgo_t algo;
  cudnnStatus_t status;
  float time;
  std::size_t memory;
  cudnnDeterminism_t determinism;
  cudnnMathType_t mathType;
  int reserved[3];
};

/// @brief cudnnGetVersion(): 10000*major + 100*minor + patch in cuDNN 9 (e.g. 90100), but
/// 1000*major + 100*minor + patch in cuDNN 8 (e.g. 8907).
using PFN_cudnnGetVersion = std::size_t (*)();
/// @brief cudnnGetCudartVersion(): the CUDA runtime version cuDNN was built with (e.g. 12080).
using PFN_cudnnGetCudartVersion = std::size_t (*)();
/// @brief cudnnGetErrorString(status): the status's name, e.g. "CUDNN_STATUS_BAD_PARAM".
using PFN_cudnnGetErrorString = const char* (*)(cudnnStatus_t status);
/// @brief cudnnGetLastErrorString(buf, size) (cuDNN >= 9.0 only, hence optional in the
/// loader): a detailed message about the calling thread's last error.
using PFN_cudnnGetLastErrorString = void (*)(char* message, std::size_t max_size);
/// @brief cudnnCreate(cudnnHandle_t*): creates a context on the current device.
using PFN_cudnnCreate = cudnnStatus_t (*)(cudnnHandle_t* handle);
/// @brief cudnnDestroy(cudnnHandle_t).
using PFN_cudnnDestroy = cudnnStatus_t (*)(cudnnHandle_t handle);
/// @brief cudnnSetStream(handle, stream): later calls on `handle` run on `stream`.
using PFN_cudnnSetStream = cudnnStatus_t (*)(cudnnHandle_t handle, cudaStream_t stream);

/// @brief cudnnCreateTensorDescriptor(cudnnTensorDescriptor_t*).
using PFN_cudnnCreateTensorDescriptor = cudnnStatus_t (*)(cudnnTensorDescriptor_t* desc);
/// @brief cudnnSetTensor4dDescriptor(desc, format, dataType, n, c, h, w). Note the order:
/// format BEFORE data type here, but after it in cudnnSetFilter4dDescriptor.
using PFN_cudnnSetTensor4dDescriptor = cudnnStatus_t (*)(cudnnTensorDescriptor_t desc,
                                                         cudnnTensorFormat_t format,
                                                         cudnnDataType_t data_type, int n,
                                                         int c, int h, int w);
/// @brief cudnnDestroyTensorDescriptor(desc).
using PFN_cudnnDestroyTensorDescriptor = cudnnStatus_t (*)(cudnnTensorDescriptor_t desc);
/// @brief cudnnCreateFilterDescriptor(cudnnFilterDescriptor_t*).
using PFN_cudnnCreateFilterDescriptor = cudnnStatus_t (*)(cudnnFilterDescriptor_t* desc);
/// @brief cudnnSetFilter4dDescriptor(desc, dataType, format, k (out channels), c, h, w).
using PFN_cudnnSetFilter4dDescriptor = cudnnStatus_t (*)(cudnnFilterDescriptor_t desc,
                                                         cudnnDataType_t data_type,
                                                         cudnnTensorFormat_t format, int k,
                                                         int c, int h, int w);
/// @brief cudnnDestroyFilterDescriptor(desc).
using PFN_cudnnDestroyFilterDescriptor = cudnnStatus_t (*)(cudnnFilterDescriptor_t desc);
/// @brief cudnnCreateConvolutionDescriptor(cudnnConvolutionDescriptor_t*).
using PFN_cudnnCreateConvolutionDescriptor =
    cudnnStatus_t (*)(cudnnConvolutionDescriptor_t* desc);
/// @brief cudnnSetConvolution2dDescriptor(desc, pad_h, pad_w, stride_h, stride_w, dilation_h,
/// dilation_w, mode, computeType).
using PFN_cudnnSetConvolution2dDescriptor =
    cudnnStatus_t (*)(cudnnConvolutionDescriptor_t desc, int pad_h, int pad_w, int u, int v,
                      int dilation_h, int dilation_w, cudnnConvolutionMode_t mode,
                      cudnnDataType_t compute_type);
/// @brief cudnnSetConvolutionMathType(desc, mathType): allow or forbid tensor cores (TF32).
using PFN_cudnnSetConvolutionMathType = cudnnStatus_t (*)(cudnnConvolutionDescriptor_t desc,
                                                          cudnnMathType_t math_type);
/// @brief cudnnDestroyConvolutionDescriptor(desc).
using PFN_cudnnDestroyConvolutionDescriptor = cudnnStatus_t (*)(cudnnConvolutionDescriptor_t desc);
/// @brief cudnnCreateActivationDescriptor(cudnnActivationDescriptor_t*).
using PFN_cudnnCreateActivationDescriptor =
    cudnnStatus_t (*)(cudnnActivationDescriptor_t* desc);
/// @brief cudnnSetActivationDescriptor(desc, mode, nanOpt, coef) (coef: clipped-ReLU ceiling
/// or ELU alpha; ignored for tanh).
using PFN_cudnnSetActivationDescriptor = cudnnStatus_t (*)(cudnnActivationDescriptor_t desc,
                                                           cudnnActivationMode_t mode,
                                                           cudnnNanPropagation_t relu_nan_opt,
                                                           double coef);
/// @brief cudnnDestroyActivationDescriptor(desc).
using PFN_cudnnDestroyActivationDescriptor = cudnnStatus_t (*)(cudnnActivationDescriptor_t desc);

/// @brief cudnnGetConvolutionForwardAlgorithmMaxCount(handle, int*): how many results
/// cudnnFindConvolutionForwardAlgorithm can return (the size of its result array).
using PFN_cudnnGetConvolutionForwardAlgorithmMaxCount = cudnnStatus_t (*)(cudnnHandle_t handle,
                                                                           int* count);
/// @brief cudnnFindConvolutionForwardAlgorithm: times every forward algorithm on the GPU
/// (allocates its own buffers).
using PFN_cudnnFindConvolutionForwardAlgorithm =
    cudnnStatus_t (*)(cudnnHandle_t handle, cudnnTensorDescriptor_t x_desc,
                      cudnnFilterDescriptor_t w_desc, cudnnConvolutionDescriptor_t conv_desc,
                      cudnnTensorDescriptor_t y_desc, int requested_algo_count,
                      int* returned_algo_count, cudnnConvolutionFwdAlgoPerf_t* perf_results);
/// @brief cudnnGetConvolutionForwardWorkspaceSize(handle, x, w, conv, y, algo, size_t*).
using PFN_cudnnGetConvolutionForwardWorkspaceSize =
    cudnnStatus_t (*)(cudnnHandle_t handle, cudnnTensorDescriptor_t x_desc,
                      cudnnFilterDescriptor_t w_desc, cudnnConvolutionDescriptor_t conv_desc,
                      cudnnTensorDescriptor_t y_desc, cudnnConvolutionFwdAlgo_t algo,
                      std::size_t* size_in_bytes);
/// @brief cudnnConvolutionForward: y = alpha * conv(x, w) + beta * y (alpha/beta: host floats).
using PFN_cudnnConvolutionForward =
    cudnnStatus_t (*)(cudnnHandle_t handle, const void* alpha, cudnnTensorDescriptor_t x_desc,
                      const void* x, cudnnFilterDescriptor_t w_desc, const void* w,
                      cudnnConvolutionDescriptor_t conv_desc, cudnnConvolutionFwdAlgo_t algo,
                      void* work_space, std::size_t work_space_size_in_bytes, const void* beta,
                      cudnnTensorDescriptor_t y_desc, void* y);

/// @brief cudnnGetConvolutionBackwardDataAlgorithmMaxCount(handle, int*).
using PFN_cudnnGetConvolutionBackwardDataAlgorithmMaxCount =
    cudnnStatus_t (*)(cudnnHandle_t handle, int* count);
/// @brief cudnnFindConvolutionBackwardDataAlgorithm: times every backward-data algorithm.
using PFN_cudnnFindConvolutionBackwardDataAlgorithm =
    cudnnStatus_t (*)(cudnnHandle_t handle, cudnnFilterDescriptor_t w_desc,
                      cudnnTensorDescriptor_t dy_desc, cudnnConvolutionDescriptor_t conv_desc,
                      cudnnTensorDescriptor_t dx_desc, int requested_algo_count,
                      int* returned_algo_count, cudnnConvolutionBwdDataAlgoPerf_t* perf_results);
/// @brief cudnnGetConvolutionBackwardDataWorkspaceSize(handle, w, dy, conv, dx, algo, size_t*).
using PFN_cudnnGetConvolutionBackwardDataWorkspaceSize =
    cudnnStatus_t (*)(cudnnHandle_t handle, cudnnFilterDescriptor_t w_desc,
                      cudnnTensorDescriptor_t dy_desc, cudnnConvolutionDescriptor_t conv_desc,
                      cudnnTensorDescriptor_t dx_desc, cudnnConvolutionBwdDataAlgo_t algo,
                      std::size_t* size_in_bytes);
/// @brief cudnnConvolutionBackwardData: dx = alpha * conv_bwd_data(w, dy) + beta * dx.
using PFN_cudnnConvolutionBackwardData =
    cudnnStatus_t (*)(cudnnHandle_t handle, const void* alpha, cudnnFilterDescriptor_t w_desc,
                      const void* w, cudnnTensorDescriptor_t dy_desc, const void* dy,
                      cudnnConvolutionDescriptor_t conv_desc, cudnnConvolutionBwdDataAlgo_t algo,
                      void* work_space, std::size_t work_space_size_in_bytes, const void* beta,
                      cudnnTensorDescriptor_t dx_desc, void* dx);

/// @brief cudnnGetConvolutionBackwardFilterAlgorithmMaxCount(handle, int*).
using PFN_cudnnGetConvolutionBackwardFilterAlgorithmMaxCount =
    cudnnStatus_t (*)(cudnnHandle_t handle, int* count);
/// @brief cudnnFindConvolutionBackwardFilterAlgorithm: times every backward-filter algorithm.
using PFN_cudnnFindConvolutionBackwardFilterAlgorithm =
    cudnnStatus_t (*)(cudnnHandle_t handle, cudnnTensorDescriptor_t x_desc,
                      cudnnTensorDescriptor_t dy_desc, cudnnConvolutionDescriptor_t conv_desc,
                      cudnnFilterDescriptor_t dw_desc, int requested_algo_count,
                      int* returned_algo_count,
                      cudnnConvolutionBwdFilterAlgoPerf_t* perf_results);
/// @brief cudnnGetConvolutionBackwardFilterWorkspaceSize(handle, x, dy, conv, dw, algo, size_t*).
using PFN_cudnnGetConvolutionBackwardFilterWorkspaceSize =
    cudnnStatus_t (*)(cudnnHandle_t handle, cudnnTensorDescriptor_t x_desc,
                      cudnnTensorDescriptor_t dy_desc, cudnnConvolutionDescriptor_t conv_desc,
                      cudnnFilterDescriptor_t grad_desc, cudnnConvolutionBwdFilterAlgo_t algo,
                      std::size_t* size_in_bytes);
/// @brief cudnnConvolutionBackwardFilter: dw = alpha * conv_bwd_filter(x, dy) + beta * dw.
using PFN_cudnnConvolutionBackwardFilter =
    cudnnStatus_t (*)(cudnnHandle_t handle, const void* alpha, cudnnTensorDescriptor_t x_desc,
                      const void* x, cudnnTensorDescriptor_t dy_desc, const void* dy,
                      cudnnConvolutionDescriptor_t conv_desc,
                      cudnnConvolutionBwdFilterAlgo_t algo, void* work_space,
                      std::size_t work_space_size_in_bytes, const void* beta,
                      cudnnFilterDescriptor_t dw_desc, void* dw);
/// @brief cudnnConvolutionBackwardBias: db = alpha * sum of dy over N, H, W + beta * db.
using PFN_cudnnConvolutionBackwardBias =
    cudnnStatus_t (*)(cudnnHandle_t handle, const void* alpha, cudnnTensorDescriptor_t dy_desc,
                      const void* dy, const void* beta, cudnnTensorDescriptor_t db_desc,
                      void* db);

/// @brief cudnnActivationForward: y = alpha * act(x) + beta * y.
using PFN_cudnnActivationForward =
    cudnnStatus_t (*)(cudnnHandle_t handle, cudnnActivationDescriptor_t activation_desc,
                      const void* alpha, cudnnTensorDescriptor_t x_desc, const void* x,
                      const void* beta, cudnnTensorDescriptor_t y_desc, void* y);
/// @brief cudnnActivationBackward(handle, act, alpha, y, dy, x, beta, dx).
using PFN_cudnnActivationBackward =
    cudnnStatus_t (*)(cudnnHandle_t handle, cudnnActivationDescriptor_t activation_desc,
                      const void* alpha, cudnnTensorDescriptor_t y_desc, const void* y,
                      cudnnTensorDescriptor_t dy_desc, const void* dy,
                      cudnnTensorDescriptor_t x_desc, const void* x, const void* beta,
                      cudnnTensorDescriptor_t dx_desc, void* dx);
/// @brief cudnnSoftmaxForward(handle, algo, mode, alpha, x, beta, y).
using PFN_cudnnSoftmaxForward =
    cudnnStatus_t (*)(cudnnHandle_t handle, cudnnSoftmaxAlgorithm_t algo, cudnnSoftmaxMode_t mode,
                      const void* alpha, cudnnTensorDescriptor_t x_desc, const void* x,
                      const void* beta, cudnnTensorDescriptor_t y_desc, void* y);
/// @brief cudnnAddTensor: C = alpha * A + beta * C, with A broadcast over C's dimensions of
/// size 1 in A (the bias add).
using PFN_cudnnAddTensor =
    cudnnStatus_t (*)(cudnnHandle_t handle, const void* alpha, cudnnTensorDescriptor_t a_desc,
                      const void* A, const void* beta, cudnnTensorDescriptor_t c_desc, void* C);

// ================================================================================================
// The function lists, as X-macros: X(name) for each function, where `name` is both the symbol
// looked up with dlsym and the suffix of its PFN_ typedef. loader.h builds the function tables
// from them and header_check.cc checks every typedef against the real declaration, so a
// function added here is loaded and checked without further edits.
// ================================================================================================

/// @brief Every CUDA runtime function of CudartApi (all required).
#define LENET_CUDART_FUNCTIONS(X) \
  X(cudaGetDeviceCount)           \
  X(cudaGetDevice)                \
  X(cudaSetDevice)                \
  X(cudaGetDeviceProperties_v2)   \
  X(cudaDeviceGetAttribute)       \
  X(cudaRuntimeGetVersion)        \
  X(cudaDriverGetVersion)         \
  X(cudaGetErrorString)           \
  X(cudaGetErrorName)             \
  X(cudaMalloc)                   \
  X(cudaFree)                     \
  X(cudaMallocAsync)              \
  X(cudaFreeAsync)                \
  X(cudaDeviceGetDefaultMemPool)  \
  X(cudaMemPoolSetAttribute)      \
  X(cudaHostAlloc)                \
  X(cudaFreeHost)                 \
  X(cudaMemcpyAsync)              \
  X(cudaMemsetAsync)              \
  X(cudaMemGetInfo)               \
  X(cudaStreamCreateWithFlags)    \
  X(cudaStreamDestroy)            \
  X(cudaStreamSynchronize)        \
  X(cudaEventCreateWithFlags)     \
  X(cudaEventRecord)              \
  X(cudaEventSynchronize)         \
  X(cudaEventQuery)               \
  X(cudaEventDestroy)

/// @brief Every CUDA driver function of DriverApi (all required; present since CUDA 7).
#define LENET_DRIVER_FUNCTIONS(X)   \
  X(cuInit)                         \
  X(cuDriverGetVersion)             \
  X(cuDeviceGet)                    \
  X(cuDevicePrimaryCtxRetain)       \
  X(cuDevicePrimaryCtxRelease_v2)   \
  X(cuCtxGetCurrent)                \
  X(cuCtxSetCurrent)                \
  X(cuModuleLoadData)               \
  X(cuModuleUnload)                 \
  X(cuModuleGetFunction)            \
  X(cuLaunchKernel)                 \
  X(cuGetErrorName)                 \
  X(cuGetErrorString)

/// @brief Every cuBLAS function of CublasApi (all required).
#define LENET_CUBLAS_FUNCTIONS(X) \
  X(cublasCreate_v2)              \
  X(cublasDestroy_v2)             \
  X(cublasSetStream_v2)           \
  X(cublasSetPointerMode_v2)      \
  X(cublasSetMathMode)            \
  X(cublasGetVersion_v2)          \
  X(cublasGetProperty)            \
  X(cublasGetStatusName)          \
  X(cublasGetStatusString)        \
  X(cublasSgemm_v2)               \
  X(cublasSgemv_v2)               \
  X(cublasSaxpy_v2)               \
  X(cublasSscal_v2)

/// @brief Every required cuDNN function of CudnnApi (present in cuDNN 8 and 9).
#define LENET_CUDNN_FUNCTIONS(X)                    \
  X(cudnnGetVersion)                                \
  X(cudnnGetCudartVersion)                          \
  X(cudnnGetErrorString)                            \
  X(cudnnCreate)                                    \
  X(cudnnDestroy)                                   \
  X(cudnnSetStream)                                 \
  X(cudnnCreateTensorDescriptor)                    \
  X(cudnnSetTensor4dDescriptor)                     \
  X(cudnnDestroyTensorDescriptor)                   \
  X(cudnnCreateFilterDescriptor)                    \
  X(cudnnSetFilter4dDescriptor)                     \
  X(cudnnDestroyFilterDescriptor)                   \
  X(cudnnCreateConvolutionDescriptor)               \
  X(cudnnSetConvolution2dDescriptor)                \
  X(cudnnSetConvolutionMathType)                    \
  X(cudnnDestroyConvolutionDescriptor)              \
  X(cudnnCreateActivationDescriptor)                \
  X(cudnnSetActivationDescriptor)                   \
  X(cudnnDestroyActivationDescriptor)               \
  X(cudnnGetConvolutionForwardAlgorithmMaxCount)    \
  X(cudnnFindConvolutionForwardAlgorithm)           \
  X(cudnnGetConvolutionForwardWorkspaceSize)        \
  X(cudnnConvolutionForward)                        \
  X(cudnnGetConvolutionBackwardDataAlgorithmMaxCount) \
  X(cudnnFindConvolutionBackwardDataAlgorithm)      \
  X(cudnnGetConvolutionBackwardDataWorkspaceSize)   \
  X(cudnnConvolutionBackwardData)                   \
  X(cudnnGetConvolutionBackwardFilterAlgorithmMaxCount) \
  X(cudnnFindConvolutionBackwardFilterAlgorithm)    \
  X(cudnnGetConvolutionBackwardFilterWorkspaceSize) \
  X(cudnnConvolutionBackwardFilter)                 \
  X(cudnnConvolutionBackwardBias)                   \
  X(cudnnActivationForward)                         \
  X(cudnnActivationBackward)                        \
  X(cudnnSoftmaxForward)                            \
  X(cudnnAddTensor)

/// @brief cuDNN functions that may be missing (left nullptr): cudnnGetLastErrorString is
/// cuDNN 9 only.
#define LENET_CUDNN_OPTIONAL_FUNCTIONS(X) X(cudnnGetLastErrorString)

}  // namespace lenet::cuda
