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
