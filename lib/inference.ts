/**
 * Inference on any number of images: `predict` (class probabilities and labels) and `evaluate`
 * (error rate and mean NLL), for any `Classifier` (e.g. `LeNet5`). Host images are checked and
 * uploaded batch by batch, so memory stays bounded whatever the count; the results are read back
 * once, and the event loop stays free while the backend works.
 */
import { isFloat32Array, isUint8Array } from 'util/types';
import type { Backend } from './backend';
import { ShapeError, Tensor, describe, shapeText } from './tensor';

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

/**
 * What inference needs of a model (`LeNet5` is one): square one-channel images of
 * `config.imageSize` pixels a side, `config.classes` classes, and a forward pass that returns the
 * class probabilities [N, classes] (and, with labels and stats, adds the summed NLL and the error
 * count to stats).
 */
export interface Classifier {
  readonly backend: Backend;
  readonly config: { readonly imageSize: number; readonly classes: number };
  /** True once the model was disposed (optional): inference then rejects before allocating anything. */
  readonly disposed?: boolean;
  /** The input shape for a batch of n images. */
  inputShape(n: number): number[];
  /** Throws (naming the model) when `images` is not a batch the model takes; the model owns this rule and its message. */
  checkImages(images: Tensor): void;
  forward(images: Tensor, labels: Tensor | null, stats: Tensor | null): Tensor;
}

/**
 * Class probabilities and predicted labels (the first maximum) for any number of images. Runs on
 * the model's backend in batches; the promise resolves when the results are on the host.
 */
export async function predict(model: Classifier, images: ImageInput, options: InferenceOptions = {}): Promise<Prediction> {
  return predictIn(model, batchesOf(model, 'predict', images, null, options));
}

/**
 * `predict` of host images already checked by {@link countImages} (`count` of them), in one batch:
 * for the Predictor, which checks each call's images when the call is made, so that a gathered
 * pass does not check them all again.
 * @internal
 */
export async function predictChecked(model: Classifier, images: Float32Array, count: number): Promise<Prediction> {
  return predictIn(model, batchesOf(model, 'predict', images, null, { batchSize: count }, count));
}

async function predictIn(model: Classifier, { count, batches }: ReturnType<typeof batchesOf>): Promise<Prediction> {
  const classes = model.config.classes;
  const probabilities = new Float32Array(count * classes);
  const reads: Promise<void>[] = [];
  for (const b of batches()) {
    // The probabilities are a buffer of the model's, overwritten by the next forward of the same
    // batch size: read() is queued before that forward, so it copies this batch's.
    try {
      const probs = model.forward(b.images, null, null);
      const start = b.start;
      reads.push(probs.read().then((p) => probabilities.set(p.subarray(0, b.count * classes), start * classes)));
    } finally {
      b.release();
    }
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

/**
 * The error rate and mean NLL on labelled images (labels: class ids, one per image), summed on the
 * device over every batch and read back once.
 */
export async function evaluate(
  model: Classifier,
  images: ImageInput,
  labels: ArrayLike<number> | Tensor,
  options: InferenceOptions = {},
): Promise<Evaluation> {
  const { count, batches } = batchesOf(model, 'evaluate', images, labels, options);
  const stats = model.backend.zeros([2]);
  try {
    for (const b of batches()) {
      try {
        model.forward(b.images, b.labels, stats);
      } finally {
        b.release();
      }
    }
    const [loss, errors] = await stats.read();
    return { count, errors, errorRate: errors / count, cost: loss / count };
  } finally {
    stats.dispose();
  }
}

/** Throws (naming `op`) when the model was disposed or its backend closed. */
export function assertUsable(model: Classifier, op: string): void {
  if (model.disposed) throw new Error(`${op}: the model was disposed`);
  model.backend.assertOpen(op);
}

/**
 * The number of images in `images`, or an error naming `op` and the problem: the one rule for the
 * image inputs of `predict`, `evaluate` and `Predictor#predict`.
 */
export function countImages(model: Classifier, op: string, images: ImageInput): number {
  const side = model.config.imageSize;
  const pixels = side * side;
  if (images instanceof Tensor) {
    model.checkImages(images);
    if (images.backend !== model.backend) throw new Error(`${op}: images are on another backend than the model`);
    return images.shape[0];
  }
  if (isFloat32Array(images) || isUint8Array(images)) {
    if (images.length === 0 || images.length % pixels !== 0) {
      throw new ShapeError(`${op}: images has ${images.length} values, expected a positive multiple of ${pixels} (${side}x${side} pixels per image)`);
    }
    if (isFloat32Array(images)) {
      for (let i = 0; i < images.length; i++) {
        if (!Number.isFinite(images[i])) throw new RangeError(`${op}: images[${i}] is ${images[i]}; pixels must be finite (scaled to [0, 1])`);
      }
    }
    return images.length / pixels;
  }
  throw new TypeError(`${op}: images must be a Float32Array (pixels in [0, 1]), a Uint8Array (0..255) or a Tensor, got ${describe(images)}`);
}

/** One batch on the device; `release()` frees its views/uploads once its ops are queued. */
interface Batch {
  start: number;
  count: number;
  images: Tensor;
  labels: Tensor | null;
  release(): void;
}

// Validates the inputs of `op` (every message names it) and yields them in batches on the device.
// Everything is checked before the first upload, so a bad input allocates nothing. `checked`: the
// image count of images countImages has already accepted (they are not scanned again).
function batchesOf(
  model: Classifier,
  op: string,
  images: ImageInput,
  labels: ArrayLike<number> | Tensor | null,
  options: InferenceOptions,
  checked?: number,
) {
  assertUsable(model, op);
  if (typeof options !== 'object' || options === null) throw new TypeError(`${op}: options must be an object, got ${describe(options)}`);
  const batchSize = options.batchSize ?? 500;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`${op}: batchSize must be a positive integer, got ${batchSize}`);
  const { backend, config } = model;
  const pixels = config.imageSize * config.imageSize;
  const count = checked ?? countImages(model, op, images);
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
        if (!Number.isInteger(l) || l < 0 || l >= config.classes) {
          throw new RangeError(`${op}: labels[${i}] is ${l}, expected a class in 0..${config.classes - 1}`);
        }
        host[i] = l;
      }
      labelTensor = backend.tensor([count], host);
    }
  }
  // Labels given as numbers were uploaded here and are freed when the batches are done.
  const ownLabels = labelTensor !== null && !(labels instanceof Tensor);
  function* batches(): Generator<Batch> {
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
