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
import type { NativeBackend, NativeConvPoolPlan, NativeCounters, NativeTensor } from './native';
import {
  checkBias,
  checkBiasGrad,
  checkClasses,
  checkStats,
  checkTensor,
  convOutput,
  convPoolShapes,
  expectSameSize,
  expectShape,
  expectSizeOf,
  gemmOutput,
  pooledShape,
} from './shapes';
import { ShapeError, Tensor, checkScale, checkShape, describe, settled, shapeText } from './tensor';

/** Which device to run on: `auto` takes a CUDA GPU when one is usable, else the CPU. */
export type DeviceChoice = 'cpu' | 'cuda' | 'auto';

/** Options of `createBackend`. */
export interface BackendOptions {
  /** `cpu`, `cuda` or `auto` (default `auto`). */
  device?: DeviceChoice;
  /** CPU threads (default: one per hardware thread). */
  threads?: number;
  /**
   * CPU GEMM: `builtin` (the default: our own micro-kernels, chosen for this CPU) or `openblas`
   * (when the build found it).
   */
  gemm?: 'builtin' | 'openblas';
  /**
   * The built-in GEMM's micro-kernel: `avx512`, `avx2`, `neon` or `generic` (default: the best
   * this CPU runs; `loadAddon().buildInfo().gemmKernels` lists them). For tests and benchmarks.
   */
  gemmKernel?: GemmKernel;
  /** CUDA device ordinal (default 0). */
  cudaDevice?: number;
  /** CUDA: only deterministic cuDNN algorithms and max-pooling (default false). */
  deterministic?: boolean;
  /** CUDA: allow TF32 tensor-core math for float32 (default false: full FP32). */
  tf32?: boolean;
  /** CUDA: folders searched first for libcudart, libcublas and libcudnn (also: LENET_CUDA_LIBS). */
  libraryDirs?: string[];
}

/** A micro-kernel of the built-in CPU GEMM. */
export type GemmKernel = 'avx512' | 'avx2' | 'neon' | 'generic';

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

/** What keeps CUDA from running, as {@link explainCudaStatus} tells it from a probe's reason. */
export type CudaUnavailableReason ='driver' | 'no-device' | 'runtime' | 'cublas' | 'cudnn' | 'other';

/** Why CUDA cannot run, in a user's words, and what to do about it. */
export interface CudaExplanation {
  /** The probe's first obstacle (it stops there). */
  reason: CudaUnavailableReason;
  /** What is missing, in a few words: "driver missing or too old; cuBLAS, cuDNN missing". */
  summary: string;
  /** What to install or set ('' when there is nothing general to say). */
  fix: string;
}

// The driver each CUDA major needs, as NVIDIA's release notes and the loader's fix text say.
const DRIVER_FOR_CUDA: Record<string, number> = { '13': 580, '12': 535 };

// The libraries the probe loads, with their pip packages per CUDA major (CUDA 13's cuBLAS and
// runtime wheels dropped the -cu13 suffix; nvidia-cublas-cu13 is a deprecated stub).
const CUDA_LIBRARIES = [
  { reason: 'runtime', title: 'the CUDA runtime (libcudart)', name: 'the CUDA runtime', soname: 'libcudart.so', pip: { '13': 'nvidia-cuda-runtime', '12': 'nvidia-cuda-runtime-cu12' } },
  { reason: 'cublas', title: 'cuBLAS (libcublas)', name: 'cuBLAS', soname: 'libcublas.so', pip: { '13': 'nvidia-cublas', '12': 'nvidia-cublas-cu12' } },
  { reason: 'cudnn', title: 'cuDNN (libcudnn)', name: 'cuDNN', soname: 'libcudnn.so.9', pip: { '13': 'nvidia-cudnn-cu13', '12': 'nvidia-cudnn-cu12' } },
] as const;

/**
 * Classifies why a probe found CUDA unusable, from `cudaAvailable()`'s reason and `tried` list:
 * the driver (absent, or older than the runtime needs: cudaErrorInsufficientDriver, 35, or no
 * libcuda), no device, or a missing library (the loader's "could not load <library>"), plus every
 * library the `tried` list shows was not found, with the fix for all of them.
 */
