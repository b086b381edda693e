/**
 * examples/http-service.js as a user runs it: a model trained here (3000 images, 1 epoch) is saved,
 * the service is started as a child process on a free port, and its routes are exercised over
 * HTTP: predictions equal the in-process ones (also when concurrent requests share a forward
 * pass), every malformed request gets its status and message, oversized requests 413, a flood of
 * requests 503 while its memory stays bounded, bad flags and options a clear error, and SIGTERM
 * closes idle keep-alive connections at once and stops it promptly and cleanly.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'child_process';
import * as fs from 'fs';
import * as http from 'http';
import * as net from 'net';
import * as path from 'path';
import { type Backend, createBackend } from '../lib/backend';
import { loadMnist } from '../lib/data';
import { LeNet5 } from '../lib/lenet5';
import { type MnistHost, loadMnistFiles } from '../lib/mnist';
import { SGDTrainer } from '../lib/trainer';
import { ROOT, ensureCompiledLib, runNode, thrown, tmpDir, tolerateForeignTypedArrays } from './integration-helpers';

const PIXELS = 784;
const tmp = tmpDir('http');
const CKPT = path.join(tmp.dir, 'lenet5.safetensors');
// model.save() under jest needs this (see the realm test in api.test.ts); not the subject here.
const restoreRealm = tolerateForeignTypedArrays();

interface Service {
  child: ChildProcessWithoutNullStreams;
  port: number;
  firstLine: string;
  stderr: string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts the service and resolves once it printed "lenet5 service listening on http://HOST:PORT". */
function startService(extra: string[] = []): Promise<Service> {
  const child = spawn(process.execPath, ['examples/http-service.js', '--checkpoint', CKPT, '--port', '0', '--host', '127.0.0.1', ...extra], { cwd: ROOT });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  const service = { child, port: 0, firstLine: '', stderr: '', exited } as Service;
  child.stderr.setEncoding('utf8').on('data', (d: string) => (service.stderr += d));
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`the service did not start in 60 s; stdout: ${out}; stderr: ${service.stderr}`)), 60_000);
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      if (service.port) return;
      out += d;
      const nl = out.indexOf('\n');
      if (nl < 0) return;
      service.firstLine = out.slice(0, nl);
      const m = /^lenet5 service listening on http:\/\/127\.0\.0\.1:(\d+) \((cpu|cuda): .+\)$/.exec(service.firstLine);
      clearTimeout(timer);
      if (!m) {
        reject(new Error(`unexpected first line: ${service.firstLine}`));
        return;
      }
      service.port = Number(m[1]);
      resolve(service);
    });
    exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`the service exited (${code} ${signal}) before listening; stderr: ${service.stderr}`));
    });
  });
}

interface Reply {
  status?: number;
  headers?: http.IncomingHttpHeaders;
  text?: string;
  json?: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  /** Set when no response came back (e.g. the connection was reset). */
  error?: string;
}

/**
 * One request on a fresh connection (or one of `agent`'s). `body` is sent with a content-length unless `chunked`;
 * `headersOnly` sends just the headers (declaring `declaredLength`) and waits for the answer.
 */
function request(
  port: number,
  method: string,
  route: string,
  body?: string | Buffer,
  options: { chunked?: boolean; headersOnly?: boolean; declaredLength?: number; agent?: http.Agent } = {},
): Promise<Reply> {
  return new Promise((resolve) => {
    const headers: http.OutgoingHttpHeaders = { 'content-type': 'application/json' };
    if (options.declaredLength !== undefined) headers['content-length'] = options.declaredLength;
    else if (body !== undefined && !options.chunked) headers['content-length'] = Buffer.byteLength(body);
    let settled = false;
    const done = (r: Reply) => {
      if (!settled) {
        settled = true;
        resolve(r);
      }
    };
    const req = http.request({ host: '127.0.0.1', port, method, path: route, headers, agent: options.agent ?? false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => {
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        done({ status: res.statusCode, headers: res.headers, text, json });
        if (options.headersOnly) req.destroy();
      });
      res.on('error', (e) => done({ error: `${(e as NodeJS.ErrnoException).code ?? ''} ${e.message}` }));
    });
    req.on('error', (e) => done({ error: `${(e as NodeJS.ErrnoException).code ?? ''} ${e.message}` }));
    if (options.headersOnly) {
      req.flushHeaders();
      return;
    }
    if (body !== undefined) req.write(body);
    req.end();
  });
}

