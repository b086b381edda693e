/**
 * The tutorial's layers — `LeNetConvPoolLayer`, `HiddenLayer`, `LogisticRegression` — with their
 * parameters, forward and backward passes, on any backend.
 *
 * Parameters live in a `ParameterArena`: one contiguous buffer of values and one of gradients, so
 * that an SGD step is a single axpy over all parameters. Each layer keeps the activation buffers
 * of the batch sizes it has seen and reuses them, so a training step allocates nothing.
 */
import type { Backend, ConvPoolPlan } from './backend';
import type { RandomState } from './rng';
import { checkDenseInput, convPoolLayerOutput } from './shapes';
import { ShapeError, Tensor, sizeOf } from './tensor';

/** A named parameter: its value and the gradient the last backward pass wrote. */
export interface Parameter {
  /** e.g. `layer0.W`. */
  readonly name: string;
  readonly shape: readonly number[];
  readonly value: Tensor;
  readonly grad: Tensor;
}

// Which arena made a parameter, so that an optimizer handed a plain parameter list can tell when
// the list is a whole arena and update it with one op over the flat buffers.
const arenaOf = new WeakMap<Parameter, ParameterArena>();

interface Pending {
  name: string;
  shape: number[];
  initial: Float32Array | null;
  offset: number;
  param?: Parameter;
}

/**
 * Parameters of one or more layers in two contiguous buffers (values and gradients). Declare
 * every parameter, then `build()` allocates both buffers, uploads the initial values and hands out
 * views. Layers created without an arena make their own.
 */
export class ParameterArena {
  readonly backend: Backend;
  private readonly pending: Pending[] = [];
  private total = 0;
  private valuesBuf?: Tensor;
  private gradsBuf?: Tensor;

  constructor(backend: Backend) {
    this.backend = backend;
  }

  /** The arena `param` is a view into, or undefined for a parameter made some other way. */
  static of(param: Parameter): ParameterArena | undefined {
    return arenaOf.get(param);
  }

  /**
   * True when `params` is exactly this arena's parameters in declaration order, i.e. `values`
   * and `grads` hold exactly them, laid out in that order: an update may then run on the flat
   * buffers instead of parameter by parameter.
   */
  covers(params: readonly Parameter[]): boolean {
    return params.length === this.pending.length && this.pending.every((p, i) => p.param !== undefined && p.param === params[i]);
  }

  /** Declares a parameter (zeros when `initial` is null); returns a getter valid after build(). */
  declare(name: string, shape: readonly number[], initial: Float32Array | null): () => Parameter {
    if (this.valuesBuf) throw new Error(`ParameterArena: cannot declare ${name} after build()`);
    if (this.pending.some((p) => p.name === name)) throw new Error(`ParameterArena: parameter ${name} declared twice`);
    const size = sizeOf(shape);
    if (initial && initial.length !== size) throw new ShapeError(`ParameterArena: ${name} needs ${size} initial values, got ${initial.length}`);
    const entry: Pending = { name, shape: [...shape], initial, offset: this.total };
    this.pending.push(entry);
    this.total += size;
    return () => {
      if (!entry.param) throw new Error(`parameter ${name} is used before its ParameterArena was built`);
      return entry.param;
    };
  }

  /** Allocates the value and gradient buffers and uploads the initial values. Idempotent. */
  build(): void {
    if (this.valuesBuf) return;
    const host = new Float32Array(this.total);
    for (const p of this.pending) if (p.initial) host.set(p.initial, p.offset);
    const values = this.backend.tensor([this.total], host);
    const grads = this.backend.zeros([this.total]);
    this.valuesBuf = values;
    this.gradsBuf = grads;
    for (const p of this.pending) {
      const size = sizeOf(p.shape);
      const view = (buf: Tensor) => {
        const flat = buf.slice(p.offset, size);
        const shaped = flat.reshape(p.shape);
        flat.dispose();
        return shaped;
      };
      p.param = { name: p.name, shape: p.shape, value: view(values), grad: view(grads) };
      arenaOf.set(p.param, this);
      p.initial = null;
    }
  }

