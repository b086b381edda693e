/**
 * The built-in SGEMM on its own (test/gemm-native/gemm_check.cc, compiled with native/cpu/gemm*.cc
 * and nothing else), against a double-precision reference with padded leading dimensions and a
 * sentinel in C's padding. Natively (under ASan and UBSan) it checks every micro-kernel this CPU
 * runs; for aarch64 it is
 * cross-compiled and run under qemu, which is how the NEON kernel is checked on an x86 machine
 * (skipped, with the reason, where aarch64-linux-gnu-g++ or qemu-aarch64 is missing; CI installs
 * both). Tolerance: 2 K EPS32 (|alpha| + |beta|) + 8 EPS32 |ref|.
 */
import { spawnSync } from 'child_process';
import * as path from 'path';
import { ROOT, tmpDir } from './integration-helpers';
import { reportSkip } from './skip';

const SOURCES = ['test/gemm-native/gemm_check.cc', 'native/cpu/gemm.cc', 'native/cpu/gemm_kernels.cc'];
const FLAGS = ['-O2', '-std=c++17', '-fno-trapping-math', `-I${ROOT}`];

function have(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).status === 0;
}

function build(compiler: string, out: string, extra: string[] = []): void {
  const r = spawnSync(compiler, [...FLAGS, ...extra, ...SOURCES.map((s) => path.join(ROOT, s)), '-o', out], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${compiler} failed:\n${r.stderr}`);
  expect(r.stderr).toBe(''); // no warnings either
}

describe('the built-in GEMM on its own', () => {
  const tmp = tmpDir('gemm-native');
  afterAll(() => tmp.cleanup());

  // Natively under AddressSanitizer and UBSan: a panel packed past its buffer is a failure here,
  // not a silent heap corruption.
  test('natively, with ASan and UBSan: every micro-kernel this CPU runs passes', () => {
    const exe = path.join(tmp.dir, 'gemm_check');
    build('g++', exe, ['-fsanitize=address,undefined', '-fno-sanitize-recover=all', '-fno-omit-frame-pointer']);
    const r = spawnSync(exe, [], { encoding: 'utf8', timeout: 120_000 });
    console.log(r.stdout);
    expect(r.stdout).toContain('ALL PASS');
    expect(r.status).toBe(0);
  }, 180_000);

  test('the CPU pool passes an exception on any thread to the caller, and stays usable (ASan, UBSan)', () => {
    const exe = path.join(tmp.dir, 'pool_check');
    const r0 = spawnSync(
      'g++',
      ['-O1', '-std=c++17', '-pthread', '-fsanitize=address,undefined', '-fno-sanitize-recover=all', `-I${ROOT}`, path.join(ROOT, 'test/gemm-native/pool_check.cc'), path.join(ROOT, 'native/cpu/thread_pool.cc'), '-o', exe],
      { encoding: 'utf8' },
    );
    expect(r0.stderr).toBe('');
    const r = spawnSync(exe, [], { encoding: 'utf8', timeout: 60_000 });
    expect(r.stdout).toContain('ALL PASS');
    expect(r.status).toBe(0);
  }, 120_000);

  const cross = have('aarch64-linux-gnu-g++') && have('qemu-aarch64');
  const reason = 'aarch64-linux-gnu-g++ or qemu-aarch64 is not installed (Debian: apt-get install g++-aarch64-linux-gnu qemu-user)';
  if (!cross) reportSkip('gemm [neon under qemu]', reason);
  (cross ? test : test.skip)(cross ? 'aarch64 under qemu: NEON is the best kernel there, and it passes' : `skipped: ${reason}`, () => {
    const exe = path.join(tmp.dir, 'gemm_check_a64');
    build('aarch64-linux-gnu-g++', exe, ['-static']);
    const r = spawnSync('qemu-aarch64', [exe, 'neon'], { encoding: 'utf8', timeout: 240_000 });
    console.log(r.stdout);
    expect(r.stdout).toContain('best_kernel(): neon');
    expect(r.stdout).toMatch(/neon +PASS/);
    expect(r.stdout).toContain('ALL PASS');
    expect(r.status).toBe(0);
  }, 300_000);
});
