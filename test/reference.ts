/**
 * An independent float64 reference for the op set and for LeNet5, written from the definitions
 * with plain loops over Float64Arrays (no im2col, no blocking, nothing shared with lib/ or native/),
 * plus seeded test data and a comparison helper with a readable failure message.
 *
 * Conventions (the same as native/device.h): row-major, NCHW activations, OIHW weights,
 * convolution = valid, stride 1, cross-correlation (no kernel flip); 2x2 max-pooling, stride 2,
 * ignore_border, gradient to the first maximum in row-major order within the window.
 */
import { RandomState } from '../lib/rng';

/** float32 machine epsilon (2^-23); the unit roundoff is EPS32 / 2. */
export const EPS32 = 2 ** -23;

export type Shape = readonly number[];

export function sizeOf(shape: Shape): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** A float64 copy of any numeric array. */
export function f64(a: ArrayLike<number>): Float64Array {
  return Float64Array.from(a as ArrayLike<number>);
}

/** The float32 rounding of a float64 array (what uploading it to a backend does). */
export function f32(a: ArrayLike<number>): Float32Array {
  return Float32Array.from(a as ArrayLike<number>);
}

export function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

// ---------------------------------------------------------------------------------------------
// Seeded test data
// ---------------------------------------------------------------------------------------------

/** Seeded test data on top of lib/rng.ts (numpy's MT19937), so every run sees the same numbers. */
export class TestRandom {
  private readonly rs: RandomState;
  constructor(seed: number) {
    this.rs = new RandomState(seed);
  }
  /** A double in [0, 1). */
  next(): number {
    return this.rs.randomSample();
  }
  /** `n` float32 values uniform in [lo, hi). */
  uniform(n: number, lo = -1, hi = 1): Float32Array {
    return this.rs.uniform(lo, hi, n);
  }
  /** An integer in [0, k). */
  int(k: number): number {
    return Math.floor(this.next() * k);
  }
  /** `n` class ids in [0, k), stored as float32 (the labels format of the backends). */
  labels(n: number, k: number): Float32Array {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = this.int(k);
    return out;
  }
  /** `count` distinct indices in [0, n), in increasing order (all of them when count >= n). */
  subset(n: number, count: number): number[] {
    const idx = Array.from({ length: n }, (_, i) => i);
    if (count >= n) return idx;
    for (let i = 0; i < count; i++) {
      const j = i + this.int(n - i);
      [idx[i], idx[j]] = [idx[j], idx[i]];
    }
    return idx.slice(0, count).sort((a, b) => a - b);
  }
}

// ---------------------------------------------------------------------------------------------
// Comparison
// ---------------------------------------------------------------------------------------------

/** |actual - expected| <= atol + rtol * |expected|, element by element. */
export interface Tolerance {
  atol: number;
  rtol: number;
}

export interface Violation {
  index: number;
  actual: number;
  expected: number;
  error: number;
  allowed: number;
}

/** The worst element (largest error / allowed) and how many elements fail; NaN always fails. */
export function compare(actualIn: ArrayLike<number>, expectedIn: ArrayLike<number>, tol: Tolerance) {
  // Copies into Float64Arrays keep the loop monomorphic (fast on large outputs).
  const actual = f64(actualIn);
  const expected = f64(expectedIn);
  let worst: Violation | null = null;
  let worstRatio = -1;
  let failures = 0;
  let maxError = 0;
  for (let i = 0; i < expected.length; i++) {
    const error = Math.abs(actual[i] - expected[i]);
    const allowed = tol.atol + tol.rtol * Math.abs(expected[i]);
    if (!(error <= allowed)) failures++;
    if (error > maxError) maxError = error;
    const ratio = error !== error ? Infinity : error / allowed;
    if (ratio > worstRatio) {
      worstRatio = ratio;
      worst = { index: i, actual: actual[i], expected: expected[i], error, allowed };
    }
  }
  return { worst, worstRatio, failures, maxError };
}

