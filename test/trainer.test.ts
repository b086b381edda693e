/**
 * The trainer: `PatienceTracker` against an independent re-implementation of the Theano tutorial's
 * early-stopping loop, `SGDTrainer` on real MNIST data with short schedules (callbacks, result,
 * best-weights restore, early stopping, the weights trajectory against a hand-written loop of
 * `trainStep`s with plain SGD, and with momentum and weight decay), one short real run that must
 * learn, determinism, and argument errors.
 *
 * Cost (CPU): the bookkeeping tests use a small LeNet5 (nkerns [4,6], hidden 32: the schedule
 * logic does not depend on the architecture, and it is ~7x cheaper); the real run uses the
 * tutorial's network on 10000 images (~10 s of CPU), the determinism check 2 x 2000 images.
 */
import { type Backend, createBackend } from '../lib/backend';
import { type Dataset, type DeviceSplit, loadMnist } from '../lib/data';
import { LeNet5 } from '../lib/lenet5';
import { SGD } from '../lib/optimizer';
import {
  type BatchProgress,
  type EpochRecord,
  type FitOptions,
  PatienceTracker,
  SGDTrainer,
  type SGDOptions,
  type TrainResult,
  type ValidationRecord,
  evaluateSplit,
  trainStep,
} from '../lib/trainer';
import { expectError, rejection, thrown } from './integration-helpers';

// ---------------------------------------------------------------------------------------------
// The tutorial's loop (deeplearning.net LeNet tutorial, convolutional_mlp.py), written from its
// pseudo-code and nothing else:
//   patience = 10000; patience_increase = 2; improvement_threshold = 0.995
//   validation_frequency = min(n_train_batches, patience // 2)
//   for each epoch, for each minibatch: iter = (epoch - 1) * n_train_batches + minibatch_index
//     if (iter + 1) % validation_frequency == 0:
//       if loss < best:
//         if loss < best * improvement_threshold: patience = max(patience, iter * patience_increase)
//         best = loss; best_iter = iter; (test)
//     if patience <= iter: done_looping = True; break
// ---------------------------------------------------------------------------------------------

interface Schedule {
  batches: number;
  epochs: number;
  patience?: number;
  patienceIncrease?: number;
  improvementThreshold?: number;
  validationFrequency?: number;
}

interface TraceValidation {
  iter: number;
  loss: number;
  isBest: boolean;
  patience: number;
  best: number;
  bestIter: number;
}

interface Trace {
  validations: TraceValidation[];
  /** Minibatches trained. */
  iterations: number;
  epochs: number;
  stoppedEarly: boolean;
  best: number;
  /** 0-based, -1 when there was no validation. */
  bestIter: number;
}

function tutorialLoop(s: Schedule, lossAt: (iter: number) => number): Trace {
  let patience = s.patience ?? 10000;
  const increase = s.patienceIncrease ?? 2;
  const threshold = s.improvementThreshold ?? 0.995;
  const frequency = s.validationFrequency ?? Math.min(s.batches, Math.floor(patience / 2));
  let best = Infinity;
  let bestIter = -1;
  let epoch = 0;
  let done = false;
  let iterations = 0;
  const validations: TraceValidation[] = [];
  while (epoch < s.epochs && !done) {
    epoch++;
    for (let minibatch = 0; minibatch < s.batches; minibatch++) {
      const iter = (epoch - 1) * s.batches + minibatch;
      iterations = iter + 1;
      if ((iter + 1) % frequency === 0) {
        const loss = lossAt(iter);
        let isBest = false;
        if (loss < best) {
          if (loss < best * threshold) patience = Math.max(patience, iter * increase);
          best = loss;
          bestIter = iter;
          isBest = true;
        }
        validations.push({ iter, loss, isBest, patience, best, bestIter });
      }
      if (patience <= iter) {
        done = true;
        break;
      }
    }
  }
  return { validations, iterations, epochs: epoch, stoppedEarly: done, best, bestIter };
}

