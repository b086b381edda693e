/**
 * CUDA against the CPU, the numeric reference: every op on the same random inputs, one full
 * training step, and 50 steps from the same initial weights on real MNIST minibatches. Runs only
 * where a GPU is usable; elsewhere the tests are skipped with the reason printed.
 *
 * TF32 is off (the default): both backends compute in float32, and differ only by the order of
 * float32 accumulations (cuDNN's and cuBLAS's algorithms against im2col + OpenBLAS) and by tanh/exp
 * rounding (CUDA's tanhf and expf against the CPU's vectorized approximations, both within 2 ulp).
 * Tolerances:
 * - single ops: |cuda - cpu| <= 4 K eps32 (+ relative 8 eps32) for K-term sums (twice the bound
 *   each backend meets against the float64 reference in ops.test.ts); 4 eps32 for elementwise ops.
 * - one training step: every updated parameter within 1e-5 of the CPU's (the update is
 *   lr * gradient, and gradients agree to ~1e-6 relative).
 * - 50 steps: training is chaotic only over many epochs; over 50 steps float32 differences grow
 *   but stay small: parameters within 1e-3 (max abs) and the training cost within 1e-3 of the CPU's,
 *   i.e. the same trajectory.
 */
import { Backend, createBackend, cudaAvailable } from '../lib/backend';
import { uploadMnist } from '../lib/data';
import { LeNet5 } from '../lib/lenet5';
import { loadMnistFiles } from '../lib/mnist';
import { SGD } from '../lib/optimizer';
import type { Tensor } from '../lib/tensor';
import { trainStep } from '../lib/trainer';
import * as R from './reference';
import { reportSkip } from './skip';

const { EPS32, sizeOf } = R;

const status = cudaAvailable();
if (!status.ok) reportSkip('parity (CUDA vs CPU)', status.reason);
const describeCuda = status.ok ? describe : describe.skip;
const title = status.ok ? 'parity: CUDA against the CPU' : `parity: CUDA against the CPU (skipped: ${status.reason})`;