/** Sends `text` as it is on a fresh TCP connection; resolves with the status and the JSON body of the answer. */
function rawRequest(port: number, text: string): Promise<{ status: number; json: any }> { // eslint-disable-line @typescript-eslint/no-explicit-any
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(text));
    let data = '';
    socket.setEncoding('utf8').on('data', (d: string) => (data += d));
    socket.on('error', reject);
    socket.on('close', () => {
      const status = /^HTTP\/1\.1 (\d{3}) /.exec(data);
      if (!status) {
        reject(new Error(`no HTTP answer: ${JSON.stringify(data)}`));
        return;
      }
      let json: unknown;
      try {
        json = JSON.parse(data.slice(data.indexOf('\r\n\r\n') + 4));
      } catch {
        json = undefined;
      }
      resolve({ status: Number(status[1]), json });
    });
  });
}

/** A process's resident memory now and its peak so far, in MiB (from /proc/PID/status), or null where there is no /proc. */
function memory(pid: number): { rss: number; peak: number } | null {
  let status: string;
  try {
    status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return null;
  }
  const mib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)![1]) / 1024;
  return { rss: mib('VmRSS'), peak: mib('VmHWM') };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A keep-alive connection that has been answered once (GET /health) and now waits idle;
 * `closed` turns true when the other side closes it.
 */
function idleKeepAlive(port: number): Promise<{ socket: net.Socket; closed: boolean }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write('GET /health HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n'));
    const state = { socket, closed: false };
    let data = '';
    socket.setEncoding('utf8').on('data', (d: string) => {
      data += d;
      const head = data.indexOf('\r\n\r\n');
      const length = /content-length: (\d+)/i.exec(data);
      if (head >= 0 && length && data.length >= head + 4 + Number(length[1])) resolve(state);
    });
    socket.on('close', () => (state.closed = true));
    socket.on('error', reject);
  });
}

let host: MnistHost;
let backend: Backend;
let model: LeNet5;
let service: Service;
let limited: Service; // --max-images 2
let busy: Service; // --max-concurrent 2 --max-queued 4 --device cpu
let batched: Service; // --max-concurrent 64 --max-batch 8 --max-delay-ms 50 --device cpu
/** Test image i as the service expects it: 784 numbers in [0, 1] (the pixel bytes / 255). */
const image = (i: number) => Array.from(host.test.images.subarray(i * PIXELS, (i + 1) * PIXELS), (v) => v / 255);

beforeAll(async () => {
  ensureCompiledLib();
  host = loadMnistFiles();
  backend = createBackend({ device: 'cpu' });
  const data = await loadMnist({ backend, limit: { train: 3000, validation: 500, test: 500 } });
  model = new LeNet5({ backend });
  await new SGDTrainer(model, { batchSize: 100, epochs: 1 }).fit(data);
  data.dispose();
  await model.save(CKPT);
  [service, limited, busy, batched] = await Promise.all([
    startService(),
    startService(['--max-images', '2']),
    startService(['--max-concurrent', '2', '--max-queued', '4', '--device', 'cpu']),
    startService(['--max-concurrent', '64', '--max-batch', '8', '--max-delay-ms', '50', '--device', 'cpu']),
  ]);
}, 120_000);

afterAll(async () => {
  for (const s of [service, limited, busy, batched]) {
    if (s && s.child.exitCode === null && s.child.signalCode === null) {
      s.child.kill('SIGKILL');
      await s.exited;
    }
  }
  model?.dispose();
  await backend?.sync();
  backend?.dispose();
  restoreRealm();
  tmp.cleanup();
});

