/**
 * API misuse: shapes too large for memory on every op that takes a shape, options that are not
 * what they should be, a disposed backend or model, concurrent fit() calls, and failed calls
 * that must free what they allocated (live buffers counted on backends of their own).
 */
import * as os from 'os';
import { Backend, createBackend } from '../lib/backend';
import type { Dataset } from '../lib/data';
import { LENET5_MAX_PARAMETERS, LeNet5 } from '../lib/lenet5';
import { MAX_DIMENSION, MAX_ELEMENTS, OutOfMemoryError } from '../lib/tensor';
import { SGDTrainer } from '../lib/trainer';
import { TestRandom } from './reference';

function thrown(fn: () => unknown): Error & { code?: string } {
  try {
    fn();
  } catch (e) {
    return e as Error & { code?: string };
  }
  throw new Error('expected a throw');
}

async function rejection(p: Promise<unknown>): Promise<Error & { code?: string }> {
  try {
    await p;
  } catch (e) {
    return e as Error & { code?: string };
  }
  throw new Error('expected a rejection');
}

async function live(be: Backend): Promise<{ liveBuffers: number; liveBytes: number }> {
  await be.sync();
  const { liveBuffers, liveBytes } = be.counters();
  return { liveBuffers, liveBytes };
}

function dataset(be: Backend, n: number, seed: number): Dataset {
  const rnd = new TestRandom(seed);
  const split = (count: number) => ({
    images: be.tensor([count, 1, 28, 28], rnd.uniform(count * 784, 0, 1)),
    labels: be.tensor([count], rnd.labels(count, 10)),
    count,
  });
  const splits = { train: split(n), validation: split(4), test: split(4) };
  return {
    ...splits,
    dispose() {
      for (const s of Object.values(splits)) {
        s.images.dispose();
        s.labels.dispose();
      }
    },
  };
}

let be: Backend;
beforeAll(() => {
  be = createBackend({ device: 'cpu', threads: 1 });
});
afterAll(() => be.dispose());

