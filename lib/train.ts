#!/usr/bin/env node
/**
 * The command-line trainer: `node lib/train.js [options]` (`lenet-train` when installed) trains the
 * tutorial's LeNet5 on MNIST and prints the tutorial's progress lines and a summary, with a
 * progress bar on a terminal. A thin layer over the package's API.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { parseArgs } from 'util';
import { type CudaStatus, type CudaUnavailableError, type DeviceChoice, createBackend, cudaAvailable, explainCudaStatus } from './backend';
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
  verbose: boolean;
  help: boolean;
  version: boolean;
}

/** The help text, naming the command as it was invoked (see {@link commandName}). */
export function usage(command: string): string {
  return `Usage: ${command} [options]

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
  --verbose           say why CUDA is not used, and every place its libraries were looked for
  -h, --help          show this help
  --version           print the version

Example: ${command} --epochs 1`;
}

/** The help text as `node lib/train.js` prints it from the package's folder. */
export const USAGE = usage('node lib/train.js');

/**
 * How the user started the CLI, for its help and error texts: the name of npm's bin link
 * (`lenet-train`), or `node <the script's path>` (relative to `cwd` when under it).
 */
export function commandName(script: string | undefined, cwd = process.cwd()): string {
  if (!script) return 'node lib/train.js';
  const base = path.basename(script);
  if (!/^train(\.[cm]?[jt]s)?$/.test(base)) return base;
  const relative = path.relative(cwd, script);
  return `node ${relative.startsWith('..') || path.isAbsolute(relative) ? script : relative}`;
}

/**
 * What the CLI's messages start with: the command's own name when it is one (`lenet-train:`),
 * else `train:` for `node lib/train.js`.
 */
export function messagePrefix(command: string): string {
  return command.startsWith('node ') ? 'train' : command;
}