describe('POST /predict', () => {
  test('one image: 200, the label the model gives in-process, 10 probabilities summing to 1', async () => {
    const r = await request(service.port, 'POST', '/predict', JSON.stringify(image(0)));
    expect(r.status).toBe(200);
    expect(r.headers!['content-type']).toBe('application/json');
    const local = await model.predict(Float32Array.from(image(0)));
    expect(r.json.predictions).toHaveLength(1);
    const [p] = r.json.predictions;
    expect(p.label).toBe(local.labels[0]);
    expect(p.probabilities).toHaveLength(10);
    expect(Math.abs(p.probabilities.reduce((a: number, b: number) => a + b, 0) - 1)).toBeLessThan(1e-5);
    // the service runs where --device auto puts it: the same CPU code here (same floats), or a GPU
    const digits = service.firstLine.includes('(cpu: ') ? 6 : 4;
    p.probabilities.forEach((v: number, j: number) => expect(v).toBeCloseTo(local.probabilities[j], digits));
  });

  test('a batch of 5 images (bare array and { images }) -> 5 predictions equal to the in-process ones', async () => {
    const images = [0, 1, 2, 3, 4].map(image);
    const local = await model.predict(Float32Array.from(images.flat()));
    for (const body of [images, { images }]) {
      const r = await request(service.port, 'POST', '/predict', JSON.stringify(body));
      expect(r.status).toBe(200);
      expect(r.json.predictions.map((p: { label: number }) => p.label)).toEqual(Array.from(local.labels));
      expect(r.json.predictions.every((p: { probabilities: number[] }) => p.probabilities.length === 10)).toBe(true);
    }
    // the model is a trained one: most of these are right
    const right = Array.from(local.labels).filter((l, i) => l === host.test.labels[i]).length;
    expect(right).toBeGreaterThanOrEqual(3);
  });

  test('20 concurrent requests of 1 to 3 images each get their own predictions', async () => {
    const bodies = Array.from({ length: 20 }, (_, i) => Array.from({ length: 1 + (i % 3) }, (_, j) => 10 + i * 3 + j));
    const all = [...new Set(bodies.flat())];
    const local = await model.predict(Float32Array.from(all.flatMap(image)));
    const expected = new Map(all.map((img, k) => [img, local.labels[k]]));
    const replies = await Promise.all(bodies.map((ids) => request(service.port, 'POST', '/predict', JSON.stringify(ids.map(image)))));
    replies.forEach((r, i) => {
      expect(r.status).toBe(200);
      expect(r.json.predictions.map((p: { label: number }) => p.label)).toEqual(bodies[i].map((id) => expected.get(id)));
    });
  });

  test('30 concurrent one-image requests share forward passes of at most --max-batch 8 images, each answered with its own image\'s prediction', async () => {
    const ids = Array.from({ length: 30 }, (_, i) => 100 + i);
    const alone: Awaited<ReturnType<LeNet5["predict"]>>[] = [];
    for (const id of ids) alone.push(await model.predict(Float32Array.from(image(id))));
    const agent = new http.Agent({ keepAlive: true, maxSockets: 30 });
    try {
      const replies = await Promise.all(ids.map((id) => request(batched.port, 'POST', '/predict', JSON.stringify(image(id)), { agent })));
      replies.forEach((r, i) => {
        expect(r.status).toBe(200);
        const [p] = r.json.predictions;
        expect(p.label).toBe(alone[i].labels[0]);
        // the same CPU code on both sides, and a row's floats do not depend on its batch (test/predictor.test.ts)
        expect(p.probabilities).toEqual(Array.from(alone[i].probabilities));
      });
      const health = await request(batched.port, 'GET', '/health', undefined, { agent });
      const b = health.json.batching;
      expect(b).toEqual({ maxBatch: 8, maxDelayMs: 50, calls: 30, images: 30, runs: b.runs, largestBatch: b.largestBatch });
      expect(b.largestBatch).toBeLessThanOrEqual(8);
      expect(b.largestBatch).toBeGreaterThan(1);
      expect(b.runs).toBeGreaterThanOrEqual(4);
      expect(b.runs).toBeLessThan(30);
    } finally {
      agent.destroy();
    }
  });

  const zeros = () => new Array(PIXELS).fill(0);
  const bad: [string, string | (() => string), string][] = [
    ['wrong length', () => JSON.stringify(zeros().slice(1)), 'image 0 has 783 values, expected 784 (28x28)'],
    ['a pixel 255', () => JSON.stringify([255, ...zeros().slice(1)]), 'pixel 0 of image 0 is 255, expected a number in [0, 1] (divide 0..255 values by 255)'],
    ['a negative pixel', () => JSON.stringify([...zeros().slice(1), -0.5]), 'pixel 783 of image 0 is -0.5, expected a number in [0, 1] (divide 0..255 values by 255)'],
    ['a null pixel', () => JSON.stringify([[...zeros()], [0, 0, 0, null, ...zeros().slice(4)]]), 'pixel 3 of image 1 is null, expected a number in [0, 1] (divide 0..255 values by 255)'],
    ['a string pixel', () => JSON.stringify([0, 0, 0, 0, 0, '0.5', ...zeros().slice(6)]), 'pixel 5 of image 0 is "0.5", expected a number in [0, 1] (divide 0..255 values by 255)'],
    ['a pixel 1e999 (Infinity to JSON.parse)', () => `[0,0,0,1e999${',0'.repeat(780)}]`, 'pixel 3 of image 0 is Infinity (a number too large for a double, like 1e999), expected a number in [0, 1] (divide 0..255 values by 255)'],
    ['a pixel -1e999', () => `[${JSON.stringify(zeros())},[-1e999${',0'.repeat(783)}]]`, 'pixel 0 of image 1 is -Infinity (a number too large for a double, like 1e999), expected a number in [0, 1] (divide 0..255 values by 255)'],
    ['{ images: "x" }', '{"images":"x"}', 'body must be a JSON array of 784 pixel values, an array of such arrays, or { "images": ... }'],
    ['a number', '42', 'body must be a JSON array of 784 pixel values, an array of such arrays, or { "images": ... }'],
    ['an empty array', '[]', 'no images in the body'],
    ['an image that is not an array', () => JSON.stringify([zeros(), 'x']), 'image 1 is not an array of pixel values'],
  ];
  test.each(bad)('400 for %s', async (_what, body, message) => {
    const r = await request(service.port, 'POST', '/predict', typeof body === 'function' ? body() : body);
    expect({ status: r.status, json: r.json }).toEqual({ status: 400, json: { error: message } });
  });

  test('400 for malformed JSON, with the parser message', async () => {
    const r = await request(service.port, 'POST', '/predict', '[0, 0.5,');
    expect(r.status).toBe(400);
    expect(r.json.error.startsWith('body is not valid JSON')).toBe(true);
    const r2 = await request(service.port, 'POST', '/predict', '');
    expect(r2.status).toBe(400);
    expect(r2.json.error.startsWith('body is not valid JSON')).toBe(true);
  });
});

