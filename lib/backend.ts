/**
 * Backends: `createBackend()` picks the CPU or a CUDA GPU, and `Backend` exposes the op set
 * (convolution, pooling, bias, tanh, GEMM, softmax + NLL, axpy) on `Tensor`s with argument checks
 * that name the op, the argument, what was expected and what was given.
 *
 * Ops are queued on the backend's executor thread and return immediately (like kernels on a CUDA
 * stream); `await backend.sync()` or `tensor.read()` waits for results without blocking Node's
 * event loop.
 */
import { isFloat32Array, isUint8Array } from 'util/types';
import { loadAddon } from './addon';
import type { NativeBackend, NativeCounters, NativeTensor } from './native';
import { ShapeError, Tensor, checkShape, describe, shapeText, sizeOf } from './tensor';

/** Which device to run on: `auto` takes a CUDA GPU when one is usable, else the CPU. */
export type DeviceChoice = 'cpu' | 'cuda' | 'auto';

/** Options of `createBackend`. */
export interface BackendOptions {
  /** `cpu`, `cuda` or `auto` (default `auto`). */
  device?: DeviceChoice;
  /** CPU threads (default: one per hardware thread). */
  threads?: number;
  /** CPU GEMM: `openblas` (default when built with it) or the built-in `portable` one. */
  gemm?: 'openblas' | 'portable';
  /** CUDA device ordinal (default 0). */
  cudaDevice?: number;
  /** CUDA: only deterministic cuDNN algorithms and max-pooling (default false). */
  deterministic?: boolean;
  /** CUDA: allow TF32 tensor-core math for float32 (default false: full FP32). */
  tf32?: boolean;
  /** CUDA: folders searched first for libcudart, libcublas and libcudnn (also: LENET_CUDA_LIBS). */
  libraryDirs?: string[];
}

/** Why `createBackend` chose the device it did (for `auto`, and for logs). */
export interface BackendChoice {
  kind: 'cpu' | 'cuda';
  reason: string;
}

/** Whether the CUDA backend can run here, and why not. */
export interface CudaStatus {
  ok: boolean;
  /** Why CUDA is unusable (empty when ok). */
  reason: string;
  /** The GPU's name, when ok. */
  device?: string;
  /** Library versions that could be read (driver, runtime, cublas, cudnn). */
  versions: Record<string, string>;
  /** Every library path tried, with the outcome. */
  tried: string[];
}

/**
 * Probes for a usable CUDA GPU: loads libcudart, libcublas and libcudnn (see the README for
 * where they are looked for) and asks the driver for the device. Never throws.
 */
export function cudaAvailable(options: { cudaDevice?: number; libraryDirs?: string[] } = {}): CudaStatus {
  let addon;
  try {
    addon = loadAddon();
  } catch (e) {
    return { ok: false, reason: (e as Error).message, versions: {}, tried: [] };
  }
  const r = addon.cudaAvailable({ device: options.cudaDevice, libraryDirs: options.libraryDirs });
  return { ok: r.ok, reason: r.reason, device: r.device, versions: r.versions, tried: r.tried };
}

/**
 * Creates a backend. `device: 'cuda'` throws when no usable GPU is found, with the reason;
 * `device: 'auto'` falls back to the CPU and records why in `backend.choice`.
 */
export function createBackend(options: BackendOptions = {}): Backend {
  const device = options.device ?? 'auto';
  if (device !== 'cpu' && device !== 'cuda' && device !== 'auto') {
    throw new RangeError(`createBackend: device must be 'cpu', 'cuda' or 'auto', got ${JSON.stringify(device)}`);
  }
  if (options.threads !== undefined && (!Number.isInteger(options.threads) || options.threads < 1 || options.threads > 1024)) {
    throw new RangeError(`createBackend: threads must be an integer from 1 to 1024, got ${options.threads}`);
  }
  if (options.gemm !== undefined && options.gemm !== 'openblas' && options.gemm !== 'portable') {
    throw new RangeError(`createBackend: gemm must be 'openblas' or 'portable', got ${JSON.stringify(options.gemm)}`);
  }
  if (options.cudaDevice !== undefined && (!Number.isInteger(options.cudaDevice) || options.cudaDevice < 0)) {
    throw new RangeError(`createBackend: cudaDevice must be a non-negative integer, got ${options.cudaDevice}`);
  }
  if (options.libraryDirs !== undefined && (!Array.isArray(options.libraryDirs) || options.libraryDirs.some((d) => typeof d !== 'string'))) {
    throw new TypeError('createBackend: libraryDirs must be an array of folder paths');
  }
  const addon = loadAddon();
  const cpu = (reason: string) => new Backend(addon.createCpuBackend({ threads: options.threads, gemm: options.gemm }), { kind: 'cpu', reason });
  if (device === 'cpu') return cpu('the CPU was requested');
  const status = cudaAvailable(options);
  if (!status.ok) {
    if (device === 'cuda') throw new Error(`createBackend: CUDA is not available: ${status.reason}`);
    return cpu(`CUDA is not available (${status.reason}); using the CPU`);
  }
  const native = addon.createCudaBackend({
    device: options.cudaDevice,
    deterministic: options.deterministic,
    tf32: options.tf32,
    libraryDirs: options.libraryDirs,
  });
  return new Backend(native, { kind: 'cuda', reason: device === 'cuda' ? 'CUDA was requested' : `a CUDA GPU is available (${status.device})` });
}

