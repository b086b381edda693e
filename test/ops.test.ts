/**
 * Every op of `Backend` against the float64 reference in test/reference.ts, on every backend
 * (describeEachBackend): odd shapes, the LeNet5 shapes, views as inputs and outputs, in-place use
 * where it is documented, pooling ties, extreme softmax logits, accumulation of stats, label
 * checks, and the exact messages of every argument check.
 *
 * Tolerances (all comparisons are |got - ref| <= atol + rtol * |ref|, ref in float64):
 * - sums of K products of O(1) values (GEMM, conv, bias gradients): R.sumTol(K), i.e.
 *   atol = 2 * K * EPS32 (4 K u). Random-sign float32 summation errors grow like ~0.25 u K on
 *   average and reach about u K at the worst of many thousand outputs, so this leaves a margin of
 *   about 4x, whereas one missing or misplaced term (~0.25) exceeds it by three orders of
 *   magnitude for every K used here (K <= 520 -> atol <= 1.3e-4).
 * - one rounding (bias add, axpy, scale): rtol = EPS32 (2u, one rounding of the result plus the
 *   rounding of alpha to float32).
 * - tanh (a vectorized approximation on the CPU, tanhf on CUDA; both within 2 ulp) after a float32
 *   add: atol = rtol = 4 * EPS32.
 * - softmax probabilities: rtol = 1e-5 (exp within a few ulp, normalization by a K-term sum);
 *   atol = 1e-7 for probabilities that underflow.
 * - pooling: exact (max and routing involve no arithmetic).
 */
import { Backend, createBackend } from '../lib/backend';
import { ShapeError, Tensor } from '../lib/tensor';
import { describeEachBackend } from './backends';
import { rejection, thrown } from './integration-helpers';
import * as R from './reference';

const { EPS32, sizeOf, sumTol } = R;

/** Asserts that fn throws an instance of `type` with exactly `message`. */
function expectThrowExact(fn: () => unknown, type: new (...args: never[]) => Error, message: string): void {
  const e = thrown(fn);
  expect(e.message).toBe(message);
  // Errors made by the addon come from Node's own realm, not jest's: compare names, and use
  // instanceof only for the library's own class.
  expect(e.name).toBe(type.name);
  if (type === ShapeError) expect(e).toBeInstanceOf(ShapeError);
}


// Test data and references are computed once per case (they are the slow part) and shared by
// every backend.
const memo = new Map<string, unknown>();
function cached<T>(key: string, make: () => T): T {
  if (!memo.has(key)) memo.set(key, make());
  return memo.get(key) as T;
}

const NAN = (n: number) => new Float32Array(n).fill(NaN);
const EXACT = { atol: 0, rtol: 0 };

// ---------------------------------------------------------------------------------------------
// The reference itself, on hand-computed cases (so that a shared misunderstanding, e.g. a kernel
// flip, cannot make the reference and the backends agree on the wrong answer).
// ---------------------------------------------------------------------------------------------

describe('reference (hand-computed cases)', () => {
  test('conv2d is cross-correlation (no flip), valid, stride 1', () => {
    // x 1x1x2x3 = [[1,2,3],[4,5,6]], w 1x1x1x2 = [10, 1]: y[i,j] = 10*x[i,j] + x[i,j+1]
    const y = R.conv2dRef([1, 2, 3, 4, 5, 6], [1, 1, 2, 3], [10, 1], [1, 1, 1, 2]);
    expect(Array.from(y)).toEqual([12, 23, 45, 56]);
    // gradients: dy = ones [1,1,2,2]
    expect(Array.from(R.conv2dBackwardDataRef([1, 1, 1, 1], [10, 1], [1, 1, 2, 3], [1, 1, 1, 2]))).toEqual([10, 11, 1, 10, 11, 1]);
    expect(Array.from(R.conv2dBackwardFilterRef([1, 2, 3, 4, 5, 6], [1, 1, 1, 1], [1, 1, 2, 3], [1, 1, 1, 2]))).toEqual([12, 16]);
  });

  test('max-pool: ignore_border and the first maximum', () => {
    // 3x5 plane: the third row and the fifth column are dropped
    const x = [1, 9, 9, 0, 7, 9, 2, 0, 9, 8, 100, 100, 100, 100, 100];
    const { y, argmax } = R.maxPoolRef(x, [1, 1, 3, 5]);
    expect(Array.from(y)).toEqual([9, 9]);
    expect(Array.from(argmax)).toEqual([1, 2]); // ties 9,9 (window 0: [0,1] and [1,0]) -> [0,1]
  });

  test('gemm with transposes, softmax, nll, errors', () => {
    // a = [[1,2],[3,4]], b = [[5,6],[7,8]]
    expect(Array.from(R.gemmRef(false, false, 1, [1, 2, 3, 4], [2, 2], [5, 6, 7, 8], [2, 2], 0, null))).toEqual([19, 22, 43, 50]);
    expect(Array.from(R.gemmRef(true, false, 1, [1, 2, 3, 4], [2, 2], [5, 6, 7, 8], [2, 2], 0, null))).toEqual([26, 30, 38, 44]);
    expect(Array.from(R.gemmRef(false, true, 2, [1, 2, 3, 4], [2, 2], [5, 6, 7, 8], [2, 2], 1, [1, 1, 1, 1]))).toEqual([35, 47, 79, 107]);
    const p = R.softmaxRef([0, Math.log(3)], 1, 2);
    expect(p[0]).toBeCloseTo(0.25, 15);
    expect(R.nllSumRef([0, Math.log(3)], [0], 1, 2)).toBeCloseTo(Math.log(4), 14);
    expect(R.errorCountRef([5, 5, 1, 2, 2, 0], [1, 0], 2, 3)).toBe(1);
  });
});

// ---------------------------------------------------------------------------------------------