export function explainCudaStatus(status: Pick<CudaStatus, 'reason' | 'versions' | 'tried'>): CudaExplanation {
  const text = status.reason;
  const major = (status.versions.runtime ?? '13').split('.')[0] === '12' ? '12' : '13';
  // A library is missing when the loader said so, or when it was tried and none was chosen.
  const missing = CUDA_LIBRARIES.filter(({ title }) => {
    const lines = status.tried.filter((t) => t.startsWith(`${title}: `));
    return text.includes(`could not load ${title}`) || (lines.length > 0 && !lines.some((t) => t.includes(': chosen (')));
  });
  const parts: string[] = [];
  const fixes: string[] = [];
  let reason: CudaUnavailableReason = 'other';
  if (/cudaErrorInsufficientDriver|could not load the CUDA driver/.test(text)) {
    reason = 'driver';
    parts.push('NVIDIA driver missing or too old');
    fixes.push(
      `install the NVIDIA driver ${DRIVER_FOR_CUDA[major]} or newer, as CUDA ${status.versions.runtime ?? major} needs ` +
        '(it brings libcuda.so.1, which pip cannot; nvidia-smi shows the version)',
    );
  } else if (/no CUDA device found|cudaErrorNoDevice|CUDA device \d+ does not exist/.test(text)) {
    reason = 'no-device';
    parts.push(text.split('\n')[0]);
    fixes.push('check that nvidia-smi lists a GPU and that CUDA_VISIBLE_DEVICES does not hide it');
  } else {
    reason = CUDA_LIBRARIES.find(({ title }) => text.includes(`could not load ${title}`))?.reason ?? 'other';
    if (reason === 'other') parts.push(text.split('\n')[0]);
  }
  if (missing.length) {
    parts.push(`${missing.map((l) => l.name).join(', ')} missing`);
    fixes.push(
      `pip install ${missing.map((l) => l.pip[major]).join(' ')} (or the CUDA toolkit / your distribution's packages), ` +
        `or set LENET_CUDA_LIBS to the folder that holds ${missing.map((l) => `${l.soname}${l.soname.endsWith('.9') ? '' : `.${major}`}`).join(' and ')}`,
    );
  }
  return { reason, summary: parts.join('; '), fix: fixes.join('; then ') };
}

/**
 * The error `createBackend({ device: 'cuda' })` throws where CUDA cannot run: `code`
 * 'LENET_CUDA_UNAVAILABLE', the kind of problem and its fix ({@link explainCudaStatus}), and the
 * probe's `tried` list.
 */
export interface CudaUnavailableError extends Error, CudaExplanation {
  code: 'LENET_CUDA_UNAVAILABLE';
  /** The probe's own words (`cudaAvailable().reason`). */
  detail: string;
  tried: string[];
}