/** The op set on one device. Every tensor argument must belong to this backend. */
export class Backend {
  /** @internal */
  readonly native: NativeBackend;
  /** `cpu` or `cuda`. */
  readonly kind: 'cpu' | 'cuda';
  /** Why this device was chosen. */
  readonly choice: BackendChoice;

  /** @internal Use `createBackend`. */
  constructor(native: NativeBackend, choice: BackendChoice) {
    this.native = native;
    this.kind = native.kind;
    this.choice = choice;
  }

  /** The device, its threads and libraries, e.g. "Intel Xeon ..., 2 threads, GEMM: openblas ...". */
  describe(): string {
    return this.native.describe();
  }

  /** Live native allocations of this backend; after disposing everything and `sync()`, zero. */
  counters(): NativeCounters {
    return this.native.counters();
  }

  /** Waits (without blocking the event loop) until every op queued so far has finished. */
  sync(): Promise<void> {
    return this.native.sync();
  }

  /** Blocks until every op queued so far has finished. */
  syncSync(): void {
    this.native.syncSync();
  }

  /** Finishes queued work and stops the backend's thread; the backend is unusable afterwards. */
  dispose(): void {
    this.native.close();
  }

  // ---- tensors ----

  /** A new tensor of zeros. */
  zeros(shape: readonly number[]): Tensor {
    checkShape(shape, 'zeros');
    return new Tensor(this, this.native.alloc([...shape]), shape);
  }

  /** A new tensor holding `data` (Float32Array, or Uint8Array converted to float) times `scale`. */
  tensor(shape: readonly number[], data: Float32Array | Uint8Array, scale = 1): Tensor {
    checkShape(shape, 'tensor');
    if (!isFloat32Array(data) && !isUint8Array(data)) {
      throw new TypeError(`tensor: data must be a Float32Array or a Uint8Array, got ${describe(data)}`);
    }
    if (data.length !== sizeOf(shape)) {
      throw new ShapeError(`tensor: data has ${data.length} elements, shape ${shapeText(shape)} needs ${sizeOf(shape)}`);
    }
    const t = this.zeros(shape);
    this.native.upload(t.native, data, scale);
    return t;
  }

  /** Sets every element of `t` to `value`. */
  fill(t: Tensor, value: number): void {
    this.native.fill(this.arg('fill', 't', t), value);
  }

  /** dst = src (same element count). */
  copy(src: Tensor, dst: Tensor): void {
    this.sameSize('copy', 'dst', dst, src, 'src');
    this.native.copy(this.arg('copy', 'src', src), this.arg('copy', 'dst', dst));
  }

  // ---- convolution (valid, stride 1, cross-correlation; x NCHW, w OIHW) ----

  /** y = conv(x, w): x [N,C,H,W], w [K,C,KH,KW], y [N,K,H-KH+1,W-KW+1]. */
  conv2dForward(x: Tensor, w: Tensor, y: Tensor): void {
    const op = 'conv2dForward';
    this.expectShape(op, 'y', y, this.convOutput(op, x, w, 'x', 'w'));
    this.native.conv2dForward(this.arg(op, 'x', x), this.arg(op, 'w', w), this.arg(op, 'y', y));
  }

