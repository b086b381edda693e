/**
 * Kill tests: a process that saves checkpoints, and the CLI (node lib/train.js --save), are
 * killed with SIGKILL or interrupted with SIGINT at seeded random moments. Whatever the moment,
 * the destination is absent, the old file or a complete new one; a single SIGINT after the first
 * validation always writes the new one (the best model so far), one before it never does; after
 * a SIGINT no temporary file is left, and after a SIGKILL the next save of the same destination
 * removes what the killed process left. The seed is printed; rerun one with KILL_SEED=<seed>.
 */
import * as fs from 'fs';
import * as path from 'path';
import { createBackend } from '../lib/backend';
import { readCheckpoint } from '../lib/checkpoint';
import { removePendingTemporaryFiles, writeFileAtomic } from '../lib/fsio';
import { LeNet5 } from '../lib/lenet5';
import { tinyRun, watchNode, writeTinyMnist } from './cli-helpers';
import { ROOT, ensureCompiledLib, tmpDir } from './integration-helpers';
import { TestRandom } from './reference';

const SEED = Number(process.env.KILL_SEED ?? 20261202) >>> 0;
const tmp = tmpDir('kill');
afterAll(() => tmp.cleanup());
beforeAll(() => {
  ensureCompiledLib();
  console.log(`cli-signals: seed ${SEED} (set KILL_SEED to rerun one)`);
});

/** Files of a folder that look like the temporary files of atomic writes. */
const temporaryFiles = (dir: string) => fs.readdirSync(dir).filter((f) => /\.tmp-\d+-/.test(f));

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The weights of a freshly initialized model, as `save` writes them (params() order). */
async function initialWeights(config: { nkerns: readonly [number, number]; hidden: number; seed: number }): Promise<Float32Array> {
  const backend = createBackend({ device: 'cpu', threads: 1 });
  const model = new LeNet5({ backend, ...config });
  try {
    return await model.arena.values.read();
  } finally {
    model.dispose();
    backend.dispose();
  }
}

describe(`a process saving checkpoints in a loop, killed (SIGKILL) at random moments (seed ${SEED})`, () => {
  // The tutorial's architecture: a 1.7 MB file, so that many kills land inside a write.
  const ARCH = { nkerns: [20, 50] as [number, number], hidden: 500 };
  // Saves the model of seed 1, 2, 3, ... over one destination, as fast as it can.
  const SAVER = `
    const { createBackend, LeNet5 } = require(${JSON.stringify(path.join(ROOT, 'lib'))});
    const backend = createBackend({ device: 'cpu', threads: 1 });
    const dest = process.argv[1];
    process.stdout.write('ready\\n');
    (async () => {
      for (let seed = 1; ; seed++) {
        const model = new LeNet5({ backend, nkerns: [20, 50], hidden: 500, seed });
        await model.save(dest);
        model.dispose();
        process.stdout.write('saved ' + seed + '\\n');
      }
    })();`;
  const KILLS = 40;

  test(`${KILLS} kills: the destination is always absent or the complete checkpoint of one model; the next save removes the leftovers`, async () => {
    const random = new TestRandom(SEED);
    const dir = fs.mkdtempSync(path.join(tmp.dir, 'saver-'));
    const dest = path.join(dir, 'm.safetensors');
    const expected = new Map<number, Float32Array>();
    let absent = 0;
    let midWrite = 0;
    let maxSeed = 0;
    for (let k = 0; k < KILLS; k++) {
      const run = watchNode(['-e', SAVER, dest]);
      await run.line(/^ready$/);
      // Up to about six saves; one run in eight is killed before its first save can be complete.
      await sleep(random.next() < 0.125 ? random.next() * 5 : random.next() * 250);
      run.child.kill('SIGKILL');
      const r = await run.done;
      expect(r.signal).toBe('SIGKILL');
      // A temporary file now means the kill landed inside a write.
      if (temporaryFiles(dir).length > 0) midWrite++;
      const saved = [...r.stdout.matchAll(/^saved (\d+)$/gm)].map((m) => Number(m[1]));
      const where = `kill #${k} (seed ${SEED}) after ${saved.length} saves`;
      if (!fs.existsSync(dest)) {
        // Nothing was ever renamed into place, in this run or an earlier one.
        expect({ where, saved, earlier: maxSeed }).toEqual({ where, saved: [], earlier: 0 });
        absent++;
        continue;
      }
      const { config, values } = await readCheckpoint(dest).catch((e: Error) => {
        throw new Error(`${where}: the destination is not a complete checkpoint: ${e.message}`);
      });
      expect({ where, nkerns: config.nkerns, hidden: config.hidden }).toEqual({ where, ...ARCH });
      // A model this run finished, or the one it was writing (renamed just before the kill), or
      // an earlier run's when this one saved nothing.
      const last = saved.length ? saved[saved.length - 1] : 0;
      if (saved.length || config.seed !== maxSeed) {
        expect({ where, seed: config.seed >= last && config.seed <= last + 1 }).toEqual({ where, seed: true });
      }
      maxSeed = config.seed;
      if (!expected.has(config.seed)) expected.set(config.seed, await initialWeights({ ...ARCH, seed: config.seed }));
      const want = expected.get(config.seed)!;
      expect({ where, length: values.length }).toEqual({ where, length: want.length });
      expect(Buffer.from(values.buffer).equals(Buffer.from(want.buffer))).toBe(true);
    }
    console.log(
      `cli-signals: ${KILLS} SIGKILLs of a saving process: ${midWrite} inside a write (a temporary file was left), ` +
        `${absent} before anything was saved, ${KILLS - absent} with a complete checkpoint in place`,
    );
    expect(absent).toBeLessThan(KILLS);
    expect(midWrite).toBeGreaterThan(0);
    // The next write of the destination removes the temporary files of the killed processes.
    const before = fs.readFileSync(dest);
    await writeFileAtomic(dest, before, 'checkpoint');
    expect(temporaryFiles(dir)).toEqual([]);
    expect(fs.readdirSync(dir)).toEqual(['m.safetensors']);
  }, 240_000);
});

