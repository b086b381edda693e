#!/usr/bin/env node
/**
 * An HTTP inference service on lenet-cudnn: loads a checkpoint and answers
 *
 *   POST /predict   body: one image (a JSON array of 784 pixel values in [0, 1], row-major 28x28)
 *                   or a batch (an array of such arrays), or { "images": <either> }
 *                   -> 200 { "predictions": [{ "label": 7, "probabilities": [10 numbers] }, ...] }
 *   GET  /health    -> 200 { "ok": true, "device": "...", "model": {...} }
 *
 * Malformed requests get 400 with a message saying what is wrong; bodies over the size limit 413.
 * Prediction runs on the backend's own thread, so requests never block the event loop. Concurrent
 * requests share forward passes through a model.predictor(): a request that comes while no pass
 * is running starts one at once (with whatever came in the same turn of the event loop); those
 * that come while a pass runs wait for it, at most --max-delay-ms, and run together as the next
 * pass of up to --max-batch images (--max-batch 1: one pass per request).
 *
 * Memory is bounded: at most --max-concurrent requests to /predict are read, parsed and predicted
 * at once (each can hold its body, the parsed JSON and the pixels: tens of MB at --max-images),
 * up to --max-queued more wait without reading their bodies, and any beyond that get 503 with
 * Retry-After at once. SIGTERM/SIGINT stop accepting, let the requests in progress finish, and exit.
 *
 * Run with --help for the options. Train a checkpoint first:
 *   node lib/train.js --epochs 5 --save lenet5.safetensors
 */
'use strict';
const { constants: bufferConstants } = require('buffer');
const http = require('http');
const { parseArgs } = require('util');
const { createBackend, LeNet5 } = require('lenet-cudnn');

const PIXELS = 28 * 28;

const USAGE = `Usage: node examples/http-service.js --checkpoint FILE [options]

Serves predictions of a LeNet5 checkpoint: POST /predict (JSON images), GET /health.

Options:
  --checkpoint FILE     the model (safetensors, from node lib/train.js --save FILE); required
  --port N              TCP port, 0 to 65535 (default 8080; 0 picks a free one)
  --host H              address to listen on (default 127.0.0.1)
  --device D            cpu, cuda or auto (default auto: CUDA when usable, else the CPU)
  --max-images N        images in one request, 1 to 50000 (default 1000); the body limit is
                        about 7840 bytes an image
  --max-concurrent N    requests to /predict read, parsed and predicted at once, 1 to 1024
                        (default 4)
  --max-queued N        more requests that wait their turn, 0 to 100000 (default 64); beyond
                        that the service answers 503 with Retry-After
  --max-batch N         images of concurrent requests predicted in one forward pass, 1 to 65536
                        (default 256; 1 turns batching off). Only requests admitted at once
                        (--max-concurrent) can share a pass: raise it for many small requests
  --max-delay-ms N      the longest a request that comes while a pass is running waits for
                        others to share the next one, 0 to 1000 ms (default 2; a request
                        that finds the model idle does not wait)
  -h, --help            show this help`;

/** The service's integer limits: createService's option, the CLI flag, the allowed range, the default. */
const LIMITS = {
  maxImages: { flag: '--max-images', min: 1, max: 50000, default: 1000 },
  maxConcurrent: { flag: '--max-concurrent', min: 1, max: 1024, default: 4 },
  maxQueued: { flag: '--max-queued', min: 0, max: 100000, default: 64 },
  maxBatch: { flag: '--max-batch', min: 1, max: 65536, default: 256 },
  maxDelayMs: { flag: '--max-delay-ms', min: 0, max: 1000, default: 2 },
  // A body becomes one string, so it cannot be longer than the longest string.
  maxBodyBytes: { min: 1, max: bufferConstants.MAX_STRING_LENGTH },
};

/** Seconds a client told 503 should wait before it retries. */
const RETRY_AFTER_SECONDS = 1;
/** How long the body of a refused request is read (and dropped) before its connection closes. */
const LINGER_MS = 5_000;
/** After SIGTERM/SIGINT, connections still open after this long are cut. */
const SHUTDOWN_GRACE_MS = 10_000;

/** A client error: answered with `status`, `{ error: message }` and any extra `headers`. */
class HttpError extends Error {
  constructor(status, message, headers = {}) {
    super(message);
    this.status = status;
    this.headers = headers;
  }
}

/** A bad command line: printed as `http-service: message`, exit status 2. */
class UsageError extends Error {}

