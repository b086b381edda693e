#!/usr/bin/env node
/**
 * An HTTP inference service on lenet-cudnn: loads a checkpoint and answers
 *
 *   POST /predict   body: one image (a JSON array of 784 pixel values in [0, 1], row-major 28x28)
 *                   or a batch (an array of such arrays), or { "images": <either> }
 *                   -> 200 { "predictions": [{ "label": 7, "probabilities": [10 numbers] }, ...] }
 *   GET  /health    -> 200 { "ok": true, "device": "...", "model": {...} }
 *
 * Malformed bodies get 400 with a message saying what is wrong; bodies over the size limit 413.
 * Prediction runs on the backend's own thread, so requests never block the event loop.
 *
 *   node examples/http-service.js --checkpoint lenet5.safetensors [--port 8080] [--host 127.0.0.1]
 *                                 [--device auto|cpu|cuda] [--max-images 1000]
 *
 * Train a checkpoint first: node lib/train.js --epochs 5 --save lenet5.safetensors
 */
'use strict';
const http = require('http');
const { parseArgs } = require('util');
const { createBackend, LeNet5 } = require('..');

const PIXELS = 28 * 28;

/** A client error: answered with `status` and `{ error: message }`. */
class HttpError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** Reads the body, refusing more than `limit` bytes (413) as soon as they arrive. */
function readBody(req, limit) {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    if (declared > limit) {
      reject(new HttpError(413, `body of ${declared} bytes is over the ${limit}-byte limit`));
      return;
    }
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
  });
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
        throw new HttpError(400, `pixel ${j} of image ${i} is ${JSON.stringify(v)}, expected a number in [0, 1] (divide 0..255 values by 255)`);
      }
      pixels[i * PIXELS + j] = v;
    }
  });
  return pixels;
}

/**
 * Creates (does not start) the HTTP server for a loaded model.
 * @param {LeNet5} model
 * @param {{ maxImages?: number, maxBodyBytes?: number }} [options]
 */
function createService(model, options = {}) {
  const maxImages = options.maxImages ?? 1000;
  // About 10 bytes per pixel value of JSON, plus slack.
  const maxBodyBytes = options.maxBodyBytes ?? maxImages * PIXELS * 10 + 4096;
  const send = (res, status, payload) => {
    const text = JSON.stringify(payload);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  };
  return http.createServer(async (req, res) => {
    try {
      const url = new URL(req.url, 'http://localhost');
      if (url.pathname === '/health') {
        if (req.method !== 'GET') throw new HttpError(405, 'use GET /health');
        send(res, 200, { ok: true, device: model.backend.describe(), model: model.config });
        return;
      }
      if (url.pathname !== '/predict') throw new HttpError(404, `no route ${url.pathname}; use POST /predict or GET /health`);
      if (req.method !== 'POST') throw new HttpError(405, 'use POST /predict');
      const raw = await readBody(req, maxBodyBytes);
      let body;
      try {
        body = JSON.parse(raw.toString('utf8'));
      } catch (e) {
        throw new HttpError(400, `body is not valid JSON: ${e.message}`);
      }
      const images = parseImages(body, maxImages);
      const { labels, probabilities, count } = await model.predict(images);
      const classes = model.config.classes;
      const predictions = [];
      for (let i = 0; i < count; i++) {
        predictions.push({ label: labels[i], probabilities: Array.from(probabilities.subarray(i * classes, (i + 1) * classes)) });
      }
      send(res, 200, { predictions });
    } catch (err) {
      if (err instanceof HttpError) {
        if (err.status === 413) res.setHeader('connection', 'close');
        send(res, err.status, { error: err.message });
      } else {
        send(res, 500, { error: `internal error: ${err.message}` });
      }
    }
  });
}

async function main(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      checkpoint: { type: 'string' },
      port: { type: 'string', default: '8080' },
      host: { type: 'string', default: '127.0.0.1' },
      device: { type: 'string', default: 'auto' },
      'max-images': { type: 'string', default: '1000' },
    },
  });
  if (!values.checkpoint) throw new Error('--checkpoint FILE is required (train one with: node lib/train.js --epochs 5 --save lenet5.safetensors)');
  const backend = createBackend({ device: values.device });
  const model = await LeNet5.load(values.checkpoint, { backend });
  const server = createService(model, { maxImages: Number(values['max-images']) });
  server.listen(Number(values.port), values.host, () => {
    const { address, port } = server.address();
    console.log(`lenet5 service listening on http://${address}:${port} (${backend.kind}: ${backend.describe()})`);
  });
  const stop = () => server.close(() => {
    model.dispose();
    backend.dispose();
  });
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

module.exports = { createService, parseImages, HttpError };

if (require.main === module) {
  main(process.argv.slice(2)).catch((e) => {
    console.error(`http-service: ${e.message}`);
    process.exitCode = 1;
  });
}
