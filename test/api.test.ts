/**
 * The public model API end to end: checkpoints (save/load round trips, every way a load can fail,
 * with no native leak), inference on any number of images and any batch size with every input
 * type (on every backend, CUDA included when present), evaluation, input validation, cancellation
 * of training with an AbortSignal, and the event loop staying responsive while training runs.
 */
import { monitorEventLoopDelay } from 'perf_hooks';
import * as fs from 'fs';
import * as path from 'path';
import { type Backend, createBackend } from '../lib/backend';
import { type Dataset, loadMnist } from '../lib/data';
import { lenet5ParameterShapes, readCheckpoint } from '../lib/checkpoint';
import { type Classifier, evaluate as evaluateWith, predict as predictWith } from '../lib/inference';
import { LogisticRegression } from '../lib/layers';
import { LeNet5, type Prediction } from '../lib/lenet5';
import { type MnistHost, loadMnistFiles } from '../lib/mnist';
import { CheckpointError, type NamedTensor, encodeSafetensors, loadSafetensors } from '../lib/safetensors';
import { SGD } from '../lib/optimizer';
import { SGDTrainer, trainStep } from '../lib/trainer';
import { describeEachBackend } from './backends';
import { expectError, rejection, tmpDir, tolerateForeignTypedArrays } from './integration-helpers';
import { TestRandom, assertClose, logitsRef, softmaxRef } from './reference';

const PIXELS = 784;
const tmp = tmpDir('api');
const DEFAULT_CKPT = path.join(tmp.dir, 'default.safetensors');
const SMALL_CKPT = path.join(tmp.dir, 'small.safetensors');
const SMALL = { nkerns: [4, 6] as [number, number], hidden: 32 };
let host: MnistHost;

// Arrays returned by the addon (`tensor.read()`) are Node's main-realm Float32Arrays, and lib's
// `instanceof` checks reject them inside jest's sandbox (even model.save() fails: see the realm
// test below). Every other test here runs as in plain Node.js, where there is one realm.
let restoreRealm: (() => void) | undefined = tolerateForeignTypedArrays();
const bytes = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

/** Trains `model` for `steps` minibatches of 100 of the first training images (host arrays). */
async function quickTrain(model: LeNet5, steps: number): Promise<void> {
  const backend = model.backend;
  const sgd = new SGD(model.params(), { learningRate: 0.1 });
  for (let s = 0; s < steps; s++) {
    const x = backend.tensor(model.inputShape(100), host.train.images.subarray(s * 100 * PIXELS, (s + 1) * 100 * PIXELS), 1 / 255);
    const y = backend.tensor([100], Float32Array.from(host.train.labels.subarray(s * 100, (s + 1) * 100)));
    trainStep(model, sgd, x, y);
    x.dispose();
    y.dispose();
  }
  sgd.dispose();
  await backend.sync();
}

beforeAll(async () => {
  host = loadMnistFiles();
  // Two trained checkpoints shared by the tests: the tutorial's network and a small one.
  const backend = createBackend({ device: 'cpu' });
  const big = new LeNet5({ backend });
  await quickTrain(big, 30);
  await big.save(DEFAULT_CKPT);
  const small = new LeNet5({ backend, ...SMALL, seed: 5 });
  await quickTrain(small, 20);
  await small.save(SMALL_CKPT);
  big.dispose();
  small.dispose();
  await backend.sync();
  backend.dispose();
});

afterAll(() => {
  restoreRealm?.();
  tmp.cleanup();
});

async function live(backend: Backend): Promise<{ liveBuffers: number; liveBytes: number }> {
  await backend.sync();
  const { liveBuffers, liveBytes } = backend.counters();
  return { liveBuffers, liveBytes };
}

// ---------------------------------------------------------------------------------------------

