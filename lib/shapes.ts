/**
 * The shape rules, in one place: the geometry of the op set and of the tutorial's layers (a valid
 * convolution's output, 2x2 max-pooling, a conv-pool layer, GEMM) and the shape checks of
 * `lib/backend.ts`, `lib/layers.ts` and `lib/lenet5.ts`, with the messages a user sees. Each check
 * names the op, the argument, what was expected and what was given.
 *
 * The addon re-checks only extents (native/ops.cc), so that no call, however it reaches the addon,
 * can make an op index outside a buffer; the messages users read come from here.
 */
import { ShapeError, Tensor, describe, shapeText, sizeOf } from './tensor';

// ---- geometry ----

/** The output side of a valid, stride-1 convolution: input - filter + 1. */
export function convOutputSide(input: number, filter: number): number {
  return input - filter + 1;
}

/** The output side of 2x2, stride-2 max-pooling with ignore_border: floor(input / 2). */
export function poolOutputSide(input: number): number {
  return Math.floor(input / 2);
}

/** The output side of a LeNetConvPoolLayer (convolution, then pooling) for an input side. */
export function convPoolOutputSide(input: number, filter: number): number {
  return poolOutputSide(convOutputSide(input, filter));
}

// ---- tensor checks ----

/** Throws a TypeError unless `t` is a Tensor. */
export function checkTensor(op: string, name: string, t: unknown): asserts t is Tensor {
  if (!(t instanceof Tensor)) throw new TypeError(`${op}: ${name} must be a Tensor, got ${describe(t)}`);
}

/** Throws unless `t` is a Tensor of exactly the shape `want`. */
export function expectShape(op: string, name: string, t: Tensor, want: readonly number[]): void {
  checkTensor(op, name, t);
  if (t.shape.length !== want.length || t.shape.some((d, i) => d !== want[i])) {
    throw new ShapeError(`${op}: ${name} must have shape ${shapeText(want)}, got ${shapeText(t.shape)}`);
  }
}

/** Throws unless `t` has as many elements as `like` (any shape). */
export function expectSameSize(op: string, name: string, t: Tensor, like: Tensor, likeName = 'x'): void {
  checkTensor(op, likeName, like);
  checkTensor(op, name, t);
  if (t.size !== like.size) {
    throw new ShapeError(`${op}: ${name} ${shapeText(t.shape)} must have as many elements as ${likeName} ${shapeText(like.shape)}`);
  }
}

/** Throws unless `t` has as many elements as a tensor of `shape` named `likeName` (any shape of that size). */
export function expectSizeOf(op: string, name: string, t: Tensor, shape: readonly number[], likeName: string): void {
  checkTensor(op, name, t);
  if (t.size !== sizeOf(shape)) {
    throw new ShapeError(`${op}: ${name} ${shapeText(t.shape)} must have as many elements as ${likeName} ${shapeText(shape)}`);
  }
}

/** Throws unless `t` is a Tensor of rank 4 (NCHW); returns its shape. */
export function expectRank4(op: string, name: string, t: Tensor): readonly number[] {
  checkTensor(op, name, t);
  if (t.shape.length !== 4) throw new ShapeError(`${op}: ${name} must be 4-D (NCHW), got ${shapeText(t.shape)}`);
  return t.shape;
}

/** Throws unless `t` is a 2-D Tensor. */
export function expect2d(op: string, name: string, t: Tensor, what = 'a 2-D tensor'): void {
  checkTensor(op, name, t);
  if (t.shape.length !== 2) throw new ShapeError(`${op}: ${name} must be ${what}, got ${shapeText(t.shape)}`);
}

// ---- the op set's shapes ----

/**
 * The output shape [N,K,H-KH+1,W-KW+1] of a valid, stride-1 convolution of x [N,C,H,W] with
 * filters w [K,C,KH,KW] (shapes, named xName and wName in messages).
 */
export function convOutputShape(op: string, x: readonly number[], w: readonly number[], xName = 'x', wName = 'w'): number[] {
  for (const [name, s] of [[xName, x], [wName, w]] as const) {
    if (!Array.isArray(s) || s.length !== 4) throw new ShapeError(`${op}: ${name} must be 4-D (NCHW), got ${shapeText(s)}`);
  }
  const [n, c, h, wd] = x;
  const [k, wc, kh, kw] = w;
  if (wc !== c) {
    throw new ShapeError(`${op}: ${wName} ${shapeText(w)} expects ${wc} input channels, ${xName} ${shapeText(x)} has ${c}`);
  }
  if (kh < 1 || kw < 1 || kh > h || kw > wd) {
    throw new ShapeError(`${op}: the ${kh}x${kw} kernel of ${wName} does not fit the ${h}x${wd} image of ${xName}`);
  }
  return [n, k, convOutputSide(h, kh), convOutputSide(wd, kw)];
}

/** As convOutputShape, for tensors. */
export function convOutput(op: string, x: Tensor, w: Tensor, xName: string, wName: string): number[] {
  return convOutputShape(op, expectRank4(op, xName, x), expectRank4(op, wName, w), xName, wName);
}

/** The 2x2-pooled shape of a convolution's output shape [N,K,H,W]. */
export function pooledOfConv(op: string, convShape: readonly number[]): number[] {
  const [n, k, h, w] = convShape;
  if (h < 2 || w < 2) throw new ShapeError(`${op}: the convolution's output ${shapeText(convShape)} is smaller than the 2x2 window`);
  return [n, k, poolOutputSide(h), poolOutputSide(w)];
}