/**
 * Creates a backend. `device: 'cuda'` throws a {@link CudaUnavailableError} when no usable GPU is found, with the reason;
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
  if (options.gemm !== undefined && options.gemm !== 'builtin' && options.gemm !== 'openblas') {
    throw new RangeError(`createBackend: gemm must be 'builtin' or 'openblas', got ${JSON.stringify(options.gemm)}`);
  }
  if (options.gemmKernel !== undefined && !['avx512', 'avx2', 'neon', 'generic'].includes(options.gemmKernel)) {
    throw new RangeError(`createBackend: gemmKernel must be 'avx512', 'avx2', 'neon' or 'generic', got ${JSON.stringify(options.gemmKernel)}`);
  }
  if (options.cudaDevice !== undefined && (!Number.isInteger(options.cudaDevice) || options.cudaDevice < 0)) {
    throw new RangeError(`createBackend: cudaDevice must be a non-negative integer, got ${options.cudaDevice}`);
  }
  if (options.libraryDirs !== undefined && (!Array.isArray(options.libraryDirs) || options.libraryDirs.some((d) => typeof d !== 'string'))) {
    throw new TypeError('createBackend: libraryDirs must be an array of folder paths');
  }
  const addon = loadAddon();
  const cpu = (reason: string) => new Backend(addon.createCpuBackend({ threads: options.threads, gemm: options.gemm, gemmKernel: options.gemmKernel }), { kind: 'cpu', reason });
  if (device === 'cpu') return cpu('the CPU was requested');
  const status = cudaAvailable(options);
  if (!status.ok) {
    if (device === 'cuda') {
      const e = new Error(`createBackend: CUDA is not available: ${status.reason}`);
      throw Object.assign(e, { code: 'LENET_CUDA_UNAVAILABLE', ...explainCudaStatus(status), detail: status.reason, tried: status.tried }) as CudaUnavailableError;
    }
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
  private closed = false;

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

  /**
   * Waits (without blocking the event loop) until every op queued so far has finished; rejects
   * with the first error of that work (its stack is the caller's).
   */
  sync(): Promise<void> {
    const caller: { stack?: string } = {};
    Error.captureStackTrace(caller, Backend.prototype.sync);
    return settled(() => {
      this.assertOpen('sync');
      return this.native.sync();
    }, caller);
  }

  /** Blocks until every op queued so far has finished. */
  syncSync(): void {
    this.native.syncSync();
  }

  /**
   * Finishes queued work and stops the backend's thread; the backend is unusable afterwards (its
   * factories throw, `sync()` and reads reject). Idempotent.
   */
  dispose(): void {
    this.closed = true;
    this.native.close();
  }

  /** True after `dispose()`. */
  get disposed(): boolean {
    return this.closed;
  }

  /** @internal Throws a clear error when the backend was disposed. */
  assertOpen(op: string): void {
    if (this.closed) throw new Error(`${op}: the ${this.kind} backend was disposed`);
  }

  // ---- tensors ----

  /** A new tensor of zeros. */
  zeros(shape: readonly number[]): Tensor {
    this.assertOpen('zeros');
    checkShape(shape, 'zeros');
    return new Tensor(this, this.native.alloc([...shape]), shape);
  }

  /** A new tensor holding `data` (Float32Array, or Uint8Array converted to float) times `scale`. */
  tensor(shape: readonly number[], data: Float32Array | Uint8Array, scale = 1): Tensor {
    this.assertOpen('tensor');
    const size = checkShape(shape, 'tensor');
    if (!isFloat32Array(data) && !isUint8Array(data)) {
      throw new TypeError(`tensor: data must be a Float32Array or a Uint8Array, got ${describe(data)}`);
    }
    checkScale('tensor', scale);
    if (data.length !== size) {
      throw new ShapeError(`tensor: data has ${data.length} elements, shape ${shapeText(shape)} needs ${size}`);
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
    expectSameSize('copy', 'dst', dst, src, 'src');
    this.native.copy(this.arg('copy', 'src', src), this.arg('copy', 'dst', dst));
  }

  // ---- convolution (valid, stride 1, cross-correlation; x NCHW, w OIHW) ----

  /** y = conv(x, w): x [N,C,H,W], w [K,C,KH,KW], y [N,K,H-KH+1,W-KW+1]. */
  conv2dForward(x: Tensor, w: Tensor, y: Tensor): void {
    const op = 'conv2dForward';
    expectShape(op, 'y', y, convOutput(op, x, w, 'x', 'w'));
    this.native.conv2dForward(this.arg(op, 'x', x), this.arg(op, 'w', w), this.arg(op, 'y', y));
  }

  /** dx = the gradient of conv(x, w) with respect to x, given dy. */
  conv2dBackwardData(dy: Tensor, w: Tensor, dx: Tensor): void {
    const op = 'conv2dBackwardData';
    expectShape(op, 'dy', dy, convOutput(op, dx, w, 'dx', 'w'));
    this.native.conv2dBackwardData(this.arg(op, 'dy', dy), this.arg(op, 'w', w), this.arg(op, 'dx', dx));
  }

  /** dw = the gradient of conv(x, w) with respect to w, given dy (dw is overwritten). */
  conv2dBackwardFilter(x: Tensor, dy: Tensor, dw: Tensor): void {
    const op = 'conv2dBackwardFilter';
    expectShape(op, 'dy', dy, convOutput(op, x, dw, 'x', 'dw'));
    this.native.conv2dBackwardFilter(this.arg(op, 'x', x), this.arg(op, 'dy', dy), this.arg(op, 'dw', dw));
  }

  /**
   * Both gradients of y = conv(x, w) in one call: dw (overwritten) and, when dx is not null, dx.
   * Backends share work between the two (the CPU gathers dy once per chunk).
   */
  conv2dBackward(x: Tensor, w: Tensor, dy: Tensor, dx: Tensor | null, dw: Tensor): void {
    const op = 'conv2dBackward';
    expectShape(op, 'dy', dy, convOutput(op, x, w, 'x', 'w'));
    expectShape(op, 'dw', dw, w.shape);
    if (dx) expectShape(op, 'dx', dx, x.shape);
    this.native.conv2dBackward(this.arg(op, 'x', x), this.arg(op, 'w', w), this.arg(op, 'dy', dy), dx ? this.arg(op, 'dx', dx) : null, this.arg(op, 'dw', dw));
  }

  /**
   * The fused op of a whole conv-pool layer, y = tanh(maxpool2x2(conv(x, w)) + b), for inputs of
   * `inputShape` [N,C,H,W] and filters of `filterShape` [K,C,KH,KW]: an object that owns what
   * this backend keeps between the forward and the backward pass. Dispose it when done.
   */
  convPoolPlan(inputShape: readonly number[], filterShape: readonly number[]): ConvPoolPlan {
    const op = 'convPoolPlan';
    this.assertOpen(op);
    checkShape(inputShape, `${op}: inputShape`);
    checkShape(filterShape, `${op}: filterShape`);
    const { output } = convPoolShapes(op, inputShape, filterShape);
    return new ConvPoolPlan(this, this.native.convPoolPlan([...inputShape], [...filterShape]), inputShape, filterShape, output);
  }

  // ---- 2x2 max-pooling, stride 2, ignore_border ----

  /** The epilogue of a conv-pool layer in one pass: pooled = maxpool(x), y = tanh(pooled + b). */
  maxPoolBiasTanhForward(x: Tensor, b: Tensor, pooled: Tensor, y: Tensor): void {
    const op = 'maxPoolBiasTanhForward';
    const shape = pooledShape(op, x);
    expectShape(op, 'b', b, [x.shape[1]]);
    expectShape(op, 'pooled', pooled, shape);
    expectShape(op, 'y', y, shape);
    this.native.maxPoolBiasTanhForward(this.arg(op, 'x', x), this.arg(op, 'b', b), this.arg(op, 'pooled', pooled), this.arg(op, 'y', y));
  }

  /**
   * The backward of `maxPoolBiasTanhForward`: dpooled = dy * (1 - y^2), db = its per-channel sum,
   * dx = the max-pool gradient of dpooled (first maximum). dy needs pooled's element count only.
   */
  maxPoolBiasTanhBackward(x: Tensor, pooled: Tensor, y: Tensor, dy: Tensor, dpooled: Tensor, db: Tensor, dx: Tensor): void {
    const op = 'maxPoolBiasTanhBackward';
    const shape = pooledShape(op, x);
    expectShape(op, 'pooled', pooled, shape);
    expectShape(op, 'y', y, shape);
    expectSameSize(op, 'dy', dy, y, 'y');
    expectShape(op, 'dpooled', dpooled, shape);
    expectShape(op, 'db', db, [x.shape[1]]);
    expectShape(op, 'dx', dx, x.shape);
    this.native.maxPoolBiasTanhBackward(
      this.arg(op, 'x', x), this.arg(op, 'pooled', pooled), this.arg(op, 'y', y), this.arg(op, 'dy', dy),
      this.arg(op, 'dpooled', dpooled), this.arg(op, 'db', db), this.arg(op, 'dx', dx),
    );
  }

  /** y = maxpool(x): x [N,C,H,W], y [N,C,floor(H/2),floor(W/2)]. */
  maxPool2x2Forward(x: Tensor, y: Tensor): void {
    const op = 'maxPool2x2Forward';
    expectShape(op, 'y', y, pooledShape(op, x));
    this.native.maxPool2x2Forward(this.arg(op, 'x', x), this.arg(op, 'y', y));
  }

  /** dx = the gradient of maxpool at x (output y) given dy; ties go to the first maximum. */
  maxPool2x2Backward(x: Tensor, y: Tensor, dy: Tensor, dx: Tensor): void {
    const op = 'maxPool2x2Backward';
    const pooled = pooledShape(op, x);
    expectShape(op, 'y', y, pooled);
    expectShape(op, 'dy', dy, pooled);
    expectShape(op, 'dx', dx, x.shape);
    this.native.maxPool2x2Backward(this.arg(op, 'x', x), this.arg(op, 'y', y), this.arg(op, 'dy', dy), this.arg(op, 'dx', dx));
  }

  // ---- bias (per channel, axis 1) and tanh ----

  /** y = x + b, b [C] broadcast over every axis but 1; y may be x. */
  biasAdd(x: Tensor, b: Tensor, y: Tensor): void {
    checkBias('biasAdd', x, b, y);
    this.native.biasAdd(this.arg('biasAdd', 'x', x), this.arg('biasAdd', 'b', b), this.arg('biasAdd', 'y', y));
  }

  /** y = tanh(x + b): the epilogue of every layer; y may be x. */
  biasTanhForward(x: Tensor, b: Tensor, y: Tensor): void {
    const op = 'biasTanhForward';
    checkBias(op, x, b, y);
    this.native.biasTanhForward(this.arg(op, 'x', x), this.arg(op, 'b', b), this.arg(op, 'y', y));
  }

  /** db[c] = sum of dy over every axis but 1 (db is overwritten). */
  biasGrad(dy: Tensor, db: Tensor): void {
    const op = 'biasGrad';
    checkBiasGrad(op, dy, db);
    this.native.biasGrad(this.arg(op, 'dy', dy), this.arg(op, 'db', db));
  }

  /** y = tanh(x); y may be x. */
  tanhForward(x: Tensor, y: Tensor): void {
    expectSameSize('tanhForward', 'y', y, x);
    this.native.tanhForward(this.arg('tanhForward', 'x', x), this.arg('tanhForward', 'y', y));
  }

  /** dx = dy * (1 - y^2), y = tanh(x); dx may be dy. */
  tanhBackward(y: Tensor, dy: Tensor, dx: Tensor): void {
    const op = 'tanhBackward';
    expectSameSize(op, 'dy', dy, y, 'y');
    expectSameSize(op, 'dx', dx, y, 'y');
    this.native.tanhBackward(this.arg(op, 'y', y), this.arg(op, 'dy', dy), this.arg(op, 'dx', dx));
  }

  // ---- dense algebra ----

  /** c = alpha * op(a) * op(b) + beta * c, row-major 2-D; op transposes when the flag is set. */
  gemm(transA: boolean, transB: boolean, alpha: number, a: Tensor, b: Tensor, beta: number, c: Tensor): void {
    const op = 'gemm';
    expectShape(op, 'c', c, gemmOutput(op, transA, transB, a, b, c));
    this.native.gemm(transA, transB, alpha, this.arg(op, 'a', a), this.arg(op, 'b', b), beta, this.arg(op, 'c', c));
  }

  /** y += alpha * x. */
  axpy(alpha: number, x: Tensor, y: Tensor): void {
    expectSameSize('axpy', 'y', y, x);
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
    checkClasses(op, 'logits', logits, labels);
    expectShape(op, 'probs', probs, logits.shape);
    checkStats(op, stats, labels);
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
    checkTensor(op, 'labels', labels);
    checkClasses(op, 'probs', probs, labels);
    expectShape(op, 'dlogits', dlogits, probs.shape);
    this.native.softmaxNllBackward(this.arg(op, 'probs', probs), this.arg(op, 'labels', labels), this.arg(op, 'dlogits', dlogits));
  }

  // ---- arguments ----

  /** @internal The native handle of a tensor argument of this backend that is still live. */
  arg(op: string, name: string, t: Tensor): NativeTensor {
    checkTensor(op, name, t);
    if (t.backend !== this) throw new Error(`${op}: ${name} belongs to the ${t.backend.kind} backend it was created on, not this one`);
    t.assertLive(`${op}: ${name}`);
    return t.native;
  }
}

