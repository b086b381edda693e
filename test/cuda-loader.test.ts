/**
 * The CUDA loader's search, run in fresh processes (the loader remembers what it loaded for the
 * life of a process): Python environments are found without starting an interpreter, python3 is
 * asked only when LENET_CUDA_PYTHON=1, and, where cuDNN loads, the cuBLAS and NVRTC chosen for it
 * are built for cuDNN's CUDA major.
 *
 * The folders made here hold files named like libraries that are not libraries: dlopen refuses
 * them, and the test reads only that the loader looked there, in order. No CUDA call is imitated.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { cudaAvailable } from '../lib';
import { reportSkip } from './skip';

const ROOT = path.resolve(__dirname, '..');

interface Probe {
  ok: boolean;
  reason: string;
  versions: Record<string, string>;
  tried: string[];
}

/** cudaAvailable() in a fresh node process with `env` added. */
function probeIn(env: Record<string, string>): Probe {
  const r = spawnSync(process.execPath, ['-e', `process.stdout.write(JSON.stringify(require(${JSON.stringify(path.join(ROOT, 'lib'))}).cudaAvailable()))`], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`probe failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as Probe;
}

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lenet-loader-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A virtualenv-like prefix: bin/python3 (a script that leaves a marker when run) and a
 * site-packages with nvidia/cudnn/lib/libcudnn.so.9 and nvidia/cu13/lib/libcublas.so.13. */
function makeEnv(name: string): { prefix: string; bin: string; marker: string; cudnnDir: string; cublasDir: string } {
  const prefix = path.join(tmp, name);
  const bin = path.join(prefix, 'bin');
  const marker = path.join(prefix, 'python3-was-run');
  const site = path.join(prefix, 'lib', 'python3.12', 'site-packages');
  const cudnnDir = path.join(site, 'nvidia', 'cudnn', 'lib');
  const cublasDir = path.join(site, 'nvidia', 'cu13', 'lib');
  fs.mkdirSync(bin, { recursive: true });
  fs.mkdirSync(cudnnDir, { recursive: true });
  fs.mkdirSync(cublasDir, { recursive: true });
  fs.writeFileSync(path.join(bin, 'python3'), `#!/bin/sh\ntouch '${marker}'\n`, { mode: 0o755 });
  fs.writeFileSync(path.join(cudnnDir, 'libcudnn.so.9'), 'not a library\n');
  fs.writeFileSync(path.join(cublasDir, 'libcublas.so.13'), 'not a library\n');
  return { prefix, bin, marker, cudnnDir, cublasDir };
}

test('a Python environment on PATH is searched as sys.prefix would say, without running python3', () => {
  const e = makeEnv('venv-on-path');
  const status = probeIn({ PATH: `${e.bin}:${process.env.PATH ?? ''}` });
  expect(fs.existsSync(e.marker)).toBe(false);
  const cudnn = status.tried.find((t) => t.startsWith('cuDNN (libcudnn): (d) Python environment: ') && t.includes(path.join(e.cudnnDir, 'libcudnn.so.9')));
  expect(cudnn).toBeDefined();
  expect(cudnn).toMatch(/(invalid ELF header|file too short)/);
});

test('$VIRTUAL_ENV is searched first among Python environments, also when not on PATH', () => {
  const e = makeEnv('venv-by-variable');
  const status = probeIn({ VIRTUAL_ENV: e.prefix });
  expect(fs.existsSync(e.marker)).toBe(false);
  const python = status.tried.filter((t) => t.startsWith('cuBLAS (libcublas): (d) Python environment: '));
  expect(python[0]).toContain(path.join(e.cublasDir, 'libcublas.so.13'));
});

test('python3 is asked for its site-packages only with LENET_CUDA_PYTHON=1', () => {
  const e = makeEnv('venv-asked');
  fs.rmSync(path.join(e.prefix, 'lib'), { recursive: true });  // nothing for the globs to find
  const status = probeIn({ PATH: `${e.bin}:${process.env.PATH ?? ''}` });
  expect(fs.existsSync(e.marker)).toBe(false);
  expect(status.tried).toContain('cuDNN (libcudnn): (d) Python: python3 not asked for its site-packages (set LENET_CUDA_PYTHON=1 to ask it)');
  probeIn({ PATH: `${e.bin}:${process.env.PATH ?? ''}`, LENET_CUDA_PYTHON: '1' });
  expect(fs.existsSync(e.marker)).toBe(true);
});

const here = cudaAvailable();
const cudnnLoaded = here.versions.cudnn !== undefined;
const matchReason = `cuDNN does not load here (${here.reason.split('\n')[0]})`;
if (!cudnnLoaded) reportSkip('cuBLAS/NVRTC matching test', matchReason);
(cudnnLoaded ? test : test.skip)(
  cudnnLoaded ? 'the cuBLAS and NVRTC chosen are built for the CUDA major of the cuDNN that loaded' : `cuBLAS/NVRTC matching: skipped, ${matchReason}`,
  () => {
    const cudaMajor = /for CUDA (\d+)\./.exec(here.versions.cudnn)?.[1];
    expect(cudaMajor).toBeDefined();
    expect(here.versions.cublas?.split('.')[0]).toBe(cudaMajor);
    expect(here.versions.nvrtc?.split('.')[0]).toBe(cudaMajor);
    expect(here.tried.some((t) => t.startsWith('cuDNN (libcudnn): cuBLAS for it: '))).toBe(true);
    expect(here.tried.some((t) => t.startsWith('cuDNN (libcudnn): NVRTC for it: '))).toBe(true);
  },
);