  /** All parameter values, in declaration order, as one flat tensor. */
  get values(): Tensor {
    if (!this.valuesBuf) throw new Error('ParameterArena: build() has not been called');
    return this.valuesBuf;
  }

  /** All gradients, laid out like `values`. */
  get grads(): Tensor {
    if (!this.gradsBuf) throw new Error('ParameterArena: build() has not been called');
    return this.gradsBuf;
  }

  /** The parameters in declaration order. */
  params(): Parameter[] {
    return this.pending.map((p) => {
      if (!p.param) throw new Error('ParameterArena: build() has not been called');
      return p.param;
    });
  }

  /** Frees both buffers and every view. */
  dispose(): void {
    for (const p of this.pending) {
      p.param?.value.dispose();
      p.param?.grad.dispose();
    }
    this.valuesBuf?.dispose();
    this.gradsBuf?.dispose();
  }
}

/** Uniform initial weights as the tutorial draws them: U(-b, b), b = sqrt(6 / (fanIn + fanOut)). */
export function glorotUniform(rng: RandomState, count: number, fanIn: number, fanOut: number): Float32Array {
  const bound = Math.sqrt(6 / (fanIn + fanOut));
  return rng.uniform(-bound, bound, count);
}

/** Reverses each kh x kw kernel (a 180-degree rotation), turning Theano's flipped convolution into cross-correlation. */
export function flipKernels(w: Float32Array, kh: number, kw: number): Float32Array {
  const out = new Float32Array(w.length);
  const area = kh * kw;
  for (let base = 0; base < w.length; base += area) {
    for (let i = 0; i < area; i++) out[base + i] = w[base + area - 1 - i];
  }
  return out;
}

/** Options shared by every layer. */
export interface LayerOptions {
  backend: Backend;
  /** Random stream for the initial weights (the tutorial's `rng`). */
  rng: RandomState;
  /** Arena to declare the parameters in; the layer makes and builds its own when absent. */
  arena?: ParameterArena;
  /** Name prefix of the parameters, e.g. `layer0`. */
  name?: string;
}

/** Per-batch-size activation buffers (and plans); the few most recent sizes are kept. */
class BufferCache<T extends { [k: string]: { dispose(): void } }> {
  private readonly entries = new Map<number, T>();
  constructor(private readonly make: (n: number) => T, private readonly keep = 3) {}

  get(n: number): T {
    let e = this.entries.get(n);
    if (e) {
      this.entries.delete(n);
      this.entries.set(n, e); // most recently used last
      return e;
    }
    e = this.make(n);
    this.entries.set(n, e);
    while (this.entries.size > this.keep) {
      const [oldest, old] = this.entries.entries().next().value as [number, T];
      this.entries.delete(oldest);
      for (const t of Object.values(old)) t.dispose();
    }
    return e;
  }

  dispose(): void {
    for (const e of this.entries.values()) for (const t of Object.values(e)) t.dispose();
    this.entries.clear();
  }
}

function ownArena(options: { backend: Backend; arena?: ParameterArena }): { arena: ParameterArena; own: boolean } {
  return options.arena ? { arena: options.arena, own: false } : { arena: new ParameterArena(options.backend), own: true };
}

/** Options of `LeNetConvPoolLayer`. */
export interface ConvPoolOptions extends LayerOptions {
  /** Input maps (1 for MNIST). */
  inputChannels: number;
  /** Number of filters (the tutorial's nkerns[i]). */
  filters: number;
  /** Filter height and width (5 in the tutorial). */
  filterSize?: number;
}

/**
 * Convolution (valid, stride 1) -> 2x2 max-pooling -> + bias -> tanh, as the tutorial's
 * `LeNetConvPoolLayer` (bias after pooling). W [filters, inputChannels, k, k] starts
 * U(-b, b) with b = sqrt(6 / (fanIn + fanOut)), fanIn = inputChannels*k*k,
 * fanOut = floor(filters*k*k / 4) (the pool area); the draw is the tutorial's, with kernels flipped to
 * cross-correlation. b starts at zero.
 */
