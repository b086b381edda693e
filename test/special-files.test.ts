/**
 * Inputs that are not regular files (a FIFO, /dev/zero, a directory, a symbolic-link loop) given
 * as an IDX file, inside a data directory, or as a checkpoint to read or write, and a gzip bomb:
 * each is refused at once with an error naming the path, and nothing is replaced or grows memory.
 *
 * A FIFO check that regressed would block in a synchronous read, where no jest timeout can fire,
 * so every FIFO here has an "unblocker": a child that opens it for writing after 5 s and closes it
 * (a blocked reader then sees end of file), and the elapsed time is asserted.
 */
import { type ChildProcess, execFileSync, spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as zlib from 'zlib';
import { type Backend, createBackend } from '../lib/backend';
import { LeNet5 } from '../lib/lenet5';
import { MAX_IDX_BYTES, MnistFormatError, loadMnistFiles, readIdxImages, readIdxLabels } from '../lib/mnist';
import { CheckpointError, loadSafetensors, saveSafetensors } from '../lib/safetensors';

jest.setTimeout(20000);

let root: string;
let backend: Backend;
const unblockers: ChildProcess[] = [];

beforeAll(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'special-files-'));
  backend = createBackend({ device: 'cpu' });
});
afterAll(() => {
  for (const child of unblockers) child.kill();
  backend.dispose();
  fs.rmSync(root, { recursive: true, force: true });
});

/** Makes a FIFO at `file`, with a child that unblocks a reader after 5 s. */
function fifo(file: string): string {
  execFileSync('mkfifo', [file]);
  unblockers.push(spawn('sh', ['-c', 'sleep 5; : > "$1"', 'sh', file], { stdio: 'ignore' }));
  return file;
}

/** The four kinds of special input, made at `file` (a symlink to /dev/zero for the device). */
const KINDS: [string, (file: string) => void, string][] = [
  ['a FIFO', (f) => fifo(f), 'is a FIFO (named pipe), expected a regular file'],
  ['/dev/zero', (f) => fs.symlinkSync('/dev/zero', f), 'is a character device, expected a regular file'],
  ['a directory', (f) => fs.mkdirSync(f), 'is a directory, expected a regular file'],
  ['a symlink loop', (f) => fs.symlinkSync(path.basename(f), f), ''],
];

let caseCount = 0;
function make(kind: (file: string) => void, name = 'input'): string {
  const dir = path.join(root, `case-${caseCount++}`);
  fs.mkdirSync(dir);
  const file = path.join(dir, name);
  kind(file);
  return file;
}

/** Runs `fn`, expecting it to throw synchronously or reject, and returns the error and seconds taken. */
async function failure(fn: () => unknown): Promise<{ err: unknown; seconds: number }> {
  const start = Date.now();
  let err: unknown;
  try {
    await fn();
  } catch (e) {
    err = e;
  }
  return { err, seconds: (Date.now() - start) / 1000 };
}

function idxHeader(magic: number, dims: number[]): Buffer {
  const b = Buffer.alloc(4 + 4 * dims.length);
  b.writeUInt32BE(magic, 0);
  dims.forEach((d, i) => b.writeInt32BE(d, 4 + 4 * i));
  return b;
}

describe.each(KINDS)('%s', (_label, kind, problem) => {
  const expectMessage = (err: unknown, file: string, what: string) => {
    const message = (err as Error).message;
    if (problem) expect(message).toBe(`${file}: ${what} ${problem}`);
    else expect(message.startsWith(`${file}: cannot read ${what}: `)).toBe(true);
    expect(message.length).toBeLessThan(300);
  };

  test('as an IDX image or label file', async () => {
    for (const read of [readIdxImages, readIdxLabels]) {
      const file = make(kind);
      const { err, seconds } = await failure(() => read(file));
      expect(err).toBeInstanceOf(MnistFormatError);
      expectMessage(err, file, 'IDX file');
      expect(seconds).toBeLessThan(2);
    }
  });

  test('inside a data directory', async () => {
    const dir = path.dirname(make(kind, 'train-images-idx3-ubyte'));
    const images = Buffer.concat([idxHeader(0x803, [3, 28, 28]), Buffer.alloc(3 * 784)]);
    const labels = Buffer.concat([idxHeader(0x801, [3]), Buffer.from([1, 2, 3])]);
    fs.writeFileSync(path.join(dir, 'train-labels-idx1-ubyte'), labels);
    fs.writeFileSync(path.join(dir, 't10k-images-idx3-ubyte'), images);
    fs.writeFileSync(path.join(dir, 't10k-labels-idx1-ubyte'), labels);
    const { err, seconds } = await failure(() => loadMnistFiles({ dir }));
    expect(err).toBeInstanceOf(MnistFormatError);
    expectMessage(err, path.join(dir, 'train-images-idx3-ubyte'), 'IDX file');
    expect(seconds).toBeLessThan(2);
  });

  test('as a checkpoint to load (LeNet5.load, loadSafetensors)', async () => {
    for (const load of [(f: string) => LeNet5.load(f, { backend }), (f: string) => loadSafetensors(f)]) {
      const file = make(kind, 'model.safetensors');
      const { err, seconds } = await failure(() => load(file));
      expect(err).toBeInstanceOf(CheckpointError);
      expectMessage(err, file, 'checkpoint');
      expect((err as CheckpointError).code).toBe(problem ? 'ENOTREG' : 'ELOOP');
      expect(seconds).toBeLessThan(2);
    }
  });
});