/** The 2x2-pooled shape of a tensor x [N,C,H,W]. */
export function pooledShape(op: string, x: Tensor): number[] {
  const [n, c, h, w] = expectRank4(op, 'x', x);
  if (h < 2 || w < 2) throw new ShapeError(`${op}: x ${shapeText(x.shape)} is smaller than the 2x2 window`);
  return [n, c, poolOutputSide(h), poolOutputSide(w)];
}

/** The shapes of a conv-pool layer's plan: the convolution's output and the layer's output. */
export function convPoolShapes(op: string, x: readonly number[], w: readonly number[]): { conv: number[]; output: number[] } {
  const conv = convOutputShape(op, x, w);
  return { conv, output: pooledOfConv(op, conv) };
}

/** x of rank >= 2, b [C] (C = x's axis 1) and y shaped like x: a per-channel bias op. */
export function checkBias(op: string, x: Tensor, b: Tensor, y: Tensor): void {
  checkTensor(op, 'x', x);
  if (x.shape.length < 2) throw new ShapeError(`${op}: x must have rank 2 or more, got ${shapeText(x.shape)}`);
  expectShape(op, 'b', b, [x.shape[1]]);
  expectShape(op, 'y', y, x.shape);
}

/** dy of rank >= 2 and db [C]: a bias gradient. */
export function checkBiasGrad(op: string, dy: Tensor, db: Tensor): void {
  checkTensor(op, 'dy', dy);
  if (dy.shape.length < 2) throw new ShapeError(`${op}: dy must have rank 2 or more, got ${shapeText(dy.shape)}`);
  expectShape(op, 'db', db, [dy.shape[1]]);
}

/** The shape [M,N] of C = op(A) op(B) for 2-D a and b; throws when the inner dimensions differ. */
export function gemmOutput(op: string, transA: boolean, transB: boolean, a: Tensor, b: Tensor, c: Tensor): number[] {
  for (const [name, t] of [['a', a], ['b', b], ['c', c]] as const) expect2d(op, name, t);
  const [m, ka] = transA ? [a.shape[1], a.shape[0]] : [a.shape[0], a.shape[1]];
  const [kb, n] = transB ? [b.shape[1], b.shape[0]] : [b.shape[0], b.shape[1]];
  if (ka !== kb) throw new ShapeError(`${op}: inner dimensions differ: op(a) is [${m},${ka}], op(b) is [${kb},${n}]`);
  return [m, n];
}

/** Class scores or probabilities [N,K] with labels [N]: K must not be 0 when there are rows. */
export function checkClasses(op: string, name: string, t: Tensor, labels: Tensor | null): void {
  expect2d(op, name, t, '2-D [N,K]');
  if (labels) expectShape(op, 'labels', labels, [t.shape[0]]);
  if (labels && t.shape[0] > 0 && t.shape[1] === 0) {
    throw new ShapeError(`${op}: ${name} ${shapeText(t.shape)} have no classes for the labels to name`);
  }
}

/** The [2] accumulator of summed NLL and errors, which needs labels to count against. */
export function checkStats(op: string, stats: Tensor | null, labels: Tensor | null): void {
  if (!stats) return;
  if (!labels) throw new ShapeError(`${op}: stats need labels`);
  expectShape(op, 'stats', stats, [2]);
}

// ---- layers and the model ----

/** The tutorial's filter side: both conv layers of LeNet5 use 5x5 filters. */
export const LENET5_FILTER = 5;

/** The side of LeNet5's last feature maps (the hidden layer's input is nkerns[1] of them): 4 for 28. */
export function lenet5FeatureSide(imageSize: number): number {
  return convPoolOutputSide(convPoolOutputSide(imageSize, LENET5_FILTER), LENET5_FILTER);
}

/**
 * The output shape of a LeNetConvPoolLayer with `filters` k x k filters over `inputChannels`
 * maps, for an input [N,C,H,W].
 */
export function convPoolLayerOutput(input: readonly number[], inputChannels: number, filters: number, k: number): number[] {
  const [n, c, h, w] = input;
  if (input.length !== 4 || c !== inputChannels) {
    throw new ShapeError(`LeNetConvPoolLayer: input must be [N,${inputChannels},H,W], got ${shapeText(input)}`);
  }
  if (h < k + 1 || w < k + 1) throw new ShapeError(`LeNetConvPoolLayer: a ${h}x${w} input is too small for a ${k}x${k} filter and 2x2 pooling`);
  return [n, filters, convPoolOutputSide(h, k), convPoolOutputSide(w, k)];
}

/** A dense layer's input: [N, ...] with nIn elements per row (HiddenLayer flattens it). */
export function checkDenseInput(layer: string, x: Tensor, nIn: number, flatten: boolean): void {
  checkTensor(layer, 'input', x);
  const n = x.shape[0];
  if (flatten ? x.shape.length < 1 || x.size !== n * nIn : x.shape.length !== 2 || x.shape[1] !== nIn) {
    throw new ShapeError(
      flatten
        ? `${layer}: input must have ${nIn} elements per row, got ${shapeText(x.shape)}`
        : `${layer}: input must be [N,${nIn}], got ${shapeText(x.shape)}`,
    );
  }
}

/** A batch of images for a model: a Tensor [N,1,side,side] with N >= 1. */
export function checkImageBatch(what: string, images: Tensor, side: number): void {
  if (!(images instanceof Tensor)) throw new TypeError(`${what}: images must be a Tensor`);
  const [n, c, h, w] = images.shape;
  if (images.shape.length !== 4 || c !== 1 || h !== side || w !== side || n < 1) {
    throw new ShapeError(`${what}: images must have shape [N,1,${side},${side}] with N >= 1, got ${shapeText(images.shape)}`);
  }
}
