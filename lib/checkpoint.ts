/**
 * The safetensors checkpoint of a LeNet5: the tensor names and shapes (the tutorial's), writing a
 * model's weights with its architecture in `__metadata__`, and reading a file back into the
 * architecture and the values, validated before anything is allocated on a backend.
 *
 * Only the model's type is imported from lib/lenet5.ts: `LeNet5.save` and `LeNet5.load` call in
 * here, and a runtime import back would be a cycle.
 */
import type { LeNet5, LeNet5Config } from './lenet5';
import { CheckpointError, type NamedTensor, decodeSafetensors, readSafetensorsFile, saveSafetensors } from './safetensors';
import { LENET5_FILTER, lenet5FeatureSide } from './shapes';

/** The `format` entry of a LeNet5 checkpoint's `__metadata__`. */
export const CHECKPOINT_FORMAT = 'lenet-cudnn/LeNet5';

/**
 * Most tensors a file read as a LeNet5 checkpoint may list: it has 8, and a header listing more
 * than this is rejected as soon as its JSON is parsed.
 */
export const MAX_CHECKPOINT_TENSORS = 64;

/**
 * Longest safetensors header of a LeNet5 checkpoint (1 MiB): the tensors take under 1 KB, the
 * rest is metadata. A longer header is rejected before its JSON is parsed; `saveCheckpoint`
 * refuses metadata that would not fit.
 */
export const MAX_CHECKPOINT_HEADER_BYTES = 2 ** 20;

/** Room in the header for the tensors' entries, beside the metadata. */
const TENSOR_ENTRIES_BYTES = 2 ** 16;

/** Largest nkerns, hidden, imageSize and classes read from metadata (the addon's int32 extents). */
const MAX_DIMENSION = 0x7fffffff;
/** Largest seed, as RandomState and `--seed` accept. */
const MAX_SEED = 0xffffffff;
/** Smallest image side that two 5x5 conv + 2x2 pool layers leave a feature map of (16). */
const MIN_IMAGE_SIZE = 16;

/** Tensor names and shapes of a LeNet5's parameters, as saved in checkpoints (the tutorial's names). */
export function lenet5ParameterShapes(config: Omit<LeNet5Config, 'seed'>): Record<string, number[]> {
  const [k0, k1] = config.nkerns;
  const side2 = lenet5FeatureSide(config.imageSize);
  return {
    'layer0.W': [k0, 1, LENET5_FILTER, LENET5_FILTER],
    'layer0.b': [k0],
    'layer1.W': [k1, k0, LENET5_FILTER, LENET5_FILTER],
    'layer1.b': [k1],
    'layer2.W': [k1 * side2 * side2, config.hidden],
    'layer2.b': [config.hidden],
    'layer3.W': [config.hidden, config.classes],
    'layer3.b': [config.classes],
  };
}

/** A checkpoint read back: the architecture and the values of every parameter. */
export interface Checkpoint {
  config: LeNet5Config;
  /** All parameter values in the model's `params()` order (layer0.W, layer0.b, ..., layer3.b), one flat array. */
  values: Float32Array;
}

/**
 * Saves a model's weights as safetensors (atomically: a temporary file renamed into place; a
 * destination that is not a regular file is refused), with the tutorial's tensor names and shapes
 * and the architecture (and `extra`, e.g. a training summary) in `__metadata__`. Conv weights are
 * OIHW for cross-correlation. Throws a CheckpointError, before reading the weights, if the
 * metadata would not fit in {@link MAX_CHECKPOINT_HEADER_BYTES}.
 */
export async function saveCheckpoint(model: LeNet5, file: string, extra: Record<string, string> = {}): Promise<void> {
  const { config } = model;
  const metadata: Record<string, string> = {
    ...extra,
    format: CHECKPOINT_FORMAT,
    nkerns: config.nkerns.join(','),
    hidden: String(config.hidden),
    imageSize: String(config.imageSize),
    classes: String(config.classes),
    seed: String(config.seed),
    convolution: 'cross-correlation',
    layout: 'conv W: OIHW [filters, in_channels, 5, 5]; dense W: [n_in, n_out] (y = x W + b)',
  };
  const metadataBytes = Buffer.byteLength(JSON.stringify(metadata));
  if (metadataBytes > MAX_CHECKPOINT_HEADER_BYTES - TENSOR_ENTRIES_BYTES) {
    throw new CheckpointError(
      `${file}: cannot save checkpoint: ${metadataBytes} bytes of metadata, over the ` +
        `${MAX_CHECKPOINT_HEADER_BYTES - TENSOR_ENTRIES_BYTES} a checkpoint header has room for`,
    );
  }
  const values = await model.arena.values.read();
  const tensors: NamedTensor[] = [];
  let offset = 0;
  for (const p of model.params()) {
    const size = p.value.size;
    tensors.push({ name: p.name, shape: [...p.shape], data: values.slice(offset, offset + size) });
    offset += size;
  }
  await saveSafetensors(file, tensors, metadata);
}

