/**
 * Tests for lib/safetensors.ts: round trips, byte-level compatibility with the
 * safetensors spec (files built by hand here, independently of the encoder),
 * exact error messages for corrupt files, atomic saving, and cross-checks
 * against Python (numpy/struct/json, and the `safetensors` package if present).
 */

import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import {
  CheckpointError,
  decodeSafetensors,
  encodeSafetensors,
  loadSafetensors,
  NamedTensor,
  saveSafetensors,
} from '../lib/safetensors';
import { MAX_CHECKPOINT_HEADER_BYTES, MAX_CHECKPOINT_TENSORS, readCheckpoint } from '../lib/checkpoint';
import { type Backend, createBackend } from '../lib/backend';
import { LeNet5 } from '../lib/lenet5';
import { tolerateForeignTypedArrays } from './integration-helpers';
import { reportSkip } from './skip';

const SRC = 'lenet5.safetensors';

/** Little-endian F32 bytes of `values`, written independently of the encoder. */
function f32le(values: number[]): Uint8Array {
  const out = new Uint8Array(values.length * 4);
  const dv = new DataView(out.buffer);
  values.forEach((v, i) => dv.setFloat32(i * 4, v, true));
  return out;
}

/** A safetensors file from a literal header string (no padding added) and raw data. */
function buildFile(header: string, data: Uint8Array = new Uint8Array(0), declared?: bigint): Buffer {
  const json = Buffer.from(header, 'utf8');
  const out = Buffer.alloc(8 + json.length + data.length);
  out.writeBigUInt64LE(declared ?? BigInt(json.length), 0);
  json.copy(out, 8);
  out.set(data, 8 + json.length);
  return out;
}

/** Same but from raw header bytes (for invalid UTF-8). */
function buildRaw(header: Uint8Array): Buffer {
  const out = Buffer.alloc(8 + header.length);
  out.writeBigUInt64LE(BigInt(header.length), 0);
  out.set(header, 8);
  return out;
}

/** Bit patterns of a Float32Array (so NaN payloads and -0 compare exactly). */
function bits(a: Float32Array): number[] {
  return Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));
}

function decodeError(bytes: Uint8Array, expected?: Record<string, number[]>, options?: { maxTensors?: number }): CheckpointError {
  try {
    decodeSafetensors(bytes, SRC, expected, options);
  } catch (err) {
    expect(err).toBeInstanceOf(CheckpointError);
    return err as CheckpointError;
  }
  throw new Error('decodeSafetensors did not throw');
}

function randomF32(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s / 2 ** 32 - 0.5) * 2;
  }
  return out;
}

let tmpDir: string;
beforeEach(() => {
  tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'safetensors-test-'));
});
afterEach(() => {
  jest.restoreAllMocks();
  fs.rmSync(tmpDir, { recursive: true, force: true });
});

describe('encode/decode round trip', () => {
  const special = new Float32Array(8);
  const specialBits = new Uint32Array(special.buffer);
  specialBits.set([0x7fc00001, 0xff800000, 0x7f800000, 0x80000000, 0x00000001, 0x7f7fffff, 0x3f800000, 0xbeaaaaab]);

  const tensors: NamedTensor[] = [
    { name: 'conv1.W', shape: [20, 1, 5, 5], data: randomF32(500, 1) },
    { name: 'conv1.b', shape: [20], data: randomF32(20, 2) },
    { name: 'a.scalar', shape: [], data: new Float32Array([Math.PI]) },
    { name: 'empty', shape: [0, 3], data: new Float32Array(0) },
    { name: 'special', shape: [2, 4], data: special },
    { name: '10', shape: [1], data: new Float32Array([10]) },
  ];
  const metadata = { format: 'pt', epoch: '12', note: 'ünïcödé "quoted" \n newline', __proto__x: 'y' };

  test('names, shapes, values (bit-exact) and metadata survive', () => {
    const bytes = encodeSafetensors(tensors, metadata);
    const { tensors: out, metadata: meta } = decodeSafetensors(bytes, SRC);
    expect(meta).toEqual(metadata);
    expect([...out.keys()].sort()).toEqual(tensors.map((t) => t.name).sort());
    for (const t of tensors) {
      const got = out.get(t.name)!;
      expect(got.name).toBe(t.name);
      expect(got.shape).toEqual(t.shape);
      expect(got.data).toBeInstanceOf(Float32Array);
      expect(bits(got.data)).toEqual(bits(t.data));
    }
  });

  test('decoded arrays are fresh copies, not views of the input', () => {
    const bytes = encodeSafetensors(tensors);
    const { tensors: out } = decodeSafetensors(bytes);
    for (const t of out.values()) {
      expect(t.data.buffer).not.toBe(bytes.buffer);
      expect(t.data.byteOffset).toBe(0);
    }
    const before = bits(out.get('conv1.b')!.data);
    bytes.fill(0);
    expect(bits(out.get('conv1.b')!.data)).toEqual(before);
  });

  test('output does not depend on input order; data laid out in name order', () => {
    const a = encodeSafetensors(tensors, metadata);
    const b = encodeSafetensors([...tensors].reverse(), metadata);
    expect(b.equals(a)).toBe(true);
    const n = Number(a.readBigUInt64LE(0));
    const header = JSON.parse(a.subarray(8, 8 + n).toString('utf8'));
    const order = Object.keys(header).filter((k) => k !== '__metadata__');
    const byOffset = [...order].sort((x, y) => header[x].data_offsets[0] - header[y].data_offsets[0] || header[x].data_offsets[1] - header[y].data_offsets[1]);
    expect(byOffset).toEqual(['10', 'a.scalar', 'conv1.W', 'conv1.b', 'empty', 'special']);
  });

  test('empty tensor list with and without metadata', () => {
    expect(decodeSafetensors(encodeSafetensors([]))).toEqual({ tensors: new Map(), metadata: {} });
    expect(decodeSafetensors(encodeSafetensors([], { a: 'b' })).metadata).toEqual({ a: 'b' });
  });

  test('header is padded with spaces so the data section is 8-byte aligned', () => {
    for (let len = 1; len <= 17; len++) {
      const name = 'x'.repeat(len);
      const bytes = encodeSafetensors([{ name, shape: [2], data: new Float32Array([1, 2]) }]);
      const n = Number(bytes.readBigUInt64LE(0));
      expect(n % 8).toBe(0);
      const header = bytes.subarray(8, 8 + n).toString('utf8');
      const trimmed = header.trimEnd();
      expect(header.length - trimmed.length).toBeLessThan(8);
      expect(/^ *$/.test(header.slice(trimmed.length))).toBe(true);
      expect(JSON.parse(header)).toEqual({ [name]: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } });
      expect(bytes.length).toBe(8 + n + 8);
      expect(Array.from(bytes.subarray(8 + n))).toEqual(Array.from(f32le([1, 2])));
    }
  });

  test('decodes from an unaligned view into a larger buffer', () => {
    const bytes = encodeSafetensors(tensors, metadata);
    const big = new Uint8Array(bytes.length + 3);
    big.set(bytes, 3);
    const { tensors: out } = decodeSafetensors(big.subarray(3), SRC);
    expect(bits(out.get('conv1.W')!.data)).toEqual(bits(tensors[0].data));
  });

  test('encoder rejects malformed input', () => {
    const d = new Float32Array(6);
    expect(() => encodeSafetensors([{ name: 'w', shape: [2, 2], data: d }])).toThrow(
      'tensor w: data has 6 elements but shape [2,2] needs 4',
    );
    expect(() => encodeSafetensors([{ name: 'w', shape: [6], data: d }, { name: 'w', shape: [6], data: d }])).toThrow(
      'duplicate tensor name w',
    );
    expect(() => encodeSafetensors([{ name: '__metadata__', shape: [6], data: d }])).toThrow(
      'tensor name __metadata__ is reserved for metadata',
    );
    expect(() => encodeSafetensors([{ name: 'w', shape: [-6], data: d }])).toThrow(
      'tensor w: shape [-6] must be an array of non-negative integers',
    );
    expect(() => encodeSafetensors([{ name: 'w', shape: [6], data: d as unknown as Float32Array }], { k: 1 as unknown as string })).toThrow(
      'metadata value for key k must be a string, got a number',
    );
  });
});

