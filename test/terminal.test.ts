/**
 * The CLI on a real pseudo-terminal (util-linux `script`), its output replayed in a headless VT
 * emulator (@xterm/headless) to get the final screen: every line the tutorial prints survives the
 * progress bar at 120, 60 and 40 columns, the bar never wraps, and it is gone at the end; with
 * stdout redirected to a file the bar is drawn on stderr; Ctrl-C restores the cursor, says where
 * it stopped and saves the best model so far. And the bar line's layout (progressLine) by width,
 * and its redraw on 'resize'.
 */
import { spawn, spawnSync } from 'child_process';
import { EventEmitter } from 'events';
import * as fs from 'fs';
import * as path from 'path';
import { Terminal } from '@xterm/headless';
import { loadSafetensors } from '../lib/safetensors';
import { main, progressLine } from '../lib/train';
import { watchNode, writeTinyMnist } from './cli-helpers';
import { ROOT, ensureCompiledLib, tmpDir } from './integration-helpers';

const tmp = tmpDir('terminal');
afterAll(() => tmp.cleanup());

/** Whether util-linux `script` is here to give the CLI a pseudo-terminal. */
const script = spawnSync('script', ['--version'], { encoding: 'utf8' });
const hasScript = script.status === 0 && /util-linux/.test(script.stdout);

let tiny: string | undefined;
const tinyMnist = () => (tiny ??= writeTinyMnist(path.join(tmp.dir, 'tiny-mnist')));
/** Two epochs of ten minibatches on the tiny folder, on one CPU thread (the same numbers every run). */
const runArgs = (epochs: number) =>
  ['lib/train.js', '--data', tinyMnist(), '--epochs', String(epochs), '--batch-size', '50', '--nkerns', '4,6', '--hidden', '32', '--device', 'cpu', '--threads', '1'];

