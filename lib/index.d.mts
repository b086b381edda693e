// Types of the ES module entry (lib/index.mjs): the same exports as the CommonJS entry.
export * from './index.js';
import * as lib from './index.js';
export default lib;
