/**
 * scripts/build-native.js, the install step: its one summary line, and the node-gyp fallback
 * when cmake is not on PATH (run in a copy of the package with a PATH that lacks cmake, so the
 * checkout's build folders are never touched). The full node-gyp build takes minutes on two
 * cores; CI builds it (`npm run build:gyp`), and these tests stop at its first step.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { loadAddon } from '../lib/addon';
import { ROOT, tmpDir } from './integration-helpers';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { summary } = require('../scripts/build-native.js') as { summary(addon: string): string };

/** A folder of links to every program in /usr/bin except cmake, for a PATH without it. */
function pathWithoutCmake(dir: string): string {
  const bin = path.join(dir, 'bin');
  fs.mkdirSync(bin);
  for (const name of fs.readdirSync('/usr/bin')) if (name !== 'cmake') fs.symlinkSync(path.join('/usr/bin', name), path.join(bin, name));
  if (!fs.existsSync(path.join(bin, 'node'))) fs.symlinkSync(process.execPath, path.join(bin, 'node'));
  return bin;
}

test('the summary line says what the built addon has, from its own buildInfo()', () => {
  const addon = loadAddon() as unknown as { path?: string };
  const info = loadAddon().buildInfo();
  const file = addon.path ?? path.join(ROOT, 'build-cmake', 'Release', 'lenet_cudnn.node');
  expect(summary(file)).toBe(
    `GEMM kernels ${info.gemmKernels.join(', ')}; OpenBLAS ${info.openblas ? 'yes' : 'no (not found; optional)'}; ` +
      `CUDA loader ${info.cuda ? 'yes (CUDA libraries are loaded at run time)' : 'no'}`,
  );
});

describe('without cmake on PATH', () => {
  let tmp: { dir: string; cleanup(): void };
  let bin: string;
  beforeAll(() => {
    tmp = tmpDir('build-native');
    bin = pathWithoutCmake(tmp.dir);
  });
  afterAll(() => tmp.cleanup());

  test('cmake-js arguments are refused with one line saying cmake is needed', () => {
    const r = spawnSync(process.execPath, [path.join(ROOT, 'scripts', 'build-native.js'), '--CDLENET_SANITIZE=ON'], {
      cwd: tmp.dir,
      env: { ...process.env, PATH: bin },
      encoding: 'utf8',
    });
    expect(r.status).toBe(1);
    expect(r.stderr).toBe('lenet-cudnn: cmake is not on PATH, and the arguments --CDLENET_SANITIZE=ON are for cmake-js: install cmake (apt-get install cmake)\n');
  });

  test('it falls back to node-gyp with one line saying so; a failed build prints its log', () => {
    // A copy of the package whose binding.gyp is not valid: node-gyp fails at once, in configure.
    const pkg = path.join(tmp.dir, 'pkg');
    fs.mkdirSync(path.join(pkg, 'scripts'), { recursive: true });
    fs.copyFileSync(path.join(ROOT, 'package.json'), path.join(pkg, 'package.json'));
    fs.copyFileSync(path.join(ROOT, 'scripts', 'build-native.js'), path.join(pkg, 'scripts', 'build-native.js'));
    fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(pkg, 'node_modules'));
    fs.writeFileSync(path.join(pkg, 'binding.gyp'), '{ "targets": [ oops');
    const r = spawnSync(process.execPath, ['scripts/build-native.js'], {
      cwd: pkg,
      env: { ...process.env, PATH: bin, npm_config_node_gyp: '' },
      encoding: 'utf8',
    });
    expect(r.stdout).toBe('lenet-cudnn: cmake is not on PATH: building with node-gyp instead (binding.gyp, into build/; it needs python3 and make)\n');
    expect(r.status).not.toBe(0);
    const log = fs.readFileSync(path.join(pkg, 'build', 'build.log'), 'utf8');
    expect(log).toContain('binding.gyp');
    expect(r.stderr).toBe(`${log}lenet-cudnn: the node-gyp build failed (exit status ${r.status}); its output is above and in build/build.log\n`);
    expect(fs.existsSync(path.join(pkg, 'build-cmake'))).toBe(false);
  });
});
