#!/usr/bin/env node
/**
 * The command-line trainer: `node lib/train.js [options]` trains the tutorial's LeNet5 on MNIST and
 * prints the tutorial's progress lines and a summary. A thin layer over the package's API.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { parseArgs } from 'util';
import { type DeviceChoice, createBackend } from './backend';
import { type Dataset, loadMnist } from './data';
import { FileAccessError, checkWritable, errnoReason, removePendingTemporaryFiles, writeFileAtomic } from './fsio';
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

/** Whether two paths name the same file (symbolic links followed where the files exist). */
function sameFile(a: string, b: string): boolean {
  const real = (p: string) => {
    try {
      return fs.realpathSync(p);
    } catch {
      return path.resolve(p);
    }
  };
  return real(a) === real(b);
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
  const what = { save: 'the checkpoint', plot: 'the plot' } as const;
  for (const flag of ['save', 'plot'] as const) {
    const file = str(flag);
    if (file === undefined) continue;
    if (file.trim() === '') throw new UsageError(`--${flag} needs a file name`);
    const dir = path.dirname(path.resolve(file));
    if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new UsageError(`--${flag}: directory '${dir}' does not exist`);
    if (fs.existsSync(file) && fs.statSync(file).isDirectory()) throw new UsageError(`--${flag}: '${file}' is a directory`);
    // Found now rather than after hours of training: a device node (/dev/null), a read-only
    // directory or file system, /proc. The probe really creates (and removes) a file there.
    try {
      checkWritable(file, what[flag]);
    } catch (e) {
      if (!(e instanceof FileAccessError)) throw e;
      throw new UsageError(`--${flag}: ${e.message}${e.code === 'ENOTREG' ? '' : ` (no file can be created in '${dir}')`}`);
    }
    opts[flag] = file;
  }
  if (opts.save !== undefined && opts.plot !== undefined && sameFile(opts.save, opts.plot)) {
    throw new UsageError(`--save and --plot name the same file '${opts.plot}'; the plot would replace the checkpoint`);
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

/** 128 + the signal's number, the shell's convention: 130 for SIGINT, 143 for SIGTERM. */
export function signalExitStatus(signal: string): number {
  const signals = os.constants.signals as Record<string, number>;
  return 128 + (signals[signal] ?? signals.SIGINT);
}

/**
 * A stream the CLI writes to, which may go away during a run: the reader of a pipe exits (`| head
 * -1`: EPIPE), a disk fills up. Its 'error' is caught, and writing to it stops while training and
 * saving go on; `error` keeps what happened.
 */
class Output {
  error?: NodeJS.ErrnoException;
  constructor(
    readonly name: string,
    readonly stream: NodeJS.WriteStream,
  ) {
    // A stand-in stream (tests) may have no events.
    if (typeof stream.on === 'function') stream.on('error', (e: NodeJS.ErrnoException) => (this.error ??= e));
  }
  get isTTY(): boolean {
    return Boolean(this.stream.isTTY);
  }
  write(text: string): void {
    if (this.error) return;
    try {
      this.stream.write(text);
    } catch (e) {
      this.error ??= e as NodeJS.ErrnoException;
    }
  }
}

/** Progress on a terminal: a bar per epoch with an ETA; plain lines everywhere else. */
interface Progress {
  batch(epoch: number, done: number, total: number): void;
  line(text: string): void;
  /** Ends the bar for good (the cursor is shown again); later lines are plain. */
  stop(): void;
}

function plainProgress(out: Output, quiet: boolean): Progress {
  return {
    batch() {},
    line(text) {
      if (!quiet) out.write(text + '\n');
    },
    stop() {},
  };
}

function barProgress(out: Output, epochs: number): Progress {
  // Loaded lazily: only a terminal needs it.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const cliProgress = require('cli-progress') as typeof import('cli-progress');
  const bar = new cliProgress.SingleBar(
    {
      stream: out.stream,
      format: 'epoch {epoch}/{epochs} [{bar}] {value}/{total} minibatches | ETA {eta_formatted}',
      hideCursor: true,
      clearOnComplete: true,
      etaBuffer: 20,
    },
    cliProgress.Presets.shades_classic,
  );
  let current = 0;
  let stopped = false;
  return {
    batch(epoch, done, total) {
      if (stopped || out.error) return;
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
      stopped = true;
      if (current) bar.stop();
      current = 0;
    },
  };
}

/** Options of {@link main} beyond the command line. */
export interface MainOptions {
  /**
   * Interrupts the run when aborted, with a signal's name ('SIGINT', 'SIGTERM') as the reason:
   * training stops after the step in flight, a file write in progress is finished, nothing more is
   * written, and `main` resolves with 128 + the signal's number (130, 143).
   */
  signal?: AbortSignal;
}

/** Trains, saves and plots as the options say; resolves with the exit status. */
async function run(opts: CliOptions, out: Output, err: Output, signal?: AbortSignal): Promise<number> {
  const say = (text: string) => {
    if (!opts.quiet) out.write(text + '\n');
  };
  const interrupted = () => signal?.aborted === true;
  const interruptedStatus = () => signalExitStatus(String(signal!.reason));
  const stopping = `; stopping${opts.save ? `, ${opts.save} not written` : ''}`;
  // What the run is doing, for the message of an interruption.
  let where = () => `while loading the data${stopping}`;
  let progress: Progress | undefined;
  const onAbort = () => {
    progress?.stop();
    err.write(`train: interrupted by ${String(signal!.reason)} ${where()}\n`);
  };
  const backend = createBackend({ device: opts.device, threads: opts.threads });
  signal?.addEventListener('abort', onAbort, { once: true });
  if (interrupted()) onAbort();
  let data: Dataset | undefined;
  let model: LeNet5 | undefined;
  try {
    say(`device: ${backend.kind} (${backend.choice.reason}): ${backend.describe()}`);
    say('... loading data');
    data = await loadMnist({ backend, dir: opts.data });
    say(`    ${data.train.count} training, ${data.validation.count} validation, ${data.test.count} test images`);
    if (opts.batchSize > data.train.count) {
      throw new UsageError(
        `--batch-size ${opts.batchSize} is larger than the training set (${data.train.count} images${opts.data ? ` in ${opts.data}` : ''})`,
      );
    }
    if (interrupted()) return interruptedStatus();
    where = () => `while building the model${stopping}`;
    say('... building the model');
    model = new LeNet5({ backend, nkerns: opts.nkerns, hidden: opts.hidden, seed: opts.seed });
    const trainer = new SGDTrainer(model, { learningRate: opts.learningRate, batchSize: opts.batchSize, epochs: opts.epochs });
    say(`    LeNet5 nkerns=[${opts.nkerns}] hidden=${opts.hidden}: ${model.parameterCount} parameters; lr ${opts.learningRate}, batch ${opts.batchSize}, up to ${opts.epochs} epochs, seed ${opts.seed}`);
    let at = 'at the start of training';
    where = () => at + stopping;
    say('... training');
    progress = out.isTTY && !opts.quiet ? barProgress(err.isTTY ? err : out, opts.epochs) : plainProgress(out, opts.quiet);
    const shown = progress;
    let result: TrainResult;
    try {
      result = await trainer.fit(data, {
        signal,
        onBatch: (p) => {
          at = `at epoch ${p.epoch}, minibatch ${p.done}/${p.batches}`;
          shown.batch(p.epoch, p.done, p.batches);
        },
        onValidation: (v: ValidationRecord) => {
          shown.line(`epoch ${v.epoch}, minibatch ${v.minibatch}/${v.batches}, validation error ${pct(v.validationErrorPercent)}`);
          if (v.isBest && v.testErrorPercent !== undefined) {
            shown.line(`     epoch ${v.epoch}, minibatch ${v.minibatch}/${v.batches}, test error of best model ${pct(v.testErrorPercent)}`);
          }
        },
        onEpoch: (e: EpochRecord) => {
          shown.line(`     epoch ${e.epoch}: training cost ${e.trainCost.toFixed(4)}, ${e.seconds.toFixed(2)} s`);
        },
      });
    } catch (e) {
      if (interrupted() && (e as Error).name === 'AbortError') return interruptedStatus();
      throw e;
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
    if (interrupted()) return interruptedStatus();
    // A write in progress is finished rather than discarded: its destination then holds the new
    // file, and no temporary file is left behind.
    if (opts.save) {
      const plotNotWritten = opts.plot ? `, ${opts.plot} not written` : '';
      where = () => `while saving ${opts.save}; finishing that write, then stopping${plotNotWritten}`;
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
      where = () => `after saving ${opts.save}; stopping${plotNotWritten}`;
      out.write(`Saved the best-validation model to ${opts.save}\n`);
      if (interrupted()) return interruptedStatus();
    }
    if (opts.plot) {
      where = () => `while writing ${opts.plot}; finishing that write, then stopping`;
      const svg = renderTrainingCurves(
        result.history.map((e) => ({ epoch: e.epoch, trainCost: e.trainCost, validationError: e.validationErrorPercent, testError: e.testErrorPercent })),
        { title: `LeNet5 on MNIST (${backend.kind}, lr ${opts.learningRate}, batch ${opts.batchSize})` },
      );
      await writeFileAtomic(opts.plot, svg, 'the plot');
      out.write(`Wrote training curves to ${opts.plot}\n`);
    }
    where = () => 'after the run had finished; exiting';
    return interrupted() ? interruptedStatus() : 0;
  } finally {
    model?.dispose();
    data?.dispose();
    await backend.sync();
    backend.dispose();
    // Kept until here: a signal while the backend finishes still says where the run was.
    signal?.removeEventListener('abort', onAbort);
  }
}

/**
 * Runs the CLI; resolves with the exit status. Output that could not be written (a full disk:
 * ENOSPC, EIO) makes a successful run's status 1; a closed pipe (EPIPE: the reader had what it
 * wanted) does not.
 */
export async function main(
  argv: string[],
  out: NodeJS.WriteStream = process.stdout,
  err: NodeJS.WriteStream = process.stderr,
  options: MainOptions = {},
): Promise<number> {
  const stdout = new Output('stdout', out);
  const stderr = new Output('stderr', err);
  let status: number;
  try {
    const opts = parseCli(argv);
    if (opts.help) {
      stdout.write(USAGE + '\n');
      status = 0;
    } else {
      status = await run(opts, stdout, stderr, options.signal);
    }
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    stderr.write(`train: ${e.message}\nRun 'node lib/train.js --help' for the options.\n`);
    status = 2;
  }
  // A failed write reports its error on a later tick.
  await new Promise((resolve) => setImmediate(resolve));
  for (const [lost, other] of [
    [stdout, stderr],
    [stderr, stdout],
  ]) {
    if (!lost.error || lost.error.code === 'EPIPE') continue;
    const { reason, code } = errnoReason(lost.error);
    other.write(`train: output to ${lost.name} was lost: ${reason} (${code})\n`);
    if (status === 0) status = 1;
  }
  return status;
}

/** Shows the cursor again on a terminal (the progress bar hides it). */
function showCursor(): void {
  for (const stream of [process.stderr, process.stdout]) {
    if (stream.isTTY && !stream.destroyed) stream.write('\x1b[?25h');
  }
}

if (require.main === module) {
  // Ctrl-C (SIGINT) or SIGTERM: the run stops at the next safe point (after the training step in
  // flight; a file write in progress is finished) and exits with 130 or 143. A second signal
  // exits at once, after removing the temporary file of any write still in progress, so the
  // destination keeps its old contents.
  const interrupt = new AbortController();
  let settled = false;
  const onSignal = (sig: NodeJS.Signals) => {
    // The run is over and its status set; the process is exiting.
    if (settled) return;
    if (!interrupt.signal.aborted) {
      interrupt.abort(sig);
      return;
    }
    const removed = removePendingTemporaryFiles();
    showCursor();
    if (!process.stderr.destroyed) {
      process.stderr.write(`train: ${sig} again: exiting at once${removed.length ? `; removed ${removed.join(', ')}` : ''}\n`);
    }
    process.exit(signalExitStatus(sig));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  main(process.argv.slice(2), process.stdout, process.stderr, { signal: interrupt.signal }).then(
    (code) => {
      settled = true;
      process.exitCode = code;
    },
    (e: Error) => {
      settled = true;
      if (!process.stderr.destroyed) process.stderr.write(`train: ${e.message}\n`);
      process.exitCode = 1;
    },
  );
}
