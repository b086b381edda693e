/**
 * `LeNet5`: the tutorial's network — two `LeNetConvPoolLayer`s, a `HiddenLayer` and a
 * `LogisticRegression` — with one training step (forward, backward, SGD update) that runs
 * entirely on the backend, inference on any batch size, and safetensors checkpoints.
 */
import { isFloat32Array, isUint8Array } from 'util/types';
import type { Backend } from './backend';
import { HiddenLayer, LeNetConvPoolLayer, LogisticRegression, type Parameter, ParameterArena } from './layers';
import { RandomState } from './rng';
import { CheckpointError, type NamedTensor, decodeSafetensors, saveSafetensors } from './safetensors';
import { ShapeError, Tensor, describe, shapeText } from './tensor';
import { promises as fsp } from 'fs';

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

/** The architecture of a LeNet5, as saved in checkpoints. */
export interface LeNet5Config {
  nkerns: [number, number];
  hidden: number;
  imageSize: number;
  classes: number;
  seed: number;
}

const FILTER = 5;

/** Images given to `predict`/`evaluate`: n x 784 pixels as floats in [0, 1] or bytes 0..255, or a tensor [N,1,28,28]. */
export type ImageInput = Float32Array | Uint8Array | Tensor;

/** What `predict` returns. */
export interface Prediction {
  /** Number of images. */
  count: number;
  /** The most probable class of each image. */
  labels: Uint8Array;
  /** count x classes probabilities, row by row. */
  probabilities: Float32Array;
}

/** What `evaluate` returns. */
export interface Evaluation {
  count: number;
  /** Misclassified images. */
  errors: number;
  /** errors / count. */
  errorRate: number;
  /** Mean negative log-likelihood. */
  cost: number;
}

/** Options of `predict` and `evaluate`. */
export interface InferenceOptions {
  /** Images per forward pass (default 500); any batch size works, this only bounds memory. */
  batchSize?: number;
}

/** Tensor names and shapes of a LeNet5's parameters, as saved in checkpoints (the tutorial's names). */
export function lenet5ParameterShapes(config: Omit<LeNet5Config, 'seed'>): Record<string, number[]> {
  const [k0, k1] = config.nkerns;
  const side2 = Math.floor((Math.floor((config.imageSize - FILTER + 1) / 2) - FILTER + 1) / 2);
  return {
    'layer0.W': [k0, 1, FILTER, FILTER],
    'layer0.b': [k0],
    'layer1.W': [k1, k0, FILTER, FILTER],
    'layer1.b': [k1],
    'layer2.W': [k1 * side2 * side2, config.hidden],
    'layer2.b': [config.hidden],
    'layer3.W': [config.hidden, config.classes],
    'layer3.b': [config.classes],
  };
}

const CHECKPOINT_FORMAT = 'lenet-cudnn/LeNet5';

/**
 * LeNet5 as in the Theano tutorial:
 * input [N,1,28,28] -> layer0 (conv 5x5, nkerns[0] filters, pool, tanh) -> [N,20,12,12]
 * -> layer1 (conv 5x5, nkerns[1] filters, pool, tanh) -> [N,50,4,4] -> layer2 (800 -> 500, tanh)
 * -> layer3 (500 -> 10, softmax). Initial weights are drawn from one RandomState(seed) in the
 * tutorial's order (layer0.W, layer1.W, layer2.W), so they equal the tutorial's (conv kernels
 * flipped, since we use cross-correlation where Theano convolves).
 */
export class LeNet5 {
  readonly backend: Backend;
  readonly config: LeNet5Config;
  readonly layer0: LeNetConvPoolLayer;
  readonly layer1: LeNetConvPoolLayer;
  readonly layer2: HiddenLayer;
  readonly layer3: LogisticRegression;
  /** The parameters' contiguous value and gradient buffers. */
  readonly arena: ParameterArena;

