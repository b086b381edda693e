/**
 * Gradient checks: the analytic gradients of every layer class and of LeNet5, computed on each
 * backend in float32, against central finite differences of the float64 reference loss
 * (test/reference.ts) evaluated at the SAME float32 parameter values (read back from the tensors).
 * Also: LeNet5's initial weights equal numpy's RandomState(23455) draws, as in the tutorial.
 *
 * Tolerance: |analytic - fd| <= 1e-3 * |fd| + 1e-4 * max|fd| (per parameter tensor).
 * The finite differences are float64 with h = 1e-6: their own error (~h^2 truncation, ~1e-16/h
 * rounding) is below 1e-9. The analytic side is a float32 forward and backward pass: each value
 * carries a relative error of a few 1e-7 times the number of terms summed into it, and 1 - y^2 in
 * the tanh derivative loses relative precision near saturation, so a relative error ~1e-5..1e-4 is
 * what float32 gives; 1e-3 is the usual float32 gradient-check bound, and the absolute floor
 * (1e-4 of the largest gradient) covers elements whose gradient is nearly zero (where a relative
 * test is meaningless). A wrong gradient (a missed term, a transposed index, a wrong scale, a
 * missing 1/N) is off by O(1) relative. Max-pool ties, where the gradient is not defined, are
 * avoided by random inputs (the perturbation of 1e-6 never reorders a window's candidates here).
 */
import type { Backend } from '../lib/backend';
import { HiddenLayer, LeNetConvPoolLayer, LogisticRegression } from '../lib/layers';
import { LeNet5 } from '../lib/lenet5';
import { SGD } from '../lib/optimizer';
import { RandomState } from '../lib/rng';
import type { Tensor } from '../lib/tensor';
import { trainStep } from '../lib/trainer';
import { describeEachBackend } from './backends';
import * as R from './reference';

const { f64, sizeOf } = R;

/** Analytic (float32) vs finite-difference (float64) gradients, with the tolerance above. */
function checkGradient(analytic: ArrayLike<number>, fd: Float64Array, what: string): void {
  const scale = R.maxAbs(fd);
  // A gradient that is identically zero would make the check vacuous.
  expect(scale).toBeGreaterThan(1e-4);
  R.assertClose(analytic, fd, { atol: 1e-4 * scale, rtol: 1e-3 }, what);
}

const all = (n: number) => Array.from({ length: n }, (_, i) => i);
const pick = (a: ArrayLike<number>, idx: readonly number[]) => Float64Array.from(idx, (i) => a[i]);

