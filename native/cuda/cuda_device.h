// The CUDA backend: the op set of device.h on one GPU, through cuDNN, cuBLAS and a few kernels
// of our own, with every library loaded at run time (loader.h). Also the probe behind
// cudaAvailable(), which never throws.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "../device.h"

namespace lenet::cuda {

/// @brief Options of the CUDA backend.
struct CudaOptions {
  /// CUDA device ordinal.
  int device = 0;
  /// Choose only deterministic cuDNN algorithms (and deterministic max-pooling).
  bool deterministic = false;
  /// Let cuDNN and cuBLAS use TF32 tensor cores for float32 (off: full FP32 FMA math).
  bool tf32 = false;
};

/// @brief What probe_cuda() found.
struct CudaProbe {
  bool ok = false;
  /// Why CUDA can't be used (empty when ok).
  std::string reason;
  /// e.g. "NVIDIA H200 (sm_90, 132 SMs, 140.4 GiB)".
  std::string device;
  int device_count = 0;
  /// "driver", "runtime", "cublas", "cudnn" -> version text (what could be read).
  std::vector<std::pair<std::string, std::string>> versions;
  /// Every library candidate tried, with its outcome.
  std::vector<std::string> tried;
};

/// @brief Loads the libraries and looks for a usable device. Never throws.
CudaProbe probe_cuda(int device = 0) noexcept;

/// @brief Creates the CUDA backend; throws lenet::Error saying why it can't.
std::shared_ptr<Device> make_cuda_device(const CudaOptions& options);

}  // namespace lenet::cuda
