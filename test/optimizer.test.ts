/**
 * The optimizer (lib/optimizer.ts) on every backend: SGD's plain, weight-decay and momentum rules
 * over a few steps against a float64 reference computed here, the flat-buffer fast path (one op
 * over a whole ParameterArena) equal to the per-parameter path bit for bit and taken exactly when
 * the list is a whole arena in order, `trainStep` on a LeNet5 being the tutorial's
 * forward + backward + one axpy, option and argument errors, and velocity buffers freed by
 * dispose().
 *
 * Bit for bit needs sizes that are multiples of 16: the CPU's axpy (a multiversioned loop) fuses
 * the multiply-add in its vector body but not in its scalar remainder, so an element's rounding
 * depends on where the op's range ends (measured on AVX-512: a 12-element axpy rounds each
 * product separately, a 32-element one fuses all of them). With parameters of odd sizes
 * the two paths agree only to an ulp, which is why `SGD` keeps the single flat op for a whole
 * arena: it is what the model's step always did, so the trajectories stay bit-identical.
 *
 * Tolerance of the float64 comparisons: values and gradients are O(1) and each step rounds a
 * handful of float32 operations (each within EPS32/2 relative), so after 5 steps the error is a
 * few tens of EPS32; atol 64 EPS32 (7.6e-6) allows that, while a wrong rule (a missing weight
 * decay term of lr * wd * v ~ 1e-3, a momentum step off by one, a sign) is 100x larger.
 */
import { type Backend, createBackend } from '../lib/backend';
import { type Parameter, ParameterArena } from '../lib/layers';
import { LeNet5 } from '../lib/lenet5';
import { SGD, type SGDOptimizerOptions } from '../lib/optimizer';
import { trainStep } from '../lib/trainer';
import { describeEachBackend, makeBackend } from './backends';
import { expectError, thrown } from './integration-helpers';
import * as R from './reference';

type Shapes = [string, number[]][];
/** Odd sizes, for the float64 comparisons. */
const SHAPES: Shapes = [
  ['a.W', [3, 1, 2, 2]],
  ['a.b', [3]],
  ['b.W', [5, 4]],
  ['b.b', [4]],
];
/** Sizes that are multiples of 16, for the bit-for-bit comparison of the two paths (see above). */
const ALIGNED: Shapes = [
  ['a.W', [4, 1, 2, 2]],
  ['a.b', [16]],
  ['b.W', [8, 4]],
  ['b.b', [16]],
];
const STEPS = 5;
const TOL: R.Tolerance = { atol: 64 * R.EPS32, rtol: 16 * R.EPS32 };
const bytes = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

/** A built arena holding `shapes` with initial values from `seed` (the same seed gives the same arena). */
function makeArena(be: Backend, seed: number, shapes: Shapes = SHAPES): ParameterArena {
  const rnd = new R.TestRandom(seed);
  const arena = new ParameterArena(be);
  for (const [name, shape] of shapes) arena.declare(name, shape, rnd.uniform(R.sizeOf(shape)));
  arena.build();
  return arena;
}

/** The gradients of step s (what a backward pass would write) for parameters of these sizes. */
function gradsOf(step: number, sizes: readonly number[]): Float32Array[] {
  const rnd = new R.TestRandom(1000 + step);
  return sizes.map((n) => rnd.uniform(n, -2, 2));
}

/** The float64 reference of `STEPS` steps of torch.optim.SGD's rule (dampening 0, no Nesterov). */
function reference(initial: Float32Array[], options: Required<SGDOptimizerOptions>): Float64Array[] {
  const { learningRate: lr, momentum: m, weightDecay: wd } = options;
  const values = initial.map((v) => R.f64(v));
  const bufs: Float64Array[] | null = m > 0 ? values.map((v) => new Float64Array(v.length)) : null;
  for (let s = 0; s < STEPS; s++) {
    const grads = gradsOf(s, values.map((v) => v.length));
    values.forEach((v, k) => {
      for (let i = 0; i < v.length; i++) {
        const d = grads[k][i] + wd * v[i];
        if (bufs) {
          // PyTorch: buf = d at the first step, then buf = m * buf + d (zeros make both the same)
          bufs[k][i] = s === 0 ? d : m * bufs[k][i] + d;
          v[i] -= lr * bufs[k][i];
        } else {
          v[i] -= lr * d;
        }
      }
    });
  }
  return values;
}

