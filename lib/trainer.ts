/**
 * Minibatch SGD with the tutorial's patience-based early stopping (`SGDTrainer`), the patience
 * bookkeeping on its own (`PatienceTracker`, testable with a scripted sequence of errors), and the
 * evaluation of a model on a split.
 *
 * The training loop queues steps on the backend and only waits for the device at validation
 * points (it reads back the validation and test errors and the mean training cost, nothing else),
 * keeping at most two steps in flight so that progress can be reported and the queue stays short.
 */
import type { DeviceSplit, Dataset } from './data';
import type { LeNet5 } from './lenet5';
import type { Tensor } from './tensor';

/** Hyperparameters of `SGDTrainer`; every default is the tutorial's. */
export interface SGDOptions {
  /** Step size (default 0.1). */
  learningRate?: number;
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
  /** Put the best-validation weights back into the model when training ends (default true). */
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
  /** Aborting stops training after the step in flight; `fit` then rejects with an AbortError. */
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

/** Mean error (percent) and mean NLL of a model over a whole split, in batches. */
export async function evaluateSplit(model: LeNet5, split: DeviceSplit, batchSize: number, stats?: Tensor): Promise<{ errorPercent: number; cost: number }> {
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

/** An AbortError like the one fetch() and timers/promises throw. */
function abortError(signal: AbortSignal): Error {
  const reason = signal.reason;
  if (reason instanceof Error && reason.name === 'AbortError') return reason;
  const e = new Error('training was aborted', { cause: reason });
  e.name = 'AbortError';
  return e;
}

/** Minibatch SGD on a LeNet5 with the tutorial's early stopping. */
export class SGDTrainer {
  readonly model: LeNet5;
  readonly options: Required<Omit<SGDOptions, 'validationFrequency'>> & { validationFrequency?: number };

  constructor(model: LeNet5, options: SGDOptions = {}) {
    this.model = model;
    this.options = {
      learningRate: options.learningRate ?? 0.1,
      batchSize: options.batchSize ?? 500,
      epochs: options.epochs ?? 200,
      patience: options.patience ?? 10000,
      patienceIncrease: options.patienceIncrease ?? 2,
      improvementThreshold: options.improvementThreshold ?? 0.995,
      validationFrequency: options.validationFrequency,
      restoreBest: options.restoreBest ?? true,
    };
    const o = this.options;
    checkPositive('learningRate', o.learningRate, false);
    checkPositive('batchSize', o.batchSize, true);
    checkPositive('epochs', o.epochs, true);
    checkPositive('patience', o.patience, false);
    checkPositive('patienceIncrease', o.patienceIncrease, false);
    checkPositive('improvementThreshold', o.improvementThreshold, false);
    if (o.validationFrequency !== undefined) checkPositive('validationFrequency', o.validationFrequency, true);
  }

  /** Trains on data.train, validating on data.validation and testing each new best on data.test. */
  async fit(data: Dataset, callbacks: FitOptions = {}): Promise<TrainResult> {
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
    const trainStats = backend.zeros([2]);
    const evalStats = backend.zeros([2]);
    const best = o.restoreBest ? backend.zeros([model.arena.values.size]) : null;
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
            await backend.sync();
            throw abortError(signal);
          }
          const iter = (epoch - 1) * batches + minibatch; // the tutorial's 0-based `iter`
          const images = data.train.images.slice(minibatch * o.batchSize, o.batchSize);
          const labels = data.train.labels.slice(minibatch * o.batchSize, o.batchSize);
          model.trainStep(images, labels, o.learningRate, trainStats);
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
              if (best) backend.copy(model.arena.values, best);
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
      if (best && tracker.bestIteration >= 0) backend.copy(best, model.arena.values);
      await backend.sync();
    } finally {
      await Promise.allSettled(inflight);
      trainStats.dispose();
      evalStats.dispose();
      best?.dispose();
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