describe(`the CLI with --save, interrupted or killed at random moments (seed ${SEED})`, () => {
  const OLD_SEED = 7;

  type Mode = 'SIGINT' | 'SIGINT twice' | 'SIGKILL';
  const MODES: Mode[] = ['SIGINT', 'SIGKILL', 'SIGINT twice'];
  const RUNS = 15;

  test(`${RUNS} runs: the previous checkpoint or a complete new one (always the new one after a SIGINT once validated); no temporary file after a SIGINT; exit 130 and a message that says which`, async () => {
    const random = new TestRandom(SEED ^ 0x5bd1e995);
    const data = writeTinyMnist(path.join(tmp.dir, 'tiny-mnist'));
    const dir = fs.mkdtempSync(path.join(tmp.dir, 'cli-'));
    const dest = path.join(dir, 'm.safetensors');
    // The old checkpoint, and how long a whole run takes here.
    const started = Date.now();
    const first = await watchNode([...tinyRun(data), '--save', dest, '--seed', String(OLD_SEED)]).done;
    const duration = Date.now() - started;
    expect(first.code).toBe(0);
    const tally: Record<string, number> = {};
    for (let k = 0; k < RUNS; k++) {
      const mode = MODES[k % MODES.length];
      const seed = 100 + k;
      // What the destination holds before this run (the first run's, or a later one's).
      const old = fs.readFileSync(dest);
      const run = watchNode([...tinyRun(data), '--save', dest, '--seed', String(seed)]);
      // Half the moments anywhere in the run, half just after training, where the save is.
      const nearSave = random.next() < 0.5;
      if (nearSave) {
        await run.line(/^Optimization complete\.$/).catch(() => undefined);
        await sleep(random.next() * 20);
      } else {
        await sleep(random.next() * duration);
      }
      if (mode === 'SIGKILL') run.child.kill('SIGKILL');
      else {
        run.child.kill('SIGINT');
        if (mode === 'SIGINT twice') {
          await sleep(random.next() * 5);
          run.child.kill('SIGINT');
        }
      }
      const r = await run.done;
      const where = `run #${k} (${mode}${nearSave ? ' near the save' : ''}, KILL_SEED=${SEED}): exit ${r.code ?? r.signal}\n${r.stderr}`;
      const bytes = fs.readFileSync(dest);
      const isOld = bytes.equals(old);
      if (!isOld) {
        const { config, values } = await readCheckpoint(dest);
        expect({ where, seed: config.seed, nkerns: config.nkerns, hidden: config.hidden }).toEqual({ where, seed, nkerns: [4, 6], hidden: 32 });
        expect(values.every(Number.isFinite)).toBe(true);
      }
      const duringSave = / while saving /.test(r.stderr) ? ' (during the save)' : / saving the best model so far /.test(r.stderr) ? ' (after validating)' : '';
      const outcome = r.code === 0 ? 'finished' : (isOld ? 'previous kept' : 'new saved') + duringSave;
      tally[`${mode}: ${outcome}`] = (tally[`${mode}: ${outcome}`] ?? 0) + 1;
      if (r.code === 0) {
        // The signal came after the process had ended.
        expect({ where, isOld }).toEqual({ where, isOld: false });
        continue;
      }
      if (mode === 'SIGKILL') {
        expect({ where, signal: r.signal }).toEqual({ where, signal: 'SIGKILL' });
        continue;
      }
      // Temporary files of this run (a SIGKILLed run before it may have left one of its own).
      const temporary = temporaryFiles(dir).filter((f) => f.includes(`.tmp-${run.child.pid}-`));
      expect({ where, temporary }).toEqual({ where, temporary: [] });
      if (r.signal === 'SIGINT') {
        // Node.js's default action: the signal came while Node.js was starting, before the CLI
        // had set up its handler, or while it was exiting after the run. Either way the file is
        // the previous one or the complete new one, as stdout says.
        const saved = /^Saved the best-validation model (so far )?to /m.test(r.stdout);
        expect({ where, saved }).toEqual({ where, saved: !isOld });
        continue;
      }
      expect({ where, code: r.code }).toEqual({ where, code: 130 });
      // The first line says where the run stopped and whether the file was written.
      const lines = r.stderr.trimEnd().split('\n');
      if (mode === 'SIGINT twice' && /^train: SIGINT again: exiting at once/.test(lines[0])) {
        // The first signal came in the last moments of main(), after the run and its cleanup: the
        // file had been written.
        expect({ where, isOld, lines: lines.length }).toEqual({ where, isOld: false, lines: 1 });
        continue;
      }
      expect({ where, first: /^train: interrupted by SIGINT /.test(lines[0]) }).toEqual({ where, first: true });
      // Before the first validation (there is nothing to save): the old file stays. After it (a
      // save to come, in progress or done), one SIGINT leaves the new file; a second one may cut
      // the write short, and then the old file stays.
      const notWritten = lines[0].endsWith(`; stopping, ${dest} not written`);
      const written = / saving the best model so far to | (while|after) saving /.test(lines[0]);
      expect({ where, says: notWritten !== written }).toEqual({ where, says: true });
      if (notWritten) expect({ where, isOld }).toEqual({ where, isOld: true });
      if (written && mode === 'SIGINT') expect({ where, isOld }).toEqual({ where, isOld: false });
      if (mode === 'SIGINT twice' && lines.length > 1) {
        expect({ where, second: /^train: SIGINT again: exiting at once/.test(lines[1]) }).toEqual({ where, second: true });
      }
    }
    console.log(`cli-signals: ${RUNS} interrupted CLI runs (a whole run takes ${duration} ms here): ${JSON.stringify(tally)}`);
    // Leftovers of the SIGKILLed runs go with the next save.
    await writeFileAtomic(dest, fs.readFileSync(dest), 'checkpoint');
    expect(fs.readdirSync(dir)).toEqual(['m.safetensors']);
  }, 240_000);
});

