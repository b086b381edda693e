// Run-time loading of the CUDA runtime, cuBLAS and cuDNN: one table of function pointers per
// library, filled with dlopen/dlsym on first use. Nothing else in the project calls dlopen or
// dlsym for these libraries; the rest of the CUDA backend calls through these tables, e.g.
//
//   check_cudnn(cudnn().cudnnConvolutionForward(handle, &one, xd, x, ...),
//               "cudnnConvolutionForward");
//
// The driver API (libcuda.so.1) comes only from the system (it is installed with the driver).
// cuDNN is loaded before cuBLAS, and cuBLAS and NVRTC are then chosen for cuDNN's CUDA major, looked
// for first in cuDNN's own folder.
// Where the libraries are looked for, in this order (the first that loads, has every function and
// fits the driver wins; see loader.cc for the details):
//   (a) folders given explicitly: set_search_dirs(), then $LENET_CUDA_LIBS (':'-separated);
//   (b) the plain sonames, resolved by dlopen through LD_LIBRARY_PATH, the addon's RUNPATH and
//       the system's paths (ld.so.cache, /usr/lib, ...);
//   (c) $CUDA_HOME and $CUDA_PATH (their lib64 and lib folders), then /usr/local/cuda;
//   (d) Python environments: the nvidia/*/lib and torch/lib folders of site-packages (where pip's
//       nvidia-cudnn-cu12, nvidia-cublas-cu12, nvidia-cuda-runtime-cu12, the CUDA 13 wheels'
//       nvidia/cu13/lib, and PyTorch put them) and $CONDA_PREFIX/lib.
// Sonames, newest first: libcudart.so.13, .12, libcudart.so; libcublas.so.13, .12,
// libcublas.so; libcudnn.so.9, .8, libcudnn.so.
//
// Do not include this header after a real CUDA header compiled with per-thread default streams
// (nvcc --default-stream per-thread), whose macros rename cudaMemcpyAsync & co: the table members
// carry the functions' names. The CUDA backend's host code never includes the real headers.
#pragma once

#include <string>
#include <vector>

#include "api.h"