describeCuda(title, () => {
  let cpu: Backend;
  let gpu: Backend;
  const live: Tensor[] = [];
  beforeAll(() => {
    cpu = createBackend({ device: 'cpu' });
    gpu = createBackend({ device: 'cuda', tf32: false });
  });
  afterAll(() => {
    for (const t of live) t.dispose();
    cpu.dispose();
    gpu.dispose();
  });
  const both = (shape: number[], data?: Float32Array): [Tensor, Tensor] => {
    const v = data ?? new Float32Array(sizeOf(shape));
    const pair: [Tensor, Tensor] = [cpu.tensor(shape, v), gpu.tensor(shape, v)];
    live.push(...pair);
    return pair;
  };
  const rnd = new R.TestRandom(77);
  const close = async (a: Tensor, b: Tensor, terms: number, what: string) => {
    R.assertClose(await b.read(), await a.read(), { atol: 4 * Math.max(terms, 1) * EPS32, rtol: 8 * EPS32 }, what);
  };

  test('every op on the same inputs', async () => {
    const xs = [7, 3, 13, 11];
    const ws = [5, 3, 4, 3];
    const ys = [7, 5, 10, 9];
    const [xc, xg] = both(xs, rnd.uniform(sizeOf(xs)));
    const [wc, wg] = both(ws, rnd.uniform(sizeOf(ws)));
    const [yc, yg] = both(ys);
    cpu.conv2dForward(xc, wc, yc);
    gpu.conv2dForward(xg, wg, yg);
    await close(yc, yg, 36, 'conv2dForward');
    const [dyc, dyg] = both(ys, rnd.uniform(sizeOf(ys)));
    const [dxc, dxg] = both(xs);
    const [dwc, dwg] = both(ws);
    cpu.conv2dBackwardData(dyc, wc, dxc);
    gpu.conv2dBackwardData(dyg, wg, dxg);
    await close(dxc, dxg, 60, 'conv2dBackwardData');
    cpu.conv2dBackwardFilter(xc, dyc, dwc);
    gpu.conv2dBackwardFilter(xg, dyg, dwg);
    await close(dwc, dwg, 7 * 90, 'conv2dBackwardFilter');
    const ps = [7, 5, 5, 4];
    const [pc, pg] = both(ps);
    cpu.maxPool2x2Forward(yc, pc);
    gpu.maxPool2x2Forward(yg, pg);
    await close(pc, pg, 36, 'maxPool2x2Forward');
    const [gpc, gpg] = both(ps, rnd.uniform(sizeOf(ps)));
    const [gyc, gyg] = both(ys);
    // pool backward from the CPU's own forward values on both sides: identical inputs
    const yHost = await yc.read();
    const pHost = await pc.read();
    const [y2c, y2g] = both(ys, yHost);
    const [p2c, p2g] = both(ps, pHost);
    cpu.maxPool2x2Backward(y2c, p2c, gpc, gyc);
    gpu.maxPool2x2Backward(y2g, p2g, gpg, gyg);
    expect(Array.from(await gyg.read())).toEqual(Array.from(await gyc.read()));
    const [bc, bg] = both([5], rnd.uniform(5));
    const [oc, og] = both(ps);
    cpu.biasTanhForward(pc, bc, oc);
    gpu.biasTanhForward(pg, bg, og);
    await close(oc, og, 36, 'biasTanhForward');
    const [dbc, dbg] = both([5]);
    cpu.biasGrad(gpc, dbc);
    gpu.biasGrad(gpg, dbg);
    await close(dbc, dbg, 7 * 20, 'biasGrad');
    const [tc, tg] = both(ps);
    cpu.tanhBackward(oc, gpc, tc);
    gpu.tanhBackward(og, gpg, tg);
    await close(tc, tg, 36, 'tanhBackward');
    for (const [ta, tb] of [[false, false], [true, false], [false, true], [true, true]] as const) {
      const [m, k, n] = [33, 65, 17];
      const [ac, ag] = both(ta ? [k, m] : [m, k], rnd.uniform(m * k));
      const [b2c, b2g] = both(tb ? [n, k] : [k, n], rnd.uniform(k * n));
      const init = rnd.uniform(m * n);
      const [cc, cg] = both([m, n], init);
      cpu.gemm(ta, tb, 0.7, ac, b2c, 0.3, cc);
      gpu.gemm(ta, tb, 0.7, ag, b2g, 0.3, cg);
      await close(cc, cg, k, `gemm(${ta}, ${tb})`);
    }
    const [lc, lg] = both([9, 10], rnd.uniform(90, -5, 5));
    const labels = R.f32(Array.from({ length: 9 }, (_, i) => i % 10));
    const [yl, ylg] = both([9], labels);
    const [prc, prg] = both([9, 10]);
    const [sc, sg] = both([2]);
    cpu.softmaxNll(lc, yl, prc, sc);
    gpu.softmaxNll(lg, ylg, prg, sg);
    await close(prc, prg, 10, 'softmaxNll probs');
    await close(sc, sg, 90, 'softmaxNll stats');
    const [glc, glg] = both([9, 10]);
    cpu.softmaxNllBackward(prc, yl, glc);
    gpu.softmaxNllBackward(prg, ylg, glg);
    await close(glc, glg, 10, 'softmaxNllBackward');
    const [vc, vg] = both([1000], rnd.uniform(1000));
    const [uc, ug] = both([1000], rnd.uniform(1000));
    cpu.axpy(-0.1, vc, uc);
    gpu.axpy(-0.1, vg, ug);
    await close(uc, ug, 1, 'axpy');
  });

  describe('training', () => {
    const host = loadMnistFiles();
    const limit = { train: 25000, validation: 500, test: 500 };

    async function run(backend: Backend, steps: number) {
      const data = uploadMnist(backend, host, limit);
      const model = new LeNet5({ backend });
      const stats = backend.zeros([2]);
      const sgd = new SGD(model.params(), { learningRate: 0.1 });
      const costs: number[] = [];
      for (let i = 0; i < steps; i++) {
        backend.fill(stats, 0);
        const x = data.train.images.slice(i * 500, 500);
        const y = data.train.labels.slice(i * 500, 500);
        trainStep(model, sgd, x, y, stats);
        x.dispose();
        y.dispose();
        costs.push((await stats.read())[0] / 500);
      }
      const params = await model.arena.values.read();
      sgd.dispose();
      model.dispose();
      data.dispose();
      stats.dispose();
      return { costs, params };
    }

    test('one training step gives the same parameters', async () => {
      const a = await run(cpu, 1);
      const b = await run(gpu, 1);
      expect(Math.abs(a.costs[0] - b.costs[0])).toBeLessThan(1e-5);
      R.assertClose(b.params, a.params, { atol: 1e-5, rtol: 0 }, 'parameters after one step');
    });

    test('50 steps from the same weights follow the same trajectory', async () => {
      const a = await run(cpu, 50);
      const b = await run(gpu, 50);
      a.costs.forEach((c, i) => expect(Math.abs(c - b.costs[i])).toBeLessThan(1e-3));
      R.assertClose(b.params, a.params, { atol: 1e-3, rtol: 0 }, 'parameters after 50 steps');
    });

    test('deterministic mode repeats bit for bit', async () => {
      const det = createBackend({ device: 'cuda', deterministic: true });
      try {
        const a = await run(det, 5);
        const b = await run(det, 5);
        expect(Array.from(b.params)).toEqual(Array.from(a.params));
      } finally {
        det.dispose();
      }
    });
  });
});

// Keep the file meaningful where CUDA is absent: jest needs at least one test per file.
if (!status.ok) {
  test.skip(`CUDA parity skipped: ${status.reason}`, () => undefined);
}
