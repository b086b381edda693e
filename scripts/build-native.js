#!/usr/bin/env node
// Builds the addon with cmake-js into build-cmake/ (`npm install`, `npm run build:native`).
// cmake-js downloads the Node.js headers unless npm's `nodedir` points at local ones; when this
// Node.js has its headers installed next to it (e.g. /usr/include/node), use them, so the build
// works offline. Extra arguments go to cmake-js (`--out DIR` replaces build-cmake/).
'use strict';
const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');

const env = { ...process.env };
if (!env.npm_config_nodedir) {
  const prefix = path.dirname(path.dirname(fs.realpathSync(process.execPath)));
  if (fs.existsSync(path.join(prefix, 'include', 'node', 'node_api.h'))) env.npm_config_nodedir = prefix;
}
const cli = require.resolve('cmake-js/bin/cmake-js');
const extra = process.argv.slice(2);
const out = extra.includes('--out') ? [] : ['--out', 'build-cmake'];
const r = spawnSync(process.execPath, [cli, 'compile', ...out, ...extra], {
  cwd: path.resolve(__dirname, '..'),
  env,
  stdio: 'inherit',
});
process.exitCode = r.status ?? 1;
