/**
 * Native memory accounting: every allocation a backend makes is freed once every handle to it
 * (tensor, view, queued op) is gone, so `counters()` returns to zero after disposing everything and
 * `await backend.sync()`. Also dispose() idempotence, views keeping their storage alive, and the
 * use-after-dispose messages.
 */
import type { Backend } from '../lib/backend';
import { HiddenLayer, LeNetConvPoolLayer, LogisticRegression, ParameterArena } from '../lib/layers';
import { LeNet5 } from '../lib/lenet5';
import { SGD } from '../lib/optimizer';
import { RandomState } from '../lib/rng';
import type { Tensor } from '../lib/tensor';
import { trainStep } from '../lib/trainer';
import { describeEachBackend, makeBackend } from './backends';
import { TestRandom } from './reference';

function expectThrowMessage(fn: () => unknown, message: string): void {
  let error: unknown;
  try {
    fn();
  } catch (e) {
    error = e;
  }
  expect(error).toBeDefined();
  expect((error as Error).message).toBe(message);
}

async function live(be: Backend): Promise<{ liveBuffers: number; liveBytes: number }> {
  await be.sync();
  const { liveBuffers, liveBytes } = be.counters();
  return { liveBuffers, liveBytes };
}

describeEachBackend('memory', (getBackend, name) => {
  // The tests that count every buffer use backends made for the purpose, so none depends on what
  // ran before it (nor on when the garbage collector finalizes what another test left to it).
  test('a fresh backend has no live allocations, and none once everything made on it is disposed', async () => {
    const fresh = makeBackend(name);
    try {
      expect(await live(fresh)).toEqual({ liveBuffers: 0, liveBytes: 0 });
      const net = new LeNet5({ backend: fresh, nkerns: [3, 4], hidden: 7 });
      const x = fresh.tensor([2, 1, 28, 28], new TestRandom(401).uniform(2 * 28 * 28, 0, 1));
      net.forward(x);
      expect((await live(fresh)).liveBuffers).toBeGreaterThan(3);
      net.dispose();
      x.dispose();
      expect(await live(fresh)).toEqual({ liveBuffers: 0, liveBytes: 0 });
    } finally {
      fresh.dispose();
    }
  });

  test('LeNet5: create, train a few steps (views as inputs, several batch sizes), read, dispose -> back to the live buffers and bytes before', async () => {
    // A backend of its own: see makeBackend.
    const be = makeBackend(name);
    const before = await live(be);
    const rnd = new TestRandom(400);
    const net = new LeNet5({ backend: be, nkerns: [3, 4], hidden: 7 });
    const images = be.tensor([8, 1, 28, 28], rnd.uniform(8 * 28 * 28, 0, 1));
    const labels = be.tensor([8], rnd.labels(8, 10));
    const stats = be.zeros([2]);
    const sgd = new SGD(net.params(), { learningRate: 0.05, momentum: 0.9 }); // its velocity is freed too
    const views: Tensor[] = [];
    // batch sizes 2, 3, 4, 5: more sizes than the layers' buffer caches keep (3), so old
    // activation buffers are evicted and freed along the way
    let start = 0;
    for (const n of [2, 3, 4, 5, 2]) {
      start = (start + 1) % 3;
      const x = images.slice(start, n);
      const y = labels.slice(start, n);
      views.push(x, y);
      trainStep(net, sgd, x, y, stats);
    }
    const probs = net.forward(images, labels, stats);
    const p = await probs.read();
    expect(p.length).toBe(80);
    expect(p.every(Number.isFinite)).toBe(true);
    const s = await stats.read();
    expect(Number.isFinite(s[0])).toBe(true);
    expect((await live(be)).liveBuffers).toBeGreaterThan(3);

    net.dispose();
    sgd.dispose();
    for (const v of views) v.dispose();
    images.dispose();
    labels.dispose();
    stats.dispose();
    expect(await live(be)).toEqual(before);
    be.dispose();
  });

  test('one tensor is one buffer of at least 4 bytes per element; dispose() is idempotent', async () => {
    const be = getBackend();
    const base = await live(be);
    const t = be.zeros([3, 5]);
    const one = await live(be);
    expect(one.liveBuffers).toBe(base.liveBuffers + 1);
    expect(one.liveBytes).toBeGreaterThanOrEqual(base.liveBytes + 60); // a backend may round sizes up
    expect(t.disposed).toBe(false);
    t.dispose();
    expect(t.disposed).toBe(true);
    expect(() => t.dispose()).not.toThrow();
    t.dispose();
    expect(await live(be)).toEqual(base);
    // a view of a disposed tensor cannot be made
    expectThrowMessage(() => t.reshape([15]), 'reshape: tensor [3,5] was used after dispose()');
  });

  test('a view keeps its storage alive after the parent is disposed, until the view is disposed', async () => {
    const be = getBackend();
    const base = await live(be);
    const parent = be.tensor([4, 6], Float32Array.from({ length: 24 }, (_, i) => i));
    const rows = parent.slice(1, 2);
    const flat = parent.reshape([24]);
    // views allocate nothing
    const one = await live(be);
    expect(one.liveBuffers).toBe(base.liveBuffers + 1);
    expect(one.liveBytes).toBeGreaterThanOrEqual(base.liveBytes + 96);
    parent.dispose();
    expect(await live(be)).toEqual(one);
    expect(Array.from(await rows.read())).toEqual([6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17]);
    flat.dispose();
    expect((await live(be)).liveBuffers).toBe(base.liveBuffers + 1);
    // a view of a view also holds the storage
    const row = rows.slice(1, 1);
    const inner = row.reshape([2, 3]);
    rows.dispose();
    row.dispose();
    expect((await live(be)).liveBuffers).toBe(base.liveBuffers + 1);
    expect(Array.from(await inner.read())).toEqual([12, 13, 14, 15, 16, 17]);
    inner.dispose();
    expect(await live(be)).toEqual(base);
  });

  test('a queued op keeps its tensors alive: disposing right after queueing is safe', async () => {
    const be = getBackend();
    const base = await live(be);
    const x = be.tensor([2, 3], new Float32Array([1, 2, 3, 4, 5, 6]));
    const y = be.zeros([2, 3]);
    be.scale(2, x);
    be.copy(x, y);
    x.dispose(); // the queued scale and copy still hold x's storage
    expect(Array.from(await y.read())).toEqual([2, 4, 6, 8, 10, 12]);
    y.dispose();
    expect(await live(be)).toEqual(base);
  });

  test('use after dispose throws "<op>: tensor [shape] was used after dispose()"', async () => {
    const be = getBackend();
    const base = await live(be);
    const t = be.zeros([2, 3]);
    const other = be.zeros([2, 3]);
    t.dispose();
    // read() is asynchronous: it rejects (it does not throw at the call)
    await expect(t.read()).rejects.toThrow(new Error('read: tensor [2,3] was used after dispose()'));
    expectThrowMessage(() => t.readSync(), 'readSync: tensor [2,3] was used after dispose()');
    expectThrowMessage(() => t.write(new Float32Array(6)), 'write: tensor [2,3] was used after dispose()');
    expectThrowMessage(() => t.slice(0, 1), 'slice: tensor [2,3] was used after dispose()');
    expectThrowMessage(() => be.copy(t, other), 'copy: src: tensor [2,3] was used after dispose()');
    expectThrowMessage(() => be.tanhForward(other, t), 'tanhForward: y: tensor [2,3] was used after dispose()');
    expect(t.toString()).toBe(`Tensor(${be.kind}, [2,3], disposed)`);
    other.dispose();
    expect(await live(be)).toEqual(base);
  });

  test('a layer that owns its ParameterArena frees it on dispose()', async () => {
    const be = getBackend();
    const base = await live(be);
    const rng = new RandomState(1);
    const hidden = new HiddenLayer({ backend: be, rng, nIn: 6, nOut: 4 });
    const logreg = new LogisticRegression({ backend: be, nIn: 4, nOut: 3 });
    const conv = new LeNetConvPoolLayer({ backend: be, rng, inputChannels: 1, filters: 2, filterSize: 3 });
    expect((await live(be)).liveBuffers).toBeGreaterThan(base.liveBuffers);
    hidden.dispose();
    logreg.dispose();
    conv.dispose();
    expect(await live(be)).toEqual(base);
  });

  test('a ParameterArena frees its two buffers on dispose()', async () => {
    const be = getBackend();
    const base = await live(be);
    const arena = new ParameterArena(be);
    arena.declare('a', [2, 3], new Float32Array(6).fill(1));
    arena.declare('b', [4], null);
    arena.build();
    const built = await live(be);
    expect(built.liveBuffers).toBe(base.liveBuffers + 2); // values and gradients, views allocate nothing
    expect(built.liveBytes).toBeGreaterThanOrEqual(base.liveBytes + 2 * 10 * 4);
    arena.dispose();
    expect(await live(be)).toEqual(base);
  });

});