/** Throws an Error naming the worst element when `actual` is not within `tol` of `expected`. */
export function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: Tolerance, what: string): void {
  if (actual.length !== expected.length) {
    throw new Error(`${what}: ${actual.length} elements, the reference has ${expected.length}`);
  }
  const r = compare(actual, expected, tol);
  if (r.failures > 0 && r.worst) {
    const w = r.worst;
    throw new Error(
      `${what}: ${r.failures} of ${expected.length} elements outside atol=${tol.atol.toExponential(2)} rtol=${tol.rtol.toExponential(2)}; ` +
        `worst at [${w.index}]: got ${w.actual}, reference ${w.expected}, error ${w.error.toExponential(3)} > allowed ${w.allowed.toExponential(3)}`,
    );
  }
}

/**
 * Tolerance for results that are sums of `terms` products of O(1) float32 values (GEMM, conv,
 * bias gradients). The rounding error of a float32 sum of K terms of size <= 1 grows like
 * u * sqrt(sum of squared partial sums) ~ 0.25 * u * K for random signs (u = EPS32/2), and the
 * largest of many outputs reaches a few times that; blocked or FMA summation only lowers it.
 * atol = 2 * K * EPS32 (= 4 u K) leaves a margin of >= 4x over what is observed, while one missing,
 * duplicated or misplaced term (size ~0.25 on average) is still 1000x larger than the tolerance
 * for every K used here. rtol covers results scaled by alpha/beta.
 */
export function sumTol(terms: number, scale = 1): Tolerance {
  return { atol: 2 * Math.max(terms, 1) * EPS32 * scale, rtol: 8 * EPS32 };
}

// ---------------------------------------------------------------------------------------------
// Convolution
// ---------------------------------------------------------------------------------------------

/** y[n,k,i,j] = sum_{c,p,q} x[n,c,i+p,j+q] * w[k,c,p,q]; y [N,K,H-KH+1,W-KW+1]. */
export function conv2dRef(xIn: ArrayLike<number>, xs: Shape, wIn: ArrayLike<number>, ws: Shape): Float64Array {
  const x = f64(xIn);
  const w = f64(wIn);
  const [N, C, H, W] = xs;
  const [K, C2, KH, KW] = ws;
  if (C !== C2) throw new Error('conv2dRef: channel mismatch');
  const OH = H - KH + 1;
  const OW = W - KW + 1;
  const y = new Float64Array(N * K * OH * OW);
  for (let n = 0; n < N; n++)
    for (let k = 0; k < K; k++)
      for (let i = 0; i < OH; i++)
        for (let j = 0; j < OW; j++) {
          let s = 0;
          for (let c = 0; c < C; c++)
            for (let p = 0; p < KH; p++)
              for (let q = 0; q < KW; q++) s += x[((n * C + c) * H + i + p) * W + j + q] * w[((k * C + c) * KH + p) * KW + q];
          y[((n * K + k) * OH + i) * OW + j] = s;
        }
  return y;
}

/** dx[n,c,h,w] = sum over (k,p,q) with h = i+p, w = j+q of dy[n,k,i,j] * w[k,c,p,q]. */
export function conv2dBackwardDataRef(dyIn: ArrayLike<number>, wIn: ArrayLike<number>, xs: Shape, ws: Shape): Float64Array {
  const dy = f64(dyIn);
  const w = f64(wIn);
  const [N, C, H, W] = xs;
  const [K, , KH, KW] = ws;
  const OH = H - KH + 1;
  const OW = W - KW + 1;
  const dx = new Float64Array(N * C * H * W);
  for (let n = 0; n < N; n++)
    for (let k = 0; k < K; k++)
      for (let i = 0; i < OH; i++)
        for (let j = 0; j < OW; j++) {
          const g = dy[((n * K + k) * OH + i) * OW + j];
          for (let c = 0; c < C; c++)
            for (let p = 0; p < KH; p++)
              for (let q = 0; q < KW; q++) dx[((n * C + c) * H + i + p) * W + j + q] += g * w[((k * C + c) * KH + p) * KW + q];
        }
  return dx;
}