/** The path of a request target: origin-form (/predict?x) or absolute-form (http://host/predict); HttpError(400) otherwise. */
function targetPath(target) {
  if (target === '*') return target; // asterisk-form (OPTIONS *): valid, but no route here
  const shown = JSON.stringify(target);
  if (target.startsWith('/')) return new URL(`http://localhost${target}`).pathname;
  if (!/^https?:\/\//i.test(target)) {
    throw new HttpError(400, `request target ${shown} is neither a path (like /predict) nor an absolute http:// URL`);
  }
  try {
    return new URL(target).pathname;
  } catch {
    throw new HttpError(400, `request target ${shown} is not a valid URL`);
  }
}

/**
 * Admission control for the work that takes memory (reading, parsing and predicting a body): at
 * most `maxConcurrent` requests at once and `maxQueued` more waiting their turn. `enter` answers
 * null at once when the queue is full, so the caller can refuse before reading a byte of the body.
 */
class Gate {
  constructor(maxConcurrent, maxQueued) {
    this.maxConcurrent = maxConcurrent;
    this.maxQueued = maxQueued;
    this.active = 0;
    this.waiting = []; // the resolve functions of the queued requests, first come first served
    this.whenIdle = [];
  }

  /**
   * null when the queue is full; else a promise: true when the request may start (call `leave`
   * when it is done), false when its connection closed while it waited.
   */
  enter(res) {
    if (this.active < this.maxConcurrent) {
      this.active++;
      return Promise.resolve(true);
    }
    if (this.waiting.length >= this.maxQueued) return null;
    return new Promise((resolve) => {
      const start = () => {
        res.off('close', gone);
        resolve(true);
      };
      const gone = () => {
        this.waiting.splice(this.waiting.indexOf(start), 1);
        resolve(false);
      };
      this.waiting.push(start);
      res.once('close', gone);
    });
  }

  leave() {
    const next = this.waiting.shift();
    if (next) next(); // the slot passes to the next in line
    else if (--this.active === 0) this.whenIdle.splice(0).forEach((resolve) => resolve());
  }

  /** Resolves when no request holds or waits for a slot. */
  idle() {
    return this.active === 0 ? Promise.resolve() : new Promise((resolve) => this.whenIdle.push(resolve));
  }
}

/** HttpError(413) when the headers declare a body over `limit` bytes. */
function checkDeclaredLength(req, limit) {
  const declared = Number(req.headers['content-length']);
  if (declared > limit) throw new HttpError(413, `body of ${declared} bytes is over the ${limit}-byte limit`);
}