  constructor(options: LeNet5Options) {
    const backend = options.backend;
    const nkerns = options.nkerns ?? [20, 50];
    const hidden = options.hidden ?? 500;
    const seed = options.seed ?? 23455;
    const imageSize = options.imageSize ?? 28;
    const classes = options.classes ?? 10;
    if (!Array.isArray(nkerns) || nkerns.length !== 2 || nkerns.some((k) => !Number.isInteger(k) || k < 1)) {
      throw new RangeError(`LeNet5: nkerns must be two positive integers, got ${JSON.stringify(nkerns)}`);
    }
    for (const [name, v] of [['hidden', hidden], ['imageSize', imageSize], ['classes', classes]] as const) {
      if (!Number.isInteger(v) || v < 1) throw new RangeError(`LeNet5: ${name} must be a positive integer, got ${v}`);
    }
    const side1 = Math.floor((imageSize - FILTER + 1) / 2);
    const side2 = Math.floor((side1 - FILTER + 1) / 2);
    if (side2 < 1) throw new RangeError(`LeNet5: imageSize ${imageSize} is too small for two 5x5 conv + 2x2 pool layers (needs at least 16)`);
    this.backend = backend;
    this.config = { nkerns: [nkerns[0], nkerns[1]], hidden, imageSize, classes, seed };
    const rng = new RandomState(seed);
    this.arena = new ParameterArena(backend);
    const arena = this.arena;
    this.layer0 = new LeNetConvPoolLayer({ backend, rng, arena, name: 'layer0', inputChannels: 1, filters: nkerns[0], filterSize: FILTER });
    this.layer1 = new LeNetConvPoolLayer({ backend, rng, arena, name: 'layer1', inputChannels: nkerns[0], filters: nkerns[1], filterSize: FILTER });
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

  /**
   * One SGD step on a minibatch: forward, backward (all gradients into the gradient buffer), then
   * values -= learningRate * gradients as one axpy. Adds the batch's summed cost and errors to
   * stats when given. Everything is queued on the backend; nothing is read back.
   */
  trainStep(images: Tensor, labels: Tensor, learningRate: number, stats: Tensor | null = null): void {
    if (!Number.isFinite(learningRate) || learningRate <= 0) {
      throw new RangeError(`trainStep: learningRate must be a positive number, got ${learningRate}`);
    }
    this.forward(images, labels, stats);
    this.backward(labels);
    this.backend.axpy(-learningRate, this.arena.grads, this.arena.values);
  }

  /** Back-propagates the mean NLL of `labels` through the last forward pass into every gradient. */
  backward(labels: Tensor): void {
    const d3 = this.layer3.backward(labels, true)!;
    const d2 = this.layer2.backward(d3, true)!;
    const d1 = this.layer1.backward(d2, true)!;
    this.layer0.backward(d1, false);
  }

  // ---- inference ----

  /**
   * Class probabilities and predicted labels for any number of images. Runs on the backend in
   * batches; the promise resolves when the results are on the host (the event loop stays free).
   */
  async predict(images: ImageInput, options: InferenceOptions = {}): Promise<Prediction> {
    const { count, batches } = this.batches('predict', images, null, options);
    const classes = this.config.classes;
    const probabilities = new Float32Array(count * classes);
    const reads: Promise<void>[] = [];
    for (const b of batches()) {
      const probs = this.forward(b.images);
      const start = b.start;
      reads.push(probs.read().then((p) => probabilities.set(p.subarray(0, b.count * classes), start * classes)));
      b.release();
    }
    await Promise.all(reads);
    const labels = new Uint8Array(count);
    for (let i = 0; i < count; i++) {
      let best = 0;
      for (let j = 1; j < classes; j++) if (probabilities[i * classes + j] > probabilities[i * classes + best]) best = j;
      labels[i] = best;
    }
    return { count, labels, probabilities };
  }

  /** The error rate and mean NLL on labelled images (labels: class ids, one per image). */
  async evaluate(images: ImageInput, labels: ArrayLike<number> | Tensor, options: InferenceOptions = {}): Promise<Evaluation> {
    const { count, batches } = this.batches('evaluate', images, labels, options);
    const stats = this.backend.zeros([2]);
    try {
      for (const b of batches()) {
        this.forward(b.images, b.labels, stats);
        b.release();
      }
      const [loss, errors] = await stats.read();
      return { count, errors, errorRate: errors / count, cost: loss / count };
    } finally {
      stats.dispose();
    }
  }

  // Validates inference inputs and yields them in batches on the device.
  private batches(op: string, images: ImageInput, labels: ArrayLike<number> | Tensor | null, options: InferenceOptions) {
    const batchSize = options.batchSize ?? 500;
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`${op}: batchSize must be a positive integer, got ${batchSize}`);
    const side = this.config.imageSize;
    const pixels = side * side;
    let count: number;
    if (images instanceof Tensor) {
      this.checkImages(images);
      if (images.backend !== this.backend) throw new Error(`${op}: images are on another backend than the model`);
      count = images.shape[0];
    } else if (isFloat32Array(images) || isUint8Array(images)) {
      if (images.length === 0 || images.length % pixels !== 0) {
        throw new ShapeError(`${op}: images has ${images.length} values, expected a positive multiple of ${pixels} (${side}x${side} pixels per image)`);
      }
      if (isFloat32Array(images)) {
        for (let i = 0; i < images.length; i++) {
          if (!Number.isFinite(images[i])) throw new RangeError(`${op}: images[${i}] is ${images[i]}; pixels must be finite (scaled to [0, 1])`);
        }
      }
      count = images.length / pixels;
    } else {
      throw new TypeError(`${op}: images must be a Float32Array (pixels in [0, 1]), a Uint8Array (0..255) or a Tensor, got ${describe(images)}`);
    }
    let labelTensor: Tensor | null = null;
    if (labels !== null) {
      if (labels instanceof Tensor) {
        if (labels.shape.length !== 1 || labels.shape[0] !== count) throw new ShapeError(`${op}: labels must have shape [${count}], got ${shapeText(labels.shape)}`);
        labelTensor = labels;
      } else {
        if (labels.length !== count) throw new ShapeError(`${op}: got ${labels.length} labels for ${count} images`);
        const host = new Float32Array(count);
        for (let i = 0; i < count; i++) {
          const l = labels[i];
          if (!Number.isInteger(l) || l < 0 || l >= this.config.classes) {
            throw new RangeError(`${op}: labels[${i}] is ${l}, expected a class in 0..${this.config.classes - 1}`);
          }
          host[i] = l;
        }
        labelTensor = this.backend.tensor([count], host);
      }
    }
    const ownLabels = labelTensor !== null && !(labels instanceof Tensor);
    const backend = this.backend;
    const model = this;
    function* batches(): Generator<{ start: number; count: number; images: Tensor; labels: Tensor | null; release(): void }> {
      try {
        for (let start = 0; start < count; start += batchSize) {
          const n = Math.min(batchSize, count - start);
          const x =
            images instanceof Tensor
              ? images.slice(start, n)
              : backend.tensor(model.inputShape(n), images.subarray(start * pixels, (start + n) * pixels), isUint8Array(images) ? 1 / 255 : 1);
          const y = labelTensor ? labelTensor.slice(start, n) : null;
          yield { start, count: n, images: x, labels: y, release: () => { x.dispose(); y?.dispose(); } };
        }
      } finally {
        if (ownLabels) labelTensor!.dispose();
      }
    }
    return { count, batches };
  }