/** dw[k,c,p,q] = sum_{n,i,j} dy[n,k,i,j] * x[n,c,i+p,j+q]. */
export function conv2dBackwardFilterRef(xIn: ArrayLike<number>, dyIn: ArrayLike<number>, xs: Shape, ws: Shape): Float64Array {
  const x = f64(xIn);
  const dy = f64(dyIn);
  const [N, C, H, W] = xs;
  const [K, , KH, KW] = ws;
  const OH = H - KH + 1;
  const OW = W - KW + 1;
  const dw = new Float64Array(K * C * KH * KW);
  for (let k = 0; k < K; k++)
    for (let c = 0; c < C; c++)
      for (let p = 0; p < KH; p++)
        for (let q = 0; q < KW; q++) {
          let s = 0;
          for (let n = 0; n < N; n++)
            for (let i = 0; i < OH; i++)
              for (let j = 0; j < OW; j++) s += dy[((n * K + k) * OH + i) * OW + j] * x[((n * C + c) * H + i + p) * W + j + q];
          dw[((k * C + c) * KH + p) * KW + q] = s;
        }
  return dw;
}

// ---------------------------------------------------------------------------------------------
// Pooling
// ---------------------------------------------------------------------------------------------

/** The pooled shape [N,C,floor(H/2),floor(W/2)]. */
export function pooledShape(xs: Shape): number[] {
  return [xs[0], xs[1], Math.floor(xs[2] / 2), Math.floor(xs[3] / 2)];
}

/**
 * 2x2 max-pooling, stride 2, ignore_border. Also returns, for each output, the flat index in x of
 * the FIRST maximum of its window in row-major order (top-left, top-right, bottom-left, bottom-right).
 */
export function maxPoolRef(xIn: ArrayLike<number>, xs: Shape): { y: Float64Array; argmax: Int32Array } {
  const x = f64(xIn);
  const [N, C, H, W] = xs;
  const OH = Math.floor(H / 2);
  const OW = Math.floor(W / 2);
  const y = new Float64Array(N * C * OH * OW);
  const argmax = new Int32Array(y.length);
  for (let pl = 0; pl < N * C; pl++)
    for (let i = 0; i < OH; i++)
      for (let j = 0; j < OW; j++) {
        // candidates in row-major order; a later one wins only when strictly greater
        const top = (pl * H + 2 * i) * W + 2 * j;
        let at = top;
        for (const idx of [top + 1, top + W, top + W + 1]) if (x[idx] > x[at]) at = idx;
        const best = x[at];
        const o = (pl * OH + i) * OW + j;
        y[o] = best;
        argmax[o] = at;
      }
  return { y, argmax };
}

/** dx: dy routed to the first maximum of each window; zero elsewhere (including dropped borders). */
export function maxPoolBackwardRef(x: ArrayLike<number>, xs: Shape, dy: ArrayLike<number>): Float64Array {
  const { argmax } = maxPoolRef(x, xs);
  const dx = new Float64Array(sizeOf(xs));
  for (let o = 0; o < argmax.length; o++) dx[argmax[o]] += dy[o];
  return dx;
}

// ---------------------------------------------------------------------------------------------
// Bias and tanh
// ---------------------------------------------------------------------------------------------

/** y = x + b[c] along axis 1 of a rank >= 2 tensor. */
export function biasAddRef(x: ArrayLike<number>, xs: Shape, b: ArrayLike<number>): Float64Array {
  const C = xs[1];
  const inner = sizeOf(xs.slice(2));
  const y = new Float64Array(sizeOf(xs));
  for (let i = 0; i < y.length; i++) y[i] = x[i] + b[Math.floor(i / inner) % C];
  return y;
}

/** db[c] = sum of dy over every axis but 1. */
export function biasGradRef(dy: ArrayLike<number>, ds: Shape): Float64Array {
  const C = ds[1];
  const inner = sizeOf(ds.slice(2));
  const db = new Float64Array(C);
  for (let i = 0; i < sizeOf(ds); i++) db[Math.floor(i / inner) % C] += dy[i];
  return db;
}

export function tanhRef(x: ArrayLike<number>): Float64Array {
  return Float64Array.from(x as ArrayLike<number>, (v) => Math.tanh(v));
}

/** dx = dy * (1 - y^2). */
export function tanhBackwardRef(y: ArrayLike<number>, dy: ArrayLike<number>): Float64Array {
  const dx = new Float64Array(y.length);
  for (let i = 0; i < y.length; i++) dx[i] = dy[i] * (1 - y[i] * y[i]);
  return dx;
}

// ---------------------------------------------------------------------------------------------
// GEMM
// ---------------------------------------------------------------------------------------------

/**
 * Row-major c = alpha * op(a) * op(b) + beta * c, op(a) [m,k], op(b) [k,n]. `c` null means zeros;
 * beta = 0 ignores c entirely (the BLAS convention: c may hold NaN).
 */
