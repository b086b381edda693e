/**
 * The addon's own checks, reached directly: every op of the native op table (native/ops.cc) is
 * called through `backend.native` with a shape that would make it index outside a buffer, and
 * must refuse before anything is queued. TypeScript checks these first with the user's messages
 * (lib/shapes.ts), so no other test reaches this safety net; a new op without a case here fails
 * the coverage test.
 */
import { loadAddon } from '../lib/addon';
import type { NativeBackend, NativeTensor } from '../lib/native';
import { thrown } from './integration-helpers';

type Call = (be: NativeBackend, t: (...shape: number[]) => NativeTensor) => void;

// One call per op with a bad shape, and the start of the message it must give.
const BAD: Record<string, [Call, string]> = {
  // fill and scale take any tensor: their bad call is a value of the wrong type
  fill: [(be, t) => be.fill(t(2), 'x' as unknown as number), 'fill: value must be a number'],
  copy: [(be, t) => be.copy(t(6), t(5)), 'copy: dst must have 6 elements, got shape [5]'],
  conv2dForward: [(be, t) => be.conv2dForward(t(1, 2, 8, 8), t(3, 2, 3, 3), t(1, 3, 6, 7)), 'conv2dForward: y must have shape [1,3,6,6], got [1,3,6,7]'],
  conv2dBackwardData: [(be, t) => be.conv2dBackwardData(t(1, 3, 6, 6), t(3, 2, 9, 3), t(1, 2, 8, 8)), 'conv2dBackwardData: w [3,2,9,3] does not fit dx [1,2,8,8]'],
  conv2dBackwardFilter: [(be, t) => be.conv2dBackwardFilter(t(1, 2, 8, 8), t(2, 3, 6, 6), t(3, 2, 3, 3)), 'conv2dBackwardFilter: dy must have shape [1,3,6,6], got [2,3,6,6]'],
  conv2dBackward: [(be, t) => be.conv2dBackward(t(1, 2, 8, 8), t(3, 2, 3, 3), t(1, 3, 6, 6), t(1, 2, 8, 9), t(3, 2, 3, 3)), 'conv2dBackward: dx must have shape [1,2,8,8], got [1,2,8,9]'],
  convPoolForward: [
    (be, t) => be.convPoolForward(be.convPoolPlan([2, 1, 12, 12], [3, 1, 5, 5]), t(2, 1, 12, 12), t(3, 1, 5, 5), t(3), t(2, 3, 4, 5)),
    'convPoolForward: y must have shape [2,3,4,4], got [2,3,4,5]',
  ],
  convPoolBackward: [
    (be, t) => be.convPoolBackward(be.convPoolPlan([2, 1, 12, 12], [3, 1, 5, 5]), t(2, 1, 12, 12), t(3, 1, 5, 5), t(2, 3, 4, 4), t(2, 3, 4, 4), t(2, 1, 12, 12), t(3, 1, 5, 5), t(4)),
    'convPoolBackward: db must have shape [3], got [4]',
  ],
  maxPoolBiasTanhForward: [(be, t) => be.maxPoolBiasTanhForward(t(2, 3, 1, 4), t(3), t(2, 3, 0, 2), t(2, 3, 0, 2)), 'maxPoolBiasTanhForward: x [2,3,1,4] is smaller than the 2x2 window'],
  maxPoolBiasTanhBackward: [
    (be, t) => be.maxPoolBiasTanhBackward(t(2, 3, 4, 4), t(2, 3, 2, 2), t(2, 3, 2, 2), t(2, 3, 2, 2), t(2, 3, 2, 2), t(3), t(2, 3, 4, 3)),
    'maxPoolBiasTanhBackward: dx must have shape [2,3,4,4], got [2,3,4,3]',
  ],
  maxPool2x2Forward: [(be, t) => be.maxPool2x2Forward(t(2, 3, 4, 4), t(2, 3, 2, 3)), 'maxPool2x2Forward: y must have shape [2,3,2,2], got [2,3,2,3]'],
  maxPool2x2Backward: [(be, t) => be.maxPool2x2Backward(t(2, 3, 4, 4), t(2, 3, 2, 2), t(2, 3, 3, 2), t(2, 3, 4, 4)), 'maxPool2x2Backward: dy must have shape [2,3,2,2], got [2,3,3,2]'],
  biasAdd: [(be, t) => be.biasAdd(t(2, 3, 4), t(4), t(2, 3, 4)), 'biasAdd: b must have shape [3], got [4]'],
  biasGrad: [(be, t) => be.biasGrad(t(6), t(6)), 'biasGrad: dy must have rank 2 or more, got shape [6]'],
  biasTanhForward: [(be, t) => be.biasTanhForward(t(2, 3), t(3), t(3, 2)), 'biasTanhForward: y must have shape [2,3], got [3,2]'],
  tanhForward: [(be, t) => be.tanhForward(t(2, 3), t(5)), 'tanhForward: y must have 6 elements, got shape [5]'],
  tanhBackward: [(be, t) => be.tanhBackward(t(6), t(6), t(7)), 'tanhBackward: dx must have 6 elements, got shape [7]'],
  gemm: [(be, t) => be.gemm(false, true, 1, t(2, 3), t(4, 2), 0, t(2, 4)), 'gemm: op(a) [2,3] and op(b) [2,4] differ in K'],
  axpy: [(be, t) => be.axpy(1, t(4), t(3)), 'axpy: y must have 4 elements, got shape [3]'],
  scale: [(be) => be.scale(2, {} as NativeTensor), 'scale: x must be a NativeTensor'],
  softmaxNll: [(be, t) => be.softmaxNll(t(2, 10), t(3), t(2, 10), null), 'softmaxNll: labels must have shape [2], got [3]'],
  softmaxNllBackward: [(be, t) => be.softmaxNllBackward(t(2, 0), t(2), t(2, 0)), 'softmaxNllBackward: probs [2,0] have no classes'],
};