/**
 * The fused op of one LeNetConvPoolLayer for one input and filter shape (made by
 * `backend.convPoolPlan`): `forward(x, w, b, y)` computes y = tanh(maxpool2x2(conv(x, w)) + b) and
 * `backward(dy, dx, dw, db)` its gradients. What the backward needs from the forward (the CPU:
 * each window's argmax; CUDA: the convolution's output) lives in the plan, so the layer holds
 * nothing that only one backend understands.
 */
export class ConvPoolPlan {
  readonly backend: Backend;
  /** x's shape [N,C,H,W]. */
  readonly inputShape: readonly number[];
  /** w's shape [K,C,KH,KW]. */
  readonly filterShape: readonly number[];
  /** y's shape [N,K,(H-KH+1)/2,(W-KW+1)/2]. */
  readonly outputShape: readonly number[];
  /** @internal */
  readonly native: NativeConvPoolPlan;
  // The tensors of the last forward, which the backward op needs again (the native plan keeps no
  // reference to them: disposing them frees them).
  private last?: { x: Tensor; w: Tensor; y: Tensor };

  /** @internal Use `backend.convPoolPlan`. */
  constructor(backend: Backend, native: NativeConvPoolPlan, inputShape: readonly number[], filterShape: readonly number[], outputShape: readonly number[]) {
    this.backend = backend;
    this.native = native;
    this.inputShape = Object.freeze([...inputShape]);
    this.filterShape = Object.freeze([...filterShape]);
    this.outputShape = Object.freeze([...outputShape]);
  }

