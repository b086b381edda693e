/**
 * A seeded mutation fuzzer for the IDX reader (lib/mnist.ts's parseIdxImages / parseIdxLabels,
 * which readIdxImages / readIdxLabels use once they have read a file). Each input is a mutation
 * of a small valid file (3 images of 4x5, 3 labels): bit flips, bytes set to 0, 0xff, 0x7f or
 * 0x80, truncation, extension, and header rewrites (magic, counts, dimensions), some of which
 * keep the file consistent; a few hundred are gzipped variants. An independent oracle, written
 * here from the IDX format's rules, says whether each input is a well-formed file and what it
 * holds: the reader must accept exactly those, return exactly that, and reject every other with
 * a short MnistFormatError naming the source, never another kind of exception.
 *
 * The seed is printed; rerun one with FUZZ_SEED=<seed>.
 */
import * as zlib from 'zlib';
import { MnistFormatError, parseIdxImages, parseIdxLabels } from '../lib/mnist';
import { TestRandom } from './reference';

const SEED = Number(process.env.FUZZ_SEED ?? 20260413) >>> 0;
const INPUTS = 10000;
const GZIPPED = 400;
const SOURCE = 'fuzz.idx';

/** A seeded uniform [0, 1) source (numpy's MT19937, via test/reference.ts). */
function prng(seed: number): () => number {
  const random = new TestRandom(seed >>> 0);
  return () => random.next();
}

type Kind = 'images' | 'labels';

interface Decoded {
  dims: number[];
  body: Uint8Array;
}

/**
 * The oracle: an IDX file of `kind` is well formed iff it has the 4-byte big-endian magic
 * (0x803 images, 0x801 labels), then one (labels) or three (images) big-endian int32 sizes,
 * each positive, and then exactly their product of bytes. gzip data (1f 8b) are judged by what
 * they inflate to.
 */
function oracle(kind: Kind, input: Uint8Array): Decoded | null {
  let b = Buffer.from(input);
  if (b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b) {
    try {
      b = zlib.gunzipSync(b);
    } catch {
      return null;
    }
  }
  const ndims = kind === 'images' ? 3 : 1;
  const headerBytes = 4 + 4 * ndims;
  if (b.length < headerBytes) return null;
  if (b.readUInt32BE(0) !== (kind === 'images' ? 0x803 : 0x801)) return null;
  const dims: number[] = [];
  for (let i = 0; i < ndims; i++) dims.push(b.readInt32BE(4 + 4 * i));
  if (dims.some((d) => d <= 0)) return null;
  const size = dims.reduce((p, d) => p * BigInt(d), 1n);
  if (BigInt(b.length) !== BigInt(headerBytes) + size) return null;
  return { dims, body: b.subarray(headerBytes) };
}

function base(kind: Kind, random: () => number): Buffer {
  const dims = kind === 'images' ? [3, 4, 5] : [3];
  const header = Buffer.alloc(4 + 4 * dims.length);
  header.writeUInt32BE(kind === 'images' ? 0x803 : 0x801, 0);
  dims.forEach((d, i) => header.writeInt32BE(d, 4 + 4 * i));
  const body = Buffer.alloc(dims.reduce((p, d) => p * d, 1));
  for (let i = 0; i < body.length; i++) body[i] = Math.floor(random() * 256);
  return Buffer.concat([header, body]);
}

const INTERESTING_BYTES = [0, 0xff, 0x7f, 0x80];
const INTERESTING_INTS = [0, 1, 2, 3, 4, 5, -1, 0x7fffffff, -0x80000000, 0x40000000, 255, 256, 65536];