describe('oversized requests -> 413', () => {
  test('more images than --max-images', async () => {
    const zeros = new Array(PIXELS).fill(0);
    const r = await request(limited.port, 'POST', '/predict', JSON.stringify([zeros, zeros, zeros]));
    expect({ status: r.status, json: r.json }).toEqual({ status: 413, json: { error: '3 images in one request; the limit is 2' } });
    const ok = await request(limited.port, 'POST', '/predict', JSON.stringify([image(0), image(1)]));
    expect(ok.status).toBe(200);
  });

  test('a body with a content-length over the limit (max-images * 7840 + 4096 bytes)', async () => {
    // --max-images 2: 2 * 784 * 10 + 4096 = 19776 bytes
    const body = JSON.stringify([image(0)]) + ' '.repeat(19776);
    const r = await request(limited.port, 'POST', '/predict', body);
    expect({ status: r.status, json: r.json }).toEqual({ status: 413, json: { error: `body of ${Buffer.byteLength(body)} bytes is over the 19776-byte limit` } });
    // the default limit (1000 images): refused on the headers alone, before any byte of the body
    const r2 = await request(service.port, 'POST', '/predict', undefined, { headersOnly: true, declaredLength: 1000 * 784 * 10 + 4096 + 1 });
    expect({ status: r2.status, json: r2.json }).toEqual({ status: 413, json: { error: 'body of 7844097 bytes is over the 7844096-byte limit' } });
  });

  // BUG (fails until fixed): without a content-length (chunked upload), readBody() calls
  // req.destroy() when the limit is passed, which destroys the socket before the 413 can be
  // written: the client gets ECONNRESET ("socket hang up") instead of the documented 413.
  test('a chunked body (no content-length) over the limit is answered 413, not a reset connection', async () => {
    const body = JSON.stringify([image(0)]) + ' '.repeat(20000);
    const r = await request(limited.port, 'POST', '/predict', body, { chunked: true });
    expect({ status: r.status, json: r.json, error: r.error }).toEqual({ status: 413, json: { error: 'body is over the 19776-byte limit' }, error: undefined });
  });

  test('the service keeps answering after all of that', async () => {
    for (const s of [service, limited]) {
      const r = await request(s.port, 'POST', '/predict', JSON.stringify(image(7)));
      expect(r.status).toBe(200);
    }
  });
});

