/**
 * The fused ops — maxPoolBiasTanhForward/Backward, conv2dBackward, and the conv-pool layer's plan
 * (backend.convPoolPlan: forward and backward) — against compositions of the float64 reference,
 * on every backend. The CPU's plan runs the layer in one chunked pass (the convolution's output
 * never goes to memory), CUDA's composes cuDNN calls; both must equal the reference.
 *
 * Shapes cover odd convolution outputs (the pooling drops a row and a column), batch sizes that
 * split unevenly across threads and im2col chunks, the LeNet5 layer shapes, and windows with
 * tied maxima (a zero region of the input makes every convolution output in it exactly 0: the
 * gradient must go to the first one). Tolerances as in ops.test.ts: sums of K float32 products
 * get R.sumTol(K, scale); tanh and its gradient 4 * EPS32.
 */
import { Backend, type ConvPoolPlan } from '../lib/backend';
import { loadAddon } from '../lib/addon';
import type { Tensor } from '../lib/tensor';
import { describeEachBackend } from './backends';
import * as R from './reference';

const { EPS32, sizeOf, sumTol } = R;

interface Case {
  name: string;
  xs: number[];
  ws: number[];
  /** Zero the top-left quarter of every input plane (ties in the pooling). */
  zeroRegion?: boolean;
}

const CASES: Case[] = [
  { name: 'odd conv output 7x9 (border dropped)', xs: [3, 2, 9, 11], ws: [4, 2, 3, 3] },
  { name: 'LeNet5 layer0 shape, N=37 (uneven chunks)', xs: [37, 1, 28, 28], ws: [20, 1, 5, 5] },
  { name: 'LeNet5 layer1 shape, N=29', xs: [29, 20, 12, 12], ws: [50, 20, 5, 5] },
  { name: 'ties from a zero input region', xs: [5, 1, 12, 12], ws: [3, 1, 5, 5], zeroRegion: true },
  { name: 'a single sample', xs: [1, 3, 8, 8], ws: [2, 3, 3, 3] },
];

interface Prepared {
  x: Float32Array;
  w: Float32Array;
  b: Float32Array;
  dy: Float32Array;
  convShape: number[];
  poolShape: number[];
  ref: {
    y: Float64Array;
    pooled: Float64Array;
    dpooled: Float64Array;
    db: Float64Array;
    dw: Float64Array;
    dx: Float64Array;
  };
}

function prepare(c: Case, seed: number): Prepared {
  const rnd = new R.TestRandom(seed);
  const x = rnd.uniform(sizeOf(c.xs));
  if (c.zeroRegion) {
    const [n, ch, h, w] = c.xs;
    for (let p = 0; p < n * ch; p++)
      for (let i = 0; i < h / 2; i++) for (let j = 0; j < w / 2; j++) x[(p * h + i) * w + j] = 0;
  }
  const w = rnd.uniform(sizeOf(c.ws), -0.3, 0.3);
  const b = rnd.uniform(c.ws[0], -0.2, 0.2);
  const convShape = [c.xs[0], c.ws[0], c.xs[2] - c.ws[2] + 1, c.xs[3] - c.ws[3] + 1];
  const poolShape = R.pooledShape(convShape);
  const dy = rnd.uniform(sizeOf(poolShape));
  const conv = R.conv2dRef(x, c.xs, w, c.ws);
  const { y: pooled } = R.maxPoolRef(conv, convShape);
  const y = R.tanhRef(R.biasAddRef(pooled, poolShape, b));
  const dpooled = R.tanhBackwardRef(y, dy);
  const db = R.biasGradRef(dpooled, poolShape);
  const dconv = R.maxPoolBackwardRef(conv, convShape, dpooled);
  const dw = R.conv2dBackwardFilterRef(x, dconv, c.xs, c.ws);
  const dx = R.conv2dBackwardDataRef(dconv, w, c.xs, c.ws);
  return { x, w, b, dy, convShape, poolShape, ref: { y, pooled, dpooled, db, dw, dx } };
}

