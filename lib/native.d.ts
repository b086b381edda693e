/**
 * The native addon's surface, declared once (implemented in native/). Everything in lib/ reaches
 * the addon through these types; nothing calls it through `any`.
 *
 * Ops are queued on the backend's executor thread and return at once; results are read with
 * `read()` (a promise) or `readSync()`. Errors in queued work are reported by the next read/sync.
 */

/** An opaque handle to native memory; create with `NativeBackend.alloc` or `view`. */
export interface NativeTensor {
  /** Releases this handle's reference to the memory (idempotent). */
  dispose(): void;
  readonly disposed: boolean;
}

/** An opaque handle to a conv-pool layer's fused op and its saved state; see `NativeBackend.convPoolPlan`. */
export interface NativeConvPoolPlan {
  /** Releases this handle's reference to the plan (idempotent). */
  dispose(): void;
  readonly disposed: boolean;
  /** Bytes of backend memory the plan holds between forward and backward. */
  readonly stateBytes: number;
}

/** One op of the native op table (native/ops.cc). */
export interface NativeOpInfo {
  name: string;
  /** Its arguments: `x` a tensor, `dx?` a tensor or null, `#alpha` a number, `!transA` a boolean, `@plan` a plan. */
  signature: string;
}

/** Live native allocations of one backend (buffers and bytes), and the high-water mark. */
export interface NativeCounters {
  liveBuffers: number;
  liveBytes: number;
  peakBytes: number;
}

/** A backend: a device plus the executor thread that runs its ops in issue order. */
export interface NativeBackend {
  readonly kind: 'cpu' | 'cuda';
  describe(): string;
  counters(): NativeCounters;
  /** Ops queued or running. */
  pending(): number;
  /** Turns per-op timing on (and clears it) or off. */
  setProfiling(on: boolean): void;
  /** Per-op totals since profiling was turned on. */
  profile(): Record<string, { calls: number; seconds: number }>;
  /** Drains the queue and stops the executor; later calls throw. */
  close(): void;
  /** The op table: every op method below, from `fill` to `softmaxNllBackward`, with its signature. */
  ops(): NativeOpInfo[];

  alloc(shape: number[]): NativeTensor;
  view(base: NativeTensor, offset: number, shape: number[]): NativeTensor;
  /** The fused conv-pool op for inputs [N,C,H,W] and filters [K,C,KH,KW]; allocates its state. */
  convPoolPlan(inputShape: number[], filterShape: number[]): NativeConvPoolPlan;
  upload(dst: NativeTensor, data: Float32Array | Uint8Array, scale?: number): void;
  read(src: NativeTensor): Promise<Float32Array>;
  readSync(src: NativeTensor): Float32Array;
  sync(): Promise<void>;
  syncSync(): void;
  fill(dst: NativeTensor, value: number): void;
  copy(src: NativeTensor, dst: NativeTensor): void;