  /** dx = the gradient of conv(x, w) with respect to x, given dy. */
  conv2dBackwardData(dy: Tensor, w: Tensor, dx: Tensor): void {
    const op = 'conv2dBackwardData';
    this.expectShape(op, 'dy', dy, this.convOutput(op, dx, w, 'dx', 'w'));
    this.native.conv2dBackwardData(this.arg(op, 'dy', dy), this.arg(op, 'w', w), this.arg(op, 'dx', dx));
  }

  /** dw = the gradient of conv(x, w) with respect to w, given dy (dw is overwritten). */
  conv2dBackwardFilter(x: Tensor, dy: Tensor, dw: Tensor): void {
    const op = 'conv2dBackwardFilter';
    this.expectShape(op, 'dy', dy, this.convOutput(op, x, dw, 'x', 'dw'));
    this.native.conv2dBackwardFilter(this.arg(op, 'x', x), this.arg(op, 'dy', dy), this.arg(op, 'dw', dw));
  }

  /**
   * Both gradients of y = conv(x, w) in one call: dw (overwritten) and, when dx is not null, dx.
   * Backends share work between the two (the CPU gathers dy once per chunk).
   */
  conv2dBackward(x: Tensor, w: Tensor, dy: Tensor, dx: Tensor | null, dw: Tensor): void {
    const op = 'conv2dBackward';
    this.expectShape(op, 'dy', dy, this.convOutput(op, x, w, 'x', 'w'));
    this.expectShape(op, 'dw', dw, w.shape);
    if (dx) this.expectShape(op, 'dx', dx, x.shape);
    this.native.conv2dBackward(this.arg(op, 'x', x), this.arg(op, 'w', w), this.arg(op, 'dy', dy), dx ? this.arg(op, 'dx', dx) : null, this.arg(op, 'dw', dw));
  }

  /**
   * The forward of a whole conv-pool layer: y = tanh(maxpool2x2(conv(x, w)) + b). `conv`
   * ([N,K,OH,OW]) and `pooled` ([N,K,OH/2,OW/2]) keep what `convPoolBackward` needs; what they
   * hold is up to the backend (the CPU never writes the convolution's output to memory).
   */
  convPoolForward(x: Tensor, w: Tensor, b: Tensor, conv: Tensor, pooled: Tensor, y: Tensor): void {
    const op = 'convPoolForward';
    const cs = this.convOutput(op, x, w, 'x', 'w');
    const ps = this.pooledOf(op, cs);
    this.expectShape(op, 'b', b, [w.shape[0]]);
    this.expectShape(op, 'conv', conv, cs);
    this.expectShape(op, 'pooled', pooled, ps);
    this.expectShape(op, 'y', y, ps);
    this.native.convPoolForward(this.arg(op, 'x', x), this.arg(op, 'w', w), this.arg(op, 'b', b), this.arg(op, 'conv', conv), this.arg(op, 'pooled', pooled), this.arg(op, 'y', y));
  }

  /**
   * The backward of `convPoolForward` (called with the same x, w, conv, pooled, y): from dy, the
   * gradient at y, writes dw, db and, when dx is not null, dx. dpooled and dconv are scratch.
   */
  convPoolBackward(x: Tensor, w: Tensor, conv: Tensor, pooled: Tensor, y: Tensor, dy: Tensor, dpooled: Tensor, dconv: Tensor, dx: Tensor | null, dw: Tensor, db: Tensor): void {
    const op = 'convPoolBackward';
    const cs = this.convOutput(op, x, w, 'x', 'w');
    const ps = this.pooledOf(op, cs);
    this.expectShape(op, 'conv', conv, cs);
    this.expectShape(op, 'pooled', pooled, ps);
    this.expectShape(op, 'y', y, ps);
    this.sameSize(op, 'dy', dy, y, 'y');
    this.expectShape(op, 'dpooled', dpooled, ps);
    this.expectShape(op, 'dconv', dconv, cs);
    if (dx) this.expectShape(op, 'dx', dx, x.shape);
    this.expectShape(op, 'dw', dw, w.shape);
    this.expectShape(op, 'db', db, [w.shape[0]]);
    this.native.convPoolBackward(
      this.arg(op, 'x', x), this.arg(op, 'w', w), this.arg(op, 'conv', conv), this.arg(op, 'pooled', pooled), this.arg(op, 'y', y),
      this.arg(op, 'dy', dy), this.arg(op, 'dpooled', dpooled), this.arg(op, 'dconv', dconv), dx ? this.arg(op, 'dx', dx) : null,
      this.arg(op, 'dw', dw), this.arg(op, 'db', db),
    );
  }