describe('other routes', () => {
  test('GET /health -> 200 { ok: true, device, model }', async () => {
    const r = await request(service.port, 'GET', '/health');
    expect(r.status).toBe(200);
    expect(r.json).toEqual({
      ok: true,
      device: expect.any(String),
      model: { nkerns: [20, 50], hidden: 500, imageSize: 28, classes: 10, seed: 23455 },
      batching: { maxBatch: 256, maxDelayMs: 2, calls: expect.any(Number), images: expect.any(Number), runs: expect.any(Number), largestBatch: expect.any(Number) },
    });
    expect(service.firstLine).toContain(r.json.device);
  });

  test('404 for an unknown route, 405 for a wrong method', async () => {
    const r = await request(service.port, 'GET', '/nope');
    expect({ status: r.status, json: r.json }).toEqual({ status: 404, json: { error: 'no route /nope; use POST /predict or GET /health' } });
    const r2 = await request(service.port, 'GET', '/predict');
    expect({ status: r2.status, json: r2.json }).toEqual({ status: 405, json: { error: 'use POST /predict' } });
    const r3 = await request(service.port, 'POST', '/health', '{}');
    expect({ status: r3.status, json: r3.json }).toEqual({ status: 405, json: { error: 'use GET /health' } });
  });
});

describe('a flood of requests -> 503 with Retry-After, memory bounded', () => {
  test('100 concurrent requests of 1000 images (7.8 MB each) at --max-concurrent 2 --max-queued 4', async () => {
    // 1000 test images, every pixel written with 9 characters: a body just under the default limit
    const texts = Array.from({ length: 1000 }, (_, i) => Array.from(host.test.images.subarray(i * PIXELS, (i + 1) * PIXELS), (v) => (v / 255).toFixed(7)));
    const body = Buffer.from(`[${texts.map((t) => `[${t.join(',')}]`).join(',')}]`);
    expect(body.length).toBeLessThanOrEqual(1000 * 784 * 10 + 4096);
    const local = await model.predict(Float32Array.from(texts.flat(), Number));
    const before = memory(busy.child.pid!);
    const replies = await Promise.all(Array.from({ length: 100 }, () => request(busy.port, 'POST', '/predict', body)));
    const after = memory(busy.child.pid!);

    expect(replies.filter((r) => r.error !== undefined)).toEqual([]);
    const ok = replies.filter((r) => r.status === 200);
    const refused = replies.filter((r) => r.status === 503);
    expect(ok.length + refused.length).toBe(100);
    // the first 2 + 4 to arrive are admitted; the rest arrive while those are at work
    expect(ok.length).toBeGreaterThanOrEqual(6);
    expect(refused.length).toBeGreaterThanOrEqual(1);
    for (const r of ok) {
      expect(r.json.predictions.map((p: { label: number }) => p.label)).toEqual(Array.from(local.labels));
      r.json.predictions[999].probabilities.forEach((v: number, j: number) => expect(v).toBeCloseTo(local.probabilities[999 * 10 + j], 6));
    }
    for (const r of refused) {
      expect({ json: r.json, retryAfter: r.headers!['retry-after'], connection: r.headers!.connection }).toEqual({
        json: { error: 'busy (2 requests in progress and 4 waiting); retry in 1 s' },
        retryAfter: '1',
        connection: 'close',
      });
    }
    if (before && after) {
      // Bounded: about 210 MiB over the idle service here. Unbounded (every request read and
      // parsed at once), the same flood took it about 950 MiB over.
      expect(after.peak - before.rss).toBeLessThan(450);
    }
    const again = await request(busy.port, 'POST', '/predict', JSON.stringify(image(0)));
    expect(again.status).toBe(200);
  });
});

