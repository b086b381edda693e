/**
 * The built-in GEMM, on every micro-kernel this CPU runs (forced with `gemmKernel`, one pool thread
 * so that each call reaches the kernel whole): every path of the driver and every kind of edge
 * tile against the float64 reference (test/reference.ts gemmRef), and bitwise determinism.
 *
 * Shapes are built from each kernel's tile (MR x NR) and K block (KC): M and N of 1, one under a
 * tile, a tile, one over, and several tiles plus a remainder; K of 1, 7, the dot-product form's
 * threshold (64), one over a K block and two blocks plus a remainder; all four transpose
 * combinations; beta 0 over a C full of NaN (C must not be read), 1 and 0.5. That covers the
 * packed path with full and partial tiles (including partial tiles whose C is read back), B read
 * in place (few tiles of A), the dot-product form (C = A B^T with B small), the narrow-N forms
 * (B transposed into the dot form; C^T computed for A^T) and the small-K fallback.
 *
 * Tolerance: a sum of K float32 products of values in [-1, 1): R.sumTol(K) (see ops.test.ts),
 * scaled by |alpha| + |beta| for the C term.
 */
import { type Backend, type GemmKernel, createBackend } from '../lib/backend';
import { loadAddon } from '../lib/addon';
import { LeNet5 } from '../lib/lenet5';
import { SGD } from '../lib/optimizer';
import { trainStep } from '../lib/trainer';
import * as R from './reference';
import { reportSkip } from './skip';

// Each kernel's tile and K block, as native/cpu/gemm_kernels.cc declares them (the first two are
// checked against the backend's description below).
const TILES: Record<GemmKernel, { mr: number; nr: number; kc: number }> = {
  avx512: { mr: 10, nr: 32, kc: 256 },
  avx2: { mr: 6, nr: 16, kc: 256 },
  neon: { mr: 8, nr: 12, kc: 256 },
  generic: { mr: 3, nr: 8, kc: 256 },
};
const ALL: GemmKernel[] = ['avx512', 'avx2', 'neon', 'generic'];
const supported = loadAddon().buildInfo().gemmKernels;