export class LeNetConvPoolLayer {
  readonly backend: Backend;
  readonly inputChannels: number;
  readonly filters: number;
  readonly filterSize: number;
  private readonly arena: ParameterArena;
  private readonly ownsArena: boolean;
  private readonly getW: () => Parameter;
  private readonly getB: () => Parameter;
  // Per batch size: the fused op's plan (it owns what the backend keeps for the backward) and the
  // output buffer; the input gradient only when a layer below asks for it.
  private cache?: BufferCache<{ plan: ConvPoolPlan; out: Tensor }>;
  private dxCache?: BufferCache<{ dx: Tensor }>;
  private lastPlan?: ConvPoolPlan;
  private inputHW?: [number, number];

  constructor(options: ConvPoolOptions) {
    const { backend, rng, inputChannels, filters } = options;
    const k = options.filterSize ?? 5;
    for (const [name, v] of [['inputChannels', inputChannels], ['filters', filters], ['filterSize', k]] as const) {
      if (!Number.isInteger(v) || v < 1) throw new RangeError(`LeNetConvPoolLayer: ${name} must be a positive integer, got ${v}`);
    }
    this.backend = backend;
    this.inputChannels = inputChannels;
    this.filters = filters;
    this.filterSize = k;
    const name = options.name ?? 'conv';
    const fanIn = inputChannels * k * k;
    // The tutorial computes fan_out = n_filters * k * k / pool_area with Python 2 integer division.
    const fanOut = Math.floor((filters * k * k) / 4);
    const w = flipKernels(glorotUniform(rng, filters * inputChannels * k * k, fanIn, fanOut), k, k);
    const { arena, own } = ownArena(options);
    this.arena = arena;
    this.ownsArena = own;
    this.getW = arena.declare(`${name}.W`, [filters, inputChannels, k, k], w);
    this.getB = arena.declare(`${name}.b`, [filters], null);
    if (own) arena.build();
  }

  /** Filter weights [filters, inputChannels, k, k] (OIHW). */
  get W(): Parameter {
    return this.getW();
  }
  /** Per-filter bias [filters]. */
  get b(): Parameter {
    return this.getB();
  }

  /** [W, b]. */
  params(): Parameter[] {
    return [this.W, this.b];
  }

  /** The output shape for an input [N, C, H, W]. */
  outputShape(input: readonly number[]): number[] {
    return convPoolLayerOutput(input, this.inputChannels, this.filters, this.filterSize);
  }

  /** tanh(maxpool(conv(x, W)) + b); the result is a buffer owned by the layer. */
  forward(x: Tensor): Tensor {
    const out = this.outputShape(x.shape);
    const [n, c, h, w] = x.shape;
    if (!this.cache || this.inputHW?.[0] !== h || this.inputHW?.[1] !== w) {
      this.cache?.dispose();
      this.dxCache?.dispose();
      this.dxCache = undefined;
      this.inputHW = [h, w];
      this.cache = new BufferCache((m) => {
        const plan = this.backend.convPoolPlan([m, c, h, w], this.W.shape);
        try {
          return { plan, out: this.backend.zeros([m, ...out.slice(1)]) };
        } catch (e) {
          plan.dispose(); // out of memory for the output: free the plan now, not at GC
          throw e;
        }
      });
    }
    const buf = this.cache.get(n);
    buf.plan.forward(x, this.W.value, this.b.value, buf.out);
    this.lastPlan = buf.plan;
    return buf.out;
  }