describe('checkpoints', () => {
  let backend: Backend;
  beforeAll(() => {
    backend = createBackend({ device: 'cpu' });
  });
  afterAll(() => backend.dispose());

  test('save/load round trip: parameters bit for bit, metadata, identical predictions', async () => {
    const a = new LeNet5({ backend, seed: 99 });
    await quickTrain(a, 3);
    const file = path.join(tmp.dir, 'roundtrip.safetensors');
    await a.save(file, { note: 'hello' });
    const { metadata, tensors } = await loadSafetensors(file);
    expect(metadata).toMatchObject({ format: 'lenet-cudnn/LeNet5', nkerns: '20,50', hidden: '500', imageSize: '28', classes: '10', seed: '99', note: 'hello' });
    expect([...tensors.keys()]).toEqual(['layer0.W', 'layer0.b', 'layer1.W', 'layer1.b', 'layer2.W', 'layer2.b', 'layer3.W', 'layer3.b']);
    expect(tensors.get('layer2.W')!.shape).toEqual([800, 500]);

    const b = await LeNet5.load(file, { backend });
    expect(b.config).toEqual({ nkerns: [20, 50], hidden: 500, imageSize: 28, classes: 10, seed: 99 });
    expect(bytes(await b.arena.values.read()).equals(bytes(await a.arena.values.read()))).toBe(true);
    const images = host.test.images.subarray(0, 50 * PIXELS);
    const pa = await a.predict(images);
    const pb = await b.predict(images);
    expect(bytes(pb.probabilities).equals(bytes(pa.probabilities))).toBe(true);
    expect(Array.from(pb.labels)).toEqual(Array.from(pa.labels));
    a.dispose();
    b.dispose();
  });

  test('a non-default architecture (nkerns [4,6], hidden 32) is read from the file', async () => {
    const m = await LeNet5.load(SMALL_CKPT, { backend });
    expect(m.config).toEqual({ nkerns: [4, 6], hidden: 32, imageSize: 28, classes: 10, seed: 5 });
    expect(m.parameterCount).toBe(4 * 25 + 4 + 6 * 4 * 25 + 6 + 96 * 32 + 32 + 32 * 10 + 10);
    const { tensors } = await loadSafetensors(SMALL_CKPT);
    const values = await m.arena.values.read();
    let offset = 0;
    for (const p of m.params()) {
      const saved = tensors.get(p.name)!;
      expect(saved.shape).toEqual([...p.shape]);
      expect(bytes(values.subarray(offset, offset + saved.data.length)).equals(bytes(saved.data))).toBe(true);
      offset += saved.data.length;
    }
    // without metadata, the architecture comes from the shapes
    const bare = path.join(tmp.dir, 'bare.safetensors');
    fs.writeFileSync(bare, encodeSafetensors([...tensors.values()]));
    const m2 = await LeNet5.load(bare, { backend });
    expect(m2.config).toEqual({ nkerns: [4, 6], hidden: 32, imageSize: 28, classes: 10, seed: 23455 });
    expect(bytes(await m2.arena.values.read()).equals(bytes(values))).toBe(true);
    m.dispose();
    m2.dispose();
  });

  test('readCheckpoint (lib/checkpoint.ts): the architecture and every value in params() order, with no backend involved', async () => {
    const { config, values } = await readCheckpoint(SMALL_CKPT);
    expect(config).toEqual({ nkerns: [4, 6], hidden: 32, imageSize: 28, classes: 10, seed: 5 });
    expect(Object.keys(lenet5ParameterShapes(config))).toEqual(['layer0.W', 'layer0.b', 'layer1.W', 'layer1.b', 'layer2.W', 'layer2.b', 'layer3.W', 'layer3.b']);
    const m = await LeNet5.load(SMALL_CKPT, { backend });
    expect(values).toHaveLength(m.parameterCount);
    expect(bytes(await m.arena.values.read()).equals(bytes(values))).toBe(true);
    m.dispose();
  });

  describe('bad checkpoints reject with a CheckpointError and allocate nothing', () => {
    let good: Map<string, NamedTensor>;
    let goodBytes: Buffer;
    beforeAll(async () => {
      good = (await loadSafetensors(DEFAULT_CKPT)).tensors;
      goodBytes = fs.readFileSync(DEFAULT_CKPT);
    });

    /** Writes `contents` to a new file and returns its path. */
    function write(name: string, contents: Uint8Array): string {
      const file = path.join(tmp.dir, name);
      fs.writeFileSync(file, contents);
      return file;
    }
    const without = (name: string) => [...good.values()].filter((t) => t.name !== name);

    async function expectLoadFails(file: string, message: string): Promise<void> {
      const before = await live(backend);
      const e = await rejection(LeNet5.load(file, { backend }));
      expect(e).toBeInstanceOf(CheckpointError);
      expectError(e, 'CheckpointError', message);
      expect(await live(backend)).toEqual(before);
    }

    test('a missing file', async () => {
      const file = path.join(tmp.dir, 'nope.safetensors');
      await expectLoadFails(file, `${file}: cannot read checkpoint: ENOENT: no such file or directory, open '${file}'`);
    });

    test('a truncated file (last 4 bytes cut; cut inside the header; shorter than the length field)', async () => {
      // The tutorial's network: an 840-byte header, 1724320 bytes of data, layer3.b last.
      expect(goodBytes.length).toBe(8 + 840 + 1724320);
      const f1 = write('trunc1.safetensors', goodBytes.subarray(0, goodBytes.length - 4));
      await expectLoadFails(f1, `${f1}: tensor layer3.b: data_offsets [1724280,1724320] run past the end of the data section (1724316 bytes)`);
      const f2 = write('trunc2.safetensors', goodBytes.subarray(0, 100));
      await expectLoadFails(f2, `${f2}: header length 840 runs past the end of the file (100 bytes, so at most 92 header bytes)`);
      const f3 = write('trunc3.safetensors', goodBytes.subarray(0, 5));
      await expectLoadFails(f3, `${f3}: file is truncated: 5 bytes, shorter than the 8-byte header length field`);
    });

    test('a wrong shape (layer1.W [50,20,3,3])', async () => {
      const tensors = [...good.values()].map((t) => (t.name === 'layer1.W' ? { name: t.name, shape: [50, 20, 3, 3], data: new Float32Array(50 * 20 * 9) } : t));
      const file = write('shape.safetensors', encodeSafetensors(tensors));
      await expectLoadFails(file, `${file}: layer1.W has shape [50,20,3,3], expected [50,20,5,5]`);
    });

    test('metadata that contradicts the shapes, or is malformed', async () => {
      const f1 = write('meta1.safetensors', encodeSafetensors([...good.values()], { hidden: '32' }));
      await expectLoadFails(f1, `${f1}: layer2.W has shape [800,500], expected [800,32]`);
      const f2 = write('meta2.safetensors', encodeSafetensors([...good.values()], { nkerns: 'a,b' }));
      await expectLoadFails(f2, `${f2}: metadata nkerns is 'a,b', expected two positive integers like 20,50`);
      const f3 = write('meta3.safetensors', encodeSafetensors([...good.values()], { hidden: '-1' }));
      await expectLoadFails(f3, `${f3}: metadata hidden is '-1', expected a positive integer`);
    });

    test('a missing tensor', async () => {
      const f1 = write('missing1.safetensors', encodeSafetensors(without('layer2.b')));
      await expectLoadFails(f1, `${f1}: missing tensor layer2.b`);
      const f2 = write('missing2.safetensors', encodeSafetensors(without('layer0.W')));
      await expectLoadFails(f2, `${f2}: missing tensor layer0.W`);
      const f3 = write('extra.safetensors', encodeSafetensors([...good.values(), { name: 'layer4.W', shape: [1], data: new Float32Array(1) }]));
      await expectLoadFails(f3, `${f3}: unexpected tensor layer4.W`);
    });

    test('a non-F32 dtype', async () => {
      const patched = Buffer.from(goodBytes);
      const header = patched.subarray(8, 8 + 840).toString('latin1');
      const at = header.indexOf('"layer3.b":{"dtype":"F32"');
      expect(at).toBeGreaterThan(0);
      patched.write('"layer3.b":{"dtype":"F64"', 8 + at, 'latin1');
      const file = write('dtype.safetensors', patched);
      await expectLoadFails(file, `${file}: tensor layer3.b has dtype F64; only F32 is supported`);
    });
  });
});

