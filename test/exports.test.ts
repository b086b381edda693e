/**
 * The package's public surface as the README states it: every export its "main exports" table
 * names exists at run time (CommonJS) and, through the imports below, at compile time (TS2305
 * would fail this file's compilation).
 */
import * as fs from 'fs';
import * as path from 'path';
import * as lib from '../lib';
import { cudaAvailable, createBackend, loadMnist, LeNet5, SGDTrainer, type CudaStatus } from '../lib';

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
