#!/usr/bin/env node
/**
 * The Node.js half of `npm run bench:gpu` (bench/gpu.sh runs the stages; this file does what is
 * easier in JavaScript). One subcommand per job, each printing for the log and writing JSON into
 * the run's work folder, so that a stage that fails leaves the others their inputs:
 *
 *   node bench/gpu.js info OUT.json              stage 1: CUDA probe, versions, libraries, buildInfo
 *   node bench/gpu.js small-mnist DIR            dry run: a cut-down MNIST copy (fast single epoch)
 *   node bench/gpu.js jest-summary JEST.json OUT.json [--dry-run]
 *                                                stage 3: counts; fails on failures or CUDA skips
 *   node bench/gpu.js parse-train LOG OUT.json   stage 4: the tutorial-style figures of lib/train.js
 *   node bench/gpu.js compare WORK               stage 5: PyTorch's seconds per epoch, ours / theirs
 *   node bench/gpu.js report WORK OUTDIR RESULTSDIR [--dry-run]
 *                                                stage 6: RESULTSDIR/gpu-<gpu name>.md (copied into
 *                                                OUTDIR) and OUTDIR/figures.json
 *
 * Only Node's standard library and the package's compiled lib/ are used: the GPU machine has no
 * npm and no network.
 */
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const zlib = require('zlib');
const { spawnSync } = require('child_process');

const ROOT = path.resolve(__dirname, '..');
const [cmd, ...rest] = process.argv.slice(2);
const dryRun = rest.includes('--dry-run');
const args = rest.filter((a) => a !== '--dry-run');

