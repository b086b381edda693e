/**
 * Host-side reader and writer for the Hugging Face safetensors format, used for
 * model checkpoints.
 *
 * Layout: an 8-byte little-endian unsigned header length N, N bytes of UTF-8
 * JSON header, then the data section. The header maps tensor names to
 * `{ dtype, shape, data_offsets: [begin, end] }` (offsets relative to the start
 * of the data section) plus an optional `__metadata__` string-to-string map.
 * Tensor data is little-endian, row-major.
 *
 * Only F32 tensors are written or read. Reading validates the file as strictly
 * as the reference Rust implementation (tensors must tile the data section
 * contiguously, with no gaps, overlaps or trailing bytes) and reports every
 * problem as a {@link CheckpointError} whose message starts with the file path.
 * Decoding is all-or-nothing: either every tensor is returned or an error is
 * thrown.
 */

import { isFloat32Array } from 'util/types';
import { endianness } from 'os';
import { FileAccessError, readRegularFile, writeFileAtomic } from './fsio';

/** A named, row-major F32 tensor held on the host. */
export interface NamedTensor {
  /** Tensor name, the key in the safetensors header (e.g. `conv1.W`). */
  name: string;
  /** Dimensions, outermost first; `[]` is a scalar (one element). */
  shape: number[];
  /** Elements in row-major order; `data.length` equals the product of `shape`. */
  data: Float32Array;
}

/**
 * A checkpoint could not be read, validated or written. The message starts
 * with the file path (or the `source` label given to {@link decodeSafetensors}).
 */
export class CheckpointError extends Error {
  override name = 'CheckpointError';
  /**
   * For a file that could not be read or written: the errno code (`ENOENT`, `EACCES`, ...), or
   * `ENOTREG` for a path that is not a regular file, `EFBIG` for one over the size limit.
   * {@link BAD_CHECKPOINT} for contents that are malformed or not a checkpoint this package
   * accepts (and for weights or metadata that cannot be encoded).
   */
  readonly code: string;
  constructor(message: string, options?: { cause?: unknown; code?: string }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = options?.code ?? BAD_CHECKPOINT;
  }
}

/** The `code` of a CheckpointError for a file whose contents are refused. */
export const BAD_CHECKPOINT = 'LENET_BAD_CHECKPOINT';

/**
 * Tensors a checkpoint must contain: name -> exact shape. When given to
 * {@link decodeSafetensors} or {@link loadSafetensors}, the file must hold
 * exactly these names (no more, no fewer) with exactly these shapes.
 */
export type ExpectedTensors = Record<string, number[]>;

/** Result of decoding a safetensors file. */
export interface DecodedSafetensors {
  /** Tensors keyed by name, in data-section order; each owns a fresh Float32Array. */
  tensors: Map<string, NamedTensor>;
  /** The `__metadata__` map (empty when the file has none). */
  metadata: Record<string, string>;
}

/** Options of {@link decodeSafetensors}. */
export interface DecodeOptions {
  /**
   * Most tensors the header may list (`__metadata__` aside); more is rejected right after the
   * JSON is parsed, before any entry is validated. Unlimited when undefined.
   */
  maxTensors?: number;
  /**
   * Longest JSON header accepted, in bytes; longer is rejected before it is decoded. At most
   * (and by default) the reference implementation's 100 MB.
   */
  maxHeaderBytes?: number;
}

/** Largest header accepted, as in the reference implementation (100 MB). */
const MAX_HEADER_BYTES = 100_000_000;
/**
 * Largest safetensors file read (2 GiB): far above any LeNet5 checkpoint (the tutorial's is
 * 1.7 MB), and a bound on the memory a read can take.
 */
export const MAX_SAFETENSORS_BYTES = 2 ** 31;
/** Most names a message lists; the rest are counted ("and 12 more"). */
const MAX_NAMES_LISTED = 5;
/** Longest tensor name or metadata key printed whole in a message. */
const MAX_LABEL_CHARS = 60;
const METADATA_KEY = '__metadata__';
const F32_BYTES = 4;
const HOST_IS_LITTLE_ENDIAN = endianness() === 'LE';

/** Formats a shape the way messages print it: `[50,20,5,5]`. */
function formatShape(shape: readonly number[]): string {
  return `[${shape.join(',')}]`;
}

/** Prints a name bare when that is unambiguous, JSON-quoted otherwise; a long one is shortened. */
function label(name: string): string {
  const short = name.length > MAX_LABEL_CHARS ? `${name.slice(0, MAX_LABEL_CHARS - 3)}...` : name;
  return /^[\x21-\x7e]+$/.test(name) && !name.includes('"') ? short : JSON.stringify(short);
}