describe('files built by hand from the spec', () => {
  test('reference serializer layout: 64-byte header, no padding needed (byte-identical to our encoder)', () => {
    const header = '{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}';
    expect(header.length).toBe(64);
    const file = buildFile(header, f32le([0, 1, 2, 3, 4, 5]));
    const { tensors, metadata } = decodeSafetensors(file, SRC);
    expect(metadata).toEqual({});
    expect(tensors.get('attn.0')!.shape).toEqual([1, 2, 3]);
    expect(Array.from(tensors.get('attn.0')!.data)).toEqual([0, 1, 2, 3, 4, 5]);
    const ours = encodeSafetensors([{ name: 'attn.0', shape: [1, 2, 3], data: new Float32Array([0, 1, 2, 3, 4, 5]) }]);
    expect(ours.equals(file)).toBe(true);
  });

  test('reference serializer layout: 65-byte JSON padded with 7 spaces (byte-identical to our encoder)', () => {
    const header = '{"attn0":{"dtype":"F32","shape":[1,1,2,3],"data_offsets":[0,24]}}' + ' '.repeat(7);
    expect(header.length).toBe(72);
    const file = buildFile(header, f32le([0, 1, 2, 3, 4, 5]));
    expect(Array.from(file.subarray(0, 8))).toEqual([72, 0, 0, 0, 0, 0, 0, 0]);
    const ours = encodeSafetensors([{ name: 'attn0', shape: [1, 1, 2, 3], data: new Float32Array([0, 1, 2, 3, 4, 5]) }]);
    expect(ours.equals(file)).toBe(true);
    expect(Array.from(decodeSafetensors(file).tensors.get('attn0')!.data)).toEqual([0, 1, 2, 3, 4, 5]);
  });

  test('unaligned data section, any key order, metadata, extra whitespace', () => {
    // 2 tensors stored out of name order; header length deliberately odd.
    const header =
      '{ "w2": {"shape": [3], "dtype": "F32", "data_offsets": [8, 20]},\n' +
      '  "__metadata__": {"epoch": "7", "arch": "lenet5"},\n' +
      '  "b1": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]} }';
    expect(header.length % 2).toBe(1);
    const file = buildFile(header, f32le([0.5, -1.25, 1e-30, 3.4e38, -0]));
    const { tensors, metadata } = decodeSafetensors(file, SRC);
    expect(metadata).toEqual({ epoch: '7', arch: 'lenet5' });
    expect([...tensors.keys()]).toEqual(['b1', 'w2']);
    expect(tensors.get('b1')).toEqual({ name: 'b1', shape: [2], data: new Float32Array([0.5, -1.25]) });
    expect(bits(tensors.get('w2')!.data)).toEqual(bits(new Float32Array([1e-30, 3.4e38, -0])));
  });

  test('zero-size tensors and null metadata are accepted', () => {
    const header =
      '{"__metadata__":null,"e":{"dtype":"F32","shape":[4,0],"data_offsets":[0,0]},"s":{"dtype":"F32","shape":[],"data_offsets":[0,4]}}';
    const { tensors, metadata } = decodeSafetensors(buildFile(header, f32le([42])));
    expect(metadata).toEqual({});
    expect(tensors.get('e')!.data.length).toBe(0);
    expect(tensors.get('s')!.shape).toEqual([]);
    expect(Array.from(tensors.get('s')!.data)).toEqual([42]);
  });
});

