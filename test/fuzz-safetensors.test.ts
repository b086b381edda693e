/**
 * A seeded mutation fuzzer for the safetensors reader (decodeSafetensors). Each input is a
 * mutation of a small valid file (three F32 tensors and metadata): byte-level (bit flips, bytes
 * set to 0, 0xff, 0x7f or 0x80, truncation, extension, the 8-byte length rewritten) and
 * JSON-level (dtype, shape values, offsets, entries added or removed, metadata of other types,
 * the data section resized). An independent oracle, written here from the format's rules, says
 * whether each input is valid and what it holds: the reader must accept exactly those, return
 * exactly that, and reject every other with a short CheckpointError naming the source, never
 * another kind of exception.
 *
 * The seed is printed; rerun one with FUZZ_SEED=<seed>.
 */
import { CheckpointError, decodeSafetensors } from '../lib/safetensors';
import { TestRandom } from './reference';

const SEED = Number(process.env.FUZZ_SEED ?? 20260413) >>> 0;
const INPUTS = 10000;
const SOURCE = 'fuzz.safetensors';

/** A seeded uniform [0, 1) source (numpy's MT19937, via test/reference.ts). */
function prng(seed: number): () => number {
  const random = new TestRandom(seed >>> 0);
  return () => random.next();
}

interface OracleTensor {
  shape: number[];
  bytes: Buffer;
}

interface OracleFile {
  tensors: Map<string, OracleTensor>;
  metadata: Record<string, string>;
}

const isIndex = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The oracle, from the safetensors rules: an 8-byte little-endian header length N (at most
 * 100,000,000 and within the file), N bytes of UTF-8 JSON that is an object; `__metadata__` is
 * null or an object of strings; every other entry is an object with dtype "F32", a shape of
 * non-negative safe integers and data_offsets [begin, end] with begin <= end, spanning exactly
 * 4 bytes per element; sorted by offsets, the tensors cover the data section exactly, each
 * starting where the previous ended.
 */
function oracle(b: Buffer): OracleFile | null {
  if (b.length < 8) return null;
  const n = b.readBigUInt64LE(0);
  if (n > 100_000_000n || 8n + n > BigInt(b.length)) return null;
  const start = 8 + Number(n);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(b.subarray(8, start)));
  } catch {
    return null;
  }
  if (!isObject(header)) return null;
  const data = b.subarray(start);
  let metadata: Record<string, string> = {};
  const entries: { name: string; shape: number[]; begin: number; end: number }[] = [];
  for (const [name, value] of Object.entries(header)) {
    if (name === '__metadata__') {
      if (value === null) continue;
      if (!isObject(value) || !Object.values(value).every((v) => typeof v === 'string')) return null;
      metadata = Object.fromEntries(Object.entries(value)) as Record<string, string>;
      continue;
    }
    if (!isObject(value)) return null;
    const { dtype, shape, data_offsets: offsets } = value;
    if (dtype !== 'F32' || !Array.isArray(shape) || !shape.every(isIndex)) return null;
    if (!Array.isArray(offsets) || offsets.length !== 2 || !isIndex(offsets[0]) || !isIndex(offsets[1])) return null;
    const [begin, end] = offsets as number[];
    if (begin > end || end > data.length) return null;
    if (shape.reduce((p: bigint, d: number) => p * BigInt(d), 1n) * 4n !== BigInt(end - begin)) return null;
    entries.push({ name, shape, begin, end });
  }
  entries.sort((x, y) => x.begin - y.begin || x.end - y.end);
  let cursor = 0;
  for (const e of entries) {
    if (e.begin !== cursor) return null;
    cursor = e.end;
  }
  if (cursor !== data.length) return null;
  return {
    tensors: new Map(entries.map((e) => [e.name, { shape: e.shape, bytes: data.subarray(e.begin, e.end) }])),
    metadata,
  };
}

/** A file from a header object (serialized with optional padding) and a data section. */
function file(header: unknown, data: Buffer, pad = 0): Buffer {
  const json = Buffer.from(JSON.stringify(header) + ' '.repeat(pad), 'utf8');
  const out = Buffer.alloc(8 + json.length + data.length);
  out.writeBigUInt64LE(BigInt(json.length), 0);
  json.copy(out, 8);
  data.copy(out, 8 + json.length);
  return out;
}