export function gemmRef(
  transA: boolean,
  transB: boolean,
  alpha: number,
  a: ArrayLike<number>,
  as: Shape,
  b: ArrayLike<number>,
  bs: Shape,
  beta: number,
  c: ArrayLike<number> | null,
): Float64Array {
  const [m, k] = transA ? [as[1], as[0]] : [as[0], as[1]];
  const [k2, n] = transB ? [bs[1], bs[0]] : [bs[0], bs[1]];
  if (k !== k2) throw new Error('gemmRef: inner dimensions differ');
  // op(a) as [m,k] and op(b) transposed as [n,k], both row-major float64: the inner loop is a
  // plain dot product of two contiguous rows.
  const at = new Float64Array(m * k);
  const bt = new Float64Array(n * k);
  for (let i = 0; i < m; i++) for (let p = 0; p < k; p++) at[i * k + p] = transA ? a[p * as[1] + i] : a[i * as[1] + p];
  for (let j = 0; j < n; j++) for (let p = 0; p < k; p++) bt[j * k + p] = transB ? b[j * bs[1] + p] : b[p * bs[1] + j];
  const cc = c ? f64(c) : null;
  const out = new Float64Array(m * n);
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += at[i * k + p] * bt[j * k + p];
      out[i * n + j] = alpha * s + (beta === 0 || !cc ? 0 : beta * cc[i * n + j]);
    }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Softmax and negative log-likelihood
// ---------------------------------------------------------------------------------------------

/** Row-wise softmax of logits [n,k] (max-shifted, so any finite logits work). */
export function softmaxRef(z: ArrayLike<number>, n: number, k: number): Float64Array {
  const p = new Float64Array(n * k);
  for (let i = 0; i < n; i++) {
    let mx = -Infinity;
    for (let j = 0; j < k; j++) mx = Math.max(mx, z[i * k + j]);
    let s = 0;
    for (let j = 0; j < k; j++) s += Math.exp(z[i * k + j] - mx);
    for (let j = 0; j < k; j++) p[i * k + j] = Math.exp(z[i * k + j] - mx) / s;
  }
  return p;
}

/** -log softmax(z_i)[label_i] for each row, from the logits (log-sum-exp). */
export function nllRowsRef(z: ArrayLike<number>, labels: ArrayLike<number>, n: number, k: number): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let mx = -Infinity;
    for (let j = 0; j < k; j++) mx = Math.max(mx, z[i * k + j]);
    let s = 0;
    for (let j = 0; j < k; j++) s += Math.exp(z[i * k + j] - mx);
    out[i] = Math.log(s) + mx - z[i * k + labels[i]];
  }
  return out;
}

/** The summed NLL of a batch. */
export function nllSumRef(z: ArrayLike<number>, labels: ArrayLike<number>, n: number, k: number): number {
  return nllRowsRef(z, labels, n, k).reduce((a, b) => a + b, 0);
}

/** The mean NLL of a batch (the tutorial's cost). */
export function meanNllRef(z: ArrayLike<number>, labels: ArrayLike<number>, n: number, k: number): number {
  return nllSumRef(z, labels, n, k) / n;
}

/** The FIRST index of the row maximum. */
export function argmaxRow(z: ArrayLike<number>, row: number, k: number): number {
  let at = 0;
  for (let j = 1; j < k; j++) if (z[row * k + j] > z[row * k + at]) at = j;
  return at;
}

/** Number of rows whose first argmax differs from the label. */
export function errorCountRef(z: ArrayLike<number>, labels: ArrayLike<number>, n: number, k: number): number {
  let e = 0;
  for (let i = 0; i < n; i++) if (argmaxRow(z, i, k) !== labels[i]) e++;
  return e;
}

/** dlogits = (probs - onehot(labels)) / n. */
export function softmaxNllBackwardRef(p: ArrayLike<number>, labels: ArrayLike<number>, n: number, k: number): Float64Array {
  const g = new Float64Array(n * k);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < k; j++) g[i * k + j] = (p[i * k + j] - (labels[i] === j ? 1 : 0)) / n;
  return g;
}

// ---------------------------------------------------------------------------------------------
// Layers and LeNet5 (float64, for finite differences)
// ---------------------------------------------------------------------------------------------