  // ---- 2x2 max-pooling, stride 2, ignore_border ----

  /** The epilogue of a conv-pool layer in one pass: pooled = maxpool(x), y = tanh(pooled + b). */
  maxPoolBiasTanhForward(x: Tensor, b: Tensor, pooled: Tensor, y: Tensor): void {
    const op = 'maxPoolBiasTanhForward';
    const shape = this.pooledShape(op, x);
    this.expectShape(op, 'b', b, [x.shape[1]]);
    this.expectShape(op, 'pooled', pooled, shape);
    this.expectShape(op, 'y', y, shape);
    this.native.maxPoolBiasTanhForward(this.arg(op, 'x', x), this.arg(op, 'b', b), this.arg(op, 'pooled', pooled), this.arg(op, 'y', y));
  }

  /**
   * The backward of `maxPoolBiasTanhForward`: dpooled = dy * (1 - y^2), db = its per-channel sum,
   * dx = the max-pool gradient of dpooled (first maximum). dy needs pooled's element count only.
   */
  maxPoolBiasTanhBackward(x: Tensor, pooled: Tensor, y: Tensor, dy: Tensor, dpooled: Tensor, db: Tensor, dx: Tensor): void {
    const op = 'maxPoolBiasTanhBackward';
    const shape = this.pooledShape(op, x);
    this.expectShape(op, 'pooled', pooled, shape);
    this.expectShape(op, 'y', y, shape);
    this.sameSize(op, 'dy', dy, y, 'y');
    this.expectShape(op, 'dpooled', dpooled, shape);
    this.expectShape(op, 'db', db, [x.shape[1]]);
    this.expectShape(op, 'dx', dx, x.shape);
    this.native.maxPoolBiasTanhBackward(
      this.arg(op, 'x', x), this.arg(op, 'pooled', pooled), this.arg(op, 'y', y), this.arg(op, 'dy', dy),
      this.arg(op, 'dpooled', dpooled), this.arg(op, 'db', db), this.arg(op, 'dx', dx),
    );
  }

  /** y = maxpool(x): x [N,C,H,W], y [N,C,floor(H/2),floor(W/2)]. */
  maxPool2x2Forward(x: Tensor, y: Tensor): void {
    const op = 'maxPool2x2Forward';
    this.expectShape(op, 'y', y, this.pooledShape(op, x));
    this.native.maxPool2x2Forward(this.arg(op, 'x', x), this.arg(op, 'y', y));
  }

  /** dx = the gradient of maxpool at x (output y) given dy; ties go to the first maximum. */
  maxPool2x2Backward(x: Tensor, y: Tensor, dy: Tensor, dx: Tensor): void {
    const op = 'maxPool2x2Backward';
    const pooled = this.pooledShape(op, x);
    this.expectShape(op, 'y', y, pooled);
    this.expectShape(op, 'dy', dy, pooled);
    this.expectShape(op, 'dx', dx, x.shape);
    this.native.maxPool2x2Backward(this.arg(op, 'x', x), this.arg(op, 'y', y), this.arg(op, 'dy', dy), this.arg(op, 'dx', dx));
  }

  // ---- bias (per channel, axis 1) and tanh ----

  /** y = x + b, b [C] broadcast over every axis but 1; y may be x. */
  biasAdd(x: Tensor, b: Tensor, y: Tensor): void {
    this.checkBias('biasAdd', x, b, y);
    this.native.biasAdd(this.arg('biasAdd', 'x', x), this.arg('biasAdd', 'b', b), this.arg('biasAdd', 'y', y));
  }

  /** y = tanh(x + b): the epilogue of every layer; y may be x. */
  biasTanhForward(x: Tensor, b: Tensor, y: Tensor): void {
    const op = 'biasTanhForward';
    this.checkBias(op, x, b, y);
    this.native.biasTanhForward(this.arg(op, 'x', x), this.arg(op, 'b', b), this.arg(op, 'y', y));
  }

  /** db[c] = sum of dy over every axis but 1 (db is overwritten). */
  biasGrad(dy: Tensor, db: Tensor): void {
    const op = 'biasGrad';
    this.isTensor(op, 'dy', dy);
    if (dy.shape.length < 2) throw new ShapeError(`${op}: dy must have rank 2 or more, got ${shapeText(dy.shape)}`);
    this.expectShape(op, 'db', db, [dy.shape[1]]);
    this.native.biasGrad(this.arg(op, 'dy', dy), this.arg(op, 'db', db));
  }

