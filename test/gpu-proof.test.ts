/**
 * The GPU proof script (`npm run bench:gpu`, bench/gpu.sh) in its dry run: every one of its six
 * stages runs here without a GPU (CPU backend, one epoch on a cut-down MNIST, PyTorch on the CPU
 * when it is importable, one jest file), so that a GPU machine's one-shot run does not fail on
 * the script itself. The real run is done on a GPU machine; this checks the script works.
 */
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { ROOT, ensureCompiledLib, tmpDir } from './integration-helpers';

const STAGES = 6;

function runBash(args: string[], timeoutMs: number): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const env = { ...process.env };
    // The script's default out folder is $OUT; this test names its own.
    delete env.OUT;
    const child = spawn('bash', args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (output += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (output += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

test(
  'bench/gpu.sh --dry-run runs all six stages, passes, and writes the results file into its out folder',
  async () => {
    ensureCompiledLib(); // the script runs the compiled lib/*.js
    const results = path.join(ROOT, 'bench', 'results');
    const before = fs.readdirSync(results).sort();
    const { dir, cleanup } = tmpDir('gpu-proof');
    try {
      const r = await runBash(['bench/gpu.sh', '--dry-run', '--out', dir], 580_000);
      const logFile = path.join(dir, 'gpu.log');
      const log = fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8') : '';
      if (r.code !== 0) console.log(`bench/gpu.sh --dry-run exited ${r.code}; its output:\n${r.output.slice(-8000)}`);
      expect(r.code).toBe(0);
      for (let n = 1; n <= STAGES; n++) {
        expect(log).toMatch(new RegExp(`^===== stage ${n}/${STAGES}: .+ =====$`, 'm'));
        expect(log).toMatch(new RegExp(`^===== stage ${n}/${STAGES}: .+: PASS \\(exit 0, \\d+ s\\) =====$`, 'm'));
      }
      expect(log).toMatch(/^jest: \d+ passed, 0 failed, \d+ skipped$/m);
      expect(log).toMatch(/gpu\.sh: all 6 stages passed/);

      // The results file: in the out folder, never in bench/results for a dry run.
      const md = fs.readdirSync(dir).filter((f) => /^gpu-.+\.md$/.test(f));
      expect(md).toHaveLength(1);
      expect(fs.readdirSync(results).sort()).toEqual(before);
      const text = fs.readFileSync(path.join(dir, md[0]), 'utf8');
      expect(text).toContain('DRY RUN');
      expect(text).toMatch(/\| best validation error \(%\) \| \d+\.\d+ \|/);
      expect(text).toMatch(/\| at iteration \| \d+ \|/);
      expect(text).toMatch(/\| test error \(%\) \| \d+\.\d+ \|/);
      expect(text).toMatch(/\| seconds per epoch \(wall \/ epochs\) \| \d+\.\d+ \|/);
      expect(text).toMatch(/Versions: driver .+, runtime .+, cuBLAS .+, cuDNN .+/);
      // PyTorch's figures when it is importable here, else the reason it was skipped.
      expect(text).toMatch(/Ours \/ PyTorch, seconds per epoch: \d+\.\d+|skipped: torch not importable/);

      const figures = JSON.parse(fs.readFileSync(path.join(dir, 'figures.json'), 'utf8'));
      expect(figures.dryRun).toBe(true);
      expect(figures.reproduction.complete).toBe(true);
      expect(figures.stages.map((s: { rc: number }) => s.rc)).toEqual([0, 0, 0, 0, 0]);
      // Only 8 files come back from a GPU machine.
      expect(fs.readdirSync(dir).length).toBeLessThanOrEqual(8);
    } finally {
      cleanup();
    }
  },
  600_000,
);
