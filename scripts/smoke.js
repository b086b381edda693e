#!/usr/bin/env node
// Smoke test of a build of the addon (CI runs it on the node-gyp build): load it, report how it
// was built, and check one convolution and one GEMM against values computed here.
'use strict';
const { loadAddon } = require('../lib/addon');
const { createBackend } = require('../lib/backend');

const info = loadAddon().buildInfo();
const backend = createBackend({ device: 'cpu' });
console.log(`addon: ${process.env.LENET_ADDON || 'default build'} (${info.buildSystem}, GEMM: ${info.defaultGemm})`);

// 1x1x3x3 input 0..8, a 2x2 kernel of ones: each output is the sum of a 2x2 window.
const x = backend.tensor([1, 1, 3, 3], Float32Array.from([0, 1, 2, 3, 4, 5, 6, 7, 8]));
const w = backend.tensor([1, 1, 2, 2], new Float32Array(4).fill(1));
const y = backend.zeros([1, 1, 2, 2]);
backend.conv2dForward(x, w, y);
const conv = Array.from(y.readSync());
// [[1,2],[3,4]] @ [[5,6],[7,8]]
const a = backend.tensor([2, 2], Float32Array.from([1, 2, 3, 4]));
const b = backend.tensor([2, 2], Float32Array.from([5, 6, 7, 8]));
const c = backend.zeros([2, 2]);
backend.gemm(false, false, 1, a, b, 0, c);
const gemm = Array.from(c.readSync());
const ok = JSON.stringify(conv) === JSON.stringify([8, 12, 20, 24]) && JSON.stringify(gemm) === JSON.stringify([19, 22, 43, 50]);
for (const t of [x, w, y, a, b, c]) t.dispose();
backend.dispose();
if (!ok) {
  console.error(`smoke test FAILED: conv ${conv}, gemm ${gemm}`);
  process.exit(1);
}
console.log('smoke test passed: conv2dForward and gemm give the expected values');
