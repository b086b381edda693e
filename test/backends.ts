/**
 * The backends every conformance test runs against: the CPU with the built-in GEMM (its best
 * micro-kernel for this CPU), the CPU with OpenBLAS when the build has it, and CUDA when a GPU is
 * usable. Suites of the ops that use a GEMM also run every other micro-kernel this CPU can run
 * (`allGemmKernels`). An absent backend is skipped with its reason printed, never passed silently.
 */
import { Backend, type GemmKernel, createBackend, cudaAvailable } from '../lib/backend';
import { loadAddon } from '../lib/addon';
import { reportSkip } from './skip';

export interface BackendCase {
  name: string;
  make(): Backend;
}

export interface BackendCases {
  available: BackendCase[];
  skipped: { name: string; reason: string }[];
}

const ALL_KERNELS: GemmKernel[] = ['avx512', 'avx2', 'neon', 'generic'];

export function backendCases(options: { allGemmKernels?: boolean } = {}): BackendCases {
  const available: BackendCase[] = [];
  const skipped: { name: string; reason: string }[] = [];
  const info = loadAddon().buildInfo();
  const [best, ...others] = info.gemmKernels;
  available.push({ name: `cpu-builtin-${best}`, make: () => createBackend({ device: 'cpu', gemm: 'builtin', gemmKernel: best }) });
  if (options.allGemmKernels) {
    for (const k of others) available.push({ name: `cpu-builtin-${k}`, make: () => createBackend({ device: 'cpu', gemm: 'builtin', gemmKernel: k }) });
    for (const k of ALL_KERNELS.filter((k) => !info.gemmKernels.includes(k))) {
      skipped.push({ name: `cpu-builtin-${k}`, reason: `this CPU or build cannot run the ${k} micro-kernel (it runs: ${info.gemmKernels.join(', ')})` });
    }
  }
  if (info.openblas) {
    available.push({ name: 'cpu-openblas', make: () => createBackend({ device: 'cpu', gemm: 'openblas' }) });
  } else {
    skipped.push({ name: 'cpu-openblas', reason: 'this build has no OpenBLAS (install libopenblas-dev and rebuild)' });
  }
  const cuda = cudaAvailable();
  if (cuda.ok) {
    available.push({ name: 'cuda', make: () => createBackend({ device: 'cuda' }) });
  } else {
    skipped.push({ name: 'cuda', reason: cuda.reason });
  }
  return { available, skipped };
}

/**
 * A new backend of the case `name` (as `describeEachBackend` passes it), for a test that counts
 * every live buffer: on a backend of its own, no tensor another test left to the garbage
 * collector can be finalized in the middle of the count. The caller disposes it.
 */
export function makeBackend(name: string, options: { allGemmKernels?: boolean } = {}): Backend {
  const c = backendCases(options).available.find((x) => x.name === name);
  if (!c) throw new Error(`makeBackend: no available backend case named ${name}`);
  return c.make();
}

/**
 * `describe`s `title` once per available backend (the backend is created before the tests and
 * disposed after), and registers one skipped test per absent backend whose name carries the reason.
 */
export function describeEachBackend(
  title: string,
  body: (get: () => Backend, name: string) => void,
  options: { allGemmKernels?: boolean } = {},
): void {
  const { available, skipped } = backendCases(options);
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
    reportSkip(`${title} [${s.name}]`, s.reason);
    describe(`${title} [${s.name}]`, () => {
      test.skip(`skipped: ${s.reason}`, () => undefined);
    });
  }
}