describe('shapes too large for memory', () => {
  // Each is reported as the out-of-memory error, never as a bad shape, a crash or a hang.
  const huge: number[][] = [
    [65536, 65536, 65536, 65536], // wraps to 0 in 64 bits
    [2 ** 40], // representable, 4 TiB
    [2 ** 31], // one more than a dimension may be
    [MAX_DIMENSION, MAX_DIMENSION], // 2^62: above 2^53
    [2 ** 26, 2 ** 26], // 2^52 elements: exact, above MAX_ELEMENTS
    [1e308],
    [1e308, 1e308], // the float product is Infinity
    [2 ** 30, 2 ** 30, 2 ** 30],
    [3, 2 ** 53 - 1],
  ];
  const message = (op: string, s: number[]) =>
    `${op}: shape [${s.join(',')}] has more elements than memory can hold (at most ${MAX_DIMENSION} per dimension, ${MAX_ELEMENTS} in all)`;

  test.each(huge.map((s) => [JSON.stringify(s), s]))('zeros(%s) is an OutOfMemoryError with code LENET_OUT_OF_MEMORY', (_, s) => {
    const before = be.counters().liveBuffers;
    const e = thrown(() => be.zeros(s as number[]));
    expect(e).toBeInstanceOf(OutOfMemoryError);
    expect(e.code).toBe('LENET_OUT_OF_MEMORY');
    expect(e.message).toBe(message('zeros', s as number[]));
    expect(be.counters().liveBuffers).toBe(before);
  });

  test.each(huge.map((s) => [JSON.stringify(s), s]))('tensor(%s, data) is an OutOfMemoryError (before the data is compared)', (_, s) => {
    const e = thrown(() => be.tensor(s as number[], new Float32Array(4)));
    expect(e.code).toBe('LENET_OUT_OF_MEMORY');
    expect(e.message).toBe(message('tensor', s as number[]));
  });

  test.each(huge.map((s) => [JSON.stringify(s), s]))('reshape(%s) is an OutOfMemoryError, not a wrong element count', (_, s) => {
    const t = be.zeros([2, 2]);
    try {
      const e = thrown(() => t.reshape(s as number[]));
      expect(e.code).toBe('LENET_OUT_OF_MEMORY');
      expect(e.message).toBe(message('reshape', s as number[]));
    } finally {
      t.dispose();
    }
  });

  test.each(huge.map((s) => [JSON.stringify(s), s]))('convPoolPlan with an input of %s rows is an OutOfMemoryError', (_, s) => {
    const shape = [...(s as number[]), 1, 28, 28];
    const e = thrown(() => be.convPoolPlan(shape, [2, 1, 5, 5]));
    expect(e.code).toBe('LENET_OUT_OF_MEMORY');
    expect(e.message).toBe(message('convPoolPlan: inputShape', shape));
    const f = thrown(() => be.convPoolPlan([2, 1, 28, 28], [...(s as number[]), 1, 5, 5]));
    expect(f.code).toBe('LENET_OUT_OF_MEMORY');
  });

  test('the native check: a wrapping shape reaching the addon directly is its out-of-memory error', () => {
    const e = thrown(() => be.native.alloc([65536, 65536, 65536, 65536]));
    expect(e.message).toBe('alloc: shape [65536,65536,65536,65536] has more elements than memory can hold');
    expect(e.code).toBe('LENET_OUT_OF_MEMORY');
  });

  test('a count the shape allows but memory cannot hold is the backend\'s out-of-memory error, and the backend stays usable', () => {
    const e = thrown(() => be.zeros([2 ** 20, 2 ** 20])); // 4 TiB
    expect(e.code).toBe('LENET_OUT_OF_MEMORY');
    expect(e.message).toMatch(/^cannot allocate 4398046511104 bytes of host memory \(the machine has \d+\)$/);
    // just above the machine's memory: refused at once, not handed out by an overcommitting
    // kernel and zeroed into the OOM killer
    const rows = Math.floor(os.totalmem() / 4 / 1024) + 1024;
    const f = thrown(() => be.zeros([rows, 1024]));
    expect(f.code).toBe('LENET_OUT_OF_MEMORY');
    expect(f.message).toMatch(new RegExp(`^cannot allocate ${rows * 4096} bytes of host memory \\(the machine has \\d+\\)$`));
    const t = be.tensor([2], Float32Array.of(1, 2));
    expect(Array.from(t.readSync())).toEqual([1, 2]);
    t.dispose();
  });

  test('a zero-element shape with a dimension above the largest extent is a ShapeError naming it', () => {
    for (const [op, fn] of [
      ['zeros', () => be.zeros([2 ** 40, 0])],
      ['tensor', () => be.tensor([0, 2 ** 32], new Float32Array(0))],
    ] as const) {
      const e = thrown(fn);
      expect(e.name).toBe('ShapeError');
      expect(e.message).toMatch(new RegExp(`^${op}: shape \\[.*\\] has a dimension above ${MAX_DIMENSION}, the largest extent supported$`));
    }
  });

  test('slice rejects unsafe integers as out of range', () => {
    const t = be.zeros([4, 2]);
    try {
      expect(thrown(() => t.slice(2 ** 53, 0)).message).toBe('slice: rows [9007199254740992, 9007199254740992) are outside a tensor of 4 rows [4,2]');
    } finally {
      t.dispose();
    }
  });
});

describe('a disposed backend', () => {
  test('zeros, tensor, convPoolPlan and views throw, sync() and read() reject, naming the call', async () => {
    const b = createBackend({ device: 'cpu', threads: 1 });
    const t = b.zeros([2, 2]);
    b.dispose();
    expect(b.disposed).toBe(true);
    expect(thrown(() => b.zeros([2])).message).toBe('zeros: the cpu backend was disposed');
    expect(thrown(() => b.tensor([1], new Float32Array(1))).message).toBe('tensor: the cpu backend was disposed');
    expect(thrown(() => b.convPoolPlan([1, 1, 28, 28], [2, 1, 5, 5])).message).toBe('convPoolPlan: the cpu backend was disposed');
    expect(thrown(() => t.reshape([4])).message).toBe('reshape: the cpu backend was disposed');
    expect(thrown(() => t.slice(0, 1)).message).toBe('slice: the cpu backend was disposed');
    expect(thrown(() => new LeNet5({ backend: b })).message).toBe('LeNet5: the cpu backend was disposed');
    // async APIs reject (they do not throw at the call)
    let syncPromise: Promise<void> | undefined;
    expect(() => (syncPromise = b.sync())).not.toThrow();
    expect((await rejection(syncPromise!)).message).toBe('sync: the cpu backend was disposed');
    let readPromise: Promise<Float32Array> | undefined;
    expect(() => (readPromise = t.read())).not.toThrow();
    expect((await rejection(readPromise!)).message).toBe('read: the cpu backend was disposed');
    b.dispose(); // idempotent
  });

  test('read() of a disposed tensor rejects instead of throwing', async () => {
    const t = be.zeros([3]);
    t.dispose();
    let p: Promise<Float32Array> | undefined;
    expect(() => (p = t.read())).not.toThrow();
    expect((await rejection(p!)).message).toBe('read: tensor [3] was used after dispose()');
  });
});