describeEachBackend('gradients', (getBackend) => {
  const live: { dispose(): void }[] = [];
  afterEach(async () => {
    for (const t of live.splice(0)) t.dispose();
    await getBackend().sync();
  });
  function T(shape: readonly number[], data: Float32Array): Tensor {
    const t = getBackend().tensor(shape, data);
    live.push(t);
    return t;
  }

  test('LeNetConvPoolLayer (N=2, C=3, 10x11 input, 4 filters 3x3): W, b and the input gradient, every element', async () => {
    const be = getBackend();
    const rnd = new R.TestRandom(300);
    const layer = new LeNetConvPoolLayer({ backend: be, rng: new RandomState(7), inputChannels: 3, filters: 4, filterSize: 3 });
    live.push(layer);
    layer.b.value.write(rnd.uniform(4, -0.5, 0.5)); // b starts at zero: make its path visible
    const xs = [2, 3, 10, 11];
    const ws = [4, 3, 3, 3];
    const x = rnd.uniform(sizeOf(xs));
    const out = layer.forward(T(xs, x));
    expect(out.shape).toEqual([2, 4, 4, 4]); // conv 8x9, pooled 4x4 (the odd column is dropped)
    const r = rnd.uniform(out.size);
    const dx = layer.backward(T(out.shape, r), true);
    expect(dx).not.toBeNull();
    const [y, gW, gb, gx, W, b] = await Promise.all([out.read(), layer.W.grad.read(), layer.b.grad.read(), dx!.read(), layer.W.value.read(), layer.b.value.read()]);

    const P = { W: f64(W), b: f64(b), x: f64(x) };
    const loss = () => R.dotRef(R.convPoolLayerRef(P.x, xs, P.W, ws, P.b).out, r);
    R.assertClose(y, R.convPoolLayerRef(P.x, xs, P.W, ws, P.b).out, { atol: 1e-6, rtol: 1e-6 }, 'conv layer forward');
    checkGradient(gW, R.centralDifferences(P.W, all(P.W.length), loss), 'conv layer dL/dW');
    checkGradient(gb, R.centralDifferences(P.b, all(P.b.length), loss), 'conv layer dL/db');
    checkGradient(gx, R.centralDifferences(P.x, all(P.x.length), loss), 'conv layer dL/dx');

    // Without the input gradient: the same W and b gradients, and null.
    expect(layer.backward(T(out.shape, r), false)).toBeNull();
    R.assertClose(await layer.W.grad.read(), gW, { atol: 0, rtol: 0 }, 'conv layer dL/dW, needInputGrad=false');
  });

  test('LeNetConvPoolLayer after a change of input size: the input gradient has the new shape and is right', async () => {
    const be = getBackend();
    const rnd = new R.TestRandom(305);
    const layer = new LeNetConvPoolLayer({ backend: be, rng: new RandomState(9), inputChannels: 2, filters: 3, filterSize: 3 });
    live.push(layer);
    const ws = [3, 2, 3, 3];
    for (const xs of [[2, 2, 8, 9], [2, 2, 10, 10]]) {
      const x = rnd.uniform(sizeOf(xs));
      const out = layer.forward(T(xs, x));
      const r = rnd.uniform(out.size);
      const dx = layer.backward(T(out.shape, r), true)!;
      expect(dx.shape).toEqual(xs);
      const [gx, W, b] = await Promise.all([dx.read(), layer.W.value.read(), layer.b.value.read()]);
      const P = { W: f64(W), b: f64(b), x: f64(x) };
      const loss = () => R.dotRef(R.convPoolLayerRef(P.x, xs, P.W, ws, P.b).out, r);
      checkGradient(gx, R.centralDifferences(P.x, all(P.x.length), loss), `conv layer dL/dx for input ${xs}`);
    }
  });

  test('HiddenLayer (input [5,3,2,2] flattened to nIn=12, nOut=7): W, b and the input gradient', async () => {
    const be = getBackend();
    const rnd = new R.TestRandom(301);
    const layer = new HiddenLayer({ backend: be, rng: new RandomState(8), nIn: 12, nOut: 7 });
    live.push(layer);
    layer.b.value.write(rnd.uniform(7, -0.5, 0.5));
    const xs = [5, 3, 2, 2];
    const x = rnd.uniform(sizeOf(xs));
    const out = layer.forward(T(xs, x));
    expect(out.shape).toEqual([5, 7]);
    const r = rnd.uniform(out.size);
    const dx = layer.backward(T([5, 7], r), true)!;
    expect(dx.shape).toEqual([5, 12]);
    const [y, gW, gb, gx, W, b] = await Promise.all([out.read(), layer.W.grad.read(), layer.b.grad.read(), dx.read(), layer.W.value.read(), layer.b.value.read()]);

    const P = { W: f64(W), b: f64(b), x: f64(x) };
    const loss = () => R.dotRef(R.hiddenLayerRef(P.x, 5, 12, P.W, P.b, 7), r);
    R.assertClose(y, R.hiddenLayerRef(P.x, 5, 12, P.W, P.b, 7), { atol: 1e-6, rtol: 1e-6 }, 'hidden layer forward');
    checkGradient(gW, R.centralDifferences(P.W, all(P.W.length), loss), 'hidden layer dL/dW');
    checkGradient(gb, R.centralDifferences(P.b, all(P.b.length), loss), 'hidden layer dL/db');
    checkGradient(gx, R.centralDifferences(P.x, all(P.x.length), loss), 'hidden layer dL/dx');
  });

  test('LogisticRegression (N=6, nIn=9, nOut=5), mean NLL: W, b and the input gradient', async () => {
    const be = getBackend();
    const rnd = new R.TestRandom(302);
    const layer = new LogisticRegression({ backend: be, nIn: 9, nOut: 5 });
    live.push(layer);
    // W and b start at zero; random values make every gradient element informative
    layer.W.value.write(rnd.uniform(45));
    layer.b.value.write(rnd.uniform(5, -0.5, 0.5));
    const n = 6;
    const x = rnd.uniform(n * 9);
    const labels = rnd.labels(n, 5);
    const tLabels = T([n], labels);
    const stats = T([2], new Float32Array(2));
    const probs = layer.forward(T([n, 9], x), tLabels, stats);
    const dx = layer.backward(tLabels, true)!;
    const [p, s, gW, gb, gx, W, b] = await Promise.all([probs.read(), stats.read(), layer.W.grad.read(), layer.b.grad.read(), dx.read(), layer.W.value.read(), layer.b.value.read()]);

    const P = { W: f64(W), b: f64(b), x: f64(x) };
    const logits = () => R.logitsRef(P.x, n, 9, P.W, P.b, 5);
    const loss = () => R.meanNllRef(logits(), labels, n, 5);
    R.assertClose(p, R.softmaxRef(logits(), n, 5), { atol: 1e-7, rtol: 1e-5 }, 'logistic regression probabilities');
    R.assertClose([s[0]], [loss() * n], { atol: 1e-5, rtol: 1e-5 }, 'logistic regression summed NLL');
    expect(s[1]).toBe(R.errorCountRef(logits(), labels, n, 5));
    checkGradient(gW, R.centralDifferences(P.W, all(P.W.length), loss), 'logistic regression dL/dW');
    checkGradient(gb, R.centralDifferences(P.b, all(P.b.length), loss), 'logistic regression dL/db');
    checkGradient(gx, R.centralDifferences(P.x, all(P.x.length), loss), 'logistic regression dL/dx');
  });

  describe('LeNet5 (nkerns [3,4], hidden 7, N=3 images 28x28, seed 23455)', () => {
    const config = { nkerns: [3, 4] as const, hidden: 7, imageSize: 28, classes: 10 };
    const n = 3;

    /** A small LeNet5 whose zero-initialized parameters (layer3.W, the biases) are made random. */
    function makeNet(be: Backend, rnd: R.TestRandom): LeNet5 {
      const net = new LeNet5({ backend: be, nkerns: config.nkerns, hidden: config.hidden, seed: 23455 });
      live.push(net);
      // With layer3.W = 0 every gradient below layer3 would be exactly zero (a vacuous check).
      net.layer3.W.value.write(rnd.uniform(config.hidden * 10, -0.5, 0.5));
      for (const p of net.params()) if (p.name.endsWith('.b')) p.value.write(rnd.uniform(p.value.size, -0.2, 0.2));
      return net;
    }

    test('every parameter gradient (40 random elements per parameter) against finite differences of the mean NLL', async () => {
      const be = getBackend();
      const rnd = new R.TestRandom(303);
      const net = makeNet(be, rnd);
      const images = rnd.uniform(n * 28 * 28, 0, 1);
      const labels = rnd.labels(n, 10);
      const tLabels = T([n], labels);
      const stats = T([2], new Float32Array(2));
      const probs = net.forward(T(net.inputShape(n), images), tLabels, stats);
      net.backward(tLabels);
      const params = net.params();
      expect(params.map((p) => p.name)).toEqual(['layer0.W', 'layer0.b', 'layer1.W', 'layer1.b', 'layer2.W', 'layer2.b', 'layer3.W', 'layer3.b']);
      const values = new Map<string, Float64Array>();
      const grads = new Map<string, Float32Array>();
      for (const p of params) {
        values.set(p.name, f64(await p.value.read()));
        grads.set(p.name, await p.grad.read());
      }
      const loss = () => R.lenet5LossRef(values, images, n, labels, config);
      R.assertClose(await probs.read(), R.softmaxRef(R.lenet5LogitsRef(values, images, n, config), n, 10), { atol: 1e-6, rtol: 1e-5 }, 'LeNet5 probabilities');
      R.assertClose([(await stats.read())[0] / n], [loss()], { atol: 1e-6, rtol: 1e-5 }, 'LeNet5 mean NLL');
      for (const p of params) {
        const v = values.get(p.name)!;
        const idx = rnd.subset(v.length, 40);
        checkGradient(pick(grads.get(p.name)!, idx), R.centralDifferences(v, idx, loss), `LeNet5 dL/d${p.name} at [${idx.slice(0, 6)}...]`);
      }
    });

    test('trainStep with SGD = forward + backward + (values -= learningRate * grads), and reports the batch cost', async () => {
      const be = getBackend();
      const rnd = new R.TestRandom(304);
      const net = makeNet(be, rnd);
      const images = T(net.inputShape(n), rnd.uniform(n * 28 * 28, 0, 1));
      const labels = T([n], rnd.labels(n, 10));
      const stats = T([2], new Float32Array(2));
      const before = await net.arena.values.read();
      net.forward(images, labels);
      net.backward(labels);
      const grads = await net.arena.grads.read();
      const lr = 0.1;
      const sgd = new SGD(net.params(), { learningRate: lr });
      trainStep(net, sgd, images, labels, stats);
      sgd.dispose();
      const after = await net.arena.values.read();
      const expected = Float64Array.from(before, (v, i) => v - Math.fround(lr) * grads[i]);
      R.assertClose(after, expected, { atol: 1e-7, rtol: 2 * R.EPS32 }, 'values after one SGD step');
      expect(R.maxAbs(grads)).toBeGreaterThan(1e-3);
      const s = await stats.read();
      expect(s[0]).toBeGreaterThan(0);
      expect(Number.isFinite(s[0])).toBe(true);
    });
  });

  describe('LeNet5 initial weights equal numpy RandomState(23455) draws', () => {
    // python3 -c "import numpy as np; r=np.random.RandomState(23455); b=np.sqrt(6/(25+125));
    //   print(r.uniform(-b,b,(20,1,5,5)).astype(np.float32)[0,0])"  (and so on for the next draws)
    // prettier-ignore
    const numpyLayer0Kernel0 = [
      0.1339772790670395, -0.1540682017803192, 0.06759900599718094, -0.013620050624012947, 0.040726661682128906,
      0.035353634506464005, -0.0726533755660057, -0.11799171566963196, 0.14817577600479126, -0.18928241729736328,
      -0.03384075686335564, -0.024246523156762123, 0.07454273849725723, -0.10066638141870499, 0.18926091492176056,
      0.074167400598526, -0.18767353892326355, 0.15791964530944824, -0.10133714228868484, -0.08566055446863174,
      -0.07449733465909958, -0.009126605466008186, 0.02675701677799225, 0.10831659287214279, 0.09286416321992874,
    ];
    // the first 5 values of the last layer0 kernel, W[19,0,0,:]
    const numpyLayer0Kernel19 = [-0.0035460838116705418, -0.14280568063259125, -0.18169040977954865, -0.04062141478061676, 0.13652704656124115];
    // the next draw: layer1.W (50,20,5,5) with b = sqrt(6 / (fan_in + fan_out)), fan_in = 20*5*5 = 500,
    // fan_out = 50*5*5 // 4 = 312 (the tutorial: `filter_shape[0] * numpy.prod(filter_shape[2:]) //
    // numpy.prod(poolsize)`, an integer division); W[0,0,0,:5]
    const numpyLayer1Kernel0 = [-0.003170984797179699, -0.06685057282447815, 0.044483479112386703, 0.051331814378499985, 0.006228987127542496];
    // then layer2.W (800,500), b = sqrt(6/1300): W[0,:5] and W[799,497:]
    const numpyLayer2First = [0.01625422015786171, -0.06271775811910629, -0.05042145028710365, -0.00701013533398509, -0.06323767453432083];
    const numpyLayer2Last = [0.052113309502601624, -0.06417902559041977, 0.019199199974536896];

    let net: LeNet5;
    const read = (name: string) => net.params().find((p) => p.name === name)!.value.readSync();
    beforeAll(() => {
      net = new LeNet5({ backend: getBackend() });
    });
    afterAll(async () => {
      net.dispose();
      await getBackend().sync();
    });

    test('layer0.W is the draw with each 5x5 kernel flipped: our W[k,0,4-i,4-j] = numpy W[k,0,i,j]', () => {
      const w = read('layer0.W');
      expect(w.length).toBe(20 * 25);
      // the flip: ours[k*25 + 24 - t] = numpy[k*25 + t]
      expect(Array.from({ length: 25 }, (_, t) => w[24 - t])).toEqual(numpyLayer0Kernel0);
      expect(Array.from({ length: 5 }, (_, t) => w[19 * 25 + 24 - t])).toEqual(numpyLayer0Kernel19);
      const bound = Math.sqrt(6 / (25 + (20 * 25) / 4));
      expect(R.maxAbs(w)).toBeLessThanOrEqual(bound);
      expect(R.maxAbs(w)).toBeGreaterThan(0.95 * bound);
    });

    test("layer1.W continues the stream with the tutorial's bound: fan_out = 50*25 // 4 = 312", () => {
      const w = read('layer1.W');
      expect(w.length).toBe(50 * 20 * 25);
      expect(Array.from({ length: 5 }, (_, t) => w[24 - t])).toEqual(numpyLayer1Kernel0);
      expect(R.maxAbs(w)).toBeLessThanOrEqual(Math.sqrt(6 / (500 + 312)));
    });

    test('layer2.W continues the stream (bound sqrt(6/(800+500))); layer3 and every bias start at zero', () => {
      const w2 = read('layer2.W');
      expect(w2.length).toBe(800 * 500);
      expect(Array.from(w2.subarray(0, 5))).toEqual(numpyLayer2First);
      expect(Array.from(w2.subarray(w2.length - 3))).toEqual(numpyLayer2Last);
      const bound = Math.sqrt(6 / (800 + 500));
      expect(R.maxAbs(w2)).toBeLessThanOrEqual(bound);
      expect(R.maxAbs(w2)).toBeGreaterThan(0.999 * bound); // 400000 draws reach the bound
      expect(R.maxAbs(read('layer3.W'))).toBe(0);
      expect(read('layer3.W').length).toBe(500 * 10);
      for (const name of ['layer0.b', 'layer1.b', 'layer2.b', 'layer3.b']) expect(R.maxAbs(read(name))).toBe(0);
      expect(net.parameterCount).toBe(20 * 25 + 20 + 50 * 20 * 25 + 50 + 800 * 500 + 500 + 500 * 10 + 10);
    });
  });
}, { allGemmKernels: true });
