#!/usr/bin/env node
// Tells binding.gyp where OpenBLAS is: `node scripts/openblas-gyp.js cflags|libs` prints the
// compiler or linker arguments (nothing when OpenBLAS is absent, so only the built-in GEMM is compiled).
// The CMake build finds OpenBLAS with find_library/find_path instead.
'use strict';
const fs = require('fs');
const path = require('path');

const includeDirs = [
  '/usr/include/x86_64-linux-gnu/openblas-pthread',
  '/usr/include/aarch64-linux-gnu/openblas-pthread',
  '/usr/include/openblas',
  '/usr/local/include/openblas',
  '/usr/include',
  '/usr/local/include',
];
const libDirs = ['/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib64', '/usr/lib', '/usr/local/lib'];

const include = includeDirs.find((d) => fs.existsSync(path.join(d, 'cblas.h')) && fs.existsSync(path.join(d, 'openblas_config.h')));
const lib = libDirs.find((d) => fs.existsSync(path.join(d, 'libopenblas.so')));
const what = process.argv[2];
if (include && lib) {
  if (what === 'cflags') process.stdout.write(`-DLENET_HAVE_OPENBLAS -I${include}`);
  else if (what === 'libs') process.stdout.write(`-L${lib} -lopenblas`);
}
