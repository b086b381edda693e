/**
 * The native addon as a component: the loader's error (in child processes: the addon is cached
 * per process), what it was built with, worker_threads (the addon is context-aware: it loads and
 * trains in a Worker, and a Worker terminated with work in flight must not take the process down),
 * the CUDA probe on machines with and without a usable GPU, and sticky errors of queued work.
 */
import * as fs from 'fs';
import * as path from 'path';
import { Worker } from 'worker_threads';
import { createBackend, cudaAvailable } from '../lib/backend';
import { buildFix, loadAddon } from '../lib/addon';
import { LeNet5 } from '../lib/lenet5';
import { SGD } from '../lib/optimizer';
import { trainStep } from '../lib/trainer';
import { ROOT, ensureCompiledLib, expectError, rejection, runNode, thrown, tmpDir } from './integration-helpers';

const INDEX_JS = path.join(ROOT, 'lib', 'index.js');

beforeAll(() => ensureCompiledLib());

// ---------------------------------------------------------------------------------------------

describe('the loader', () => {
  /** Runs `script` in a child Node.js with LENET_ADDON set; the script prints one JSON line. */
  async function childWithAddon(addon: string, script: string): Promise<unknown> {
    const r = await runNode(['-e', script], { env: { ...process.env, LENET_ADDON: addon } });
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    return JSON.parse(r.stdout);
  }

  test('LENET_ADDON pointing to a missing file: one error naming the path tried and the fix; cudaAvailable() does not throw', async () => {
    const missing = '/nonexistent-lenet/build/lenet_cudnn.node';
    const out = (await childWithAddon(
      missing,
      `const L = require(${JSON.stringify(INDEX_JS)});
       let message = null;
       try { L.createBackend({ device: 'cpu' }); } catch (e) { message = e.message; }
       let cuda; try { cuda = require(${JSON.stringify(path.join(ROOT, 'lib', 'backend.js'))}).cudaAvailable(); } catch (e) { cuda = 'threw: ' + e.message; }
       console.log(JSON.stringify({ message, cuda }));`,
    )) as { message: string; cuda: { ok: boolean; reason: string; versions: object; tried: string[] } };
    expect(out.message.startsWith('lenet-cudnn: could not load the native addon lenet_cudnn.node.\n')).toBe(true);
    expect(out.message).toContain(`Tried:\n  ${missing}: not found\n`);
    expect(out.message).toContain('Fix: run `npm install`');
    expect(out.message).toContain(`in ${ROOT}`);
    expect(out.message).toContain('Or set LENET_ADDON to the path of a built lenet_cudnn.node.');
    expect(out.cuda).toEqual({ ok: false, reason: out.message, versions: {}, tried: [] });
  });

  test('the fix names `npm rebuild lenet-cudnn` for an installed copy, `npm install` for a checkout', () => {
    const installed = path.join('/srv', 'app', 'node_modules', 'lenet-cudnn');
    expect(buildFix(installed).startsWith(
      `Fix: run \`npm rebuild lenet-cudnn\` in the project that installed it (it builds into ${installed}); the build needs`,
    )).toBe(true);
    expect(buildFix('/home/me/lenet-cudnn').startsWith('Fix: run `npm install` (or `npm run build:native`) in /home/me/lenet-cudnn; the build needs')).toBe(true);
    expect(buildFix('/home/me/lenet-cudnn')).toContain('cmake (else node-gyp with python3 and make)');
  });

  test('LENET_ADDON pointing to a broken .node file: the loader error carries the dlopen reason', async () => {
    const tmp = tmpDir('addon');
    try {
      const broken = path.join(tmp.dir, 'lenet_cudnn.node');
      fs.writeFileSync(broken, 'not a shared object');
      const out = (await childWithAddon(
        broken,
        `const { loadAddon } = require(${JSON.stringify(path.join(ROOT, 'lib', 'addon.js'))});
         try { loadAddon(); console.log(JSON.stringify('loaded')); } catch (e) { console.log(JSON.stringify(e.message)); }`,
      )) as string;
      expect(out.startsWith(`lenet-cudnn: could not load the native addon lenet_cudnn.node.\nTried:\n  ${broken}: `)).toBe(true);
      expect(out).toMatch(/invalid ELF header|file too short/);
      expect(out).toContain('Fix: run `npm install`');
    } finally {
      tmp.cleanup();
    }
  });

  // BUG (fails until fixed): bindings() require()s whatever LENET_ADDON names, so a JSON or JS file
  // "loads" as the addon (a .js one is even executed); loadAddon() returns it, createBackend()
  // then fails with "addon.createCpuBackend is not a function" and cudaAvailable(), documented as
  // "never throws", throws "addon.cudaAvailable is not a function". The loader should check that
  // it got the addon (e.g. typeof exports.createCpuBackend === 'function') and otherwise throw its
  // usual error.
  test('LENET_ADDON pointing to a non-addon file (package.json): the loader error, and cudaAvailable() still does not throw', async () => {
    const out = (await childWithAddon(
      path.join(ROOT, 'package.json'),
      `const { loadAddon } = require(${JSON.stringify(path.join(ROOT, 'lib', 'addon.js'))});
       const { cudaAvailable } = require(${JSON.stringify(path.join(ROOT, 'lib', 'backend.js'))});
       let load; try { loadAddon(); load = 'loaded'; } catch (e) { load = e.message; }
       let cuda; try { cuda = cudaAvailable().ok; } catch (e) { cuda = 'threw: ' + e.message; }
       console.log(JSON.stringify({ load, cuda }));`,
    )) as { load: string; cuda: unknown };
    expect(out.load.startsWith('lenet-cudnn: could not load the native addon lenet_cudnn.node.')).toBe(true);
    expect(out.cuda).toBe(false);
  });

  test('LENET_ADDON pointing to the built addon is used', async () => {
    const built = path.join(ROOT, 'build-cmake', 'Release', 'lenet_cudnn.node');
    const out = (await childWithAddon(
      built,
      `const L = require(${JSON.stringify(INDEX_JS)}); const a = L.loadAddon();
       console.log(JSON.stringify({ path: a.path, openblas: a.buildInfo().openblas }));`,
    )) as { path: string; openblas: boolean };
    expect(out.path).toBe(built);
    expect(typeof out.openblas).toBe('boolean');
  });

  test("buildInfo() is consistent with the CPU backend's describe()", () => {
    const info = loadAddon().buildInfo();
    expect(typeof info.openblas).toBe('boolean');
    expect(info.compiler.length).toBeGreaterThan(0);
    const cpu = createBackend({ device: 'cpu' });
    const builtin = createBackend({ device: 'cpu', gemm: 'builtin' });
    try {
      // the default is the built-in GEMM with the best micro-kernel this CPU runs, with or without OpenBLAS
      const best = info.gemmKernels[0];
      expect(['avx512', 'avx2', 'neon', 'generic']).toContain(best);
      expect(info.defaultGemm).toMatch(new RegExp(`^built-in \\(${best} \\d+x\\d+ micro-kernel\\)$`));
      expect(info.defaultGemmReason).toContain(best);
      expect(cpu.describe()).toContain(`GEMM: ${info.defaultGemm}`);
      expect(builtin.describe()).toContain(`GEMM: ${info.defaultGemm}`);
      expect(info.gemmKernels[info.gemmKernels.length - 1]).toBe('generic');
      if (info.openblas) {
        const blas = createBackend({ device: 'cpu', gemm: 'openblas' });
        expect(blas.describe()).toContain('GEMM: openblas');
        blas.dispose();
      }
    } finally {
      cpu.dispose();
      builtin.dispose();
    }
  });

  test('createBackend argument errors', () => {
    const cases: [object, string, string][] = [
      [{ device: 'gpu' }, 'RangeError', `createBackend: device must be 'cpu', 'cuda' or 'auto', got "gpu"`],
      [{ device: 'cpu', threads: 0 }, 'RangeError', 'createBackend: threads must be an integer from 1 to 1024, got 0'],
      [{ device: 'cpu', threads: 1.5 }, 'RangeError', 'createBackend: threads must be an integer from 1 to 1024, got 1.5'],
      [{ device: 'cpu', gemm: 'mkl' }, 'RangeError', `createBackend: gemm must be 'builtin' or 'openblas', got "mkl"`],
      [{ device: 'cpu', gemmKernel: 'sse' }, 'RangeError', `createBackend: gemmKernel must be 'avx512', 'avx2', 'neon' or 'generic', got "sse"`],
      [{ cudaDevice: -1 }, 'RangeError', 'createBackend: cudaDevice must be a non-negative integer, got -1'],
      [{ libraryDirs: '/usr/lib' }, 'TypeError', 'createBackend: libraryDirs must be an array of folder paths'],
    ];
    for (const [options, name, message] of cases) expectError(thrown(() => createBackend(options as never)), name, message);
  });
});

