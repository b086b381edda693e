/**
 * Helpers of the CLI tests (cli.test.ts, cli-signals.test.ts): a tiny MNIST folder for short runs,
 * and the CLI as a child process whose output can be watched while it runs.
 */
import { type ChildProcess, spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { loadMnistFiles } from '../lib/mnist';
import { ROOT } from './integration-helpers';

function idx(magic: number, dims: number[], data: Uint8Array): Buffer {
  const header = Buffer.alloc(4 + 4 * dims.length);
  header.writeUInt32BE(magic, 0);
  dims.forEach((d, i) => header.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([header, data]);
}

/**
 * Writes IDX files of a small MNIST into `dir` (created): the first `train` training images plus
 * the tutorial's 10000 validation images (the last 10000 of the training file, as --data reads
 * them) and the first `test` test images. Returns `dir`.
 */
export function writeTinyMnist(dir: string, options: { train?: number; test?: number } = {}): string {
  const train = options.train ?? 500;
  const test = options.test ?? 100;
  const host = loadMnistFiles();
  fs.mkdirSync(dir, { recursive: true });
  const trainImages = Buffer.concat([host.train.images.subarray(0, train * 784), host.validation.images]);
  const trainLabels = Buffer.concat([host.train.labels.subarray(0, train), host.validation.labels]);
  const count = train + host.validation.count;
  fs.writeFileSync(path.join(dir, 'train-images-idx3-ubyte'), idx(0x803, [count, 28, 28], trainImages));
  fs.writeFileSync(path.join(dir, 'train-labels-idx1-ubyte'), idx(0x801, [count], trainLabels));
  fs.writeFileSync(path.join(dir, 't10k-images-idx3-ubyte'), idx(0x803, [test, 28, 28], host.test.images.subarray(0, test * 784)));
  fs.writeFileSync(path.join(dir, 't10k-labels-idx1-ubyte'), idx(0x801, [test], host.test.labels.subarray(0, test)));
  return dir;
}

/** The options of a tiny CPU run on a folder from {@link writeTinyMnist} (about a second). */
export function tinyRun(dataDir: string): string[] {
  return ['lib/train.js', '--data', dataDir, '--epochs', '1', '--nkerns', '4,6', '--hidden', '32', '--device', 'cpu', '--threads', '1'];
}

/** A running CLI: its output so far, a promise for the line that matches, and how it ended. */
export interface WatchedChild {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves when stdout has a line matching `re` (rejects if the process ends first). */
  line(re: RegExp): Promise<void>;
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>;
}

/** Starts `node args...` in the package root, stdout and stderr piped and collected. */
export function watchNode(args: string[], options: { cwd?: string } = {}): WatchedChild {
  const child = spawn(process.execPath, args, { cwd: options.cwd ?? ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  const waiters: { re: RegExp; resolve(): void }[] = [];
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    out += d;
    for (const w of waiters.splice(0)) {
      if (w.re.test(out)) w.resolve();
      else waiters.push(w);
    }
  });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout: out, stderr: err }));
  });
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    line: (re) =>
      new Promise<void>((resolve, reject) => {
        const m = new RegExp(re.source, re.flags.includes('m') ? re.flags : re.flags + 'm');
        if (m.test(out)) return resolve();
        waiters.push({ re: m, resolve });
        done.then(() => reject(new Error(`the process ended before printing a line matching ${re}:\n${out}\n${err}`)));
      }),
    done,
  };
}
