#!/usr/bin/env node
/**
 * The command-line trainer: `node lib/train.js [options]` trains the tutorial's LeNet5 on MNIST and
 * prints the tutorial's progress lines and a summary. A thin layer over the package's API.
 */
import * as fs from 'fs';
import * as path from 'path';
import { parseArgs } from 'util';
import { type DeviceChoice, createBackend } from './backend';
import { loadMnist } from './data';
import { LeNet5 } from './lenet5';
import { renderTrainingCurves } from './plot';
import { type EpochRecord, SGDTrainer, type TrainResult, type ValidationRecord } from './trainer';

/** Raised for a bad command line; the CLI prints it and exits with status 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** Parsed command-line options. */
export interface CliOptions {
  epochs: number;
  batchSize: number;
  learningRate: number;
  nkerns: [number, number];
  hidden: number;
  seed: number;
  data?: string;
  device: DeviceChoice;
  threads?: number;
  save?: string;
  plot?: string;
  quiet: boolean;
  help: boolean;
}

export const USAGE = `Usage: node lib/train.js [options]

Trains the Theano tutorial's LeNet5 on MNIST (50000 training / 10000 validation / 10000 test
images) with minibatch SGD and patience-based early stopping. Defaults are the tutorial's.

Options:
  --epochs N          maximum number of epochs (default 200)
  --batch-size N      minibatch size (default 500)
  --lr X              learning rate (default 0.1)
  --nkerns A,B        filters of the two convolutional layers (default 20,50)
  --hidden N          units of the hidden layer (default 500)
  --seed N            seed of the weight initialization (default 23455)
  --data DIR          read MNIST IDX files (plain or .gz) from DIR instead of the bundled ones
  --device D          cpu, cuda or auto (default auto: CUDA when usable, else the CPU)
  --threads N         CPU threads (default: all cores)
  --save FILE         write the best-validation model to FILE (safetensors)
  --plot FILE         write an SVG of training cost and validation/test error per epoch
  --quiet             print only the final summary
  -h, --help          show this help

Example: node lib/train.js --epochs 1`;

function integer(flag: string, text: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (!/^[+-]?\d+$/.test(text.trim())) throw new UsageError(`${flag} must be an integer, got '${text}'`);
  const v = Number(text);
  if (v < min || v > max) {
    throw new UsageError(`${flag} must be ${max === Number.MAX_SAFE_INTEGER ? `at least ${min}` : `between ${min} and ${max}`}, got ${v}`);
  }
  return v;
}

