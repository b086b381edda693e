/**
 * The backends every conformance test runs against: the CPU with its default GEMM (OpenBLAS when
 * built with it), the CPU with the portable built-in GEMM, and CUDA when a GPU is usable. An
 * absent backend is skipped with its reason printed, never passed silently.
 */
import { Backend, createBackend, cudaAvailable } from '../lib/backend';
import { loadAddon } from '../lib/addon';

export interface BackendCase {
  name: string;
  make(): Backend;
}

export interface BackendCases {
  available: BackendCase[];
  skipped: { name: string; reason: string }[];
}

export function backendCases(): BackendCases {
  const available: BackendCase[] = [];
  const skipped: { name: string; reason: string }[] = [];
  const info = loadAddon().buildInfo();
  if (info.openblas) {
    available.push({ name: 'cpu-openblas', make: () => createBackend({ device: 'cpu', gemm: 'openblas' }) });
  } else {
    skipped.push({ name: 'cpu-openblas', reason: 'this build has no OpenBLAS (install libopenblas-dev and rebuild)' });
  }
  available.push({ name: 'cpu-portable', make: () => createBackend({ device: 'cpu', gemm: 'portable' }) });
  const cuda = cudaAvailable();
  if (cuda.ok) {
    available.push({ name: 'cuda', make: () => createBackend({ device: 'cuda' }) });
  } else {
    skipped.push({ name: 'cuda', reason: cuda.reason });
  }
  return { available, skipped };
}

/**
 * `describe`s `title` once per available backend (the backend is created before the tests and
 * disposed after), and registers one skipped test per absent backend whose name carries the reason.
 */
export function describeEachBackend(title: string, body: (get: () => Backend, name: string) => void): void {
  const { available, skipped } = backendCases();
  for (const c of available) {
    describe(`${title} [${c.name}]`, () => {
      let backend: Backend | undefined;
      beforeAll(() => {
        backend = c.make();
      });
      afterAll(() => {
        backend?.dispose();
      });
      body(() => {
        if (!backend) throw new Error(`backend ${c.name} was not created`);
        return backend;
      }, c.name);
    });
  }
  for (const s of skipped) {
    console.warn(`${title} [${s.name}] skipped: ${s.reason}`);
    describe(`${title} [${s.name}]`, () => {
      test.skip(`skipped: ${s.reason}`, () => undefined);
    });
  }
}