  /** Bytes of device memory the plan holds for its backward pass. */
  get stateBytes(): number {
    return this.native.stateBytes;
  }

  /** True after `dispose()`. */
  get disposed(): boolean {
    return this.native.disposed;
  }

  /**
   * y = tanh(maxpool2x2(conv(x, w)) + b); keeps what `backward` needs. x, w and y are remembered
   * for the backward, which throws if one of them was disposed in between.
   */
  forward(x: Tensor, w: Tensor, b: Tensor, y: Tensor): void {
    const op = 'convPoolForward';
    this.assertLive(op);
    expectShape(op, 'x', x, this.inputShape);
    expectShape(op, 'w', w, this.filterShape);
    expectShape(op, 'b', b, [this.filterShape[0]]);
    expectShape(op, 'y', y, this.outputShape);
    const be = this.backend;
    be.native.convPoolForward(this.native, be.arg(op, 'x', x), be.arg(op, 'w', w), be.arg(op, 'b', b), be.arg(op, 'y', y));
    this.last = { x, w, y };
  }

  /**
   * The backward of the last `forward`: from dy (the gradient at y; any shape of y's size) writes
   * dw and db (overwritten) and, when dx is not null, dx. x, w and y must not have changed since.
   */
  backward(dy: Tensor, dx: Tensor | null, dw: Tensor, db: Tensor): void {
    const op = 'convPoolBackward';
    this.assertLive(op);
    if (!this.last) throw new Error(`${op}: backward() before forward() on this plan`);
    for (const [name, t] of Object.entries(this.last)) {
      if (t.disposed) throw new Error(`${op}: the ${name} of the last forward() was disposed`);
    }
    expectSizeOf(op, 'dy', dy, this.outputShape, 'y');
    if (dx) expectShape(op, 'dx', dx, this.inputShape);
    expectShape(op, 'dw', dw, this.filterShape);
    expectShape(op, 'db', db, [this.filterShape[0]]);
    const be = this.backend;
    const { x, w, y } = this.last;
    be.native.convPoolBackward(
      this.native, be.arg(op, 'x', x), be.arg(op, 'w', w), be.arg(op, 'y', y),
      be.arg(op, 'dy', dy), dx ? be.arg(op, 'dx', dx) : null, be.arg(op, 'dw', dw), be.arg(op, 'db', db),
    );
  }

  /** Releases the plan's state (queued ops keep it until they have run). Idempotent. */
  dispose(): void {
    this.native.dispose();
    this.last = undefined;
  }

  private assertLive(op: string): void {
    if (this.native.disposed) throw new Error(`${op}: the plan for ${shapeText(this.inputShape)} was used after dispose()`);
  }
}