/** tanh(maxpool(conv(x, W)) + b): the tutorial's LeNetConvPoolLayer. */
export function convPoolLayerRef(
  x: ArrayLike<number>,
  xs: Shape,
  w: ArrayLike<number>,
  ws: Shape,
  b: ArrayLike<number>,
): { out: Float64Array; shape: number[] } {
  const convShape = [xs[0], ws[0], xs[2] - ws[2] + 1, xs[3] - ws[3] + 1];
  const conv = conv2dRef(x, xs, w, ws);
  const { y } = maxPoolRef(conv, convShape);
  const shape = pooledShape(convShape);
  return { out: tanhRef(biasAddRef(y, shape, b)), shape };
}

/** tanh(x W + b), x [n, nIn] (any [n, ...] flattened), W [nIn, nOut]. */
export function hiddenLayerRef(x: ArrayLike<number>, n: number, nIn: number, w: ArrayLike<number>, b: ArrayLike<number>, nOut: number): Float64Array {
  return tanhRef(biasAddRef(gemmRef(false, false, 1, x, [n, nIn], w, [nIn, nOut], 0, null), [n, nOut], b));
}

/** The logits x W + b of LogisticRegression. */
export function logitsRef(x: ArrayLike<number>, n: number, nIn: number, w: ArrayLike<number>, b: ArrayLike<number>, nOut: number): Float64Array {
  return biasAddRef(gemmRef(false, false, 1, x, [n, nIn], w, [nIn, nOut], 0, null), [n, nOut], b);
}

export interface LeNet5RefConfig {
  nkerns: readonly [number, number];
  hidden: number;
  imageSize: number;
  classes: number;
}

/**
 * The logits of LeNet5 for images [n,1,S,S], from parameters named as LeNet5.params() names them
 * (layer0.W, layer0.b, ..., layer3.b), 5x5 filters, in float64.
 */
export function lenet5LogitsRef(params: ReadonlyMap<string, ArrayLike<number>>, images: ArrayLike<number>, n: number, cfg: LeNet5RefConfig): Float64Array {
  const get = (name: string) => {
    const v = params.get(name);
    if (!v) throw new Error(`lenet5LogitsRef: missing parameter ${name}`);
    return v;
  };
  const [k0, k1] = cfg.nkerns;
  const s = cfg.imageSize;
  const l0 = convPoolLayerRef(images, [n, 1, s, s], get('layer0.W'), [k0, 1, 5, 5], get('layer0.b'));
  const l1 = convPoolLayerRef(l0.out, l0.shape, get('layer1.W'), [k1, k0, 5, 5], get('layer1.b'));
  const nIn = sizeOf(l1.shape.slice(1));
  const h = hiddenLayerRef(l1.out, n, nIn, get('layer2.W'), get('layer2.b'), cfg.hidden);
  return logitsRef(h, n, cfg.hidden, get('layer3.W'), get('layer3.b'), cfg.classes);
}

/** The tutorial's cost: the mean NLL of LeNet5 on a batch, in float64. */
export function lenet5LossRef(
  params: ReadonlyMap<string, ArrayLike<number>>,
  images: ArrayLike<number>,
  n: number,
  labels: ArrayLike<number>,
  cfg: LeNet5RefConfig,
): number {
  return meanNllRef(lenet5LogitsRef(params, images, n, cfg), labels, n, cfg.classes);
}

/** sum(out * r): a scalar loss whose gradient at `out` is r. */
export function dotRef(out: ArrayLike<number>, r: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < out.length; i++) s += out[i] * r[i];
  return s;
}

/**
 * Central finite differences of `loss` with respect to `values[i]` for each i in `indices`
 * (values is modified during the call and restored). Everything is float64, so with h = 1e-6 the
 * truncation error (~h^2) and the rounding error (~1e-16 / h) are both far below 1e-8.
 */
export function centralDifferences(values: Float64Array, indices: readonly number[], loss: () => number, h = 1e-6): Float64Array {
  const out = new Float64Array(indices.length);
  indices.forEach((idx, t) => {
    const v = values[idx];
    values[idx] = v + h;
    const lp = loss();
    values[idx] = v - h;
    const lm = loss();
    values[idx] = v;
    out[t] = (lp - lm) / (2 * h);
  });
  return out;
}