describe('LeNet5 options', () => {
  const cases: [string, () => unknown, string, string][] = [
    ['no options', () => new LeNet5(undefined as never), 'TypeError', 'LeNet5: options must be an object with a backend, got undefined'],
    ['{}', () => new LeNet5({} as never), 'TypeError', 'LeNet5: options.backend must be a Backend (from createBackend()), got undefined'],
    ['a backend that is not one', () => new LeNet5({ backend: {} as never }), 'TypeError', 'LeNet5: options.backend must be a Backend (from createBackend()), got a Object'],
    ['hidden 0', () => new LeNet5({ backend: be, hidden: 0 }), 'RangeError', 'LeNet5: hidden must be an integer from 1 to 16777216, got 0'],
    ['hidden "500"', () => new LeNet5({ backend: be, hidden: '500' as never }), 'RangeError', 'LeNet5: hidden must be an integer from 1 to 16777216, got string 500'],
    ['hidden 1e9', () => new LeNet5({ backend: be, hidden: 1e9 }), 'RangeError', 'LeNet5: hidden must be an integer from 1 to 16777216, got 1000000000'],
    ['classes NaN', () => new LeNet5({ backend: be, classes: NaN }), 'RangeError', 'LeNet5: classes must be an integer from 1 to 16777216, got NaN'],
    ['imageSize 1e6', () => new LeNet5({ backend: be, imageSize: 1e6 }), 'RangeError', 'LeNet5: imageSize must be an integer from 1 to 32768, got 1000000'],
    ['nkerns [20]', () => new LeNet5({ backend: be, nkerns: [20] as never }), 'RangeError', 'LeNet5: nkerns must be two integers from 1 to 16777216, got [20]'],
    ['seed -1', () => new LeNet5({ backend: be, seed: -1 }), 'RangeError', 'LeNet5: seed must be an integer from 0 to 4294967295, got -1'],
  ];
  test.each(cases)('%s', (_, fn, name, message) => {
    const before = be.counters().liveBuffers;
    const e = thrown(fn);
    expect(e.name).toBe(name);
    expect(e.message).toBe(message);
    expect(be.counters().liveBuffers).toBe(before);
  });

  test('too many parameters for memory: a RangeError naming hidden, the count and the bound, with nothing allocated', () => {
    // 50*4*4 = 800 inputs to the hidden layer: 800 * 400000 weights is above 2^28.
    const before = be.counters().liveBuffers;
    const e = thrown(() => new LeNet5({ backend: be, hidden: 400000 }));
    expect(e.name).toBe('RangeError');
    const count = 20 * 25 + 20 + 50 * 20 * 25 + 50 + 800 * 400000 + 400000 + 400000 * 10 + 10;
    expect(e.message).toBe(
      `LeNet5: too many parameters for memory: nkerns [20,50], hidden 400000, imageSize 28 and classes 10 make ${count}, ` +
        `more than ${LENET5_MAX_PARAMETERS} (the largest array of initial values; lower hidden first, it sets the two dense layers)`,
    );
    expect(be.counters().liveBuffers).toBe(before);
  });
});

