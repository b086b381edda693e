#!/usr/bin/env node
/**
 * Renders the training-curves SVG to PNG with headless Chromium, for reviewing
 * how the plot reads at real window widths. Not part of the build or of CI.
 *
 *   node scripts/render-plot.js --log bench/results/reproduction-cpu.txt --out /tmp/curves
 *   node scripts/render-plot.js --log LOG --epochs 2 --out /tmp/short
 *   node scripts/render-plot.js --svg docs/curves.svg --out /tmp/readme
 *
 * --log FILE    a `lenet-train` log: its epoch lines are the history to plot
 * --epochs N    plot only the log's first N epochs (a short run's history)
 * --title TEXT  title of the plot (default: the CLI's, from the log's device line)
 * --svg FILE    render this SVG instead of one made from a log
 * --write FILE  also write the SVG made from the log to FILE
 * --out PREFIX  writes PREFIX.svg and, per width W, PREFIX-W.png (the SVG opened
 *               directly) and PREFIX-W-img.png (as an <img> in a page, as a README shows it)
 * --widths LIST window widths in CSS pixels (default 900,1400)
 *
 * Needs `npx tsc -p tsconfig.json` (lib/plot.js) and Chromium (`apt-get install chromium`).
 */
'use strict';

const fs = require('fs');
const path = require('path');
const { execFileSync } = require('child_process');
const { parseArgs } = require('util');

/** The per-epoch history in a `lenet-train` log, and the CLI's plot title. */
function parseLog(text) {
  const byEpoch = new Map();
  const at = (epoch) => {
    if (!byEpoch.has(epoch)) byEpoch.set(epoch, { epoch });
    return byEpoch.get(epoch);
  };
  let m;
  for (const line of text.split('\n')) {
    if ((m = /^\s*epoch (\d+), minibatch \d+\/\d+, test error of best model ([\d.]+) %/.exec(line))) {
      at(Number(m[1])).testError = Number(m[2]);
    } else if ((m = /^\s*epoch (\d+), minibatch \d+\/\d+, validation error ([\d.]+) %/.exec(line))) {
      at(Number(m[1])).validationError = Number(m[2]);
    } else if ((m = /^\s*epoch (\d+): training cost ([\d.e+-]+)/.exec(line))) {
      at(Number(m[1])).trainCost = Number(m[2]);
    }
  }
  const device = /^device: (\w+)/m.exec(text);
  const run = /lr ([\d.e+-]+), batch (\d+)/.exec(text);
  const title = device && run ? `LeNet5 on MNIST (${device[1]}, lr ${run[1]}, batch ${run[2]})` : undefined;
  return { points: [...byEpoch.values()].sort((a, b) => a.epoch - b.epoch), title };
}

function main() {
  const { values } = parseArgs({
    options: {
      log: { type: 'string' },
      epochs: { type: 'string' },
      title: { type: 'string' },
      svg: { type: 'string' },
      write: { type: 'string' },
      out: { type: 'string' },
      widths: { type: 'string', default: '900,1400' },
    },
  });
  if (!values.out || (values.log === undefined) === (values.svg === undefined)) {
    throw new Error('usage: render-plot.js (--log FILE [--epochs N] [--title T] [--write FILE] | --svg FILE) --out PREFIX [--widths 900,1400]');
  }
  let svg;
  if (values.log !== undefined) {
    const { renderTrainingCurves } = require('../lib/plot.js');
    const log = parseLog(fs.readFileSync(values.log, 'utf8'));
    const epochs = values.epochs === undefined ? Infinity : Number(values.epochs);
    const points = log.points.filter((p) => p.epoch <= epochs);
    if (points.length === 0) throw new Error(`--log: no epoch lines in ${values.log}`);
    svg = renderTrainingCurves(points, { title: values.title ?? log.title });
    if (values.write) fs.writeFileSync(values.write, svg);
  } else {
    svg = fs.readFileSync(values.svg, 'utf8');
  }
  const out = path.resolve(values.out);
  fs.writeFileSync(`${out}.svg`, svg);
  const page = `${out}-page.html`;
  fs.writeFileSync(
    page,
    `<!doctype html><html><body style="margin:0;padding:16px;font-family:sans-serif">` +
      `<p>An &lt;img&gt; in a page, as a README shows it:</p><img src="${path.basename(out)}.svg" alt="Training curves" style="max-width:100%"></body></html>`,
  );
  for (const w of values.widths.split(',').map(Number)) {
    const h = Math.round(w * 0.62);
    for (const [file, png] of [
      [`${out}.svg`, `${out}-${w}.png`],
      [page, `${out}-${w}-img.png`],
    ]) {
      execFileSync(
        'chromium',
        ['--headless', '--no-sandbox', '--disable-gpu', '--hide-scrollbars', `--window-size=${w},${h}`, `--screenshot=${png}`, `file://${file}`],
        { stdio: ['ignore', 'ignore', 'ignore'], timeout: 60000 },
      );
      console.log(png);
    }
  }
}

main();