const readJson = (file) => {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
};
const writeJson = (file, v) => fs.writeFileSync(file, JSON.stringify(v, null, 2) + '\n');
const median = (xs) => {
  if (!xs.length) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const fmt = (x, d = 2) => (x === undefined || x === null || Number.isNaN(x) ? 'n/a' : Number(x).toFixed(d));
/** Epoch times without the first (cuDNN's algorithm search, allocation, JIT), when there are more. */
const steady = (xs) => (xs.length > 1 ? xs.slice(1) : xs);

/** Shared objects of the CUDA stack mapped into this process (what the loader actually chose). */
function mappedCudaLibraries() {
  try {
    const libs = new Set();
    for (const line of fs.readFileSync('/proc/self/maps', 'utf8').split('\n')) {
      const file = line.split(/\s+/)[5];
      if (file && /\/lib(cuda|cudart|cublas|cublasLt|cudnn[^/]*|nvrtc[^/]*|nvJitLink|nvidia-ml)\.so/.test(file)) libs.add(file);
    }
    return [...libs].sort();
  } catch {
    return [];
  }
}

// --- stage 1 -------------------------------------------------------------------------------
function info(outFile) {
  const L = require(path.join(ROOT, 'lib'));
  const { cudaAvailable } = require(path.join(ROOT, 'lib', 'backend'));
  const addon = L.loadAddon();
  const build = addon.buildInfo();
  console.log(`node ${process.version} on ${os.platform()} ${os.release()} ${os.arch()}; ${os.cpus().length} x ${os.cpus()[0]?.model ?? '?'}`);
  console.log(`lenet-cudnn ${require(path.join(ROOT, 'package.json')).version}`);
  console.log(`buildInfo(): ${JSON.stringify(build)}`);
  for (const v of ['LD_LIBRARY_PATH', 'LENET_CUDA_LIBS', 'LENET_CUDA_PYTHON', 'LENET_ADDON', 'CUDA_HOME', 'CUDA_PATH', 'CUDA_VISIBLE_DEVICES']) {
    console.log(`${v}=${process.env[v] ?? '(unset)'}`);
  }
  // The raw probe has deviceCount, the lib/backend wrapper is the public API: print both.
  const raw = addon.cudaAvailable();
  const status = cudaAvailable();
  console.log(`cudaAvailable(): ok=${status.ok} device=${status.device ?? '(none)'} reason=${status.reason || '(none)'}`);
  console.log(`  deviceCount (raw probe): ${raw.deviceCount}`);
  for (const [k, v] of Object.entries(status.versions)) console.log(`  version ${k}: ${v}`);
  console.log('  tried:');
  for (const t of status.tried) console.log(`    ${t}`);
  const result = { node: process.version, build, status, deviceCount: raw.deviceCount, mappedAfterProbe: mappedCudaLibraries() };
  if (status.ok) {
    // A backend and one op load what the probe alone may not (cuDNN's sub-libraries, the PTX).
    try {
      const b = L.createBackend({ device: 'cuda' });
      result.describe = b.describe();
      const t = b.tensor([3], Float32Array.from([1, 2, 3]));
      b.scale(2, t);
      const got = Array.from(t.readSync());
      t.dispose();
      b.dispose();
      result.smokeOp = got.join(',') === '2,4,6' ? 'ok' : `wrong result ${got}`;
    } catch (e) {
      result.smokeOp = `failed: ${e.message}`;
    }
    console.log(`CUDA backend: ${result.describe ?? '(not created)'}; scale(2, [1,2,3]): ${result.smokeOp}`);
  }
  result.mapped = mappedCudaLibraries();
  console.log('CUDA libraries mapped into this process:');
  for (const m of result.mapped) console.log(`  ${m}`);
  if (!result.mapped.length) console.log('  (none)');
  writeJson(outFile, result);
  if (dryRun) return 0; // no GPU expected: the probe having answered is the pass
  return status.ok && result.smokeOp === 'ok' ? 0 : 1;
}

// --- dry run: small data -------------------------------------------------------------------
/**
 * Copies the first images of each MNIST file: 10500 of the training file (the CLI keeps the last
 * 10000 for validation, so one minibatch of 500 trains) and 1000 test images. lib/train.js has no
 * data limit of its own, and its --data flag reads any IDX files, so this keeps one epoch to
 * seconds on a small CPU.
 */
function smallMnist(dir) {
  const src = require(path.join(ROOT, 'lib')).defaultMnistDir();
  fs.mkdirSync(dir, { recursive: true });
  const keep = { 'train-images-idx3-ubyte': 10500, 'train-labels-idx1-ubyte': 10500, 't10k-images-idx3-ubyte': 1000, 't10k-labels-idx1-ubyte': 1000 };
  for (const [name, n] of Object.entries(keep)) {
    const plain = path.join(src, name);
    const raw = fs.existsSync(plain) ? fs.readFileSync(plain) : zlib.gunzipSync(fs.readFileSync(plain + '.gz'));
    const ndim = raw[3];
    const header = Buffer.from(raw.subarray(0, 4 + 4 * ndim));
    let item = 1;
    for (let i = 1; i < ndim; i++) item *= raw.readUInt32BE(4 + 4 * i);
    const count = Math.min(n, raw.readUInt32BE(4));
    header.writeUInt32BE(count, 4);
    fs.writeFileSync(path.join(dir, name), Buffer.concat([header, raw.subarray(header.length, header.length + count * item)]));
  }
  console.log(`small MNIST copy in ${dir}: 500 training, 10000 validation, 1000 test images`);
  return 0;
}

// --- stage 3 -------------------------------------------------------------------------------
/**
 * Skipped tests that mention CUDA but are skipped *because* a GPU is there (the no-GPU paths), or
 * that need a build tool rather than a GPU (regenerating the PTX needs nvcc, which PyTorch's wheels
 * do not ship). Everything else on CUDA that is skipped fails the stage.
 */
const EXPECTED_SKIPS = [
  [/CUDA is available here|CUDA status here is: usable|machine has one/, 'a no-GPU path, skipped because a GPU is usable'],
  [/PTX check skipped: nvcc not found/, 'needs nvcc (a build tool), not a GPU'],
];

function jestSummary(jestFile, outFile) {
  const j = readJson(jestFile);
  if (!j) {
    console.log(`jest: no readable JSON report at ${jestFile}`);
    writeJson(outFile, { error: 'no jest report' });
    return 1;
  }
  const tests = [];
  for (const suite of j.testResults ?? []) {
    const file = path.relative(ROOT, suite.name ?? suite.testFilePath ?? '');
    if (suite.status === 'failed' && !(suite.assertionResults ?? []).length) {
      tests.push({ file, name: '(the suite failed to run)', status: 'failed', message: (suite.message ?? '').slice(0, 2000) });
    }
    for (const a of suite.assertionResults ?? []) {
      tests.push({ file, name: a.fullName ?? [...(a.ancestorTitles ?? []), a.title].join(' '), status: a.status, message: (a.failureMessages ?? []).join('\n').slice(0, 2000) });
    }
  }
  const passed = tests.filter((t) => t.status === 'passed');
  const failed = tests.filter((t) => t.status === 'failed');
  const skipped = tests.filter((t) => t.status === 'pending' || t.status === 'skipped' || t.status === 'todo' || t.status === 'disabled');
  const cudaSkips = skipped
    .filter((t) => /cuda/i.test(t.name))
    .map((t) => ({ ...t, expected: EXPECTED_SKIPS.find(([re]) => re.test(t.name))?.[1] }));
  const badSkips = cudaSkips.filter((t) => !t.expected);
  for (const t of failed) console.log(`FAILED  ${t.file}: ${t.name}\n${t.message.replace(/^/gm, '        ')}`);
  for (const t of skipped) {
    const c = cudaSkips.find((x) => x === t || (x.file === t.file && x.name === t.name));
    const note = c ? (c.expected ? `  [CUDA, expected: ${c.expected}]` : '  [CUDA: must not be skipped]') : '';
    console.log(`skipped ${t.file}: ${t.name}${note}`);
  }
  const suitesFailed = j.numFailedTestSuites ?? 0;
  const summary = {
    passed: passed.length,
    failed: failed.length,
    skipped: skipped.length,
    suites: j.numTotalTestSuites,
    suitesFailed,
    cudaSkipped: cudaSkips.map((t) => ({ file: t.file, name: t.name, expected: t.expected ?? null })),
    cudaSkippedUnexpected: badSkips.length,
    failedTests: failed.map((t) => `${t.file}: ${t.name}`),
    seconds: j.startTime ? (Date.now() - j.startTime) / 1000 : undefined,
  };
  writeJson(outFile, summary);
  console.log(`${summary.suites} suites (${suitesFailed} failed); ${badSkips.length} CUDA test(s) skipped that must run, ${cudaSkips.length - badSkips.length} expected CUDA skip(s)`);
  console.log(`jest: ${passed.length} passed, ${failed.length} failed, ${skipped.length} skipped`);
  if (failed.length || suitesFailed || !tests.length) return 1;
  if (badSkips.length && !dryRun) return 1; // on a GPU machine nothing on CUDA may skip
  if (badSkips.length) console.log('(dry run: CUDA skips are expected without a GPU; the real run fails on them)');
  return 0;
}

// --- stage 4 -------------------------------------------------------------------------------
/** Reads lib/train.js's tutorial-style output; works on a partial log (a run that timed out). */
function parseTrain(logFile, outFile) {
  const text = fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8') : '';
  const r = { validations: [], epochs: [] };
  for (const line of text.split('\n')) {
    let m;
    if ((m = /^device: (\S+) \((.*)\): (.*)$/.exec(line))) Object.assign(r, { device: m[1], deviceReason: m[2], backend: m[3] });
    else if ((m = /^epoch (\d+), minibatch (\d+)\/(\d+), validation error ([\d.]+) %$/.exec(line))) {
      r.validations.push({ epoch: +m[1], minibatch: +m[2], batches: +m[3], validation: +m[4] });
    } else if ((m = /^\s+epoch (\d+), minibatch (\d+)\/\d+, test error of best model ([\d.]+) %$/.exec(line))) {
      const v = r.validations[r.validations.length - 1];
      if (v) v.test = +m[3];
    } else if ((m = /^\s+epoch (\d+): training cost ([\d.]+), ([\d.]+) s$/.exec(line))) r.epochs.push({ epoch: +m[1], cost: +m[2], seconds: +m[3] });
    else if ((m = /^Best validation score of ([\d.]+) % obtained at iteration (\d+), with test performance ([\d.]+) %$/.exec(line))) {
      Object.assign(r, { bestValidation: +m[1], bestIteration: +m[2], testError: +m[3] });
    } else if ((m = /^Trained (\d+) epochs? \((\d+) iterations(, stopped early[^)]*)?\) in ([\d.]+) (s|min) on (\w+): ([\d.]+) s per epoch$/.exec(line))) {
      Object.assign(r, { epochsRun: +m[1], iterations: +m[2], stoppedEarly: Boolean(m[3]), wallSeconds: +m[4] * (m[5] === 'min' ? 60 : 1), secondsPerEpoch: +m[7] });
    }
  }
  r.complete = r.bestValidation !== undefined && r.secondsPerEpoch !== undefined;
  if (r.bestValidation === undefined && r.validations.length) {
    // Partial run: the best validation so far, as the trainer would have reported it.
    const best = r.validations.reduce((a, b) => (b.validation < a.validation ? b : a));
    Object.assign(r, { bestValidation: best.validation, bestIteration: (best.epoch - 1) * best.batches + best.minibatch, testError: best.test });
  }
  const secs = r.epochs.map((e) => e.seconds);
  const sum = secs.reduce((a, b) => a + b, 0);
  if (r.epochsRun === undefined) r.epochsRun = r.epochs.length;
  // The summary line rounds (to 0.1 min past 120 s): the epochs' own times add up to the same
  // wall time with two decimals each.
  if (secs.length && secs.length === r.epochsRun) Object.assign(r, { wallSeconds: sum, secondsPerEpoch: sum / secs.length });
  r.firstEpochSeconds = secs[0];
  r.medianEpochSeconds = median(steady(secs));
  const { validations, epochs, ...figures } = r;
  writeJson(outFile, { ...figures, epochSeconds: secs, validationErrors: validations.map((v) => v.validation) });
  console.log(
    `reproduction${r.complete ? '' : ' (INCOMPLETE: no summary line)'}: device ${r.device ?? '?'}; best validation ${fmt(r.bestValidation, 4)} % ` +
      `at iteration ${r.bestIteration ?? '?'}, test error ${fmt(r.testError, 4)} %; ${r.epochsRun} epoch(s), wall ${fmt(r.wallSeconds, 1)} s, ` +
      `${fmt(r.secondsPerEpoch, 3)} s per epoch (first ${fmt(r.firstEpochSeconds, 3)} s, median of the rest ${fmt(r.medianEpochSeconds, 3)} s)`,
  );
  return r.complete ? 0 : 1;
}