describe('removePendingTemporaryFiles (what a second Ctrl-C runs before exiting)', () => {
  test('called right after a save starts: the temporary file is gone for good, the old file stays', async () => {
    const dir = fs.mkdtempSync(path.join(tmp.dir, 'pending-'));
    const dest = path.join(dir, 'm.safetensors');
    fs.writeFileSync(dest, 'old');
    const write = writeFileAtomic(dest, Buffer.alloc(1 << 20, 1), 'checkpoint');
    // As a signal handler would: on this thread, before the write's next step.
    const removed = removePendingTemporaryFiles();
    expect(removed).toHaveLength(1);
    expect(path.dirname(removed[0])).toBe(dir);
    // The write goes on into the unlinked file and fails at the rename.
    await expect(write).rejects.toThrow(`${dest}: cannot write checkpoint: no such file or directory`);
    expect(fs.readdirSync(dir)).toEqual(['m.safetensors']);
    expect(fs.readFileSync(dest, 'utf8')).toBe('old');
  });
});

describe('temporary files that the next save removes', () => {
  test('only those of processes that no longer exist, and only for the same destination', async () => {
    const dir = fs.mkdtempSync(path.join(tmp.dir, 'stale-'));
    const dest = path.join(dir, 'm.safetensors');
    // A PID no process has (above Linux's pid_max limit of 2^22), one that is alive (jest's parent).
    const dead = `m.safetensors.tmp-${2 ** 22 + 1}-0123456789ab`;
    const live = `m.safetensors.tmp-${process.ppid}-0123456789ab`;
    const other = `n.safetensors.tmp-${2 ** 22 + 1}-0123456789ab`;
    const notOurs = `m.safetensors.tmp-${2 ** 22 + 1}-notahexname`;
    for (const f of [dead, live, other, notOurs]) fs.writeFileSync(path.join(dir, f), 'partial');
    await writeFileAtomic(dest, 'new', 'checkpoint');
    expect(fs.readdirSync(dir).sort()).toEqual([live, 'm.safetensors', notOurs, other].sort());
    expect(fs.readFileSync(dest, 'utf8')).toBe('new');
  });
});