  /**
   * Back-propagates dy (the gradient at this layer's output) through the last forward call:
   * writes W.grad and b.grad, and returns the gradient at the input when `needInputGrad`.
   */
  backward(dy: Tensor, needInputGrad: boolean): Tensor | null {
    const plan = this.lastPlan;
    if (!plan) throw new Error('LeNetConvPoolLayer: backward() before forward()');
    if (plan.disposed) throw new Error('LeNetConvPoolLayer: backward() after dispose()');
    let dx: Tensor | null = null;
    if (needInputGrad) {
      const xs = plan.inputShape;
      this.dxCache ??= new BufferCache((m) => ({ dx: this.backend.zeros([m, ...xs.slice(1)]) }));
      dx = this.dxCache.get(xs[0]).dx;
    }
    plan.backward(dy, dx, this.W.grad, this.b.grad);
    return dx;
  }

  /** Frees the activation buffers (and the parameters, if the layer made its own arena). */
  dispose(): void {
    this.cache?.dispose();
    this.dxCache?.dispose();
    if (this.ownsArena) this.arena.dispose();
  }
}

/**
 * What `HiddenLayer` and `LogisticRegression` share: a weight matrix W [nIn, nOut] and a bias
 * b [nOut] in a parameter arena, and per-batch-size buffers for the output, the gradient at the
 * pre-activation and the input gradient.
 */
abstract class DenseLayer {
  readonly backend: Backend;
  readonly nIn: number;
  readonly nOut: number;
  protected readonly cache: BufferCache<{ out: Tensor; dLin: Tensor; dx: Tensor }>;
  private readonly arena: ParameterArena;
  private readonly ownsArena: boolean;
  private readonly getW: () => Parameter;
  private readonly getB: () => Parameter;

  protected constructor(
    kind: string,
    options: { backend: Backend; arena?: ParameterArena; name?: string; nIn: number; nOut: number },
    initialW: (nIn: number, nOut: number) => Float32Array | null,
  ) {
    const { backend, nIn, nOut } = options;
    for (const [name, v] of [['nIn', nIn], ['nOut', nOut]] as const) {
      if (!Number.isInteger(v) || v < 1) throw new RangeError(`${kind}: ${name} must be a positive integer, got ${v}`);
    }
    this.backend = backend;
    this.nIn = nIn;
    this.nOut = nOut;
    const name = options.name ?? kind;
    const { arena, own } = ownArena(options);
    this.arena = arena;
    this.ownsArena = own;
    this.getW = arena.declare(`${name}.W`, [nIn, nOut], initialW(nIn, nOut));
    this.getB = arena.declare(`${name}.b`, [nOut], null);
    if (own) arena.build();
    this.cache = new BufferCache((m) => ({
      out: backend.zeros([m, nOut]),
      dLin: backend.zeros([m, nOut]),
      dx: backend.zeros([m, nIn]),
    }));
  }

  /** Weights [nIn, nOut] (y = x W + b). */
  get W(): Parameter {
    return this.getW();
  }
  /** Bias [nOut]. */
  get b(): Parameter {
    return this.getB();
  }
  /** [W, b]. */
  params(): Parameter[] {
    return [this.W, this.b];
  }

  /** Frees the buffers (and the parameters, if the layer made its own arena). */
  dispose(): void {
    this.cache.dispose();
    if (this.ownsArena) this.arena.dispose();
  }
}

/** Options of `HiddenLayer`. */
export interface HiddenLayerOptions extends LayerOptions {
  nIn: number;
  nOut: number;
}

/**
 * A fully connected tanh layer, `tanh(x W + b)`, as the tutorial's `HiddenLayer`: W [nIn, nOut]
 * starts U(-b, b) with b = sqrt(6 / (nIn + nOut)), b at zero. Inputs of any shape [N, ...] with
 * nIn elements per row are flattened.
 */
export class HiddenLayer extends DenseLayer {
  private lastInput?: Tensor;
  private readonly flatViews = new Map<Tensor, Tensor>();

  constructor(options: HiddenLayerOptions) {
    super('HiddenLayer', { ...options, name: options.name ?? 'hidden' }, (nIn, nOut) => glorotUniform(options.rng, nIn * nOut, nIn, nOut));
  }

