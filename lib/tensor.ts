/**
 * `Tensor`: a float32, row-major (NCHW) array in a backend's memory (host memory for the CPU
 * backend, device memory for CUDA), with its shape, views, and transfers to and from the host.
 */
import { isFloat32Array, isUint8Array } from 'util/types';
import type { Backend } from './backend';
import type { NativeTensor } from './native';

/** Thrown when a shape, size or value does not fit what an operation needs. */
export class ShapeError extends Error {
  override name = 'ShapeError';
}

/** The largest extent of one dimension the addon takes (its kernels index with 32-bit extents). */
export const MAX_DIMENSION = 2 ** 31 - 1;

/**
 * The most elements one tensor may have: its byte count (4 per float32) stays an exact integer,
 * far above what any device can allocate, so a larger shape is reported as out of memory rather
 * than rounded.
 */
export const MAX_ELEMENTS = 2 ** 51;

/**
 * Thrown when an allocation cannot be made: a shape with more elements than memory can hold, or
 * a backend out of memory (the addon's errors carry the same `code`). The process stays usable.
 */
export class OutOfMemoryError extends Error {
  override name = 'OutOfMemoryError';
  readonly code = 'LENET_OUT_OF_MEMORY';
}

/**
 * Product of the dimensions (1 for a scalar shape []), exact: a product beyond MAX_ELEMENTS (or a
 * dimension beyond MAX_DIMENSION, in a shape with elements) throws an OutOfMemoryError naming `what`.
 */
export function sizeOf(shape: readonly number[], what = 'shape'): number {
  if (shape.includes(0)) return 0;
  let n = 1;
  for (const d of shape) {
    n *= d;
    if (n > MAX_ELEMENTS || d > MAX_DIMENSION) {
      throw new OutOfMemoryError(`${what}: shape ${shapeText(shape)} has more elements than memory can hold (at most ${MAX_DIMENSION} per dimension, ${MAX_ELEMENTS} in all)`);
    }
  }
  return n;
}

/** `[2,3,4]` as text, for messages. */
export function shapeText(shape: readonly number[]): string {
  return `[${shape.join(',')}]`;
}

/**
 * Checks that `shape` is an array of non-negative integers that memory could hold (`what` names it
 * in the error: a ShapeError, or an OutOfMemoryError for too many elements); returns its size.
 */
export function checkShape(shape: readonly number[], what: string): number {
  if (!Array.isArray(shape) || shape.some((d) => !Number.isInteger(d) || d < 0)) {
    throw new ShapeError(`${what}: shape must be an array of non-negative integers, got ${JSON.stringify(shape)}`);
  }
  // A shape with no elements allocates nothing: only its extent can be wrong.
  if (shape.includes(0) && shape.some((d) => d > MAX_DIMENSION)) {
    throw new ShapeError(`${what}: shape ${shapeText(shape)} has a dimension above ${MAX_DIMENSION}, the largest extent supported`);
  }
  return sizeOf(shape, what);
}

/** Checks that `scale` (a factor applied to uploaded data) is a finite number. */
export function checkScale(op: string, scale: unknown): asserts scale is number {
  if (typeof scale !== 'number' || !Number.isFinite(scale)) {
    throw new TypeError(`${op}: scale must be a finite number, got ${describe(scale)}`);
  }
}

/**
 * Gives an error from asynchronous native work (a read or sync that the executor settled later)
 * the stack of the call that started it, so that the user sees their own line rather than an
 * empty native stack. `caller` was filled by Error.captureStackTrace at the call.
 * @internal
 */
export function withCallerStack(error: unknown, caller: { stack?: string }): unknown {
  if (typeof error === 'object' && error !== null && 'message' in error && typeof caller.stack === 'string') {
    const e = error as Error;
    const frames = caller.stack.slice(caller.stack.indexOf('\n') + 1);
    e.stack = `${e.name}: ${e.message}\n${frames}`;
  }
  return error;
}

/**
 * The promise of `start()` with errors given the stack of `caller`; a synchronous throw of
 * `start()` (e.g. on a disposed backend) becomes a rejection, as an asynchronous API should.
 * @internal
 */
export function settled<T>(start: () => Promise<T>, caller: { stack?: string }): Promise<T> {
  let p: Promise<T>;
  try {
    p = start();
  } catch (e) {
    return Promise.reject(withCallerStack(e, caller));
  }
  return p.catch((e: unknown) => {
    throw withCallerStack(e, caller);
  });
}