const prepared = new Map<string, Prepared>();
function data(c: Case): Prepared {
  let p = prepared.get(c.name);
  if (!p) {
    p = prepare(c, 1000 + prepared.size);
    prepared.set(c.name, p);
  }
  return p;
}

describeEachBackend('fused ops', (getBackend) => {
  let live: { dispose(): void }[] = [];
  const T = (be: Backend, shape: number[], values?: Float32Array): Tensor => {
    const t = values ? be.tensor(shape, values) : be.zeros(shape);
    live.push(t);
    return t;
  };
  const Plan = (be: Backend, xs: number[], ws: number[]): ConvPoolPlan => {
    const plan = be.convPoolPlan(xs, ws);
    live.push(plan);
    return plan;
  };
  afterEach(() => {
    for (const t of live) t.dispose();
    live = [];
  });

  for (const c of CASES) {
    describe(c.name, () => {
      test('a conv-pool plan\'s forward and backward equal the reference layer and its gradients', async () => {
        const be = getBackend();
        const p = data(c);
        const [k, , kh, kw] = c.ws;
        const x = T(be, c.xs, p.x);
        const w = T(be, c.ws, p.w);
        const b = T(be, [k], p.b);
        const y = T(be, p.poolShape);
        const plan = Plan(be, c.xs, c.ws);
        expect(plan.outputShape).toEqual(p.poolShape);
        plan.forward(x, w, b, y);
        R.assertClose(await y.read(), p.ref.y, { atol: sumTol(c.xs[1] * kh * kw).atol + 4 * EPS32, rtol: 4 * EPS32 }, 'y');

        const dy = T(be, p.poolShape, p.dy);
        const dx = T(be, c.xs);
        const dw = T(be, c.ws);
        const db = T(be, [k]);
        plan.backward(dy, dx, dw, db);
        const perFilter = sizeOf(p.poolShape) / k; // terms in each bias-gradient sum
        R.assertClose(await db.read(), p.ref.db, sumTol(perFilter, 4), 'db');
        R.assertClose(await dw.read(), p.ref.dw, sumTol(c.xs[0] * p.convShape[2] * p.convShape[3], 4), 'dw');
        R.assertClose(await dx.read(), p.ref.dx, sumTol(k * kh * kw, 4), 'dx');
        // dx may be omitted (the first layer needs no input gradient): dw and db are unchanged.
        const dw2 = T(be, c.ws);
        const db2 = T(be, [k]);
        plan.backward(dy, null, dw2, db2);
        expect(Array.from(await dw2.read())).toEqual(Array.from(await dw.read()));
        expect(Array.from(await db2.read())).toEqual(Array.from(await db.read()));
      });

      test('maxPoolBiasTanhForward/Backward and conv2dBackward compose to the same layer', async () => {
        const be = getBackend();
        const p = data(c);
        const [k, , kh, kw] = c.ws;
        const x = T(be, c.xs, p.x);
        const w = T(be, c.ws, p.w);
        const b = T(be, [k], p.b);
        const conv = T(be, p.convShape);
        const pooled = T(be, p.poolShape);
        const y = T(be, p.poolShape);
        be.conv2dForward(x, w, conv);
        be.maxPoolBiasTanhForward(conv, b, pooled, y);
        const tol = { atol: sumTol(c.xs[1] * kh * kw).atol + 4 * EPS32, rtol: 4 * EPS32 };
        R.assertClose(await pooled.read(), p.ref.pooled, sumTol(c.xs[1] * kh * kw), 'pooled');
        R.assertClose(await y.read(), p.ref.y, tol, 'y');

        const dy = T(be, p.poolShape, p.dy);
        const dpooled = T(be, p.poolShape);
        const dconv = T(be, p.convShape);
        const db = T(be, [k]);
        be.maxPoolBiasTanhBackward(conv, pooled, y, dy, dpooled, db, dconv);
        // dpooled = dy * (1 - y^2) inherits y's error (a K-term convolution sum).
        R.assertClose(await dpooled.read(), p.ref.dpooled, sumTol(c.xs[1] * kh * kw, 4), 'dpooled');
        R.assertClose(await db.read(), p.ref.db, sumTol(sizeOf(p.poolShape) / k, 4), 'db');

        const dx = T(be, c.xs);
        const dw = T(be, c.ws);
        be.conv2dBackward(x, w, dconv, dx, dw);
        R.assertClose(await dw.read(), p.ref.dw, sumTol(c.xs[0] * p.convShape[2] * p.convShape[3], 4), 'dw');
        R.assertClose(await dx.read(), p.ref.dx, sumTol(k * kh * kw, 4), 'dx');
        // and the separate ops agree with the combined one
        const dx2 = T(be, c.xs);
        const dw2 = T(be, c.ws);
        be.conv2dBackwardData(dconv, w, dx2);
        be.conv2dBackwardFilter(x, dconv, dw2);
        R.assertClose(await dx2.read(), await dx.read(), sumTol(k * kh * kw, 4), 'dx (separate op)');
        R.assertClose(await dw2.read(), await dw.read(), sumTol(c.xs[0] * p.convShape[2] * p.convShape[3], 4), 'dw (separate op)');
      });
    });
  }

  test('dy of another shape but the same size (a hidden layer gradient [N, K*PH*PW]) is accepted', async () => {
    const be = getBackend();
    const c = CASES[1];
    const p = data(c);
    const [k] = c.ws;
    const x = T(be, c.xs, p.x);
    const w = T(be, c.ws, p.w);
    const b = T(be, [k], p.b);
    const y = T(be, p.poolShape);
    const plan = Plan(be, c.xs, c.ws);
    plan.forward(x, w, b, y);
    const flat = T(be, [c.xs[0], sizeOf(p.poolShape) / c.xs[0]], p.dy);
    const dw = T(be, c.ws);
    const db = T(be, [k]);
    plan.backward(flat, null, dw, db);
    R.assertClose(await db.read(), p.ref.db, sumTol(sizeOf(p.poolShape) / k, 4), 'db');
  });

  test('a plan owns its state: its bytes are counted while it lives and freed by dispose()', async () => {
    const be = getBackend();
    await be.sync();
    const before = be.counters();
    const plan = be.convPoolPlan([4, 2, 9, 9], [3, 2, 4, 4]);
    expect(plan.stateBytes).toBeGreaterThan(0);
    const during = be.counters();
    expect(during.liveBytes - before.liveBytes).toBeGreaterThanOrEqual(plan.stateBytes);
    plan.dispose();
    plan.dispose(); // idempotent
    expect(plan.disposed).toBe(true);
    await be.sync();
    expect(be.counters().liveBytes).toBe(before.liveBytes);
    expect(be.counters().liveBuffers).toBe(before.liveBuffers);
  });

  test('a plan keeps no reference to the tensors of its forward: disposing x frees it, and backward then refuses', async () => {
    const be = getBackend();
    const w = T(be, [3, 1, 5, 5]);
    const b = T(be, [3]);
    const y = T(be, [2, 3, 4, 4]);
    const plan = Plan(be, [2, 1, 12, 12], [3, 1, 5, 5]);
    const x = be.zeros([2, 1, 12, 12]);
    plan.forward(x, w, b, y);
    await be.sync();
    const before = be.counters();
    x.dispose();
    await be.sync();
    expect(before.liveBuffers - be.counters().liveBuffers).toBe(1);
    expect(() => plan.backward(y, null, T(be, [3, 1, 5, 5]), T(be, [3]))).toThrow('convPoolBackward: the x of the last forward() was disposed');
    // queued work keeps what it uses: a step disposes its input right after queueing it
    const x2 = be.zeros([2, 1, 12, 12]);
    plan.forward(x2, w, b, y);
    plan.backward(y, null, T(be, [3, 1, 5, 5]), T(be, [3]));
    x2.dispose();
    await be.sync();
  });

  test('wrong shapes, a backward before any forward and use after dispose are rejected with exact messages', () => {
    const be = getBackend();
    const x = T(be, [2, 1, 12, 12]);
    const w = T(be, [3, 1, 5, 5]);
    const b = T(be, [3]);
    const y = T(be, [2, 3, 4, 4]);
    expect(() => be.convPoolPlan([2, 1, 12, 12], [3, 2, 5, 5])).toThrow('convPoolPlan: w [3,2,5,5] expects 2 input channels, x [2,1,12,12] has 1');
    expect(() => be.convPoolPlan([2, 1, 5, 5], [3, 1, 5, 5])).toThrow("convPoolPlan: the convolution's output [2,3,1,1] is smaller than the 2x2 window");
    expect(() => be.convPoolPlan([2, 1, 12], [3, 1, 5, 5])).toThrow('convPoolPlan: x must be 4-D (NCHW), got [2,1,12]');
    const plan = Plan(be, [2, 1, 12, 12], [3, 1, 5, 5]);
    expect(() => plan.backward(y, null, T(be, [3, 1, 5, 5]), T(be, [3]))).toThrow('convPoolBackward: backward() before forward() on this plan');
    expect(() => plan.forward(T(be, [3, 1, 12, 12]), w, b, y)).toThrow('convPoolForward: x must have shape [2,1,12,12], got [3,1,12,12]');
    expect(() => plan.forward(x, w, T(be, [4]), y)).toThrow('convPoolForward: b must have shape [3], got [4]');
    expect(() => plan.forward(x, w, b, T(be, [2, 3, 4, 5]))).toThrow('convPoolForward: y must have shape [2,3,4,4], got [2,3,4,5]');
    plan.forward(x, w, b, y);
    expect(() => plan.backward(T(be, [2, 47]), null, T(be, [3, 1, 5, 5]), T(be, [3]))).toThrow(
      'convPoolBackward: dy [2,47] must have as many elements as y [2,3,4,4]',
    );
    expect(() => plan.backward(y, T(be, [2, 1, 12, 11]), T(be, [3, 1, 5, 5]), T(be, [3]))).toThrow(
      'convPoolBackward: dx must have shape [2,1,12,12], got [2,1,12,11]',
    );
    plan.dispose();
    expect(() => plan.forward(x, w, b, y)).toThrow('convPoolForward: the plan for [2,1,12,12] was used after dispose()');
  });
}, { allGemmKernels: true });