/** The same loop, with every decision taken by PatienceTracker. */
function trackerLoop(s: Schedule, lossAt: (iter: number) => number): Trace {
  const tracker = new PatienceTracker({ patience: s.patience, patienceIncrease: s.patienceIncrease, improvementThreshold: s.improvementThreshold });
  const frequency = s.validationFrequency ?? Math.min(s.batches, Math.floor(tracker.patience / 2));
  let epoch = 0;
  let done = false;
  let iterations = 0;
  const validations: TraceValidation[] = [];
  while (epoch < s.epochs && !done) {
    epoch++;
    for (let minibatch = 0; minibatch < s.batches; minibatch++) {
      const iter = (epoch - 1) * s.batches + minibatch;
      iterations = iter + 1;
      if ((iter + 1) % frequency === 0) {
        const loss = lossAt(iter);
        const isBest = tracker.report(iter, loss);
        validations.push({ iter, loss, isBest, patience: tracker.patience, best: tracker.bestLoss, bestIter: tracker.bestIteration });
      }
      if (tracker.exhausted(iter)) {
        done = true;
        break;
      }
    }
  }
  return { validations, iterations, epochs: epoch, stoppedEarly: done, best: tracker.bestLoss, bestIter: tracker.bestIteration };
}

/** A small deterministic PRNG (mulberry32) for the scripted sequences. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// The tutorial's schedule: 50000 / 500 = 100 minibatches per epoch, 200 epochs, validation every
// min(100, 10000 // 2) = 100 iterations (once an epoch); k = (iter + 1) / 100 is the validation's
// 1-based index.
const TUTORIAL: Schedule = { batches: 100, epochs: 200 };
const k = (iter: number) => (iter + 1) / 100;

describe('PatienceTracker against the tutorial loop', () => {
  test("defaults are the tutorial's", () => {
    const t = new PatienceTracker();
    expect({ patience: t.patience, bestLoss: t.bestLoss, bestIteration: t.bestIteration }).toEqual({ patience: 10000, bestLoss: Infinity, bestIteration: -1 });
    expect(t.exhausted(9999)).toBe(false);
    expect(t.exhausted(10000)).toBe(true);
  });

  test('monotone improvement (1% per validation): every validation is a new best, patience keeps growing, no early stop', () => {
    const lossAt = (iter: number) => 0.1 * 0.99 ** k(iter);
    const ref = tutorialLoop(TUTORIAL, lossAt);
    expect(trackerLoop(TUTORIAL, lossAt)).toEqual(ref);
    expect(ref.validations).toHaveLength(200);
    expect(ref.validations.every((v) => v.isBest)).toBe(true);
    // patience = max(10000, 2 iter) from iter 5099 on (the first iter with 2 iter > 10000)
    expect(ref.validations.find((v) => v.iter === 4999)!.patience).toBe(10000);
    expect(ref.validations.find((v) => v.iter === 5099)!.patience).toBe(10198);
    expect(ref).toMatchObject({ iterations: 20000, epochs: 200, stoppedEarly: false, bestIter: 19999 });
    expect(ref.validations[199].patience).toBe(39998);
  });

  test('an improvement smaller than 0.5% updates the best but not the patience', () => {
    // flat at 0.1, a big improvement at iter 5999 (patience -> 11998), then 0.1% steps
    const lossAt = (iter: number) => (k(iter) < 60 ? 0.1 : 0.05 * 0.999 ** (k(iter) - 60));
    const ref = tutorialLoop(TUTORIAL, lossAt);
    expect(trackerLoop(TUTORIAL, lossAt)).toEqual(ref);
    const at = (iter: number) => ref.validations.find((v) => v.iter === iter)!;
    expect(at(5899)).toMatchObject({ isBest: false, patience: 10000, bestIter: 99 });
    expect(at(5999)).toMatchObject({ isBest: true, patience: 11998, bestIter: 5999 });
    expect(at(6099)).toMatchObject({ isBest: true, patience: 11998, bestIter: 6099 });
    // stops at the first iter >= 11998: epoch 120 (0-based iter 11998 is its minibatch 99)
    expect(ref).toMatchObject({ iterations: 11999, epochs: 120, stoppedEarly: true, bestIter: 11899 });

    const t = new PatienceTracker({ patience: 100 });
    expect(t.report(99, 0.2)).toBe(true);
    expect(t.patience).toBe(198);
    expect(t.report(199, 0.2 * 0.996)).toBe(true); // 0.4% better: a new best...
    expect(t.patience).toBe(198); // ...but not significant
    expect(t.bestIteration).toBe(199);
    // exactly at the threshold is not significant either (strict <, as in the tutorial)
    expect(t.report(299, t.bestLoss * 0.995)).toBe(true);
    expect(t.patience).toBe(198);
  });

  test('no improvement after the first validation: stops at iter 10000 exactly (epoch 101)', () => {
    const lossAt = (iter: number) => 0.2 + 0.001 * k(iter);
    const ref = tutorialLoop(TUTORIAL, lossAt);
    expect(trackerLoop(TUTORIAL, lossAt)).toEqual(ref);
    expect(ref.validations[0]).toMatchObject({ iter: 99, isBest: true, patience: 10000 }); // max(10000, 198)
    expect(ref.validations.slice(1).some((v) => v.isBest)).toBe(false);
    expect(ref.validations).toHaveLength(100); // iters 99 .. 9999
    expect(ref).toMatchObject({ iterations: 10001, epochs: 101, stoppedEarly: true, bestIter: 99 });
  });

  test('an equal loss is not an improvement', () => {
    const lossAt = () => 0.15;
    const ref = tutorialLoop(TUTORIAL, lossAt);
    expect(trackerLoop(TUTORIAL, lossAt)).toEqual(ref);
    expect(ref.validations.filter((v) => v.isBest).map((v) => v.iter)).toEqual([99]);
    expect(ref).toMatchObject({ iterations: 10001, epochs: 101, bestIter: 99 });

    const t = new PatienceTracker();
    expect(t.report(99, 0.15)).toBe(true);
    expect(t.report(199, 0.15)).toBe(false);
    expect({ bestLoss: t.bestLoss, bestIteration: t.bestIteration, patience: t.patience }).toEqual({ bestLoss: 0.15, bestIteration: 99, patience: 10000 });
    expect(t.report(299, NaN)).toBe(false); // a NaN loss is never a best
    expect(t.bestIteration).toBe(99);
  });

  test('500 random schedules and loss sequences (with ties) agree with the tutorial loop', () => {
    const rnd = prng(20240601);
    for (let n = 0; n < 500; n++) {
      const schedule: Schedule = {
        batches: 1 + Math.floor(rnd() * 20),
        epochs: 1 + Math.floor(rnd() * 30),
        patience: 2 + Math.floor(rnd() * 400),
        patienceIncrease: 1 + rnd() * 2,
        improvementThreshold: 0.9 + rnd() * 0.1,
      };
      if (rnd() < 0.5) schedule.validationFrequency = 1 + Math.floor(rnd() * 10);
      const losses = new Map<number, number>();
      let level = 0.5;
      const lossAt = (iter: number) => {
        if (!losses.has(iter)) {
          level = Math.max(0, level * (0.9 + rnd() * 0.15));
          losses.set(iter, Math.round(level * 1000) / 1000); // quantized: ties happen
        }
        return losses.get(iter)!;
      };
      const ref = tutorialLoop(schedule, lossAt);
      expect({ n, trace: trackerLoop(schedule, lossAt) }).toEqual({ n, trace: ref });
    }
  });
});

// ---------------------------------------------------------------------------------------------
// SGDTrainer on real data
// ---------------------------------------------------------------------------------------------

const SMALL = { nkerns: [4, 6] as [number, number], hidden: 32, seed: 1234 };

interface Recorded {
  result: TrainResult;
  batches: BatchProgress[];
  validations: ValidationRecord[];
  epochs: EpochRecord[];
}

async function recordFit(trainer: SGDTrainer, data: Dataset, extra: FitOptions = {}): Promise<Recorded> {
  const batches: BatchProgress[] = [];
  const validations: ValidationRecord[] = [];
  const epochs: EpochRecord[] = [];
  const result = await trainer.fit(data, {
    onBatch: (p) => batches.push({ ...p }),
    onValidation: (v) => validations.push({ ...v }),
    onEpoch: (e) => epochs.push({ ...e }),
    ...extra,
  });
  return { result, batches, validations, epochs };
}

function bytes(a: Float32Array): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

/** Checks the callback stream and the result against the tutorial loop replayed on the recorded validation errors. */
function checkAgainstTutorial(rec: Recorded, schedule: Schedule): Trace {
  const byIter = new Map(rec.validations.map((v) => [v.iteration, v.validationErrorPercent / 100]));
  const ref = tutorialLoop(schedule, (iter) => {
    const loss = byIter.get(iter);
    if (loss === undefined) throw new Error(`the tutorial validates at iter ${iter}, the trainer did not`);
    return loss;
  });
  const { result, batches, validations, epochs } = rec;
  const b = schedule.batches;
  // onValidation: one record per validation of the tutorial, with its fields
  expect(validations.map((v) => v.iteration)).toEqual(ref.validations.map((v) => v.iter));
  validations.forEach((v, i) => {
    expect(v).toMatchObject({ epoch: Math.floor(v.iteration / b) + 1, minibatch: (v.iteration % b) + 1, batches: b, isBest: ref.validations[i].isBest });
    expect(v.validationErrorPercent).toBeGreaterThanOrEqual(0);
    expect(v.validationErrorPercent).toBeLessThanOrEqual(100);
    expect(Number.isFinite(v.validationCost) && v.validationCost > 0).toBe(true);
    expect(v.testErrorPercent !== undefined).toBe(v.isBest);
  });
  // result
  const bestRecord = validations.filter((v) => v.isBest).at(-1)!;
  expect(result).toMatchObject({ iterations: ref.iterations, epochs: ref.epochs, stoppedEarly: ref.stoppedEarly, bestIteration: ref.bestIter + 1 });
  expect(bestRecord.iteration + 1).toBe(result.bestIteration);
  expect(result.bestValidationErrorPercent).toBeCloseTo(bestRecord.validationErrorPercent, 10);
  expect(result.testErrorPercent).toBe(bestRecord.testErrorPercent);
  // onEpoch: one record per epoch, the same objects as result.history
  expect(epochs).toEqual(result.history);
  expect(epochs.map((e) => e.epoch)).toEqual(Array.from({ length: ref.epochs }, (_, i) => i + 1));
  epochs.forEach((e) => {
    const inEpoch = validations.filter((v) => v.epoch === e.epoch);
    const bestInEpoch = inEpoch.filter((v) => v.isBest).at(-1);
    expect(e.iterations).toBe(Math.min(e.epoch * b, ref.iterations));
    expect(e.validationErrorPercent).toBe(inEpoch.at(-1)?.validationErrorPercent);
    expect(e.testErrorPercent).toBe(bestInEpoch?.testErrorPercent);
    expect(Number.isFinite(e.trainCost) && e.trainCost > 0).toBe(true);
    expect(e.trainErrorPercent).toBeGreaterThanOrEqual(0);
    expect(e.trainErrorPercent).toBeLessThanOrEqual(100);
    expect(e.seconds).toBeGreaterThan(0);
  });
  // onBatch: every trained minibatch once, `done` counting 1, 2, ... within each epoch
  expect(batches).toHaveLength(ref.iterations);
  for (const e of epochs) {
    const inEpoch = batches.filter((p) => p.epoch === e.epoch);
    const trained = e.iterations - (e.epoch - 1) * b;
    expect(inEpoch.map((p) => p.done)).toEqual(Array.from({ length: trained }, (_, i) => i + 1));
    expect(inEpoch.every((p) => p.batches === b && p.iteration === (e.epoch - 1) * b + p.done)).toBe(true);
  }
  expect(batches.map((p) => p.iteration)).toEqual(Array.from({ length: ref.iterations }, (_, i) => i + 1));
  return ref;
}