function baseParts(random: () => number): { header: Record<string, unknown>; data: Buffer } {
  const data = Buffer.alloc(4 * (6 + 2 + 1));
  for (let i = 0; i < data.length; i++) data[i] = Math.floor(random() * 256);
  return {
    header: {
      __metadata__: { format: 'fuzz', epoch: '3' },
      'layer0.W': { dtype: 'F32', shape: [2, 3], data_offsets: [0, 24] },
      'layer0.b': { dtype: 'F32', shape: [2], data_offsets: [24, 32] },
      scalar: { dtype: 'F32', shape: [], data_offsets: [32, 36] },
    },
    data,
  };
}

const INTERESTING_BYTES = [0, 0xff, 0x7f, 0x80];
const ODD_VALUES: unknown[] = [-1, 0, 1, 2, 3, 4, 6, 8, 24, 1.5, '2', null, true, [], {}, 2 ** 53, 1e300, -0];

/** A JSON-level mutation of a copy of the base header and data, serialized. */
function mutateJson(random: () => number, parts: { header: Record<string, unknown>; data: Buffer }): Buffer {
  const int = (n: number) => Math.floor(random() * n);
  const pick = <T>(a: readonly T[]): T => a[int(a.length)];
  const header = JSON.parse(JSON.stringify(parts.header)) as Record<string, Record<string, unknown>>;
  let data = Buffer.from(parts.data);
  const names = () => Object.keys(header).filter((k) => k !== '__metadata__');
  for (let m = 1 + int(2); m > 0; m--) {
    const name = pick(names().length > 0 ? names() : ['layer0.W']);
    if (!isObject(header[name])) header[name] = { dtype: 'F32', shape: [0], data_offsets: [0, 0] };
    const entry = header[name];
    switch (int(10)) {
      case 0:
        entry.dtype = pick(['F16', 'f32', 'F64', 'I32', 3, null, 'F32']);
        break;
      case 1: { // one shape value
        const shape = Array.isArray(entry.shape) ? [...(entry.shape as unknown[])] : [];
        if (shape.length > 0) shape[int(shape.length)] = pick(ODD_VALUES);
        entry.shape = shape;
        break;
      }
      case 2: // shape reshaped: same or other element count
        entry.shape = pick([[6], [3, 2], [1, 2, 3], [2], [1], [], [0], [2, 0], [6, 1, 1]]);
        break;
      case 3: { // one offset
        const offsets = Array.isArray(entry.data_offsets) ? [...(entry.data_offsets as unknown[])] : [0, 0];
        offsets[int(2)] = pick([...ODD_VALUES, 32, 36, 40]);
        entry.data_offsets = offsets;
        break;
      }
      case 4: // offsets of another shape
        entry.data_offsets = pick([[0], [0, 24, 36], 'x', null, [24, 0], [0, 36]]);
        break;
      case 5: // remove an entry or a field
        if (random() < 0.5) delete header[name];
        else delete entry[pick(['dtype', 'shape', 'data_offsets'])];
        break;
      case 6: { // add an entry: zero-size, or appended data
        const extra = int(3);
        header[`extra${int(3)}`] = { dtype: 'F32', shape: extra === 0 ? [0] : [extra], data_offsets: [data.length, data.length + 4 * extra] };
        data = Buffer.concat([data, Buffer.alloc(4 * extra, 0x41)]);
        break;
      }
      case 7: // metadata of other types
        (header as Record<string, unknown>).__metadata__ = pick([null, 3, 'a', [], { a: 1 }, { a: null }, { a: 'b' }, {}, { __proto__x: 'y' }]);
        break;
      case 8: // data section resized
        data = random() < 0.5 ? data.subarray(0, int(data.length + 1)) : Buffer.concat([data, Buffer.alloc(1 + int(8))]);
        break;
      default: // the entry replaced by a value of another type
        (header as Record<string, unknown>)[name] = pick([null, 1, 'F32', [], [1, 2]]);
    }
  }
  return file(header, data, int(4) === 0 ? int(9) : 0);
}