describe('corrupt files are rejected with precise messages', () => {
  const T = (fields: string) => `{"w":{${fields}}}`;
  const data24 = f32le([1, 2, 3, 4, 5, 6]);
  const cases: Array<[string, Uint8Array, string]> = [
    ['empty file', new Uint8Array(0), 'file is truncated: 0 bytes, shorter than the 8-byte header length field'],
    ['truncated length field', Buffer.from([2, 0, 0]), 'file is truncated: 3 bytes, shorter than the 8-byte header length field'],
    ['header length past end of file', buildFile('{}', new Uint8Array(0), 1000n), 'header length 1000 runs past the end of the file (10 bytes, so at most 2 header bytes)'],
    ['header length off by one', buildFile('{}', new Uint8Array(0), 3n), 'header length 3 runs past the end of the file (10 bytes, so at most 2 header bytes)'],
    ['absurd header length', buildFile('{}', new Uint8Array(0), 1n << 63n), "not a safetensors file (its first 8 bytes do not give a header length: read as one they say 9223372036854775808 bytes, over the format's limit of 100000000)"],
    ['header just over 100 MB', buildFile('{}', new Uint8Array(0), 100_000_001n), "not a safetensors file (its first 8 bytes do not give a header length: read as one they say 100000001 bytes, over the format's limit of 100000000)"],
    ['invalid UTF-8', buildRaw(Uint8Array.from([0x7b, 0xff, 0x7d])), 'not a safetensors file (its 3-byte header is not valid UTF-8)'],
    ['bad JSON', buildFile('{"w":'), 'not a safetensors file (its 5-byte header is not valid JSON)'],
    ['header is an array', buildFile('[]'), 'header must be a JSON object, got an array'],
    ['header is null', buildFile('null'), 'header must be a JSON object, got null'],
    ['entry not an object', buildFile('{"w":3}'), 'tensor w: entry must be an object, got a number'],
    ['missing dtype', buildFile(T('"shape":[1],"data_offsets":[0,4]'), f32le([1])), 'tensor w is missing "dtype"'],
    ['missing shape', buildFile(T('"dtype":"F32","data_offsets":[0,4]'), f32le([1])), 'tensor w is missing "shape"'],
    ['missing data_offsets', buildFile(T('"dtype":"F32","shape":[1]'), f32le([1])), 'tensor w is missing "data_offsets"'],
    ['dtype not a string', buildFile(T('"dtype":32,"shape":[1],"data_offsets":[0,4]'), f32le([1])), 'tensor w: "dtype" must be a string, got a number'],
    ['dtype F16', buildFile(T('"dtype":"F16","shape":[2],"data_offsets":[0,4]'), f32le([1])), 'tensor w has dtype F16; only F32 is supported'],
    ['dtype F64', buildFile(T('"dtype":"F64","shape":[1],"data_offsets":[0,8]'), f32le([1, 2])), 'tensor w has dtype F64; only F32 is supported'],
    ['shape not an array', buildFile(T('"dtype":"F32","shape":"6","data_offsets":[0,24]'), data24), 'tensor w: "shape" must be an array, got a string'],
    ['negative dimension', buildFile(T('"dtype":"F32","shape":[2,-3],"data_offsets":[0,24]'), data24), 'tensor w: shape [2,-3] has invalid dimension -3 (dimensions must be non-negative integers)'],
    ['fractional dimension', buildFile(T('"dtype":"F32","shape":[1.5,4],"data_offsets":[0,24]'), data24), 'tensor w: shape [1.5,4] has invalid dimension 1.5 (dimensions must be non-negative integers)'],
    ['offsets reversed', buildFile(T('"dtype":"F32","shape":[1],"data_offsets":[8,4]'), data24), 'tensor w: "data_offsets" must be [begin, end] with integers 0 <= begin <= end, got [8,4]'],
    ['offsets wrong arity', buildFile(T('"dtype":"F32","shape":[6],"data_offsets":[0,24,48]'), data24), 'tensor w: "data_offsets" must be [begin, end] with integers 0 <= begin <= end, got [0,24,48]'],
    ['offsets not integers', buildFile(T('"dtype":"F32","shape":[6],"data_offsets":["0",24]'), data24), 'tensor w: "data_offsets" must be [begin, end] with integers 0 <= begin <= end, got ["0",24]'],
    ['offsets past data section', buildFile(T('"dtype":"F32","shape":[8],"data_offsets":[0,32]'), data24), 'tensor w: data_offsets [0,32] run past the end of the data section (24 bytes)'],
    ['wrong byte length', buildFile(T('"dtype":"F32","shape":[2,3],"data_offsets":[0,20]'), data24.subarray(0, 20)), 'tensor w: shape [2,3] needs 24 bytes of F32 data, but data_offsets [0,20] span 20 bytes'],
    [
      'overlapping tensors',
      buildFile('{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}}', data24),
      'tensor b (data_offsets [8,24]) overlaps tensor a (data_offsets [0,16])',
    ],
    [
      'two tensors sharing the same bytes',
      buildFile('{"b":{"dtype":"F32","shape":[6],"data_offsets":[0,24]},"a":{"dtype":"F32","shape":[6],"data_offsets":[0,24]}}', data24),
      'tensor a (data_offsets [0,24]) overlaps tensor b (data_offsets [0,24])',
    ],
    [
      'hole between tensors',
      buildFile('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[16,24]}}', data24),
      'data section bytes [8,16) are not covered by any tensor (tensors must tile the data section with no gaps)',
    ],
    [
      'hole at the start',
      buildFile('{"b":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}}', data24),
      'data section bytes [0,8) are not covered by any tensor (tensors must tile the data section with no gaps)',
    ],
    [
      'trailing bytes after the last tensor',
      buildFile('{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}', data24),
      'data section bytes [16,24) are not covered by any tensor (tensors must tile the data section with no gaps)',
    ],
    ['data but no tensors', buildFile('{}', data24), 'data section bytes [0,24) are not covered by any tensor (tensors must tile the data section with no gaps)'],
    ['metadata value not a string', buildFile('{"__metadata__":{"epoch":3}}'), '__metadata__ value for key epoch must be a string, got a number'],
    ['metadata not an object', buildFile('{"__metadata__":["a"]}'), '__metadata__ must be an object of string values, got an array'],
    ['odd name is quoted', buildFile('{"my w":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]}}', f32le([1])), 'tensor "my w" has dtype BF16; only F32 is supported'],
  ];

  test.each(cases)('%s', (_label, bytes, message) => {
    const err = decodeError(bytes);
    expect(err.message).toBe(`${SRC}: ${message}`);
    expect(err.name).toBe('CheckpointError');
    expect((err as CheckpointError).code).toBe('LENET_BAD_CHECKPOINT');
  });

  test('a text file given as a checkpoint is called not a safetensors file, with the bad-checkpoint code', async () => {
    const file = path.join(tmpDir, 'README.md');
    fs.writeFileSync(file, '# lenet-cudnn\n\nLeNet5 on MNIST for Node.js\n');
    const err = (await readCheckpoint(file).catch((e: unknown) => e)) as CheckpointError;
    expect(err).toBeInstanceOf(CheckpointError);
    const declared = Buffer.from('# lenet-').readBigUInt64LE(0);
    expect(err.message).toBe(
      `${file}: not a safetensors file (its first 8 bytes do not give a header length: read as one they say ${declared} bytes, over the format's limit of 100000000)`,
    );
    expect(err.code).toBe('LENET_BAD_CHECKPOINT');
  });

  test('default source label', () => {
    expect(() => decodeSafetensors(new Uint8Array(2))).toThrow(
      new CheckpointError('safetensors data: file is truncated: 2 bytes, shorter than the 8-byte header length field'),
    );
  });
});