describe('SGDTrainer on 2000 MNIST images, batch 100 (20 minibatches an epoch)', () => {
  let backend: Backend;
  let data: Dataset;
  /** Parameters of SMALL after i plain-SGD trainStep()s over the minibatches in order (index 0: initial). */
  let trajectory: Float32Array[];
  const LR = 0.1;

  /** `steps` trainStep()s over the training minibatches of 100 in order (wrapping after 20); `after` runs after each. */
  async function trainMinibatches(model: LeNet5, sgd: SGD, steps: number, after?: () => Promise<void>): Promise<void> {
    for (let it = 0; it < steps; it++) {
      const mb = it % 20;
      const x = data.train.images.slice(mb * 100, 100);
      const y = data.train.labels.slice(mb * 100, 100);
      trainStep(model, sgd, x, y);
      x.dispose();
      y.dispose();
      await after?.();
    }
  }

  beforeAll(async () => {
    backend = createBackend({ device: 'cpu' });
    data = await loadMnist({ backend, limit: { train: 2000, validation: 1000, test: 1000 } });
    // The reference trajectory: a hand-written loop of trainStep over minibatches 0..19, 0..19.
    // Evaluations in between must not change the weights, so the trainer's weights after i
    // iterations equal these bit for bit (CPU, same thread count).
    const model = new LeNet5({ backend, ...SMALL });
    const sgd = new SGD(model.params(), { learningRate: LR });
    trajectory = [await model.arena.values.read()];
    await trainMinibatches(model, sgd, 40, async () => {
      trajectory.push(await model.arena.values.read());
    });
    sgd.dispose();
    model.dispose();
  });

  afterAll(async () => {
    data?.dispose();
    await backend?.sync();
    backend?.dispose();
  });

  /** Validation error (percent) of SMALL with the given parameters, on `split`. */
  async function errorWith(params: Float32Array, split: DeviceSplit): Promise<{ errorPercent: number; cost: number }> {
    const m = new LeNet5({ backend, ...SMALL });
    m.arena.values.write(new Float32Array(params)); // copied into this realm: see sameRealm() in api.test.ts
    const r = await evaluateSplit(m, split, 100);
    m.dispose();
    return r;
  }

  test('2 epochs, patience 30, validation every 10: callbacks and result follow the tutorial loop; the best weights are restored', async () => {
    const model = new LeNet5({ backend, ...SMALL });
    const schedule: Schedule = { batches: 20, epochs: 2, patience: 30, validationFrequency: 10 };
    const trainer = new SGDTrainer(model, { learningRate: LR, batchSize: 100, epochs: 2, patience: 30, validationFrequency: 10 });
    const rec = await recordFit(trainer, data);
    console.log(
      'SGDTrainer 2 epochs:',
      rec.validations.map((v) => `iter ${v.iteration}: ${v.validationErrorPercent}%${v.isBest ? ` (best, test ${v.testErrorPercent}%)` : ''}`).join('; '),
      `-> iterations ${rec.result.iterations}, stoppedEarly ${rec.result.stoppedEarly}, bestIteration ${rec.result.bestIteration}`,
    );
    const ref = checkAgainstTutorial(rec, schedule);
    expect(ref.validations.length).toBeGreaterThanOrEqual(3); // iters 9, 19, 29 at least

    // each validation measured the weights after iteration+1 steps
    for (const v of rec.validations) {
      const again = await errorWith(trajectory[v.iteration + 1], data.validation);
      expect(again.errorPercent).toBe(v.validationErrorPercent);
      expect(again.cost).toBeCloseTo(v.validationCost, 5);
    }
    // restoreBest (default): the model holds the best weights, bit for bit
    const values = await model.arena.values.read();
    expect(bytes(values).equals(bytes(trajectory[rec.result.bestIteration]))).toBe(true);
    // and its test error is the one reported
    expect((await evaluateSplit(model, data.test, 100)).errorPercent).toBe(rec.result.testErrorPercent);
    const testImages = new Float32Array(await data.test.images.read());
    expect((await model.evaluate(testImages, await data.test.labels.read(), { batchSize: 100 })).errorRate * 100).toBeCloseTo(rec.result.testErrorPercent, 10);
    expect((await evaluateSplit(model, data.validation, 100)).errorPercent).toBeCloseTo(rec.result.bestValidationErrorPercent, 10);
    model.dispose();
  });

  test('restoreBest: false leaves the weights of the last iteration', async () => {
    const model = new LeNet5({ backend, ...SMALL });
    const trainer = new SGDTrainer(model, { learningRate: LR, batchSize: 100, epochs: 2, patience: 30, validationFrequency: 10, restoreBest: false });
    const rec = await recordFit(trainer, data);
    checkAgainstTutorial(rec, { batches: 20, epochs: 2, patience: 30, validationFrequency: 10 });
    const values = await model.arena.values.read();
    expect(bytes(values).equals(bytes(trajectory[rec.result.iterations]))).toBe(true);
    if (rec.result.bestIteration !== rec.result.iterations) {
      expect(bytes(values).equals(bytes(trajectory[rec.result.bestIteration]))).toBe(false);
    }
    model.dispose();
  });

  test('early stop: patience 15, validation every 10 -> one validation (iter 9, patience max(15, 18) = 18), stops after iter 18', async () => {
    const model = new LeNet5({ backend, ...SMALL });
    const schedule: Schedule = { batches: 20, epochs: 5, patience: 15, validationFrequency: 10 };
    const trainer = new SGDTrainer(model, { learningRate: LR, batchSize: 100, epochs: 5, patience: 15, validationFrequency: 10 });
    const rec = await recordFit(trainer, data);
    checkAgainstTutorial(rec, schedule);
    expect(rec.result).toMatchObject({ iterations: 19, epochs: 1, stoppedEarly: true, bestIteration: 10 });
    expect(rec.validations.map((v) => v.iteration)).toEqual([9]);
    expect(rec.epochs.map((e) => e.iterations)).toEqual([19]);
    expect(bytes(await model.arena.values.read()).equals(bytes(trajectory[10]))).toBe(true);
    model.dispose();
  });

  test('the default validation frequency is once an epoch (min(batches, patience / 2))', async () => {
    const model = new LeNet5({ backend, ...SMALL });
    const trainer = new SGDTrainer(model, { learningRate: LR, batchSize: 100, epochs: 2 });
    const rec = await recordFit(trainer, data);
    checkAgainstTutorial(rec, { batches: 20, epochs: 2 });
    expect(rec.validations.map((v) => [v.epoch, v.minibatch, v.iteration])).toEqual([
      [1, 20, 19],
      [2, 20, 39],
    ]);
    model.dispose();
  });

  // BUG (fails until fixed): validationFrequency defaults to min(batches, floor(patience / 2)),
  // which is 0 for patience < 2; `(iter + 1) % 0` is NaN, so fit never validates and returns
  // bestValidationErrorPercent Infinity, testErrorPercent NaN, bestIteration 0 (the tutorial's
  // Python would raise ZeroDivisionError). The frequency must be at least 1.
  test('patience 1 still validates (the default validation frequency is at least 1)', async () => {
    const model = new LeNet5({ backend, ...SMALL });
    const trainer = new SGDTrainer(model, { learningRate: LR, batchSize: 100, epochs: 1, patience: 1 });
    const rec = await recordFit(trainer, data);
    expect(rec.validations.length).toBeGreaterThanOrEqual(1);
    expect(Number.isFinite(rec.result.bestValidationErrorPercent)).toBe(true);
    expect(Number.isFinite(rec.result.testErrorPercent)).toBe(true);
    expect(rec.result.bestIteration).toBeGreaterThanOrEqual(1);
    model.dispose();
  });

  // BUG (fails until fixed): fit stores errorPercent / 100 in the PatienceTracker and returns
  // bestLoss * 100, which is not always the validation error it measured: 0.9 / 100 * 100 is
  // 0.9000000000000001 (so are 93 of the 1001 values k / 10 for k = 0..1000).
  test('bestValidationErrorPercent is exactly the best validation record (9 errors in 1000 -> 0.9, not 0.9000000000000001)', async () => {
    // A model trained for 10 steps (a fresh one has an all-zero last layer: every image ties),
    // then frozen by a learning rate of 1e-30 (w - 1e-30 g rounds back to w in float32), and a
    // validation set labelled with its own predictions except for 9 images: exactly 9 errors in 1000.
    const model = new LeNet5({ backend, ...SMALL });
    const sgd = new SGD(model.params(), { learningRate: LR });
    await trainMinibatches(model, sgd, 10);
    sgd.dispose();
    const images = new Float32Array(await data.validation.images.read()); // this realm's Float32Array (api.test.ts)
    const predicted = (await model.predict(images)).labels;
    const labels = Float32Array.from(predicted);
    for (let i = 0; i < 9; i++) labels[i * 100] = (labels[i * 100] + 1) % 10;
    const validation = { images: data.validation.images, labels: backend.tensor([1000], labels), count: 1000 };
    const tiny: Dataset = { train: data.train, validation, test: data.test, dispose() {} };
    const trainer = new SGDTrainer(model, { learningRate: 1e-30, batchSize: 100, epochs: 1, validationFrequency: 20 });
    const rec = await recordFit(trainer, tiny);
    validation.labels.dispose();
    expect(rec.validations.map((v) => v.validationErrorPercent)).toEqual([0.9]);
    expect(rec.result.bestValidationErrorPercent).toBe(0.9);
    model.dispose();
  });

  test('momentum and weightDecay (not in the tutorial): the weights equal a hand-written loop of trainStep with the same SGD, and the optimizer is freed', async () => {
    const options = { learningRate: LR, momentum: 0.9, weightDecay: 1e-3 };
    const ref = new LeNet5({ backend, ...SMALL });
    const sgd = new SGD(ref.params(), options);
    await trainMinibatches(ref, sgd, 20);
    const expected = await ref.arena.values.read();
    sgd.dispose();
    ref.dispose();
    const model = new LeNet5({ backend, ...SMALL });
    // A forward and backward pass of batch 100 first makes the layers' activation buffers, so the
    // buffers live after fit can be compared with those before (gradients are overwritten by fit).
    const x = data.train.images.slice(0, 100);
    const y = data.train.labels.slice(0, 100);
    model.forward(x, y, null);
    model.backward(y);
    x.dispose();
    y.dispose();
    await backend.sync();
    const before = backend.counters();
    const trainer = new SGDTrainer(model, { ...options, batchSize: 100, epochs: 1, validationFrequency: 10, restoreBest: false });
    const rec = await recordFit(trainer, data);
    expect(rec.result.iterations).toBe(20);
    await backend.sync();
    expect(backend.counters().liveBuffers).toBe(before.liveBuffers); // the velocity went with the optimizer
    const values = await model.arena.values.read();
    expect(bytes(values).equals(bytes(expected))).toBe(true);
    expect(bytes(values).equals(bytes(trajectory[20]))).toBe(false); // not plain SGD
    model.dispose();
  });

  describe('argument errors', () => {
    const model = () => new LeNet5({ backend, ...SMALL });
    const cases: [SGDOptions, string][] = [
      [{ learningRate: 0 }, 'SGDTrainer: learningRate must be a positive number, got 0'],
      [{ learningRate: -0.1 }, 'SGDTrainer: learningRate must be a positive number, got -0.1'],
      [{ learningRate: NaN }, 'SGDTrainer: learningRate must be a positive number, got NaN'],
      [{ learningRate: Infinity }, 'SGDTrainer: learningRate must be a positive number, got Infinity'],
      [{ batchSize: 1.5 }, 'SGDTrainer: batchSize must be a positive integer, got 1.5'],
      [{ batchSize: 0 }, 'SGDTrainer: batchSize must be a positive integer, got 0'],
      [{ epochs: -1 }, 'SGDTrainer: epochs must be a positive integer, got -1'],
      [{ epochs: 0 }, 'SGDTrainer: epochs must be a positive integer, got 0'],
      [{ epochs: 2.5 }, 'SGDTrainer: epochs must be a positive integer, got 2.5'],
      [{ patience: 0 }, 'SGDTrainer: patience must be a positive number, got 0'],
      [{ patienceIncrease: -2 }, 'SGDTrainer: patienceIncrease must be a positive number, got -2'],
      [{ improvementThreshold: 0 }, 'SGDTrainer: improvementThreshold must be a positive number, got 0'],
      [{ validationFrequency: 0 }, 'SGDTrainer: validationFrequency must be a positive integer, got 0'],
      [{ validationFrequency: 2.5 }, 'SGDTrainer: validationFrequency must be a positive integer, got 2.5'],
      [{ momentum: 1 }, 'SGDTrainer: momentum must be a number in [0, 1), got 1'],
      [{ momentum: -0.1 }, 'SGDTrainer: momentum must be a number in [0, 1), got -0.1'],
      [{ momentum: NaN }, 'SGDTrainer: momentum must be a number in [0, 1), got NaN'],
      [{ weightDecay: -1 }, 'SGDTrainer: weightDecay must be a non-negative number, got -1'],
      [{ weightDecay: Infinity }, 'SGDTrainer: weightDecay must be a non-negative number, got Infinity'],
    ];
    test.each(cases)('new SGDTrainer(model, %j) throws a RangeError', (options, message) => {
      const m = model();
      expectError(thrown(() => new SGDTrainer(m, options)), 'RangeError', message);
      m.dispose();
    });

    test('fit rejects a training set smaller than one batch, and empty validation or test sets, allocating nothing', async () => {
      const m = model();
      await backend.sync();
      const before = backend.counters();
      const e = await rejection(new SGDTrainer(m, { batchSize: 2001 }).fit(data));
      expectError(e, 'RangeError', 'SGDTrainer: the training set has 2000 images, fewer than one batch of 2001');
      const empty = { images: backend.zeros([0, 1, 28, 28]), labels: backend.zeros([0]), count: 0 };
      const noValidation: Dataset = { train: data.train, validation: empty, test: data.test, dispose() {} };
      const e2 = await rejection(new SGDTrainer(m, { batchSize: 100 }).fit(noValidation));
      expectError(e2, 'RangeError', 'SGDTrainer: the validation and test sets must not be empty');
      const noTest: Dataset = { train: data.train, validation: data.validation, test: empty, dispose() {} };
      expectError(await rejection(new SGDTrainer(m, { batchSize: 100 }).fit(noTest)), 'RangeError', 'SGDTrainer: the validation and test sets must not be empty');
      empty.images.dispose();
      empty.labels.dispose();
      await backend.sync();
      expect(backend.counters().liveBuffers).toBe(before.liveBuffers);
      expect(backend.counters().liveBytes).toBe(before.liveBytes);
      m.dispose();
    });
  });
});

