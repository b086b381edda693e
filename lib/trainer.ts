/**
 * Minibatch SGD with the tutorial's patience-based early stopping (`SGDTrainer`), the patience
 * bookkeeping on its own (`PatienceTracker`, testable with a scripted sequence of errors), one
 * training step (`trainStep`: forward, backward, optimizer step) and the evaluation of a model on a
 * split. None of it knows the architecture: a model is anything with forward, backward and
 * params() (`TrainableModel`); the update rule is the optimizer's (lib/optimizer.ts).
 *
 * The training loop queues steps on the backend and only waits for the device at validation
 * points (it reads back the validation and test errors and the mean training cost, nothing else),
 * keeping at most two steps in flight so that progress can be reported and the queue stays short.
 */
import type { Backend } from './backend';
import type { DeviceSplit, Dataset } from './data';
import type { Parameter } from './layers';
import { type Optimizer, SGD, checkSGDOptions, parameterSlots } from './optimizer';
import { ShapeError, Tensor, describe, shapeText } from './tensor';

/**
 * What the trainer needs of a model (`LeNet5` is one): a forward pass that can add the batch's
 * summed NLL and error count to `stats`, a backward pass of the mean NLL into every parameter's
 * gradient, and the parameter list the optimizer updates.
 */
export interface TrainableModel {
  readonly backend: Backend;
  /** Class probabilities [N, classes]; with labels and stats, adds [summed NLL, errors] to stats ([2]). */
  forward(images: Tensor, labels: Tensor | null, stats: Tensor | null): Tensor;
  /** Back-propagates the mean NLL of `labels` through the last forward pass into every gradient. */
  backward(labels: Tensor): void;
  /** The trainable parameters (value and gradient tensors), in a fixed order. */
  params(): Parameter[];
}

/**
 * One training step on a minibatch: forward (adding the batch's summed cost and errors to stats
 * when given), backward, then `optimizer.step()`. Everything is queued on the backend; nothing is
 * read back. With `new SGD(model.params(), { learningRate })` this is the tutorial's step.
 */
export function trainStep(model: TrainableModel, optimizer: Optimizer, images: Tensor, labels: Tensor, stats: Tensor | null = null): void {
  model.forward(images, labels, stats);
  model.backward(labels);
  optimizer.step();
}

/** Hyperparameters of `SGDTrainer`; every default is the tutorial's. */
export interface SGDOptions {
  /** Step size (default 0.1). */
  learningRate?: number;
  /** Momentum factor in [0, 1) (default 0). Not in the tutorial, which uses plain SGD. */
  momentum?: number;
  /** L2 weight decay factor >= 0 (default 0). Not in the tutorial, which uses plain SGD. */
  weightDecay?: number;
  /** Minibatch size (default 500). */
  batchSize?: number;
  /** Maximum number of epochs (default 200). */
  epochs?: number;
  /** Minimum number of iterations to look at (default 10000). */
  patience?: number;
  /** Patience becomes at least iteration * patienceIncrease on a significant improvement (default 2). */
  patienceIncrease?: number;
  /** A relative improvement below this factor is significant (default 0.995). */
  improvementThreshold?: number;
  /** Iterations between validations (default min(training batches, patience / 2): once an epoch). */
  validationFrequency?: number;
  /** Put the best-validation weights back into the model when training ends or is aborted (default true). */
  restoreBest?: boolean;
}

/** One validation, reported as the tutorial prints it. */
export interface ValidationRecord {
  epoch: number;
  /** 1-based minibatch index within the epoch. */
  minibatch: number;
  batches: number;
  /** 0-based iteration (minibatches trained so far, minus one). */
  iteration: number;
  validationErrorPercent: number;
  validationCost: number;
  /** True when this is the best validation so far; the test error is then measured. */
  isBest: boolean;
  testErrorPercent?: number;
}