  /** y = tanh(x); y may be x. */
  tanhForward(x: Tensor, y: Tensor): void {
    this.sameSize('tanhForward', 'y', y, x);
    this.native.tanhForward(this.arg('tanhForward', 'x', x), this.arg('tanhForward', 'y', y));
  }

  /** dx = dy * (1 - y^2), y = tanh(x); dx may be dy. */
  tanhBackward(y: Tensor, dy: Tensor, dx: Tensor): void {
    const op = 'tanhBackward';
    this.sameSize(op, 'dy', dy, y, 'y');
    this.sameSize(op, 'dx', dx, y, 'y');
    this.native.tanhBackward(this.arg(op, 'y', y), this.arg(op, 'dy', dy), this.arg(op, 'dx', dx));
  }

  // ---- dense algebra ----

  /** c = alpha * op(a) * op(b) + beta * c, row-major 2-D; op transposes when the flag is set. */
  gemm(transA: boolean, transB: boolean, alpha: number, a: Tensor, b: Tensor, beta: number, c: Tensor): void {
    const op = 'gemm';
    for (const [name, t] of [['a', a], ['b', b], ['c', c]] as const) {
      this.isTensor(op, name, t);
      if (t.shape.length !== 2) throw new ShapeError(`${op}: ${name} must be a 2-D tensor, got ${shapeText(t.shape)}`);
    }
    const [m, ka] = transA ? [a.shape[1], a.shape[0]] : [a.shape[0], a.shape[1]];
    const [kb, n] = transB ? [b.shape[1], b.shape[0]] : [b.shape[0], b.shape[1]];
    if (ka !== kb) throw new ShapeError(`${op}: inner dimensions differ: op(a) is [${m},${ka}], op(b) is [${kb},${n}]`);
    this.expectShape(op, 'c', c, [m, n]);
    this.native.gemm(transA, transB, alpha, this.arg(op, 'a', a), this.arg(op, 'b', b), beta, this.arg(op, 'c', c));
  }

  /** y += alpha * x. */
  axpy(alpha: number, x: Tensor, y: Tensor): void {
    this.sameSize('axpy', 'y', y, x);
    this.native.axpy(alpha, this.arg('axpy', 'x', x), this.arg('axpy', 'y', y));
  }

  /** x *= alpha. */
  scale(alpha: number, x: Tensor): void {
    this.native.scale(alpha, this.arg('scale', 'x', x));
  }

  // ---- softmax and negative log-likelihood ----

  /**
   * probs = softmax(logits) row-wise (logits [N,K]). With labels ([N], class ids stored as floats)
   * and stats ([2]): stats[0] += the summed NLL -log p(label), stats[1] += the number of rows whose
   * argmax (first maximum) is not the label. The host reads stats only when it wants them.
   */
  softmaxNll(logits: Tensor, labels: Tensor | null, probs: Tensor, stats: Tensor | null): void {
    const op = 'softmaxNll';
    this.isTensor(op, 'logits', logits);
    if (logits.shape.length !== 2) throw new ShapeError(`${op}: logits must be 2-D [N,K], got ${shapeText(logits.shape)}`);
    this.expectShape(op, 'probs', probs, logits.shape);
    if (labels) this.expectShape(op, 'labels', labels, [logits.shape[0]]);
    if (labels && logits.shape[0] > 0 && logits.shape[1] === 0) {
      throw new ShapeError(`${op}: logits ${shapeText(logits.shape)} have no classes for the labels to name`);
    }
    if (stats) {
      if (!labels) throw new ShapeError(`${op}: stats need labels`);
      this.expectShape(op, 'stats', stats, [2]);
    }
    this.native.softmaxNll(
      this.arg(op, 'logits', logits),
      labels ? this.arg(op, 'labels', labels) : null,
      this.arg(op, 'probs', probs),
      stats ? this.arg(op, 'stats', stats) : null,
    );
  }