// ---------------------------------------------------------------------------------------------

/** Largest |a - b| over two arrays of the same length. */
function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

describeEachBackend('inference', (getBackend, name) => {
  const file = () => DEFAULT_CKPT;
  let model: LeNet5;
  beforeAll(async () => {
    model = await LeNet5.load(file(), { backend: getBackend() });
  });
  afterAll(() => model?.dispose());

  const u8 = (n: number) => host.test.images.subarray(0, n * PIXELS);
  const f32 = (n: number) => Float32Array.from(u8(n), (v) => v / 255);

  test.each([1, 7, 500, 1234])('predict on %i images: any batch size, Float32Array, Uint8Array and Tensor inputs agree', async (n) => {
    const backend = getBackend();
    const x = f32(n);
    const ref = await model.predict(x, { batchSize: 500 }); // the default batch size
    expect(ref.count).toBe(n);
    expect(ref.labels).toHaveLength(n);
    expect(ref.probabilities).toHaveLength(n * 10);
    // (checked in plain loops, collecting problems: one expect() per value would dominate the run
    // time. Float32Array inputs are slower under jest than in Node.js: predict() checks every pixel
    // with Number.isFinite, which is ~50x slower in jest's sandbox: 650 ms vs 14 ms per 1234 images.)
    const problems: string[] = [];
    for (let i = 0; i < n; i++) {
      const row = ref.probabilities.subarray(i * 10, i * 10 + 10);
      let sum = 0;
      let arg = 0;
      for (let j = 0; j < 10; j++) {
        if (!(row[j] >= 0 && row[j] <= 1)) problems.push(`probability [${i},${j}] is ${row[j]}`);
        sum += row[j];
        if (row[j] > row[arg]) arg = j;
      }
      if (!(Math.abs(sum - 1) < 1e-5)) problems.push(`row ${i} sums to ${sum}`);
      if (ref.labels[i] !== arg) problems.push(`label ${i} is ${ref.labels[i]}, the first argmax is ${arg}`);
    }
    const byBatchSize = new Map<number, Prediction>([[500, ref]]);
    // (batch size 1 on 1234 images adds ~2 s under jest and nothing that 500 images do not cover)
    for (const batchSize of n > 500 ? [100] : [1, 100]) {
      const p = await model.predict(x, { batchSize });
      byBatchSize.set(batchSize, p);
      expect(p.count).toBe(n);
      // different batch sizes may take other GEMM paths: equal within float rounding
      expect(maxAbsDiff(p.probabilities, ref.probabilities)).toBeLessThan(1e-5);
      for (let i = 0; i < n; i++) {
        // only a near-tie may flip a label
        const gap = Math.abs(ref.probabilities[i * 10 + p.labels[i]] - ref.probabilities[i * 10 + ref.labels[i]]);
        if (p.labels[i] !== ref.labels[i] && !(gap < 1e-5)) problems.push(`batchSize ${batchSize}: label ${i} is ${p.labels[i]}, not ${ref.labels[i]}`);
      }
    }
    expect(problems.slice(0, 10)).toEqual([]);
    // Bytes 0..255 are scaled by 1/255 on upload: exactly the floats of x / 255 (fround(b * (1/255))
    // equals fround(b / 255) for every byte), so the same batch size gives the same bits on the
    // CPU; cuDNN may pick another algorithm from one call to the next, hence a tolerance there.
    const same = (a: Float32Array, b: Float32Array) =>
      backend.kind === 'cpu' ? expect(bytes(a).equals(bytes(b))).toBe(true) : expect(maxAbsDiff(a, b)).toBeLessThan(1e-6);
    const fromBytes = await model.predict(u8(n), { batchSize: 100 });
    const fromFloats = byBatchSize.get(100)!;
    same(fromBytes.probabilities, fromFloats.probabilities);
    if (backend.kind === 'cpu') expect(Array.from(fromBytes.labels)).toEqual(Array.from(fromFloats.labels));
    // a Tensor [n,1,28,28] on the model's backend
    const t = backend.tensor(model.inputShape(n), u8(n), 1 / 255);
    const fromTensor = await model.predict(t, { batchSize: 100 });
    t.dispose();
    same(fromTensor.probabilities, fromFloats.probabilities);
  });

  test('evaluate() on the first 2000 test images equals a count from predict()', async () => {
    const n = 2000;
    const labels = host.test.labels.subarray(0, n);
    const ev = await model.evaluate(u8(n), labels);
    const p = await model.predict(u8(n));
    let errors = 0;
    let nll = 0;
    let nearTies = 0; // rows whose two best classes are within float noise: argmax may go either way
    for (let i = 0; i < n; i++) {
      if (p.labels[i] !== labels[i]) errors++;
      nll -= Math.log(p.probabilities[i * 10 + labels[i]]);
      const row = Array.from(p.probabilities.subarray(i * 10, i * 10 + 10)).sort((a, b) => b - a);
      if (row[0] - row[1] < 1e-5) nearTies++;
    }
    expect(ev.count).toBe(n);
    expect(Math.abs(ev.errors - errors)).toBeLessThanOrEqual(nearTies); // on the CPU: equal
    if (nearTies === 0) expect(ev.errors).toBe(errors);
    expect(ev.errorRate).toBe(ev.errors / n);
    expect(ev.cost).toBeCloseTo(nll / n, 4);
    console.log(`evaluate [${name}]: ${errors} errors in ${n} (${((100 * errors) / n).toFixed(2)}%), cost ${ev.cost.toFixed(4)}`);
    // a quick-trained model (30 or 20 steps of 100 images), far better than chance (90%)
    expect(ev.errorRate).toBeLessThan(0.6);
    // the same with labels as a Tensor, and another batch size
    const backend = getBackend();
    const lt = backend.tensor([n], Float32Array.from(labels));
    const ev2 = await model.evaluate(u8(n), lt, { batchSize: 333 });
    lt.dispose();
    expect(Math.abs(ev2.errors - ev.errors)).toBeLessThanOrEqual(nearTies);
    expect(ev2.cost).toBeCloseTo(ev.cost, 4);
  });

  test('predict and evaluate (lib/inference.ts) take any Classifier: a softmax regression over the pixels, against float64', async () => {
    const backend = getBackend();
    const rnd = new TestRandom(8);
    const layer = new LogisticRegression({ backend, nIn: PIXELS, nOut: 10 });
    const w = rnd.uniform(PIXELS * 10, -0.05, 0.05);
    const b = rnd.uniform(10, -0.5, 0.5);
    layer.W.value.write(w);
    layer.b.value.write(b);
    const softmaxRegression: Classifier = {
      backend,
      config: { imageSize: 28, classes: 10 },
      inputShape: (n) => [n, 1, 28, 28],
      checkImages: (images) => {
        if (images.shape.length !== 4) throw new Error('softmax regression: images must be [N,1,28,28]');
      },
      forward: (images, labels, stats) => {
        const flat = images.reshape([images.shape[0], PIXELS]);
        const probs = layer.forward(flat, labels, stats);
        flat.dispose(); // the queued ops keep its storage alive
        return probs;
      },
    };
    const n = 7;
    const x = f32(n);
    const probs = softmaxRef(logitsRef(x, n, PIXELS, w, b, 10), n, 10);
    const p = await predictWith(softmaxRegression, u8(n), { batchSize: 3 });
    expect(p.count).toBe(n);
    assertClose(p.probabilities, probs, { atol: 1e-6, rtol: 1e-5 }, 'softmax regression probabilities');
    const labels = Array.from(host.test.labels.subarray(0, n));
    const ev = await evaluateWith(softmaxRegression, x, labels, { batchSize: 4 });
    let nll = 0;
    for (let i = 0; i < n; i++) nll -= Math.log(probs[i * 10 + labels[i]]);
    expect(ev.cost).toBeCloseTo(nll / n, 5);
    expect(ev.errors).toBe(labels.filter((l, i) => p.labels[i] !== l).length);
    layer.dispose();
  });

  test('bad inputs are rejected with exact messages and leak nothing', async () => {
    const backend = getBackend();
    const before = await live(backend);
    const two = f32(2);
    expectError(await rejection(model.predict(new Float32Array(783))), 'ShapeError', 'predict: images has 783 values, expected a positive multiple of 784 (28x28 pixels per image)');
    expectError(await rejection(model.predict(new Uint8Array(785))), 'ShapeError', 'predict: images has 785 values, expected a positive multiple of 784 (28x28 pixels per image)');
    expectError(await rejection(model.predict(new Float32Array(0))), 'ShapeError', 'predict: images has 0 values, expected a positive multiple of 784 (28x28 pixels per image)');
    const nan = f32(2);
    nan[800] = NaN;
    expectError(await rejection(model.predict(nan)), 'RangeError', 'predict: images[800] is NaN; pixels must be finite (scaled to [0, 1])');
    const inf = f32(1);
    inf[3] = -Infinity;
    expectError(await rejection(model.evaluate(inf, [1])), 'RangeError', 'evaluate: images[3] is -Infinity; pixels must be finite (scaled to [0, 1])');
    expectError(await rejection(model.evaluate(two, [1, 2, 3])), 'ShapeError', 'evaluate: got 3 labels for 2 images');
    expectError(await rejection(model.evaluate(two, [1, 10])), 'RangeError', 'evaluate: labels[1] is 10, expected a class in 0..9');
    expectError(await rejection(model.evaluate(two, [-1, 0])), 'RangeError', 'evaluate: labels[0] is -1, expected a class in 0..9');
    expectError(await rejection(model.evaluate(two, [0, 2.5])), 'RangeError', 'evaluate: labels[1] is 2.5, expected a class in 0..9');
    expectError(
      await rejection(model.predict(Array.from(two) as unknown as Float32Array)),
      'TypeError',
      'predict: images must be a Float32Array (pixels in [0, 1]), a Uint8Array (0..255) or a Tensor, got an Array',
    );
    expectError(await rejection(model.predict(two, { batchSize: 0 })), 'RangeError', 'predict: batchSize must be a positive integer, got 0');
    expectError(await rejection(model.predict(two, { batchSize: 2.5 })), 'RangeError', 'predict: batchSize must be a positive integer, got 2.5');
    const flat = backend.tensor([2, PIXELS], two);
    expectError(await rejection(model.predict(flat)), 'ShapeError', 'LeNet5: images must have shape [N,1,28,28] with N >= 1, got [2,784]');
    flat.dispose();
    const lt = backend.tensor([3], Float32Array.from([1, 2, 3]));
    expectError(await rejection(model.evaluate(two, lt)), 'ShapeError', 'evaluate: labels must have shape [2], got [3]');
    lt.dispose();
    const other = createBackend({ device: 'cpu', threads: 1 });
    const elsewhere = other.tensor(model.inputShape(2), two);
    expectError(await rejection(model.predict(elsewhere)), 'Error', 'predict: images are on another backend than the model');
    elsewhere.dispose();
    other.dispose();
    expect(await live(backend)).toEqual(before);
    // the model still works
    expect((await model.predict(two)).count).toBe(2);
  });
});

