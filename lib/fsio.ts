/**
 * File input and output that no path can turn against the process: inputs must be regular files
 * and are read no further than a limit (a FIFO, /dev/zero or a directory is refused without
 * blocking), and outputs are written atomically (a temporary file in the destination's directory,
 * fsynced, renamed into place) onto regular files only, never over a device node. Temporary files
 * of writes in progress are tracked, so that a signal handler can remove them before the process
 * exits (`removePendingTemporaryFiles`).
 */
import { randomBytes } from 'crypto';
import * as fs from 'fs';
import { promises as fsp } from 'fs';
import * as path from 'path';

/** An input or output path that cannot be used; `code` is the errno code when there was one. */
export class FileAccessError extends Error {
  override name = 'FileAccessError';
  /** The errno code (`ENOENT`, `EACCES`, ...) or `ENOTREG` for something that is not a regular file. */
  readonly code: string;
  constructor(message: string, code: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** What a non-regular file is, for messages. */
function kindOfFile(stat: fs.Stats): string {
  if (stat.isDirectory()) return 'a directory';
  if (stat.isFIFO()) return 'a FIFO (named pipe)';
  if (stat.isCharacterDevice()) return 'a character device';
  if (stat.isBlockDevice()) return 'a block device';
  if (stat.isSocket()) return 'a socket';
  return 'not a regular file';
}

/** A short, human reason for an errno error. */
export function errnoReason(err: unknown): { reason: string; code: string } {
  const e = err as NodeJS.ErrnoException;
  const code = typeof e?.code === 'string' ? e.code : 'EIO';
  const reasons: Record<string, string> = {
    ENOENT: 'no such file or directory',
    EACCES: 'permission denied',
    EPERM: 'operation not permitted',
    EISDIR: 'is a directory',
    ENOTDIR: 'a component of the path is not a directory',
    ELOOP: 'too many levels of symbolic links',
    EROFS: 'read-only file system',
    ENOSPC: 'no space left on device',
    EDQUOT: 'disk quota exceeded',
    EFBIG: 'file too large',
    ENAMETOOLONG: 'file name too long',
  };
  return { reason: reasons[code] ?? (typeof e?.message === 'string' ? e.message : String(err)), code };
}

function notRegular(file: string, stat: fs.Stats, what: string): FileAccessError {
  return new FileAccessError(`${file}: ${what} is ${kindOfFile(stat)}, expected a regular file`, 'ENOTREG');
}

function tooLarge(file: string, what: string, size: number, maxBytes: number): FileAccessError {
  return new FileAccessError(`${file}: ${what} of ${size} bytes is over the ${maxBytes}-byte limit`, 'EFBIG');
}

// O_NONBLOCK makes opening a FIFO return at once instead of waiting for a writer; it has no effect
// on a regular file's reads. Not defined on Windows, where FIFOs do not block an open this way.
const OPEN_READ = fs.constants.O_RDONLY | (fs.constants.O_NONBLOCK ?? 0);

/** The error of a failed open or read of an input, naming the file; a FileAccessError passes through. */
function readFailed(file: string, what: string, err: unknown): FileAccessError {
  if (err instanceof FileAccessError) return err;
  const { reason, code } = errnoReason(err);
  return new FileAccessError(`${file}: cannot read ${what}: ${reason}`, code, { cause: err });
}

/** Refuses a non-regular or too large input; returns the buffer to read it into (one byte spare). */
function readBuffer(file: string, what: string, stat: fs.Stats, maxBytes: number): Buffer {
  if (!stat.isFile()) throw notRegular(file, stat, what);
  if (stat.size > maxBytes) throw tooLarge(file, what, stat.size, maxBytes);
  return Buffer.allocUnsafe(Math.min(stat.size, maxBytes) + 1);
}

/**
 * After a read of `n` bytes brought `length` bytes into `buffer`: true when the read is complete
 * (end of file, or the buffer is full); throws when the file grew past `maxBytes`.
 */
function readDone(file: string, what: string, n: number, length: number, buffer: Buffer, maxBytes: number): boolean {
  if (length > maxBytes) throw tooLarge(file, what, length, maxBytes);
  return n === 0 || length === buffer.length;
}

/**
 * Reads a whole regular file, refusing (without blocking) anything else and any file over
 * `maxBytes`. At most `maxBytes + 1` bytes are ever read, even from a file that grows meanwhile.
 * @param what Names the file in messages ("checkpoint", "IDX file").
 * @throws FileAccessError naming the file, the problem and its `code`.
 */
export function readRegularFileSync(file: string, what: string, maxBytes: number): Buffer {
  let fd: number;
  try {
    fd = fs.openSync(file, OPEN_READ);
  } catch (err) {
    throw readFailed(file, what, err);
  }
  try {
    const buffer = readBuffer(file, what, fs.fstatSync(fd), maxBytes);
    let length = 0;
    for (let done = false; !done; ) {
      const n = fs.readSync(fd, buffer, length, buffer.length - length, length);
      length += n;
      done = readDone(file, what, n, length, buffer, maxBytes);
    }
    return buffer.subarray(0, length);
  } catch (err) {
    throw readFailed(file, what, err);
  } finally {
    fs.closeSync(fd);
  }
}

/** The asynchronous {@link readRegularFileSync}: the event loop stays free while it reads. */
export async function readRegularFile(file: string, what: string, maxBytes: number): Promise<Buffer> {
  let handle: fsp.FileHandle;
  try {
    handle = await fsp.open(file, OPEN_READ);
  } catch (err) {
    throw readFailed(file, what, err);
  }
  try {
    const buffer = readBuffer(file, what, await handle.stat(), maxBytes);
    let length = 0;
    for (let done = false; !done; ) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, length);
      length += bytesRead;
      done = readDone(file, what, bytesRead, length, buffer, maxBytes);
    }
    return buffer.subarray(0, length);
  } catch (err) {
    throw readFailed(file, what, err);
  } finally {
    await handle.close();
  }
}

