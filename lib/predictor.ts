/**
 * `Predictor`: gathers concurrent `predict` calls on one model into shared forward passes (a
 * service answering many requests of one image each pays one pass per batch, not per image), and
 * hands each caller exactly its own rows.
 */
import { isUint8Array } from 'util/types';
import { type Classifier, type ImageInput, type Prediction, assertUsable, countImages, predict, predictChecked } from './inference';
import { Tensor, describe } from './tensor';

/** Options of `model.predictor()`. */
export interface PredictorOptions {
  /**
   * The most images gathered into one forward pass (default 256). A call with more images than
   * this runs alone, as `model.predict` runs it; 1 turns batching off.
   */
  maxBatch?: number;
  /**
   * The longest a call waits for others while the model is busy, in milliseconds (default 2;
   * 0: no longer than the event loop's next turn). A call made while nothing of this predictor's
   * is running waits only for the calls of the same turn of the event loop.
   */
  maxDelayMs?: number;
}

/** Counters of a `Predictor`'s work so far. */
export interface PredictorStats {
  /** Calls accepted by `predict` (those that passed validation). */
  calls: number;
  /** Images in those calls. */
  images: number;
  /** Runs on the model: gathered batches plus calls run alone. */
  runs: number;
  /** The most images in one gathered batch. */
  largestBatch: number;
}

/** The largest `maxBatch` a Predictor takes. */
export const PREDICTOR_MAX_BATCH = 65536;
/** The largest `maxDelayMs` a Predictor takes (one minute: longer would only look like a hang). */
export const PREDICTOR_MAX_DELAY_MS = 60_000;

/** A call waiting in the current batch. */
interface Pending {
  /** A copy of the call's pixels, as floats. */
  images: Float32Array;
  count: number;
  resolve(p: Prediction): void;
  reject(e: unknown): void;
}

// The factor model.predict applies to byte pixels (through backend.tensor(..., 1/255)); the
// native upload multiplies in float32, and so does floatPixels, so that a byte image gives the
// same floats whether it runs alone or gathered with float images.
const BYTE_SCALE = Math.fround(1 / 255);

/** A copy of `images` as floats, scaled as the backend's upload would scale them. */
function floatPixels(images: Float32Array | Uint8Array): Float32Array {
  if (!isUint8Array(images)) return images.slice();
  const out = new Float32Array(images.length);
  for (let i = 0; i < images.length; i++) out[i] = images[i] * BYTE_SCALE;
  return out;
}

/** A bad option value: a TypeError when it is not a number at all, else a RangeError; `what` says what was expected. */
function optionError(value: unknown, what: string): Error {
  if (typeof value !== 'number') return new TypeError(`${what}, got ${typeof value === 'string' ? JSON.stringify(value) : describe(value)}`);
  return new RangeError(`${what}, got ${value}`);
}

/**
 * Batches concurrent predictions on one model (made by `model.predictor(options)`). Waiting calls
 * run as one forward pass of up to `maxBatch` images; each call resolves with its own labels and
 * probabilities, as `model.predict` would give them for its images alone. A call made while the
 * predictor has nothing running waits only for the rest of the event loop's turn (a lone request
 * pays no delay); calls made while a pass is running wait for it to finish, at most `maxDelayMs`
 * (they would queue behind it on the backend anyway, so gathering them costs no latency), or
 * until `maxBatch` images are waiting. A call with invalid images rejects at once, with
 * `model.predict`'s message, and never joins a batch. Host images (Float32Array, Uint8Array) are
 * gathered; a Tensor, already on the device, runs alone.
 */
export class Predictor {
  readonly model: Classifier;
  readonly maxBatch: number;
  readonly maxDelayMs: number;
  private queue: Pending[] = [];
  private queuedImages = 0;
  private timer: NodeJS.Timeout | NodeJS.Immediate | null = null;
  private readonly running = new Set<Promise<unknown>>();
  private closing: Promise<void> | null = null;
  private readonly counters: PredictorStats = { calls: 0, images: 0, runs: 0, largestBatch: 0 };

  constructor(model: Classifier, options: PredictorOptions = {}) {
    if (typeof options !== 'object' || options === null) throw new TypeError(`predictor: options must be an object, got ${describe(options)}`);
    for (const key of Object.keys(options)) {
      if (key !== 'maxBatch' && key !== 'maxDelayMs') throw new TypeError(`predictor: unknown option '${key}' (known: maxBatch, maxDelayMs)`);
    }
    const maxBatch = options.maxBatch ?? 256;
    const maxDelayMs = options.maxDelayMs ?? 2;
    if (!Number.isInteger(maxBatch) || maxBatch < 1 || maxBatch > PREDICTOR_MAX_BATCH) {
      throw optionError(maxBatch, `predictor: maxBatch must be an integer from 1 to ${PREDICTOR_MAX_BATCH}`);
    }
    if (typeof maxDelayMs !== 'number' || !(maxDelayMs >= 0 && maxDelayMs <= PREDICTOR_MAX_DELAY_MS)) {
      throw optionError(maxDelayMs, `predictor: maxDelayMs must be a number of milliseconds from 0 to ${PREDICTOR_MAX_DELAY_MS}`);
    }
    assertUsable(model, 'predictor');
    this.model = model;
    this.maxBatch = maxBatch;
    this.maxDelayMs = maxDelayMs;
  }

