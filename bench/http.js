#!/usr/bin/env node
/**
 * The HTTP service's throughput and latency, with and without batching (part of `npm run bench`,
 * which runs it after bench/cpu.js's sections; alone: `node bench/http.js`).
 *
 *   node bench/http.js [--duration 3] [--rounds 2] [--clients 1,8,64] [--device cpu] [--out bench/results/http.md]
 *
 * Two copies of examples/http-service.js serve one initialized LeNet5 checkpoint on loopback:
 * one batching (--max-batch 256 --max-delay-ms 2, the defaults) and one not (--max-batch 1), both
 * at --max-concurrent 64 so that every client's request is admitted at once. For each count of
 * clients, each client is a loop on a keep-alive connection (node's http.Agent) that POSTs one
 * MNIST test image and waits for the answer, for --duration seconds. The two services take turns
 * cell by cell, the first of each pair alternating, --rounds times, so that this noisy machine's
 * drifts fall on both alike. Prints requests/s, p50/p99 latency and the mean images per forward
 * pass (from the service's /health counters).
 */
'use strict';
const fs = require('fs');
const http = require('http');
const os = require('os');
const path = require('path');
const { spawn } = require('child_process');
const { parseArgs } = require('util');

const ROOT = path.resolve(__dirname, '..');
const PIXELS = 784;
const log = (...a) => console.error(...a);

/** The variants measured: the name in the table and the service's flags. */
const VARIANTS = [
  { name: 'batched (--max-batch 256 --max-delay-ms 2)', flags: ['--max-batch', '256', '--max-delay-ms', '2'] },
  { name: 'unbatched (--max-batch 1)', flags: ['--max-batch', '1'] },
];

/** Starts the service; resolves with its port and child process once it prints its address. */
function startService(checkpoint, device, flags) {
  const args = ['examples/http-service.js', '--checkpoint', checkpoint, '--port', '0', '--device', device, '--max-concurrent', '64', '--max-queued', '64', ...flags];
  const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let out = '';
    child.on('exit', (code) => reject(new Error(`http-service exited (${code}) before listening`)));
    child.stdout.setEncoding('utf8').on('data', (d) => {
      out += d;
      const m = /listening on http:\/\/[^:]+:(\d+)/.exec(out);
      if (m) resolve({ child, port: Number(m[1]) });
    });
  });
}