// The composed plan (Device's default: the convolution, then the pooling epilogue, each an op) is
// the one the CUDA backend uses; a CPU backend made with convPool: 'composed' runs it here.
describe('the composed conv-pool plan (the CUDA backend\'s), on the CPU', () => {
  let be: Backend;
  beforeAll(() => {
    be = new Backend(loadAddon().createCpuBackend({ convPool: 'composed' }), { kind: 'cpu', reason: 'test' });
  });
  afterAll(() => be.dispose());

  for (const c of CASES) {
    test(`${c.name}: forward and backward equal the reference`, async () => {
      const p = data(c);
      const [k, , kh, kw] = c.ws;
      const x = be.tensor(c.xs, p.x);
      const w = be.tensor(c.ws, p.w);
      const b = be.tensor([k], p.b);
      const y = be.zeros(p.poolShape);
      const dy = be.tensor(p.poolShape, p.dy);
      const dx = be.zeros(c.xs);
      const dw = be.zeros(c.ws);
      const db = be.zeros([k]);
      const plan = be.convPoolPlan(c.xs, c.ws);
      // the composed plan keeps the convolution's output and its gradient, the fused one does not
      expect(plan.stateBytes).toBeGreaterThanOrEqual(4 * 2 * sizeOf(p.convShape));
      plan.forward(x, w, b, y);
      plan.backward(dy, dx, dw, db);
      R.assertClose(await y.read(), p.ref.y, { atol: sumTol(c.xs[1] * kh * kw).atol + 4 * EPS32, rtol: 4 * EPS32 }, 'y');
      R.assertClose(await db.read(), p.ref.db, sumTol(sizeOf(p.poolShape) / k, 4), 'db');
      R.assertClose(await dw.read(), p.ref.dw, sumTol(c.xs[0] * p.convShape[2] * p.convShape[3], 4), 'dw');
      R.assertClose(await dx.read(), p.ref.dx, sumTol(k * kh * kw, 4), 'dx');
      for (const t of [x, w, b, y, dy, dx, dw, db, plan]) t.dispose();
    });
  }
});