/** Reads the body, refusing more than `limit` bytes (413) as soon as they arrive. */
function readBody(req, limit) {
  return new Promise((resolve, reject) => {
    let chunks = [];
    let size = 0;
    const onData = (chunk) => {
      size += chunk.length;
      if (size > limit) {
        // Stop collecting but keep reading (and discarding) so the 413 reaches the client.
        chunks = [];
        req.removeListener('data', onData);
        req.resume();
        reject(new HttpError(413, `body is over the ${limit}-byte limit`));
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
    req.on('close', () => reject(new Error('the client closed the connection before the end of the body')));
  });
}

/** A pixel value as the client wrote it: JSON for anything but the infinities an overflowing number (1e999) parses to. */
function showValue(v) {
  if (typeof v === 'number' && !Number.isFinite(v)) return `${v} (a number too large for a double, like 1e999)`;
  return JSON.stringify(v);
}

/** Turns a parsed JSON body into one Float32Array of n x 784 pixels, or throws HttpError(400). */
function parseImages(body, maxImages) {
  let images = body && typeof body === 'object' && !Array.isArray(body) ? body.images : body;
  if (!Array.isArray(images)) {
    throw new HttpError(400, 'body must be a JSON array of 784 pixel values, an array of such arrays, or { "images": ... }');
  }
  if (images.length > 0 && !Array.isArray(images[0])) images = [images]; // one image
  if (images.length === 0) throw new HttpError(400, 'no images in the body');
  if (images.length > maxImages) throw new HttpError(413, `${images.length} images in one request; the limit is ${maxImages}`);
  const pixels = new Float32Array(images.length * PIXELS);
  images.forEach((image, i) => {
    if (!Array.isArray(image)) throw new HttpError(400, `image ${i} is not an array of pixel values`);
    if (image.length !== PIXELS) throw new HttpError(400, `image ${i} has ${image.length} values, expected ${PIXELS} (28x28)`);
    for (let j = 0; j < PIXELS; j++) {
      const v = image[j];
      if (typeof v !== 'number' || !(v >= 0 && v <= 1)) {
        throw new HttpError(400, `pixel ${j} of image ${i} is ${showValue(v)}, expected a number in [0, 1] (divide 0..255 values by 255)`);
      }
      pixels[i * PIXELS + j] = v;
    }
  });
  return pixels;
}

/** `value` if it is an integer in the range LIMITS gives `name`; else a TypeError (not a number) or RangeError naming it. */
function checkLimit(name, value) {
  const { min, max } = LIMITS[name];
  if (Number.isInteger(value) && value >= min && value <= max) return value;
  const Err = typeof value === 'number' ? RangeError : TypeError;
  throw new Err(`createService: ${name} must be an integer from ${min} to ${max}, got ${typeof value === 'string' ? JSON.stringify(value) : String(value)}`);
}

/**
 * Creates (does not start) the HTTP server for a loaded model. The server gets two properties
 * more: `idle()`, a promise that resolves when no request is being read, parsed or predicted, and
 * `predictor`, the model.predictor() that batches the requests' images (close it before disposing
 * of the model).
 * @param {LeNet5} model
 * @param {{ maxImages?: number, maxBodyBytes?: number, maxConcurrent?: number, maxQueued?: number, maxBatch?: number, maxDelayMs?: number }} [options]
 */
function createService(model, options = {}) {
  if (!model || typeof model.predictor !== 'function' || !model.config) {
    throw new TypeError('createService: model must be a loaded LeNet5 (LeNet5.load(file, { backend }))');
  }
  if (typeof options !== 'object' || options === null) throw new TypeError('createService: options must be an object');
  for (const key of Object.keys(options)) {
    if (!(key in LIMITS)) throw new TypeError(`createService: unknown option '${key}' (known: ${Object.keys(LIMITS).join(', ')})`);
  }
  const value = (name) => checkLimit(name, options[name] ?? LIMITS[name].default);
  const maxImages = value('maxImages');
  // About 10 bytes per pixel value of JSON, plus slack.
  const maxBodyBytes = checkLimit('maxBodyBytes', options.maxBodyBytes ?? maxImages * PIXELS * 10 + 4096);
  const gate = new Gate(value('maxConcurrent'), value('maxQueued'));
  const predictor = model.predictor({ maxBatch: value('maxBatch'), maxDelayMs: value('maxDelayMs') });

  /**
   * Answers with JSON. `unreadBody`: the request whose body is still arriving, unread: the
   * connection closes, but only once the rest of the body has arrived (and been dropped), or after
   * LINGER_MS, as closing a socket with data unread resets the connection, and the client would
   * get ECONNRESET/EPIPE instead of the answer.
   */
  const send = (res, status, payload, headers = {}, unreadBody = null) => {
    const text = JSON.stringify(payload);
    // Once the server is closing, no connection is kept alive for another request.
    if (unreadBody || !server.listening) headers = { ...headers, connection: 'close' };
    res.writeHead(status, { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    if (!unreadBody) {
      res.end(text);
      return;
    }
    res.write(text);
    const end = () => {
      clearTimeout(timer);
      if (!res.writableEnded) res.end();
    };
    const timer = setTimeout(end, LINGER_MS);
    unreadBody.once('end', end).once('close', end).resume();
  };

  const predict = async (req, res) => {
    const raw = await readBody(req, maxBodyBytes);
    let body;
    try {
      body = JSON.parse(raw.toString('utf8'));
    } catch (e) {
      throw new HttpError(400, `body is not valid JSON: ${e.message}`);
    }
    const images = parseImages(body, maxImages);
    const { labels, probabilities, count } = await predictor.predict(images);
    const classes = model.config.classes;
    const predictions = [];
    for (let i = 0; i < count; i++) {
      predictions.push({ label: labels[i], probabilities: Array.from(probabilities.subarray(i * classes, (i + 1) * classes)) });
    }
    send(res, 200, { predictions });
  };

  const server = http.createServer(async (req, res) => {
    try {
      const route = targetPath(req.url);
      if (route === '/health') {
        if (req.method !== 'GET') throw new HttpError(405, 'use GET /health');
        const batching = { maxBatch: predictor.maxBatch, maxDelayMs: predictor.maxDelayMs, ...predictor.stats };
        send(res, 200, { ok: true, device: model.backend.describe(), model: model.config, batching });
        return;
      }
      if (route !== '/predict') throw new HttpError(404, `no route ${route}; use POST /predict or GET /health`);
      if (req.method !== 'POST') throw new HttpError(405, 'use POST /predict');
      // Refusals are decided on the headers alone, before the body takes any memory.
      checkDeclaredLength(req, maxBodyBytes);
      const admitted = gate.enter(res);
      if (admitted === null) {
        const busy = `${gate.maxConcurrent} requests in progress and ${gate.maxQueued} waiting`;
        throw new HttpError(503, `busy (${busy}); retry in ${RETRY_AFTER_SECONDS} s`, { 'retry-after': String(RETRY_AFTER_SECONDS) });
      }
      if (!(await admitted)) return; // the client went away while it waited
      try {
        await predict(req, res);
      } finally {
        gate.leave();
      }
    } catch (err) {
      if (res.destroyed) return; // nobody to answer
      if (err instanceof HttpError) {
        const unread = (err.status === 413 || err.status === 503) && !req.complete;
        send(res, err.status, { error: err.message }, err.headers, unread ? req : null);
      } else {
        send(res, 500, { error: `internal error: ${err.message}` });
      }
    }
  });
  server.idle = () => gate.idle();
  server.predictor = predictor;
  return server;
}

/** Parses argv (without node and the script); throws UsageError on a bad command line. */
function parseCli(argv) {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        checkpoint: { type: 'string' },
        port: { type: 'string', default: '8080' },
        host: { type: 'string', default: '127.0.0.1' },
        device: { type: 'string', default: 'auto' },
        'max-images': { type: 'string', default: String(LIMITS.maxImages.default) },
        'max-concurrent': { type: 'string', default: String(LIMITS.maxConcurrent.default) },
        'max-queued': { type: 'string', default: String(LIMITS.maxQueued.default) },
        'max-batch': { type: 'string', default: String(LIMITS.maxBatch.default) },
        'max-delay-ms': { type: 'string', default: String(LIMITS.maxDelayMs.default) },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }));
  } catch (e) {
    throw new UsageError(e.message.replace(/\. To specify a positional argument.*$/s, ''));
  }
  const integer = (flag, min, max) => {
    const text = values[flag.slice(2)];
    if (!/^\d+$/.test(text) || Number(text) < min || Number(text) > max) {
      throw new UsageError(`${flag} must be an integer from ${min} to ${max}, got '${text}'`);
    }
    return Number(text);
  };
  const limit = (name) => integer(LIMITS[name].flag, LIMITS[name].min, LIMITS[name].max);
  const opts = {
    help: values.help,
    checkpoint: values.checkpoint,
    port: integer('--port', 0, 65535),
    host: values.host,
    device: values.device,
    service: Object.fromEntries(['maxImages', 'maxConcurrent', 'maxQueued', 'maxBatch', 'maxDelayMs'].map((name) => [name, limit(name)])),
  };
  if (!['cpu', 'cuda', 'auto'].includes(opts.device)) throw new UsageError(`--device must be cpu, cuda or auto, got '${opts.device}'`);
  if (opts.host.trim() === '') throw new UsageError('--host needs an address (like 127.0.0.1 or ::)');
  if (!opts.help && !opts.checkpoint) {
    throw new UsageError('--checkpoint FILE is required (train one with: node lib/train.js --epochs 5 --save lenet5.safetensors)');
  }
  return opts;
}

