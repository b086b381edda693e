// The package's ES module entry (`import ... from 'lenet-cudnn'`): the CommonJS build's exports,
// re-exported by name (Node reads the names from lib/index.js), and the whole module as default.
export * from './index.js';
import lib from './index.js';
export default lib;