  // ---- checkpoints ----

  /**
   * Saves the weights as safetensors (atomically: a temporary file renamed into place), with the
   * tutorial's tensor names and shapes and the architecture (and `extra`, e.g. a training
   * summary) in `__metadata__`. Conv weights are OIHW for cross-correlation.
   */
  async save(file: string, extra: Record<string, string> = {}): Promise<void> {
    const values = await this.arena.values.read();
    const tensors: NamedTensor[] = [];
    let offset = 0;
    for (const p of this.params()) {
      const size = p.value.size;
      tensors.push({ name: p.name, shape: [...p.shape], data: values.slice(offset, offset + size) });
      offset += size;
    }
    const metadata: Record<string, string> = {
      ...extra,
      format: CHECKPOINT_FORMAT,
      nkerns: this.config.nkerns.join(','),
      hidden: String(this.config.hidden),
      imageSize: String(this.config.imageSize),
      classes: String(this.config.classes),
      seed: String(this.config.seed),
      convolution: 'cross-correlation',
      layout: 'conv W: OIHW [filters, in_channels, 5, 5]; dense W: [n_in, n_out] (y = x W + b)',
    };
    await saveSafetensors(file, tensors, metadata);
  }

  /**
   * Loads a checkpoint written by `save` (or any safetensors file with the same tensor names and
   * shapes: the architecture is read from the metadata when present, else from the shapes). The
   * whole file is validated before anything is allocated; a bad file throws a CheckpointError.
   */
  static async load(file: string, options: { backend: Backend }): Promise<LeNet5> {
    let bytes: Buffer;
    try {
      bytes = await fsp.readFile(file);
    } catch (err) {
      throw new CheckpointError(`${file}: cannot read checkpoint: ${(err as Error).message}`);
    }
    const { tensors, metadata } = decodeSafetensors(bytes, file);
    const config = LeNet5.configFrom(file, tensors, metadata);
    // Validate names and shapes before allocating anything on the backend.
    decodeSafetensors(bytes, file, lenet5ParameterShapes(config));
    const model = new LeNet5({ backend: options.backend, ...config });
    const host = new Float32Array(model.parameterCount);
    let offset = 0;
    for (const p of model.params()) {
      host.set(tensors.get(p.name)!.data, offset);
      offset += p.value.size;
    }
    model.arena.values.write(host);
    return model;
  }

