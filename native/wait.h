// The wait protocol: how a caller waits for queued work and gets its result or its error.
//
// A read or sync is a task on the backend's executor like any op. It records what the device
// must still finish (Device::download / Device::fence return a callable that blocks until then);
// the waiter (an N-API async worker for the promise forms, the JS thread for the *Sync forms)
// waits for the task, runs that callable off the executor, and then reports, in this order:
// an error the device raised in the work waited for, the executor's sticky error (see
// executor.h), or, when the task itself was skipped after an earlier failure, why.
#pragma once

#include <napi.h>

#include <memory>

#include "device.h"

namespace lenet {

class BackendState;

/// @brief Queues a read of `src` and returns a promise of a Float32Array of its contents; without
/// `src`, queues a synchronization and returns a promise of undefined. `op` names the task.
Napi::Value wait_async(Napi::Env env, const std::shared_ptr<BackendState>& backend, const char* op,
                       const TensorRef* src);

/// @brief As wait_async, but blocks the JS thread and returns the Float32Array (or undefined), or
/// throws the error.
Napi::Value wait_sync(Napi::Env env, const std::shared_ptr<BackendState>& backend, const char* op,
                      const TensorRef* src);

}  // namespace lenet
