#!/usr/bin/env node
// Builds the addon (`npm install`, `npm run build:native`): with cmake-js into build-cmake/ when
// cmake is on PATH, else with node-gyp (binding.gyp, the same sources) into build/; lib/addon.ts
// looks in both. The build's output goes to a log file next to the addon; on success one line
// says what was built (GEMM kernels, OpenBLAS, the CUDA loader), on failure the log is printed.
//
// cmake-js and node-gyp download the Node.js headers unless npm's `nodedir` points at local ones;
// when this Node.js has its headers installed next to it (e.g. /usr/include/node), use them, so
// the build works offline. Extra arguments go to cmake-js (`--out DIR` replaces build-cmake/);
// they need cmake.
'use strict';
const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');

const ROOT = path.resolve(__dirname, '..');

/** The first executable called `name` in the folders of PATH, or undefined. */
function onPath(name) {
  for (const dir of (process.env.PATH || '').split(path.delimiter)) {
    if (!dir) continue;
    const file = path.join(dir, name);
    try {
      fs.accessSync(file, fs.constants.X_OK);
      if (fs.statSync(file).isFile()) return file;
    } catch {
      // not in this folder
    }
  }
  return undefined;
}

/**
 * node-gyp's entry script: the one npm names for its scripts (`npm_config_node_gyp`), else a
 * local install, else the copy bundled with this Node.js's npm.
 */
function nodeGypScript() {
  const candidates = [process.env.npm_config_node_gyp];
  try {
    candidates.push(require.resolve('node-gyp/bin/node-gyp.js'));
  } catch {
    // not installed as a package here
  }
  const prefix = path.dirname(path.dirname(fs.realpathSync(process.execPath)));
  candidates.push(path.join(prefix, 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  return candidates.find((c) => c && fs.existsSync(c));
}

/** Runs `node script args` in the package root with its output appended to `log`; returns its status. */
function run(script, args, env, log) {
  const fd = fs.openSync(log, 'a');
  try {
    const r = spawnSync(process.execPath, [script, ...args], { cwd: ROOT, env, stdio: ['ignore', fd, fd] });
    if (r.error) fs.writeSync(fd, `\n${r.error.message}\n`);
    return r.status ?? 1;
  } finally {
    fs.closeSync(fd);
  }
}

/** One line on what the built addon has, read from its buildInfo() in a separate process. */
function summary(addon) {
  const r = spawnSync(process.execPath, ['-p', 'JSON.stringify(require(process.argv[1]).buildInfo())', addon], { encoding: 'utf8' });
  if (r.status !== 0) return `${addon} was built but does not load: ${(r.stderr || '').trim().split('\n').pop()}`;
  const info = JSON.parse(r.stdout);
  return (
    `GEMM kernels ${info.gemmKernels.join(', ')}; OpenBLAS ${info.openblas ? 'yes' : 'no (not found; optional)'}; ` +
    `CUDA loader ${info.cuda ? 'yes (CUDA libraries are loaded at run time)' : 'no'}`
  );
}

function main() {
  const env = { ...process.env };
  if (!env.npm_config_nodedir) {
    const prefix = path.dirname(path.dirname(fs.realpathSync(process.execPath)));
    if (fs.existsSync(path.join(prefix, 'include', 'node', 'node_api.h'))) env.npm_config_nodedir = prefix;
  }
  const extra = process.argv.slice(2);
  const outAt = extra.indexOf('--out');
  const outDir = path.resolve(ROOT, outAt >= 0 ? extra[outAt + 1] : 'build-cmake');
  const started = Date.now();
  const seconds = () => `${Math.round((Date.now() - started) / 1000)} s`;

  let tool = 'cmake-js';
  let buildDir = outDir;
  let log = path.join(outDir, 'build.log');
  let status;
  let noCmake = onPath('cmake') === undefined;
  if (!noCmake) {
    fs.mkdirSync(outDir, { recursive: true });
    fs.writeFileSync(log, '');
    const cli = require.resolve('cmake-js/bin/cmake-js');
    status = run(cli, ['compile', ...(outAt >= 0 ? [] : ['--out', 'build-cmake']), ...extra], env, log);
    noCmake = status !== 0 && /CMake executable is not found/.test(fs.readFileSync(log, 'utf8'));
  }
  if (noCmake) {
    if (extra.length > 0) {
      console.error(`lenet-cudnn: cmake is not on PATH, and the arguments ${extra.join(' ')} are for cmake-js: install cmake (apt-get install cmake)`);
      return 1;
    }
    const gyp = nodeGypScript();
    console.log('lenet-cudnn: cmake is not on PATH: building with node-gyp instead (binding.gyp, into build/; it needs python3 and make)');
    if (!gyp) {
      console.error('lenet-cudnn: node-gyp was not found either (not in npm_config_node_gyp, node_modules or npm): install cmake or node-gyp');
      return 1;
    }
    tool = 'node-gyp';
    buildDir = path.join(ROOT, 'build');
    // `node-gyp rebuild` starts by deleting build/, so its log is written beside it and moved in.
    const pending = path.join(ROOT, `build-gyp-${process.pid}.log`);
    fs.writeFileSync(pending, '');
    status = run(gyp, ['rebuild', '--jobs', 'max'], env, pending);
    log = path.join(buildDir, 'build.log');
    fs.mkdirSync(buildDir, { recursive: true });
    fs.renameSync(pending, log);
  }
  const rel = (p) => (path.relative(process.cwd(), p).startsWith('..') ? p : path.relative(process.cwd(), p));
  if (status !== 0) {
    process.stderr.write(fs.readFileSync(log, 'utf8'));
    console.error(`lenet-cudnn: the ${tool} build failed (exit status ${status}); its output is above and in ${rel(log)}`);
    return status;
  }
  const addon = path.join(buildDir, 'Release', 'lenet_cudnn.node');
  // A sanitizer build loads only into a process with the sanitizer runtimes preloaded.
  const what = extra.includes('--CDLENET_SANITIZE=ON')
    ? 'an ASan/UBSan build (it loads with the sanitizer runtimes preloaded, as scripts/sanitize.sh runs it)'
    : summary(addon);
  console.log(`lenet-cudnn: built ${rel(addon)} with ${tool} in ${seconds()}: ${what} (log: ${rel(log)})`);
  return 0;
}

if (require.main === module) process.exitCode = main();
module.exports = { summary, onPath };
