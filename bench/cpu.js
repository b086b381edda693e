#!/usr/bin/env node
/**
 * `npm run bench`: the CPU benchmark, ours and PyTorch's side by side on this machine.
 *
 *   node bench/cpu.js [--epochs 5] [--threads N] [--no-torch] [--no-tfjs] [--no-http] [--out bench/results/cpu.md]
 *
 * 0. GEMM GFLOP/s on each LeNet5 GEMM shape and on 1024^3, one thread: the built-in GEMM (every
 *    micro-kernel this CPU runs) against OpenBLAS (when the build has it); bench/gemm.js.
 * 1. The machine's SGEMM ceiling through the GEMM our CPU backend uses (2048^3, all threads).
 * 2. Our training, on the default (built-in) GEMM and, when the build has it, on OpenBLAS, the two
 *    taking turns epoch by epoch: the tutorial's LeNet5 (batch 500, lr 0.1, seed 23455) on MNIST, epoch by epoch:
 *    the training pass (100 minibatches) and the validation pass (10000 images) timed apart;
 *    median over the epochs after the first (warm-up); achieved GFLOP/s at 13.2 MFLOP per
 *    training sample and 4.6 MFLOP per validation sample; a per-op breakdown of one epoch; the
 *    event loop's delay while training; peak resident memory.
 * 3. PyTorch (bench/torch_lenet.py, with Debian's /usr/bin/python3 when `import torch` works):
 *    the same model, initial weights, data and hyperparameters; ratio ours / theirs.
 * 4. Inference throughput on the 10000 test images at batch 500 and batch 1: ours, PyTorch's,
 *    TensorFlow.js's WASM backend (bench/tfjs_infer.js).
 * 5. The HTTP service (examples/http-service.js) with and without batching: requests/s and
 *    p50/p99 latency for 1, 8 and 64 concurrent clients of one image each (bench/http.js, which
 *    also runs alone; --no-http skips it).
 * The table goes to stdout and to bench/results/cpu.md.
 */
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawnSync } = require('child_process');
const { monitorEventLoopDelay } = require('perf_hooks');
const { parseArgs } = require('util');
const L = require('..');
const gemmBench = require('./gemm');

const TRAIN_MFLOP = 13.2;
const VALID_MFLOP = 4.6;
const ROOT = path.resolve(__dirname, '..');

const { values: opt } = parseArgs({
  options: {
    epochs: { type: 'string', default: '5' },
    threads: { type: 'string' },
    'no-torch': { type: 'boolean' },
    'no-tfjs': { type: 'boolean' },
    'no-http': { type: 'boolean' },
    out: { type: 'string', default: path.join(ROOT, 'bench', 'results', 'cpu.md') },
  },
});
const epochs = Number(opt.epochs);
const threads = opt.threads ? Number(opt.threads) : os.cpus().length;
if (!Number.isInteger(epochs) || epochs < 2) throw new Error('--epochs must be an integer >= 2 (the first is a warm-up)');

const log = (...a) => console.error(...a);
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const fmt = (x, d = 2) => (x === undefined || Number.isNaN(x) ? 'n/a' : x.toFixed(d));

async function gemmCeiling(backend, n = 2048) {
  const a = backend.tensor([n, n], new Float32Array(n * n).fill(0.5));
  const b = backend.tensor([n, n], new Float32Array(n * n).fill(0.25));
  const c = backend.zeros([n, n]);
  backend.gemm(false, false, 1, a, b, 0, c);
  await backend.sync();
  const reps = 5;
  const t0 = performance.now();
  for (let i = 0; i < reps; i++) backend.gemm(false, false, 1, a, b, 0, c);
  await backend.sync();
  const s = (performance.now() - t0) / 1000 / reps;
  for (const t of [a, b, c]) t.dispose();
  return (2 * n * n * n) / s / 1e9;
}

