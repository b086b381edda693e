#!/usr/bin/env node
/**
 * The package's API end to end: train LeNet5 for a few epochs, save it, load it back and predict.
 *
 *   node examples/api.js [--epochs 2] [--device auto|cpu|cuda]
 *
 * It runs as it is in a checkout (after `npm install`) and from an installed package
 * (`node node_modules/lenet-cudnn/examples/api.js`): `require('lenet-cudnn')` finds the package
 * by its own name either way.
 */
'use strict';
const { parseArgs } = require('util');
const { createBackend, loadMnist, loadMnistFiles, LeNet5, SGDTrainer } = require('lenet-cudnn');

async function main() {
  const { values } = parseArgs({ options: { epochs: { type: 'string', default: '2' }, device: { type: 'string', default: 'auto' } } });
  const backend = createBackend({ device: values.device }); // 'cpu' | 'cuda' | 'auto'
  console.log(`backend: ${backend.kind} (${backend.choice.reason})`);

  const data = await loadMnist({ backend }); // the bundled IDX files; { backend, dir } for others
  const model = new LeNet5({ backend, nkerns: [20, 50], hidden: 500, seed: 23455 });
  const trainer = new SGDTrainer(model, { learningRate: 0.1, batchSize: 500, epochs: Number(values.epochs) });
  const controller = new AbortController(); // controller.abort() stops training cleanly
  process.once('SIGINT', () => controller.abort()); // Ctrl-C: stop after the step in flight, still save
  try {
    const result = await trainer.fit(data, {
      signal: controller.signal,
      onEpoch: (e) => console.log(`epoch ${e.epoch}: cost ${e.trainCost.toFixed(4)}, validation ${e.validationErrorPercent} %, ${e.seconds.toFixed(1)} s`),
    });
    console.log(`best validation ${result.bestValidationErrorPercent} % at iteration ${result.bestIteration}, test ${result.testErrorPercent} %`);
  } catch (e) {
    if (e.name !== 'AbortError') throw e;
    console.log('interrupted: saving the best model so far'); // fit left the best-validation weights in the model
  }

  const file = require('path').join(require('os').tmpdir(), 'lenet5-example.safetensors');
  await model.save(file);
  const served = await LeNet5.load(file, { backend });

  const { test } = loadMnistFiles(); // host-side images: Uint8Array, 784 bytes per image
  const images = test.images.subarray(0, 10 * 784);
  const { labels, probabilities } = await served.predict(images); // Float32Array in [0,1] or Uint8Array
  console.log(`predicted ${Array.from(labels)} for labels ${Array.from(test.labels.subarray(0, 10))}`);
  console.log(`p(first image is a ${labels[0]}) = ${probabilities[labels[0]].toFixed(4)}`);
  const { errorRate } = await served.evaluate(test.images, test.labels);
  console.log(`test error of the loaded model: ${(100 * errorRate).toFixed(2)} %`);

  for (const x of [model, served, data]) x.dispose();
  await backend.sync();
  backend.dispose();
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