/** What happened in one epoch. */
export interface EpochRecord {
  epoch: number;
  /** Iterations trained so far (all epochs). */
  iterations: number;
  /** Mean training NLL over the epoch's minibatches (computed on the device as they trained). */
  trainCost: number;
  /** Training error over the epoch's minibatches, as they trained. */
  trainErrorPercent: number;
  /** The last validation error of the epoch, if it validated. */
  validationErrorPercent?: number;
  /** Test error, when this epoch found a new best model. */
  testErrorPercent?: number;
  /** Wall seconds of the epoch, validation included. */
  seconds: number;
}

/** Progress inside an epoch (a minibatch finished on the device). */
export interface BatchProgress {
  epoch: number;
  /** Minibatches of this epoch done. */
  done: number;
  batches: number;
  iteration: number;
}

/** Callbacks and cancellation for `fit`. */
export interface FitOptions {
  onBatch?(progress: BatchProgress): void;
  onValidation?(record: ValidationRecord): void;
  onEpoch?(record: EpochRecord): void;
  /**
   * Aborting stops training after the step in flight; `fit` then rejects with an AbortError, the
   * model holding the best-validation weights so far (with `restoreBest`, once one validation ran).
   */
  signal?: AbortSignal;
}

/** The outcome of `fit`. */
export interface TrainResult {
  /** Best validation error (percent). */
  bestValidationErrorPercent: number;
  /** The iteration it was reached at, 1-based as the tutorial prints it (best_iter + 1). */
  bestIteration: number;
  /** Test error of the best-validation model (percent). */
  testErrorPercent: number;
  /** Epochs run (the last one possibly partial when patience ran out). */
  epochs: number;
  /** Minibatches trained. */
  iterations: number;
  /** True when patience ran out before the epoch limit. */
  stoppedEarly: boolean;
  wallSeconds: number;
  secondsPerEpoch: number;
  history: EpochRecord[];
}

/** The tutorial's patience logic, apart from any training. */
export class PatienceTracker {
  /** Current patience: training stops once the iteration reaches it. */
  patience: number;
  bestLoss = Infinity;
  /** 0-based iteration of the best loss (-1 before any). */
  bestIteration = -1;
  private readonly increase: number;
  private readonly threshold: number;

  constructor(options: { patience?: number; patienceIncrease?: number; improvementThreshold?: number } = {}) {
    this.patience = options.patience ?? 10000;
    this.increase = options.patienceIncrease ?? 2;
    this.threshold = options.improvementThreshold ?? 0.995;
  }

  /**
   * Records a validation loss at a 0-based iteration; returns true when it is a new best. A loss
   * below best * improvementThreshold also extends patience to iteration * patienceIncrease.
   */
  report(iteration: number, loss: number): boolean {
    if (!(loss < this.bestLoss)) return false;
    if (loss < this.bestLoss * this.threshold) {
      this.patience = Math.max(this.patience, iteration * this.increase);
    }
    this.bestLoss = loss;
    this.bestIteration = iteration;
    return true;
  }

  /** True when training should stop after this 0-based iteration (patience <= iteration). */
  exhausted(iteration: number): boolean {
    return this.patience <= iteration;
  }
}

/**
 * Mean error (percent) and mean NLL of a model over a whole split, in batches. Only the forward
 * pass is used; `stats` ([2]) is a scratch buffer to reuse (one is made and freed when absent).
 */
export async function evaluateSplit(
  model: Pick<TrainableModel, 'backend' | 'forward'>,
  split: DeviceSplit,
  batchSize: number,
  stats?: Tensor,
): Promise<{ errorPercent: number; cost: number }> {
  const backend = model.backend;
  const acc = stats ?? backend.zeros([2]);
  backend.fill(acc, 0);
  for (let start = 0; start < split.count; start += batchSize) {
    const n = Math.min(batchSize, split.count - start);
    const images = split.images.slice(start, n);
    const labels = split.labels.slice(start, n);
    model.forward(images, labels, acc);
    images.dispose();
    labels.dispose();
  }
  const [loss, errors] = await acc.read();
  if (!stats) acc.dispose();
  return { errorPercent: (100 * errors) / split.count, cost: loss / split.count };
}

