/**
 * The package's public surface as the README states it: every export its "main exports" table
 * names exists at run time (CommonJS) and, through the imports below, at compile time (TS2305
 * would fail this file's compilation).
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import * as lib from '../lib';
import {
  cudaAvailable,
  createBackend,
  loadMnist,
  LeNet5,
  SGDTrainer,
  CheckpointError,
  BAD_CHECKPOINT,
  explainCudaStatus,
  type CudaExplanation,
  type CudaStatus,
  type CudaUnavailableError,
  type Prediction,
  type Evaluation,
  type ImageInput,
} from '../lib';
import { ROOT, ensureCompiledLib } from './integration-helpers';
import { reportSkip } from './skip';

/** The names in the first column of the README's "The main exports" table. */
function readmeExports(): string[] {
  const readme = fs.readFileSync(path.join(__dirname, '..', 'README.md'), 'utf8');
  const start = readme.indexOf('The main exports');
  expect(start).toBeGreaterThan(0);
  const rows = readme.slice(start).split('\n').filter((l) => l.startsWith('| `'));
  const names: string[] = [];
  for (const row of rows) {
    const first = row.split('|')[1];
    for (const m of first.matchAll(/`([A-Za-z_$][\w$]*)/g)) names.push(m[1]);
  }
  return names;
}

test('every export the README table names exists', () => {
  const names = readmeExports();
  expect(names).toEqual(expect.arrayContaining(['createBackend', 'cudaAvailable', 'LeNet5', 'Tensor', 'readIdxLabels']));
  const missing = names.filter((n) => (lib as Record<string, unknown>)[n] === undefined);
  expect(missing).toEqual([]);
  const required = require(path.join(__dirname, '..')) as Record<string, unknown>;
  expect(names.filter((n) => typeof required[n] !== 'function')).toEqual([]);
});

test('cudaAvailable is the probe: it never throws and says why CUDA is or is not usable', () => {
  const status: CudaStatus = cudaAvailable();
  expect(typeof status.ok).toBe('boolean');
  expect(Array.isArray(status.tried)).toBe(true);
  if (!status.ok) expect(status.reason.length).toBeGreaterThan(0);
  for (const f of [createBackend, loadMnist, LeNet5, SGDTrainer]) expect(typeof f).toBe('function');
});

test('--device cuda without CUDA: a CudaUnavailableError with its code, and explainCudaStatus says the same', () => {
  const status = cudaAvailable();
  if (status.ok) {
    reportSkip('CudaUnavailableError', `CUDA is available here (${status.device})`);
    return;
  }
  let error: CudaUnavailableError | undefined;
  try {
    createBackend({ device: 'cuda' }).dispose();
  } catch (e) {
    error = e as CudaUnavailableError;
  }
  expect(error).toBeDefined();
  const explained: CudaExplanation = explainCudaStatus(status);
  expect({ code: error!.code, reason: error!.reason, summary: error!.summary, fix: error!.fix }).toEqual({ code: 'LENET_CUDA_UNAVAILABLE', ...explained });
  if (status.reason.includes('cudaErrorInsufficientDriver (35)')) expect(explained.reason).toBe('driver');
});

test('the types users annotate with and the errors they catch are exported', async () => {
  const backend = createBackend({ device: 'cpu' });
  try {
    const model = new LeNet5({ backend });
    const images: ImageInput = new Uint8Array(2 * 784);
    const p: Prediction = await model.predict(images);
    const e: Evaluation = await model.evaluate(images, new Uint8Array([0, 1]));
    expect([p.count, e.count]).toEqual([2, 2]);
    model.dispose();
    const missing = (await LeNet5.load(path.join(ROOT, 'no-such.safetensors'), { backend }).catch((x: unknown) => x)) as CheckpointError;
    expect(missing).toBeInstanceOf(CheckpointError);
    expect(missing.code).toBe('ENOENT');
    expect(BAD_CHECKPOINT).toBe('LENET_BAD_CHECKPOINT');
  } finally {
    backend.dispose();
  }
});

/** Runs `node args` in `cwd` and returns its stdout; throws with stderr when it fails. */
function node(args: string[], cwd = ROOT): string {
  const r = spawnSync(process.execPath, args, { cwd, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`node ${args.join(' ')} exited with ${r.status}: ${r.stderr}`);
  return r.stdout.trim();
}

describe('the exports map', () => {
  beforeAll(() => ensureCompiledLib());

  test('the package requires and imports itself by name, with the same exports both ways', () => {
    const cjs = JSON.parse(node(['-e', "console.log(JSON.stringify(Object.keys(require('lenet-cudnn')).sort()))"]));
    // Node adds `default` (and on newer versions `module.exports`), and re-exports tsc's `__esModule` marker.
    const esm = JSON.parse(
      node(['--input-type=module', '-e', "import * as m from 'lenet-cudnn'; console.log(JSON.stringify(Object.keys(m).filter((k) => !['default', 'module.exports', '__esModule'].includes(k)).sort()))"]),
    );
    expect(esm).toEqual(cjs);
    expect(cjs).toEqual(expect.arrayContaining(['createBackend', 'CheckpointError', 'LeNet5']));
    expect(node(['--input-type=module', '-e', "import L from 'lenet-cudnn'; console.log(typeof L.createBackend)"])).toBe('function');
  });

  test('only the root and package.json are exported: lib/ files are not reachable by subpath', () => {
    expect(node(['-p', "require('lenet-cudnn/package.json').name"])).toBe('lenet-cudnn');
    const r = spawnSync(process.execPath, ['-e', "require('lenet-cudnn/lib/backend')"], { cwd: ROOT, encoding: 'utf8' });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain("ERR_PACKAGE_PATH_NOT_EXPORTED");
  });

  test('npm pack ships every file package.json names, the examples and the licence, and no source maps', () => {
    const r = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, encoding: 'utf8' });
    expect(r.status).toBe(0);
    const shipped = new Set<string>((JSON.parse(r.stdout) as Array<{ files: Array<{ path: string }> }>)[0].files.map((f) => f.path));
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
    const named = [pkg.main, pkg.types, ...Object.values(pkg.bin as Record<string, string>), 'lib/index.mjs', 'lib/index.d.mts', 'LICENSE', 'examples/api.js', 'docs/curves.svg'];
    const flat = (v: unknown): string[] => (typeof v === 'string' ? [v] : Object.values(v as object).flatMap(flat));
    named.push(...flat(pkg.exports));
    expect(named.map((f: string) => f.replace(/^\.\//, '')).filter((f: string) => !shipped.has(f))).toEqual([]);
    // Each `files` entry matches something (no folder that does not exist).
    const empty = (pkg.files as string[]).filter((entry) => {
      const prefix = entry.replace(/\*\*\/.*$|\*.*$/, '').replace(/\/$/, '');
      return ![...shipped].some((f) => f === prefix || f.startsWith(`${prefix}/`) || (prefix.endsWith('/') && f.startsWith(prefix)));
    });
    expect(empty).toEqual([]);
    expect([...shipped].filter((f) => f.endsWith('.map') || /sourceMappingURL/.test(fs.readFileSync(path.join(ROOT, f), 'latin1')))).toEqual([]);
  });
});