/**
 * A float32 array owned by a backend. Create tensors with the backend (`backend.zeros`,
 * `backend.tensor`); free them with `dispose()` (idempotent; a finalizer frees forgotten ones,
 * but device memory is scarce, so dispose explicitly). A view (`reshape`, `slice`) shares its
 * parent's memory, which lives until the parent and all views are disposed.
 */
export class Tensor {
  /** Dimensions, outermost first. */
  readonly shape: readonly number[];
  /** Number of elements. */
  readonly size: number;
  /** The backend that owns the memory. */
  readonly backend: Backend;
  /** @internal The native handle. */
  readonly native: NativeTensor;

  /** @internal Use the backend's factories. */
  constructor(backend: Backend, native: NativeTensor, shape: readonly number[]) {
    this.backend = backend;
    this.native = native;
    this.shape = Object.freeze([...shape]);
    this.size = sizeOf(shape);
  }

  /** True after `dispose()`. */
  get disposed(): boolean {
    return this.native.disposed;
  }

  /** Releases this handle (views and queued ops keep the memory alive until they finish). */
  dispose(): void {
    this.native.dispose();
  }

  /** Copies the contents to a new Float32Array, once all work queued before this call is done. */
  read(): Promise<Float32Array> {
    const caller: { stack?: string } = {};
    Error.captureStackTrace(caller, Tensor.prototype.read);
    return settled(() => {
      this.assertLive('read');
      this.backend.assertOpen('read');
      return this.backend.native.read(this.native);
    }, caller);
  }

  /** Like `read()`, but blocks the calling thread until the data is there. */
  readSync(): Float32Array {
    this.assertLive('readSync');
    this.backend.assertOpen('readSync');
    return this.backend.native.readSync(this.native);
  }

  /** Replaces the contents with `data` (same element count), times `scale` (e.g. 1/255 for pixels). */
  write(data: Float32Array | Uint8Array, scale = 1): this {
    this.assertLive('write');
    this.backend.assertOpen('write');
    if (!isFloat32Array(data) && !isUint8Array(data)) {
      throw new TypeError(`write: data must be a Float32Array or a Uint8Array, got ${describe(data)}`);
    }
    checkScale('write', scale);
    if (data.length !== this.size) {
      throw new ShapeError(`write: data has ${data.length} elements, the tensor ${shapeText(this.shape)} has ${this.size}`);
    }
    this.backend.native.upload(this.native, data, scale);
    return this;
  }

  /** A view with another shape of the same size. */
  reshape(shape: readonly number[]): Tensor {
    this.assertLive('reshape');
    this.backend.assertOpen('reshape');
    if (checkShape(shape, 'reshape') !== this.size) {
      throw new ShapeError(`reshape: cannot view ${shapeText(this.shape)} (${this.size} elements) as ${shapeText(shape)}`);
    }
    return new Tensor(this.backend, this.backend.native.view(this.native, 0, [...shape]), shape);
  }

  /** A view of `count` consecutive entries along the first axis, starting at `start`. */
  slice(start: number, count: number): Tensor {
    this.assertLive('slice');
    this.backend.assertOpen('slice');
    const rows = this.shape[0];
    if (this.shape.length === 0) throw new ShapeError('slice: a scalar tensor has no rows');
    if (!Number.isSafeInteger(start) || !Number.isSafeInteger(count) || start < 0 || count < 0 || start + count > rows) {
      throw new ShapeError(`slice: rows [${start}, ${start + count}) are outside a tensor of ${rows} rows ${shapeText(this.shape)}`);
    }
    const rowSize = rows === 0 ? 0 : this.size / rows;
    const shape = [count, ...this.shape.slice(1)];
    return new Tensor(this.backend, this.backend.native.view(this.native, start * rowSize, shape), shape);
  }

  /** @internal Throws a clear error when the tensor was disposed. */
  assertLive(op: string): void {
    if (this.native.disposed) throw new Error(`${op}: tensor ${shapeText(this.shape)} was used after dispose()`);
  }

  /** e.g. `Tensor(cpu, [500,1,28,28])`. */
  toString(): string {
    return `Tensor(${this.backend.kind}, ${shapeText(this.shape)}${this.disposed ? ', disposed' : ''})`;
  }
}

/** A short description of a value's type, for error messages. */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (Array.isArray(value)) return 'an Array';
  if (ArrayBuffer.isView(value)) return `a ${value.constructor.name}`;
  return typeof value === 'object' ? `a ${(value as object).constructor?.name ?? 'object'}` : `${typeof value} ${String(value)}`;
}