/** Parses argv (without node and the script) into options; throws UsageError on bad input. */
export function parseCli(argv: string[]): CliOptions {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        epochs: { type: 'string' },
        'batch-size': { type: 'string' },
        lr: { type: 'string' },
        nkerns: { type: 'string' },
        hidden: { type: 'string' },
        seed: { type: 'string' },
        data: { type: 'string' },
        device: { type: 'string' },
        threads: { type: 'string' },
        save: { type: 'string' },
        plot: { type: 'string' },
        quiet: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    // parseArgs' messages are clear ("Unknown option '--foo'", "Option '--epochs <value>' argument missing").
    throw new UsageError((err as Error).message.replace(/\. To specify a positional argument.*$/s, ''));
  }
  const str = (k: string) => values[k] as string | undefined;
  const opts: CliOptions = {
    epochs: 200,
    batchSize: 500,
    learningRate: 0.1,
    nkerns: [20, 50],
    hidden: 500,
    seed: 23455,
    device: 'auto',
    quiet: Boolean(values.quiet),
    help: Boolean(values.help),
  };
  if (str('epochs') !== undefined) opts.epochs = integer('--epochs', str('epochs')!, 1, 100000);
  if (str('batch-size') !== undefined) opts.batchSize = integer('--batch-size', str('batch-size')!, 1, 50000);
  if (str('lr') !== undefined) {
    const text = str('lr')!;
    const v = Number(text);
    if (text.trim() === '' || !Number.isFinite(v) || v <= 0) throw new UsageError(`--lr must be a positive number, got '${text}'`);
    opts.learningRate = v;
  }
  if (str('nkerns') !== undefined) {
    const parts = str('nkerns')!.split(',');
    if (parts.length !== 2) throw new UsageError(`--nkerns must be two integers separated by a comma (e.g. 20,50), got '${str('nkerns')}'`);
    opts.nkerns = [integer('--nkerns', parts[0], 1, 4096), integer('--nkerns', parts[1], 1, 4096)];
  }
  if (str('hidden') !== undefined) opts.hidden = integer('--hidden', str('hidden')!, 1, 100000);
  if (str('seed') !== undefined) opts.seed = integer('--seed', str('seed')!, 0, 0xffffffff);
  if (str('threads') !== undefined) opts.threads = integer('--threads', str('threads')!, 1, 1024);
  if (str('device') !== undefined) {
    const d = str('device')!;
    if (d !== 'cpu' && d !== 'cuda' && d !== 'auto') throw new UsageError(`--device must be cpu, cuda or auto, got '${d}'`);
    opts.device = d;
  }
  for (const flag of ['save', 'plot'] as const) {
    const file = str(flag);
    if (file === undefined) continue;
    if (file.trim() === '') throw new UsageError(`--${flag} needs a file name`);
    const dir = path.dirname(path.resolve(file));
    if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new UsageError(`--${flag}: directory '${dir}' does not exist`);
    if (fs.existsSync(file) && fs.statSync(file).isDirectory()) throw new UsageError(`--${flag}: '${file}' is a directory`);
    opts[flag] = file;
  }
  if (str('data') !== undefined) {
    const dir = str('data')!;
    if (!fs.existsSync(dir)) throw new UsageError(`--data: directory '${dir}' does not exist`);
    if (!fs.statSync(dir).isDirectory()) throw new UsageError(`--data: '${dir}' is not a directory`);
    opts.data = dir;
  }
  return opts;
}

const pct = (x: number) => `${x.toFixed(6)} %`;

function formatSeconds(s: number): string {
  if (s < 120) return `${s.toFixed(1)} s`;
  return `${(s / 60).toFixed(1)} min`;
}

/** Progress on a terminal: a bar per epoch with an ETA; plain lines everywhere else. */
interface Progress {
  batch(epoch: number, done: number, total: number): void;
  line(text: string): void;
  stop(): void;
}

function plainProgress(out: NodeJS.WriteStream, quiet: boolean): Progress {
  return {
    batch() {},
    line(text) {
      if (!quiet) out.write(text + '\n');
    },
    stop() {},
  };
}

function barProgress(out: NodeJS.WriteStream, epochs: number): Progress {
  // Loaded lazily: only a terminal needs it.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const cliProgress = require('cli-progress') as typeof import('cli-progress');
  const bar = new cliProgress.SingleBar(
    {
      stream: out,
      format: 'epoch {epoch}/{epochs} [{bar}] {value}/{total} minibatches | ETA {eta_formatted}',
      hideCursor: true,
      clearOnComplete: true,
      etaBuffer: 20,
    },
    cliProgress.Presets.shades_classic,
  );
  let current = 0;
  return {
    batch(epoch, done, total) {
      if (epoch !== current) {
        if (current) bar.stop();
        current = epoch;
        bar.start(total, 0, { epoch, epochs });
      }
      bar.update(done);
    },
    line(text) {
      if (current) {
        // Print above the bar, then redraw it.
        out.write('\r\x1b[2K' + text + '\n');
        bar.render();
      } else {
        out.write(text + '\n');
      }
    },
    stop() {
      if (current) bar.stop();
      current = 0;
    },
  };
}