/** `a, b, c` for a few names, `a, b, c, d, e and 7 more` for many. */
function listNames(names: readonly string[]): string {
  const shown = names.slice(0, MAX_NAMES_LISTED).map(label).join(', ');
  return names.length > MAX_NAMES_LISTED ? `${shown} and ${names.length - MAX_NAMES_LISTED} more` : shown;
}

/** Short description of a JSON value's kind for error messages. */
function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  switch (typeof value) {
    case 'object':
      return 'an object';
    case 'string':
      return 'a string';
    case 'number':
      return 'a number';
    case 'boolean':
      return 'a boolean';
    default:
      return typeof value;
  }
}

/** JSON text of a (parsed JSON) value, shortened for messages. */
function preview(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

function isIndex(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/** Swaps each 4-byte group in place (little-endian <-> big-endian). */
function swap32(bytes: Uint8Array): void {
  for (let i = 0; i + 3 < bytes.length; i += 4) {
    const b0 = bytes[i];
    const b1 = bytes[i + 1];
    bytes[i] = bytes[i + 3];
    bytes[i + 1] = bytes[i + 2];
    bytes[i + 2] = b1;
    bytes[i + 3] = b0;
  }
}

/** Element count of a shape as a BigInt (exact even for absurd shapes). */
function elementCount(shape: readonly number[]): bigint {
  let n = 1n;
  for (const d of shape) n *= BigInt(d);
  return n;
}

/** Compares strings by their UTF-8 bytes, the order the reference writer sorts names in. */
function compareUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/**
 * Serializes F32 tensors (and optional string metadata) to safetensors bytes.
 *
 * Tensors are laid out in UTF-8 byte order of their names, like the reference
 * writer, so the output does not depend on the order of `tensors`. The JSON
 * header is compact and padded with trailing spaces so that the data section
 * starts at an 8-byte-aligned file offset. Data is written little-endian
 * whatever the host byte order.
 *
 * @param tensors - Tensors to store; names must be unique, not `__metadata__`,
 *   and `data.length` must equal the product of `shape`.
 * @param metadata - Free-form string map stored under `__metadata__` (keys sorted).
 * @returns The complete file contents.
 * @throws TypeError or RangeError when a tensor or metadata entry is malformed.
 */
export function encodeSafetensors(
  tensors: NamedTensor[],
  metadata?: Record<string, string>,
): Buffer {
  const seen = new Set<string>();
  for (const t of tensors) {
    if (typeof t.name !== 'string') throw new TypeError('tensor name must be a string');
    if (/[\uD800-\uDFFF]/u.test(t.name)) {
      throw new RangeError(`tensor ${label(t.name)}: name contains an unpaired UTF-16 surrogate`);
    }
    if (t.name === METADATA_KEY) {
      throw new RangeError(`tensor name ${METADATA_KEY} is reserved for metadata`);
    }
    if (seen.has(t.name)) throw new RangeError(`duplicate tensor name ${label(t.name)}`);
    seen.add(t.name);
    if (!Array.isArray(t.shape) || !t.shape.every(isIndex)) {
      throw new RangeError(
        `tensor ${label(t.name)}: shape ${preview(t.shape)} must be an array of non-negative integers`,
      );
    }
    if (!isFloat32Array(t.data)) {
      throw new TypeError(`tensor ${label(t.name)}: data must be a Float32Array`);
    }
    if (elementCount(t.shape) !== BigInt(t.data.length)) {
      throw new RangeError(
        `tensor ${label(t.name)}: data has ${t.data.length} elements but shape ${formatShape(t.shape)} needs ${elementCount(t.shape)}`,
      );
    }
  }

  const sorted = [...tensors].sort((a, b) => compareUtf8(a.name, b.name));
  // Build the JSON by hand: object key order must be ours (JS objects would
  // move integer-like names first), matching the reference writer's layout.
  const entries: string[] = [];
  if (metadata !== undefined) {
    const keys = Object.keys(metadata).sort(compareUtf8);
    const fields = keys.map((k) => {
      const v = metadata[k];
      if (typeof v !== 'string') {
        throw new TypeError(`metadata value for key ${label(k)} must be a string, got ${kindOf(v)}`);
      }
      if (/[\uD800-\uDFFF]/u.test(k) || /[\uD800-\uDFFF]/u.test(v)) {
        throw new RangeError(`metadata entry ${label(k)} contains an unpaired UTF-16 surrogate`);
      }
      return `${JSON.stringify(k)}:${JSON.stringify(v)}`;
    });
    entries.push(`${JSON.stringify(METADATA_KEY)}:{${fields.join(',')}}`);
  }
  let offset = 0;
  for (const t of sorted) {
    const end = offset + t.data.length * F32_BYTES;
    entries.push(
      `${JSON.stringify(t.name)}:{"dtype":"F32","shape":${formatShape(t.shape)},"data_offsets":[${offset},${end}]}`,
    );
    offset = end;
  }
  const json = Buffer.from(`{${entries.join(',')}}`, 'utf8');
  const headerLength = json.length + ((8 - (json.length % 8)) % 8);

  const out = Buffer.alloc(8 + headerLength + offset, 0x20);
  out.writeBigUInt64LE(BigInt(headerLength), 0);
  json.copy(out, 8);
  let pos = 8 + headerLength;
  for (const t of sorted) {
    const bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    out.set(bytes, pos);
    if (!HOST_IS_LITTLE_ENDIAN) swap32(out.subarray(pos, pos + bytes.length));
    pos += bytes.length;
  }
  return out;
}

interface ParsedEntry {
  name: string;
  shape: number[];
  begin: number;
  end: number;
}

/**
 * Parses and validates safetensors bytes, copying every tensor into a fresh,
 * aligned Float32Array (the input may be unaligned or shared; data is read as
 * little-endian whatever the host byte order).
 *
 * @param bytes - The whole file.
 * @param source - Label that starts every error message, normally the file path.
 * @param expected - If given, the file must contain exactly these tensor names
 *   with exactly these shapes.
 * @param options - Limits on the number of tensors and the header's length.
 * @returns All tensors (in data-section order) and the `__metadata__` map.
 * @throws CheckpointError describing the first problem found, in a message of a few hundred
 *   characters at most (long names are shortened, long lists of names counted); nothing is
 *   returned partially.
 */
export function decodeSafetensors(
  bytes: Uint8Array,
  source = 'safetensors data',
  expected?: ExpectedTensors,
  options: DecodeOptions = {},
): DecodedSafetensors {
  function fail(detail: string): never {
    throw new CheckpointError(`${source}: ${detail}`);
  }
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);

  if (view.length < 8) {
    fail(
      `file is truncated: ${view.length} bytes, shorter than the 8-byte header length field`,
    );
  }
  const declared = view.readBigUInt64LE(0);
  const maxHeaderBytes = Math.min(options.maxHeaderBytes ?? MAX_HEADER_BYTES, MAX_HEADER_BYTES);
  if (declared > BigInt(MAX_HEADER_BYTES)) {
    // No safetensors writer makes such a header: this is some other kind of file (a text file's
    // first 8 bytes read as a length give about 10^18).
    fail(
      `not a safetensors file (its first 8 bytes do not give a header length: read as one they say ${declared} bytes, over the format's limit of ${MAX_HEADER_BYTES})`,
    );
  }
  if (declared > BigInt(maxHeaderBytes)) {
    fail(`header length ${declared} exceeds the ${maxHeaderBytes}-byte limit`);
  }
  const headerLength = Number(declared);
  if (8 + headerLength > view.length) {
    fail(
      `header length ${headerLength} runs past the end of the file (${view.length} bytes, so at most ${view.length - 8} header bytes)`,
    );
  }

  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(
      view.subarray(8, 8 + headerLength),
    );
  } catch {
    return fail(`not a safetensors file (its ${headerLength}-byte header is not valid UTF-8)`);
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch {
    return fail(`not a safetensors file (its ${headerLength}-byte header is not valid JSON)`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) {
    return fail(`header must be a JSON object, got ${kindOf(header)}`);
  }
  if (options.maxTensors !== undefined) {
    const count = Object.keys(header).filter((name) => name !== METADATA_KEY).length;
    if (count > options.maxTensors) {
      fail(`header lists ${count} tensors, more than the ${options.maxTensors} this reader accepts`);
    }
  }

  const dataStart = 8 + headerLength;
  const dataLength = view.length - dataStart;
  let metadata: Record<string, string> = {};
  const entries: ParsedEntry[] = [];

  for (const [name, info] of Object.entries(header as Record<string, unknown>)) {
    if (name === METADATA_KEY) {
      if (info === null) continue; // the reference reader accepts null as "no metadata"
      if (typeof info !== 'object' || Array.isArray(info)) {
        fail(`${METADATA_KEY} must be an object of string values, got ${kindOf(info)}`);
      }
      const pairs = Object.entries(info as Record<string, unknown>);
      for (const [key, value] of pairs) {
        if (typeof value !== 'string') {
          fail(`${METADATA_KEY} value for key ${label(key)} must be a string, got ${kindOf(value)}`);
        }
      }
      // fromEntries defines own properties, so a key like "__proto__" stays data.
      metadata = Object.fromEntries(pairs) as Record<string, string>;
      continue;
    }

    const t = `tensor ${label(name)}`;
    if (typeof info !== 'object' || info === null || Array.isArray(info)) {
      fail(`${t}: entry must be an object, got ${kindOf(info)}`);
    }
    const fields = info as Record<string, unknown>;
    for (const field of ['dtype', 'shape', 'data_offsets']) {
      if (!Object.prototype.hasOwnProperty.call(fields, field)) fail(`${t} is missing "${field}"`);
    }
    const { dtype, shape, data_offsets: offsets } = fields;
    if (typeof dtype !== 'string') fail(`${t}: "dtype" must be a string, got ${kindOf(dtype)}`);
    if (dtype !== 'F32') fail(`${t} has dtype ${label(dtype as string)}; only F32 is supported`);
    if (!Array.isArray(shape)) fail(`${t}: "shape" must be an array, got ${kindOf(shape)}`);
    const dims = shape as unknown[];
    const badDim = dims.find((d) => !isIndex(d));
    if (badDim !== undefined) {
      fail(
        `${t}: shape ${preview(dims)} has invalid dimension ${preview(badDim)} (dimensions must be non-negative integers)`,
      );
    }
    if (
      !Array.isArray(offsets) ||
      offsets.length !== 2 ||
      !isIndex(offsets[0]) ||
      !isIndex(offsets[1]) ||
      offsets[0] > offsets[1]
    ) {
      return fail(
        `${t}: "data_offsets" must be [begin, end] with integers 0 <= begin <= end, got ${preview(offsets)}`,
      );
    }
    const [begin, end] = offsets as [number, number];
    if (end > dataLength) {
      fail(
        `${t}: data_offsets [${begin},${end}] run past the end of the data section (${dataLength} bytes)`,
      );
    }
    const dimsOk = dims as number[];
    const needed = elementCount(dimsOk) * BigInt(F32_BYTES);
    if (needed !== BigInt(end - begin)) {
      fail(
        `${t}: shape ${formatShape(dimsOk)} needs ${needed} bytes of F32 data, but data_offsets [${begin},${end}] span ${end - begin} bytes`,
      );
    }
    entries.push({ name, shape: dimsOk.slice(), begin, end });
  }

  // Like the reference reader: sorted by offsets, tensors must tile the data
  // section exactly, starting at 0 and ending at the end of the file.
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  let previous: ParsedEntry | undefined;
  for (const e of entries) {
    if (e.begin < covered && previous !== undefined) {
      fail(
        `tensor ${label(e.name)} (data_offsets [${e.begin},${e.end}]) overlaps tensor ${label(previous.name)} (data_offsets [${previous.begin},${previous.end}])`,
      );
    }
    if (e.begin > covered) {
      fail(
        `data section bytes [${covered},${e.begin}) are not covered by any tensor (tensors must tile the data section with no gaps)`,
      );
    }
    covered = e.end;
    previous = e;
  }
  if (covered !== dataLength) {
    fail(
      `data section bytes [${covered},${dataLength}) are not covered by any tensor (tensors must tile the data section with no gaps)`,
    );
  }

  if (expected !== undefined) {
    const present = new Set(entries.map((e) => e.name));
    const wanted = Object.keys(expected);
    const missing = wanted.filter((n) => !present.has(n));
    const wantedSet = new Set(wanted);
    const extra = entries.map((e) => e.name).filter((n) => !wantedSet.has(n));
    const problems: string[] = [];
    if (missing.length > 0) {
      problems.push(`missing tensor${missing.length > 1 ? 's' : ''} ${listNames(missing)}`);
    }
    if (extra.length > 0) {
      problems.push(`unexpected tensor${extra.length > 1 ? 's' : ''} ${listNames(extra)}`);
    }
    if (problems.length > 0) fail(problems.join('; '));
    const byName = new Map(entries.map((e) => [e.name, e]));
    for (const name of wanted) {
      const want = expected[name];
      const got = (byName.get(name) as ParsedEntry).shape;
      if (got.length !== want.length || got.some((d, i) => d !== want[i])) {
        fail(`${label(name)} has shape ${formatShape(got)}, expected ${formatShape(want)}`);
      }
    }
  }

  const tensors = new Map<string, NamedTensor>();
  for (const e of entries) {
    // Copy into a fresh ArrayBuffer: aligned, independent of `bytes`.
    const copy = new Uint8Array(e.end - e.begin);
    copy.set(view.subarray(dataStart + e.begin, dataStart + e.end));
    if (!HOST_IS_LITTLE_ENDIAN) swap32(copy);
    tensors.set(e.name, { name: e.name, shape: e.shape, data: new Float32Array(copy.buffer) });
  }
  return { tensors, metadata };
}

/** Message text of a caught value. */
function ioMessage(err: unknown): string {
  // Duck-typed: errors from another realm (e.g. a test sandbox) fail `instanceof Error`.
  const message = (err as { message?: unknown } | null)?.message;
  return typeof message === 'string' ? message : String(err);
}

/**
 * The CheckpointError for a file that could not be read or written (`action`: "read", "save").
 * An errno failure keeps the system's message after `<file>: cannot <action> checkpoint: `; a
 * refusal of fsio's own (not a regular file, over the size limit) keeps its message, which starts
 * with the path.
 */
function fileError(file: string, action: string, err: unknown): CheckpointError {
  const code = err instanceof FileAccessError ? err.code : (err as NodeJS.ErrnoException | null)?.code;
  const cause = err instanceof FileAccessError ? err.cause : err;
  const message =
    cause === undefined && err instanceof FileAccessError
      ? err.message
      : `${file}: cannot ${action} checkpoint: ${ioMessage(cause)}`;
  return new CheckpointError(message, { cause: err, code: typeof code === 'string' ? code : 'EIO' });
}

/**
 * Writes tensors to a safetensors file atomically (see `writeFileAtomic` in lib/fsio.ts): the
 * bytes go to `${file}.tmp-<pid>-<random>` in the destination's directory, are fsynced, and the
 * temporary file is renamed over the destination. Readers therefore see either the old file or
 * the complete new one; on failure the temporary file is removed. A symbolic link is followed
 * (the link stays, its target gets the new contents); a destination that exists and is not a
 * regular file (a device node such as /dev/null, a FIFO, a directory) is refused untouched.
 *
 * @param file - Destination path; its directory must exist.
 * @param tensors - F32 tensors to store (see {@link encodeSafetensors}).
 * @param metadata - Optional `__metadata__` string map.
 * @throws CheckpointError (message starts with `file`; `code` set for an I/O failure) if
 *   encoding or any I/O step fails.
 */
export async function saveSafetensors(
  file: string,
  tensors: NamedTensor[],
  metadata?: Record<string, string>,
): Promise<void> {
  let bytes: Buffer;
  try {
    bytes = encodeSafetensors(tensors, metadata);
  } catch (err) {
    throw new CheckpointError(`${file}: cannot encode checkpoint: ${ioMessage(err)}`, { cause: err });
  }
  try {
    await writeFileAtomic(file, bytes, 'checkpoint');
  } catch (err) {
    throw fileError(file, 'save', err);
  }
}

/**
 * Reads the bytes of a safetensors file: a regular file of at most
 * {@link MAX_SAFETENSORS_BYTES}. A FIFO, a device such as /dev/zero or a directory is refused
 * without blocking or reading from it.
 *
 * @param file - Path of the file.
 * @throws CheckpointError (message starts with `file`, `code` set) if it cannot be read.
 */
export async function readSafetensorsFile(file: string): Promise<Buffer> {
  try {
    return await readRegularFile(file, 'checkpoint', MAX_SAFETENSORS_BYTES);
  } catch (err) {
    throw fileError(file, 'read', err);
  }
}

/**
 * Reads and validates a safetensors file (see {@link readSafetensorsFile} and
 * {@link decodeSafetensors}).
 *
 * @param file - Path of the checkpoint.
 * @param expected - If given, the exact set of tensor names and shapes required.
 * @param options - Limits on the number of tensors and the header's length.
 * @returns All tensors and the metadata map.
 * @throws CheckpointError (message starts with `file`) if the file cannot be
 *   read or fails validation.
 */
export async function loadSafetensors(
  file: string,
  expected?: ExpectedTensors,
  options?: DecodeOptions,
): Promise<DecodedSafetensors> {
  return decodeSafetensors(await readSafetensorsFile(file), file, expected, options);
}
