/**
 * The one place that loads the native addon, through the `bindings` package. The cmake-js build
 * (`npm install`) is tried first, then the node-gyp build (`npm run build:gyp`);
 * `LENET_ADDON=/path/to/lenet_cudnn.node` overrides both. If nothing loads, one error lists every
 * path tried, why it failed, and how to fix it.
 */
import * as path from 'path';
import bindings = require('bindings');
import type { NativeAddon } from './native';

const ROOT = path.resolve(__dirname, '..');

/** The builds `loadAddon` tries, in order, as `bindings` path segments. */
export function addonSearchPath(): string[][] {
  const override = process.env.LENET_ADDON;
  if (override) return [[path.resolve(override)]];
  return [
    ['module_root', 'build-cmake', 'Release', 'bindings'],
    ['module_root', 'build-cmake', 'Debug', 'bindings'],
    ['module_root', 'build', 'Release', 'bindings'],
    ['module_root', 'build', 'Debug', 'bindings'],
  ];
}

let cached: NativeAddon | undefined;

/** Loads (once) and returns the native addon, or throws an error that says how to build it. */
export function loadAddon(): NativeAddon {
  if (cached) return cached;
  const search = addonSearchPath();
  try {
    const loaded = bindings({ bindings: 'lenet_cudnn.node', module_root: ROOT, try: search }) as Partial<NativeAddon>;
    if (typeof loaded?.createCpuBackend !== 'function' || typeof loaded.cudaAvailable !== 'function') {
      throw new Error(`${(loaded as { path?: string })?.path ?? search.join(', ')} is not the lenet-cudnn addon (it has no createCpuBackend/cudaAvailable)`);
    }
    cached = loaded as NativeAddon;
    return cached;
  } catch (err) {
    const e = err as Error & { tries?: string[] };
    const tried = e.tries
      ? e.tries.map((p) => `  ${p}: not found`)
      : [`  ${e.message.split('\n')[0]}`];
    throw new Error('lenet-cudnn: could not load the native addon lenet_cudnn.node.\nTried:\n' + tried.join('\n') + '\n' + buildFix(ROOT));
  }
}

/**
 * How to build the addon of the package at `root`: an installed copy (under node_modules) is
 * rebuilt by npm from the project that installed it; a checkout is built in place.
 */
export function buildFix(root: string): string {
  const installed = root.split(path.sep).includes('node_modules');
  const how = installed
    ? `Fix: run \`npm rebuild lenet-cudnn\` in the project that installed it (it builds into ${root})`
    : `Fix: run \`npm install\` (or \`npm run build:native\`) in ${root}`;
  return (
    `${how}; the build needs a C++17 compiler and the Node.js headers, and cmake (else node-gyp with` +
    ' python3 and make); libopenblas-dev is optional. Or set LENET_ADDON to the path of a built lenet_cudnn.node.'
  );
}
