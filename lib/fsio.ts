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
    const { reason, code } = errnoReason(err);
    throw new FileAccessError(`${file}: cannot read ${what}: ${reason}`, code, { cause: err });
  }
  try {
    const stat = fs.fstatSync(fd);
    if (!stat.isFile()) throw notRegular(file, stat, what);
    if (stat.size > maxBytes) throw tooLarge(file, what, stat.size, maxBytes);
    const buffer = Buffer.allocUnsafe(Math.min(stat.size, maxBytes) + 1);
    let length = 0;
    for (;;) {
      const n = fs.readSync(fd, buffer, length, buffer.length - length, length);
      if (n === 0) break;
      length += n;
      if (length > maxBytes) throw tooLarge(file, what, length, maxBytes);
      if (length === buffer.length) break;
    }
    return buffer.subarray(0, length);
  } catch (err) {
    if (err instanceof FileAccessError) throw err;
    const { reason, code } = errnoReason(err);
    throw new FileAccessError(`${file}: cannot read ${what}: ${reason}`, code, { cause: err });
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
    const { reason, code } = errnoReason(err);
    throw new FileAccessError(`${file}: cannot read ${what}: ${reason}`, code, { cause: err });
  }
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) throw notRegular(file, stat, what);
    if (stat.size > maxBytes) throw tooLarge(file, what, stat.size, maxBytes);
    const buffer = Buffer.allocUnsafe(Math.min(stat.size, maxBytes) + 1);
    let length = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, length);
      if (bytesRead === 0) break;
      length += bytesRead;
      if (length > maxBytes) throw tooLarge(file, what, length, maxBytes);
      if (length === buffer.length) break;
    }
    return buffer.subarray(0, length);
  } catch (err) {
    if (err instanceof FileAccessError) throw err;
    const { reason, code } = errnoReason(err);
    throw new FileAccessError(`${file}: cannot read ${what}: ${reason}`, code, { cause: err });
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
      fs.rmSync(tmp, { force: true });
      removed.push(tmp);
    } catch {
      // Nothing more can be done for it here.
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

/**
 * Writes `data` to `file` atomically: readers (and a crash, a full disk or a signal) see either
 * the old file or the complete new one. The bytes go to a temporary file in the destination's
 * directory, are fsynced, and the temporary file is renamed over the destination; on any failure
 * it is removed. A destination that exists and is not a regular file is refused (a device node is
 * never replaced); a symbolic link is followed.
 * @throws FileAccessError naming the file, the problem and its `code`.
 */
export async function writeFileAtomic(file: string, data: Uint8Array | string, what: string): Promise<void> {
  const target = destinationOf(file, what);
  const tmp = temporaryName(target);
  pending.add(tmp);
  try {
    const handle = await fsp.open(tmp, 'wx');
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
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
}