const quote = (a: string) => `'${a.replace(/'/g, `'\\''`)}'`;

/**
 * Runs `node args...` on a pseudo-terminal of `cols` x `rows` (`> redirect` when given); resolves
 * with the exit status and every byte the terminal received. `interrupt`: Ctrl-C is typed once
 * the output matches it.
 */
function inTerminal(cols: number, rows: number, args: string[], options: { redirect?: string; interrupt?: RegExp } = {}) {
  const command = [process.execPath, ...args].map(quote).join(' ') + (options.redirect ? ` > ${quote(options.redirect)}` : '');
  const child = spawn('script', ['-qfec', `stty cols ${cols} rows ${rows}; exec ${command}`, '/dev/null'], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
  let raw = '';
  let typed = false;
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    raw += d;
    if (options.interrupt && !typed && options.interrupt.test(raw)) {
      typed = true;
      child.stdin.write('\x03');
    }
  });
  return new Promise<{ code: number | null; raw: string }>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, raw }));
  });
}

/** The terminal's final contents, scrollback included, one entry per logical line (wrapped rows joined). */
async function screen(raw: string, cols: number, rows: number): Promise<string[]> {
  const term = new Terminal({ cols, rows, scrollback: 10_000, allowProposedApi: true });
  await new Promise<void>((resolve) => term.write(raw, resolve));
  const buffer = term.buffer.active;
  const lines: string[] = [];
  for (let i = 0; i < buffer.length; i++) {
    const line = buffer.getLine(i)!;
    const text = line.translateToString(true);
    if (line.isWrapped) lines[lines.length - 1] += text;
    else lines.push(text);
  }
  term.dispose();
  while (lines.length && lines[lines.length - 1].trim() === '') lines.pop();
  return lines.map((l) => l.trimEnd());
}

/** Durations differ between runs; everything else is the same on one CPU thread. */
const timeless = (lines: string[]) => lines.map((l) => l.replace(/\d+\.\d+ (s|min)\b/g, 'T $1'));

/** What the bar drew: the text of each frame (`\r<frame>\x1b[K`). */
const frames = (raw: string) => [...raw.matchAll(/\r([^\r\n\x1b]+)\x1b\[K/g)].map((m) => m[1]);

const FRAME = /^epoch [12]\/2( \[[#.]{10,30}\])? \d+\/10 \| ETA \d+:\d\d epoch, \d+:\d\d run( \| \d+:\d\d elapsed)?$/;

describe('progressLine: the bar line fits the terminal', () => {
  const at = { epoch: 3, epochs: 200, done: 40, batches: 100, elapsed: 12 };
  test('the layouts by width: the bar takes the room left, then goes; then the elapsed time; then the end is cut', () => {
    // 240 of 20000 minibatches in 12 s: 0.05 s each, 3 s for the epoch's 60 left, 988 s for the run's 19760.
    expect(progressLine(at, 120)).toBe('epoch 3/200 [############..................] 40/100 | ETA 0:03 epoch, 16:28 run | 0:12 elapsed');
    expect(progressLine(at, 80)).toBe('epoch 3/200 [#####........] 40/100 | ETA 0:03 epoch, 16:28 run | 0:12 elapsed');
    expect(progressLine(at, 60)).toBe('epoch 3/200 40/100 | ETA 0:03 epoch, 16:28 run');
    expect(progressLine(at, 40)).toBe('epoch 3/200 40/100 | ETA 0:03 epoch, ');
    expect(progressLine({ epoch: 150, epochs: 200, done: 100, batches: 100, elapsed: 3725 }, 120)).toBe(
      'epoch 150/200 [##############################] 100/100 | ETA 0:00 epoch, 20:42 run | 1:02:05 elapsed',
    );
    expect(progressLine({ epoch: 1, epochs: 2, done: 0, batches: 10, elapsed: 0 }, 80)).toBe(
      'epoch 1/2 [........................] 0/10 | ETA ? epoch, ? run | 0:00 elapsed',
    );
  });

  test('never longer than columns - 3 (room for the ^C a terminal echoes; the last column would wrap on some), from 0 to 300 columns', () => {
    for (let columns = 0; columns <= 300; columns++) {
      expect({ columns, length: progressLine(at, columns).length <= Math.max(0, columns - 3) }).toEqual({ columns, length: true });
    }
  });
});

describe('the bar on a terminal that is resized (in-process, a stand-in stderr terminal)', () => {
  test("after 'resize' the bar is redrawn at once to the new width, and every later frame fits it", async () => {
    const log = { text: '', isTTY: false, write: (c: string) => ((log.text += c), true) };
    const tty = Object.assign(new EventEmitter(), { isTTY: true, columns: 120, text: '', resizedAt: -1 });
    const write = (c: string) => {
      tty.text += c;
      // The first frame with a bar: the terminal shrinks to 40 columns.
      if (tty.resizedAt < 0 && / \[[#.]+\] /.test(c)) {
        tty.resizedAt = tty.text.length;
        tty.columns = 40;
        tty.emit('resize');
      }
      return true;
    };
    const err = Object.assign(tty, { write }) as unknown as NodeJS.WriteStream;
    const args = runArgs(2).slice(1);
    expect(await main(args, log as unknown as NodeJS.WriteStream, err)).toBe(0);
    expect(tty.resizedAt).toBeGreaterThan(0);
    const after = frames(tty.text.slice(tty.resizedAt));
    expect(after.length).toBeGreaterThan(1);
    expect(after[0]).toMatch(/^epoch 1\/2 \d+\/10 \| ETA /);
    for (const f of after) expect({ f, fits: f.length <= 37 }).toEqual({ f, fits: true });
    expect(log.text).toContain('     epoch 2: training cost ');
  });
});

if (!hasScript) {
  test.skip(`the CLI on a pseudo-terminal: skipped, util-linux 'script' is not installed (${script.error?.message ?? script.stderr})`, () => undefined);
} else {
  describe('the CLI on a pseudo-terminal (script), replayed in @xterm/headless', () => {
    // The lines of the same run with stdout piped: plain lines, no bar.
    let reference: string[];
    beforeAll(async () => {
      ensureCompiledLib();
      const piped = await watchNode(runArgs(2)).done;
      expect(piped.code).toBe(0);
      reference = piped.stdout.trimEnd().split('\n');
      expect(reference).toHaveLength(16);
    }, 60_000);

    test.each([
      [120, 30],
      [60, 30],
      [40, 30],
    ])('%i x %i: the final screen is exactly the plain run\'s lines (all epochs\' validation, test and cost lines); the bar never wraps', async (cols, rows) => {
      const { code, raw } = await inTerminal(cols, rows, runArgs(2));
      expect(code).toBe(0);
      expect(timeless(await screen(raw, cols, rows))).toEqual(timeless(reference));
      // The bar was drawn, within the width, and the cursor it hid is shown again.
      const drawn = frames(raw);
      expect(drawn.length).toBeGreaterThan(0);
      for (const f of drawn) expect({ f, fits: f.length <= cols - 3 }).toEqual({ f, fits: true });
      if (cols >= 60) for (const f of drawn) expect(f).toMatch(FRAME);
      if (cols === 120) expect(drawn.some((f) => / \[[#.]{10,30}\] .* elapsed$/.test(f))).toBe(true);
      expect(raw.lastIndexOf('\x1b[?25h')).toBeGreaterThan(raw.lastIndexOf('\x1b[?25l'));
    }, 60_000);

    test('stdout redirected to a file, stderr the terminal: the bar is on stderr (with ETAs and elapsed time), the file has the plain lines', async () => {
      const file = path.join(tmp.dir, 'out.txt');
      const { code, raw } = await inTerminal(120, 30, runArgs(2), { redirect: file });
      expect(code).toBe(0);
      expect(timeless(fs.readFileSync(file, 'utf8').trimEnd().split('\n'))).toEqual(timeless(reference));
      const drawn = frames(raw);
      expect(drawn.length).toBeGreaterThan(0);
      for (const f of drawn) expect(f).toMatch(FRAME);
      // Cleared at the end: the terminal is left empty.
      expect(await screen(raw, 120, 30)).toEqual([]);
    }, 60_000);

    test('Ctrl-C after the second epoch with --save: the cursor is shown again, it says where it stopped, the best model so far is saved, exit 130', async () => {
      const save = path.join(tmp.dir, 'm.safetensors');
      const { code, raw } = await inTerminal(80, 30, [...runArgs(50), '--save', save], { interrupt: /epoch 2: training cost/ });
      expect(code).toBe(130);
      // Every frame as wide as the bar may be: the terminal's echoed ^C lands right after one.
      expect(frames(raw).filter((f) => f.length !== 77)).toEqual([]);
      expect(raw).toContain('^C');
      expect(raw.lastIndexOf('\x1b[?25h')).toBeGreaterThan(raw.lastIndexOf('\x1b[?25l'));
      const lines = timeless(await screen(raw, 80, 30));
      const stop = lines.findIndex((l) => l.startsWith('train: interrupted by SIGINT '));
      expect(lines[stop]).toMatch(new RegExp(`^train: interrupted by SIGINT at epoch \\d+, minibatch \\d+/10; saving the best model so far to ${save}, then stopping$`));
      expect(lines[lines.length - 1]).toBe(`Saved the best-validation model so far to ${save}`);
      // Around it, the plain run's lines (up to 50 epochs here): each epoch's lines whole, in order
      // (the test line only where the validation was a new best). The step in flight when the
      // signal came may finish its epoch with a validation: its lines follow the message.
      expect(lines.slice(0, 7)).toEqual(timeless(reference.slice(0, 7)).map((l) => l.replace('up to 2 epochs', 'up to 50 epochs')));
      const epochs = [...lines.slice(7, stop), ...lines.slice(stop + 1, -1)].join('\n');
      const one = (e: number) =>
        `epoch ${e}, minibatch 10/10, validation error \\d+\\.\\d{6} %\n` +
        `( {5}epoch ${e}, minibatch 10/10, test error of best model \\d+\\.\\d{6} %\n)?` +
        ` {5}epoch ${e}: training cost \\d+\\.\\d{4}, T s`;
      const count = (epochs.match(/: training cost /g) ?? []).length;
      expect(count).toBeGreaterThanOrEqual(2);
      expect(epochs).toMatch(new RegExp(`^${Array.from({ length: count }, (_, i) => one(i + 1)).join('\n')}$`));
      const { metadata } = await loadSafetensors(save);
      expect(JSON.parse(metadata.summary).interrupted).toMatch(/^SIGINT at epoch \d+, minibatch \d+\/10$/);
    }, 60_000);
  });
}