/** Runs the CLI; resolves with the exit status. */
export async function main(argv: string[], out: NodeJS.WriteStream = process.stdout, err: NodeJS.WriteStream = process.stderr): Promise<number> {
  let opts: CliOptions;
  try {
    opts = parseCli(argv);
  } catch (e) {
    if (e instanceof UsageError) {
      err.write(`train: ${e.message}\nRun 'node lib/train.js --help' for the options.\n`);
      return 2;
    }
    throw e;
  }
  if (opts.help) {
    out.write(USAGE + '\n');
    return 0;
  }
  const say = (text: string) => {
    if (!opts.quiet) out.write(text + '\n');
  };
  const backend = createBackend({ device: opts.device, threads: opts.threads });
  say(`device: ${backend.kind} (${backend.choice.reason}): ${backend.describe()}`);
  say('... loading data');
  const data = await loadMnist({ backend, dir: opts.data });
  say(`    ${data.train.count} training, ${data.validation.count} validation, ${data.test.count} test images`);
  say('... building the model');
  const model = new LeNet5({ backend, nkerns: opts.nkerns, hidden: opts.hidden, seed: opts.seed });
  const trainer = new SGDTrainer(model, { learningRate: opts.learningRate, batchSize: opts.batchSize, epochs: opts.epochs });
  say(`    LeNet5 nkerns=[${opts.nkerns}] hidden=${opts.hidden}: ${model.parameterCount} parameters; lr ${opts.learningRate}, batch ${opts.batchSize}, up to ${opts.epochs} epochs, seed ${opts.seed}`);
  say('... training');
  const progress = out.isTTY && !opts.quiet ? barProgress(err.isTTY ? err : out, opts.epochs) : plainProgress(out, opts.quiet);
  let result: TrainResult;
  try {
    result = await trainer.fit(data, {
      onBatch: (p) => progress.batch(p.epoch, p.done, p.batches),
      onValidation: (v: ValidationRecord) => {
        progress.line(`epoch ${v.epoch}, minibatch ${v.minibatch}/${v.batches}, validation error ${pct(v.validationErrorPercent)}`);
        if (v.isBest && v.testErrorPercent !== undefined) {
          progress.line(`     epoch ${v.epoch}, minibatch ${v.minibatch}/${v.batches}, test error of best model ${pct(v.testErrorPercent)}`);
        }
      },
      onEpoch: (e: EpochRecord) => {
        progress.line(`     epoch ${e.epoch}: training cost ${e.trainCost.toFixed(4)}, ${e.seconds.toFixed(2)} s`);
      },
    });
  } finally {
    progress.stop();
  }
  out.write('Optimization complete.\n');
  out.write(
    `Best validation score of ${pct(result.bestValidationErrorPercent)} obtained at iteration ${result.bestIteration}, ` +
      `with test performance ${pct(result.testErrorPercent)}\n`,
  );
  out.write(
    `Trained ${result.epochs} epoch${result.epochs === 1 ? '' : 's'} (${result.iterations} iterations` +
      `${result.stoppedEarly ? ', stopped early: patience exhausted' : ''}) in ${formatSeconds(result.wallSeconds)} on ` +
      `${backend.kind}: ${result.secondsPerEpoch.toFixed(2)} s per epoch\n`,
  );
  if (opts.save) {
    await model.save(opts.save, {
      summary: JSON.stringify({
        bestValidationErrorPercent: result.bestValidationErrorPercent,
        bestIteration: result.bestIteration,
        testErrorPercent: result.testErrorPercent,
        epochs: result.epochs,
        learningRate: opts.learningRate,
        batchSize: opts.batchSize,
        device: backend.kind,
      }),
    });
    out.write(`Saved the best-validation model to ${opts.save}\n`);
  }
  if (opts.plot) {
    const svg = renderTrainingCurves(
      result.history.map((e) => ({ epoch: e.epoch, trainCost: e.trainCost, validationError: e.validationErrorPercent, testError: e.testErrorPercent })),
      { title: `LeNet5 on MNIST (${backend.kind}, lr ${opts.learningRate}, batch ${opts.batchSize})` },
    );
    fs.writeFileSync(opts.plot, svg);
    out.write(`Wrote training curves to ${opts.plot}\n`);
  }
  model.dispose();
  data.dispose();
  await backend.sync();
  backend.dispose();
  return 0;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e: Error) => {
      process.stderr.write(`train: ${e.message}\n`);
      process.exitCode = 1;
    },
  );
}
