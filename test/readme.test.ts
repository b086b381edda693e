/**
 * The README's code runs as written. Every ```js and ```sh block either runs here or says in its
 * first line why not (`// not run by test/readme.test.ts: ...`, `# not run by ...`, or
 * `// fragment: ...`). A JS block names its file and the command that runs it in its first line
 * (`// train.mjs: run with \`EPOCHS=1 node train.mjs\``); it is saved under that name in a fresh
 * project whose node_modules/lenet-cudnn is this package, as an installed copy would be, and run
 * with that command. A shell block runs in the repository. Where the prose after a shell block
 * says what it prints, the next ```text block must be that output (the seconds and the device
 * line aside, which vary by machine).
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { ROOT, ensureCompiledLib, tmpDir } from './integration-helpers';
import { reportSkip } from './skip';

interface Block {
  lang: string;
  body: string;
  /** 1-based line of the opening fence. */
  line: number;
  /** The prose between this block and the previous one. */
  before: string;
}

/** The fenced blocks of a Markdown text, in order. */
function fencedBlocks(markdown: string): Block[] {
  const lines = markdown.split('\n');
  const blocks: Block[] = [];
  let prose: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\S*)\s*$/.exec(lines[i]);
    if (!open) {
      prose.push(lines[i]);
      continue;
    }
    const end = lines.indexOf('```', i + 1);
    if (end < 0) throw new Error(`README.md:${i + 1}: a code block that is never closed`);
    blocks.push({ lang: open[1], body: lines.slice(i + 1, end).join('\n') + '\n', line: i + 1, before: prose.join('\n') });
    prose = [];
    i = end;
  }
  return blocks;
}

const NOT_RUN = /^(?:\/\/ fragment: |(?:\/\/|#) not run by test\/readme\.test\.ts: )\S/;
const JS_RUN = /^\/\/ ([\w.-]+\.(?:mjs|cjs|js)): run with `([^`]+)`/;

const blocks = fencedBlocks(fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8'));
const runnable = blocks.filter((b) => ['js', 'javascript', 'sh'].includes(b.lang));
const run = runnable.filter((b) => !NOT_RUN.test(b.body));

/** Runs a command line with bash; throws with its output when it fails. */
function bash(command: string, cwd: string, where: string): string {
  const r = spawnSync('bash', ['-e', '-o', 'pipefail', '-c', command], { cwd, encoding: 'utf8', timeout: 280_000 });
  if (r.status !== 0) {
    throw new Error(`${where}: \`${command}\` exited with ${r.status ?? r.signal}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
  }
  return r.stdout;
}

/** An output with the seconds (`21.50 s`, `39.6 min`) replaced, for comparing runs. */
function withoutTimes(text: string): string {
  return text.replace(/\b\d+(?:\.\d+)? (s|min)\b/g, '<time> $1');
}

/** The ```text block after a shell block, when the prose between them says the block prints it. */
function expectedOutput(block: Block): string | undefined {
  const next = blocks[blocks.indexOf(block) + 1];
  return next && next.lang === 'text' && /\bprints\b/.test(next.before) ? next.body : undefined;
}

let project: { dir: string; cleanup(): void };
beforeAll(() => {
  ensureCompiledLib();
  project = tmpDir('readme');
  fs.mkdirSync(path.join(project.dir, 'node_modules'));
  fs.symlinkSync(ROOT, path.join(project.dir, 'node_modules', 'lenet-cudnn'));
});
afterAll(() => project.cleanup());

test('every JS and shell block is run here or says in its first line why not', () => {
  const blocksJs = runnable.filter((b) => b.lang !== 'sh');
  expect(blocksJs.length).toBeGreaterThanOrEqual(2);
  const unnamed = blocksJs.filter((b) => !NOT_RUN.test(b.body) && !JS_RUN.test(b.body)).map((b) => `README.md:${b.line}`);
  expect(unnamed).toEqual([]);
  expect(run.length).toBeGreaterThanOrEqual(4);
  // The one-epoch run's output is shown, so it is compared below.
  expect(run.filter((b) => b.lang === 'sh' && expectedOutput(b)).length).toBeGreaterThanOrEqual(1);
});

describe.each(run.filter((b) => b.lang !== 'sh').map((b) => [`README.md:${b.line}`, b] as const))('JS block at %s', (where, block) => {
  test('runs as written from a project that installed the package', () => {
    const [, file, command] = JS_RUN.exec(block.body)!;
    fs.writeFileSync(path.join(project.dir, file), block.body);
    const out = bash(command, project.dir, where);
    // It ran to its end: the block's last console.log (the result it shows) printed its line.
    const logs = [...block.body.matchAll(/console\.log\(`([^`$]+)/g)].map((m) => m[1]);
    expect(logs.length).toBeGreaterThan(0);
    expect(out).toContain(logs[logs.length - 1]);
  }, 300_000);
});

describe.each(run.filter((b) => b.lang === 'sh').map((b) => [`README.md:${b.line}`, b] as const))('shell block at %s', (where, block) => {
  test('runs as written in the repository, printing what the README says', () => {
    const out = bash(block.body, ROOT, where);
    const expected = expectedOutput(block);
    if (!expected) return;
    const printed = out.trimEnd().split('\n');
    const shown = expected.trimEnd().split('\n');
    expect(printed[0].startsWith('device: ')).toBe(true);
    if (!printed[0].startsWith('device: cpu')) {
      // The README's figures are the CPU's; a GPU's rounding gives other errors.
      reportSkip(`${where}: comparing the errors with the README`, `this run is not on the CPU (${printed[0]})`);
      return;
    }
    // The device lines (the banner and the CPU's description) differ from machine to machine.
    const afterDevice = (lines: string[]) => lines.slice(lines.indexOf('... loading data')).join('\n');
    expect(withoutTimes(afterDevice(printed))).toBe(withoutTimes(afterDevice(shown)));
  }, 300_000);
});