/** Temporary files of atomic writes in progress, removed by {@link removePendingTemporaryFiles}. */
const pending = new Set<string>();

/**
 * Removes the temporary files of every atomic write still in progress (synchronously, so it can
 * run in a signal handler just before the process exits). The destinations keep their old
 * contents. Returns the paths removed.
 */
export function removePendingTemporaryFiles(): string[] {
  const removed: string[] = [];
  for (const tmp of pending) {
    try {
      fs.unlinkSync(tmp);
      removed.push(tmp);
    } catch {
      // Already renamed into place (the rename was in flight), or nothing more can be done here.
    }
  }
  pending.clear();
  return removed;
}

/** True while an atomic write is in progress (its temporary file exists). */
export function atomicWriteInProgress(): boolean {
  return pending.size > 0;
}

/**
 * The path an atomic write of `file` replaces: a symbolic link is followed (the link stays, its
 * target gets the new contents). Throws if the destination exists and is not a regular file, or
 * its directory does not exist.
 */
function destinationOf(file: string, what: string): string {
  let target = file;
  try {
    target = fs.realpathSync(file);
  } catch (err) {
    const { code } = errnoReason(err);
    if (code === 'ELOOP') throw new FileAccessError(`${file}: cannot write ${what}: too many levels of symbolic links`, code);
    // Does not exist (yet): the new file goes where the path says.
  }
  let stat: fs.Stats | undefined;
  try {
    stat = fs.statSync(target);
  } catch {
    stat = undefined;
  }
  if (stat && !stat.isFile()) {
    throw new FileAccessError(`${file}: will not write ${what} over ${kindOfFile(stat)}; give the path of a regular file`, 'ENOTREG');
  }
  const dir = path.dirname(path.resolve(target));
  let dirStat: fs.Stats;
  try {
    dirStat = fs.statSync(dir);
  } catch (err) {
    const { reason, code } = errnoReason(err);
    throw new FileAccessError(`${file}: cannot write ${what}: directory ${dir}: ${reason}`, code, { cause: err });
  }
  if (!dirStat.isDirectory()) throw new FileAccessError(`${file}: cannot write ${what}: ${dir} is not a directory`, 'ENOTDIR');
  return target;
}

