/**
 * `model.predictor()`: concurrent calls gathered into shared forward passes. Each caller must get
 * exactly what `model.predict` gives for its images alone (compared value by value against
 * separate single-call predictions on MNIST test images), invalid inputs reject only their own
 * caller, calls over maxBatch run alone, close() settles what was accepted and refuses the rest,
 * and every option is validated.
 */
import type { Backend } from '../lib/backend';
import { createBackend } from '../lib/backend';
import type { Prediction } from '../lib/inference';
import { LeNet5 } from '../lib/lenet5';
import { type MnistHost, loadMnistFiles } from '../lib/mnist';
import { PREDICTOR_MAX_BATCH, PREDICTOR_MAX_DELAY_MS, Predictor } from '../lib/predictor';
import { describeEachBackend } from './backends';
import { expectError, rejection, thrown } from './integration-helpers';

const PIXELS = 784;
let host: MnistHost;
beforeAll(() => {
  host = loadMnistFiles();
});

/** Test images from..from+n as bytes (a view) or as floats in [0, 1] (v / 255 in float64, then rounded: not the upload's float32 product). */
const bytes = (from: number, n = 1) => host.test.images.subarray(from * PIXELS, (from + n) * PIXELS);
const floats = (from: number, n = 1) => Float32Array.from(bytes(from, n), (v) => v / 255);

/** The labels and probabilities of a prediction as plain arrays, for toEqual. */
const plain = (p: Prediction) => ({ count: p.count, labels: Array.from(p.labels), probabilities: Array.from(p.probabilities) });

describeEachBackend('Predictor', (getBackend, name) => {
  // CPU: the GEMMs block M and N but always reduce K in the same 256-long blocks, and every other
  // op works row by row, so a row's floats do not depend on the batch it ran in: equality is
  // exact (asserted). CUDA: cuDNN and cuBLAS may choose other algorithms per batch size, so the
  // probabilities are compared to 1e-5 (float32 rounding of a few different summation orders).
  const exact = name.startsWith('cpu');
  let model: LeNet5;
  beforeAll(() => {
    model = new LeNet5({ backend: getBackend() });
  });
  afterAll(() => model.dispose());

  const expectSame = (got: Prediction, alone: Prediction) => {
    if (exact) {
      expect(plain(got)).toEqual(plain(alone));
      return;
    }
    expect(got.count).toBe(alone.count);
    got.probabilities.forEach((v, i) => expect(Math.abs(v - alone.probabilities[i])).toBeLessThan(1e-5));
  };

  test('120 concurrent callers (1 to 3 images, bytes or floats) each get what model.predict gives their images alone', async () => {
    const inputs = Array.from({ length: 120 }, (_, i) => (i % 2 ? bytes(i * 3, 1 + (i % 3)) : floats(i * 3, 1 + (i % 3))));
    const alone: Prediction[] = [];
    for (const x of inputs) alone.push(await model.predict(x));
    // the check can tell rows apart: neighbouring images get different probabilities
    expect(plain(alone[0]).probabilities).not.toEqual(plain(alone[2]).probabilities);

    const predictor = model.predictor({ maxBatch: 32, maxDelayMs: 50 });
    const got = await Promise.all(inputs.map((x) => predictor.predict(x)));
    got.forEach((g, i) => expectSame(g, alone[i]));
    const images = inputs.reduce((s, x) => s + x.length / PIXELS, 0);
    const stats = predictor.stats;
    expect(stats).toEqual({ calls: 120, images, runs: stats.runs, largestBatch: stats.largestBatch });
    // gathered: 240 images in batches of at most 32 (a call never splits, so a batch may close at 30 or 31)
    expect(stats.largestBatch).toBeLessThanOrEqual(32);
    expect(stats.runs).toBeGreaterThanOrEqual(Math.ceil(images / 32));
    expect(stats.runs).toBeLessThan(20);
    // each caller owns its arrays: not views of one shared buffer
    expect(got[0].probabilities.buffer).not.toBe(got[1].probabilities.buffer);
    await predictor.close();
  });

  test('a call with more images than maxBatch runs alone, as model.predict runs it', async () => {
    const predictor = model.predictor({ maxBatch: 4, maxDelayMs: 50 });
    const [small, big, small2] = await Promise.all([predictor.predict(bytes(0)), predictor.predict(bytes(1, 10)), predictor.predict(bytes(11))]);
    expectSame(big, await model.predict(bytes(1, 10)));
    expectSame(small, await model.predict(bytes(0)));
    expectSame(small2, await model.predict(bytes(11)));
    expect(predictor.stats).toEqual({ calls: 3, images: 12, runs: 2, largestBatch: 2 });
    await predictor.close();
  });

  test('a Tensor input runs alone and gets its own rows', async () => {
    const backend = getBackend();
    const t = backend.tensor(model.inputShape(3), bytes(20, 3), 1 / 255);
    try {
      const predictor = model.predictor();
      const [a, b] = await Promise.all([predictor.predict(t), predictor.predict(bytes(30))]);
      expectSame(a, await model.predict(t));
      expectSame(b, await model.predict(bytes(30)));
      expect(predictor.stats.runs).toBe(2);
      await predictor.close();
    } finally {
      t.dispose();
    }
  });
});