describe('expected tensors', () => {
  const lenet: NamedTensor[] = [
    { name: 'layer0.W', shape: [20, 1, 5, 5], data: randomF32(500, 3) },
    { name: 'layer0.b', shape: [20], data: randomF32(20, 4) },
    { name: 'layer1.W', shape: [50, 20, 3, 3], data: randomF32(9000, 5) },
  ];
  const bytes = encodeSafetensors(lenet);
  const expected = { 'layer0.W': [20, 1, 5, 5], 'layer0.b': [20], 'layer1.W': [50, 20, 5, 5] };

  test('matching names and shapes load', () => {
    const ok = { ...expected, 'layer1.W': [50, 20, 3, 3] };
    expect([...decodeSafetensors(bytes, SRC, ok).tensors.keys()]).toEqual(['layer0.W', 'layer0.b', 'layer1.W']);
  });
  test('wrong shape', () => {
    expect(decodeError(bytes, expected).message).toBe('lenet5.safetensors: layer1.W has shape [50,20,3,3], expected [50,20,5,5]');
  });
  test('rank mismatch', () => {
    expect(decodeError(bytes, { ...expected, 'layer1.W': [50, 20, 3, 3], 'layer0.b': [1, 20] }).message).toBe(
      'lenet5.safetensors: layer0.b has shape [20], expected [1,20]',
    );
  });
  test('missing tensor', () => {
    expect(decodeError(bytes, { ...expected, 'layer1.b': [50] }).message).toBe('lenet5.safetensors: missing tensor layer1.b');
  });
  test('unexpected tensor', () => {
    expect(decodeError(bytes, { 'layer0.W': [20, 1, 5, 5], 'layer0.b': [20] }).message).toBe('lenet5.safetensors: unexpected tensor layer1.W');
  });
  test('missing and unexpected together', () => {
    expect(decodeError(bytes, { 'layer0.W': [20, 1, 5, 5], 'conv1.b': [20], 'conv2.W': [1] }).message).toBe(
      'lenet5.safetensors: missing tensors conv1.b, conv2.W; unexpected tensors layer0.b, layer1.W',
    );
  });
});