// --- stage 5 -------------------------------------------------------------------------------
function torchFigures(t) {
  if (!t?.epochs?.length) return undefined;
  const rows = steady(t.epochs);
  const epochS = (e) => e.epoch_s ?? e.train_s + e.val_s + (e.test_s ?? 0);
  return {
    epochs: t.epochs.length,
    medianEpochSeconds: median(rows.map(epochS)),
    medianTrainSeconds: median(rows.map((e) => e.train_s)),
    medianValidationSeconds: median(rows.map((e) => e.val_s)),
    firstEpochSeconds: epochS(t.epochs[0]),
    lastValidationError: t.epochs[t.epochs.length - 1].val_error_pct,
  };
}

function compare(work) {
  const t = readJson(path.join(work, 'torch.json'));
  const ours = readJson(path.join(work, 'train.json'));
  const tf = torchFigures(t);
  if (!tf) {
    console.log('compare: no PyTorch figures');
    return 1;
  }
  const c = {
    torch: tf,
    oursMedianEpochSeconds: ours?.medianEpochSeconds,
    oursOverTorch: ours?.medianEpochSeconds !== undefined ? ours.medianEpochSeconds / tf.medianEpochSeconds : undefined,
  };
  writeJson(path.join(work, 'compare.json'), c);
  console.log(`PyTorch ${t.version} on ${t.device}${t.cuda ? ` (${t.cuda.gpu}, CUDA ${t.cuda.runtime}, cuDNN ${t.cuda.cudnn})` : ''}: ${tf.epochs} epoch(s)`);
  console.log(`PyTorch: ${fmt(tf.medianEpochSeconds, 3)} s per epoch (median after the first; training ${fmt(tf.medianTrainSeconds, 3)} s, validation ${fmt(tf.medianValidationSeconds, 3)} s); first epoch ${fmt(tf.firstEpochSeconds, 3)} s`);
  console.log(`ours: ${fmt(c.oursMedianEpochSeconds, 3)} s per epoch (same definition); ours / PyTorch: ${fmt(c.oursOverTorch, 3)}`);
  return 0;
}