  /** dlogits = (probs - onehot(labels)) / N: the gradient of the mean NLL with respect to the logits. */
  softmaxNllBackward(probs: Tensor, labels: Tensor, dlogits: Tensor): void {
    const op = 'softmaxNllBackward';
    this.isTensor(op, 'probs', probs);
    if (probs.shape.length !== 2) throw new ShapeError(`${op}: probs must be 2-D [N,K], got ${shapeText(probs.shape)}`);
    this.expectShape(op, 'labels', labels, [probs.shape[0]]);
    if (probs.shape[0] > 0 && probs.shape[1] === 0) {
      throw new ShapeError(`${op}: probs ${shapeText(probs.shape)} have no classes for the labels to name`);
    }
    this.expectShape(op, 'dlogits', dlogits, probs.shape);
    this.native.softmaxNllBackward(this.arg(op, 'probs', probs), this.arg(op, 'labels', labels), this.arg(op, 'dlogits', dlogits));
  }

  // ---- argument checks ----

  private arg(op: string, name: string, t: Tensor): NativeTensor {
    if (!(t instanceof Tensor)) throw new TypeError(`${op}: ${name} must be a Tensor, got ${describe(t)}`);
    if (t.backend !== this) throw new Error(`${op}: ${name} belongs to the ${t.backend.kind} backend it was created on, not this one`);
    t.assertLive(`${op}: ${name}`);
    return t.native;
  }

  private isTensor(op: string, name: string, t: unknown): asserts t is Tensor {
    if (!(t instanceof Tensor)) throw new TypeError(`${op}: ${name} must be a Tensor, got ${describe(t)}`);
  }

  private expectShape(op: string, name: string, t: Tensor, want: readonly number[]): void {
    this.isTensor(op, name, t);
    if (t.shape.length !== want.length || t.shape.some((d, i) => d !== want[i])) {
      throw new ShapeError(`${op}: ${name} must have shape ${shapeText(want)}, got ${shapeText(t.shape)}`);
    }
  }

  private sameSize(op: string, name: string, t: Tensor, like: Tensor, likeName = 'x'): void {
    this.isTensor(op, likeName, like);
    this.isTensor(op, name, t);
    if (t.size !== like.size) {
      throw new ShapeError(`${op}: ${name} ${shapeText(t.shape)} must have as many elements as ${likeName} ${shapeText(like.shape)}`);
    }
  }

  private rank4(op: string, name: string, t: Tensor): readonly number[] {
    if (!(t instanceof Tensor)) throw new TypeError(`${op}: ${name} must be a Tensor, got ${describe(t)}`);
    if (t.shape.length !== 4) throw new ShapeError(`${op}: ${name} must be 4-D (NCHW), got ${shapeText(t.shape)}`);
    return t.shape;
  }

  private convOutput(op: string, x: Tensor, w: Tensor, xName: string, wName: string): number[] {
    const [n, c, h, wd] = this.rank4(op, xName, x);
    const [k, wc, kh, kw] = this.rank4(op, wName, w);
    if (wc !== c) {
      throw new ShapeError(`${op}: ${wName} ${shapeText(w.shape)} expects ${wc} input channels, ${xName} ${shapeText(x.shape)} has ${c}`);
    }
    if (kh < 1 || kw < 1 || kh > h || kw > wd) {
      throw new ShapeError(`${op}: the ${kh}x${kw} kernel of ${wName} does not fit the ${h}x${wd} image of ${xName}`);
    }
    return [n, k, h - kh + 1, wd - kw + 1];
  }

  private pooledOf(op: string, convShape: readonly number[]): number[] {
    const [n, k, h, w] = convShape;
    if (h < 2 || w < 2) throw new ShapeError(`${op}: the convolution's output ${shapeText(convShape)} is smaller than the 2x2 window`);
    return [n, k, Math.floor(h / 2), Math.floor(w / 2)];
  }

  private pooledShape(op: string, x: Tensor): number[] {
    const [n, c, h, w] = this.rank4(op, 'x', x);
    if (h < 2 || w < 2) throw new ShapeError(`${op}: x ${shapeText(x.shape)} is smaller than the 2x2 window`);
    return [n, c, Math.floor(h / 2), Math.floor(w / 2)];
  }

  private checkBias(op: string, x: Tensor, b: Tensor, y: Tensor): void {
    if (!(x instanceof Tensor)) throw new TypeError(`${op}: x must be a Tensor, got ${describe(x)}`);
    if (x.shape.length < 2) throw new ShapeError(`${op}: x must have rank 2 or more, got ${shapeText(x.shape)}`);
    this.expectShape(op, 'b', b, [x.shape[1]]);
    this.expectShape(op, 'y', y, x.shape);
  }
}