describe('many or long names', () => {
  /** A header of `n` zero-size tensors t0, t1, ... (all at [0,0]), built as text. */
  function zeroSizeEntries(n: number): Buffer {
    const parts: string[] = [];
    for (let i = 0; i < n; i++) parts.push(`"t${i}":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}`);
    return buildFile(`{${parts.join(',')}}`);
  }

  test('a list of names in a message names five and counts the rest', () => {
    const bytes = zeroSizeEntries(12);
    expect(decodeError(bytes, { a: [1], b: [1] }).message).toBe(
      `${SRC}: missing tensors a, b; unexpected tensors t0, t1, t2, t3, t4 and 7 more`,
    );
    const wanted = Object.fromEntries(Array.from({ length: 9 }, (_, i) => [`w${i}`, [0]]));
    expect(decodeError(zeroSizeEntries(1), wanted).message).toBe(
      `${SRC}: missing tensors w0, w1, w2, w3, w4 and 4 more; unexpected tensor t0`,
    );
  });

  test('a long name is shortened in messages', () => {
    const name = 'n'.repeat(10000);
    const bytes = buildFile(`{"${name}":{"dtype":"F16","shape":[0],"data_offsets":[0,0]}}`);
    expect(decodeError(bytes).message).toBe(`${SRC}: tensor ${'n'.repeat(57)}... has dtype F16; only F32 is supported`);
  });

  test('maxTensors rejects a header listing more tensors, metadata aside', () => {
    const bytes = buildFile(
      '{"__metadata__":{"a":"b"},"x":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},"y":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}}',
    );
    expect([...decodeSafetensors(bytes, SRC, undefined, { maxTensors: 2 }).tensors.keys()]).toEqual(['x', 'y']);
    try {
      decodeSafetensors(bytes, SRC, undefined, { maxTensors: 1 });
      throw new Error('accepted');
    } catch (err) {
      expect(err).toBeInstanceOf(CheckpointError);
      expect((err as Error).message).toBe(`${SRC}: header lists 2 tensors, more than the 1 this reader accepts`);
    }
  });

  test('a list of 20000 unexpected names makes a short message', () => {
    const message = decodeError(zeroSizeEntries(20000), { 'layer0.W': [20, 1, 5, 5] }).message;
    expect(message).toBe(`${SRC}: missing tensor layer0.W; unexpected tensors t0, t1, t2, t3, t4 and 19995 more`);
  });

  test('as a checkpoint, 1.5 million zero-size entries are rejected at once with a short message', async () => {
    const file = path.join(tmpDir, 'many.safetensors');
    fs.writeFileSync(file, zeroSizeEntries(1_500_000));
    const start = Date.now();
    const err = (await readCheckpoint(file).catch((e: unknown) => e)) as CheckpointError;
    const seconds = (Date.now() - start) / 1000;
    expect(err).toBeInstanceOf(CheckpointError);
    expect(err.message).toBe(`${file}: header length 88888891 exceeds the ${MAX_CHECKPOINT_HEADER_BYTES}-byte limit`);
    // Loose: speed belongs to benchmarks; this catches a return of the 22-second path (reading
    // the 89 MB file is most of what is left).
    expect(seconds).toBeLessThan(5);
  });

  test('as a checkpoint, a header under the length limit that lists too many tensors is rejected before validation', async () => {
    const file = path.join(tmpDir, 'many.safetensors');
    fs.writeFileSync(file, zeroSizeEntries(10000));
    const err = (await readCheckpoint(file).catch((e: unknown) => e)) as CheckpointError;
    expect(err).toBeInstanceOf(CheckpointError);
    expect(err.message).toBe(`${file}: header lists 10000 tensors, more than the ${MAX_CHECKPOINT_TENSORS} this reader accepts`);
  });
});

describe('saveSafetensors / loadSafetensors', () => {
  const t1: NamedTensor[] = [{ name: 'w', shape: [2, 2], data: new Float32Array([1, 2, 3, 4]) }];
  const t2: NamedTensor[] = [
    { name: 'w', shape: [3], data: new Float32Array([5, 6, 7]) },
    { name: 'b', shape: [1], data: new Float32Array([8]) },
  ];

  test('round trip through a file', async () => {
    const file = path.join(tmpDir, 'model.safetensors');
    await saveSafetensors(file, t1, { epoch: '1' });
    const { tensors, metadata } = await loadSafetensors(file, { w: [2, 2] });
    expect(metadata).toEqual({ epoch: '1' });
    expect(Array.from(tensors.get('w')!.data)).toEqual([1, 2, 3, 4]);
    expect(fs.readFileSync(file).equals(encodeSafetensors(t1, { epoch: '1' }))).toBe(true);
  });

  test('saving over an existing file replaces it atomically via a temp file in the same directory', async () => {
    const file = path.join(tmpDir, 'model.safetensors');
    await saveSafetensors(file, t1);
    // writeFileAtomic creates its temporary file synchronously, so it is there once the call returns.
    const saving = saveSafetensors(file, t2, { epoch: '2' });
    const during = fs.readdirSync(tmpDir).filter((f) => f !== 'model.safetensors');
    await saving;
    expect(during).toHaveLength(1);
    expect(during[0].startsWith(`model.safetensors.tmp-${process.pid}-`)).toBe(true);
    expect(during[0]).toMatch(/\.tmp-\d+-[0-9a-f]{12}$/);

    const { tensors, metadata } = await loadSafetensors(file);
    expect(metadata).toEqual({ epoch: '2' });
    expect([...tensors.keys()].sort()).toEqual(['b', 'w']);
    expect(Array.from(tensors.get('w')!.data)).toEqual([5, 6, 7]);
    expect(fs.readdirSync(tmpDir)).toEqual(['model.safetensors']);
  });

  test('a save into a missing directory rejects naming the path and leaves no temp file', async () => {
    const file = path.join(tmpDir, 'no-such-dir', 'model.safetensors');
    const p = saveSafetensors(file, t1);
    await expect(p).rejects.toBeInstanceOf(CheckpointError);
    await expect(p).rejects.toThrow(`${file}: cannot save checkpoint: ENOENT`);
    expect(fs.readdirSync(tmpDir)).toEqual([]);
  });

  test('a directory as the destination is refused before anything is written, and keeps its contents', async () => {
    const target = path.join(tmpDir, 'model.safetensors');
    fs.mkdirSync(target);
    fs.writeFileSync(path.join(target, 'keep'), 'x');
    const err = await saveSafetensors(target, t1).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(CheckpointError);
    expect((err as CheckpointError).message).toBe(`${target}: will not write checkpoint over a directory; give the path of a regular file`);
    expect((err as CheckpointError).code).toBe('ENOTREG');
    expect(fs.readdirSync(tmpDir)).toEqual(['model.safetensors']);
    expect(fs.readdirSync(target)).toEqual(['keep']);
  });

  test('saving through a symbolic link writes the target and keeps the link', async () => {
    const target = path.join(tmpDir, 'real.safetensors');
    const link = path.join(tmpDir, 'link.safetensors');
    await saveSafetensors(target, t1);
    fs.symlinkSync('real.safetensors', link);
    await saveSafetensors(link, t2, { epoch: '7' });
    expect(fs.lstatSync(link).isSymbolicLink()).toBe(true);
    expect(fs.readlinkSync(link)).toBe('real.safetensors');
    expect(fs.readFileSync(target).equals(encodeSafetensors(t2, { epoch: '7' }))).toBe(true);
    expect(fs.readdirSync(tmpDir).sort()).toEqual(['link.safetensors', 'real.safetensors']);
  });

  test('an I/O failure carries the errno code and the cause', async () => {
    const file = path.join(tmpDir, 'no-such-dir', 'model.safetensors');
    const saveErr = (await saveSafetensors(file, t1).catch((e: unknown) => e)) as CheckpointError;
    expect(saveErr.code).toBe('ENOENT');
    expect(saveErr.cause).toBeInstanceOf(Error);
    const loadErr = (await loadSafetensors(file).catch((e: unknown) => e)) as CheckpointError;
    expect(loadErr).toBeInstanceOf(CheckpointError);
    expect(loadErr.code).toBe('ENOENT');
    expect(loadErr.message).toBe(`${file}: cannot read checkpoint: ENOENT: no such file or directory, open '${file}'`);
  });

  test('invalid tensors reject before anything is written', async () => {
    const file = path.join(tmpDir, 'model.safetensors');
    await expect(saveSafetensors(file, [{ name: 'w', shape: [3], data: new Float32Array(2) }])).rejects.toThrow(
      `${file}: cannot encode checkpoint: tensor w: data has 2 elements but shape [3] needs 3`,
    );
    expect(fs.readdirSync(tmpDir)).toEqual([]);
  });

  test('loading a missing file names the path', async () => {
    const file = path.join(tmpDir, 'absent.safetensors');
    await expect(loadSafetensors(file)).rejects.toThrow(`${file}: cannot read checkpoint: ENOENT`);
  });

  test('loading a corrupt file names the path', async () => {
    const file = path.join(tmpDir, 'bad.safetensors');
    fs.writeFileSync(file, encodeSafetensors(t1).subarray(0, 40));
    await expect(loadSafetensors(file)).rejects.toThrow(
      new CheckpointError(`${file}: header length 64 runs past the end of the file (40 bytes, so at most 32 header bytes)`),
    );
  });

  test('loading with expected shapes reports the file path', async () => {
    const file = path.join(tmpDir, 'lenet5.safetensors');
    await saveSafetensors(file, t1);
    await expect(loadSafetensors(file, { w: [4] })).rejects.toThrow(`${file}: w has shape [2,2], expected [4]`);
  });
});