  conv2dForward(x: NativeTensor, w: NativeTensor, y: NativeTensor): void;
  conv2dBackwardData(dy: NativeTensor, w: NativeTensor, dx: NativeTensor): void;
  conv2dBackwardFilter(x: NativeTensor, dy: NativeTensor, dw: NativeTensor): void;
  conv2dBackward(x: NativeTensor, w: NativeTensor, dy: NativeTensor, dx: NativeTensor | null, dw: NativeTensor): void;
  convPoolForward(plan: NativeConvPoolPlan, x: NativeTensor, w: NativeTensor, b: NativeTensor, y: NativeTensor): void;
  /** The backward of the plan's last forward, given that forward's x, w and y. */
  convPoolBackward(plan: NativeConvPoolPlan, x: NativeTensor, w: NativeTensor, y: NativeTensor, dy: NativeTensor, dx: NativeTensor | null, dw: NativeTensor, db: NativeTensor): void;
  maxPoolBiasTanhForward(x: NativeTensor, b: NativeTensor, pooled: NativeTensor, y: NativeTensor): void;
  maxPoolBiasTanhBackward(x: NativeTensor, pooled: NativeTensor, y: NativeTensor, dy: NativeTensor, dpooled: NativeTensor, db: NativeTensor, dx: NativeTensor): void;
  maxPool2x2Forward(x: NativeTensor, y: NativeTensor): void;
  maxPool2x2Backward(x: NativeTensor, y: NativeTensor, dy: NativeTensor, dx: NativeTensor): void;
  biasAdd(x: NativeTensor, b: NativeTensor, y: NativeTensor): void;
  biasGrad(dy: NativeTensor, db: NativeTensor): void;
  biasTanhForward(x: NativeTensor, b: NativeTensor, y: NativeTensor): void;
  tanhForward(x: NativeTensor, y: NativeTensor): void;
  tanhBackward(y: NativeTensor, dy: NativeTensor, dx: NativeTensor): void;
  gemm(transA: boolean, transB: boolean, alpha: number, a: NativeTensor, b: NativeTensor, beta: number, c: NativeTensor): void;
  axpy(alpha: number, x: NativeTensor, y: NativeTensor): void;
  scale(alpha: number, x: NativeTensor): void;
  softmaxNll(logits: NativeTensor, labels: NativeTensor | null, probs: NativeTensor, stats: NativeTensor | null): void;
  softmaxNllBackward(probs: NativeTensor, labels: NativeTensor, dlogits: NativeTensor): void;
}

/** Options of the CPU backend. */
export interface NativeCpuOptions {
  /** Pool threads; 0 or absent: one per hardware thread. */
  threads?: number;
  /** GEMM implementation (default: builtin). */
  gemm?: 'builtin' | 'openblas';
  /** The built-in GEMM's micro-kernel (default: the best this CPU runs); throws if it cannot run here. */
  gemmKernel?: 'avx512' | 'avx2' | 'neon' | 'generic';
  /**
   * Conv-pool plans: `fused` (default: pooling fused into the convolution's GEMM) or `composed`
   * from the separate ops, as the CUDA backend does; the tests use it to check that plan on a CPU.
   */
  convPool?: 'fused' | 'composed';
}

/** Options of the CUDA backend. */
export interface NativeCudaOptions {
  /** CUDA device ordinal (default 0). */
  device?: number;
  /** Only deterministic cuDNN algorithms and max-pooling (default false). */
  deterministic?: boolean;
  /** Allow TF32 tensor-core math for float32 convolutions and GEMMs (default false). */
  tf32?: boolean;
  /** Folders searched first for libcudart, libcublas and libcudnn. */
  libraryDirs?: string[];
}

/** The CUDA probe's report. */
export interface NativeCudaStatus {
  ok: boolean;
  reason: string;
  device?: string;
  deviceCount: number;
  versions: Record<string, string>;
  tried: string[];
}

/** What the addon was built with. */
export interface NativeBuildInfo {
  openblas: boolean;
  /** The CUDA backend is compiled in (it always is: the libraries are loaded at run time). */
  cuda: boolean;
  defaultGemm: string;
  /** Why the default GEMM is the one it is. */
  defaultGemmReason: string;
  /** The built-in GEMM's micro-kernels this CPU and build can run, best first. */
  gemmKernels: ('avx512' | 'avx2' | 'neon' | 'generic')[];
  buildSystem?: string;
  compiler: string;
}

/** The module exported by lenet_cudnn.node. */
export interface NativeAddon {
  createCpuBackend(options?: NativeCpuOptions): NativeBackend;
  /** Throws (with the reason) when CUDA is unusable. */
  createCudaBackend(options?: NativeCudaOptions): NativeBackend;
  /** Never throws. */
  cudaAvailable(options?: { device?: number; libraryDirs?: string[] }): NativeCudaStatus;
  buildInfo(): NativeBuildInfo;
}
