/**
 * The CUDA backend's build-time guarantees, checked wherever the tools exist:
 * - our declarations (native/cuda/api.h) match NVIDIA's headers: test/cuda-headers/check.sh
 *   compiles native/cuda/header_check.cc against every header it finds (here: the CUDA runtime's;
 *   cuBLAS's and cuDNN's where installed, e.g. on a machine with PyTorch);
 * - native/cuda/kernels_ptx.h is what scripts/gen-ptx.sh makes from native/cuda/kernels.cu.
 * Checks whose tools are missing are skipped with the reason printed.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { reportSkip } from './skip';

const ROOT = path.resolve(__dirname, '..');

function which(file: string, extra: string[] = []): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(':'), ...extra];
  for (const d of dirs) {
    const p = path.join(d, file);
    if (d && fs.existsSync(p)) return p;
  }
  return undefined;
}

const cudaInclude = [process.env.CUDA_HOME, process.env.CUDA_PATH, '/usr/local/cuda']
  .filter((d): d is string => Boolean(d))
  .some((d) => fs.existsSync(path.join(d, 'include', 'cuda_runtime_api.h')));
const headerReason = 'no cuda_runtime_api.h found (set CUDA_HOME) — the header check needs at least the CUDA runtime headers';
if (!cudaInclude) reportSkip('cuda header check', headerReason);
(cudaInclude ? test : test.skip)(
  cudaInclude ? 'native/cuda/api.h matches the NVIDIA headers that are installed' : `header check skipped: ${headerReason}`,
  () => {
    const r = spawnSync('bash', [path.join(ROOT, 'test', 'cuda-headers', 'check.sh')], { encoding: 'utf8' });
    const out = `${r.stdout}${r.stderr}`;
    // What was checked and what was skipped for missing headers, a line each (no console block).
    process.stderr.write(out.split('\n').filter((l) => /parts:|checking|SKIPPED|PASS|FAIL/.test(l)).map((l) => `${l.trim()}\n`).join(''));
    expect(out).toMatch(/CUDA runtime: checking against cuda_runtime_api\.h/);
    expect(r.status).toBe(0);
  },
  60000,
);

const nvcc = which('nvcc', ['/usr/local/cuda/bin']);
const nvccReason = 'nvcc not found — the PTX of native/cuda/kernels.cu cannot be regenerated here';
if (!nvcc) reportSkip('PTX check', nvccReason);
(nvcc ? test : test.skip)(
  nvcc ? 'native/cuda/kernels_ptx.h is up to date with native/cuda/kernels.cu' : `PTX check skipped: ${nvccReason}`,
  () => {
    const r = spawnSync('bash', [path.join(ROOT, 'scripts', 'gen-ptx.sh'), '--stdout'], {
      encoding: 'utf8',
      env: { ...process.env, NVCC: nvcc },
      maxBuffer: 1 << 24,
    });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const committed = fs.readFileSync(path.join(ROOT, 'native', 'cuda', 'kernels_ptx.h'), 'utf8');
    // The first line names nvcc's version; the PTX itself must be identical.
    const body = (s: string) => s.split('\n').slice(1).join('\n');
    expect(body(r.stdout)).toBe(body(committed));
  },
  120000,
);
