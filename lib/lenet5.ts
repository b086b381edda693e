/**
 * `LeNet5`: the tutorial's network — two `LeNetConvPoolLayer`s, a `HiddenLayer` and a
 * `LogisticRegression` — with its parameters, forward and backward passes, on any backend.
 *
 * Only the model lives here. The update rule is the optimizer's (lib/optimizer.ts, driven by
 * lib/trainer.ts), the batching of inference is lib/inference.ts and the checkpoint format
 * lib/checkpoint.ts; `predict`, `evaluate`, `save` and `LeNet5.load` are one-line delegates kept
 * so that the model's API reads as before.
 */
import { Backend } from './backend';
import { readCheckpoint, saveCheckpoint } from './checkpoint';
import { type Classifier, type Evaluation, type ImageInput, type InferenceOptions, type Prediction, evaluate, predict } from './inference';
import { Predictor, type PredictorOptions } from './predictor';
import { HiddenLayer, LeNetConvPoolLayer, LogisticRegression, type Parameter, ParameterArena } from './layers';
import { RandomState } from './rng';
import { LENET5_FILTER, checkImageBatch, lenet5FeatureSide } from './shapes';
import { type Tensor, describe } from './tensor';
import type { TrainableModel } from './trainer';

// Moved to lib/inference.ts and lib/checkpoint.ts; re-exported for code that imports them from here.
export type { Evaluation, ImageInput, InferenceOptions, Prediction } from './inference';
export { lenet5ParameterShapes } from './checkpoint';

/** Options of `LeNet5`; the defaults are the tutorial's. */
export interface LeNet5Options {
  backend: Backend;
  /** Filters of layer0 and layer1 (default [20, 50]). */
  nkerns?: readonly [number, number];
  /** Units of the hidden layer (default 500). */
  hidden?: number;
  /** Seed of the weight initialization (default 23455, numpy RandomState-compatible). */
  seed?: number;
  /** Input image side (default 28). */
  imageSize?: number;
  /** Classes (default 10). */
  classes?: number;
}

/** The largest nkerns entry, hidden and classes `LeNet5` takes (each a count of units). */
export const LENET5_MAX_WIDTH = 2 ** 24;
/** The largest imageSize `LeNet5` takes. */
export const LENET5_MAX_IMAGE_SIZE = 2 ** 15;
/**
 * The most parameters a `LeNet5` may have: 2^28 (1 GiB of float32 values, as many for gradients),
 * below the length of the largest typed array the initial values are drawn into.
 */
export const LENET5_MAX_PARAMETERS = 2 ** 28;

/** The number of parameters of a LeNet5 of this architecture (side2: the last feature maps' side). */
function lenet5ParameterCount(nkerns: readonly number[], hidden: number, side2: number, classes: number): number {
  const [k0, k1] = nkerns;
  const k = LENET5_FILTER * LENET5_FILTER;
  return k0 * k + k0 + k1 * k0 * k + k1 + k1 * side2 * side2 * hidden + hidden + hidden * classes + classes;
}

function describeValue(v: unknown): string {
  return typeof v === 'number' ? String(v) : describe(v);
}

/** The architecture of a LeNet5, as saved in checkpoints. */
export interface LeNet5Config {
  nkerns: [number, number];
  hidden: number;
  imageSize: number;
  classes: number;
  seed: number;
}


/**
 * LeNet5 as in the Theano tutorial:
 * input [N,1,28,28] -> layer0 (conv 5x5, nkerns[0] filters, pool, tanh) -> [N,20,12,12]
 * -> layer1 (conv 5x5, nkerns[1] filters, pool, tanh) -> [N,50,4,4] -> layer2 (800 -> 500, tanh)
 * -> layer3 (500 -> 10, softmax). Initial weights are drawn from one RandomState(seed) in the
 * tutorial's order (layer0.W, layer1.W, layer2.W), so they equal the tutorial's (conv kernels
 * flipped, since we use cross-correlation where Theano convolves).
 */
