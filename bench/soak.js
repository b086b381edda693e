#!/usr/bin/env node
// Soak test (`npm run soak`): RSS and the backend's live buffers and bytes over many training steps
// and predicts, sampled at intervals, with least-squares slopes per 1000 steps. Exits 1 only when
// live buffers or bytes grow (a real leak: every step must reuse the buffers of the first); the RSS
// slope is reported, not judged (the allocator and V8 keep memory as they see fit).
//
//   node bench/soak.js [--steps 3000] [--predicts 3000] [--batch 8] [--samples 20] [--device cpu] [--threads N]
'use strict';
const { parseArgs } = require('util');
const { createBackend } = require('../lib/backend');
const { LeNet5 } = require('../lib/lenet5');
const { SGD } = require('../lib/optimizer');
const { trainStep } = require('../lib/trainer');

const { values: args } = parseArgs({
  options: {
    steps: { type: 'string', default: '3000' },
    predicts: { type: 'string', default: '3000' },
    batch: { type: 'string', default: '8' },
    samples: { type: 'string', default: '20' },
    device: { type: 'string', default: 'cpu' },
    threads: { type: 'string' },
  },
});
const int = (name, min) => {
  const v = Number(args[name]);
  if (!Number.isInteger(v) || v < min) {
    console.error(`soak: --${name} must be an integer >= ${min}, got ${args[name]}`);
    process.exit(2);
  }
  return v;
};
const steps = int('steps', 2);
const predicts = int('predicts', 2);
const batch = int('batch', 1);
const samples = int('samples', 2);
const threads = args.threads === undefined ? undefined : int('threads', 1);

/** Least-squares slope of ys over xs. */
function slope(xs, ys) {
  const n = xs.length;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let sxy = 0;
  let sxx = 0;
  for (let i = 0; i < n; i++) {
    sxy += (xs[i] - mx) * (ys[i] - my);
    sxx += (xs[i] - mx) ** 2;
  }
  return sxx === 0 ? 0 : sxy / sxx;
}

// Deterministic inputs: a linear congruential generator, no dependency.
let state = 12345;
const rand = () => ((state = (state * 1103515245 + 12345) >>> 0) / 2 ** 32);
const pixels = new Float32Array(batch * 784).map(() => rand());
const labelValues = Float32Array.from({ length: batch }, () => Math.floor(rand() * 10));

async function phase(name, count, step) {
  const every = Math.max(1, Math.floor(count / samples));
  const rows = [];
  const sample = async (i) => {
    await backend.sync();
    const c = backend.counters();
    rows.push({ step: i, rssKB: process.memoryUsage().rss / 1024, buffers: c.liveBuffers, bytes: c.liveBytes });
  };
  const start = performance.now();
  for (let i = 1; i <= count; i++) {
    await step(i);
    if (i % every === 0 || i === count) await sample(i);
  }
  const seconds = (performance.now() - start) / 1000;
  console.log(`\n${name}: ${count} calls, batch ${batch}, ${seconds.toFixed(1)} s`);
  console.log('   step    RSS (KB)  live buffers  live bytes');
  for (const r of rows) console.log(`${String(r.step).padStart(7)} ${r.rssKB.toFixed(0).padStart(11)} ${String(r.buffers).padStart(13)} ${String(r.bytes).padStart(11)}`);
  // The first sample is the warm-up (buffers made for the batch size); the slopes are over the rest.
  const rest = rows.slice(1);
  const xs = rest.map((r) => r.step);
  const per1000 = (key) => slope(xs, rest.map((r) => r[key])) * 1000;
  const result = {
    rss: per1000('rssKB'),
    buffers: per1000('buffers'),
    bytes: per1000('bytes') / 1024,
    grew: rest.some((r) => r.buffers !== rest[0].buffers || r.bytes !== rest[0].bytes),
  };
  console.log(`slopes per 1000 calls: RSS ${result.rss.toFixed(1)} KB, live buffers ${result.buffers.toFixed(3)}, live bytes ${result.bytes.toFixed(3)} KB${result.grew ? '  <- live buffers grew' : ''}`);
  return result;
}

const backend = createBackend({ device: args.device, threads });
let model;
let optimizer;
async function main() {
  console.log(`soak: ${backend.describe()}`);
  model = new LeNet5({ backend });
  optimizer = new SGD(model.params(), { learningRate: 0.01 });
  const images = backend.tensor(model.inputShape(batch), pixels);
  const labels = backend.tensor([batch], labelValues);
  const stats = backend.zeros([2]);
  const train = await phase('training steps', steps, async (i) => {
    trainStep(model, optimizer, images, labels, stats);
    if (i % 2 === 0) await backend.sync(); // at most two steps in flight, as fit keeps it
  });
  // Host images uploaded per call, as a service would: each predict allocates and frees its batch.
  const infer = await phase('predicts', predicts, async () => {
    await model.predict(pixels, { batchSize: batch });
  });
  images.dispose();
  labels.dispose();
  stats.dispose();
  optimizer.dispose();
  model.dispose();
  await backend.sync();
  const left = backend.counters();
  backend.dispose();
  console.log(`\nafter disposing everything: ${left.liveBuffers} live buffers, ${left.liveBytes} live bytes`);
  const leak = train.grew || infer.grew || left.liveBuffers !== 0 || left.liveBytes !== 0;
  console.log(leak ? 'soak: FAILED: live buffers grew (a leak)' : 'soak: OK: live buffers and bytes stayed flat (the RSS slope is reported only)');
  process.exitCode = leak ? 1 : 0;
}
main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