  /**
   * Class probabilities and predicted labels for one or many images (the forms `model.predict`
   * takes). Resolves when the batch the call joined has been read back. Rejects after `close()`.
   */
  predict(images: ImageInput): Promise<Prediction> {
    if (this.closing) return Promise.reject(new Error('Predictor: closed; predict() after close() or dispose() is refused (make a new one with model.predictor())'));
    let count: number;
    try {
      assertUsable(this.model, 'predict');
      count = countImages(this.model, 'predict', images);
    } catch (e) {
      return Promise.reject(e);
    }
    this.counters.calls++;
    this.counters.images += count;
    if (images instanceof Tensor || count > this.maxBatch) {
      this.counters.runs++;
      return this.track(predict(this.model, images));
    }
    if (this.queuedImages + count > this.maxBatch) this.flush();
    return new Promise<Prediction>((resolve, reject) => {
      // Copied now: model.predict reads its input during the call, and so does this (a caller may
      // reuse its buffer as soon as predict() returns).
      this.queue.push({ images: floatPixels(images), count, resolve, reject });
      this.queuedImages += count;
      if (this.queuedImages === this.maxBatch) this.flush();
      else this.arm();
    });
  }

  /** What this predictor has done so far (a copy). */
  get stats(): PredictorStats {
    return { ...this.counters };
  }

  /** True once `close()` or `dispose()` was called. */
  get closed(): boolean {
    return this.closing !== null;
  }

  /**
   * Refuses further calls and runs the waiting batch now; resolves when every accepted call has
   * settled. Idempotent. The model stays the caller's (it is not disposed).
   */
  close(): Promise<void> {
    if (!this.closing) {
      this.flush();
      this.closing = Promise.allSettled([...this.running]).then(() => undefined);
    }
    return this.closing;
  }

  /** `close()` without waiting: the calls already accepted still settle. */
  dispose(): void {
    void this.close();
  }

  // Schedules the flush of the waiting calls, unless one is scheduled: at the end of this turn of
  // the event loop when nothing runs, else after maxDelayMs (or when the running passes end).
  private arm(): void {
    if (this.timer !== null) return;
    const flush = () => this.flush();
    const idle = this.running.size === 0;
    this.timer = idle || this.maxDelayMs === 0 ? setImmediate(flush) : setTimeout(flush, this.maxDelayMs);
  }

  private disarm(): void {
    if (this.timer === null) return;
    clearTimeout(this.timer as NodeJS.Timeout);
    clearImmediate(this.timer as NodeJS.Immediate);
    this.timer = null;
  }

  // Runs the waiting calls as one forward pass and splits the result by caller.
  private flush(): void {
    this.disarm();
    const batch = this.queue;
    const total = this.queuedImages;
    if (batch.length === 0) return;
    this.queue = [];
    this.queuedImages = 0;
    this.counters.runs++;
    this.counters.largestBatch = Math.max(this.counters.largestBatch, total);
    const { imageSize, classes } = this.model.config;
    const pixels = imageSize * imageSize;
    let images = batch[0].images;
    if (batch.length > 1) {
      images = new Float32Array(total * pixels);
      let offset = 0;
      for (const p of batch) {
        images.set(p.images, offset);
        offset += p.images.length;
      }
    }
    // Each call's images were checked when it was made: the gathered pass does not scan them again.
    const run = predictChecked(this.model, images, total).then(
      (all) => {
        let row = 0;
        for (const p of batch) {
          // Copies, not views: each caller owns its arrays (and may transfer them).
          p.resolve({
            count: p.count,
            labels: all.labels.slice(row, row + p.count),
            probabilities: all.probabilities.slice(row * classes, (row + p.count) * classes),
          });
          row += p.count;
        }
      },
      (e) => batch.forEach((p) => p.reject(e)),
    );
    this.track(run);
  }

  // Keeps `p` in `running` until it settles (for close(), and to know when the model is free);
  // when the last running pass ends, the waiting calls stop waiting for maxDelayMs.
  private track<T>(p: Promise<T>): Promise<T> {
    this.running.add(p);
    const done = () => {
      this.running.delete(p);
      if (this.running.size === 0 && this.queue.length > 0) {
        this.disarm();
        this.arm();
      }
    };
    p.then(done, done);
    return p;
  }
}