// ---------------------------------------------------------------------------
// Cross-checks with Python. These are skipped (with the reason printed) when the
// interpreter or module is not available; they never pass silently.

const PYTHON = '/usr/bin/python3';

function probePython(imports: string): string | null {
  const r = spawnSync(PYTHON, ['-c', `import ${imports}`], { encoding: 'utf8' });
  if (r.error) return `${PYTHON} cannot be run (${r.error.message})`;
  if (r.status !== 0) return `${PYTHON} -c "import ${imports}" failed: ${r.stderr.trim().split('\n').pop()}`;
  return null;
}

function runPython(script: string, args: string[]): unknown {
  const r = spawnSync(PYTHON, ['-c', script, ...args], { encoding: 'utf8' });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`python failed (${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout);
}

const numpySkip = probePython('json, struct, numpy');
const safetensorsSkip = probePython('safetensors.numpy, numpy');
if (numpySkip) reportSkip('numpy/struct cross-check of the safetensors format', numpySkip);
if (safetensorsSkip) reportSkip('cross-check with the Python safetensors package', safetensorsSkip);

interface PyTensor {
  dtype: string;
  shape: number[];
  offsets: [number, number];
  bits: number[];
}
interface PyDump {
  header_len: number;
  metadata: Record<string, string>;
  tensors: Record<string, PyTensor>;
}

/** Parses a safetensors file with struct/json/numpy only and dumps it as JSON. */
const PY_READER = `
import sys, json, struct
import numpy as np
with open(sys.argv[1], 'rb') as f:
    b = f.read()
(n,) = struct.unpack('<Q', b[:8])
h = json.loads(b[8:8 + n].decode('utf-8'))
meta = h.pop('__metadata__', {})
data = b[8 + n:]
out = {'header_len': n, 'metadata': meta, 'tensors': {}}
for name, info in h.items():
    s, e = info['data_offsets']
    assert info['dtype'] == 'F32'
    arr = np.frombuffer(data[s:e], dtype='<f4').reshape(info['shape'])
    out['tensors'][name] = {'dtype': info['dtype'], 'shape': list(arr.shape), 'offsets': [s, e],
                            'bits': [int(x) for x in arr.view('<u4').ravel()]}
print(json.dumps(out))
`;

/** Writes a safetensors file by hand (odd layout: unsorted names, no padding) and dumps its bits. */
const PY_WRITER = `
import sys, json, struct
import numpy as np
ts = {
    'z.last': np.arange(6, dtype='<f4').reshape(2, 3) / np.float32(7),
    'a.first': np.array([np.inf, -0.0, 1e-40, -3.5], dtype='<f4'),
    'scalar': np.array(2.5, dtype='<f4'),
}
header, blob = {'__metadata__': {'writer': 'numpy'}}, b''
for name, arr in ts.items():
    raw = arr.astype('<f4').tobytes()
    header[name] = {'dtype': 'F32', 'shape': list(arr.shape), 'data_offsets': [len(blob), len(blob) + len(raw)]}
    blob += raw
hb = json.dumps(header).encode('utf-8')
with open(sys.argv[1], 'wb') as f:
    f.write(struct.pack('<Q', len(hb)) + hb + blob)
print(json.dumps({k: {'shape': list(v.shape), 'bits': [int(x) for x in v.astype('<f4').view('<u4').ravel()]} for k, v in ts.items()}))
`;

describe('cross-check with Python', () => {
  const tensors: NamedTensor[] = [
    { name: 'layer0.W', shape: [4, 1, 3, 3], data: randomF32(36, 9) },
    { name: 'layer0.b', shape: [4], data: new Float32Array([0, -0, Infinity, 1e-42]) },
    { name: 'scalar', shape: [], data: new Float32Array([Math.E]) },
  ];

  (numpySkip ? test.skip : test)('python (struct/json/numpy) reads what we write', () => {
    const file = path.join(tmpDir, 'ours.safetensors');
    fs.writeFileSync(file, encodeSafetensors(tensors, { framework: 'lenet-cudnn', 'é': 'ü' }));
    const dump = runPython(PY_READER, [file]) as PyDump;
    expect(dump.header_len % 8).toBe(0);
    expect(dump.metadata).toEqual({ framework: 'lenet-cudnn', 'é': 'ü' });
    expect(Object.keys(dump.tensors).sort()).toEqual(tensors.map((t) => t.name).sort());
    for (const t of tensors) {
      expect(dump.tensors[t.name].dtype).toBe('F32');
      expect(dump.tensors[t.name].shape).toEqual(t.shape);
      expect(dump.tensors[t.name].bits).toEqual(bits(t.data));
    }
  });

  (numpySkip ? test.skip : test)('we read what python (struct/json/numpy) writes', () => {
    const file = path.join(tmpDir, 'theirs.safetensors');
    const want = runPython(PY_WRITER, [file]) as Record<string, { shape: number[]; bits: number[] }>;
    const { tensors: got, metadata } = decodeSafetensors(fs.readFileSync(file), file, {
      'z.last': [2, 3],
      'a.first': [4],
      scalar: [],
    });
    expect(metadata).toEqual({ writer: 'numpy' });
    for (const [name, w] of Object.entries(want)) {
      expect(got.get(name)!.shape).toEqual(w.shape);
      expect(bits(got.get(name)!.data)).toEqual(w.bits);
    }
  });

  (safetensorsSkip ? test.skip : test)('the safetensors package reads our files and we read its files', () => {
    const ours = path.join(tmpDir, 'ours.safetensors');
    const theirs = path.join(tmpDir, 'theirs.safetensors');
    fs.writeFileSync(ours, encodeSafetensors(tensors, { k: 'v' }));
    const script = `
import sys, json
import numpy as np
from safetensors import safe_open
from safetensors.numpy import load_file, save_file
t = load_file(sys.argv[1])
with safe_open(sys.argv[1], framework='np') as f:
    meta = f.metadata()
save_file({'x': np.arange(5, dtype=np.float32) / np.float32(3), 'y': np.ones((2, 2), dtype=np.float32)}, sys.argv[2], metadata={'by': 'python'})
print(json.dumps({'metadata': meta, 'tensors': {k: {'shape': list(v.shape), 'bits': [int(x) for x in v.view('<u4').ravel()]} for k, v in t.items()}}))
`;
    const dump = runPython(script, [ours, theirs]) as { metadata: Record<string, string>; tensors: Record<string, { shape: number[]; bits: number[] }> };
    expect(dump.metadata).toEqual({ k: 'v' });
    for (const t of tensors) {
      expect(dump.tensors[t.name].shape).toEqual(t.shape);
      expect(dump.tensors[t.name].bits).toEqual(bits(t.data));
    }
    const back = decodeSafetensors(fs.readFileSync(theirs), theirs, { x: [5], y: [2, 2] });
    expect(back.metadata).toEqual({ by: 'python' });
    expect(bits(back.tensors.get('x')!.data)).toEqual(bits(new Float32Array([0, 1, 2, 3, 4].map((v) => Math.fround(v / 3)))));
  });
});

describe('LeNet5 checkpoints: what the model and the CLI accept loads, nothing else does', () => {
  const SMALL = { nkerns: [2, 3] as [number, number], hidden: 4 };
  let backend: Backend;
  let restoreRealm: () => void;
  let dir: string;

  beforeAll(() => {
    // Arrays the addon returns are main-realm arrays; see test/api.test.ts.
    restoreRealm = tolerateForeignTypedArrays();
    backend = createBackend({ device: 'cpu' });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'checkpoint-test-'));
  });
  afterAll(() => {
    backend.dispose();
    restoreRealm();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** Saves a small model and returns the file's tensors and metadata, as read back independently. */
  async function savedSmall(seed: number): Promise<{ file: string; tensors: NamedTensor[]; metadata: Record<string, string> }> {
    const file = path.join(dir, `seed-${seed}.safetensors`);
    const model = new LeNet5({ backend, ...SMALL, seed });
    await model.save(file);
    model.dispose();
    const { tensors, metadata } = await loadSafetensors(file);
    return { file, tensors: [...tensors.values()], metadata };
  }

  /** Asserts that loading `file` fails with a CheckpointError of exactly `message`. */
  async function expectLoadFails(file: string, message: string): Promise<void> {
    const err = await LeNet5.load(file, { backend }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(CheckpointError);
    expect((err as Error).message).toBe(message);
  }

  test.each([0, 1, 4294967295])('a model saved with seed %d loads with that seed and the same weights', async (seed) => {
    const { file, tensors, metadata } = await savedSmall(seed);
    expect(metadata.seed).toBe(String(seed));
    const model = await LeNet5.load(file, { backend });
    expect(model.config).toEqual({ ...SMALL, imageSize: 28, classes: 10, seed });
    const values = await model.arena.values.read();
    const saved = new Float32Array(values.length);
    let offset = 0;
    for (const p of model.params()) {
      const t = tensors.find((x) => x.name === p.name)!;
      saved.set(t.data, offset);
      offset += t.data.length;
    }
    expect(bits(values)).toEqual(bits(saved));
    model.dispose();
  });

  test('metadata outside the ranges LeNet5 accepts is a CheckpointError naming the file', async () => {
    const { tensors, metadata } = await savedSmall(7);
    const cases: [Record<string, string>, string][] = [
      [{ imageSize: '1' }, "metadata imageSize is '1', expected an integer of at least 16 (what two 5x5 conv + 2x2 pool layers need)"],
      [{ imageSize: '15' }, "metadata imageSize is '15', expected an integer of at least 16 (what two 5x5 conv + 2x2 pool layers need)"],
      [{ seed: '4294967296' }, "metadata seed is '4294967296', expected at most 4294967295"],
      [{ seed: '-1' }, "metadata seed is '-1', expected a non-negative integer"],
      [{ seed: '' }, "metadata seed is '', expected a non-negative integer"],
      [{ seed: '1e3' }, "metadata seed is '1e3', expected a non-negative integer"],
      [{ hidden: '0' }, "metadata hidden is '0', expected a positive integer"],
      [{ hidden: '4.5' }, "metadata hidden is '4.5', expected a positive integer"],
      [{ hidden: '99999999999' }, "metadata hidden is '99999999999', expected at most 2147483647"],
      [{ classes: ' 10' }, "metadata classes is ' 10', expected a positive integer"],
      [{ nkerns: '0,3' }, "metadata nkerns is '0,3', expected two positive integers like 20,50"],
      [{ nkerns: '2,3,4' }, "metadata nkerns is '2,3,4', expected two positive integers like 20,50"],
      [{ hidden: '1000000000' }, 'layer2.W has shape [48,4], expected [48,1000000000]'],
      [{ imageSize: '32' }, 'layer2.W has shape [48,4], expected [75,4]'],
      [{ seed: 'x'.repeat(1000) }, `metadata seed is '${'x'.repeat(37)}...', expected a non-negative integer`],
    ];
    for (const [i, [override, message]] of cases.entries()) {
      const file = path.join(dir, `meta-${i}.safetensors`);
      fs.writeFileSync(file, encodeSafetensors(tensors, { ...metadata, ...override }));
      await expectLoadFails(file, `${file}: ${message}`);
    }
  });

  test('without metadata, shapes that give no valid architecture are a CheckpointError', async () => {
    const { tensors } = await savedSmall(7);
    const zeroHidden = tensors.map((t) => {
      const shape = t.name === 'layer2.W' ? [48, 0] : t.name === 'layer2.b' ? [0] : t.name === 'layer3.W' ? [0, 10] : t.shape;
      return { name: t.name, shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)) };
    });
    const file = path.join(dir, 'zero-hidden.safetensors');
    fs.writeFileSync(file, encodeSafetensors(zeroHidden));
    await expectLoadFails(file, `${file}: metadata gives no hidden, and layer3.W of shape [0,10] gives none either (expected 2 dimensions, axis 0 a positive integer)`);
    const flat = tensors.map((t) => (t.name === 'layer0.W' ? { ...t, shape: [t.data.length] } : t));
    const flatFile = path.join(dir, 'flat.safetensors');
    fs.writeFileSync(flatFile, encodeSafetensors(flat));
    await expectLoadFails(flatFile, `${flatFile}: metadata gives no nkerns, and layer0.W of shape [50] gives none either (expected 4 dimensions, axis 0 a positive integer)`);
  });

  test('a NaN or infinite weight is rejected on load, naming the tensor, the index and the value', async () => {
    const { tensors, metadata } = await savedSmall(7);
    for (const [name, index, value] of [
      ['layer2.W', 100, NaN],
      ['layer3.b', 9, Infinity],
      ['layer0.W', 0, -Infinity],
    ] as const) {
      const patched = tensors.map((t) => (t.name === name ? { ...t, data: Float32Array.from(t.data) } : t));
      patched.find((t) => t.name === name)!.data[index] = value;
      const file = path.join(dir, `nonfinite-${name}.safetensors`);
      fs.writeFileSync(file, encodeSafetensors(patched, metadata));
      // The general reader still reads the value: a NaN is valid safetensors.
      const read = (await loadSafetensors(file)).tensors.get(name)!.data[index];
      expect(Number.isNaN(value) ? Number.isNaN(read) : read === value).toBe(true);
      await expectLoadFails(file, `${file}: ${name}[${index}] is ${value}; a checkpoint's weights must be finite`);
    }
  });

  test('saveCheckpoint refuses metadata too large for a checkpoint header, before writing', async () => {
    const model = new LeNet5({ backend, ...SMALL });
    const file = path.join(dir, 'big-metadata.safetensors');
    const err = await model.save(file, { note: 'x'.repeat(MAX_CHECKPOINT_HEADER_BYTES) }).then(
      () => undefined,
      (e: unknown) => e,
    );
    model.dispose();
    expect(err).toBeInstanceOf(CheckpointError);
    expect((err as Error).message).toMatch(new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: cannot save checkpoint: \\d+ bytes of metadata, over the 983040 a checkpoint header has room for$`));
    expect(fs.existsSync(file)).toBe(false);
  });
});