/**
 * Reads a checkpoint written by `saveCheckpoint` (or any safetensors file with the same tensor
 * names and shapes: the architecture is read from the metadata when present, else from the
 * shapes) and validates the whole file: a regular file of at most 2 GiB (a FIFO or a device is
 * refused without blocking), a header of at most {@link MAX_CHECKPOINT_HEADER_BYTES} listing at
 * most {@link MAX_CHECKPOINT_TENSORS} tensors, an architecture that
 * LeNet5 accepts, exactly the tensors and shapes of that architecture, and finite weights.
 * Returns the architecture and every parameter's values in the model's `params()` order, one
 * flat array. A bad file throws a CheckpointError whose message starts with the path.
 */
export async function readCheckpoint(file: string): Promise<Checkpoint> {
  const bytes = await readSafetensorsFile(file);
  const limit = { maxTensors: MAX_CHECKPOINT_TENSORS, maxHeaderBytes: MAX_CHECKPOINT_HEADER_BYTES };
  const { tensors, metadata } = decodeSafetensors(bytes, file, undefined, limit);
  const config = checkpointConfig(file, tensors, metadata);
  // Validate every name and shape against the architecture before the caller allocates anything.
  const shapes = lenet5ParameterShapes(config);
  decodeSafetensors(bytes, file, shapes, limit);
  // lenet5ParameterShapes lists the tensors in the model's declaration order, the order of params().
  const names = Object.keys(shapes);
  const values = new Float32Array(names.reduce((n, name) => n + tensors.get(name)!.data.length, 0));
  let offset = 0;
  for (const name of names) {
    const data = tensors.get(name)!.data;
    checkFinite(file, name, data);
    values.set(data, offset);
    offset += data.length;
  }
  return { config, values };
}

/** Throws a CheckpointError naming the first NaN or infinite element of a tensor. */
function checkFinite(file: string, name: string, data: Float32Array): void {
  for (let i = 0; i < data.length; i++) {
    if (!Number.isFinite(data[i])) {
      throw new CheckpointError(`${file}: ${name}[${i}] is ${data[i]}; a checkpoint's weights must be finite`);
    }
  }
}

/**
 * The architecture of a checkpoint: `nkerns`, `hidden`, `imageSize`, `classes` and `seed` from its
 * metadata where present, else from the tensor shapes (and the tutorial's 28x28 images and seed).
 * Each value must be one LeNet5 accepts: nkerns, hidden and classes positive, imageSize at least
 * 16, seed 0..4294967295 (what `--seed` and RandomState take), written in decimal digits.
 * Throws a CheckpointError naming the file for a missing tensor or a malformed metadata entry.
 */
export function checkpointConfig(file: string, tensors: Map<string, NamedTensor>, metadata: Record<string, string>): LeNet5Config {
  const shape = (name: string) => {
    const t = tensors.get(name);
    if (!t) throw new CheckpointError(`${file}: missing tensor ${name}`);
    return t.shape;
  };
  const shapes: Record<string, number[]> = { 'layer0.W': shape('layer0.W'), 'layer1.W': shape('layer1.W'), 'layer3.W': shape('layer3.W') };
  /** A dimension read from a tensor's shape, where the metadata does not give it. */
  const fromShape = (key: string, name: string, rank: number, axis: number): number => {
    const s = shapes[name];
    const v = s.length === rank ? s[axis] : 0;
    if (v >= 1 && v <= MAX_DIMENSION) return v;
    throw new CheckpointError(
      `${file}: metadata gives no ${key}, and ${name} of shape [${s.join(',')}] gives none either (expected ${rank} dimensions, axis ${axis} a positive integer)`,
    );
  };
  /** An integer metadata entry in min..max, in decimal digits. */
  const int = (key: string, min: number, max: number, rule: string, fallback: () => number): number => {
    const text = metadata[key];
    if (text === undefined) return fallback();
    const v = /^[0-9]+$/.test(text) ? Number(text) : NaN;
    if (v >= min && v <= max) return v;
    const expected = v > max ? `at most ${max}` : rule;
    throw new CheckpointError(`${file}: metadata ${key} is '${shorten(text)}', expected ${expected}`);
  };
  const positive = (key: string, fallback: () => number) => int(key, 1, MAX_DIMENSION, 'a positive integer', fallback);
  let nkerns: [number, number];
  if (metadata.nkerns !== undefined) {
    const parts = metadata.nkerns.split(',').map((k) => (/^[0-9]+$/.test(k) ? Number(k) : NaN));
    if (parts.length !== 2 || parts.some((k) => !(k >= 1 && k <= MAX_DIMENSION))) {
      throw new CheckpointError(`${file}: metadata nkerns is '${shorten(metadata.nkerns)}', expected two positive integers like 20,50`);
    }
    nkerns = [parts[0], parts[1]];
  } else {
    nkerns = [fromShape('nkerns', 'layer0.W', 4, 0), fromShape('nkerns', 'layer1.W', 4, 0)];
  }
  return {
    nkerns,
    hidden: positive('hidden', () => fromShape('hidden', 'layer3.W', 2, 0)),
    imageSize: int('imageSize', MIN_IMAGE_SIZE, MAX_DIMENSION, `an integer of at least ${MIN_IMAGE_SIZE} (what two 5x5 conv + 2x2 pool layers need)`, () => 28),
    classes: positive('classes', () => fromShape('classes', 'layer3.W', 2, 1)),
    seed: int('seed', 0, MAX_SEED, 'a non-negative integer', () => 23455),
  };
}

/** A metadata value shortened for a message. */
function shorten(text: string): string {
  return text.length > 40 ? `${text.slice(0, 37)}...` : text;
}