export class LeNet5 implements TrainableModel, Classifier {
  readonly backend: Backend;
  readonly config: LeNet5Config;
  readonly layer0: LeNetConvPoolLayer;
  readonly layer1: LeNetConvPoolLayer;
  readonly layer2: HiddenLayer;
  readonly layer3: LogisticRegression;
  /** The parameters' contiguous value and gradient buffers. */
  readonly arena: ParameterArena;
  private wasDisposed = false;

  constructor(options: LeNet5Options) {
    if (typeof options !== 'object' || options === null) {
      throw new TypeError(`LeNet5: options must be an object with a backend, got ${describe(options)}`);
    }
    const backend = options.backend;
    if (!(backend instanceof Backend)) {
      throw new TypeError(`LeNet5: options.backend must be a Backend (from createBackend()), got ${describe(backend)}`);
    }
    backend.assertOpen('LeNet5');
    const nkerns = options.nkerns ?? [20, 50];
    const hidden = options.hidden ?? 500;
    const seed = options.seed ?? 23455;
    const imageSize = options.imageSize ?? 28;
    const classes = options.classes ?? 10;
    if (!Array.isArray(nkerns) || nkerns.length !== 2 || nkerns.some((k) => !Number.isInteger(k) || k < 1 || k > LENET5_MAX_WIDTH)) {
      throw new RangeError(`LeNet5: nkerns must be two integers from 1 to ${LENET5_MAX_WIDTH}, got ${JSON.stringify(nkerns)}`);
    }
    for (const [name, v, max] of [['hidden', hidden, LENET5_MAX_WIDTH], ['imageSize', imageSize, LENET5_MAX_IMAGE_SIZE], ['classes', classes, LENET5_MAX_WIDTH]] as const) {
      if (!Number.isInteger(v) || v < 1 || v > max) throw new RangeError(`LeNet5: ${name} must be an integer from 1 to ${max}, got ${describeValue(v)}`);
    }
    if (!Number.isInteger(seed) || seed < 0 || seed > 2 ** 32 - 1) {
      throw new RangeError(`LeNet5: seed must be an integer from 0 to ${2 ** 32 - 1}, got ${describeValue(seed)}`);
    }
    const side2 = lenet5FeatureSide(imageSize);
    if (side2 < 1) throw new RangeError(`LeNet5: imageSize ${imageSize} is too small for two 5x5 conv + 2x2 pool layers (needs at least 16)`);
    const count = lenet5ParameterCount(nkerns, hidden, side2, classes);
    if (count > LENET5_MAX_PARAMETERS) {
      throw new RangeError(
        `LeNet5: too many parameters for memory: nkerns ${JSON.stringify(nkerns)}, hidden ${hidden}, imageSize ${imageSize} and classes ${classes} ` +
          `make ${count}, more than ${LENET5_MAX_PARAMETERS} (the largest array of initial values; lower hidden first, it sets the two dense layers)`,
      );
    }
    this.backend = backend;
    this.config = { nkerns: [nkerns[0], nkerns[1]], hidden, imageSize, classes, seed };
    const rng = new RandomState(seed);
    this.arena = new ParameterArena(backend);
    const arena = this.arena;
    this.layer0 = new LeNetConvPoolLayer({ backend, rng, arena, name: 'layer0', inputChannels: 1, filters: nkerns[0], filterSize: LENET5_FILTER });
    this.layer1 = new LeNetConvPoolLayer({ backend, rng, arena, name: 'layer1', inputChannels: nkerns[0], filters: nkerns[1], filterSize: LENET5_FILTER });
    this.layer2 = new HiddenLayer({ backend, rng, arena, name: 'layer2', nIn: nkerns[1] * side2 * side2, nOut: hidden });
    this.layer3 = new LogisticRegression({ backend, arena, name: 'layer3', nIn: hidden, nOut: classes });
    arena.build();
  }