// ---------------------------------------------------------------------------------------------

/** Code run in a Worker and, for the reference, in this thread: one training step, then a forward. */
const WORKER_CODE = `
const { parentPort, workerData } = require('worker_threads');
const L = require(workerData.index);
(async () => {
  const backend = L.createBackend({ device: 'cpu', threads: 2 });
  const model = new L.LeNet5({ backend, nkerns: [4, 6], hidden: 32, seed: 7 });
  const pixels = new Float32Array(8 * 784).map((_, i) => ((i * 37) % 101) / 100);
  const x = backend.tensor(model.inputShape(8), pixels);
  const y = backend.tensor([8], Float32Array.from([0, 1, 2, 3, 4, 5, 6, 7]));
  const sgd = new L.SGD(model.params(), { learningRate: 0.1 });
  L.trainStep(model, sgd, x, y);
  const probs = await model.forward(x).read();
  const params = await model.arena.values.read();
  model.dispose(); sgd.dispose(); x.dispose(); y.dispose();
  await backend.sync();
  const live = backend.counters().liveBuffers;
  backend.dispose();
  parentPort.postMessage({ probs, params, live });
})().catch((e) => parentPort.postMessage({ error: e.stack }));
`;

describe('worker_threads', () => {
  async function mainThreadReference(): Promise<{ probs: Float32Array; params: Float32Array }> {
    const backend = createBackend({ device: 'cpu', threads: 2 });
    const model = new LeNet5({ backend, nkerns: [4, 6], hidden: 32, seed: 7 });
    const pixels = new Float32Array(8 * 784).map((_, i) => ((i * 37) % 101) / 100);
    const x = backend.tensor(model.inputShape(8), pixels);
    const y = backend.tensor([8], Float32Array.from([0, 1, 2, 3, 4, 5, 6, 7]));
    const sgd = new SGD(model.params(), { learningRate: 0.1 });
    trainStep(model, sgd, x, y);
    const probs = await model.forward(x).read();
    const params = await model.arena.values.read();
    model.dispose();
    sgd.dispose();
    x.dispose();
    y.dispose();
    await backend.sync();
    backend.dispose();
    return { probs, params };
  }

  test('the addon loads and trains in a Worker; its results equal the main thread’s bit for bit; the worker exits cleanly', async () => {
    const worker = new Worker(WORKER_CODE, { eval: true, workerData: { index: INDEX_JS } });
    const errors: Error[] = [];
    worker.on('error', (e) => errors.push(e));
    const exited = new Promise<number>((resolve) => worker.on('exit', resolve));
    const msg = await new Promise<{ probs: Float32Array; params: Float32Array; live: number; error?: string }>((resolve) => worker.once('message', resolve));
    expect(msg.error).toBeUndefined();
    const ref = await mainThreadReference();
    expect(msg.live).toBe(0);
    expect(Buffer.from(msg.probs.buffer).equals(Buffer.from(ref.probs.buffer))).toBe(true);
    expect(Buffer.from(msg.params.buffer).equals(Buffer.from(ref.params.buffer))).toBe(true);
    expect(await exited).toBe(0); // it ran to completion and exited on its own
    expect(errors).toEqual([]);
  });

  test('terminating an idle Worker whose backend is still open', async () => {
    const worker = new Worker(
      `const { parentPort, workerData } = require('worker_threads');
       const L = require(workerData.index);
       const backend = L.createBackend({ device: 'cpu' });
       const t = backend.zeros([1000]);
       setInterval(() => {}, 1000); // stays alive until terminated
       backend.sync().then(() => parentPort.postMessage('ready'));`,
      { eval: true, workerData: { index: INDEX_JS } },
    );
    await new Promise((resolve) => worker.once('message', resolve));
    expect(await worker.terminate()).toBe(1);
    // the process (this jest worker) is fine and the addon still works here
    const backend = createBackend({ device: 'cpu' });
    const t = backend.tensor([3], Float32Array.from([1, 2, 3]));
    backend.scale(2, t);
    expect(Array.from(await t.read())).toEqual([2, 4, 6]);
    t.dispose();
    backend.dispose();
  });

  // BUG (fails until fixed): when a Worker is terminated while a read()/sync() is pending, Node
  // completes the addon's AsyncWorker during the environment's teardown; resolving the promise
  // fails (JS cannot run any more), node-addon-api (built with C++ exceptions, without
  // NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS) throws a Napi::Error out of the completion callback,
  // and the WHOLE PROCESS aborts: "terminate called after throwing an instance of 'Napi::Error'"
  // (SIGABRT). Backtrace: std::terminate <- Napi::Error::ThrowAsJavaScriptException <-
  // Napi::AsyncWorker::OnAsyncWorkComplete <- uv__work_done <- node::Environment::CleanupHandles
  // <- node::FreeEnvironment <- node::worker::Worker::Run. Fix: define
  // NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS, or guard WaitWorker::OnOK/OnError (e.g. skip settling
  // when the environment is shutting down). Run in a child process so that the abort cannot kill
  // jest; 10 workers make the race (4 in 5 per worker here) all but certain to show.
  test('terminating Workers that have training steps queued and a sync() pending does not crash the process', async () => {
    const script = `
      const { Worker } = require('worker_threads');
      const L = require(${JSON.stringify(INDEX_JS)});
      const code = \`
        const { parentPort, workerData } = require('worker_threads');
        const L = require(workerData.index);
        const backend = L.createBackend({ device: 'cpu', threads: 1 });
        const model = new L.LeNet5({ backend, nkerns: [4, 6], hidden: 32 });
        const x = backend.tensor(model.inputShape(16), new Float32Array(16 * 784).fill(0.5));
        const y = backend.tensor([16], new Float32Array(16).fill(3));
        const sgd = new L.SGD(model.params(), { learningRate: 0.01 });
        for (let i = 0; i < 50; i++) L.trainStep(model, sgd, x, y);
        parentPort.postMessage({ pending: backend.native.pending() });
        backend.sync().then(() => parentPort.postMessage({ done: true }));
      \`;
      (async () => {
        let pendingSeen = 0;
        for (let i = 0; i < 10; i++) {
          const w = new Worker(code, { eval: true, workerData: { index: ${JSON.stringify(INDEX_JS)} } });
          const m = await new Promise((resolve) => w.once('message', resolve));
          if (m.pending > 0) pendingSeen++;
          await w.terminate();
        }
        // the main thread still works
        const b = L.createBackend({ device: 'cpu' });
        const t = b.tensor([2], Float32Array.from([1, 2]));
        b.scale(3, t);
        const v = Array.from(await t.read());
        b.dispose();
        console.log(JSON.stringify({ ok: true, pendingSeen, v }));
      })();`;
    const r = await runNode(['-e', script], { timeoutMs: 120_000 });
    expect(r.stderr).not.toContain('terminate called');
    expect({ code: r.code, signal: r.signal }).toEqual({ code: 0, signal: null });
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ ok: true, v: [3, 6] });
    expect(out.pendingSeen).toBeGreaterThan(0); // the workers really had work in flight
  }, 150_000);
});