  private static configFrom(file: string, tensors: Map<string, NamedTensor>, metadata: Record<string, string>): LeNet5Config {
    const shape = (name: string) => {
      const t = tensors.get(name);
      if (!t) throw new CheckpointError(`${file}: missing tensor ${name}`);
      return t.shape;
    };
    const int = (key: string, fallback: number) => {
      if (metadata[key] === undefined) return fallback;
      const v = Number(metadata[key]);
      if (!Number.isInteger(v) || v < 1) throw new CheckpointError(`${file}: metadata ${key} is '${metadata[key]}', expected a positive integer`);
      return v;
    };
    const w0 = shape('layer0.W');
    const w1 = shape('layer1.W');
    const w3 = shape('layer3.W');
    let nkerns: [number, number] = [w0[0], w1[0]];
    if (metadata.nkerns !== undefined) {
      const parts = metadata.nkerns.split(',').map(Number);
      if (parts.length !== 2 || parts.some((k) => !Number.isInteger(k) || k < 1)) {
        throw new CheckpointError(`${file}: metadata nkerns is '${metadata.nkerns}', expected two positive integers like 20,50`);
      }
      nkerns = [parts[0], parts[1]];
    }
    const config: LeNet5Config = {
      nkerns,
      hidden: int('hidden', w3[0]),
      imageSize: int('imageSize', 28),
      classes: int('classes', w3[1]),
      seed: int('seed', 23455),
    };
    return config;
  }

  /** Frees the parameters and every activation buffer. */
  dispose(): void {
    this.layer0.dispose();
    this.layer1.dispose();
    this.layer2.dispose();
    this.layer3.dispose();
    this.arena.dispose();
  }

  private checkImages(images: Tensor): void {
    if (!(images instanceof Tensor)) throw new TypeError('LeNet5: images must be a Tensor');
    const s = this.config.imageSize;
    const [n, c, h, w] = images.shape;
    if (images.shape.length !== 4 || c !== 1 || h !== s || w !== s || n < 1) {
      throw new ShapeError(`LeNet5: images must have shape [N,1,${s},${s}] with N >= 1, got ${shapeText(images.shape)}`);
    }
  }
}
