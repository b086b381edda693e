#!/usr/bin/env node
/**
 * GEMM GFLOP/s on LeNet5's shapes and on 1024^3: the built-in GEMM (each micro-kernel this CPU
 * runs) against OpenBLAS (when the build has it), side by side in one run. Part of `npm run bench`;
 * alone: node bench/gemm.js [--threads N] [--json FILE]
 *
 * The shapes are the ones a training step of the tutorial's LeNet5 (batch 500) issues per call on
 * the CPU backend: the convolutions' GEMMs per chunk of samples (im2col columns side by side), and
 * the dense layers' per pool thread (the backend splits M or N across its threads).
 */
'use strict';
const { parseArgs } = require('util');
const L = require('..');

const SHAPES = [
  // name, M, N, K, transA, transB
  ['layer0 forward (conv as GEMM)', 20, 1152, 25, false, false],
  ['layer1 forward', 50, 1536, 500, false, false],
  ['layer0 dW', 20, 25, 1152, false, true],
  ['layer1 dW', 50, 500, 1536, false, true],
  ['layer1 dx', 500, 1536, 50, true, false],
  ['layer2 forward (hidden)', 250, 500, 800, false, false],
  ['layer2 dW', 400, 500, 500, true, false],
  ['layer2 dx', 250, 800, 500, false, true],
  ['layer3 forward (logistic)', 250, 10, 500, false, false],
  ['layer3 dW', 500, 10, 250, true, false],
  ['layer3 dx', 250, 500, 10, false, true],
  ['1024^3', 1024, 1024, 1024, false, false],
];

function timeGemm(be, [, m, n, k, ta, tb]) {
  const fill = (r, c) => be.tensor([r, c], Float32Array.from({ length: r * c }, (_, i) => ((i * 7919) % 1000) / 1000 - 0.5));
  const a = ta ? fill(k, m) : fill(m, k);
  const b = tb ? fill(n, k) : fill(k, n);
  const c = be.zeros([m, n]);
  const flop = 2 * m * n * k;
  be.gemm(ta, tb, 1, a, b, 0, c);
  be.syncSync();
  // Enough calls for ~0.3 s, best of 3 rounds.
  const t0 = performance.now();
  be.gemm(ta, tb, 1, a, b, 0, c);
  be.syncSync();
  const one = Math.max(performance.now() - t0, 0.01);
  const reps = Math.max(3, Math.min(2000, Math.round(100 / one)));
  let best = Infinity;
  for (let round = 0; round < 3; round++) {
    const s = performance.now();
    for (let r = 0; r < reps; r++) be.gemm(ta, tb, 1, a, b, 0, c);
    be.syncSync();
    best = Math.min(best, (performance.now() - s) / reps);
  }
  for (const t of [a, b, c]) t.dispose();
  return flop / (best * 1e6); // GFLOP/s
}

/** GFLOP/s per shape for each GEMM: { columns: [...names], rows: [[shape, ...gflops]] }. */
function gemmTable(threads) {
  const info = L.loadAddon().buildInfo();
  const paths = info.gemmKernels.map((k) => ({ name: `built-in ${k}`, options: { gemm: 'builtin', gemmKernel: k } }));
  if (info.openblas) paths.push({ name: 'OpenBLAS', options: { gemm: 'openblas' } });
  const backends = paths.map((p) => L.createBackend({ device: 'cpu', threads, ...p.options }));
  const rows = SHAPES.map((shape) => [shape, ...backends.map((be) => timeGemm(be, shape))]);
  for (const be of backends) be.dispose();
  return { columns: paths.map((p) => p.name), rows };
}

function markdown({ columns, rows }, threads) {
  const blas = columns.indexOf('OpenBLAS');
  const head = ['shape (M x N x K)', ...columns, ...(blas >= 0 ? [`${columns[0]} / OpenBLAS`] : [])];
  const lines = [`| ${head.join(' | ')} |`, `| ${head.map((_, i) => (i ? '---:' : '---')).join(' | ')} |`];
  for (const [[name, m, n, k, ta, tb], ...g] of rows) {
    const label = `${name}: ${m} x ${n} x ${k}${ta ? ', A^T' : ''}${tb ? ', B^T' : ''}`;
    const ratio = blas >= 0 ? [(g[0] / g[blas]).toFixed(2)] : [];
    lines.push(`| ${label} | ${g.map((x) => x.toFixed(1)).join(' | ')} | ${ratio.join('')}`.replace(/ \| $/, ' |') + (ratio.length ? ' |' : ''));
  }
  return `GEMM GFLOP/s, ${threads} thread${threads > 1 ? 's' : ''} (one backend per GEMM, best of 3 rounds):\n\n${lines.join('\n')}\n`;
}

module.exports = { gemmTable, markdown, SHAPES };

if (require.main === module) {
  const { values } = parseArgs({ options: { threads: { type: 'string', default: '1' } } });
  const threads = Number(values.threads);
  console.log(markdown(gemmTable(threads), threads));
}
