/**
 * The safetensors checkpoint of a LeNet5: the tensor names and shapes (the tutorial's), writing a
 * model's weights with its architecture in `__metadata__`, and reading a file back into the
 * architecture and the values, validated before anything is allocated on a backend.
 *
 * Only the model's type is imported from lib/lenet5.ts: `LeNet5.save` and `LeNet5.load` call in
 * here, and a runtime import back would be a cycle.
 */
import { promises as fsp } from 'fs';
import type { LeNet5, LeNet5Config } from './lenet5';
import { CheckpointError, type NamedTensor, decodeSafetensors, saveSafetensors } from './safetensors';
import { LENET5_FILTER, lenet5FeatureSide } from './shapes';

/** The `format` entry of a LeNet5 checkpoint's `__metadata__`. */
export const CHECKPOINT_FORMAT = 'lenet-cudnn/LeNet5';


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
 * Saves a model's weights as safetensors (atomically: a temporary file renamed into place), with
 * the tutorial's tensor names and shapes and the architecture (and `extra`, e.g. a training
 * summary) in `__metadata__`. Conv weights are OIHW for cross-correlation.
 */
export async function saveCheckpoint(model: LeNet5, file: string, extra: Record<string, string> = {}): Promise<void> {
  const values = await model.arena.values.read();
  const tensors: NamedTensor[] = [];
  let offset = 0;
  for (const p of model.params()) {
    const size = p.value.size;
    tensors.push({ name: p.name, shape: [...p.shape], data: values.slice(offset, offset + size) });
    offset += size;
  }
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
  await saveSafetensors(file, tensors, metadata);
}

/**
 * Reads a checkpoint written by `saveCheckpoint` (or any safetensors file with the same tensor
 * names and shapes: the architecture is read from the metadata when present, else from the
 * shapes) and validates the whole file. Returns the architecture and every parameter's values in
 * the model's `params()` order, one flat array. A bad file throws a CheckpointError.
 */
export async function readCheckpoint(file: string): Promise<Checkpoint> {
  let bytes: Buffer;
  try {
    bytes = await fsp.readFile(file);
  } catch (err) {
    throw new CheckpointError(`${file}: cannot read checkpoint: ${(err as Error).message}`);
  }
  const { tensors, metadata } = decodeSafetensors(bytes, file);
  const config = checkpointConfig(file, tensors, metadata);
  // Validate every name and shape against the architecture before the caller allocates anything.
  const shapes = lenet5ParameterShapes(config);
  decodeSafetensors(bytes, file, shapes);
  // lenet5ParameterShapes lists the tensors in the model's declaration order, the order of params().
  const names = Object.keys(shapes);
  const values = new Float32Array(names.reduce((n, name) => n + tensors.get(name)!.data.length, 0));
  let offset = 0;
  for (const name of names) {
    const data = tensors.get(name)!.data;
    values.set(data, offset);
    offset += data.length;
  }
  return { config, values };
}

/**
 * The architecture of a checkpoint: `nkerns`, `hidden`, `imageSize`, `classes` and `seed` from its
 * metadata where present, else from the tensor shapes (and the tutorial's 28x28 images and seed).
 * Throws a CheckpointError for a missing tensor or a malformed metadata entry.
 */
export function checkpointConfig(file: string, tensors: Map<string, NamedTensor>, metadata: Record<string, string>): LeNet5Config {
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
