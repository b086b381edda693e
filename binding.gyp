# The same addon as CMakeLists.txt, for node-gyp (`npm run build:gyp`). node-gyp writes build/;
# cmake-js (the default build) writes build-cmake/, so the two never overwrite each other.
{
  "targets": [
    {
      "target_name": "lenet_cudnn",
      "sources": [
        "native/addon.cc",
        "native/backend_wrap.cc",
        "native/ops.cc",
        "native/plan_wrap.cc",
        "native/wait.cc",
        "native/tensor_wrap.cc",
        "native/executor.cc",
        "native/device.cc",
        "native/cpu/cpu_device.cc",
        "native/cpu/gemm.cc",
        "native/cpu/gemm_kernels.cc",
        "native/cpu/kernels.cc",
        "native/cpu/thread_pool.cc",
        "native/cuda/cuda_device.cc",
        "native/cuda/loader.cc",
        "native/cuda/status.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")", "native"],
      "defines": [
        "NAPI_VERSION=8",
        "NODE_ADDON_API_DISABLE_DEPRECATED",
        "NODE_ADDON_API_CPP_EXCEPTIONS",
        "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS",
        "LENET_BUILD_SYSTEM=\"node-gyp\""
      ],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc": ["-std=c++17", "-O3", "-fexceptions", "-fno-trapping-math", "-fno-tree-loop-distribute-patterns", "<!@(node scripts/openblas-gyp.js cflags)"],
      "libraries": ["<!@(node scripts/openblas-gyp.js libs)", "-ldl", "-lpthread"]
    }
  ]
}