describe('a short real run', () => {
  test("the tutorial's network, lr 0.1, batch 500, 2 epochs on the first 10000 training images learns", async () => {
    const backend = createBackend({ device: 'cpu' });
    // Validation on the first 2000 validation images and testing on 1000 test images keep the
    // run at ~10 s of CPU; the error estimate's standard error is then ~0.8 points.
    const data = await loadMnist({ backend, limit: { train: 10000, validation: 2000, test: 1000 } });
    const model = new LeNet5({ backend }); // the tutorial's seed 23455
    const trainer = new SGDTrainer(model, { learningRate: 0.1, batchSize: 500, epochs: 2 });
    const rec = await recordFit(trainer, data);
    const { result } = rec;
    console.log(
      `real run (10000 images, 2 epochs): validation ${rec.validations.map((v) => v.validationErrorPercent + '%').join(' -> ')}, ` +
        `test ${result.testErrorPercent}%, training cost ${result.history.map((h) => h.trainCost.toFixed(4)).join(' -> ')}`,
    );
    checkAgainstTutorial(rec, { batches: 20, epochs: 2 });
    // Threshold: measured on this machine (OpenBLAS, 2 threads) the validation error is 32.15%
    // after epoch 1 and 17.1% after epoch 2 (on the full 10000-image validation set: 15.47%);
    // seeds 1 and 2 give 15.0% and 15.65%. Chance is 90% error, and a broken gradient or update
    // stays near it. 25% leaves ~8 points (about 10 standard errors of the estimate) for other
    // CPUs, thread counts and BLAS builds, and is still far below the epoch-1 error of every seed
    // tried (24.9 - 32.2%): the second epoch must have kept learning.
    expect(result.bestValidationErrorPercent).toBeLessThan(25);
    expect(result.testErrorPercent).toBeLessThan(27);
    expect(result.bestIteration).toBe(40);
    // the training cost falls from ln(10) = 2.30 (measured: 2.017 -> 1.043)
    expect(result.history[0].trainCost).toBeLessThan(2.3);
    expect(result.history[1].trainCost).toBeLessThan(result.history[0].trainCost * 0.8);
    model.dispose();
    data.dispose();
    await backend.sync();
    backend.dispose();
  });

  test('two CPU runs with the same seed and thread count give bit-identical validation errors, costs and parameters', async () => {
    const run = async () => {
      const backend = createBackend({ device: 'cpu', threads: 2 });
      const data = await loadMnist({ backend, limit: { train: 2000, validation: 500, test: 500 } });
      const model = new LeNet5({ backend, seed: 777 });
      const initial = await model.arena.values.read();
      const rec = await recordFit(new SGDTrainer(model, { learningRate: 0.1, batchSize: 500, epochs: 1, validationFrequency: 2 }), data);
      const values = await model.arena.values.read();
      model.dispose();
      data.dispose();
      await backend.sync();
      backend.dispose();
      return { initial, values, validations: rec.validations, history: rec.result.history };
    };
    const a = await run();
    const b = await run();
    expect(a.validations).toHaveLength(2);
    expect(b.validations.map((v) => [v.validationErrorPercent, v.validationCost, v.testErrorPercent])).toEqual(
      a.validations.map((v) => [v.validationErrorPercent, v.validationCost, v.testErrorPercent]),
    );
    expect(b.history.map((h) => [h.trainCost, h.trainErrorPercent])).toEqual(a.history.map((h) => [h.trainCost, h.trainErrorPercent]));
    expect(bytes(b.values).equals(bytes(a.values))).toBe(true);
    expect(bytes(a.values).equals(bytes(a.initial))).toBe(false); // it did train
  });
});