async function main(argv) {
  const opts = parseCli(argv);
  if (opts.help) {
    console.log(USAGE);
    return;
  }
  const backend = createBackend({ device: opts.device });
  const model = await LeNet5.load(opts.checkpoint, { backend });
  const server = createService(model, opts.service);
  const shutDown = async () => {
    await server.predictor.close();
    model.dispose();
    await backend.sync();
    backend.dispose();
  };
  server.on('error', (e) => {
    console.error(`http-service: cannot listen on ${opts.host}:${opts.port}: ${e.message}`);
    process.exitCode = 1;
    shutDown();
  });
  server.listen(opts.port, opts.host, () => {
    const { address, port } = server.address();
    console.log(`lenet5 service listening on http://${address}:${port} (${backend.kind}: ${backend.describe()})`);
  });
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    // Stop accepting; keep-alive connections that wait for a request are closed now (close()
    // alone does that only from Node.js 19), the others after their response.
    const closed = new Promise((resolve) => server.close(resolve));
    server.closeIdleConnections?.();
    setTimeout(() => server.closeAllConnections?.(), SHUTDOWN_GRACE_MS).unref();
    // A prediction can outlive its connection: dispose of the model only when none is running.
    await Promise.all([closed, server.idle()]);
    await shutDown();
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

module.exports = { createService, parseImages, parseCli, HttpError, UsageError, USAGE };

if (require.main === module) {
  main(process.argv.slice(2)).catch((e) => {
    console.error(`http-service: ${e.message}`);
    if (e instanceof UsageError) console.error("Run 'node examples/http-service.js --help' for the options.");
    process.exitCode = e instanceof UsageError ? 2 : 1;
  });
}