// BUG (fails until fixed; shows under jest and any vm context, not in plain Node.js): lib checks
// typed arrays with `instanceof Float32Array` / `instanceof Uint8Array` (tensor.ts write, backend.ts
// tensor, lenet5.ts predict/evaluate, safetensors.ts encodeSafetensors), which is false for arrays
// of another realm. Under jest the arrays the addon returns from read() are main-realm arrays, so
// passing them back fails with the self-contradictory "must be a Float32Array ..., got a
// Float32Array", and model.save() (which encodes the arrays it read) always fails with
// "cannot encode checkpoint: tensor layer0.W: data must be a Float32Array".
// `util.types.isFloat32Array` / `isUint8Array` are realm-independent.
describe('typed arrays from another realm', () => {
  beforeAll(() => {
    restoreRealm?.();
    restoreRealm = undefined;
  });
  afterAll(() => {
    restoreRealm = tolerateForeignTypedArrays();
  });

  test('the Float32Array returned by read() is accepted by write(), backend.tensor(), predict(); model.save() works', async () => {
    const backend = createBackend({ device: 'cpu' });
    const model = await LeNet5.load(SMALL_CKPT, { backend });
    const x = backend.tensor(model.inputShape(2), host.test.images.subarray(0, 2 * PIXELS), 1 / 255);
    const pixels = await x.read();
    const errors: string[] = [];
    for (const [what, fn] of [
      ['tensor.write', () => x.write(pixels)],
      ['backend.tensor', () => backend.tensor([2, 1, 28, 28], pixels).dispose()],
    ] as const) {
      try {
        fn();
      } catch (e) {
        errors.push(`${what}: ${(e as Error).message}`);
      }
    }
    for (const [what, fn] of [
      ['predict', () => model.predict(pixels)],
      ['save', () => model.save(path.join(tmp.dir, 'realm.safetensors'))],
    ] as const) {
      try {
        await fn();
      } catch (e) {
        errors.push(`${what}: ${(e as Error).message}`);
      }
    }
    x.dispose();
    model.dispose();
    await backend.sync();
    backend.dispose();
    expect(errors).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------

describe('training with an AbortSignal', () => {
  let backend: Backend;
  let data: Dataset;
  beforeAll(async () => {
    backend = createBackend({ device: 'cpu' });
    data = await loadMnist({ backend, limit: { train: 2000, validation: 200, test: 200 } });
  });
  afterAll(async () => {
    data.dispose();
    await backend.sync();
    // everything of this file's own backend was disposed: no native buffer is left
    expect(backend.counters()).toMatchObject({ liveBuffers: 0, liveBytes: 0 });
    backend.dispose();
  });

  test('aborted before fit: rejects at once with an AbortError, trains nothing, allocates nothing', async () => {
    const model = new LeNet5({ backend, ...SMALL });
    const initial = await model.arena.values.read();
    const before = await live(backend);
    const controller = new AbortController();
    controller.abort();
    let batches = 0;
    const e = await rejection(new SGDTrainer(model, { batchSize: 100, epochs: 1 }).fit(data, { signal: controller.signal, onBatch: () => batches++ }));
    expect(e.name).toBe('AbortError');
    expect(batches).toBe(0);
    expect(await live(backend)).toEqual(before);
    expect(bytes(await model.arena.values.read()).equals(bytes(initial))).toBe(true);
    model.dispose();
  });

  // BUG (fails until fixed): fit() documents "rejects with an AbortError", and an abort during
  // training does reject with AbortError('training was aborted', { cause: reason }); but a signal
  // aborted with a reason BEFORE fit() is rejected by signal.throwIfAborted(), i.e. with the reason
  // itself (here a plain Error). Fix: `if (signal?.aborted) throw abortError(signal)` instead.
  test('a signal aborted with a custom reason: an AbortError carrying it as cause, before and during fit alike', async () => {
    const model = new LeNet5({ backend, ...SMALL });
    const reason = new Error('user cancelled');
    const during = new AbortController();
    const e1 = await rejection(
      new SGDTrainer(model, { batchSize: 100, epochs: 1 }).fit(data, { signal: during.signal, onBatch: (p) => p.done === 2 && during.abort(reason) }),
    );
    const before = new AbortController();
    before.abort(reason);
    const e2 = await rejection(new SGDTrainer(model, { batchSize: 100, epochs: 1 }).fit(data, { signal: before.signal }));
    model.dispose();
    expect({ name: e1.name, cause: e1.cause === reason }).toEqual({ name: 'AbortError', cause: true });
    expect({ name: e2.name, cause: e2.cause === reason }).toEqual({ name: 'AbortError', cause: true });
  });

  test('aborted from onBatch after 3 minibatches: rejects with an AbortError soon after; the model still works; nothing leaks', async () => {
    const before = await live(backend);
    const model = new LeNet5({ backend, ...SMALL });
    const initial = await model.arena.values.read();
    const controller = new AbortController();
    let batches = 0;
    let validations = 0;
    const e = await rejection(
      new SGDTrainer(model, { batchSize: 100, epochs: 3 }).fit(data, {
        signal: controller.signal,
        onBatch: (p) => {
          batches++;
          if (p.done === 3) controller.abort();
        },
        onValidation: () => validations++,
      }),
    );
    expect(e.name).toBe('AbortError');
    // training stops after the steps already queued (at most two in flight), long before the end of the epoch
    expect(batches).toBeGreaterThanOrEqual(3);
    expect(batches).toBeLessThanOrEqual(6);
    expect(validations).toBe(0);
    // the model trained a little and is usable
    expect(bytes(await model.arena.values.read()).equals(bytes(initial))).toBe(false);
    const p = await model.predict(host.test.images.subarray(0, 5 * PIXELS));
    expect(p.probabilities.every((v) => Number.isFinite(v))).toBe(true);
    const view = data.test.images.slice(0, 4);
    const probs = await model.forward(view).read();
    view.dispose();
    expect(probs.every((v) => Number.isFinite(v))).toBe(true);
    // and can train again
    const r = await new SGDTrainer(model, { batchSize: 100, epochs: 1 }).fit(data);
    expect(r.iterations).toBe(20);
    model.dispose();
    // the model's buffers, and the trainer's (statistics, best weights), are all freed
    expect(await live(backend)).toEqual(before);
  });
});

// ---------------------------------------------------------------------------------------------

describe('the event loop during training', () => {
  test('stays responsive: event-loop delay p99 under 200 ms, a 10 ms interval keeps firing', async () => {
    const backend = createBackend({ device: 'cpu' });
    const data = await loadMnist({ backend, limit: { train: 2000, validation: 500, test: 500 } });
    const model = new LeNet5({ backend });
    const trainer = new SGDTrainer(model, { batchSize: 500, epochs: 2 });
    const histogram = monitorEventLoopDelay({ resolution: 10 });
    let ticks = 0;
    const interval = setInterval(() => ticks++, 10);
    histogram.enable();
    const start = performance.now();
    const result = await trainer.fit(data);
    const wall = performance.now() - start;
    histogram.disable();
    clearInterval(interval);
    const ms = (ns: number) => ns / 1e6;
    console.log(
      `event loop during fit (${result.iterations} iterations, ${wall.toFixed(0)} ms): delay p50 ${ms(histogram.percentile(50)).toFixed(1)} ms, ` +
        `p99 ${ms(histogram.percentile(99)).toFixed(1)} ms, max ${ms(histogram.max).toFixed(1)} ms; ${ticks} ticks of a 10 ms interval (${(wall / 10).toFixed(0)} ideal)`,
    );
    expect(result.iterations).toBe(8);
    // Generous bounds for a loaded 2-core CI machine (the README's 20 ms target is the benchmark's
    // business): p99 of the delay, and at least a quarter of the ideal interval ticks.
    expect(ms(histogram.percentile(99))).toBeLessThan(200);
    expect(ticks).toBeGreaterThanOrEqual(Math.max(5, Math.floor(wall / 10 / 4)));
    model.dispose();
    data.dispose();
    await backend.sync();
    backend.dispose();
  });
});
