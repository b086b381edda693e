/**
 * Optimizers: the `Optimizer` interface and `SGD`, stochastic gradient descent with optional
 * momentum and weight decay. An optimizer sees only a list of parameters (value and gradient
 * tensors), never the model, and queues its update on the parameters' backend.
 *
 * When the list is a whole `ParameterArena` in declaration order (what `model.params()` returns),
 * the update runs once over the arena's flat buffers: the tutorial's plain SGD step is then a
 * single axpy (one `cublasSaxpy` on the GPU), whatever the number of parameters.
 */
import type { Backend } from './backend';
import { type Parameter, ParameterArena } from './layers';
import { Tensor, describe } from './tensor';

/** Updates a fixed list of parameters from their gradients; see `SGD`. */
export interface Optimizer {
  /** Applies one update from the gradients the last backward pass wrote (queued on the backend). */
  step(): void;
  /** Frees the optimizer's own buffers (e.g. momentum); idempotent. The parameters are not touched. */
  dispose(): void;
}

/** Options of `SGD`; the defaults are the tutorial's plain SGD. */
export interface SGDOptimizerOptions {
  /** Step size (default 0.1); can be changed between steps through `sgd.learningRate`. */
  learningRate?: number;
  /** Momentum factor in [0, 1) (default 0: none). Not in the tutorial. */
  momentum?: number;
  /** L2 penalty factor >= 0 added to the gradient as weightDecay * value (default 0: none). Not in the tutorial. */
  weightDecay?: number;
}

/**
 * A value tensor and its gradient, updated together: one per parameter, or the two flat buffers of
 * a whole `ParameterArena`.
 */
export interface ParameterSlot {
  readonly value: Tensor;
  readonly grad: Tensor;
}

/**
 * The tensors an update over `params` can run on: the arena's flat `values`/`grads` pair when
 * `params` is exactly one arena's parameters in declaration order, else one pair per parameter.
 * Either way, the same elements in the same order.
 */
export function parameterSlots(params: readonly Parameter[]): ParameterSlot[] {
  const arena = params.length > 0 ? ParameterArena.of(params[0]) : undefined;
  if (arena && arena.covers(params)) return [{ value: arena.values, grad: arena.grads }];
  return params.map((p) => ({ value: p.value, grad: p.grad }));
}

function checkLearningRate(owner: string, v: number): void {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
    throw new RangeError(`${owner}: learningRate must be a positive number, got ${v}`);
  }
}

/**
 * Throws a RangeError naming `owner` (`SGD`, `SGDTrainer`) and the option when an SGD option is
 * out of range: the one home of these rules, shared by the optimizer and the trainer that builds it.
 */
export function checkSGDOptions(owner: string, options: Required<SGDOptimizerOptions>): void {
  const { learningRate, momentum, weightDecay } = options;
  checkLearningRate(owner, learningRate);
  if (typeof momentum !== 'number' || !(momentum >= 0 && momentum < 1)) {
    throw new RangeError(`${owner}: momentum must be a number in [0, 1), got ${momentum}`);
  }
  if (typeof weightDecay !== 'number' || !Number.isFinite(weightDecay) || weightDecay < 0) {
    throw new RangeError(`${owner}: weightDecay must be a non-negative number, got ${weightDecay}`);
  }
}

/**
 * Stochastic gradient descent over a list of parameters, with PyTorch's conventions for the
 * extras (`torch.optim.SGD`, dampening 0, no Nesterov):
 *
 * - plain (momentum 0, weightDecay 0, the tutorial's rule): value -= learningRate * grad;
 * - weight decay: the gradient becomes grad + weightDecay * value;
 * - momentum: buf = momentum * buf + gradient; value -= learningRate * buf. The velocity buffers
 *   are allocated (as zeros) at the first step, so that step is plain SGD, as in PyTorch; they are
 *   the optimizer's and `dispose()` frees them.
 *
 * Construction validates the options and the list and allocates nothing. Every parameter must be
 * on one backend; the updates are queued there and nothing is read back.
 */
export class SGD implements Optimizer {
  /** The parameters updated by `step()`, in the order given. */
  readonly params: readonly Parameter[];
  /** Momentum factor in [0, 1). */
  readonly momentum: number;
  /** L2 penalty factor (>= 0). */
  readonly weightDecay: number;
  /** The backend every parameter lives on. */
  readonly backend: Backend;
  private lr: number;
  private readonly slots: ParameterSlot[];
  // One velocity buffer per slot, made at the first step when momentum > 0.
  private velocity: Tensor[] | null = null;
  private disposed = false;

  constructor(params: readonly Parameter[], options: SGDOptimizerOptions = {}) {
    if (!Array.isArray(params)) throw new TypeError(`SGD: params must be an array of parameters (e.g. model.params()), got ${describe(params)}`);
    if (params.length === 0) throw new RangeError('SGD: params is empty; there is nothing to optimize');
    const learningRate = options.learningRate ?? 0.1;
    const momentum = options.momentum ?? 0;
    const weightDecay = options.weightDecay ?? 0;
    checkSGDOptions('SGD', { learningRate, momentum, weightDecay });
    const seen = new Set<Parameter>();
    for (const [i, p] of params.entries()) {
      if (!p || !(p.value instanceof Tensor) || !(p.grad instanceof Tensor)) {
        throw new TypeError(`SGD: params[${i}] must be a parameter with value and grad tensors, got ${describe(p)}`);
      }
      if (seen.has(p)) throw new Error(`SGD: parameter ${p.name} appears twice in the list`);
      seen.add(p);
    }
    // A step queues ops on one backend; tensors of two backends cannot meet in one update.
    const backend = params[0].value.backend;
    for (const p of params) {
      for (const [what, t] of [['value', p.value], ['grad', p.grad]] as const) {
        if (t.backend !== backend) {
          throw new Error(`SGD: every parameter must be on one backend: ${p.name}.${what} is on another backend than ${params[0].name}.value`);
        }
      }
    }
    this.params = [...params];
    this.backend = backend;
    this.lr = learningRate;
    this.momentum = momentum;
    this.weightDecay = weightDecay;
    this.slots = parameterSlots(this.params);
  }

  /** The step size; a positive finite number, checked when set (e.g. by a schedule between steps). */
  get learningRate(): number {
    return this.lr;
  }

  set learningRate(v: number) {
    checkLearningRate('SGD', v);
    this.lr = v;
  }

  /** One update from the current gradients; see the class comment for the rule. */
  step(): void {
    if (this.disposed) throw new Error('SGD: step() after dispose()');
    const { backend, lr, momentum, weightDecay } = this;
    if (momentum === 0) {
      for (const { value, grad } of this.slots) {
        // value - lr (grad + wd value) = (1 - lr wd) value - lr grad: no gradient buffer is
        // modified, so the gradients stay what backward wrote.
        if (weightDecay !== 0) backend.scale(1 - lr * weightDecay, value);
        backend.axpy(-lr, grad, value);
      }
      return;
    }
    this.velocity ??= this.slots.map((s) => backend.zeros([s.value.size]));
    this.slots.forEach(({ value, grad }, i) => {
      const buf = this.velocity![i];
      backend.scale(momentum, buf);
      backend.axpy(1, grad, buf);
      if (weightDecay !== 0) backend.axpy(weightDecay, value, buf);
      backend.axpy(-lr, buf, value);
    });
  }

  /** Frees the velocity buffers (queued steps keep them alive until they ran); idempotent. */
  dispose(): void {
    for (const v of this.velocity ?? []) v.dispose();
    this.velocity = null;
    this.disposed = true;
  }
}