// Our training on one GEMM, an epoch at a time (so that two GEMMs can take turns in one run and
// share the machine's conditions); with `full`, also the GEMM ceiling, the profile of epoch 2 and
// inference.
async function ourRun(gemmOptions, full) {
  const backend = L.createBackend({ device: 'cpu', threads, ...gemmOptions });
  log(`ours: ${backend.describe()}`);
  const gemmName = backend.describe().replace(/^.*GEMM: /, '');
  const ceiling = full ? await gemmCeiling(backend) : NaN;
  if (full) log(`SGEMM ceiling (2048^3 through the backend): ${ceiling.toFixed(1)} GFLOP/s`);
  const data = await L.loadMnist({ backend });
  const model = new L.LeNet5({ backend });
  const batch = 500;
  const batches = Math.floor(data.train.count / batch);
  const stats = backend.zeros([2]);
  const evalStats = backend.zeros([2]);
  const sgd = new L.SGD(model.params(), { learningRate: 0.1 }); // the tutorial's plain SGD: one axpy a step
  const rows = [];
  let profile;
  const loop = monitorEventLoopDelay({ resolution: 1 });
  async function epoch(n) {
    const profiled = n === 2 && full;
    if (profiled) {
      backend.native.setProfiling(true);
      loop.enable();
    }
    backend.fill(stats, 0);
    const t0 = performance.now();
    const inflight = [];
    for (let i = 0; i < batches; i++) {
      const x = data.train.images.slice(i * batch, batch);
      const y = data.train.labels.slice(i * batch, batch);
      L.trainStep(model, sgd, x, y, stats);
      x.dispose();
      y.dispose();
      inflight.push(backend.sync());
      while (inflight.length > 2) await inflight.shift();
    }
    await Promise.all(inflight);
    const t1 = performance.now();
    const v = await L.evaluateSplit(model, data.validation, batch, evalStats);
    const t2 = performance.now();
    const [cost] = await stats.read();
    if (profiled) {
      loop.disable();
      profile = backend.native.profile();
      backend.native.setProfiling(false);
    }
    rows.push({ epoch: n, train_s: (t1 - t0) / 1000, val_s: (t2 - t1) / 1000, val_error_pct: v.errorPercent, train_cost: cost / (batches * batch) });
    log(`ours (${gemmOptions.gemm}) epoch ${n}: train ${((t1 - t0) / 1000).toFixed(2)} s, validation ${((t2 - t1) / 1000).toFixed(2)} s, validation error ${v.errorPercent.toFixed(2)} %`);
  }
  async function finish() {
    // Inference on the 10000 test images.
    let infer500 = NaN;
    let infer1 = NaN;
    if (full) {
      const host = L.loadMnistFiles();
      const images = host.test.images;
      await model.predict(images.subarray(0, 500 * 784));
      let t0 = performance.now();
      await model.predict(images, { batchSize: 500 });
      infer500 = 10000 / ((performance.now() - t0) / 1000);
      const one = 2000;
      t0 = performance.now();
      for (let i = 0; i < one; i++) await model.predict(images.subarray(i * 784, (i + 1) * 784));
      infer1 = one / ((performance.now() - t0) / 1000);
    }
    sgd.dispose();
    model.dispose();
    data.dispose();
    stats.dispose();
    evalStats.dispose();
    await backend.sync();
    backend.dispose();
    return {
      ceiling,
      rows,
      profile,
      loop: { p50: loop.percentile(50) / 1e6, p99: loop.percentile(99) / 1e6, max: loop.max / 1e6 },
      infer: { batch500_img_s: infer500, batch1_img_s: infer1 },
      gemm: gemmName,
      maxRssMiB: process.resourceUsage().maxRSS / 1024,
    };
  }
  return { epoch, finish };
}

function runJson(cmd, args, what) {
  log(`${what}: ${cmd} ${args.join(' ')}`);
  const r = spawnSync(cmd, args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 24 });
  if (r.status !== 0) return { skipped: `${what} exited with status ${r.status}` };
  const last = r.stdout.trim().split('\n').pop();
  try {
    return JSON.parse(last);
  } catch {
    return { skipped: `${what} printed no JSON result` };
  }
}