namespace lenet::cuda {

/// @brief The CUDA runtime's functions (libcudart), plus what was loaded.
struct CudartApi {
#define LENET_CUDA_TABLE_MEMBER(name) PFN_##name name = nullptr;
  LENET_CUDART_FUNCTIONS(LENET_CUDA_TABLE_MEMBER)
  /// Full path of the loaded file (from the dynamic linker).
  std::string path;
  /// cudaRuntimeGetVersion(), e.g. 13000 for 13.0.
  int runtime_version = 0;
  /// cudaDriverGetVersion() at load time: the newest CUDA the driver supports, 0 if no driver.
  int driver_version = 0;
};

/// @brief The CUDA driver API's functions (libcuda.so.1), plus what was loaded.
struct DriverApi {
  LENET_DRIVER_FUNCTIONS(LENET_CUDA_TABLE_MEMBER)
  /// Full path of the loaded file.
  std::string path;
  /// cuDriverGetVersion(): the newest CUDA the driver supports, e.g. 13000.
  int driver_version = 0;
};

/// @brief cuBLAS's functions (libcublas), plus what was loaded.
struct CublasApi {
  LENET_CUBLAS_FUNCTIONS(LENET_CUDA_TABLE_MEMBER)
  /// Full path of the loaded file.
  std::string path;
  /// Version from cublasGetProperty, e.g. 13, 0, 0.
  int major = 0, minor = 0, patch = 0;
};

/// @brief cuDNN's functions (libcudnn), plus what was loaded.
struct CudnnApi {
  LENET_CUDNN_FUNCTIONS(LENET_CUDA_TABLE_MEMBER)
  /// Optional functions: nullptr when the loaded cuDNN lacks them (cuDNN 8).
  LENET_CUDNN_OPTIONAL_FUNCTIONS(LENET_CUDA_TABLE_MEMBER)
#undef LENET_CUDA_TABLE_MEMBER
  /// Full path of the loaded file.
  std::string path;
  /// cudnnGetVersion(), e.g. 90100 (9.1.0) or 8907 (8.9.7): the encodings differ, use major.
  std::size_t version = 0;
  /// The major version (8 or 9) decoded from `version`.
  int major = 0;
  /// cudnnGetCudartVersion(): the CUDA version this cuDNN was built for, e.g. 12080.
  std::size_t cudart_version = 0;
};

/// @brief NVRTC (libnvrtc), which cuDNN 9 dlopens for its runtime-compiled engines: preloaded
/// (matching cuDNN's CUDA major) so that cuDNN finds it; we only read its version.
struct NvrtcInfo {
  /// nvrtcVersion(int* major, int* minor) (nvrtc.h; its nvrtcResult is a C enum, 0 = success).
  int (*nvrtcVersion)(int* major, int* minor) = nullptr;
  std::string path;
  int major = 0, minor = 0;
};

/// @brief The CUDA runtime's table; loads libcudart on first use (thread-safe).
/// @throws lenet::Error naming every path tried, each one's dlerror(), and how to fix it.
const CudartApi& cudart();
/// @brief The driver API's table; loads libcuda.so.1 on first use (thread-safe).
/// @throws lenet::Error as cudart() does.
const DriverApi& driver();
/// @brief cuBLAS's table; loads libcublas (and its libcublasLt) on first use (thread-safe),
/// choosing the one built for the CUDA major of the cuDNN that loads (cuDNN is loaded first).
/// @throws lenet::Error as cudart() does.
const CublasApi& cublas();
/// @brief cuDNN's table; loads libcudnn on first use, then the cuBLAS and NVRTC of its CUDA major
/// and, from a folder, its sub-libraries.
/// @throws lenet::Error as cudart() does.
const CudnnApi& cudnn();

/// @brief The table if the library is already loaded, else nullptr. Never loads, never throws:
/// for error paths (status.cc) that must not start loading a library.
const CudartApi* cudart_if_loaded() noexcept;
/// @brief See cudart_if_loaded().
const DriverApi* driver_if_loaded() noexcept;
/// @brief See cudart_if_loaded().
const CublasApi* cublas_if_loaded() noexcept;
/// @brief See cudart_if_loaded().
const CudnnApi* cudnn_if_loaded() noexcept;

/// @brief Sets folders to search first, before $LENET_CUDA_LIBS and the system (stage (a)).
///
/// Affects only libraries not loaded yet: a loaded library stays loaded for the life of the
/// process (dlclose'ing CUDA libraries is not safe). Clears remembered load failures, so the
/// next cudart()/cublas()/cudnn()/probe() tries again.
void set_search_dirs(std::vector<std::string> dirs);
/// @brief The folders set with set_search_dirs().
std::vector<std::string> search_dirs();

/// @brief Outcome of loading one library, for cudaAvailable() and diagnostics.
struct LibraryReport {
  /// e.g. "cuDNN (libcudnn)".
  std::string library;
  /// True when the library is loaded with every required function.
  bool ok = false;
  /// The loaded file's full path (empty unless ok).
  std::string path;
  /// Human-readable version, e.g. "9.1.0" (empty unless ok).
  std::string version;
  /// The full error message (what cudart()/cublas()/cudnn() throw), empty when ok.
  std::string error;
  /// Every candidate tried, in order, each with its outcome ("loaded", or why not).
  std::vector<std::string> tried;
  /// Non-fatal remarks: companion libraries that could not be preloaded, driver mismatches.
  std::vector<std::string> notes;
};

/// @brief Outcome of loading the libraries.
struct LoadReport {
  LibraryReport cudart, driver, cublas, cudnn;
  /// What was chosen for NVRTC (optional: its absence only disables some cuDNN engines).
  LibraryReport nvrtc;
  /// cudaDriverGetVersion() (0 when cudart did not load or no driver is installed).
  int driver_version = 0;
};

/// @brief Loads (if not yet loaded) the libraries and reports on each. Never throws.
///
/// Loading says nothing about GPUs: a machine without a driver or GPU loads the libraries fine
/// and then fails at cudaGetDeviceCount (cudaErrorInsufficientDriver / cudaErrorNoDevice).
LoadReport probe() noexcept;

}  // namespace lenet::cuda