describe('a disposed model', () => {
  test('predict and evaluate reject with "the model was disposed" and upload nothing', async () => {
    const b = createBackend({ device: 'cpu', threads: 1 });
    try {
      const model = new LeNet5({ backend: b, nkerns: [2, 3], hidden: 4 });
      model.dispose();
      expect(model.disposed).toBe(true);
      expect(await live(b)).toEqual({ liveBuffers: 0, liveBytes: 0 });
      const images = new Float32Array(3 * 784);
      for (let i = 0; i < 5; i++) {
        expect((await rejection(model.predict(images))).message).toBe('predict: the model was disposed');
        expect((await rejection(model.evaluate(images, [1, 2, 3]))).message).toBe('evaluate: the model was disposed');
      }
      expect(await live(b)).toEqual({ liveBuffers: 0, liveBytes: 0 });
      const x = b.zeros([1, 1, 28, 28]);
      expect(thrown(() => model.forward(x)).message).toBe('LeNet5: the model was disposed');
      x.dispose();
    } finally {
      b.dispose();
    }
  });

  test('a predict whose forward fails frees its uploaded batches at once (not at garbage collection)', async () => {
    const b = createBackend({ device: 'cpu', threads: 1 });
    try {
      const model = new LeNet5({ backend: b, nkerns: [2, 3], hidden: 4 });
      const before = await live(b);
      // A forward that throws after the upload: the layer's weights were freed behind the model's back.
      model.layer3.W.value.dispose();
      const images = new TestRandom(5).uniform(3 * 784, 0, 1);
      for (let i = 0; i < 3; i++) {
        const e = await rejection(model.predict(images, { batchSize: 2 }));
        expect(e.message).toBe('gemm: b: tensor [4,10] was used after dispose()');
        const e2 = await rejection(model.evaluate(images, [1, 2, 3], { batchSize: 2 }));
        expect(e2.message).toBe('gemm: b: tensor [4,10] was used after dispose()');
      }
      // Only the activation buffers the layers cached for batch size 2 are new; no input batch,
      // label tensor or stats buffer is left.
      const after = await live(b);
      model.dispose();
      const activations = after.liveBuffers - before.liveBuffers;
      expect(await live(b)).toEqual({ liveBuffers: 0, liveBytes: 0 });
      // layer0/1: plan state + output; layer2: out, dLin, dx; layer3: same (one batch size)
      expect(activations).toBeLessThanOrEqual(2 * 3 + 3 + 3);
      const model2 = new LeNet5({ backend: b, nkerns: [2, 3], hidden: 4 });
      const base = await live(b);
      // each failure stops at the first batch (size 2): compare with a good predict of one such batch
      await model2.predict(images.subarray(0, 2 * 784), { batchSize: 2 });
      const good = (await live(b)).liveBuffers - base.liveBuffers;
      expect(activations).toBe(good); // exactly what a successful predict leaves cached
      model2.dispose();
    } finally {
      b.dispose();
    }
  });
});