function checkPositive(name: string, v: number, integer: boolean): void {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0 || (integer && !Number.isInteger(v))) {
    throw new RangeError(`SGDTrainer: ${name} must be a positive ${integer ? 'integer' : 'number'}, got ${v}`);
  }
}

/**
 * A copy of every parameter's value, to put back later (the best-validation weights). One tensor
 * per slot of `parameterSlots`: a single flat copy for a whole arena.
 */
class WeightSnapshot {
  private readonly slots: { value: Tensor; saved: Tensor }[];

  constructor(private readonly backend: Backend, params: readonly Parameter[]) {
    this.slots = parameterSlots(params).map(({ value }) => ({ value, saved: backend.zeros([value.size]) }));
  }

  /** saved = the current values. */
  save(): void {
    for (const { value, saved } of this.slots) this.backend.copy(value, saved);
  }

  /** The values = the saved ones. */
  restore(): void {
    for (const { value, saved } of this.slots) this.backend.copy(saved, value);
  }

  dispose(): void {
    for (const { saved } of this.slots) saved.dispose();
  }
}

// The models a fit() is running on.
const training = new WeakSet<object>();

/** Throws a TypeError naming fit's `data` and the split or field that is not what fit needs. */
function checkDataset(data: unknown, backend: Backend): asserts data is Dataset {
  if (typeof data !== 'object' || data === null) {
    throw new TypeError(`SGDTrainer.fit: data must be a Dataset with train, validation and test splits (e.g. from loadMnist()), got ${describe(data)}`);
  }
  for (const name of ['train', 'validation', 'test'] as const) {
    const split = (data as Record<string, unknown>)[name] as Partial<DeviceSplit> | undefined;
    if (typeof split !== 'object' || split === null) throw new TypeError(`SGDTrainer.fit: data.${name} must be a split {images, labels, count}, got ${describe(split)}`);
    const { images, labels, count } = split;
    if (!Number.isInteger(count) || (count as number) < 0) throw new TypeError(`SGDTrainer.fit: data.${name}.count must be a non-negative integer, got ${describe(count)}`);
    for (const [field, t, shape] of [['images', images, null], ['labels', labels, [count]]] as const) {
      if (!(t instanceof Tensor)) throw new TypeError(`SGDTrainer.fit: data.${name}.${field} must be a Tensor, got ${describe(t)}`);
      if (t.backend !== backend) throw new Error(`SGDTrainer.fit: data.${name}.${field} is on another backend than the model`);
      if (t.disposed) throw new Error(`SGDTrainer.fit: data.${name}.${field} was disposed`);
      if (t.shape[0] !== count || (shape && t.shape.length !== 1)) {
        throw new ShapeError(`SGDTrainer.fit: data.${name}.${field} ${shapeText(t.shape)} must have ${count} rows (data.${name}.count)${shape ? ' and rank 1' : ''}`);
      }
    }
  }
}

/** Throws a TypeError naming the field of fit's callbacks that is not a function (or the signal). */
function checkCallbacks(callbacks: unknown): asserts callbacks is FitOptions {
  if (typeof callbacks !== 'object' || callbacks === null) throw new TypeError(`SGDTrainer.fit: callbacks must be an object, got ${describe(callbacks)}`);
  const c = callbacks as Record<string, unknown>;
  for (const name of ['onBatch', 'onValidation', 'onEpoch']) {
    if (c[name] !== undefined && typeof c[name] !== 'function') throw new TypeError(`SGDTrainer.fit: callbacks.${name} must be a function, got ${describe(c[name])}`);
  }
  if (c.signal !== undefined && !(c.signal instanceof AbortSignal)) throw new TypeError(`SGDTrainer.fit: callbacks.signal must be an AbortSignal, got ${describe(c.signal)}`);
}

/** An AbortError like the one fetch() and timers/promises throw. */
function abortError(signal: AbortSignal): Error {
  const reason = signal.reason;
  if (reason instanceof Error && reason.name === 'AbortError') return reason;
  const e = new Error('training was aborted', { cause: reason });
  e.name = 'AbortError';
  return e;
}