for (const kernel of ALL) {
  if (!supported.includes(kernel)) {
    reportSkip(`gemm [${kernel}]`, `this CPU or build cannot run it (it runs: ${supported.join(', ')})`);
    describe(`gemm [${kernel}]`, () => test.skip(`skipped: this CPU or build cannot run the ${kernel} micro-kernel`, () => undefined));
    continue;
  }
  describe(`gemm [${kernel}]`, () => {
    const { mr, nr, kc } = TILES[kernel];
    let be: Backend;
    beforeAll(() => {
      be = createBackend({ device: 'cpu', gemm: 'builtin', gemmKernel: kernel, threads: 1 });
    });
    afterAll(() => be.dispose());

    test(`the backend uses the ${kernel} ${mr}x${nr} micro-kernel`, () => {
      expect(be.describe()).toContain(`GEMM: built-in (${kernel} ${mr}x${nr} micro-kernel)`);
    });

    const rnd = new R.TestRandom(4242 + ALL.indexOf(kernel));
    const run = (m: number, n: number, k: number, ta: boolean, tb: boolean, alpha: number, beta: number) => {
      const as = ta ? [k, m] : [m, k];
      const bs = tb ? [n, k] : [k, n];
      const a = rnd.uniform(m * k);
      const b = rnd.uniform(k * n);
      const c0 = beta === 0 ? new Float32Array(m * n).fill(NaN) : rnd.uniform(m * n);
      const ta_ = be.tensor(as, a);
      const tb_ = be.tensor(bs, b);
      const tc = be.tensor([m, n], c0);
      be.gemm(ta, tb, alpha, ta_, tb_, beta, tc);
      const got = tc.readSync();
      for (const t of [ta_, tb_, tc]) t.dispose();
      const want = R.gemmRef(ta, tb, alpha, a, as, b, bs, beta, beta === 0 ? null : c0);
      const tol = R.sumTol(k, Math.abs(alpha) + Math.abs(beta));
      return { got, want, tol };
    };

    const ms = [1, mr - 1, mr, mr + 1, 2 * mr + 3];
    const ns = [1, nr - 1, nr, nr + 1, 3 * nr + 5];
    const ks = [1, 7, 64, kc + 1, 2 * kc + 3];
    for (const [ta, tb] of [[false, false], [true, false], [false, true], [true, true]] as const) {
      test(`every edge of M, N and K against float64, transA=${ta} transB=${tb}`, () => {
        const failures: string[] = [];
        let i = 0;
        for (const m of ms)
          for (const n of ns)
            for (const k of ks) {
              const [alpha, beta] = [[1, 0], [1, 1], [0.75, 0.5]][i++ % 3];
              const { got, want, tol } = run(m, n, k, ta, tb, alpha, beta);
              try {
                R.assertClose(got, want, tol, `${m}x${n}x${k} alpha=${alpha} beta=${beta}`);
              } catch (e) {
                failures.push((e as Error).message);
              }
            }
        expect(failures).toEqual([]);
      });
    }

    test('the special forms: narrow N with A and A^T, B^T too large for the dot form, many tiles of A', () => {
      const cases: [number, number, number, boolean, boolean][] = [
        [250, 10, 500, false, false], // B transposed into the dot form
        [500, 10, 250, true, false], // C^T = B^T A
        [250, nr / 2 - 1, 70, true, false],
        [37, 300, 300, false, true], // B of 360 KB: packed, not the dot form
        [7 * mr + 1, 2 * nr + 1, 2 * kc + 1, false, false], // B packed: more tiles of A than in place allows
        [250, 500, 10, false, true], // small K with B^T: packed
      ];
      for (const [m, n, k, ta, tb] of cases) {
        const { got, want, tol } = run(m, n, k, ta, tb, 1, 0.5);
        R.assertClose(got, want, tol, `${m}x${n}x${k} transA=${ta} transB=${tb}`);
      }
    });

    test('bitwise deterministic: the same call gives the same bits', () => {
      for (const [m, n, k, ta, tb] of [[50, 1536, 500, false, false], [20, 25, 1152, false, true], [500, 10, 250, true, false]] as const) {
        const a = be.tensor(ta ? [k, m] : [m, k], rnd.uniform(m * k));
        const b = be.tensor(tb ? [n, k] : [k, n], rnd.uniform(k * n));
        const c1 = be.zeros([m, n]);
        const c2 = be.zeros([m, n]);
        be.gemm(ta, tb, 1, a, b, 0, c1);
        be.gemm(ta, tb, 1, a, b, 0, c2);
        expect(Buffer.from(c1.readSync().buffer).equals(Buffer.from(c2.readSync().buffer))).toBe(true);
        for (const t of [a, b, c1, c2]) t.dispose();
      }
    });
  });
}

// A few training steps of a small LeNet5 on two pool threads, twice on fresh backends: the weights
// must agree bit for bit (reductions across threads are summed in worker order).
async function trainedWeights(kernel: GemmKernel): Promise<Buffer> {
  const be = createBackend({ device: 'cpu', gemm: 'builtin', gemmKernel: kernel, threads: 2 });
  const rnd = new R.TestRandom(77);
  const model = new LeNet5({ backend: be, nkerns: [4, 6], hidden: 16 });
  const sgd = new SGD(model.params(), { learningRate: 0.1 });
  const x = be.tensor([40, 1, 28, 28], rnd.uniform(40 * 784, 0, 1));
  const y = be.tensor([40], rnd.labels(40, 10));
  for (let i = 0; i < 4; i++) trainStep(model, sgd, x, y);
  const w = Buffer.from((await model.arena.values.read()).buffer);
  for (const t of [x, y]) t.dispose();
  sgd.dispose();
  model.dispose();
  be.dispose();
  return w;
}

for (const kernel of supported) {
  test(`training on the ${kernel} kernel with 2 threads is bitwise deterministic`, async () => {
    const [a, b] = [await trainedWeights(kernel), await trainedWeights(kernel)];
    expect(a.equals(b)).toBe(true);
  });
}

test('a kernel this CPU cannot run is refused with the list of those it can', () => {
  const missing = ALL.find((k) => !supported.includes(k));
  if (!missing) return; // every kernel runs here (impossible on one architecture: neon and avx are exclusive)
  expect(() => createBackend({ device: 'cpu', gemmKernel: missing })).toThrow(
    `createCpuBackend: gemmKernel '${missing}' cannot run here; this CPU and build can run: ${supported.join(', ')}`,
  );
});
