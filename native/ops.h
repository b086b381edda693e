// The op set's native surface as data: one entry per op, with its JS name, its arguments and one
// lambda that checks the extents the op will index and returns the work to queue. BackendWrap
// registers every entry as a method of NativeBackend (see backend_wrap.cc); adding an op to the
// stack means a Device method (device.h and each backend), an entry here, its declaration in
// lib/native.d.ts and its checked wrapper in lib/backend.ts.
//
// The checks here are the memory-safety net, not the user's messages: TypeScript checks every
// argument first with messages that say what was expected (lib/shapes.ts). These make sure that
// no call, however it reaches the addon, can make an op read or write outside a buffer.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "device.h"

namespace lenet {

/// @brief One argument of an op's signature.
struct ArgSpec {
  enum Kind { kTensor, kOptionalTensor, kNumber, kBoolean, kPlan };
  Kind kind;
  std::string name;
};

/// @brief The arguments of one call, parsed and typed by the op's signature. Tensors, numbers and
/// booleans are numbered separately, each in call order.
struct OpArgs {
  const char* op = "";
  std::vector<TensorRef> tensors;  // an optional tensor given as null has no storage
  std::vector<const char*> names;  // of the tensors (the op table's own strings: copying is cheap)
  std::vector<double> numbers;
  std::vector<bool> booleans;
  std::shared_ptr<ConvPoolPlan> plan;

  const TensorRef& operator[](size_t i) const { return tensors[i]; }
  /// @brief The i-th tensor, or null when it was given as null.
  const TensorRef* optional(size_t i) const { return tensors[i].storage ? &tensors[i] : nullptr; }
  float number(size_t i) const { return static_cast<float>(numbers[i]); }
  bool boolean(size_t i) const { return booleans[i]; }

  [[noreturn]] void fail(const std::string& message) const;
  /// @brief Checks that tensor i has rank r / shape `want` / n elements.
  void rank(size_t i, size_t r) const;
  void shape(size_t i, const Shape& want) const;
  void numel(size_t i, size_t n) const;
};

/// @brief Work queued on a backend's executor.
using Work = std::function<void(Device&)>;

/// @brief One op of the native surface.
struct OpDef {
  OpDef(const char* name, const char* signature, std::function<Work(const OpArgs&)> make);

  /// The NativeBackend method's name, also the op's name in errors and profiles.
  const char* name;
  /// Space-separated arguments in call order: `x` a tensor, `dx?` a tensor or null, `#alpha` a
  /// number, `!transA` a boolean, `@plan` a conv-pool plan of the same backend.
  const char* signature;
  /// Checks the extents (on the JS thread) and returns the work, which captures the arguments.
  std::function<Work(const OpArgs&)> make;
  /// The parsed signature.
  std::vector<ArgSpec> args;
};

/// @brief Every op, in registration order.
const std::vector<OpDef>& op_table();

/// @brief Checks the shapes of a conv-pool layer: x [N,C,H,W], w [K,C,KH,KW] with KH <= H,
/// KW <= W and a convolution output of at least 2x2. Throws Error naming `op`.
void check_conv_pool_shapes(const char* op, const Shape& x, const Shape& w);

}  // namespace lenet