/** Runs STEPS steps of `sgd` over `params`, writing each step's gradients first; returns the values. */
async function run(sgd: SGD, params: readonly Parameter[]): Promise<Float32Array[]> {
  for (let s = 0; s < STEPS; s++) {
    const grads = gradsOf(s, params.map((p) => p.value.size));
    params.forEach((p, k) => p.grad.write(grads[k]));
    sgd.step();
  }
  return Promise.all(params.map((p) => p.value.read()));
}

/** Copies of the parameters that no arena knows: an SGD over them takes the per-parameter path. */
function detached(params: readonly Parameter[]): Parameter[] {
  return params.map((p) => ({ ...p }));
}

/**
 * Asserts that a spy saw exactly these calls; tensors are compared by identity (toEqual would find
 * any two tensors of one shape equal: their native handles have no visible fields).
 */
function expectCalls(spy: jest.SpyInstance, expected: unknown[][]): void {
  expect(spy.mock.calls.length).toBe(expected.length);
  spy.mock.calls.forEach((call, i) => {
    expect(call.length).toBe(expected[i].length);
    call.forEach((arg: unknown, j: number) => expect(Object.is(arg, expected[i][j])).toBe(true));
  });
}

async function live(be: Backend): Promise<{ liveBuffers: number; liveBytes: number }> {
  await be.sync();
  const { liveBuffers, liveBytes } = be.counters();
  return { liveBuffers, liveBytes };
}