/** The package's version, from its package.json. */
export function packageVersion(): string {
  return (JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8')) as { version: string }).version;
}

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
        verbose: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean' },
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
    verbose: Boolean(values.verbose),
    help: Boolean(values.help),
    version: Boolean(values.version),
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

/** Progress on a terminal: a bar per epoch with ETAs; plain lines everywhere else. */
interface Progress {
  batch(epoch: number, done: number, total: number): void;
  line(text: string): void;
  /** Ends the bar for good (its line is cleared, the cursor shown again); later lines are plain. */
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

/** m:ss, or h:mm:ss from an hour on. */
function clock(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const two = (n: number) => String(n).padStart(2, '0');
  const [h, m] = [Math.floor(s / 3600), Math.floor((s % 3600) / 60)];
  return h ? `${h}:${two(m)}:${two(s % 60)}` : `${m}:${two(s % 60)}`;
}

/** Where a run is, for {@link progressLine}. */
export interface ProgressState {
  epoch: number;
  epochs: number;
  /** Minibatches of this epoch done, of `batches`. */
  done: number;
  batches: number;
  /** Seconds since training started. */
  elapsed: number;
}

/**
 * The progress bar's line, e.g. `epoch 3/200 [######........] 40/100 | ETA 0:08 epoch, 1:10:00
 * run | 0:12 elapsed`: the ETAs of the epoch and of the whole run (all epochs; patience may end it
 * sooner) at the mean pace so far. Never longer than `columns - 3`, so that it never wraps, not
 * even when the terminal echoes a Ctrl-C's `^C` after it (a wrapped line could not be cleared
 * with `\r`): the bar takes the room left (and goes when under 10 columns), then the elapsed time,
 * then the end is cut.
 */
export function progressLine(p: ProgressState, columns: number): string {
  const doneAll = (p.epoch - 1) * p.batches + p.done;
  const perBatch = doneAll > 0 ? p.elapsed / doneAll : NaN;
  const eta = (batches: number) => (Number.isFinite(perBatch) ? clock(batches * perBatch) : '?');
  const head = `epoch ${p.epoch}/${p.epochs}`;
  const counts = ` ${p.done}/${p.batches} | ETA ${eta(p.batches - p.done)} epoch, ${eta(p.epochs * p.batches - doneAll)} run`;
  const elapsed = ` | ${clock(p.elapsed)} elapsed`;
  const width = Math.max(0, columns - 3);
  const room = Math.min(30, width - head.length - counts.length - elapsed.length - 3);
  const bar = room >= 10 ? ` [${'#'.repeat(Math.round((room * p.done) / p.batches)).padEnd(room, '.')}]` : '';
  const line = head + bar + counts + elapsed;
  // Too narrow: the elapsed time goes first, then the end is cut.
  return (line.length <= width ? line : head + counts).slice(0, width);
}

/**
 * The bar drawn on `tty` (stderr when it is a terminal, else stdout) as the last line: each log
 * line (to `log`, stdout) first clears it (`\r\x1b[K`) and then redraws it below. Nothing moves
 * the cursor up or restores a saved position, so log lines survive at any terminal size; the line
 * is cut to the terminal's width, read again on 'resize'.
 */
function terminalProgress(log: Output, tty: Output, epochs: number): Progress {
  const stream = tty.stream;
  let columns = stream.columns || 80;
  const started = performance.now();
  let state: Omit<ProgressState, 'elapsed'> | undefined;
  let shown = false;
  let cursorHidden = false;
  let stopped = false;
  let drawnAt = -Infinity;
  const draw = () => {
    if (!state) return;
    if (!cursorHidden) tty.write('\x1b[?25l');
    cursorHidden = true;
    tty.write('\r' + progressLine({ ...state, elapsed: (performance.now() - started) / 1000 }, columns) + '\x1b[K');
    shown = true;
    drawnAt = performance.now();
  };
  const clear = () => {
    if (shown) tty.write('\r\x1b[K');
    shown = false;
  };
  const onResize = () => {
    columns = stream.columns || columns;
    if (shown) draw();
  };
  if (typeof stream.on === 'function') stream.on('resize', onResize);
  return {
    batch(epoch, done, batches) {
      if (stopped) return;
      state = { epoch, epochs, done, batches };
      // A fast GPU finishes minibatches faster than a terminal is worth redrawing.
      if (performance.now() - drawnAt >= 100 || done === batches) draw();
    },
    line(text) {
      const redraw = shown;
      clear();
      log.write(text + '\n');
      if (redraw) draw();
    },
    stop() {
      if (stopped) return;
      stopped = true;
      clear();
      if (cursorHidden) tty.write('\x1b[?25h');
      if (typeof stream.off === 'function') stream.off('resize', onResize);
    },
  };
}

/** Options of {@link main} beyond the command line. */
export interface MainOptions {
  /**
   * Interrupts the run when aborted, with a signal's name ('SIGINT', 'SIGTERM') as the reason:
   * training stops after the step in flight, a file write in progress is finished, the best model
   * so far is saved (with --save, once one validation ran), nothing more is written, and `main`
   * resolves with 128 + the signal's number (130, 143).
   */
  signal?: AbortSignal;
  /** The command's name in help and error texts (default 'node lib/train.js'; see {@link commandName}). */
  command?: string;
}

/** The first line of a probe's reason: the loader's messages go on with the list of places tried. */
const firstLine = (text: string) => text.split('\n')[0].replace(/\s*Tried, in order:$/, '');

/** The lines that say why CUDA is not used and how to fix it; `tried` only with --verbose. */
function cudaDetails(e: { fix: string; tried: string[] }, reason: string, verbose: boolean, indent: string): string[] {
  const lines = [`${indent}cause: ${firstLine(reason)}`];
  if (e.fix) lines.push(`${indent}fix: ${e.fix}`);
  if (verbose) lines.push(...e.tried.map((t) => `${indent}tried: ${t}`));
  else if (e.tried.length) lines.push(`${indent}(--verbose lists every place the CUDA libraries were looked for)`);
  return lines;
}

/** The device lines: which device and why, short; the CUDA details under --verbose. */
function deviceBanner(kind: string, describe: string, choiceReason: string, device: DeviceChoice, verbose: boolean): string[] {
  if (kind === 'cuda' || device === 'cpu') return [`device: ${kind} (${device === 'auto' ? choiceReason : `${device} requested`})`, `    ${describe}`];
  // --device auto fell back to the CPU: the probe's answer is cached, asking again costs nothing.
  const status: CudaStatus = cudaAvailable();
  const why = explainCudaStatus(status);
  const head = `device: cpu (no CUDA GPU: ${why.summary}${verbose ? '' : '; --verbose for details'})`;
  return [head, `    ${describe}`, ...(verbose ? cudaDetails({ ...why, tried: status.tried }, status.reason, true, '    ') : [])];
}

const isCudaUnavailable = (e: unknown): e is CudaUnavailableError => (e as { code?: unknown } | null)?.code === 'LENET_CUDA_UNAVAILABLE';

/** Trains, saves and plots as the options say; resolves with the exit status. */
async function run(opts: CliOptions, out: Output, err: Output, signal: AbortSignal | undefined, tag: string): Promise<number> {
  const say = (text: string) => {
    if (!opts.quiet) out.write(text + '\n');
  };
  const interrupted = () => signal?.aborted === true;
  const interruptedStatus = () => signalExitStatus(String(signal!.reason));
  // The best validation so far, and whether there was one when the signal came: the message says
  // then whether the file will be written, and a validation that finishes after it changes nothing.
  let best: ValidationRecord | undefined;
  let saveOnAbort = false;
  const stopping = () => {
    if (!opts.save) return '; stopping';
    return saveOnAbort ? `; saving the best model so far to ${opts.save}, then stopping` : `; stopping, ${opts.save} not written`;
  };
  // What the run is doing, for the message of an interruption.
  let where = () => `while loading the data${stopping()}`;
  let progress: Progress | undefined;
  const onAbort = () => {
    saveOnAbort = opts.save !== undefined && best !== undefined;
    progress?.stop();
    err.write(`${tag}: interrupted by ${String(signal!.reason)} ${where()}\n`);
  };
  const backend = createBackend({ device: opts.device, threads: opts.threads });
  signal?.addEventListener('abort', onAbort, { once: true });
  if (interrupted()) onAbort();
  let data: Dataset | undefined;
  let model: LeNet5 | undefined;
  try {
    for (const line of deviceBanner(backend.kind, backend.describe(), backend.choice.reason, opts.device, opts.verbose)) say(line);
    // os.availableParallelism() is Node.js 18.14+; engines says 18.
    const cores = os.availableParallelism?.() ?? os.cpus().length;
    if (backend.kind === 'cpu' && opts.threads !== undefined && opts.threads > cores) {
      err.write(`${tag}: warning: --threads ${opts.threads} is more than the ${cores} threads this machine runs at once; the extra threads wait for a core and training runs slower\n`);
    }
    say('... loading data');
    data = await loadMnist({ backend, dir: opts.data });
    say(`    ${data.train.count} training, ${data.validation.count} validation, ${data.test.count} test images`);
    if (opts.batchSize > data.train.count) {
      throw new UsageError(
        `--batch-size ${opts.batchSize} is larger than the training set (${data.train.count} images${opts.data ? ` in ${opts.data}` : ''})`,
      );
    }
    if (interrupted()) return interruptedStatus();
    where = () => `while building the model${stopping()}`;
    say('... building the model');
    model = new LeNet5({ backend, nkerns: opts.nkerns, hidden: opts.hidden, seed: opts.seed });
    const trainer = new SGDTrainer(model, { learningRate: opts.learningRate, batchSize: opts.batchSize, epochs: opts.epochs });
    say(`    LeNet5 nkerns=[${opts.nkerns}] hidden=${opts.hidden}: ${model.parameterCount} parameters; lr ${opts.learningRate}, batch ${opts.batchSize}, up to ${opts.epochs} epochs, seed ${opts.seed}`);
    let at = 'at the start of training';
    let epochsRun = 0;
    where = () => at + stopping();
    say('... training');
    // The bar goes to stderr when that is a terminal (as npm and curl draw theirs), so that
    // progress shows even with stdout redirected to a file.
    const tty = err.isTTY ? err : out.isTTY ? out : undefined;
    progress = tty && !opts.quiet ? terminalProgress(out, tty, opts.epochs) : plainProgress(out, opts.quiet);
    const shown = progress;
    let result: TrainResult | undefined;
    try {
      result = await trainer.fit(data, {
        signal,
        onBatch: (p) => {
          at = `at epoch ${p.epoch}, minibatch ${p.done}/${p.batches}`;
          epochsRun = p.epoch;
          shown.batch(p.epoch, p.done, p.batches);
        },
        onValidation: (v: ValidationRecord) => {
          shown.line(`epoch ${v.epoch}, minibatch ${v.minibatch}/${v.batches}, validation error ${pct(v.validationErrorPercent)}`);
          if (v.isBest && v.testErrorPercent !== undefined) {
            best = v;
            shown.line(`     epoch ${v.epoch}, minibatch ${v.minibatch}/${v.batches}, test error of best model ${pct(v.testErrorPercent)}`);
          }
        },
        onEpoch: (e: EpochRecord) => {
          shown.line(`     epoch ${e.epoch}: training cost ${e.trainCost.toFixed(4)}, ${e.seconds.toFixed(2)} s`);
        },
      });
    } catch (e) {
      // Aborted: the model holds the best weights so far (SGDTrainer restores them), saved below.
      if (!(interrupted() && (e as Error).name === 'AbortError')) throw e;
    } finally {
      progress.stop();
    }
    if (result) {
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
    }
    if (interrupted() && !saveOnAbort) return interruptedStatus();
    // A write in progress is finished rather than discarded: its destination then holds the new
    // file, and no temporary file is left behind.
    if (opts.save && (result || best)) {
      const plotNotWritten = opts.plot ? `, ${opts.plot} not written` : '';
      const soFar = result ? '' : ' so far';
      where = () => `while saving ${opts.save}; finishing that write, then stopping${plotNotWritten}`;
      await model.save(opts.save, {
        summary: JSON.stringify({
          bestValidationErrorPercent: result?.bestValidationErrorPercent ?? best!.validationErrorPercent,
          bestIteration: result?.bestIteration ?? best!.iteration + 1,
          testErrorPercent: result?.testErrorPercent ?? best!.testErrorPercent,
          epochs: result?.epochs ?? epochsRun,
          learningRate: opts.learningRate,
          batchSize: opts.batchSize,
          device: backend.kind,
          ...(result ? {} : { interrupted: `${String(signal!.reason)} ${at}` }),
        }),
      });
      where = () => `after saving ${opts.save}; stopping${plotNotWritten}`;
      out.write(`Saved the best-validation model${soFar} to ${opts.save}\n`);
    }
    if (interrupted() || !result) return interruptedStatus();
    if (opts.plot) {
      const history = result.history;
      where = () => `while writing ${opts.plot}; finishing that write, then stopping`;
      const svg = renderTrainingCurves(
        history.map((e) => ({ epoch: e.epoch, trainCost: e.trainCost, validationError: e.validationErrorPercent, testError: e.testErrorPercent })),
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
  const command = options.command ?? 'node lib/train.js';
  const tag = messagePrefix(command);
  let status: number;
  let verbose = false;
  try {
    const opts = parseCli(argv);
    verbose = opts.verbose;
    if (opts.help) {
      stdout.write(usage(command) + '\n');
      status = 0;
    } else if (opts.version) {
      stdout.write(`lenet-cudnn ${packageVersion()}\n`);
      status = 0;
    } else {
      status = await run(opts, stdout, stderr, options.signal, tag);
    }
  } catch (e) {
    if (e instanceof UsageError) {
      stderr.write(`${tag}: ${e.message}\nRun '${command} --help' for the options.\n`);
      status = 2;
    } else if (isCudaUnavailable(e)) {
      const lines = [`${tag}: --device cuda: CUDA is not available: ${e.summary}`, ...cudaDetails(e, e.detail, verbose, '  ')];
      lines.push('  (--device auto, the default, falls back to the CPU)');
      stderr.write(lines.join('\n') + '\n');
      status = 1;
    } else {
      throw e;
    }
  }
  // A failed write reports its error on a later tick.
  await new Promise((resolve) => setImmediate(resolve));
  for (const [lost, other] of [
    [stdout, stderr],
    [stderr, stdout],
  ]) {
    if (!lost.error || lost.error.code === 'EPIPE') continue;
    const { reason, code } = errnoReason(lost.error);
    other.write(`${tag}: output to ${lost.name} was lost: ${reason} (${code})\n`);
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
  const command = commandName(process.argv[1]);
  const tag = messagePrefix(command);
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
      process.stderr.write(`${tag}: ${sig} again: exiting at once${removed.length ? `; removed ${removed.join(', ')}` : ''}\n`);
    }
    process.exit(signalExitStatus(sig));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  main(process.argv.slice(2), process.stdout, process.stderr, { signal: interrupt.signal, command }).then(
    (code) => {
      settled = true;
      process.exitCode = code;
    },
    (e: Error) => {
      settled = true;
      if (!process.stderr.destroyed) process.stderr.write(`${tag}: ${e.message}\n`);
      process.exitCode = 1;
    },
  );
}