  /** tanh(x W + b) for x [N, ...] with nIn elements per row; returns [N, nOut] (a layer buffer). */
  forward(x: Tensor): Tensor {
    checkDenseInput('HiddenLayer', x, this.nIn, true);
    const buf = this.cache.get(x.shape[0]);
    const x2 = this.flatView(x);
    this.backend.gemm(false, false, 1, x2, this.W.value, 0, buf.out);
    this.backend.biasTanhForward(buf.out, this.b.value, buf.out);
    this.lastInput = x2;
    return buf.out;
  }

  // [N, ...] inputs are viewed as [N, nIn]; the views of the inputs seen are kept (a network feeds
  // the same activation buffers every step) and freed with the layer.
  private flatView(x: Tensor): Tensor {
    if (x.shape.length === 2) return x;
    for (const [src, view] of this.flatViews) {
      if (src.disposed) {
        view.dispose();
        this.flatViews.delete(src);
      }
    }
    let view = this.flatViews.get(x);
    if (!view) {
      view = x.reshape([x.shape[0], this.nIn]);
      this.flatViews.set(x, view);
    }
    return view;
  }

  /** Writes W.grad and b.grad from dy [N, nOut]; returns dx [N, nIn] when asked. */
  backward(dy: Tensor, needInputGrad: boolean): Tensor | null {
    const x2 = this.lastInput;
    if (!x2) throw new Error('HiddenLayer: backward() before forward()');
    const buf = this.cache.get(x2.shape[0]);
    this.backend.tanhBackward(buf.out, dy, buf.dLin);
    this.backend.gemm(true, false, 1, x2, buf.dLin, 0, this.W.grad);
    this.backend.biasGrad(buf.dLin, this.b.grad);
    if (!needInputGrad) return null;
    this.backend.gemm(false, true, 1, buf.dLin, this.W.value, 0, buf.dx);
    return buf.dx;
  }

  override dispose(): void {
    for (const view of this.flatViews.values()) view.dispose();
    this.flatViews.clear();
    super.dispose();
  }
}

/** Options of `LogisticRegression`. */
export interface LogisticRegressionOptions extends Omit<LayerOptions, 'rng'> {
  nIn: number;
  nOut: number;
}

/**
 * Softmax regression, `softmax(x W + b)`, as the tutorial's `LogisticRegression`: W [nIn, nOut]
 * and b start at zero; the cost is the mean negative log-likelihood, the error the fraction of
 * argmax predictions that miss the label.
 */
export class LogisticRegression extends DenseLayer {
  private lastInput?: Tensor;

  constructor(options: LogisticRegressionOptions) {
    super('LogisticRegression', { ...options, name: options.name ?? 'logreg' }, () => null);
  }

  /**
   * Class probabilities softmax(x W + b) [N, nOut] (a layer buffer). With labels and stats, also
   * adds the summed NLL and the error count of the batch to stats ([2], on the device).
   */
  forward(x: Tensor, labels: Tensor | null = null, stats: Tensor | null = null): Tensor {
    checkDenseInput('LogisticRegression', x, this.nIn, false);
    const buf = this.cache.get(x.shape[0]);
    this.backend.gemm(false, false, 1, x, this.W.value, 0, buf.out);
    this.backend.biasAdd(buf.out, this.b.value, buf.out);
    this.backend.softmaxNll(buf.out, labels, buf.out, stats);
    this.lastInput = x;
    return buf.out;
  }

  /** Writes W.grad and b.grad for the mean NLL of `labels`; returns dx [N, nIn] when asked. */
  backward(labels: Tensor, needInputGrad: boolean): Tensor | null {
    const x = this.lastInput;
    if (!x) throw new Error('LogisticRegression: backward() before forward()');
    const buf = this.cache.get(x.shape[0]);
    this.backend.softmaxNllBackward(buf.out, labels, buf.dLin);
    this.backend.gemm(true, false, 1, x, buf.dLin, 0, this.W.grad);
    this.backend.biasGrad(buf.dLin, this.b.grad);
    if (!needInputGrad) return null;
    this.backend.gemm(false, true, 1, buf.dLin, this.W.value, 0, buf.dx);
    return buf.dx;
  }
}