describeEachBackend('SGD', (getBackend, name) => {
  const cases: [string, Required<SGDOptimizerOptions>][] = [
    ['plain (the tutorial)', { learningRate: 0.1, momentum: 0, weightDecay: 0 }],
    ['weight decay', { learningRate: 0.1, momentum: 0, weightDecay: 0.05 }],
    ['momentum', { learningRate: 0.05, momentum: 0.9, weightDecay: 0 }],
    ['momentum and weight decay', { learningRate: 0.05, momentum: 0.5, weightDecay: 0.01 }],
  ];

  describe.each(cases)('%s', (_, options) => {
    test(`${STEPS} steps equal the float64 reference, on the fast path and parameter by parameter`, async () => {
      const be = getBackend();
      const arena = makeArena(be, 7);
      const initial = await Promise.all(arena.params().map((p) => p.value.read()));
      const flat = await arena.values.read();
      const expected = reference(initial, options);
      for (const params of [arena.params(), detached(arena.params())]) {
        arena.values.write(flat);
        const sgd = new SGD(params, options);
        const got = await run(sgd, params);
        got.forEach((v, k) => R.assertClose(v, expected[k], TOL, `${params[k].name} after ${STEPS} steps`));
        sgd.dispose();
      }
      arena.dispose();
    });

    test('the fast path (one op over the flat buffers) equals the per-parameter path bit for bit', async () => {
      const be = getBackend();
      const fast = makeArena(be, 11, ALIGNED);
      const slow = makeArena(be, 11, ALIGNED);
      const a = await run(new SGD(fast.params(), options), fast.params());
      const b = await run(new SGD(detached(slow.params()), options), slow.params());
      a.forEach((v, k) => expect(bytes(v).equals(bytes(b[k]))).toBe(true));
      expect(bytes(await fast.values.read()).equals(bytes(await slow.values.read()))).toBe(true);
      fast.dispose();
      slow.dispose();
    });
  });

  test('the first momentum step is plain SGD, bit for bit (the velocity starts at zero)', async () => {
    const be = getBackend();
    const a = makeArena(be, 3);
    const b = makeArena(be, 3);
    for (const arena of [a, b]) arena.grads.write(new R.TestRandom(5).uniform(arena.grads.size, -2, 2));
    new SGD(a.params(), { learningRate: 0.1 }).step();
    const withMomentum = new SGD(b.params(), { learningRate: 0.1, momentum: 0.9 });
    withMomentum.step();
    expect(bytes(await b.values.read()).equals(bytes(await a.values.read()))).toBe(true);
    withMomentum.dispose();
    a.dispose();
    b.dispose();
  });

  test('a whole arena in declaration order is updated with one op per rule; any other list parameter by parameter', () => {
    const be = getBackend();
    const arena = makeArena(be, 1);
    const params = arena.params();
    const axpy = jest.spyOn(be, 'axpy');
    const scale = jest.spyOn(be, 'scale');
    try {
      new SGD(params, { learningRate: 0.25 }).step();
      expectCalls(axpy, [[-0.25, arena.grads, arena.values]]);
      axpy.mockClear();
      const lists = [params.slice(0, 3), [...params].reverse(), detached(params)];
      for (const list of lists) {
        new SGD(list, { learningRate: 0.25 }).step();
        expectCalls(axpy, list.map((p) => [-0.25, p.grad, p.value]));
        axpy.mockClear();
      }
      new SGD(params, { learningRate: 0.5, weightDecay: 0.1 }).step();
      expectCalls(scale, [[1 - 0.5 * 0.1, arena.values]]);
      expectCalls(axpy, [[-0.5, arena.grads, arena.values]]);
    } finally {
      axpy.mockRestore();
      scale.mockRestore();
      arena.dispose();
    }
  });

  test('learningRate can be changed between steps; a bad value is rejected and the old one kept', async () => {
    const be = getBackend();
    const arena = makeArena(be, 2);
    arena.grads.write(new Float32Array(arena.grads.size).fill(1));
    const before = await arena.values.read();
    const sgd = new SGD(arena.params());
    expect(sgd.learningRate).toBe(0.1);
    sgd.learningRate = 0.5;
    for (const bad of [0, -1, NaN, Infinity]) {
      expectError(thrown(() => (sgd.learningRate = bad)), 'RangeError', `SGD: learningRate must be a positive number, got ${bad}`);
    }
    expect(sgd.learningRate).toBe(0.5);
    sgd.step();
    const after = await arena.values.read();
    R.assertClose(after, Float64Array.from(before, (v) => v - 0.5), { atol: 2 * R.EPS32, rtol: R.EPS32 }, 'values after a step of 0.5');
    arena.dispose();
  });

  test('plain SGD allocates nothing; momentum allocates its velocity at the first step and dispose() frees it', async () => {
    // A backend of its own: see makeBackend.
    const be = makeBackend(name);
    const arena = makeArena(be, 4);
    const start = await live(be);
    const plain = new SGD(arena.params(), { weightDecay: 0.1 });
    plain.step();
    plain.step();
    expect(await live(be)).toEqual(start);
    plain.dispose();

    const fast = new SGD(arena.params(), { momentum: 0.9 });
    expect(await live(be)).toEqual(start); // nothing before the first step
    fast.step();
    fast.step();
    const one = await live(be);
    expect(one.liveBuffers).toBe(start.liveBuffers + 1); // one flat buffer for the whole arena
    expect(one.liveBytes).toBeGreaterThanOrEqual(start.liveBytes + 4 * arena.values.size);
    fast.dispose();
    fast.dispose(); // idempotent
    expect(await live(be)).toEqual(start);
    expectError(thrown(() => fast.step()), 'Error', 'SGD: step() after dispose()');

    const slow = new SGD(detached(arena.params()), { momentum: 0.9, weightDecay: 0.01 });
    slow.step();
    expect((await live(be)).liveBuffers).toBe(start.liveBuffers + SHAPES.length); // one per parameter
    slow.dispose();
    expect(await live(be)).toEqual(start);
    arena.dispose();
    be.dispose();
  });

  test('trainStep(model, new SGD(model.params(), { learningRate }), ...) on a LeNet5 is forward, backward and one axpy over the arena', async () => {
    const be = getBackend();
    const rnd = new R.TestRandom(21);
    const model = new LeNet5({ backend: be, nkerns: [2, 3], hidden: 8, seed: 3 });
    const images = be.tensor(model.inputShape(4), rnd.uniform(4 * 784, 0, 1));
    const labels = be.tensor([4], rnd.labels(4, 10));
    const stats = be.zeros([2]);
    const before = await model.arena.values.read();
    model.forward(images, labels, null);
    model.backward(labels);
    const grads = await model.arena.grads.read();
    const sgd = new SGD(model.params(), { learningRate: 0.1 });
    const axpy = jest.spyOn(be, 'axpy');
    try {
      trainStep(model, sgd, images, labels, stats);
      expectCalls(axpy, [[-0.1, model.arena.grads, model.arena.values]]);
    } finally {
      axpy.mockRestore();
    }
    const after = await model.arena.values.read();
    R.assertClose(after, Float64Array.from(before, (v, i) => v - Math.fround(0.1) * grads[i]), { atol: 1e-7, rtol: 2 * R.EPS32 }, 'values after trainStep');
    expect((await stats.read())[0]).toBeGreaterThan(0);
    sgd.dispose();
    for (const t of [images, labels, stats, model]) t.dispose();
  });

  test('option and argument errors name the option, what is expected and what was given', () => {
    const be = getBackend();
    const arena = makeArena(be, 6);
    const params = arena.params();
    const bad: [SGDOptimizerOptions, string][] = [
      [{ learningRate: 0 }, 'SGD: learningRate must be a positive number, got 0'],
      [{ learningRate: -0.1 }, 'SGD: learningRate must be a positive number, got -0.1'],
      [{ learningRate: NaN }, 'SGD: learningRate must be a positive number, got NaN'],
      [{ learningRate: Infinity }, 'SGD: learningRate must be a positive number, got Infinity'],
      [{ momentum: 1 }, 'SGD: momentum must be a number in [0, 1), got 1'],
      [{ momentum: -0.5 }, 'SGD: momentum must be a number in [0, 1), got -0.5'],
      [{ momentum: NaN }, 'SGD: momentum must be a number in [0, 1), got NaN'],
      [{ weightDecay: -1 }, 'SGD: weightDecay must be a non-negative number, got -1'],
      [{ weightDecay: Infinity }, 'SGD: weightDecay must be a non-negative number, got Infinity'],
      [{ weightDecay: NaN }, 'SGD: weightDecay must be a non-negative number, got NaN'],
    ];
    for (const [options, message] of bad) expectError(thrown(() => new SGD(params, options)), 'RangeError', message);
    expectError(thrown(() => new SGD([])), 'RangeError', 'SGD: params is empty; there is nothing to optimize');
    expectError(thrown(() => new SGD(arena as never)), 'TypeError', 'SGD: params must be an array of parameters (e.g. model.params()), got a ParameterArena');
    expectError(thrown(() => new SGD([params[0], null as never])), 'TypeError', 'SGD: params[1] must be a parameter with value and grad tensors, got null');
    expectError(thrown(() => new SGD([params[1], params[0], params[1]])), 'Error', 'SGD: parameter a.b appears twice in the list');
    const other = createBackend({ device: 'cpu' });
    try {
      const elsewhere = new ParameterArena(other);
      elsewhere.declare('c.W', [2], null);
      elsewhere.build();
      expectError(
        thrown(() => new SGD([...params, ...elsewhere.params()])),
        'Error',
        'SGD: every parameter must be on one backend: c.W.value is on another backend than a.W.value',
      );
      const mixed = { ...params[0], name: 'mixed', grad: elsewhere.params()[0].grad };
      expectError(thrown(() => new SGD([mixed])), 'Error', 'SGD: every parameter must be on one backend: mixed.grad is on another backend than mixed.value');
      elsewhere.dispose();
    } finally {
      other.dispose();
    }
    arena.dispose();
  });
});