describe('malformed request targets -> 400 naming the target', () => {
  const targets: [string, string][] = [
    ['http://[', 'request target "http://[" is not a valid URL'],
    ['http://[::1/predict', 'request target "http://[::1/predict" is not a valid URL'],
    ['http://x:99999/predict', 'request target "http://x:99999/predict" is not a valid URL'],
    ['http://', 'request target "http://" is not a valid URL'],
    ['ftp://x/predict', 'request target "ftp://x/predict" is neither a path (like /predict) nor an absolute http:// URL'],
  ];
  test.each(targets)('GET %s', async (target, message) => {
    const r = await rawRequest(service.port, `GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    expect(r).toEqual({ status: 400, json: { error: message } });
  });

  test('well-formed targets of every form still reach their routes', async () => {
    const get = (target: string, method = 'GET') => rawRequest(service.port, `${method} ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    expect((await get('http://x/health?verbose')).status).toBe(200);
    expect((await get('//[')).json).toEqual({ error: 'no route //[; use POST /predict or GET /health' });
    expect((await get('*', 'OPTIONS')).json).toEqual({ error: 'no route *; use POST /predict or GET /health' });
    // targets that are neither (predict, urn:x) Node.js's own parser already answers 400 (without a body)
    expect(await get('predict')).toEqual({ status: 400, json: undefined });
  });
});

describe('the command line', () => {
  const help = "Run 'node examples/http-service.js --help' for the options.\n";
  const badFlags: [string[], string][] = [
    [['--max-images=abc'], "--max-images must be an integer from 1 to 50000, got 'abc'"],
    [['--max-images=0'], "--max-images must be an integer from 1 to 50000, got '0'"],
    [['--max-images=-1'], "--max-images must be an integer from 1 to 50000, got '-1'"],
    [['--max-images='], "--max-images must be an integer from 1 to 50000, got ''"],
    [['--max-images', '50001'], "--max-images must be an integer from 1 to 50000, got '50001'"],
    [['--port', '65536'], "--port must be an integer from 0 to 65535, got '65536'"],
    [['--port', '80.5'], "--port must be an integer from 0 to 65535, got '80.5'"],
    [['--max-concurrent', '0'], "--max-concurrent must be an integer from 1 to 1024, got '0'"],
    [['--max-queued', 'many'], "--max-queued must be an integer from 0 to 100000, got 'many'"],
    [['--max-batch', '0'], "--max-batch must be an integer from 1 to 65536, got '0'"],
    [['--max-delay-ms', '1001'], "--max-delay-ms must be an integer from 0 to 1000, got '1001'"],
    [['--max-delay-ms', '0.5'], "--max-delay-ms must be an integer from 0 to 1000, got '0.5'"],
    [['--device', 'gpu'], "--device must be cpu, cuda or auto, got 'gpu'"],
    [['--host', ''], '--host needs an address (like 127.0.0.1 or ::)'],
    [['--max-image', '5'], "Unknown option '--max-image'"],
    [['extra'], "Unexpected argument 'extra'. This command does not take positional arguments"],
    [['--port'], "Option '--port <value>' argument missing"],
  ];
  test('every bad flag: "http-service: <message>" on stderr, exit status 2, before loading anything', async () => {
    const results = await Promise.all(badFlags.map(([args]) => runNode(['examples/http-service.js', '--checkpoint', CKPT, ...args])));
    results.forEach((r, i) => {
      expect({ args: badFlags[i][0], code: r.code, stdout: r.stdout, stderr: r.stderr }).toEqual({
        args: badFlags[i][0],
        code: 2,
        stdout: '',
        stderr: `http-service: ${badFlags[i][1]}\n${help}`,
      });
    });
    const none = await runNode(['examples/http-service.js', '--port', '0']);
    expect({ code: none.code, stderr: none.stderr }).toEqual({
      code: 2,
      stderr: `http-service: --checkpoint FILE is required (train one with: node lib/train.js --epochs 5 --save lenet5.safetensors)\n${help}`,
    });
  });

  test('--help prints the usage and exits 0', async () => {
    for (const flag of ['--help', '-h']) {
      const r = await runNode(['examples/http-service.js', flag]);
      expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
      expect(r.stdout.startsWith('Usage: node examples/http-service.js --checkpoint FILE [options]\n')).toBe(true);
      for (const name of ['--checkpoint', '--port', '--host', '--device', '--max-images', '--max-concurrent', '--max-queued', '--max-batch', '--max-delay-ms', '--help']) {
        expect(r.stdout).toContain(name);
      }
    }
  });
});

describe('createService options', () => {
  // The example itself, in this process (it loads lib/index.js; the addon only when a backend is made).
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { createService } = require('../examples/http-service.js') as {
    createService(model: unknown, options?: unknown): http.Server & { idle(): Promise<void>; predictor: { maxBatch: number; maxDelayMs: number; close(): Promise<void> } };
  };
  const bad: [string, () => unknown, string, string][] = [
    ['maxConcurrent 0', () => ({ maxConcurrent: 0 }), 'RangeError', 'createService: maxConcurrent must be an integer from 1 to 1024, got 0'],
    ['maxConcurrent "4"', () => ({ maxConcurrent: '4' }), 'TypeError', 'createService: maxConcurrent must be an integer from 1 to 1024, got "4"'],
    ['maxQueued -1', () => ({ maxQueued: -1 }), 'RangeError', 'createService: maxQueued must be an integer from 0 to 100000, got -1'],
    ['maxQueued 1.5', () => ({ maxQueued: 1.5 }), 'RangeError', 'createService: maxQueued must be an integer from 0 to 100000, got 1.5'],
    ['maxImages NaN', () => ({ maxImages: NaN }), 'RangeError', 'createService: maxImages must be an integer from 1 to 50000, got NaN'],
    ['maxBatch 0', () => ({ maxBatch: 0 }), 'RangeError', 'createService: maxBatch must be an integer from 1 to 65536, got 0'],
    ['maxDelayMs 2.5', () => ({ maxDelayMs: 2.5 }), 'RangeError', 'createService: maxDelayMs must be an integer from 0 to 1000, got 2.5'],
    ['maxBodyBytes 0', () => ({ maxBodyBytes: 0 }), 'RangeError', `createService: maxBodyBytes must be an integer from 1 to ${require('buffer').constants.MAX_STRING_LENGTH}, got 0`],
    ['an unknown option', () => ({ maxconcurrent: 2 }), 'TypeError', "createService: unknown option 'maxconcurrent' (known: maxImages, maxConcurrent, maxQueued, maxBatch, maxDelayMs, maxBodyBytes)"],
    ['options null', () => null, 'TypeError', 'createService: options must be an object'],
  ];
  test.each(bad)('%s', (_what, options, name, message) => {
    const e = thrown(() => createService(model, options()));
    expect({ name: e.name, message: e.message }).toEqual({ name, message });
  });

  test('no model', () => {
    const e = thrown(() => createService(undefined));
    expect({ name: e.name, message: e.message }).toEqual({ name: 'TypeError', message: 'createService: model must be a loaded LeNet5 (LeNet5.load(file, { backend }))' });
  });

  test('good options give a server that is not listening yet and is idle, and its predictor', async () => {
    const server = createService(model, { maxConcurrent: 1, maxQueued: 0, maxImages: 1, maxBatch: 1, maxDelayMs: 0 });
    expect(server).toBeInstanceOf(http.Server);
    expect(server.listening).toBe(false);
    await server.idle();
    expect({ maxBatch: server.predictor.maxBatch, maxDelayMs: server.predictor.maxDelayMs }).toEqual({ maxBatch: 1, maxDelayMs: 0 });
    await server.predictor.close();
  });
});

describe('shutdown', () => {
  test('SIGTERM with an idle keep-alive connection open: exits within 2 s, status 0', async () => {
    const s = await startService(['--device', 'cpu']);
    const agent = new http.Agent({ keepAlive: true });
    try {
      const r = await request(s.port, 'GET', '/health', undefined, { agent });
      expect({ status: r.status, connection: r.headers!.connection }).toEqual({ status: 200, connection: 'keep-alive' });
      const t0 = Date.now();
      s.child.kill('SIGTERM');
      expect(await s.exited).toEqual({ code: 0, signal: null });
      expect(Date.now() - t0).toBeLessThan(2000);
      expect(s.stderr).toBe('');
    } finally {
      agent.destroy();
    }
  });

  test('SIGTERM during a request on a keep-alive connection: an idle keep-alive connection is closed at once, the request is answered (connection: close), then the process exits at once', async () => {
    const s = await startService(['--device', 'cpu']);
    const agent = new http.Agent({ keepAlive: true });
    const idle = await idleKeepAlive(s.port);
    try {
      const images = [0, 1, 2, 3, 4].map(image);
      const local = await model.predict(Float32Array.from(images.flat()));
      const body = Buffer.from(JSON.stringify(images));
      const reply = new Promise<Reply & { at: number }>((resolve, reject) => {
        const req = http.request({ host: '127.0.0.1', port: s.port, method: 'POST', path: '/predict', agent, headers: { 'content-length': body.length } }, (res) => {
          let text = '';
          res.setEncoding('utf8').on('data', (d: string) => (text += d));
          res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, json: JSON.parse(text), at: Date.now() }));
        });
        req.on('error', reject);
        // half the body now, SIGTERM while the service waits for the rest, then the rest
        req.write(body.subarray(0, body.length >> 1));
        sleep(300)
          .then(() => s.child.kill('SIGTERM'))
          .then(() => sleep(300))
          .then(() => {
            expect(s.child.exitCode).toBe(null); // still there: the request is in flight
            // the server closed the idle connection (closeIdleConnections), not the process's exit
            expect(idle.closed).toBe(true);
            req.end(body.subarray(body.length >> 1));
          });
      });
      const r = await reply;
      expect({ status: r.status, connection: r.headers!.connection }).toEqual({ status: 200, connection: 'close' });
      expect(r.json.predictions.map((p: { label: number }) => p.label)).toEqual(Array.from(local.labels));
      expect(await s.exited).toEqual({ code: 0, signal: null });
      expect(Date.now() - r.at).toBeLessThan(2000);
      expect(s.stderr).toBe('');
    } finally {
      agent.destroy();
      idle.socket.destroy();
    }
  });
});

test('SIGTERM stops the service cleanly (exit code 0, nothing on stderr)', async () => {
  limited.child.kill('SIGTERM');
  const { code, signal } = await limited.exited;
  expect({ code, signal }).toEqual({ code: 0, signal: null });
  expect(limited.stderr).toBe('');
});
