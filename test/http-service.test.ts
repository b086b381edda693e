/**
 * examples/http-service.js as a user runs it: a model trained here (3000 images, 1 epoch) is saved,
 * the service is started as a child process on a free port, and its routes are exercised over
 * HTTP: predictions equal the in-process ones, every malformed request gets its status and
 * message, oversized requests 413, and SIGTERM stops it cleanly.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'child_process';
import * as http from 'http';
import * as path from 'path';
import { type Backend, createBackend } from '../lib/backend';
import { loadMnist } from '../lib/data';
import { LeNet5 } from '../lib/lenet5';
import { type MnistHost, loadMnistFiles } from '../lib/mnist';
import { SGDTrainer } from '../lib/trainer';
import { ROOT, ensureCompiledLib, tmpDir, tolerateForeignTypedArrays } from './integration-helpers';

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
 * One request on a fresh connection. `body` is sent with a content-length unless `chunked`;
 * `headersOnly` sends just the headers (declaring `declaredLength`) and waits for the answer.
 */
function request(
  port: number,
  method: string,
  route: string,
  body?: string,
  options: { chunked?: boolean; headersOnly?: boolean; declaredLength?: number } = {},
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
    const req = http.request({ host: '127.0.0.1', port, method, path: route, headers, agent: false }, (res) => {
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

let host: MnistHost;
let backend: Backend;
let model: LeNet5;
let service: Service;
let limited: Service; // --max-images 2
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
  [service, limited] = await Promise.all([startService(), startService(['--max-images', '2'])]);
}, 120_000);

afterAll(async () => {
  for (const s of [service, limited]) {
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

  const zeros = () => new Array(PIXELS).fill(0);
  const bad: [string, string | (() => string), string][] = [
    ['wrong length', () => JSON.stringify(zeros().slice(1)), 'image 0 has 783 values, expected 784 (28x28)'],
    ['a pixel 255', () => JSON.stringify([255, ...zeros().slice(1)]), 'pixel 0 of image 0 is 255, expected a number in [0, 1] (divide 0..255 values by 255)'],
    ['a negative pixel', () => JSON.stringify([...zeros().slice(1), -0.5]), 'pixel 783 of image 0 is -0.5, expected a number in [0, 1] (divide 0..255 values by 255)'],
    ['a null pixel', () => JSON.stringify([[...zeros()], [0, 0, 0, null, ...zeros().slice(4)]]), 'pixel 3 of image 1 is null, expected a number in [0, 1] (divide 0..255 values by 255)'],
    ['a string pixel', () => JSON.stringify([0, 0, 0, 0, 0, '0.5', ...zeros().slice(6)]), 'pixel 5 of image 0 is "0.5", expected a number in [0, 1] (divide 0..255 values by 255)'],
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
    expect(r.json).toEqual({ ok: true, device: expect.any(String), model: { nkerns: [20, 50], hidden: 500, imageSize: 28, classes: 10, seed: 23455 } });
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

test('SIGTERM stops the service cleanly (exit code 0, nothing on stderr)', async () => {
  limited.child.kill('SIGTERM');
  const { code, signal } = await limited.exited;
  expect({ code, signal }).toEqual({ code: 0, signal: null });
  expect(limited.stderr).toBe('');
});