/**
 * Minibatch SGD with the tutorial's early stopping, on any `TrainableModel` (e.g. `LeNet5`). Each
 * `fit` builds its own `SGD` over `model.params()` (so momentum starts from zero) and frees it at
 * the end.
 */
export class SGDTrainer<M extends TrainableModel = TrainableModel> {
  readonly model: M;
  readonly options: Required<Omit<SGDOptions, 'validationFrequency'>> & { validationFrequency?: number };

  constructor(model: M, options: SGDOptions = {}) {
    if (typeof model !== 'object' || model === null || typeof model.forward !== 'function' || typeof model.backward !== 'function' || typeof model.params !== 'function') {
      throw new TypeError(`SGDTrainer: model must have forward, backward and params (e.g. a LeNet5), got ${describe(model)}`);
    }
    if (typeof options !== 'object' || options === null) throw new TypeError(`SGDTrainer: options must be an object, got ${describe(options)}`);
    if (options.restoreBest !== undefined && typeof options.restoreBest !== 'boolean') {
      throw new TypeError(`SGDTrainer: restoreBest must be a boolean, got ${describe(options.restoreBest)}`);
    }
    this.model = model;
    this.options = {
      learningRate: options.learningRate ?? 0.1,
      momentum: options.momentum ?? 0,
      weightDecay: options.weightDecay ?? 0,
      batchSize: options.batchSize ?? 500,
      epochs: options.epochs ?? 200,
      patience: options.patience ?? 10000,
      patienceIncrease: options.patienceIncrease ?? 2,
      improvementThreshold: options.improvementThreshold ?? 0.995,
      validationFrequency: options.validationFrequency,
      restoreBest: options.restoreBest ?? true,
    };
    const o = this.options;
    // The optimizer's own rules, checked here so that a bad option fails at construction.
    checkSGDOptions('SGDTrainer', o);
    checkPositive('batchSize', o.batchSize, true);
    checkPositive('epochs', o.epochs, true);
    checkPositive('patience', o.patience, false);
    checkPositive('patienceIncrease', o.patienceIncrease, false);
    checkPositive('improvementThreshold', o.improvementThreshold, false);
    if (o.validationFrequency !== undefined) checkPositive('validationFrequency', o.validationFrequency, true);
  }

  /**
   * Trains on data.train, validating on data.validation and testing each new best on data.test.
   * One fit at a time per model: a second call while one runs rejects. `predict`/`evaluate` on the
   * same model while it trains are safe: each training step (forward, backward, update) and each
   * inference call queues all its ops synchronously, and one backend runs its queue in order, so
   * they never interleave inside a step; inference sees the weights of the steps queued before it
   * (the layers' per-batch-size buffers it overwrites are rewritten by the next step's forward).
   */
  async fit(data: Dataset, callbacks: FitOptions = {}): Promise<TrainResult> {
    const { model } = this;
    checkDataset(data, model.backend);
    checkCallbacks(callbacks);
    // One fit at a time per model: two would interleave their steps on the same weights and
    // activation buffers. A flag set for the whole call, not a lock per step.
    if (training.has(model)) throw new Error('SGDTrainer: fit() is already running on this model; await it before starting another');
    training.add(model);
    try {
      return await this.run(data, callbacks);
    } finally {
      training.delete(model);
    }
  }