/** One request on `agent`; resolves with the status and body. */
function post(port, agent, method, route, body) {
  return new Promise((resolve, reject) => {
    const headers = body ? { 'content-type': 'application/json', 'content-length': body.length } : {};
    const req = http.request({ host: '127.0.0.1', port, method, path: route, agent, headers }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** The service's batching counters (GET /health). */
async function counters(port) {
  const r = await post(port, false, 'GET', '/health');
  return JSON.parse(r.text).batching;
}

/**
 * `clients` keep-alive loops, each POSTing one image at a time for `seconds`; resolves with the
 * completed requests, their latencies (ms), the elapsed seconds and the non-200 answers.
 */
async function drive(port, bodies, clients, seconds) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: clients });
  const latencies = [];
  let failures = 0;
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(Math.round(seconds * 1e9));
  const loop = async (c) => {
    for (let i = c; process.hrtime.bigint() < deadline; i += clients) {
      const t0 = process.hrtime.bigint();
      const r = await post(port, agent, 'POST', '/predict', bodies[i % bodies.length]);
      if (r.status !== 200) failures++;
      else latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
  };
  await Promise.all(Array.from({ length: clients }, (_, c) => loop(c)));
  const elapsed = Number(process.hrtime.bigint() - start) / 1e9;
  agent.destroy();
  return { latencies, elapsed, failures };
}

/** The q-quantile (0..1) of sorted values, nearest rank. */
const quantile = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
const fmt = (x, d = 1) => (x === undefined || Number.isNaN(x) ? 'n/a' : x.toFixed(d));

/**
 * Runs the benchmark; resolves with its rows and a markdown section (a "##" heading and the table).
 * @param {{ duration?: number, rounds?: number, clients?: number[], device?: string }} [options]
 */
async function httpBench({ duration = 3, rounds = 2, clients = [1, 8, 64], device = 'cpu' } = {}) {
  const L = require('..');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lenet-bench-http-'));
  const services = [];
  try {
    // An initialized model: a forward pass costs the same whatever the weights.
    const backend = L.createBackend({ device: 'cpu' });
    const model = new L.LeNet5({ backend });
    const checkpoint = path.join(dir, 'lenet5.safetensors');
    await model.save(checkpoint);
    model.dispose();
    await backend.sync();
    backend.dispose();
    const host = L.loadMnistFiles();
    const bodies = Array.from({ length: 256 }, (_, i) => Buffer.from(JSON.stringify(Array.from(host.test.images.subarray(i * PIXELS, (i + 1) * PIXELS), (v) => v / 255))));

    for (const v of VARIANTS) services.push({ ...v, ...(await startService(checkpoint, device, v.flags)) });
    for (const s of services) await drive(s.port, bodies, 8, 1); // warm-up: code paths, buffers per batch size
    const cells = new Map(); // `${variant}/${clients}` -> { requests, elapsed, latencies, failures, images, runs }
    for (let r = 0; r < rounds; r++) {
      for (const [k, c] of clients.entries()) {
        const order = (r + k) % 2 ? [...services].reverse() : services;
        for (const s of order) {
          const before = await counters(s.port);
          const res = await drive(s.port, bodies, c, duration);
          const after = await counters(s.port);
          const key = `${s.name}/${c}`;
          const cell = cells.get(key) ?? { latencies: [], elapsed: 0, failures: 0, images: 0, runs: 0 };
          cell.latencies.push(...res.latencies);
          cell.elapsed += res.elapsed;
          cell.failures += res.failures;
          cell.images += after.images - before.images;
          cell.runs += after.runs - before.runs;
          cells.set(key, cell);
          log(`round ${r + 1}, ${c} client(s), ${s.name}: ${fmt(res.latencies.length / res.elapsed, 0)} req/s`);
        }
      }
    }
    const rows = [];
    for (const c of clients) {
      for (const s of services) {
        const cell = cells.get(`${s.name}/${c}`);
        const sorted = cell.latencies.sort((a, b) => a - b);
        rows.push({
          clients: c,
          variant: s.name,
          requestsPerSecond: sorted.length / cell.elapsed,
          p50: quantile(sorted, 0.5),
          p99: quantile(sorted, 0.99),
          imagesPerPass: cell.images / cell.runs,
          failures: cell.failures,
        });
      }
    }
    const lines = [];
    const say = (t = '') => lines.push(t);
    say(`## The HTTP service on loopback: one image per request (bench/http.js)`);
    say();
    say(`${duration} s per cell, ${rounds} rounds, the two services alternating; ${device} backend, ${os.cpus().length} cores shared by the clients and the service; --max-concurrent 64.`);
    say();
    say(`| clients | service | requests/s | p50 latency (ms) | p99 latency (ms) | images per forward pass | failed |`);
    say(`| ---: | --- | ---: | ---: | ---: | ---: | ---: |`);
    for (const r of rows) {
      say(`| ${r.clients} | ${r.variant} | ${fmt(r.requestsPerSecond, 0)} | ${fmt(r.p50, 2)} | ${fmt(r.p99, 2)} | ${fmt(r.imagesPerPass, 1)} | ${r.failures} |`);
    }
    say();
    const ratios = clients.map((c) => {
      const [b, u] = services.map((s) => rows.find((r) => r.clients === c && r.variant === s.name));
      return `${c}: ${fmt(b.requestsPerSecond / u.requestsPerSecond, 2)}`;
    });
    say(`Requests/s batched / unbatched, by clients: ${ratios.join(', ')}.`);
    return { rows, markdown: lines.join('\n') + '\n' };
  } finally {
    for (const s of services) {
      s.child.kill('SIGTERM');
      await new Promise((resolve) => (s.child.exitCode !== null ? resolve() : s.child.once('exit', resolve)));
    }
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

module.exports = { httpBench };

if (require.main === module) {
  const { values: opt } = parseArgs({
    options: {
      duration: { type: 'string', default: '3' },
      rounds: { type: 'string', default: '2' },
      clients: { type: 'string', default: '1,8,64' },
      device: { type: 'string', default: 'cpu' },
      out: { type: 'string', default: path.join(ROOT, 'bench', 'results', 'http.md') },
    },
  });
  const duration = Number(opt.duration);
  const rounds = Number(opt.rounds);
  const clients = opt.clients.split(',').map(Number);
  if (!(duration > 0)) throw new Error(`--duration must be a positive number of seconds, got '${opt.duration}'`);
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`--rounds must be a positive integer, got '${opt.rounds}'`);
  if (clients.some((c) => !Number.isInteger(c) || c < 1 || c > 64)) throw new Error(`--clients must be integers from 1 to 64 (the service admits 64 at once), got '${opt.clients}'`);
  httpBench({ duration, rounds, clients, device: opt.device })
    .then(({ markdown }) => {
      process.stdout.write(markdown);
      fs.mkdirSync(path.dirname(opt.out), { recursive: true });
      fs.writeFileSync(opt.out, `# HTTP benchmark\n\n- Date: ${new Date().toISOString().slice(0, 10)}\n\n${markdown}`);
      log(`wrote ${path.relative(ROOT, opt.out)}`);
    })
    .catch((e) => {
      console.error(e);
      process.exitCode = 1;
    });
}