describe('SGDTrainer and fit arguments', () => {
  let model: LeNet5;
  beforeAll(() => {
    model = new LeNet5({ backend: be, nkerns: [2, 3], hidden: 4 });
  });
  afterAll(() => model.dispose());

  test.each([
    ['a model that is not one', () => new SGDTrainer(null as never), 'TypeError', 'SGDTrainer: model must have forward, backward and params (e.g. a LeNet5), got null'],
    ['options null', () => new SGDTrainer(model, null as never), 'TypeError', 'SGDTrainer: options must be an object, got null'],
    ['learningRate "0.1"', () => new SGDTrainer(model, { learningRate: '0.1' as never }), 'RangeError', 'SGDTrainer: learningRate must be a positive number, got 0.1'],
    ['momentum 1', () => new SGDTrainer(model, { momentum: 1 }), 'RangeError', 'SGDTrainer: momentum must be a number in [0, 1), got 1'],
    ['batchSize 0', () => new SGDTrainer(model, { batchSize: 0 }), 'RangeError', 'SGDTrainer: batchSize must be a positive integer, got 0'],
    ['restoreBest "yes"', () => new SGDTrainer(model, { restoreBest: 'yes' as never }), 'TypeError', 'SGDTrainer: restoreBest must be a boolean, got string yes'],
  ] as [string, () => unknown, string, string][])('%s', (_, fn, name, message) => {
    const e = thrown(fn);
    expect(e.name).toBe(name);
    expect(e.message).toBe(message);
  });

  test('fit(null), a split missing, a wrong field or a bad callback reject naming it, and allocate nothing', async () => {
    const trainer = new SGDTrainer(model, { batchSize: 2, epochs: 1 });
    const data = dataset(be, 4, 7);
    try {
      const before = (await live(be)).liveBuffers;
      const cases: [unknown, unknown, string][] = [
        [null, {}, 'SGDTrainer.fit: data must be a Dataset with train, validation and test splits (e.g. from loadMnist()), got null'],
        [undefined, {}, 'SGDTrainer.fit: data must be a Dataset with train, validation and test splits (e.g. from loadMnist()), got undefined'],
        [{ train: data.train, validation: data.validation }, {}, 'SGDTrainer.fit: data.test must be a split {images, labels, count}, got undefined'],
        [{ ...data, train: { ...data.train, count: '4' } }, {}, 'SGDTrainer.fit: data.train.count must be a non-negative integer, got string 4'],
        [{ ...data, train: { ...data.train, images: new Float32Array(4) } }, {}, 'SGDTrainer.fit: data.train.images must be a Tensor, got a Float32Array'],
        [{ ...data, train: { ...data.train, count: 3 } }, {}, 'SGDTrainer.fit: data.train.images [4,1,28,28] must have 3 rows (data.train.count)'],
        [{ ...data, test: { ...data.test, labels: data.validation.images } }, {}, 'SGDTrainer.fit: data.test.labels [4,1,28,28] must have 4 rows (data.test.count) and rank 1'],
        [data, null, 'SGDTrainer.fit: callbacks must be an object, got null'],
        [data, { onEpoch: 'log' }, 'SGDTrainer.fit: callbacks.onEpoch must be a function, got string log'],
        [data, { signal: {} }, 'SGDTrainer.fit: callbacks.signal must be an AbortSignal, got a Object'],
      ];
      for (const [d, cb, message] of cases) {
        expect((await rejection(trainer.fit(d as never, cb as never))).message).toBe(message);
      }
      expect((await live(be)).liveBuffers).toBe(before);
    } finally {
      data.dispose();
    }
  });

  test('a second fit() on the same model while one runs is refused; after it ends, fit runs again', async () => {
    const data = dataset(be, 8, 8);
    try {
      const a = new SGDTrainer(model, { batchSize: 2, epochs: 2 });
      const b = new SGDTrainer(model, { batchSize: 2, epochs: 1 });
      const first = a.fit(data);
      const message = 'SGDTrainer: fit() is already running on this model; await it before starting another';
      expect((await rejection(b.fit(data))).message).toBe(message);
      expect((await rejection(a.fit(data))).message).toBe(message);
      const r = await first;
      expect(r.iterations).toBe(8);
      expect((await b.fit(data)).iterations).toBe(4);
      // a fit that failed releases the flag too
      await rejection(b.fit(null as never));
      expect((await b.fit(data)).iterations).toBe(4);
    } finally {
      data.dispose();
    }
  });

  test('predict and evaluate during fit: the training is what it is without them (every call queues in order on one backend)', async () => {
    const data = dataset(be, 8, 9);
    const images = new TestRandom(10).uniform(6 * 784, 0, 1);
    const run = async (withInference: boolean) => {
      const m = new LeNet5({ backend: be, nkerns: [2, 3], hidden: 4, seed: 3 });
      try {
        const trainer = new SGDTrainer(m, { batchSize: 2, epochs: 3, restoreBest: false });
        const side: Promise<unknown>[] = [];
        const fit = trainer.fit(data, {
          onBatch: () => {
            if (!withInference) return;
            // other batch sizes too, so that the layers' buffer caches evict the training's
            for (const batchSize of [1, 3, 5, 6]) side.push(m.predict(images, { batchSize }), m.evaluate(images, [0, 1, 2, 3, 4, 5], { batchSize }));
          },
        });
        const result = await fit;
        const predictions = await Promise.all(side);
        for (const p of predictions) {
          if ('probabilities' in (p as object)) {
            const probs = (p as { probabilities: Float32Array }).probabilities;
            for (let i = 0; i < 6; i++) expect(probs.subarray(i * 10, i * 10 + 10).reduce((s, v) => s + v, 0)).toBeCloseTo(1, 5);
          }
        }
        return { history: result.history.map((h) => [h.trainCost, h.trainErrorPercent]), weights: await m.arena.values.read() };
      } finally {
        m.dispose();
      }
    };
    try {
      const alone = await run(false);
      const shared = await run(true);
      expect(shared.history).toEqual(alone.history);
      expect(Array.from(shared.weights)).toEqual(Array.from(alone.weights));
    } finally {
      data.dispose();
    }
  });
});