// ---------------------------------------------------------------------------------------------

describe('the CUDA probe', () => {
  const status = cudaAvailable();

  test('cudaAvailable() never throws and returns { ok, reason, versions, tried }', () => {
    expect(typeof status.ok).toBe('boolean');
    expect(typeof status.reason).toBe('string');
    expect(typeof status.versions).toBe('object');
    expect(Array.isArray(status.tried)).toBe(true);
    expect(status.tried.every((t) => typeof t === 'string')).toBe(true);
    expect(() => cudaAvailable({ cudaDevice: 1000 })).not.toThrow();
    expect(() => cudaAvailable({ libraryDirs: ['/nonexistent-lenet'] })).not.toThrow();
    if (status.ok) expect(status.reason).toBe('');
    else expect(status.reason.length).toBeGreaterThan(0);
  });

  if (status.ok) {
    test(`a usable GPU (${status.device}): device named, versions read, createBackend cuda and auto pick it`, async () => {
      expect(status.device!.length).toBeGreaterThan(0);
      expect(status.versions.runtime).toBeDefined();
      const cuda = createBackend({ device: 'cuda' });
      expect(cuda.kind).toBe('cuda');
      expect(cuda.choice).toEqual({ kind: 'cuda', reason: 'CUDA was requested' });
      const t = cuda.tensor([3], Float32Array.from([1, 2, 3]));
      cuda.scale(2, t);
      expect(Array.from(await t.read())).toEqual([2, 4, 6]);
      t.dispose();
      cuda.dispose();
      const auto = createBackend({ device: 'auto' });
      expect(auto.choice).toEqual({ kind: 'cuda', reason: `a CUDA GPU is available (${status.device})` });
      auto.dispose();
    });
    test.skip('no usable GPU: skipped, this machine has one', () => undefined);
  } else {
    test.skip(`a usable GPU: skipped, CUDA is not available here: ${status.reason}`, () => undefined);
    test('no usable GPU: createBackend cuda throws the reason, auto falls back to the CPU and says why', () => {
      expect(status.device).toBeUndefined();
      expectError(thrown(() => createBackend({ device: 'cuda' })), 'Error', `createBackend: CUDA is not available: ${status.reason}`);
      const auto = createBackend({ device: 'auto' });
      expect(auto.kind).toBe('cpu');
      expect(auto.choice).toEqual({ kind: 'cpu', reason: `CUDA is not available (${status.reason}); using the CPU` });
      auto.dispose();
      const plain = createBackend(); // auto is the default
      expect(plain.kind).toBe('cpu');
      plain.dispose();
    });
  }

  if (!status.ok && status.reason.includes('cudaErrorInsufficientDriver')) {
    test('this machine: libcudart loads, the driver is missing (error 35); the libraries tried are listed', () => {
      expect(status.reason).toContain('cudaErrorInsufficientDriver (35)');
      expect(status.versions.runtime).toMatch(/^\d+\.\d+$/);
      expect(status.tried.some((t) => /^the CUDA runtime \(libcudart\): .*libcudart\.so[.\d]*: chosen \(version \d+\.\d+\)$/.test(t))).toBe(true);
      // the driver API's library comes only from the system, and there is none here
      expect(status.tried.some((t) => /^the CUDA driver \(libcuda\): \(b\) system search .*: libcuda\.so\.1: .*No such file/.test(t))).toBe(true);
      expect(status.tried.some((t) => t.startsWith('cuBLAS (libcublas): ') && t.includes('libcublas.so'))).toBe(true);
      expect(status.tried.some((t) => t.startsWith('cuDNN (libcudnn): ') && t.includes('libcudnn.so'))).toBe(true);
    });
  } else {
    test.skip(`libcudart loaded without a driver (error 35): skipped, the CUDA status here is: ${status.ok ? 'usable' : status.reason}`, () => undefined);
  }
});

