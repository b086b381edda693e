// Per-environment state of the addon (one per main thread or worker thread: the addon is
// context-aware), and the conversion of native errors into JS errors.
#pragma once

#include <napi.h>

#include <memory>
#include <mutex>
#include <vector>

#include "executor.h"

namespace lenet {

/// @brief Constructors and live backends of one Node.js environment.
struct AddonData {
  Napi::FunctionReference tensor_ctor;
  Napi::FunctionReference backend_ctor;
  Napi::FunctionReference plan_ctor;
  // Executors of this environment's backends: shut down (drained and joined) when the
  // environment exits, so a worker thread never leaves a native thread behind.
  std::vector<std::weak_ptr<Executor>> executors;
  ~AddonData();
};

/// @brief Runs body(); converts a lenet::Error (or any std::exception) into a pending JS Error.
/// OutOfMemory errors get `code = 'LENET_OUT_OF_MEMORY'`, others `code = 'LENET_NATIVE'`.
template <class F>
Napi::Value guard(Napi::Env env, F&& body);

/// @brief Throws (as a JS exception) an Error with the given message and code.
Napi::Error make_error(Napi::Env env, const std::string& message, const char* code);

/// @brief Native bytes a JS handle owns, reported to V8 as external memory while it holds them
/// (TensorWrap, PlanWrap). release() is what dispose() and the basic finalizer both call: telling
/// V8 about freed external memory is allowed during GC; with no env (a destructor) it only forgets.
class ExternalBytes {
 public:
  void hold(Napi::Env env, int64_t bytes) {
    bytes_ = bytes;
    if (bytes_) Napi::MemoryManagement::AdjustExternalMemory(env, bytes_);
  }
  void release(Napi::node_addon_api_basic_env env) {
    if (env && bytes_) {
      int64_t adjusted = 0;
      napi_adjust_external_memory(env, -bytes_, &adjusted);
    }
    bytes_ = 0;
  }

 private:
  int64_t bytes_ = 0;
};

}  // namespace lenet

#include "device.h"

namespace lenet {

template <class F>
Napi::Value guard(Napi::Env env, F&& body) {
  try {
    return body();
  } catch (const Napi::Error&) {
    throw;
  } catch (const OutOfMemory& e) {
    throw make_error(env, e.what(), "LENET_OUT_OF_MEMORY");
  } catch (const std::exception& e) {
    throw make_error(env, e.what(), "LENET_NATIVE");
  }
}

}  // namespace lenet
