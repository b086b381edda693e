/**
 * Small helpers shared by the integration tests (trainer, api, cli, http-service, addon): caught
 * errors and rejections, temporary folders, child Node.js processes, and making sure the compiled
 * lib/*.js that child processes run is not older than lib/*.ts.
 */
import { spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

export const ROOT = path.resolve(__dirname, '..');

/** The error `fn` throws (fails the test when it returns normally). */
export function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected the call to throw, it returned normally');
}

/** The rejection of a promise (fails the test when it resolves). */
export async function rejection(p: Promise<unknown>): Promise<Error> {
  return p.then(
    () => {
      throw new Error('expected the promise to reject, it resolved');
    },
    (e) => e as Error,
  );
}

/**
 * Asserts an error's name and exact message. Errors may come from another realm (the addon, or
 * Node's own AbortSignal), so names are compared rather than classes.
 */
export function expectError(e: Error, name: string, message: string): void {
  expect({ name: e.name, message: e.message }).toEqual({ name, message });
}

/** A fresh temporary folder, removed by the returned cleanup function. */
export function tmpDir(prefix: string): { dir: string; cleanup(): void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `lenet-${prefix}-`));
  return { dir, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

export interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs `node args...` (this Node.js binary) in the package root and collects its output. */
export function runNode(args: string[], options: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: ROOT, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = options.timeoutMs
      ? setTimeout(() => {
          child.kill('SIGKILL');
        }, options.timeoutMs)
      : undefined;
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

let compiled = false;

/**
 * Child processes and worker threads run the compiled lib/*.js. When any lib/*.ts is newer than
 * its .js (someone edited the source without `npx tsc -p tsconfig.json`), compile once, so that
 * these tests never exercise stale code. Throws with tsc's output when the compilation fails.
 */
export function ensureCompiledLib(): void {
  if (compiled) return;
  const lib = path.join(ROOT, 'lib');
  const stale = fs
    .readdirSync(lib)
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))
    .filter((f) => {
      const js = path.join(lib, f.replace(/\.ts$/, '.js'));
      return !fs.existsSync(js) || fs.statSync(js).mtimeMs < fs.statSync(path.join(lib, f)).mtimeMs;
    });
  if (stale.length > 0) {
    const tsc = require.resolve('typescript/bin/tsc', { paths: [ROOT] });
    const r = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: ROOT, encoding: 'utf8' });
    if (r.status !== 0) {
      throw new Error(`lib/ is stale (${stale.join(', ')}) and \`npx tsc -p tsconfig.json\` failed:\n${r.stdout}${r.stderr}`);
    }
  }
  compiled = true;
}

/**
 * Makes `x instanceof Float32Array` / `x instanceof Uint8Array` true for typed arrays of any realm,
 * in this test file's sandbox only; returns the function that undoes it.
 *
 * Why: jest runs each test file (and lib/, through ts-jest) in a vm sandbox with its own
 * Float32Array, while the arrays the addon returns (`tensor.read()`) are Node's main-realm ones;
 * lib's `instanceof` checks reject those (a bug that plain Node.js never shows: see the realm test
 * in api.test.ts). Tests whose subject is something else (save/load, the HTTP service) install
 * this so that they test their subject as it behaves in production.
 */
export function tolerateForeignTypedArrays(): () => void {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { types } = require('util') as typeof import('util');
  const undo: (() => void)[] = [];
  for (const [ctor, check] of [
    [Float32Array, types.isFloat32Array],
    [Uint8Array, types.isUint8Array],
  ] as const) {
    const own = Object.getOwnPropertyDescriptor(ctor, Symbol.hasInstance);
    Object.defineProperty(ctor, Symbol.hasInstance, { configurable: true, value: (x: unknown) => check(x) });
    undo.push(() => {
      if (own) Object.defineProperty(ctor, Symbol.hasInstance, own);
      else delete (ctor as unknown as Record<symbol, unknown>)[Symbol.hasInstance];
    });
  }
  return () => undo.forEach((f) => f());
}