// ---------------------------------------------------------------------------------------------

describe('errors in queued work', () => {
  test('softmaxNll with label 12 of 10 classes (CPU): the next read() rejects with LENET_NATIVE; the backend stays usable', async () => {
    const backend = createBackend({ device: 'cpu' });
    const logits = backend.tensor([3, 10], new Float32Array(30).fill(0.25));
    const labels = backend.tensor([3], Float32Array.from([1, 12, 3]));
    const probs = backend.zeros([3, 10]);
    const stats = backend.zeros([2]);
    backend.softmaxNll(logits, labels, probs, stats); // queued: returns at once
    const e = await rejection(stats.read());
    expect(e.message).toBe('softmaxNll: label 12 of row 1 is not a class in 0..9');
    expect((e as Error & { code?: string }).code).toBe('LENET_NATIVE');
    expect(e.name).toBe('Error');
    // the error settled on another thread, yet its stack is the caller's: the stats.read() above
    expect(e.stack?.split('\n')[0]).toBe('Error: softmaxNll: label 12 of row 1 is not a class in 0..9');
    expect(e.stack).toMatch(/addon\.test\.ts:\d+/);
    backend.softmaxNll(logits, labels, probs, stats);
    const fromSync = await rejection(backend.sync());
    expect(fromSync.stack).toMatch(/addon\.test\.ts:\d+/);
    // reported once: later work runs and reads succeed
    const t = backend.tensor([2], Float32Array.from([1, 2]));
    backend.axpy(2, t, t);
    expect(Array.from(await t.read())).toEqual([3, 6]);
    await backend.sync();
    for (const x of [logits, labels, probs, stats, t]) x.dispose();
    await backend.sync();
    expect(backend.counters()).toMatchObject({ liveBuffers: 0, liveBytes: 0 });
    backend.dispose();
  });
});