describe('Predictor on the CPU', () => {
  let backend: Backend;
  let model: LeNet5;
  beforeAll(() => {
    backend = createBackend({ device: 'cpu' });
    model = new LeNet5({ backend });
  });
  afterAll(async () => {
    model.dispose();
    await backend.sync();
    backend.dispose();
  });

  test('an invalid input rejects only its own caller, with model.predict\'s message; the others in its batch resolve', async () => {
    const nan = floats(0);
    nan[5] = NaN;
    const bad: unknown[] = [new Float32Array(783), nan, [0, 1], new Uint8Array(0)];
    const predictor = model.predictor({ maxBatch: 256, maxDelayMs: 20 });
    const calls = [bytes(0), ...bad, bytes(1)].map((x) => predictor.predict(x as Uint8Array));
    const settled = await Promise.allSettled(calls);
    for (const [i, x] of bad.entries()) {
      const r = settled[i + 1] as PromiseRejectedResult;
      expect(r.status).toBe('rejected');
      const direct = await rejection(model.predict(x as Uint8Array));
      expectError(r.reason, direct.name, direct.message);
    }
    expectError((settled[1] as PromiseRejectedResult).reason, 'ShapeError', 'predict: images has 783 values, expected a positive multiple of 784 (28x28 pixels per image)');
    expectError((settled[2] as PromiseRejectedResult).reason, 'RangeError', 'predict: images[5] is NaN; pixels must be finite (scaled to [0, 1])');
    expectError((settled[3] as PromiseRejectedResult).reason, 'TypeError', 'predict: images must be a Float32Array (pixels in [0, 1]), a Uint8Array (0..255) or a Tensor, got an Array');
    const first = settled[0] as PromiseFulfilledResult<Prediction>;
    const last = settled[settled.length - 1] as PromiseFulfilledResult<Prediction>;
    expect(plain(first.value)).toEqual(plain(await model.predict(bytes(0))));
    expect(plain(last.value)).toEqual(plain(await model.predict(bytes(1))));
    // the two valid calls ran as one batch; the invalid ones were never counted
    expect(predictor.stats).toEqual({ calls: 2, images: 2, runs: 1, largestBatch: 2 });
    await predictor.close();
  });

  test('calls made in one turn of the event loop, with nothing running, share one pass at the end of that turn', async () => {
    const predictor = model.predictor({ maxDelayMs: PREDICTOR_MAX_DELAY_MS }); // the delay plays no part here
    const got = await Promise.all(Array.from({ length: 10 }, (_, i) => predictor.predict(bytes(i))));
    expect(predictor.stats).toEqual({ calls: 10, images: 10, runs: 1, largestBatch: 10 });
    expect(plain(got[9])).toEqual(plain(await model.predict(bytes(9))));
    await predictor.close();
  });

  test('while a pass runs, calls wait for it to end (not for maxDelayMs), and a full batch starts at once', async () => {
    // With a one-minute delay, only the end of the running passes can start `waiting` (else the test times out).
    const predictor = model.predictor({ maxBatch: 4, maxDelayMs: PREDICTOR_MAX_DELAY_MS });
    const big = predictor.predict(bytes(0, 5)); // over maxBatch: runs alone, now
    expect(predictor.stats.runs).toBe(1);
    const full = [10, 11, 12, 13].map((i) => predictor.predict(bytes(i)));
    expect(predictor.stats.runs).toBe(2); // maxBatch reached: started in the call that filled it
    const waiting = [predictor.predict(bytes(20)), predictor.predict(bytes(21, 2))];
    expect(predictor.stats.runs).toBe(2);
    const got = await Promise.all([big, ...full, ...waiting]);
    expect(predictor.stats).toEqual({ calls: 7, images: 12, runs: 3, largestBatch: 4 });
    const inputs = [bytes(0, 5), ...[10, 11, 12, 13].map((i) => bytes(i)), bytes(20), bytes(21, 2)];
    for (const [i, x] of inputs.entries()) expect(plain(got[i])).toEqual(plain(await model.predict(x)));
    await predictor.close();
  });

  test('maxDelayMs bounds the wait behind a running pass: the waiting call starts before that pass ends', async () => {
    const predictor = model.predictor({ maxDelayMs: 1 });
    // 3000 images take about 0.15 s here, over a hundred times the 1 ms delay.
    const long = predictor.predict(bytes(0, 3000));
    const small = predictor.predict(bytes(1));
    let runsWhenLongEnded = 0;
    await Promise.all([long.then(() => (runsWhenLongEnded = predictor.stats.runs)), small]);
    // Had `small` waited for the end of `long`, it would start after this (at the end of that turn).
    expect(runsWhenLongEnded).toBe(2);
    expect(plain(await small)).toEqual(plain(await model.predict(bytes(1))));
    await predictor.close();
  });

  test('the images are read during the call: a caller may overwrite its buffer as soon as predict() returns', async () => {
    const predictor = model.predictor();
    const buffer = bytes(40).slice();
    const first = predictor.predict(buffer);
    buffer.set(bytes(41));
    const second = predictor.predict(buffer);
    const [a, b] = await Promise.all([first, second]);
    expect(plain(a)).toEqual(plain(await model.predict(bytes(40))));
    expect(plain(b)).toEqual(plain(await model.predict(bytes(41))));
    expect(predictor.stats.runs).toBe(1);
    await predictor.close();
  });

  test('maxBatch 1: every image is its own forward pass', async () => {
    const predictor = model.predictor({ maxBatch: 1 });
    await Promise.all([predictor.predict(bytes(0)), predictor.predict(bytes(1)), predictor.predict(bytes(2))]);
    expect(predictor.stats).toEqual({ calls: 3, images: 3, runs: 3, largestBatch: 1 });
    await predictor.close();
  });

  test('close(): the waiting calls settle, later calls reject with a clear error; close and dispose are idempotent', async () => {
    const predictor = model.predictor({ maxDelayMs: PREDICTOR_MAX_DELAY_MS });
    const waiting = [predictor.predict(bytes(0)), predictor.predict(bytes(1))];
    expect(predictor.closed).toBe(false);
    const closed = predictor.close();
    expect(predictor.closed).toBe(true);
    expect(predictor.close()).toBe(closed);
    predictor.dispose();
    await closed;
    const got = await Promise.all(waiting); // started by close() at once
    expect(plain(got[1])).toEqual(plain(await model.predict(bytes(1))));
    expectError(
      await rejection(predictor.predict(bytes(2))),
      'Error',
      'Predictor: closed; predict() after close() or dispose() is refused (make a new one with model.predictor())',
    );
    const other = model.predictor();
    other.dispose();
    expect((await rejection(other.predict(bytes(0)))).message).toMatch(/^Predictor: closed;/);
    await other.close();
  });

  test('options are validated, each message naming the option', () => {
    const bad: [unknown, string, string][] = [
      [{ maxBatch: 0 }, 'RangeError', `predictor: maxBatch must be an integer from 1 to ${PREDICTOR_MAX_BATCH}, got 0`],
      [{ maxBatch: 2.5 }, 'RangeError', `predictor: maxBatch must be an integer from 1 to ${PREDICTOR_MAX_BATCH}, got 2.5`],
      [{ maxBatch: PREDICTOR_MAX_BATCH + 1 }, 'RangeError', `predictor: maxBatch must be an integer from 1 to ${PREDICTOR_MAX_BATCH}, got ${PREDICTOR_MAX_BATCH + 1}`],
      [{ maxBatch: '8' }, 'TypeError', `predictor: maxBatch must be an integer from 1 to ${PREDICTOR_MAX_BATCH}, got "8"`],
      [{ maxDelayMs: [2] }, 'TypeError', `predictor: maxDelayMs must be a number of milliseconds from 0 to ${PREDICTOR_MAX_DELAY_MS}, got an Array`],
      [{ maxDelayMs: -1 }, 'RangeError', `predictor: maxDelayMs must be a number of milliseconds from 0 to ${PREDICTOR_MAX_DELAY_MS}, got -1`],
      [{ maxDelayMs: NaN }, 'RangeError', `predictor: maxDelayMs must be a number of milliseconds from 0 to ${PREDICTOR_MAX_DELAY_MS}, got NaN`],
      [{ maxDelayMs: Infinity }, 'RangeError', `predictor: maxDelayMs must be a number of milliseconds from 0 to ${PREDICTOR_MAX_DELAY_MS}, got Infinity`],
      [{ maxdelayms: 2 }, 'TypeError', "predictor: unknown option 'maxdelayms' (known: maxBatch, maxDelayMs)"],
      [null, 'TypeError', 'predictor: options must be an object, got null'],
    ];
    for (const [options, errName, message] of bad) {
      expectError(thrown(() => model.predictor(options as object)), errName, message);
    }
    const p = model.predictor({ maxBatch: 1, maxDelayMs: 0.5 });
    expect(p).toBeInstanceOf(Predictor);
    expect({ maxBatch: p.maxBatch, maxDelayMs: p.maxDelayMs }).toEqual({ maxBatch: 1, maxDelayMs: 0.5 });
    p.dispose();
  });

  test('a disposed model: predictor() throws, predict() rejects, and calls waiting when it was disposed reject', async () => {
    const m = new LeNet5({ backend });
    const predictor = m.predictor({ maxDelayMs: 20 });
    const waiting = predictor.predict(bytes(0));
    m.dispose();
    expectError(await rejection(waiting), 'Error', 'predict: the model was disposed');
    expectError(await rejection(predictor.predict(bytes(0))), 'Error', 'predict: the model was disposed');
    expectError(thrown(() => m.predictor()), 'Error', 'predictor: the model was disposed');
    await predictor.close();
  });
});