  /** Every parameter in the tutorial's order: layer0.W, layer0.b, ..., layer3.b. */
  params(): Parameter[] {
    return this.arena.params();
  }

  /** Total number of trainable values. */
  get parameterCount(): number {
    return this.arena.values.size;
  }

  /** The input shape for a batch of n images. */
  inputShape(n: number): number[] {
    return [n, 1, this.config.imageSize, this.config.imageSize];
  }

  /**
   * Class probabilities [N, classes] for images [N,1,28,28] (a buffer of the model's, overwritten
   * by the next call with the same N). With labels and stats, also adds the batch's summed NLL and
   * error count to stats ([2]).
   */
  forward(images: Tensor, labels: Tensor | null = null, stats: Tensor | null = null): Tensor {
    this.checkImages(images);
    const h0 = this.layer0.forward(images);
    const h1 = this.layer1.forward(h0);
    const h2 = this.layer2.forward(h1);
    return this.layer3.forward(h2, labels, stats);
  }

  /** Back-propagates the mean NLL of `labels` through the last forward pass into every gradient. */
  backward(labels: Tensor): void {
    const d3 = this.layer3.backward(labels, true)!;
    const d2 = this.layer2.backward(d3, true)!;
    const d1 = this.layer1.backward(d2, true)!;
    this.layer0.backward(d1, false);
  }

  /**
   * Class probabilities and predicted labels for any number of images. Runs on the backend in
   * batches; the promise resolves when the results are on the host (the event loop stays free).
   */
  predict(images: ImageInput, options: InferenceOptions = {}): Promise<Prediction> {
    return predict(this, images, options);
  }

  /**
   * A `Predictor` on this model, for services answering many small requests at once: concurrent
   * `predict` calls made through it run as one forward pass of up to `maxBatch` (default 256)
   * images, each call getting its own rows; a call waits for others at most `maxDelayMs`
   * (default 2), and only while a pass is running.
   */
  predictor(options: PredictorOptions = {}): Predictor {
    return new Predictor(this, options);
  }

  /** The error rate and mean NLL on labelled images (labels: class ids, one per image). */
  evaluate(images: ImageInput, labels: ArrayLike<number> | Tensor, options: InferenceOptions = {}): Promise<Evaluation> {
    return evaluate(this, images, labels, options);
  }

  /**
   * Saves the weights as safetensors (atomically: a temporary file renamed into place), with the
   * tutorial's tensor names and shapes and the architecture (and `extra`, e.g. a training
   * summary) in `__metadata__`. Conv weights are OIHW for cross-correlation.
   */
  save(file: string, extra: Record<string, string> = {}): Promise<void> {
    return saveCheckpoint(this, file, extra);
  }

  /**
   * Loads a checkpoint written by `save` (or any safetensors file with the same tensor names and
   * shapes: the architecture is read from the metadata when present, else from the shapes). The
   * whole file is validated before anything is allocated; a bad file throws a CheckpointError.
   */
  static async load(file: string, options: { backend: Backend }): Promise<LeNet5> {
    const { config, values } = await readCheckpoint(file);
    const model = new LeNet5({ backend: options.backend, ...config });
    model.arena.values.write(values);
    return model;
  }

  /** True after `dispose()`: predict and evaluate then reject, forward throws. */
  get disposed(): boolean {
    return this.wasDisposed;
  }

  /** Frees the parameters and every activation buffer. Idempotent. */
  dispose(): void {
    this.wasDisposed = true;
    this.layer0.dispose();
    this.layer1.dispose();
    this.layer2.dispose();
    this.layer3.dispose();
    this.arena.dispose();
  }

  /** Throws unless `images` is a Tensor [N,1,imageSize,imageSize] with N >= 1. */
  checkImages(images: Tensor): void {
    if (this.wasDisposed) throw new Error('LeNet5: the model was disposed');
    checkImageBatch('LeNet5', images, this.config.imageSize);
  }
}