function torch() {
  if (opt['no-torch']) return { skipped: 'skipped (--no-torch)' };
  const py = fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
  const probe = spawnSync(py, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8' });
  if (probe.status !== 0) {
    return { skipped: `PyTorch is not importable by ${py} (on Debian: apt-get install python3-torch libopenblas0-pthread)` };
  }
  return runJson(py, ['bench/torch_lenet.py', '--epochs', String(epochs), '--threads', String(threads), '--infer'], 'PyTorch');
}

function tfjs() {
  if (opt['no-tfjs']) return { skipped: 'skipped (--no-tfjs)' };
  try {
    require.resolve('@tensorflow/tfjs-backend-wasm');
  } catch {
    return { skipped: '@tensorflow/tfjs-backend-wasm is not installed (it is a dev dependency)' };
  }
  return runJson(process.execPath, ['bench/tfjs_infer.js'], 'TensorFlow.js WASM');
}

function epochFigures(rows) {
  const timed = rows.slice(1); // the first epoch is a warm-up
  const train = median(timed.map((r) => r.train_s));
  const val = median(timed.map((r) => r.val_s));
  const gflops = (50000 * TRAIN_MFLOP + 10000 * VALID_MFLOP) / 1000 / (train + val);
  return { train, val, epoch: train + val, gflops };
}

(async () => {
  const info = L.loadAddon().buildInfo();
  log('GEMM shapes, one thread: built-in kernels and OpenBLAS');
  const gemms = gemmBench.gemmTable(1);
  // The built-in GEMM and OpenBLAS take turns epoch by epoch (the first of each pair alternating),
  // so that their ratio is measured under the same conditions.
  const runs = [await ourRun({ gemm: 'builtin' }, true)];
  if (info.openblas) runs.push(await ourRun({ gemm: 'openblas' }, false));
  for (let e = 1; e <= epochs; e++) {
    const order = e % 2 ? runs : [...runs].reverse();
    for (const r of order) await r.epoch(e);
  }
  const us = await runs[0].finish();
  const blas = runs[1] ? await runs[1].finish() : null;
  const pt = torch();
  const tj = tfjs();
  const o = epochFigures(us.rows);
  const ob = blas ? epochFigures(blas.rows) : undefined;
  const t = pt.epochs ? epochFigures(pt.epochs) : undefined;
  const cpuModel = os.cpus()[0]?.model ?? 'unknown CPU';
  const lines = [];
  const say = (s = '') => lines.push(s);
  say(`# CPU benchmark: LeNet5 on MNIST`);
  say();
  say(`- Date: ${new Date().toISOString().slice(0, 10)}`);
  say(`- Machine: ${cpuModel}, ${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB; ${threads} threads for both sides`);
  say(`- Ours: lenet-cudnn ${require('../package.json').version}, Node.js ${process.version}; default GEMM: ${us.gemm}${blas ? `; also trained on ${blas.gemm}` : ' (this build has no OpenBLAS)'}`);
  say(pt.skipped ? `- PyTorch: ${pt.skipped}` : `- PyTorch: ${pt.version} (Debian ${pt.deb_version ?? '?'}), BLAS: ${pt.blas?.openblas ?? pt.blas?.build} (${(pt.blas?.mapped ?? []).join(', ')}), oneDNN ${pt.mkldnn ? 'on' : 'off'}`);
  say(tj.skipped ? `- TensorFlow.js: ${tj.skipped}` : `- TensorFlow.js: ${tj.version} WASM backend, SIMD ${tj.simd ? 'on' : 'off'}, ${tj.threads} thread(s)`);
  say(`- Epochs: ${epochs} each, medians over epochs 2..${epochs} (epoch 1 is a warm-up)`);
  say();
  say(`## GEMM (one thread, the shapes a LeNet5 training step issues per call)`);
  say();
  say(gemmBench.markdown(gemms, 1));
  say(`## Training (batch 500, lr 0.1, seed 23455; 50000 training + 10000 validation images per epoch)`);
  say();
  say(`| | ms per training step | training pass (s) | validation pass (s) | epoch (s) | GFLOP/s |`);
  say(`| --- | ---: | ---: | ---: | ---: | ---: |`);
  const steps = 50000 / 500;
  say(`| ours, built-in GEMM (the default) | ${fmt((1000 * o.train) / steps, 1)} | ${fmt(o.train)} | ${fmt(o.val)} | ${fmt(o.epoch)} | ${fmt(o.gflops, 1)} |`);
  if (ob) say(`| ours, OpenBLAS | ${fmt((1000 * ob.train) / steps, 1)} | ${fmt(ob.train)} | ${fmt(ob.val)} | ${fmt(ob.epoch)} | ${fmt(ob.gflops, 1)} |`);
  if (t) say(`| PyTorch | ${fmt((1000 * t.train) / steps, 1)} | ${fmt(t.train)} | ${fmt(t.val)} | ${fmt(t.epoch)} | ${fmt(t.gflops, 1)} |`);
  say();
  if (ob) say(`**Built-in / OpenBLAS, epoch time: ${fmt(o.epoch / ob.epoch, 3)}** (target <= 1.0).`);
  if (t) say(`**Ours (default GEMM) / PyTorch, epoch time: ${fmt(o.epoch / t.epoch, 3)}** (training pass ${fmt(o.train / t.train, 3)}, validation pass ${fmt(o.val / t.val, 3)}); target <= 0.35.${ob ? ` OpenBLAS / PyTorch: ${fmt(ob.epoch / t.epoch, 3)}.` : ''}`);
  say();
  say(`SGEMM ceiling (2048^3 through our CPU backend's GEMM, ${threads} threads): ${fmt(us.ceiling, 1)} GFLOP/s; our training reaches ${fmt((100 * o.gflops) / us.ceiling, 1)} % of it.`);
  say(`Peak resident memory of our run: ${fmt(us.maxRssMiB, 0)} MiB. Event loop delay while training (epoch 2): p50 ${fmt(us.loop.p50)} ms, p99 ${fmt(us.loop.p99)} ms, max ${fmt(us.loop.max)} ms.`);
  say();
  say(`### Validation error after each epoch (same model, initial weights and minibatch order)`);
  say();
  say(`| epoch | ours (%) | ours, OpenBLAS (%) | PyTorch (%) | ours: train s / validation s | OpenBLAS: train s / validation s | PyTorch: train s / validation s |`);
  say(`| ---: | ---: | ---: | ---: | ---: | ---: | ---: |`);
  us.rows.forEach((r, i) => {
    const p = pt.epochs?.[i];
    const b = blas?.rows[i];
    say(`| ${r.epoch} | ${fmt(r.val_error_pct)} | ${b ? fmt(b.val_error_pct) : 'n/a'} | ${p ? fmt(p.val_error_pct) : 'n/a'} | ${fmt(r.train_s)} / ${fmt(r.val_s)} | ${b ? `${fmt(b.train_s)} / ${fmt(b.val_s)}` : 'n/a'} | ${p ? `${fmt(p.train_s)} / ${fmt(p.val_s)}` : 'n/a'} |`);
  });
  say();
  say(`### Where our time goes (epoch 2: training and validation passes)`);
  say();
  say(`Ops, as timed on the backend's executor thread (wall seconds):`);
  say();
  say(`| op | calls | seconds | share |`);
  say(`| --- | ---: | ---: | ---: |`);
  const entries = Object.entries(us.profile ?? {});
  const ops = entries.filter(([n]) => !n.includes(': ')).sort((a, b) => b[1].seconds - a[1].seconds);
  const total = ops.reduce((s, [, e]) => s + e.seconds, 0);
  for (const [name, e] of ops) say(`| ${name} | ${e.calls} | ${fmt(e.seconds, 3)} | ${fmt((100 * e.seconds) / total, 1)} % |`);
  say();
  const phases = entries.filter(([n]) => n.includes(': ')).sort((a, b) => b[1].seconds - a[1].seconds);
  if (phases.length) {
    const ptotal = phases.reduce((s, [, e]) => s + e.seconds, 0);
    say(`Phases inside the fused conv-pool ops (CPU seconds, summed over the ${threads} pool threads):`);
    say();
    say(`| phase | seconds | share |`);
    say(`| --- | ---: | ---: |`);
    for (const [name, e] of phases) say(`| ${name} | ${fmt(e.seconds, 3)} | ${fmt((100 * e.seconds) / ptotal, 1)} % |`);
    say();
  }
  say(`## Inference on the 10000 test images (images per second)`);
  say();
  say(`| | batch 500 | batch 1 |`);
  say(`| --- | ---: | ---: |`);
  say(`| ours | ${fmt(us.infer.batch500_img_s, 0)} | ${fmt(us.infer.batch1_img_s, 0)} |`);
  if (pt.infer) say(`| PyTorch | ${fmt(pt.infer.batch500_img_s, 0)} | ${fmt(pt.infer.batch1_img_s, 0)} |`);
  if (tj.infer) say(`| TensorFlow.js WASM | ${fmt(tj.infer.batch500_img_s, 0)} | ${fmt(tj.infer.batch1_img_s, 0)} |`);
  say();
  say(`Batch 1: ours times 2000 single-image predict() calls (each a promise), PyTorch the first 2000 images, TensorFlow.js the first 1000.`);
  if (!opt['no-http']) {
    log('HTTP service, with and without batching');
    say();
    say((await require('./http').httpBench()).markdown.trimEnd());
  }
  const text = lines.join('\n') + '\n';
  process.stdout.write(text);
  fs.mkdirSync(path.dirname(opt.out), { recursive: true });
  fs.writeFileSync(opt.out, text);
  log(`wrote ${path.relative(ROOT, opt.out)}`);
})().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