function temporaryName(target: string): string {
  return `${target}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
}

/** Whether a process with this PID exists (EPERM: it does, owned by someone else). */
function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes the temporary files that earlier atomic writes of `target` left behind when their
 * process was killed (SIGKILL, the OOM killer, a power cut): `<target>.tmp-<pid>-<12 hex digits>`
 * whose process no longer exists on this machine. Files of live processes (a concurrent write) are
 * kept. Returns the paths removed.
 */
async function removeStaleTemporaryFiles(target: string): Promise<string[]> {
  const dir = path.dirname(target);
  const base = path.basename(target);
  let names: string[];
  try {
    names = await fsp.readdir(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const m = name.startsWith(base) ? /^\.tmp-(\d+)-[0-9a-f]{12}$/.exec(name.slice(base.length)) : null;
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid === process.pid || processExists(pid)) continue;
    const file = path.join(dir, name);
    if (await fsp.rm(file, { force: true }).then(() => true, () => false)) removed.push(file);
  }
  return removed;
}

/**
 * Checks, before any long work, that an atomic write of `file` will be possible: the destination
 * is absent or a regular file, and a file can be created in its directory (tried for real with a
 * temporary file that is removed at once, since permission bits say nothing about read-only file
 * systems or /proc).
 * @throws FileAccessError naming the file and the problem.
 */
export function checkWritable(file: string, what: string): void {
  const target = destinationOf(file, what);
  const probe = temporaryName(target);
  try {
    fs.closeSync(fs.openSync(probe, 'wx'));
  } catch (err) {
    const { reason, code } = errnoReason(err);
    throw new FileAccessError(`${file}: cannot write ${what}: ${reason}`, code, { cause: err });
  }
  fs.rmSync(probe, { force: true });
}

/** Writes all of `data` to `fd` from offset 0, asynchronously. */
async function writeAll(fd: number, data: Uint8Array): Promise<void> {
  for (let offset = 0; offset < data.length; ) {
    offset += await new Promise<number>((resolve, reject) =>
      fs.write(fd, data, offset, data.length - offset, offset, (e, n) => (e ? reject(e) : resolve(n))),
    );
  }
}

/**
 * Writes `data` to `file` atomically: readers (and a crash, a full disk or a signal) see either
 * the old file or the complete new one. The bytes go to a temporary file in the destination's
 * directory, are fsynced, and the temporary file is renamed over the destination; on any failure
 * it is removed. A destination that exists and is not a regular file is refused (a device node is
 * never replaced); a symbolic link is followed. After the rename, temporary files of earlier
 * writes of the same destination whose process was killed are removed.
 * @throws FileAccessError naming the file, the problem and its `code`.
 */
export async function writeFileAtomic(file: string, data: Uint8Array | string, what: string): Promise<void> {
  const target = destinationOf(file, what);
  const tmp = temporaryName(target);
  // Created synchronously: a signal handler (which runs on this thread) then finds the file either
  // not yet begun or created and listed, never an open still in flight on the thread pool that
  // would create it after the handler removed what it knew of.
  let fd: number;
  try {
    fd = fs.openSync(tmp, 'wx');
  } catch (err) {
    const { reason, code } = errnoReason(err);
    throw new FileAccessError(`${file}: cannot write ${what}: ${reason}`, code, { cause: err });
  }
  pending.add(tmp);
  try {
    const handle = fd;
    try {
      await writeAll(handle, typeof data === 'string' ? Buffer.from(data) : data);
      await new Promise<void>((resolve, reject) => fs.fsync(handle, (e) => (e ? reject(e) : resolve())));
    } finally {
      await new Promise<void>((resolve) => fs.close(handle, () => resolve()));
    }
    await fsp.rename(tmp, target);
    pending.delete(tmp);
  } catch (err) {
    if (pending.delete(tmp)) await fsp.rm(tmp, { force: true }).catch(() => undefined);
    if (err instanceof FileAccessError) throw err;
    const { reason, code } = errnoReason(err);
    throw new FileAccessError(`${file}: cannot write ${what}: ${reason}`, code, { cause: err });
  }
  // Make the rename itself durable where the platform allows fsync on a directory.
  try {
    const dir = await fsp.open(path.dirname(target), 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  } catch {
    // Not supported everywhere (e.g. Windows); the file itself is already synced.
  }
  await removeStaleTemporaryFiles(target);
}