describe('saving onto something that is not a regular file', () => {
  const t = [{ name: 'w', shape: [2], data: new Float32Array([1, 2]) }];

  test('/dev/null is refused and stays a character device', async () => {
    const before = fs.statSync('/dev/null');
    const { err } = await failure(() => saveSafetensors('/dev/null', t));
    expect(err).toBeInstanceOf(CheckpointError);
    expect((err as Error).message).toBe('/dev/null: will not write checkpoint over a character device; give the path of a regular file');
    expect((err as CheckpointError).code).toBe('ENOTREG');
    const after = fs.statSync('/dev/null');
    expect(after.isCharacterDevice()).toBe(true);
    expect([after.ino, after.rdev]).toEqual([before.ino, before.rdev]);
    expect(fs.readdirSync('/dev').filter((n) => n.startsWith('null.tmp-'))).toEqual([]);
  });

  test('a FIFO and a directory are refused and left as they were', async () => {
    const pipe = make(fifo, 'model.safetensors');
    const dir = make((f) => fs.mkdirSync(f), 'model.safetensors');
    fs.writeFileSync(path.join(dir, 'keep'), 'x');
    for (const [file, kind] of [[pipe, 'a FIFO (named pipe)'], [dir, 'a directory']] as const) {
      const { err, seconds } = await failure(() => saveSafetensors(file, t));
      expect(err).toBeInstanceOf(CheckpointError);
      expect((err as Error).message).toBe(`${file}: will not write checkpoint over ${kind}; give the path of a regular file`);
      expect(fs.readdirSync(path.dirname(file))).toEqual(['model.safetensors']);
      expect(seconds).toBeLessThan(2);
    }
    expect(fs.statSync(pipe).isFIFO()).toBe(true);
    expect(fs.readdirSync(dir)).toEqual(['keep']);
  });
});

describe('a gzip bomb', () => {
  const MiB = 2 ** 20;
  /** gzip members of 16 MiB of zeros each, the first starting with `header`: 1 GiB in all. */
  function bomb(header: Buffer): Buffer {
    const first = zlib.gzipSync(Buffer.concat([header, Buffer.alloc(16 * MiB - header.length)]), { level: 9 });
    const rest = zlib.gzipSync(Buffer.alloc(16 * MiB), { level: 9 });
    return Buffer.concat([first, ...Array<Buffer>(63).fill(rest)]);
  }

  test.each([
    ['3 images of 4x5', idxHeader(0x803, [3, 4, 5]), readIdxImages, 76],
    ['60000 images of 28x28', idxHeader(0x803, [60000, 28, 28]), readIdxImages, 47040016],
    ['10 labels', idxHeader(0x801, [10]), readIdxLabels, 18],
  ] as const)('declaring %s, inflating to 1 GiB, is refused after inflating what the header declares', async (contents, header, read, bytes) => {
    const data = bomb(header);
    expect(data.length).toBeLessThan(1.5 * MiB);
    const file = path.join(root, `bomb-${bytes}.gz`);
    fs.writeFileSync(file, data);
    const peakBefore = process.resourceUsage().maxRSS * 1024;
    const { err, seconds } = await failure(() => read(file));
    const peakGrowth = process.resourceUsage().maxRSS * 1024 - peakBefore;
    expect(err).toBeInstanceOf(MnistFormatError);
    expect((err as Error).message).toBe(
      `${file}: trailing bytes: header says ${contents} (${bytes} bytes with the header) but the gzip data inflate to more`,
    );
    // Inflating it all would take 1 GiB and more; the reader takes what the header declares.
    expect(peakGrowth).toBeLessThan(bytes * 3 + 256 * MiB);
    expect(seconds).toBeLessThan(5);
  });

  test('a header declaring more than the limit is refused before anything is inflated', () => {
    for (const [header, read, contents] of [
      [idxHeader(0x803, [0x7fffffff, 28, 28]), readIdxImages, '2147483647 images of 28x28 (1683627179264 bytes with the header)'],
      [idxHeader(0x801, [0x7fffffff]), readIdxLabels, '2147483647 labels (2147483655 bytes with the header)'],
    ] as const) {
      for (const data of [header, zlib.gzipSync(header)]) {
        const file = path.join(root, `absurd-${caseCount++}`);
        fs.writeFileSync(file, data);
        expect(() => read(file)).toThrow(
          new MnistFormatError(`${file}: header says ${contents}, over the ${MAX_IDX_BYTES}-byte limit of an IDX file`),
        );
      }
    }
  });
});
