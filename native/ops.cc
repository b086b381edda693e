// The op table (see ops.h): each op's signature, the extent checks of its tensors, and the Device
// call it queues.
#include "ops.h"

#include <sstream>

namespace lenet {

void OpArgs::fail(const std::string& message) const { throw Error(std::string(op) + ": " + message); }

void OpArgs::rank(size_t i, size_t r) const {
  if (tensors[i].rank() != r)
    fail(std::string(names[i]) + " must have rank " + std::to_string(r) + ", got shape " + shape_str(tensors[i].shape));
}

void OpArgs::shape(size_t i, const Shape& want) const {
  if (tensors[i].shape != want) fail(std::string(names[i]) + " must have shape " + shape_str(want) + ", got " + shape_str(tensors[i].shape));
}

void OpArgs::numel(size_t i, size_t n) const {
  if (tensors[i].numel() != n)
    fail(std::string(names[i]) + " must have " + std::to_string(n) + " elements, got shape " + shape_str(tensors[i].shape));
}

namespace {

// x [N,C,H,W] and w [K,C,KH,KW] of a valid, stride-1 convolution (tensors ix and iw): returns its
// output shape [N,K,H-KH+1,W-KW+1].
Shape conv_output(const OpArgs& a, size_t ix, size_t iw) {
  a.rank(ix, 4);
  a.rank(iw, 4);
  const Shape &x = a[ix].shape, &w = a[iw].shape;
  if (w[1] != x[1] || w[2] < 1 || w[3] < 1 || w[2] > x[2] || w[3] > x[3])
    a.fail(std::string(a.names[iw]) + " " + shape_str(w) + " does not fit " + a.names[ix] + " " + shape_str(x));
  return {x[0], w[0], x[2] - w[2] + 1, x[3] - w[3] + 1};
}

// x [N,C,H,W] (tensor ix) of a 2x2 max-pool: returns the pooled shape.
Shape pooled(const OpArgs& a, size_t ix) {
  a.rank(ix, 4);
  const Shape& x = a[ix].shape;
  if (x[2] < 2 || x[3] < 2) a.fail(std::string(a.names[ix]) + " " + shape_str(x) + " is smaller than the 2x2 window");
  return {x[0], x[1], x[2] / 2, x[3] / 2};
}

// Per-channel bias: x (ix) of rank >= 2, b (ib) [C].
void bias_of(const OpArgs& a, size_t ix, size_t ib) {
  if (a[ix].rank() < 2) a.fail(std::string(a.names[ix]) + " must have rank 2 or more, got shape " + shape_str(a[ix].shape));
  a.shape(ib, {a[ix].dim(1)});
}

std::vector<ArgSpec> parse_signature(const char* signature) {
  std::vector<ArgSpec> args;
  std::istringstream in(signature);
  std::string token;
  while (in >> token) {
    ArgSpec spec{ArgSpec::kTensor, token};
    if (token[0] == '#') spec = {ArgSpec::kNumber, token.substr(1)};
    else if (token[0] == '!') spec = {ArgSpec::kBoolean, token.substr(1)};
    else if (token[0] == '@') spec = {ArgSpec::kPlan, token.substr(1)};
    else if (token.back() == '?') spec = {ArgSpec::kOptionalTensor, token.substr(0, token.size() - 1)};
    args.push_back(spec);
  }
  return args;
}

std::vector<OpDef> make_table() {
  std::vector<OpDef> ops = {
      // ---- transfers ----
      {"fill", "tensor #value", [](const OpArgs& a) -> Work {
         return [a](Device& d) { d.fill(a[0], a.number(0)); };
       }},
      {"copy", "src dst", [](const OpArgs& a) -> Work {
         a.numel(1, a[0].numel());
         return [a](Device& d) { d.copy(a[0], a[1]); };
       }},
      // ---- convolution ----
      {"conv2dForward", "x w y", [](const OpArgs& a) -> Work {
         a.shape(2, conv_output(a, 0, 1));
         return [a](Device& d) { d.conv2d_forward(a[0], a[1], a[2]); };
       }},
      {"conv2dBackwardData", "dy w dx", [](const OpArgs& a) -> Work {
         a.shape(0, conv_output(a, 2, 1));
         return [a](Device& d) { d.conv2d_backward_data(a[0], a[1], a[2]); };
       }},
      {"conv2dBackwardFilter", "x dy dw", [](const OpArgs& a) -> Work {
         a.shape(1, conv_output(a, 0, 2));
         return [a](Device& d) { d.conv2d_backward_filter(a[0], a[1], a[2]); };
       }},
      {"conv2dBackward", "x w dy dx? dw", [](const OpArgs& a) -> Work {
         a.shape(2, conv_output(a, 0, 1));
         if (a.optional(3)) a.shape(3, a[0].shape);
         a.shape(4, a[1].shape);
         return [a](Device& d) { d.conv2d_backward(a[0], a[1], a[2], a.optional(3), a[4]); };
       }},
      // ---- the fused conv-pool layer, through its plan ----
      {"convPoolForward", "@plan x w b y", [](const OpArgs& a) -> Work {
         a.shape(0, a.plan->x_shape());
         a.shape(1, a.plan->w_shape());
         a.shape(2, {a.plan->w_shape()[0]});
         a.shape(3, a.plan->y_shape());
         return [a](Device&) { a.plan->forward(a[0], a[1], a[2], a[3]); };
       }},
      {"convPoolBackward", "@plan x w y dy dx? dw db", [](const OpArgs& a) -> Work {
         a.shape(0, a.plan->x_shape());
         a.shape(1, a.plan->w_shape());
         a.shape(2, a.plan->y_shape());
         a.numel(3, numel_of(a.plan->y_shape()));
         if (a.optional(4)) a.shape(4, a.plan->x_shape());
         a.shape(5, a.plan->w_shape());
         a.shape(6, {a.plan->w_shape()[0]});
         return [a](Device&) { a.plan->backward(a[0], a[1], a[2], a[3], a.optional(4), a[5], a[6]); };
       }},
      // ---- pooling ----
      {"maxPoolBiasTanhForward", "x b pooled y", [](const OpArgs& a) -> Work {
         const Shape ps = pooled(a, 0);
         a.shape(1, {a[0].dim(1)});
         a.shape(2, ps);
         a.shape(3, ps);
         return [a](Device& d) { d.maxpool_bias_tanh_forward(a[0], a[1], a[2], a[3]); };
       }},
      {"maxPoolBiasTanhBackward", "x pooled y dy dpooled db dx", [](const OpArgs& a) -> Work {
         const Shape ps = pooled(a, 0);
         a.shape(1, ps);
         a.shape(2, ps);
         a.numel(3, numel_of(ps));
         a.shape(4, ps);
         a.shape(5, {a[0].dim(1)});
         a.shape(6, a[0].shape);
         return [a](Device& d) { d.maxpool_bias_tanh_backward(a[0], a[1], a[2], a[3], a[4], a[5], a[6]); };
       }},
      {"maxPool2x2Forward", "x y", [](const OpArgs& a) -> Work {
         a.shape(1, pooled(a, 0));
         return [a](Device& d) { d.maxpool2x2_forward(a[0], a[1]); };
       }},
      {"maxPool2x2Backward", "x y dy dx", [](const OpArgs& a) -> Work {
         const Shape ps = pooled(a, 0);
         a.shape(1, ps);
         a.shape(2, ps);
         a.shape(3, a[0].shape);
         return [a](Device& d) { d.maxpool2x2_backward(a[0], a[1], a[2], a[3]); };
       }},
      // ---- bias and tanh ----
      {"biasAdd", "x b y", [](const OpArgs& a) -> Work {
         bias_of(a, 0, 1);
         a.shape(2, a[0].shape);
         return [a](Device& d) { d.bias_add(a[0], a[1], a[2]); };
       }},
      {"biasGrad", "dy db", [](const OpArgs& a) -> Work {
         bias_of(a, 0, 1);
         return [a](Device& d) { d.bias_grad(a[0], a[1]); };
       }},
      {"biasTanhForward", "x b y", [](const OpArgs& a) -> Work {
         bias_of(a, 0, 1);
         a.shape(2, a[0].shape);
         return [a](Device& d) { d.bias_tanh_forward(a[0], a[1], a[2]); };
       }},
      {"tanhForward", "x y", [](const OpArgs& a) -> Work {
         a.numel(1, a[0].numel());
         return [a](Device& d) { d.tanh_forward(a[0], a[1]); };
       }},
      {"tanhBackward", "y dy dx", [](const OpArgs& a) -> Work {
         a.numel(1, a[0].numel());
         a.numel(2, a[0].numel());
         return [a](Device& d) { d.tanh_backward(a[0], a[1], a[2]); };
       }},
      // ---- dense algebra ----
      {"gemm", "!transA !transB #alpha a b #beta c", [](const OpArgs& a) -> Work {
         for (size_t i = 0; i < 3; ++i) a.rank(i, 2);
         const bool ta = a.boolean(0), tb = a.boolean(1);
         const int64_t m = a[0].dim(ta ? 1 : 0), ka = a[0].dim(ta ? 0 : 1);
         const int64_t kb = a[1].dim(tb ? 1 : 0), n = a[1].dim(tb ? 0 : 1);
         if (ka != kb) a.fail("op(a) " + shape_str({m, ka}) + " and op(b) " + shape_str({kb, n}) + " differ in K");
         a.shape(2, {m, n});
         return [a](Device& d) { d.gemm(a.boolean(0), a.boolean(1), a.number(0), a[0], a[1], a.number(1), a[2]); };
       }},
      {"axpy", "#alpha x y", [](const OpArgs& a) -> Work {
         a.numel(1, a[0].numel());
         return [a](Device& d) { d.axpy(a.number(0), a[0], a[1]); };
       }},
      {"scale", "#alpha x", [](const OpArgs& a) -> Work {
         return [a](Device& d) { d.scale(a.number(0), a[0]); };
       }},
      // ---- softmax and NLL ----
      {"softmaxNll", "logits labels? probs stats?", [](const OpArgs& a) -> Work {
         a.rank(0, 2);
         a.shape(2, a[0].shape);
         if (a.optional(1)) {
           a.shape(1, {a[0].dim(0)});
           if (a[0].dim(0) > 0 && a[0].dim(1) == 0) a.fail("logits " + shape_str(a[0].shape) + " have no classes");
         }
         if (a.optional(3)) {
           if (!a.optional(1)) a.fail("stats need labels");
           a.shape(3, {2});
         }
         return [a](Device& d) { d.softmax_nll(a[0], a.optional(1), a[2], a.optional(3)); };
       }},
      {"softmaxNllBackward", "probs labels dlogits", [](const OpArgs& a) -> Work {
         a.rank(0, 2);
         a.shape(1, {a[0].dim(0)});
         if (a[0].dim(0) > 0 && a[0].dim(1) == 0) a.fail("probs " + shape_str(a[0].shape) + " have no classes");
         a.shape(2, a[0].shape);
         return [a](Device& d) { d.softmax_nll_backward(a[0], a[1], a[2]); };
       }},
  };
  return ops;
}

}  // namespace

OpDef::OpDef(const char* name_, const char* signature_, std::function<Work(const OpArgs&)> make_)
    : name(name_), signature(signature_), make(std::move(make_)), args(parse_signature(signature_)) {}

const std::vector<OpDef>& op_table() {
  static const std::vector<OpDef> table = make_table();
  return table;
}

void check_conv_pool_shapes(const char* op, const Shape& x, const Shape& w) {
  auto fail = [&](const std::string& m) { throw Error(std::string(op) + ": " + m); };
  if (x.size() != 4) fail("x must have rank 4, got shape " + shape_str(x));
  if (w.size() != 4) fail("w must have rank 4, got shape " + shape_str(w));
  if (w[1] != x[1] || w[2] < 1 || w[3] < 1 || w[2] > x[2] || w[3] > x[3])
    fail("w " + shape_str(w) + " does not fit x " + shape_str(x));
  if (x[2] * x[3] >= (int64_t{1} << 31)) fail("x's planes of " + std::to_string(x[2] * x[3]) + " pixels are too large (the limit is 2^31)");
  if (x[2] - w[2] + 1 < 2 || x[3] - w[3] + 1 < 2)
    fail("the convolution's output of x " + shape_str(x) + " and w " + shape_str(w) + " is smaller than the 2x2 window");
}

}  // namespace lenet