describe('the native surface checks every op itself', () => {
  const addon = loadAddon();
  let be: NativeBackend;
  let made: NativeTensor[] = [];
  const t = (...shape: number[]) => {
    const x = be.alloc(shape);
    made.push(x);
    return x;
  };
  beforeAll(() => {
    be = addon.createCpuBackend({});
  });
  afterEach(() => {
    for (const x of made) x.dispose();
    made = [];
  });
  afterAll(() => be.close());

  test('every op of the op table has a case here', () => {
    expect(be.ops().map((o) => o.name).sort()).toEqual(Object.keys(BAD).sort());
  });

  for (const [op, [call, message]] of Object.entries(BAD)) {
    test(`${op}: a shape that does not fit is refused with the op's name, and nothing is queued`, async () => {
      const e = thrown(() => call(be, t));
      expect(e.message).toBe(message);
      expect(be.pending()).toBe(0);
      await be.sync(); // no sticky error: the call never reached the executor
    });
  }

  test('the signatures name every argument', () => {
    const sig = Object.fromEntries(be.ops().map((o) => [o.name, o.signature]));
    expect(sig.conv2dBackward).toBe('x w dy dx? dw');
    expect(sig.convPoolForward).toBe('@plan x w b y');
    expect(sig.convPoolBackward).toBe('@plan x w y dy dx? dw db');
    expect(sig.gemm).toBe('!transA !transB #alpha a b #beta c');
  });

  test('convPoolPlan, view and upload check their shapes too', () => {
    expect(thrown(() => be.convPoolPlan([2, 1, 12, 12], [3, 2, 5, 5])).message).toBe('convPoolPlan: w [3,2,5,5] does not fit x [2,1,12,12]');
    expect(thrown(() => be.convPoolPlan([2, 1, 5, 5], [3, 1, 5, 5])).message).toBe(
      "convPoolPlan: the convolution's output of x [2,1,5,5] and w [3,1,5,5] is smaller than the 2x2 window",
    );
    expect(thrown(() => be.convPoolPlan([2, 1, 12], [3, 1, 5, 5])).message).toBe('convPoolPlan: x must have rank 4, got shape [2,1,12]');
    expect(thrown(() => be.view(t(4), 2, [3])).message).toBe('view: a view of shape [3] at offset 2 does not fit in a tensor of shape [4]');
    expect(thrown(() => be.upload(t(4), new Float32Array(5))).message).toBe('upload: data has 5 elements, the tensor [4] has 4');
    expect(thrown(() => be.upload(t(4), new Float32Array(4), 'x' as unknown as number)).message).toBe('upload: scale must be a number');
  });

  test('a shape whose element count would wrap is refused as out of memory, not allocated', () => {
    const e = thrown(() => be.alloc([65536, 65536, 65536, 65536])) as Error & { code?: string };
    expect(e.message).toBe('alloc: shape [65536,65536,65536,65536] has more elements than memory can hold');
    expect(e.code).toBe('LENET_OUT_OF_MEMORY');
    expect(thrown(() => be.convPoolPlan([1, 1, 65536, 65536], [1, 1, 5, 5])).message).toBe(
      "convPoolPlan: x's planes of 4294967296 pixels are too large (the limit is 2^31)",
    );
  });

  test('a plan belongs to its backend, and refuses use after dispose()', () => {
    const other = addon.createCpuBackend({});
    try {
      const plan = other.convPoolPlan([1, 1, 6, 6], [1, 1, 3, 3]);
      expect(thrown(() => be.convPoolForward(plan, t(1, 1, 6, 6), t(1, 1, 3, 3), t(1), t(1, 1, 2, 2))).message).toBe(
        'convPoolForward: plan belongs to another backend',
      );
      const mine = be.convPoolPlan([1, 1, 6, 6], [1, 1, 3, 3]);
      mine.dispose();
      expect(thrown(() => be.convPoolForward(mine, t(1, 1, 6, 6), t(1, 1, 3, 3), t(1), t(1, 1, 2, 2))).message).toBe(
        'convPoolForward: plan was used after dispose()',
      );
    } finally {
      other.close();
    }
  });

  test('a backward on a plan that never ran forward fails in the queue with the op name', async () => {
    const plan = be.convPoolPlan([1, 1, 6, 6], [1, 1, 3, 3]);
    be.convPoolBackward(plan, t(1, 1, 6, 6), t(1, 1, 3, 3), t(1, 1, 2, 2), t(1, 1, 2, 2), null, t(1, 1, 3, 3), t(1));
    await expect(be.sync()).rejects.toThrow('convPoolBackward: backward before any forward');
    plan.dispose();
  });
});