  private async run(data: Dataset, callbacks: FitOptions): Promise<TrainResult> {
    const { model } = this;
    const backend = model.backend;
    const o = this.options;
    const { signal } = callbacks;
    const batches = Math.floor(data.train.count / o.batchSize);
    if (batches < 1) {
      throw new RangeError(`SGDTrainer: the training set has ${data.train.count} images, fewer than one batch of ${o.batchSize}`);
    }
    if (data.validation.count < 1 || data.test.count < 1) {
      throw new RangeError('SGDTrainer: the validation and test sets must not be empty');
    }
    if (signal?.aborted) throw abortError(signal);
    const validationFrequency = o.validationFrequency ?? Math.max(1, Math.min(batches, Math.floor(o.patience / 2)));
    const tracker = new PatienceTracker(o);
    const params = model.params();
    const optimizer = new SGD(params, { learningRate: o.learningRate, momentum: o.momentum, weightDecay: o.weightDecay });
    const trainStats = backend.zeros([2]);
    const evalStats = backend.zeros([2]);
    const best = o.restoreBest ? new WeightSnapshot(backend, params) : null;
    const history: EpochRecord[] = [];
    const start = performance.now();
    let testErrorPercent = NaN;
    let bestValidationErrorPercent = NaN;
    let iteration = 0; // minibatches trained
    let epoch = 0;
    let done = false;
    const inflight: Promise<void>[] = [];
    try {
      while (epoch < o.epochs && !done) {
        epoch++;
        const epochStart = performance.now();
        backend.fill(trainStats, 0);
        let validated: ValidationRecord | undefined;
        let bestThisEpoch: number | undefined;
        let trained = 0;
        let finished = 0;
        for (let minibatch = 0; minibatch < batches; minibatch++) {
          if (signal?.aborted) {
            // As at the end of a run: the model holds the best weights so far, for a caller that
            // saves them (the CLI's Ctrl-C with --save).
            if (best && tracker.bestIteration >= 0) best.restore();
            await backend.sync();
            throw abortError(signal);
          }
          const iter = (epoch - 1) * batches + minibatch; // the tutorial's 0-based `iter`
          const images = data.train.images.slice(minibatch * o.batchSize, o.batchSize);
          const labels = data.train.labels.slice(minibatch * o.batchSize, o.batchSize);
          trainStep(model, optimizer, images, labels, trainStats);
          images.dispose();
          labels.dispose();
          iteration = iter + 1;
          trained++;
          // Keep two steps in flight: report progress as they finish, never let the queue grow.
          inflight.push(
            backend.sync().then(() => {
              finished++;
              callbacks.onBatch?.({ epoch, done: finished, batches, iteration: (epoch - 1) * batches + finished });
            }),
          );
          while (inflight.length > 2) await inflight.shift();

          if ((iter + 1) % validationFrequency === 0) {
            const v = await evaluateSplit(model, data.validation, o.batchSize, evalStats);
            const isBest = tracker.report(iter, v.errorPercent / 100);
            validated = {
              epoch,
              minibatch: minibatch + 1,
              batches,
              iteration: iter,
              validationErrorPercent: v.errorPercent,
              validationCost: v.cost,
              isBest,
            };
            if (isBest) {
              bestValidationErrorPercent = v.errorPercent;
              testErrorPercent = (await evaluateSplit(model, data.test, o.batchSize, evalStats)).errorPercent;
              validated.testErrorPercent = testErrorPercent;
              bestThisEpoch = testErrorPercent;
              best?.save();
            }
            callbacks.onValidation?.(validated);
          }
          if (tracker.exhausted(iter)) {
            done = true;
            break;
          }
        }
        while (inflight.length) await inflight.shift();
        const [cost, errors] = await trainStats.read();
        const record: EpochRecord = {
          epoch,
          iterations: iteration,
          trainCost: cost / (trained * o.batchSize),
          trainErrorPercent: (100 * errors) / (trained * o.batchSize),
          validationErrorPercent: validated?.validationErrorPercent,
          testErrorPercent: bestThisEpoch,
          seconds: (performance.now() - epochStart) / 1000,
        };
        history.push(record);
        callbacks.onEpoch?.(record);
      }
      if (best && tracker.bestIteration >= 0) best.restore();
      await backend.sync();
    } finally {
      await Promise.allSettled(inflight);
      trainStats.dispose();
      evalStats.dispose();
      best?.dispose();
      optimizer.dispose();
    }
    const wallSeconds = (performance.now() - start) / 1000;
    return {
      bestValidationErrorPercent,
      bestIteration: tracker.bestIteration + 1,
      testErrorPercent,
      epochs: epoch,
      iterations: iteration,
      stoppedEarly: done,
      wallSeconds,
      secondsPerEpoch: wallSeconds / Math.max(epoch, 1),
      history,
    };
  }
}