describeEachBackend('ops', (getBackend) => {
  let other: Backend;
  const live: Tensor[] = [];
  beforeAll(() => {
    other = createBackend({ device: 'cpu', threads: 1 });
  });
  afterAll(() => other.dispose());
  afterEach(async () => {
    for (const t of live.splice(0)) t.dispose();
    await getBackend().sync();
  });

  /** A tracked tensor: zeros, or the given values. */
  function T(shape: readonly number[], data?: ArrayLike<number>): Tensor {
    const be = getBackend();
    const t = data === undefined ? be.zeros(shape) : be.tensor(shape, data instanceof Float32Array ? data : R.f32(data));
    live.push(t);
    return t;
  }
  /** Tracks a view. */
  function V(t: Tensor): Tensor {
    live.push(t);
    return t;
  }

  // ---- convolution ----

  describe('conv2d forward / backward data / backward filter', () => {
    async function checkConv(xs: number[], ws: number[], seed: number): Promise<void> {
      const be = getBackend();
      const ys = [xs[0], ws[0], xs[2] - ws[2] + 1, xs[3] - ws[3] + 1];
      const { x, w, dy, yRef, dxRef, dwRef } = cached(`conv ${xs} ${ws} ${seed}`, () => {
        const rnd = new R.TestRandom(seed);
        const x = rnd.uniform(sizeOf(xs));
        const w = rnd.uniform(sizeOf(ws));
        const dy = rnd.uniform(sizeOf(ys));
        return {
          x,
          w,
          dy,
          yRef: R.conv2dRef(x, xs, w, ws),
          dxRef: R.conv2dBackwardDataRef(dy, w, xs, ws),
          dwRef: R.conv2dBackwardFilterRef(x, dy, xs, ws),
        };
      });
      // Outputs start as NaN: every op must overwrite its output, never read or accumulate into it.
      const tx = T(xs, x);
      const tw = T(ws, w);
      const tdy = T(ys, dy);
      const ty = T(ys, NAN(sizeOf(ys)));
      const tdx = T(xs, NAN(sizeOf(xs)));
      const tdw = T(ws, NAN(sizeOf(ws)));
      be.conv2dForward(tx, tw, ty);
      be.conv2dBackwardData(tdy, tw, tdx);
      be.conv2dBackwardFilter(tx, tdy, tdw);
      const [y, dx, dw] = await Promise.all([ty.read(), tdx.read(), tdw.read()]);
      const [, C, , ] = xs;
      const [K, , KH, KW] = ws;
      R.assertClose(y, yRef, sumTol(C * KH * KW), `conv2dForward ${xs} * ${ws}`);
      R.assertClose(dx, dxRef, sumTol(K * KH * KW), `conv2dBackwardData ${xs} * ${ws}`);
      R.assertClose(dw, dwRef, sumTol(ys[0] * ys[2] * ys[3]), `conv2dBackwardFilter ${xs} * ${ws}`);
    }

    test('odd sizes: x [3,2,7,9], w [4,2,3,2]', () => checkConv([3, 2, 7, 9], [4, 2, 3, 2], 1));
    test('kernel as large as the image (1x1 output): x [2,3,5,4], w [3,3,5,4]', () => checkConv([2, 3, 5, 4], [3, 3, 5, 4], 2));
    test('1x1 kernel: x [2,3,6,5], w [2,3,1,1]', () => checkConv([2, 3, 6, 5], [2, 3, 1, 1], 3));
    test('one sample, one channel, wide kernel: x [1,1,4,11], w [1,1,1,4]', () => checkConv([1, 1, 4, 11], [1, 1, 1, 4], 4));
    test('non-square odd image and kernel: x [5,3,11,8], w [6,3,4,3]', () => checkConv([5, 3, 11, 8], [6, 3, 4, 3], 5));
    test('LeNet5 layer0: x [7,1,28,28], w [20,1,5,5]', () => checkConv([7, 1, 28, 28], [20, 1, 5, 5], 6));
    test('LeNet5 layer1: x [7,20,12,12], w [50,20,5,5]', () => checkConv([7, 20, 12, 12], [50, 20, 5, 5], 7));
    // The CPU backend splits the batch over its threads and each thread's share into im2col chunks
    // (9 samples of layer0, 4 of layer1): these batches give every thread (on up to 4 threads for
    // layer0, 2 for layer1) more than one chunk, so the chunked accumulation of dw is exercised.
    test('batches spanning several im2col chunks: x [40,1,28,28], w [20,1,5,5]', () => checkConv([40, 1, 28, 28], [20, 1, 5, 5], 8));
    test('batches spanning several im2col chunks: x [11,20,12,12], w [50,20,5,5]', () => checkConv([11, 20, 12, 12], [50, 20, 5, 5], 9));

    test('views as inputs and outputs: slices and reshapes of larger tensors, neighbours untouched', async () => {
      const be = getBackend();
      const rnd = new R.TestRandom(10);
      const xs = [3, 2, 7, 9];
      const ws = [4, 2, 3, 2];
      const ys = [3, 4, 5, 8];
      const rowX = sizeOf(xs.slice(1));
      const rowY = sizeOf(ys.slice(1));
      const bigX = rnd.uniform(5 * rowX);
      const w = rnd.uniform(sizeOf(ws));
      const dy = rnd.uniform(sizeOf(ys));
      const x = bigX.subarray(1 * rowX, 4 * rowX); // rows 1..3
      // x: rows 1..3 of a [5,2,7,9] tensor; w: a flat [3 + 48 + 5] buffer, sliced and reshaped
      const tBigX = T([5, ...xs.slice(1)], bigX);
      const tx = V(tBigX.slice(1, 3));
      const wFlat = new Float32Array(56).fill(1000);
      wFlat.set(w, 3);
      const tWFlat = T([56], wFlat);
      const tw = V(V(tWFlat.slice(3, 48)).reshape(ws));
      // y: rows 2..4 of a [6,4,5,8] tensor filled with a sentinel
      const sentinel = 12345;
      const tBigY = T([6, ...ys.slice(1)], new Float32Array(6 * rowY).fill(sentinel));
      const ty = V(tBigY.slice(2, 3));
      // dy: a reshape of a flat tensor
      const tdy = V(T([sizeOf(ys)], dy).reshape(ys));
      // dx: rows 1..3 of a [4,2,7,9] tensor; dw: the middle of a flat buffer (like the parameter arena)
      const tBigDx = T([4, ...xs.slice(1)], new Float32Array(4 * rowX).fill(sentinel));
      const tdx = V(tBigDx.slice(1, 3));
      const tDwFlat = T([60], new Float32Array(60).fill(sentinel));
      const tdw = V(V(tDwFlat.slice(7, 48)).reshape(ws));
      be.conv2dForward(tx, tw, ty);
      be.conv2dBackwardData(tdy, tw, tdx);
      be.conv2dBackwardFilter(tx, tdy, tdw);
      const [bigY, bigDx, dwFlat] = await Promise.all([tBigY.read(), tBigDx.read(), tDwFlat.read()]);
      R.assertClose(bigY.subarray(2 * rowY, 5 * rowY), R.conv2dRef(x, xs, w, ws), sumTol(12), 'conv2dForward on views');
      R.assertClose(bigDx.subarray(rowX, 4 * rowX), R.conv2dBackwardDataRef(dy, w, xs, ws), sumTol(24), 'conv2dBackwardData into a view');
      R.assertClose(dwFlat.subarray(7, 55), R.conv2dBackwardFilterRef(x, dy, xs, ws), sumTol(120), 'conv2dBackwardFilter into a view');
      expect(Array.from(bigY.subarray(0, 2 * rowY)).every((v) => v === sentinel)).toBe(true);
      expect(Array.from(bigY.subarray(5 * rowY)).every((v) => v === sentinel)).toBe(true);
      expect(Array.from(bigDx.subarray(0, rowX)).every((v) => v === sentinel)).toBe(true);
      for (const i of [0, 1, 2, 3, 4, 5, 6, 55, 56, 57, 58, 59]) expect(dwFlat[i]).toBe(sentinel);
    });
  });

  // ---- pooling ----

  describe('maxPool2x2', () => {
    async function checkPool(xs: number[], x: Float32Array, dy: Float32Array): Promise<{ y: Float32Array; dx: Float32Array }> {
      const be = getBackend();
      const ys = R.pooledShape(xs);
      const tx = T(xs, x);
      const ty = T(ys, NAN(sizeOf(ys)));
      const tdy = T(ys, dy);
      const tdx = T(xs, NAN(sizeOf(xs)));
      be.maxPool2x2Forward(tx, ty);
      be.maxPool2x2Backward(tx, ty, tdy, tdx);
      const [y, dx] = await Promise.all([ty.read(), tdx.read()]);
      // max and routing are exact: no tolerance (a zero maximum may come back as -0 or +0)
      R.assertClose(y, R.maxPoolRef(x, xs).y, EXACT, `maxPool2x2Forward ${xs}`);
      R.assertClose(dx, R.maxPoolBackwardRef(x, xs, dy), EXACT, `maxPool2x2Backward ${xs}`);
      return { y, dx };
    }

    test('odd 5x7 planes: the trailing row and column are dropped and get zero gradient', async () => {
      const rnd = new R.TestRandom(20);
      const xs = [2, 3, 5, 7];
      const { dx } = await checkPool(xs, rnd.uniform(sizeOf(xs)), rnd.uniform(2 * 3 * 2 * 3, 0.5, 1.5));
      for (let pl = 0; pl < 6; pl++) {
        for (let j = 0; j < 7; j++) expect(dx[pl * 35 + 4 * 7 + j]).toBe(0); // row 4
        for (let i = 0; i < 5; i++) expect(dx[pl * 35 + i * 7 + 6]).toBe(0); // column 6
      }
      // exactly one nonzero per window (dy is in [0.5, 1.5))
      expect(dx.filter((v) => v !== 0).length).toBe(2 * 3 * 2 * 3);
    });

    test('even and odd shapes, negative values', async () => {
      const rnd = new R.TestRandom(21);
      for (const xs of [[3, 4, 8, 6], [1, 2, 3, 3], [2, 1, 2, 2], [2, 2, 9, 4]]) {
        const ys = R.pooledShape(xs);
        await checkPool(xs, rnd.uniform(sizeOf(xs), -5, -1), rnd.uniform(sizeOf(ys)));
      }
    });

    test('LeNet5 shapes: [7,20,24,24] and [7,50,8,8]', async () => {
      const rnd = new R.TestRandom(22);
      for (const xs of [[7, 20, 24, 24], [7, 50, 8, 8]]) {
        await checkPool(xs, rnd.uniform(sizeOf(xs)), rnd.uniform(sizeOf(R.pooledShape(xs))));
      }
    });

    test('ties: the gradient goes to the FIRST maximum in row-major order', async () => {
      // one plane of 2x6 = three 2x2 windows per row pair; 4 rows -> 6 windows
      // window (r,c) covers rows 2r..2r+1, columns 2c..2c+1
      // prettier-ignore
      const x = new Float32Array([
        // w00: all equal       w01: [0,1]=[1,1] tie    w02: [1,0]=[1,1] tie
        0.5, 0.5,               1, 2,                   1, 1,
        0.5, 0.5,               1, 2,                   3, 3,
        // w10: -1 at [0,1],[1,0] w11: only [1,1]       w12: -0 / +0 tie
        -3, -1,                 0, 0,                   -0, 0,
        -1, -2,                 0, 4,                   0, 0,
      ]);
      const dy = new Float32Array([10, 20, 30, 40, 50, 60]);
      // prettier-ignore
      const expected = [
        10, 0,   0, 20,   0, 0,
        0, 0,    0, 0,    30, 0,
        0, 40,   0, 0,    60, 0,
        0, 0,    0, 50,   0, 0,
      ];
      const { y, dx } = await checkPool([1, 1, 4, 6], x, dy);
      expect(Array.from(y, (v) => v + 0)).toEqual([0.5, 2, 3, -1, 4, 0]);
      expect(Array.from(dx)).toEqual(expected);
    });

    test('many ties (values from {0, 1, 2}) and a slice as input', async () => {
      const be = getBackend();
      const rnd = new R.TestRandom(23);
      const big = [4, 3, 6, 8];
      const xs = [2, 3, 6, 8];
      const ys = R.pooledShape(xs);
      const xBig = Float32Array.from({ length: sizeOf(big) }, () => rnd.int(3));
      const dy = rnd.uniform(sizeOf(ys), 1, 2);
      const row = sizeOf(xs.slice(1));
      const x = xBig.subarray(row, 3 * row);
      const tx = V(T(big, xBig).slice(1, 2));
      const ty = T(ys);
      const tdy = T(ys, dy);
      const tdx = T(xs, NAN(sizeOf(xs)));
      be.maxPool2x2Forward(tx, ty);
      be.maxPool2x2Backward(tx, ty, tdy, tdx);
      R.assertClose(await ty.read(), R.maxPoolRef(x, xs).y, EXACT, 'maxPool2x2Forward, many ties');
      R.assertClose(await tdx.read(), R.maxPoolBackwardRef(x, xs, dy), EXACT, 'maxPool2x2Backward, many ties');
    });
  });

  // ---- bias and tanh ----

  describe('bias and tanh', () => {
    const shapes = [[5, 7], [2, 3, 5], [3, 4, 5, 6], [37, 5, 13, 11]];

    for (const shape of shapes) test(`biasAdd and biasTanhForward, out of place and in place (y === x): [${shape}]`, async () => {
      const be = getBackend();
      const rnd = new R.TestRandom(30 + shape.length);
      const x = rnd.uniform(sizeOf(shape), -2, 2);
      const b = rnd.uniform(shape[1]);
      const sum = R.biasAddRef(x, shape, b);
      const th = R.tanhRef(sum);
      const tb = T([shape[1]], b);
      const tx = T(shape, x);
      const y1 = T(shape, NAN(x.length));
      const y2 = T(shape, NAN(x.length));
      const inA = T(shape, x);
      const inB = T(shape, x);
      be.biasAdd(tx, tb, y1);
      be.biasTanhForward(tx, tb, y2);
      be.biasAdd(inA, tb, inA);
      be.biasTanhForward(inB, tb, inB);
      const [r1, r2, rA, rB, rx] = await Promise.all([y1.read(), y2.read(), inA.read(), inB.read(), tx.read()]);
      const addTol = { atol: 0, rtol: EPS32 };
      const tanhTol = { atol: 4 * EPS32, rtol: 4 * EPS32 };
      R.assertClose(r1, sum, addTol, 'biasAdd');
      R.assertClose(rA, sum, addTol, 'biasAdd in place');
      R.assertClose(r2, th, tanhTol, 'biasTanhForward');
      R.assertClose(rB, th, tanhTol, 'biasTanhForward in place');
      expect(Array.from(rx)).toEqual(Array.from(x)); // the input of the out-of-place calls is untouched
    });

    for (const shape of shapes) test(`biasGrad sums over every axis but 1 (db overwritten): [${shape}]`, async () => {
      const be = getBackend();
      const rnd = new R.TestRandom(40 + shape.length);
      const dy = rnd.uniform(sizeOf(shape));
      const tdb = T([shape[1]], NAN(shape[1]));
      be.biasGrad(T(shape, dy), tdb);
      R.assertClose(await tdb.read(), R.biasGradRef(dy, shape), sumTol(sizeOf(shape) / shape[1]), 'biasGrad');
    });

    test('biasAdd on a slice of a larger tensor, with the bias a view into a flat buffer', async () => {
      const be = getBackend();
      const rnd = new R.TestRandom(45);
      const xBig = rnd.uniform(6 * 4 * 5);
      const flat = rnd.uniform(10);
      const tx = V(T([6, 4, 5], xBig).slice(2, 3));
      const tb = V(T([10], flat).slice(3, 4));
      const ty = T([3, 4, 5]);
      be.biasAdd(tx, tb, ty);
      R.assertClose(await ty.read(), R.biasAddRef(xBig.subarray(40, 100), [3, 4, 5], flat.subarray(3, 7)), { atol: 0, rtol: EPS32 }, 'biasAdd views');
    });

    test('tanhForward and tanhBackward, out of place and in place, odd sizes (incl. > 32768, the parallel path)', async () => {
      const be = getBackend();
      const rnd = new R.TestRandom(46);
      for (const shape of [[3, 5], [3, 11011], [1]]) {
        const n = sizeOf(shape);
        const x = rnd.uniform(n, -6, 6);
        const dy = rnd.uniform(n);
        const yRef = R.tanhRef(x);
        const tx = T(shape, x);
        const ty = T([n], NAN(n)); // a different shape of the same size is allowed
        be.tanhForward(tx, ty);
        const inPlace = T(shape, x);
        be.tanhForward(inPlace, inPlace);
        const y = await ty.read();
        const tol = { atol: 4 * EPS32, rtol: 4 * EPS32 };
        R.assertClose(y, yRef, tol, `tanhForward ${shape}`);
        R.assertClose(await inPlace.read(), yRef, tol, `tanhForward in place ${shape}`);
        // backward from the float32 y the forward produced
        const dxRef = R.tanhBackwardRef(y, dy);
        const tdy = T(shape, dy);
        const tdx = T(shape, NAN(n));
        be.tanhBackward(ty, tdy, tdx);
        const tdy2 = T(shape, dy);
        be.tanhBackward(ty, tdy2, tdy2);
        R.assertClose(await tdx.read(), dxRef, tol, `tanhBackward ${shape}`);
        R.assertClose(await tdy2.read(), dxRef, tol, `tanhBackward in place (dx === dy) ${shape}`);
      }
    });

    test('tanh of large and tiny arguments', async () => {
      const be = getBackend();
      const x = new Float32Array([0, -0, 1e-30, -1e-8, 3e-5, 0.625, -0.625, 9, 19.99, 20, 88, 100, -1000, 1e30]);
      const t = T([x.length], x);
      be.tanhForward(t, t);
      const y = await t.read();
      R.assertClose(y, R.tanhRef(x), { atol: 0, rtol: 4 * EPS32 }, 'tanh extremes');
    });
  });

  // ---- dense algebra ----

  describe('gemm', () => {
    const transposes: [boolean, boolean][] = [
      [false, false],
      [true, false],
      [false, true],
      [true, true],
    ];

    async function checkGemm(m: number, n: number, k: number, ta: boolean, tb: boolean, alpha: number, beta: number, seed: number): Promise<void> {
      const be = getBackend();
      const as = ta ? [k, m] : [m, k];
      const bs = tb ? [n, k] : [k, n];
      const { a, b, c, ref } = cached(`gemm ${m} ${n} ${k} ${ta} ${tb} ${alpha} ${beta} ${seed}`, () => {
        const rnd = new R.TestRandom(seed);
        const a = rnd.uniform(m * k);
        const b = rnd.uniform(k * n);
        // beta = 0: c holds NaN, which BLAS semantics ignore (c is write-only then)
        const c = beta === 0 ? NAN(m * n) : rnd.uniform(m * n);
        return { a, b, c, ref: R.gemmRef(ta, tb, alpha, a, as, b, bs, beta, c) };
      });
      const tc = T([m, n], c);
      be.gemm(ta, tb, alpha, T(as, a), T(bs, b), beta, tc);
      R.assertClose(await tc.read(), ref, sumTol(k, Math.max(1, Math.abs(alpha))), `gemm m=${m} n=${n} k=${k} transA=${ta} transB=${tb} alpha=${alpha} beta=${beta}`);
    }

    const sizes: [number, number, number][] = [
      [1, 17, 33],
      [17, 1, 130],
      [33, 130, 1],
      [130, 33, 17],
      [1, 1, 1],
      [17, 130, 33],
      [130, 17, 130],
    ];
    for (const [ta, tb] of transposes) {
      test(`odd sizes, alpha=0.7 beta=-1.3, transA=${ta} transB=${tb}`, async () => {
        let seed = 100;
        for (const [m, n, k] of sizes) await checkGemm(m, n, k, ta, tb, 0.7, -1.3, seed++);
      });
    }

    test('beta = 0 ignores c (even NaN), alpha = 1 and alpha = -2.5', async () => {
      for (const [ta, tb] of transposes) {
        await checkGemm(33, 17, 130, ta, tb, 1, 0, 120);
        await checkGemm(17, 33, 33, ta, tb, -2.5, 0, 121);
      }
    });

    test('alpha = 0 gives beta * c', async () => {
      await checkGemm(9, 13, 7, false, true, 0, 0.5, 122);
    });

    // 300 x 520 x 270 is beyond the built-in GEMM's MC = 120 and KC = 256 blocks (and splits over
    // threads along N); m = 3, n = 32789 (k = 40) gives every one of up to 16 threads more than NC = 2048
    // columns (the CPU backend splits the larger of M and N across its threads).
    for (const [ta, tb] of transposes) {
      test(`large, beyond the built-in GEMM blocks: 300 x 520 x 270, transA=${ta} transB=${tb}`, () => checkGemm(300, 520, 270, ta, tb, 1.1, 0.3, 130));
    }
    test('large N, beyond NC = 2048 per thread: 3 x 32789 x 40', async () => {
      await checkGemm(3, 32789, 40, false, false, 0.9, -0.2, 131);
      await checkGemm(3, 32789, 40, true, true, 0.9, -0.2, 132);
    });

    test('K = 0: c = beta * c for every transpose combination', async () => {
      const be = getBackend();
      for (const [ta, tb] of transposes) {
        for (const beta of [0.5, 0]) {
          const c = T([3, 4], new Float32Array(12).fill(2));
          be.gemm(ta, tb, 1.5, T(ta ? [0, 3] : [3, 0]), T(tb ? [4, 0] : [0, 4]), beta, c);
          expect(Array.from(await c.read())).toEqual(new Array(12).fill(2 * beta));
        }
      }
    });

    test('LeNet5 shapes: forward [7,800]x[800,500], weight gradient x^T dy, input gradient dy W^T', async () => {
      await checkGemm(7, 500, 800, false, false, 1, 0, 140);
      await checkGemm(800, 500, 7, true, false, 1, 0, 141);
      await checkGemm(7, 800, 500, false, true, 1, 0, 142);
      await checkGemm(7, 10, 500, false, false, 1, 0, 143);
      await checkGemm(500, 10, 7, true, false, 1, 0, 144);
    });

    test('views: a is a slice of a larger tensor, c is a reshaped slice of a flat buffer', async () => {
      const be = getBackend();
      const rnd = new R.TestRandom(150);
      const aBig = rnd.uniform(10 * 33);
      const b = rnd.uniform(33 * 6);
      const a = aBig.subarray(2 * 33, 7 * 33);
      const sentinel = -777;
      const cFlat = T([40], new Float32Array(40).fill(sentinel));
      const c = V(V(cFlat.slice(5, 30)).reshape([5, 6]));
      be.gemm(false, false, 1, V(T([10, 33], aBig).slice(2, 5)), V(T([33 * 6], b).reshape([33, 6])), 0, c);
      const out = await cFlat.read();
      R.assertClose(out.subarray(5, 35), R.gemmRef(false, false, 1, a, [5, 33], b, [33, 6], 0, null), sumTol(33), 'gemm on views');
      for (const i of [0, 1, 2, 3, 4, 35, 36, 37, 38, 39]) expect(out[i]).toBe(sentinel);
    });
  });

  describe('axpy, scale, fill, copy', () => {
    test('axpy and scale on odd sizes (incl. > 32768) and on views', async () => {
      const be = getBackend();
      const rnd = new R.TestRandom(160);
      for (const n of [1, 7, 100003]) {
        const x = rnd.uniform(n);
        const y = rnd.uniform(n);
        const ty = T([n], y);
        be.axpy(-0.37, T([n], x), ty);
        const expected = Float64Array.from(y, (v, i) => v + Math.fround(-0.37) * x[i]);
        R.assertClose(await ty.read(), expected, { atol: EPS32, rtol: EPS32 }, `axpy n=${n}`);
        be.scale(1.7, ty);
        R.assertClose(await ty.read(), Float64Array.from(expected, (v) => v * Math.fround(1.7)), { atol: 2 * EPS32, rtol: 2 * EPS32 }, `scale n=${n}`);
      }
      // views: y is the middle of a buffer; the rest must stay untouched
      const buf = T([10], new Float32Array(10).fill(1));
      be.axpy(2, T([2, 2], [1, 2, 3, 4]), V(V(buf.slice(3, 4)).reshape([2, 2])));
      be.scale(-1, V(buf.slice(8, 2)));
      expect(Array.from(await buf.read())).toEqual([1, 1, 1, 3, 5, 7, 9, 1, -1, -1]);
    });

    test('fill and copy (same element count, any shape; views)', async () => {
      const be = getBackend();
      const src = T([2, 3], [1, 2, 3, 4, 5, 6]);
      const dst = T([8], new Float32Array(8).fill(9));
      be.copy(src, V(V(dst.slice(1, 6)).reshape([3, 2])));
      expect(Array.from(await dst.read())).toEqual([9, 1, 2, 3, 4, 5, 6, 9]);
      be.fill(V(dst.slice(6, 2)), -0.5);
      expect(Array.from(await dst.read())).toEqual([9, 1, 2, 3, 4, 5, -0.5, -0.5]);
    });
  });

  // ---- softmax + NLL ----

  describe('softmaxNll and softmaxNllBackward', () => {
    const probTol = { atol: 1e-7, rtol: 1e-5 };
    /** stats[0] is a float32 sum of per-row NLLs (each ~ a few units here). */
    const lossTol = (n: number) => ({ atol: 1e-6 * n, rtol: 1e-5 });

    test('probabilities, summed NLL and error count; stats ACCUMULATE onto their previous value', async () => {
      const be = getBackend();
      const rnd = new R.TestRandom(200);
      const n = 13;
      const k = 10;
      const z = rnd.uniform(n * k, -4, 4);
      const labels = rnd.labels(n, k);
      for (let i = 0; i < 5; i++) labels[i] = R.argmaxRow(z, i, k); // some hits, some misses
      const stats = T([2], [0.25, 3]);
      const probs = T([n, k], NAN(n * k));
      be.softmaxNll(T([n, k], z), T([n], labels), probs, stats);
      const [p, s] = await Promise.all([probs.read(), stats.read()]);
      const nll = R.nllSumRef(z, labels, n, k);
      const errors = R.errorCountRef(z, labels, n, k);
      expect(errors).toBeGreaterThan(0); // the data exercises both outcomes
      expect(errors).toBeLessThan(n);
      R.assertClose(p, R.softmaxRef(z, n, k), probTol, 'softmax probabilities');
      R.assertClose([s[0]], [0.25 + nll], lossTol(n), 'stats[0]');
      expect(s[1]).toBe(3 + errors);
    });

    test('in place (probs === logits), two calls accumulating into the same stats', async () => {
      const be = getBackend();
      const rnd = new R.TestRandom(201);
      const n = 9;
      const k = 7;
      const z1 = rnd.uniform(n * k, -3, 3);
      const z2 = rnd.uniform(n * k, -3, 3);
      const l1 = rnd.labels(n, k);
      const l2 = rnd.labels(n, k);
      const stats = T([2]);
      const t1 = T([n, k], z1);
      const t2 = T([n, k], z2);
      be.softmaxNll(t1, T([n], l1), t1, stats);
      be.softmaxNll(t2, T([n], l2), t2, stats);
      const [p1, p2, s] = await Promise.all([t1.read(), t2.read(), stats.read()]);
      R.assertClose(p1, R.softmaxRef(z1, n, k), probTol, 'in-place softmax, call 1');
      R.assertClose(p2, R.softmaxRef(z2, n, k), probTol, 'in-place softmax, call 2');
      R.assertClose([s[0]], [R.nllSumRef(z1, l1, n, k) + R.nllSumRef(z2, l2, n, k)], lossTol(2 * n), 'stats[0] after two calls');
      expect(s[1]).toBe(R.errorCountRef(z1, l1, n, k) + R.errorCountRef(z2, l2, n, k));
    });

    test('without labels and stats (probabilities only), and with labels but no stats', async () => {
      const be = getBackend();
      const rnd = new R.TestRandom(202);
      const z = rnd.uniform(5 * 3, -2, 2);
      const p1 = T([5, 3]);
      const p2 = T([5, 3]);
      be.softmaxNll(T([5, 3], z), null, p1, null);
      be.softmaxNll(T([5, 3], z), T([5], rnd.labels(5, 3)), p2, null);
      R.assertClose(await p1.read(), R.softmaxRef(z, 5, 3), probTol, 'softmax without labels');
      R.assertClose(await p2.read(), R.softmaxRef(z, 5, 3), probTol, 'softmax with labels, no stats');
    });

    test('large logits (+-1000): no overflow, finite probabilities and loss, in place and not', async () => {
      const be = getBackend();
      const k = 4;
      // prettier-ignore
      const z = new Float32Array([
        1000, -1000, 999, 0,
        -1000, -1000, -999, -1000,
        1000, 1000, 1000, 1000,
        -1000, 1000, -1000, 1000,
      ]);
      const labels = new Float32Array([1, 2, 3, 0]); // row 0 and row 3: loss ~2000
      const n = 4;
      for (const inPlace of [false, true]) {
        const logits = T([n, k], z);
        const probs = inPlace ? logits : T([n, k]);
        const stats = T([2]);
        be.softmaxNll(logits, T([n], labels), probs, stats);
        const [p, s] = await Promise.all([probs.read(), stats.read()]);
        expect(p.every(Number.isFinite)).toBe(true);
        expect(Number.isFinite(s[0])).toBe(true);
        R.assertClose(p, R.softmaxRef(z, n, k), probTol, `softmax of +-1000 (in place: ${inPlace})`);
        // the NLL is ~4000 here: float32 rounding of the total
        R.assertClose([s[0]], [R.nllSumRef(z, labels, n, k)], { atol: 0, rtol: 4 * EPS32 }, `NLL of +-1000 (in place: ${inPlace})`);
        expect(s[0]).toBeGreaterThan(3000);
        // rows 0 and 3 miss, row 1 hits; row 2 ties everywhere: its first argmax 0 != label 3, a miss
        expect(s[1]).toBe(R.errorCountRef(z, labels, n, k));
        expect(s[1]).toBe(3);
      }
    });

    test('error count uses the FIRST argmax on ties', async () => {
      const be = getBackend();
      // prettier-ignore
      const z = new Float32Array([
        5, 5, 0, 0,   // first argmax 0
        5, 5, 0, 0,   // first argmax 0
        1, 3, 3, 2,   // first argmax 1
        1, 3, 3, 2,   // first argmax 1
      ]);
      const labels = new Float32Array([0, 1, 2, 1]); // hit, miss, miss, hit
      const stats = T([2]);
      be.softmaxNll(T([4, 4], z), T([4], labels), T([4, 4]), stats);
      expect((await stats.read())[1]).toBe(2);
    });

    test('softmaxNllBackward = (probs - onehot) / N', async () => {
      const be = getBackend();
      const rnd = new R.TestRandom(203);
      const n = 11;
      const k = 10;
      const p = R.f32(R.softmaxRef(rnd.uniform(n * k, -3, 3), n, k));
      const labels = rnd.labels(n, k);
      const g = T([n, k], NAN(n * k));
      be.softmaxNllBackward(T([n, k], p), T([n], labels), g);
      R.assertClose(await g.read(), R.softmaxNllBackwardRef(p, labels, n, k), { atol: 1e-9, rtol: 2 * EPS32 }, 'softmaxNllBackward');
    });

    test('a label that is not a class surfaces as an error from the next read(); the backend stays usable', async () => {
      const be = getBackend();
      const logits = T([2, 10]);
      const probs = T([2, 10]);
      const stats = T([2]);
      be.softmaxNll(logits, T([2], [1, 12]), probs, stats);
      const e = await rejection(probs.read());
      expect(e.message).toBe('softmaxNll: label 12 of row 1 is not a class in 0..9');
      expect((e as Error & { code?: string }).code).toBe('LENET_NATIVE');
      // the error was reported once; later work runs normally
      const t = T([3], [1, 2, 3]);
      be.scale(2, t);
      expect(Array.from(await t.read())).toEqual([2, 4, 6]);

      for (const [bad, text] of [
        [-1, '-1'],
        [2.5, '2.5'],
        [10, '10'],
        [NaN, 'nan'],
      ] as const) {
        be.softmaxNllBackward(probs, T([2], [bad, 0]), T([2, 10]));
        const e2 = await rejection(be.sync());
        expect(e2.message).toBe(`softmaxNllBackward: label ${text} of row 0 is not a class in 0..9`);
      }
      // readSync reports it too
      be.softmaxNll(logits, T([2], [0, 10]), probs, null);
      expectThrowExact(() => probs.readSync(), Error, 'softmaxNll: label 10 of row 1 is not a class in 0..9');
      expect(Array.from(await t.read())).toEqual([2, 4, 6]);
    });
  });

  describe('errors in queued work', () => {
    test('reads pending when an op fails never resolve with data they did not read', async () => {
      const be = getBackend();
      const a = T([3], [1, 2, 3]);
      const b = T([3], [4, 5, 6]);
      be.softmaxNll(T([1, 10]), T([1], [12]), T([1, 10]), null);
      const results = await Promise.allSettled([a.read(), b.read(), b.read()]);
      // each read either reports the error (the first waiter) or that it was skipped because of
      // it, or returns the tensor's true contents
      const seen = results.map((r) => (r.status === 'fulfilled' ? Array.from(r.value) : r.reason.message));
      const ok = [[1, 2, 3], [4, 5, 6], [4, 5, 6]];
      const error = 'softmaxNll: label 12 of row 0 is not a class in 0..9';
      seen.forEach((v, i) => {
        if (typeof v !== 'string') expect(v).toEqual(ok[i]);
        else expect([error, `not performed because an earlier operation failed: ${error}`]).toContain(v);
      });
      expect(seen.some((v) => typeof v === 'string')).toBe(true);
    });
  });

  describe('empty batches (N = 0)', () => {
    test('conv2dBackwardFilter of an empty batch is zero, conv2dForward and pooling of an empty batch are no-ops', async () => {
      const be = getBackend();
      // a normal call first, so that nothing from it may leak into the next result
      const rnd = new R.TestRandom(60);
      const dw = T([4, 2, 3, 2]);
      be.conv2dBackwardFilter(T([3, 2, 7, 9], rnd.uniform(378)), T([3, 4, 5, 8], rnd.uniform(480)), dw);
      expect(R.maxAbs(await dw.read())).toBeGreaterThan(0);
      const dw0 = T([4, 2, 3, 2], NAN(48));
      be.conv2dBackwardFilter(T([0, 2, 7, 9]), T([0, 4, 5, 8]), dw0);
      expect(Array.from(await dw0.read())).toEqual(new Array(48).fill(0));
      be.conv2dForward(T([0, 2, 7, 9]), T([4, 2, 3, 2]), T([0, 4, 5, 8]));
      be.maxPool2x2Forward(T([0, 3, 5, 7]), T([0, 3, 2, 3]));
      await be.sync();
    });

    test('every op of an empty batch: gradients of weights and biases are zero, the rest are no-ops', async () => {
      const be = getBackend();
      const dw = T([4, 2, 3, 2], NAN(48));
      be.conv2dBackward(T([0, 2, 7, 9]), T([4, 2, 3, 2]), T([0, 4, 5, 8]), T([0, 2, 7, 9]), dw);
      expect(Array.from(await dw.read())).toEqual(new Array(48).fill(0));
      be.conv2dBackwardData(T([0, 4, 5, 8]), T([4, 2, 3, 2]), T([0, 2, 7, 9]));
      const db = T([3], NAN(3));
      be.biasGrad(T([0, 3, 4, 4]), db);
      expect(Array.from(await db.read())).toEqual([0, 0, 0]);
      const x = T([0, 3, 4, 4]);
      be.biasAdd(x, T([3]), x);
      be.biasTanhForward(x, T([3]), x);
      be.tanhForward(x, x);
      be.tanhBackward(x, x, x);
      be.maxPool2x2Backward(x, T([0, 3, 2, 2]), T([0, 3, 2, 2]), T([0, 3, 4, 4]));
      const db2 = T([3], NAN(3));
      be.maxPoolBiasTanhForward(x, T([3]), T([0, 3, 2, 2]), T([0, 3, 2, 2]));
      be.maxPoolBiasTanhBackward(x, T([0, 3, 2, 2]), T([0, 3, 2, 2]), T([0, 3, 2, 2]), T([0, 3, 2, 2]), db2, T([0, 3, 4, 4]));
      expect(Array.from(await db2.read())).toEqual([0, 0, 0]);
      // a whole conv-pool layer, through its plan
      const cx = T([0, 2, 9, 9]);
      const cw = T([4, 2, 4, 4]);
      const cb = T([4]);
      const y = T([0, 4, 3, 3]);
      const plan = be.convPoolPlan([0, 2, 9, 9], [4, 2, 4, 4]);
      plan.forward(cx, cw, cb, y);
      const cdw = T([4, 2, 4, 4], NAN(128));
      const cdb = T([4], NAN(4));
      plan.backward(T([0, 4, 3, 3]), T([0, 2, 9, 9]), cdw, cdb);
      expect(Array.from(await cdw.read())).toEqual(new Array(128).fill(0));
      expect(Array.from(await cdb.read())).toEqual([0, 0, 0, 0]);
      plan.dispose();
      // dense algebra and the softmax of no rows
      const c = T([0, 5]);
      be.gemm(false, false, 1, T([0, 3]), T([3, 5]), 0, c);
      be.gemm(true, false, 1, T([3, 0]), T([3, 5]), 1, c);
      be.axpy(2, T([0]), T([0]));
      be.scale(2, T([0]));
      be.fill(T([0]), 3);
      be.copy(T([0, 4]), T([0]));
      const lg = T([0, 10]);
      const stats = T([2], [1, 2]);
      be.softmaxNll(lg, T([0]), lg, stats);
      be.softmaxNllBackward(lg, T([0]), T([0, 10]));
      expect(Array.from(await stats.read())).toEqual([1, 2]);
    });

    test('zero classes: softmaxNll with labels and softmaxNllBackward throw at once, queueing nothing', () => {
      const be = getBackend();
      expectThrowExact(() => be.softmaxNll(T([3, 0]), T([3]), T([3, 0]), null), ShapeError, 'softmaxNll: logits [3,0] have no classes for the labels to name');
      expectThrowExact(() => be.softmaxNll(T([3, 0]), T([3]), T([3, 0]), T([2])), ShapeError, 'softmaxNll: logits [3,0] have no classes for the labels to name');
      expectThrowExact(() => be.softmaxNllBackward(T([2, 0]), T([2]), T([2, 0])), ShapeError, 'softmaxNllBackward: probs [2,0] have no classes for the labels to name');
      // without labels there is nothing to name: a softmax over no classes is a no-op
      be.softmaxNll(T([3, 0]), null, T([3, 0]), null);
      be.syncSync();
    });
  });

  // ---- argument checks ----

  describe('argument checks', () => {
    test('a wrong shape throws a ShapeError with an exact message, and queues nothing', async () => {
      const be = getBackend();
      const x = T([3, 2, 7, 9]);
      const w = T([4, 2, 3, 2]);
      const y = T([3, 4, 5, 8], new Float32Array(480).fill(3));
      const px = T([2, 3, 5, 7]);
      const py = T([2, 3, 2, 3]);
      const bx = T([3, 4, 5]);
      const b = T([4]);
      const lg = T([4, 10]);
      const cases: [string, () => void][] = [
        ['conv2dForward: y must have shape [3,4,5,8], got [3,4,5,7]', () => be.conv2dForward(x, w, T([3, 4, 5, 7]))],
        ['conv2dForward: x must be 4-D (NCHW), got [2,7,9]', () => be.conv2dForward(T([2, 7, 9]), w, y)],
        ['conv2dForward: w must be 4-D (NCHW), got [4,2,6]', () => be.conv2dForward(x, T([4, 2, 6]), y)],
        ['conv2dForward: w [4,3,3,2] expects 3 input channels, x [3,2,7,9] has 2', () => be.conv2dForward(x, T([4, 3, 3, 2]), y)],
        ['conv2dForward: the 8x2 kernel of w does not fit the 7x9 image of x', () => be.conv2dForward(x, T([4, 2, 8, 2]), y)],
        ['conv2dBackwardData: dy must have shape [3,4,5,8], got [3,4,5,7]', () => be.conv2dBackwardData(T([3, 4, 5, 7]), w, x)],
        ['conv2dBackwardData: w [4,2,3,2] expects 2 input channels, dx [3,3,7,9] has 3', () => be.conv2dBackwardData(y, w, T([3, 3, 7, 9]))],
        ['conv2dBackwardData: dx must be 4-D (NCHW), got [3,2,63]', () => be.conv2dBackwardData(y, w, T([3, 2, 63]))],
        ['conv2dBackwardFilter: dy must have shape [3,4,5,8], got [3,4,6,8]', () => be.conv2dBackwardFilter(x, T([3, 4, 6, 8]), w)],
        ['conv2dBackwardFilter: the 3x10 kernel of dw does not fit the 7x9 image of x', () => be.conv2dBackwardFilter(x, y, T([4, 2, 3, 10]))],
        ['maxPool2x2Forward: y must have shape [2,3,2,3], got [2,3,3,4]', () => be.maxPool2x2Forward(px, T([2, 3, 3, 4]))],
        ['maxPool2x2Forward: x [2,3,1,7] is smaller than the 2x2 window', () => be.maxPool2x2Forward(T([2, 3, 1, 7]), T([2, 3, 0, 3]))],
        ['maxPool2x2Forward: x must be 4-D (NCHW), got [6,5,7]', () => be.maxPool2x2Forward(T([6, 5, 7]), py)],
        ['maxPool2x2Backward: y must have shape [2,3,2,3], got [2,3,2,4]', () => be.maxPool2x2Backward(px, T([2, 3, 2, 4]), py, px)],
        ['maxPool2x2Backward: dy must have shape [2,3,2,3], got [2,3,3,2]', () => be.maxPool2x2Backward(px, py, T([2, 3, 3, 2]), px)],
        ['maxPool2x2Backward: dx must have shape [2,3,5,7], got [2,3,4,6]', () => be.maxPool2x2Backward(px, py, py, T([2, 3, 4, 6]))],
        ['biasAdd: b must have shape [4], got [5]', () => be.biasAdd(bx, T([5]), bx)],
        ['biasAdd: y must have shape [3,4,5], got [3,4,6]', () => be.biasAdd(bx, b, T([3, 4, 6]))],
        ['biasAdd: x must have rank 2 or more, got [4]', () => be.biasAdd(T([4]), T([4]), T([4]))],
        ['biasTanhForward: b must have shape [4], got [3]', () => be.biasTanhForward(bx, T([3]), bx)],
        ['biasTanhForward: y must have shape [3,4,5], got [60]', () => be.biasTanhForward(bx, b, T([60]))],
        ['biasTanhForward: x must have rank 2 or more, got [7]', () => be.biasTanhForward(T([7]), T([7]), T([7]))],
        ['biasGrad: db must have shape [4], got [5]', () => be.biasGrad(bx, T([5]))],
        ['biasGrad: dy must have rank 2 or more, got [4]', () => be.biasGrad(T([4]), b)],
        ['tanhForward: y [3,5] must have as many elements as x [2,7]', () => be.tanhForward(T([2, 7]), T([3, 5]))],
        ['tanhBackward: dy [15] must have as many elements as y [2,7]', () => be.tanhBackward(T([2, 7]), T([15]), T([14]))],
        ['tanhBackward: dx [13] must have as many elements as y [2,7]', () => be.tanhBackward(T([2, 7]), T([14]), T([13]))],
        ['gemm: inner dimensions differ: op(a) is [3,4], op(b) is [5,6]', () => be.gemm(false, false, 1, T([3, 4]), T([5, 6]), 0, T([3, 6]))],
        ['gemm: inner dimensions differ: op(a) is [3,4], op(b) is [5,6]', () => be.gemm(true, true, 1, T([4, 3]), T([6, 5]), 0, T([3, 6]))],
        ['gemm: c must have shape [3,6], got [6,3]', () => be.gemm(false, true, 1, T([3, 4]), T([6, 4]), 0, T([6, 3]))],
        ['gemm: a must be a 2-D tensor, got [12]', () => be.gemm(false, false, 1, T([12]), T([12, 1]), 0, T([1, 1]))],
        ['gemm: b must be a 2-D tensor, got [1,4,3]', () => be.gemm(false, false, 1, T([3, 4]), T([1, 4, 3]), 0, T([3, 3]))],
        ['gemm: c must be a 2-D tensor, got [9]', () => be.gemm(false, false, 1, T([3, 4]), T([4, 3]), 0, T([9]))],
        ['axpy: y [5] must have as many elements as x [4]', () => be.axpy(1, T([4]), T([5]))],
        ['copy: dst [7] must have as many elements as src [2,3]', () => be.copy(T([2, 3]), T([7]))],
        ['softmaxNll: logits must be 2-D [N,K], got [40]', () => be.softmaxNll(T([40]), null, T([40]), null)],
        ['softmaxNll: probs must have shape [4,10], got [4,9]', () => be.softmaxNll(lg, null, T([4, 9]), null)],
        ['softmaxNll: labels must have shape [4], got [5]', () => be.softmaxNll(lg, T([5]), lg, null)],
        ['softmaxNll: stats must have shape [2], got [3]', () => be.softmaxNll(lg, T([4]), lg, T([3]))],
        ['softmaxNll: stats need labels', () => be.softmaxNll(lg, null, lg, T([2]))],
        ['softmaxNllBackward: probs must be 2-D [N,K], got [40]', () => be.softmaxNllBackward(T([40]), T([4]), T([40]))],
        ['softmaxNllBackward: labels must have shape [4], got [3]', () => be.softmaxNllBackward(lg, T([3]), T([4, 10]))],
        ['softmaxNllBackward: dlogits must have shape [4,10], got [10,4]', () => be.softmaxNllBackward(lg, T([4]), T([10, 4]))],
        ['tensor: data has 5 elements, shape [2,3] needs 6', () => be.tensor([2, 3], new Float32Array(5))],
        ['write: data has 7 elements, the tensor [2,3] has 6', () => T([2, 3]).write(new Float32Array(7))],
        ['reshape: cannot view [2,3] (6 elements) as [4,2]', () => T([2, 3]).reshape([4, 2])],
        ['slice: rows [1, 4) are outside a tensor of 2 rows [2,3]', () => T([2, 3]).slice(1, 3)],
        ['zeros: shape must be an array of non-negative integers, got [2,-1]', () => be.zeros([2, -1])],
      ];
      for (const [message, fn] of cases) expectThrowExact(fn, ShapeError, message);
      // none of the failed calls queued work that touched y
      expect(Array.from(await y.read()).every((v) => v === 3)).toBe(true);
    });

    // Every tensor argument of every op: [op, argument names (null: not a tensor), valid arguments].
    const opCases = (T: (s: number[]) => Tensor): [string, (string | null)[], () => unknown[]][] => [
      ['fill', ['t'], () => [T([3]), 1]],
      ['copy', ['src', 'dst'], () => [T([3]), T([3])]],
      ['conv2dForward', ['x', 'w', 'y'], () => [T([3, 2, 7, 9]), T([4, 2, 3, 2]), T([3, 4, 5, 8])]],
      ['conv2dBackwardData', ['dy', 'w', 'dx'], () => [T([3, 4, 5, 8]), T([4, 2, 3, 2]), T([3, 2, 7, 9])]],
      ['conv2dBackwardFilter', ['x', 'dy', 'dw'], () => [T([3, 2, 7, 9]), T([3, 4, 5, 8]), T([4, 2, 3, 2])]],
      ['maxPool2x2Forward', ['x', 'y'], () => [T([2, 3, 5, 7]), T([2, 3, 2, 3])]],
      ['maxPool2x2Backward', ['x', 'y', 'dy', 'dx'], () => [T([2, 3, 5, 7]), T([2, 3, 2, 3]), T([2, 3, 2, 3]), T([2, 3, 5, 7])]],
      ['biasAdd', ['x', 'b', 'y'], () => [T([2, 3]), T([3]), T([2, 3])]],
      ['biasTanhForward', ['x', 'b', 'y'], () => [T([2, 3]), T([3]), T([2, 3])]],
      ['biasGrad', ['dy', 'db'], () => [T([2, 3]), T([3])]],
      ['tanhForward', ['x', 'y'], () => [T([2, 3]), T([2, 3])]],
      ['tanhBackward', ['y', 'dy', 'dx'], () => [T([2, 3]), T([2, 3]), T([2, 3])]],
      ['gemm', [null, null, null, 'a', 'b', null, 'c'], () => [false, false, 1, T([2, 3]), T([3, 4]), 0, T([2, 4])]],
      ['axpy', [null, 'x', 'y'], () => [1, T([3]), T([3])]],
      ['scale', [null, 'x'], () => [2, T([3])]],
      ['softmaxNll', ['logits', 'labels', 'probs', 'stats'], () => [T([2, 3]), T([2]), T([2, 3]), T([2])]],
      ['softmaxNllBackward', ['probs', 'labels', 'dlogits'], () => [T([2, 3]), T([2]), T([2, 3])]],
    ];
    const call = (be: Backend, op: string, args: unknown[]) => (be as unknown as Record<string, (...a: unknown[]) => void>)[op](...args);

    test('a non-Tensor argument throws a TypeError naming the op and the argument', () => {
      const be = getBackend();
      const failures: string[] = [];
      for (const [op, names, make] of opCases((s) => T(s))) {
        names.forEach((name, i) => {
          if (!name) return;
          const args = make();
          args[i] = new Float32Array(3);
          let expected: [new (...a: never[]) => Error, string];
          expected = [TypeError, `${op}: ${name} must be a Tensor, got a Float32Array`];
          const e = thrown(() => call(be, op, args));
          if (e.message !== expected[1] || !(e instanceof expected[0])) {
            failures.push(`${op}(${name}): got ${e.constructor.name} ${JSON.stringify(e.message)}, want ${expected[0].name} ${JSON.stringify(expected[1])}`);
          }
        });
      }
      expect(failures).toEqual([]);
    });

    test('a scale that is not a finite number is refused by tensor() and write(), before anything is uploaded', async () => {
      const be = getBackend();
      const t = T([2], [5, 6]);
      for (const [bad, text] of [
        ['2', 'string 2'],
        [NaN, 'number NaN'],
        [Infinity, 'number Infinity'],
        [null, 'null'],
      ] as const) {
        expectThrowExact(() => be.tensor([2], new Float32Array(2), bad as unknown as number), TypeError, `tensor: scale must be a finite number, got ${text}`);
        expectThrowExact(() => t.write(new Uint8Array(2), bad as unknown as number), TypeError, `write: scale must be a finite number, got ${text}`);
      }
      expect(Array.from(await t.read())).toEqual([5, 6]);
      t.write(new Uint8Array([255, 51]), 1 / 255);
      R.assertClose(await t.read(), [1, 0.2], { atol: 0, rtol: EPS32 }, 'scaled bytes');
    });

    test('a tensor of another backend is rejected, naming the op, the argument and its backend', () => {
      const be = getBackend();
      const failures: string[] = [];
      const foreign: Tensor[] = [];
      for (const [op, names, make] of opCases((s) => T(s))) {
        names.forEach((name, i) => {
          if (!name) return;
          const args = make();
          const t = other.zeros((args[i] as Tensor).shape);
          foreign.push(t);
          args[i] = t;
          const want = `${op}: ${name} belongs to the ${other.kind} backend it was created on, not this one`;
          const e = thrown(() => call(be, op, args));
          if (e.message !== want) failures.push(`${op}(${name}): got ${JSON.stringify(e.message)}, want ${JSON.stringify(want)}`);
        });
      }
      for (const t of foreign) t.dispose();
      expect(failures).toEqual([]);
    });

    test('a disposed tensor is rejected: "<op>: <arg>: tensor [shape] was used after dispose()"', () => {
      const be = getBackend();
      const failures: string[] = [];
      for (const [op, names, make] of opCases((s) => T(s))) {
        names.forEach((name, i) => {
          if (!name) return;
          const args = make();
          const t = args[i] as Tensor;
          t.dispose();
          const want = `${op}: ${name}: tensor [${t.shape.join(',')}] was used after dispose()`;
          const e = thrown(() => call(be, op, args));
          if (e.message !== want) failures.push(`${op}(${name}): got ${JSON.stringify(e.message)}, want ${JSON.stringify(want)}`);
        });
      }
      expect(failures).toEqual([]);
    });
  });
}, { allGemmKernels: true });