/** One to three random mutations of `input`. */
function mutate(kind: Kind, input: Buffer, random: () => number): Buffer {
  let b = Buffer.from(input);
  const int = (n: number) => Math.floor(random() * n);
  const headerFields = kind === 'images' ? 3 : 1;
  for (let m = 1 + int(3); m > 0; m--) {
    switch (int(8)) {
      case 0: // bit flip
        if (b.length > 0) b[int(b.length)] ^= 1 << int(8);
        break;
      case 1: // interesting byte
        if (b.length > 0) b[int(b.length)] = INTERESTING_BYTES[int(INTERESTING_BYTES.length)];
        break;
      case 2: // truncate
        b = b.subarray(0, int(b.length + 1));
        break;
      case 3: // extend
        b = Buffer.concat([b, Buffer.from(Array.from({ length: 1 + int(8) }, () => int(256)))]);
        break;
      case 4: // rewrite a header field to an interesting value
        if (b.length >= 8 + 4 * (headerFields - 1)) {
          b.writeInt32BE(INTERESTING_INTS[int(INTERESTING_INTS.length)] | 0, 4 + 4 * int(headerFields));
        }
        break;
      case 5: // the other kind's magic, or a random one
        if (b.length >= 4) b.writeUInt32BE(random() < 0.5 ? (kind === 'images' ? 0x801 : 0x803) : int(0x1000), 0);
        break;
      case 6: { // consistent rewrite: new small sizes and a body to match
        const dims = Array.from({ length: headerFields }, () => 1 + int(4));
        const header = Buffer.alloc(4 + 4 * headerFields);
        header.writeUInt32BE(kind === 'images' ? 0x803 : 0x801, 0);
        dims.forEach((d, i) => header.writeInt32BE(d, 4 + 4 * i));
        const body = Buffer.from(Array.from({ length: dims.reduce((p, d) => p * d, 1) }, () => int(256)));
        b = Buffer.concat([header, body]);
        break;
      }
      default: // body byte: keeps a valid file valid
        if (b.length > 4 + 4 * headerFields) b[4 + 4 * headerFields + int(b.length - 4 - 4 * headerFields)] = int(256);
    }
  }
  return b;
}

function parse(kind: Kind, input: Uint8Array): Decoded {
  if (kind === 'images') {
    const { count, rows, cols, pixels } = parseIdxImages(input, SOURCE);
    return { dims: [count, rows, cols], body: pixels };
  }
  const { count, labels } = parseIdxLabels(input, SOURCE);
  return { dims: [count], body: labels };
}

/** Runs the reader and the oracle on one input and asserts they agree; returns whether it was accepted. */
function check(kind: Kind, input: Buffer, index: number): boolean {
  const want = oracle(kind, input);
  let got: Decoded | undefined;
  let error: unknown;
  try {
    got = parse(kind, input);
  } catch (err) {
    error = err;
  }
  const where = `seed ${SEED}, ${kind} input #${index}: ${input.toString('hex').slice(0, 200)}`;
  if (want) {
    if (!got) throw new Error(`${where}: the oracle accepts it, the reader threw ${String(error)}`);
    if (got.dims.join() !== want.dims.join() || Buffer.compare(got.body, want.body) !== 0) {
      throw new Error(`${where}: the reader returned [${got.dims}] and other bytes than the oracle's [${want.dims}]`);
    }
    return true;
  }
  if (got) throw new Error(`${where}: the oracle rejects it, the reader accepted [${got.dims}]`);
  const message = (error as Error)?.message;
  if (!(error instanceof MnistFormatError) || !message.startsWith(`${SOURCE}: `) || message.length >= 300) {
    throw new Error(`${where}: rejected with ${String(error)} (wanted a MnistFormatError starting with the source, under 300 chars)`);
  }
  return false;
}

describe(`IDX reader fuzzing (seed ${SEED})`, () => {
  beforeAll(() => console.log(`fuzz-idx: seed ${SEED} (set FUZZ_SEED to rerun one)`));

  test.each(['images', 'labels'] as const)(`%s: ${INPUTS} mutated inputs agree with the oracle`, (kind) => {
    const random = prng(SEED ^ (kind === 'images' ? 0 : 0x9e3779b9));
    const good = base(kind, random);
    let accepted = 0;
    let previous = good;
    for (let i = 0; i < INPUTS; i++) {
      // Mostly mutate the valid file; sometimes keep mutating the last input.
      const input = mutate(kind, random() < 0.8 ? good : previous, random);
      if (check(kind, input, i)) accepted++;
      previous = input;
    }
    // Both outcomes must be well represented, or the fuzzer tests little.
    expect(accepted).toBeGreaterThan(INPUTS / 10);
    expect(accepted).toBeLessThan(INPUTS * 0.9);
  });

  test(`${GZIPPED} gzipped variants agree with the oracle`, () => {
    const random = prng(SEED ^ 0x85ebca6b);
    let accepted = 0;
    for (let i = 0; i < GZIPPED; i++) {
      const kind: Kind = i % 2 === 0 ? 'images' : 'labels';
      const plain = random() < 0.5 ? base(kind, random) : mutate(kind, base(kind, random), random);
      let gz: Buffer = zlib.gzipSync(plain);
      // Half are also damaged after compression: flipped, truncated or extended gzip bytes.
      if (random() < 0.5) gz = mutate(kind, gz, random);
      if (gz.length < 2 || gz[0] !== 0x1f || gz[1] !== 0x8b) gz = Buffer.concat([Buffer.from([0x1f, 0x8b]), gz.subarray(2)]);
      if (check(kind, gz, i)) accepted++;
    }
    expect(accepted).toBeGreaterThan(GZIPPED / 10);
  });
});