// --- stage 6 -------------------------------------------------------------------------------
function gitCommit() {
  const r = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' });
  if (r.status !== 0) return 'unknown (no git here)';
  const dirty = spawnSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: ROOT, encoding: 'utf8' }).stdout.trim();
  return r.stdout.trim() + (dirty ? ' + uncommitted changes' : '');
}

/** 'NVIDIA H200' -> 'nvidia-h200': the results file's name. */
const slug = (name) => (name ?? 'no gpu').toLowerCase().trim().replace(/\s+/g, '-').replace(/[^a-z0-9._-]/g, '') || 'unknown';

function report(work, outDir, resultsDir) {
  const info = readJson(path.join(work, 'info.json')) ?? {};
  const smi = fs.existsSync(path.join(work, 'nvidia-smi.csv')) ? fs.readFileSync(path.join(work, 'nvidia-smi.csv'), 'utf8').trim() : '';
  // The probe's name; nvidia-smi's when CUDA is unusable but a GPU is there.
  const gpuName = info.status?.device ?? (smi ? smi.split('\n')[0].split(',')[0].trim() : undefined);
  const mdFile = path.join(resultsDir, `gpu-${slug(gpuName)}.md`);
  const headers = fs.existsSync(path.join(work, 'headers.log')) ? fs.readFileSync(path.join(work, 'headers.log'), 'utf8') : '';
  const jest = readJson(path.join(work, 'jest-summary.json'));
  const train = readJson(path.join(work, 'train.json'));
  const torch = readJson(path.join(work, 'torch.json'));
  const torchSkip = fs.existsSync(path.join(work, 'torch-skipped.txt')) ? fs.readFileSync(path.join(work, 'torch-skipped.txt'), 'utf8').trim() : '';
  const cmp = readJson(path.join(work, 'compare.json'));
  const stages = fs.existsSync(path.join(work, 'stages.tsv'))
    ? fs.readFileSync(path.join(work, 'stages.tsv'), 'utf8').trim().split('\n').filter(Boolean).map((l) => {
        const [n, title, rc, seconds, note] = l.split('\t');
        return { n: +n, title, rc: +rc, seconds: +seconds, note: note ?? '' };
      })
    : [];
  const st = info.status ?? { versions: {}, tried: [] };
  const v = st.versions ?? {};
  const tf = torchFigures(torch);
  const lines = [];
  const say = (s = '') => lines.push(s);
  say(`# GPU proof: ${gpuName ?? 'no GPU'}${dryRun ? ' (DRY RUN)' : ''}`);
  say();
  if (dryRun) {
    say('**Dry run** (`npm run bench:gpu -- --dry-run`): CPU backend, one epoch on a cut-down MNIST copy, PyTorch on the CPU, one jest file. It checks that the script works; none of its figures is a result.');
    say();
  }
  say(`- Date: ${new Date().toISOString()}`);
  say(`- Commit: ${gitCommit()}; lenet-cudnn ${require(path.join(ROOT, 'package.json')).version}, Node.js ${info.node ?? process.version}`);
  say(`- Host: ${os.cpus().length} x ${os.cpus()[0]?.model ?? '?'}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, ${os.platform()} ${os.release()}`);
  say(`- GPU: ${gpuName ?? 'none'}${smi ? ` (nvidia-smi: ${smi.replace(/\n/g, '; ')})` : ''}`);
  say(`- CUDA status: ${st.ok ? 'usable' : `not usable: ${st.reason}`}`);
  say(`- Versions: driver ${v.driver ?? 'n/a'}, runtime ${v.runtime ?? 'n/a'}, cuBLAS ${v.cublas ?? 'n/a'}, cuDNN ${v.cudnn ?? 'n/a'}`);
  say(`- Addon build: ${info.build ? JSON.stringify(info.build) : 'n/a'}${info.describe ? `; CUDA backend: ${info.describe}` : ''}`);
  say();
  say('Libraries the loader chose (its `tried` entries that loaded) and the CUDA libraries mapped into the process:');
  say();
  const loaded = (st.tried ?? []).filter((t) => /: (loaded|chosen)\b/.test(t));
  for (const t of loaded) say(`- ${t}`);
  for (const m of info.mapped ?? []) say(`- mapped: ${m}`);
  if (!loaded.length && !(info.mapped ?? []).length) say('- none');
  say();
  say('## Stages');
  say();
  say('| stage | status | seconds | note |');
  say('| --- | --- | ---: | --- |');
  for (const s of stages) say(`| ${s.n}. ${s.title} | ${s.rc === 0 ? 'PASS' : `FAIL (exit ${s.rc})`} | ${s.seconds} | ${s.note} |`);
  say(`| 6. results file | (this file) | | |`);
  say();
  say('## Header check (native/cuda/api.h against NVIDIA\'s headers)');
  say();
  const hl = headers.split('\n').filter((l) => /headers:|parts:|checking against|SKIPPED \(|PASS|FAIL|cannot check|mismatch/.test(l));
  say('```');
  for (const l of hl.length ? hl : ['(no output)']) say(l.replace(/^cuda-headers: /, ''));
  say('```');
  say();
  say('## Test suite');
  say();
  if (jest && jest.passed !== undefined) {
    say(`${jest.passed} passed, ${jest.failed} failed, ${jest.skipped} skipped (${jest.suites} suites, ${jest.suitesFailed} failed); CUDA tests skipped that must run: ${jest.cudaSkippedUnexpected}.`);
    for (const f of jest.failedTests) say(`- failed: ${f}`);
    for (const s of jest.cudaSkipped) say(`- skipped: ${s.file}: ${s.name}${s.expected ? ` (expected: ${s.expected})` : ' (**must not be skipped**)'}`);
  } else say('No jest report.');
  say();
  say(`## The tutorial's reproduction (\`node lib/train.js --device ${train?.device ?? '?'}\`)`);
  say();
  if (train) {
    say('| | ours | tutorial (GTX 480, Theano) |');
    say('| --- | ---: | ---: |');
    say(`| best validation error (%) | ${fmt(train.bestValidation, 4)} | 0.91 |`);
    say(`| at iteration | ${train.bestIteration ?? 'n/a'} | 17800 |`);
    say(`| test error (%) | ${fmt(train.testError, 4)} | 0.92 |`);
    say(`| epochs | ${train.epochsRun}${train.stoppedEarly ? ' (patience ran out)' : ''} | 200 |`);
    say(`| wall time (s) | ${fmt(train.wallSeconds, 1)} | 1950 |`);
    say(`| seconds per epoch (wall / epochs) | ${fmt(train.secondsPerEpoch, 3)} | 9.75 |`);
    say(`| seconds per epoch (median after the first) | ${fmt(train.medianEpochSeconds, 3)} | |`);
    say(`| first epoch (s) | ${fmt(train.firstEpochSeconds, 3)} | |`);
    say();
    say(`${train.complete ? 'Complete run' : '**Incomplete run** (no summary line: it failed or ran out of time; figures are the best so far)'}; device: ${train.device ?? '?'} (${train.deviceReason ?? ''}): ${train.backend ?? ''}.`);
    say('For comparison, our full CPU run (bench/results/reproduction-cpu.txt): 0.92 % at iteration 10500, test 0.94 %, 11.9 s per epoch.');
  } else say('No figures (the stage produced no parsable output).');
  say();
  say('## PyTorch, same recipe, same device (`bench/torch_lenet.py`)');
  say();
  if (tf) {
    const c = torch.cuda;
    say(`PyTorch ${torch.version} on ${torch.device}${c ? ` (${c.gpu}, CUDA ${c.runtime}, cuDNN ${c.cudnn}, cudnn.benchmark on, TF32 off)` : ''}; ${tf.epochs} epoch(s) on ${torch.n_train} training images; data and parameters preloaded on the device; the test set evaluated on each new best validation, like ours.`);
    say();
    say('| seconds per epoch (median after the first) | training pass | validation pass | epoch | first epoch |');
    say('| --- | ---: | ---: | ---: | ---: |');
    say(`| PyTorch | ${fmt(tf.medianTrainSeconds, 3)} | ${fmt(tf.medianValidationSeconds, 3)} | ${fmt(tf.medianEpochSeconds, 3)} | ${fmt(tf.firstEpochSeconds, 3)} |`);
    say(`| ours | | | ${fmt(train?.medianEpochSeconds, 3)} | ${fmt(train?.firstEpochSeconds, 3)} |`);
    say();
    say(`**Ours / PyTorch, seconds per epoch: ${fmt(cmp?.oursOverTorch, 3)}** (both in this run; PyTorch's validation error after epoch ${tf.epochs}: ${fmt(tf.lastValidationError, 2)} %).`);
    if (dryRun) say('(Dry run: one epoch on the CPU, ours on a cut-down copy of MNIST (1000 test images, PyTorch 10000); the ratio only shows the arithmetic works.)');
  } else say(torchSkip || 'No figures (the PyTorch stage failed; see the log).');
  say();
  const text = lines.join('\n') + '\n';
  fs.mkdirSync(path.dirname(mdFile), { recursive: true });
  fs.writeFileSync(mdFile, text);
  const copy = path.join(outDir, path.basename(mdFile));
  if (path.resolve(copy) !== path.resolve(mdFile)) fs.copyFileSync(mdFile, copy);
  writeJson(path.join(outDir, 'figures.json'), { dryRun, date: new Date().toISOString(), stages, info, nvidiaSmi: smi || null, jest, reproduction: train, torch: torch ?? null, torchSkipped: torchSkip || null, compare: cmp ?? null });
  process.stdout.write(text);
  console.log(`wrote ${mdFile}${path.resolve(copy) !== path.resolve(mdFile) ? ` and ${copy}` : ''}, ${path.join(outDir, 'figures.json')}`);
  return 0;
}

const commands = {
  info: () => info(args[0]),
  'small-mnist': () => smallMnist(args[0]),
  'jest-summary': () => jestSummary(args[0], args[1]),
  'parse-train': () => parseTrain(args[0], args[1]),
  compare: () => compare(args[0]),
  report: () => report(args[0], args[1], args[2]),
};
if (!commands[cmd]) {
  console.error(`usage: node bench/gpu.js ${Object.keys(commands).join('|')} ... (see the header of bench/gpu.js)`);
  process.exit(2);
}
try {
  process.exitCode = commands[cmd]();
} catch (e) {
  console.error(`gpu.js ${cmd}: ${e.stack ?? e}`);
  process.exitCode = 1;
}