/** Byte-level mutations of a serialized file. */
function mutateBytes(random: () => number, input: Buffer): Buffer {
  const int = (n: number) => Math.floor(random() * n);
  let b = Buffer.from(input);
  for (let m = 1 + int(3); m > 0; m--) {
    switch (int(6)) {
      case 0:
        if (b.length > 0) b[int(b.length)] ^= 1 << int(8);
        break;
      case 1:
        if (b.length > 0) b[int(b.length)] = INTERESTING_BYTES[int(INTERESTING_BYTES.length)];
        break;
      case 2:
        b = b.subarray(0, int(b.length + 1));
        break;
      case 3:
        b = Buffer.concat([b, Buffer.from(Array.from({ length: 1 + int(8) }, () => int(256)))]);
        break;
      case 4: // the length field rewritten
        if (b.length >= 8) {
          const n = Number(b.readBigUInt64LE(0));
          b.writeBigUInt64LE(BigInt([0, 1, n - 1, n + 1, n + 4, 2 ** 32, 100_000_001, Number.MAX_SAFE_INTEGER][int(8)]) & 0xffffffffffffffffn, 0);
        }
        break;
      default: // a data byte: keeps a valid file valid
        if (b.length > 8) {
          const start = Math.min(b.length, 8 + Number(b.readBigUInt64LE(0) & 0xffffn));
          if (start < b.length) b[start + int(b.length - start)] = int(256);
        }
    }
  }
  return b;
}

function check(input: Buffer, index: number): boolean {
  const want = oracle(input);
  let got: ReturnType<typeof decodeSafetensors> | undefined;
  let error: unknown;
  try {
    got = decodeSafetensors(input, SOURCE);
  } catch (err) {
    error = err;
  }
  const where = `seed ${SEED}, input #${index}: ${input.toString('latin1').slice(0, 300)}`;
  if (want) {
    if (!got) throw new Error(`${where}: the oracle accepts it, the reader threw ${String(error)}`);
    expect(got.metadata).toEqual(want.metadata);
    expect([...got.tensors.keys()].sort()).toEqual([...want.tensors.keys()].sort());
    for (const [name, t] of want.tensors) {
      const g = got.tensors.get(name)!;
      if (g.shape.join() !== t.shape.join()) throw new Error(`${where}: ${name} has shape [${g.shape}], the oracle says [${t.shape}]`);
      const bytes = Buffer.from(g.data.buffer, g.data.byteOffset, g.data.byteLength);
      if (!bytes.equals(t.bytes)) throw new Error(`${where}: ${name} holds other bytes than the oracle's`);
    }
    return true;
  }
  if (got) throw new Error(`${where}: the oracle rejects it, the reader accepted ${[...got.tensors.keys()]}`);
  const message = (error as Error)?.message;
  if (!(error instanceof CheckpointError) || !message.startsWith(`${SOURCE}: `) || message.length >= 300) {
    throw new Error(`${where}: rejected with ${String(error)} (wanted a CheckpointError starting with the source, under 300 chars)`);
  }
  return false;
}

describe(`safetensors reader fuzzing (seed ${SEED})`, () => {
  beforeAll(() => console.log(`fuzz-safetensors: seed ${SEED} (set FUZZ_SEED to rerun one)`));

  test(`${INPUTS} mutated inputs agree with the oracle`, () => {
    const random = prng(SEED);
    const parts = baseParts(random);
    const good = file(parts.header, parts.data);
    expect(oracle(good)).not.toBeNull();
    let accepted = 0;
    for (let i = 0; i < INPUTS; i++) {
      const r = random();
      const input = r < 0.45 ? mutateJson(random, parts) : r < 0.9 ? mutateBytes(random, good) : mutateBytes(random, mutateJson(random, parts));
      if (check(input, i)) accepted++;
    }
    expect(accepted).toBeGreaterThan(INPUTS / 20);
    expect(accepted).toBeLessThan(INPUTS * 0.9);
  });
});
