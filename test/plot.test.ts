/**
 * Tests for lib/plot.ts: the SVG is well-formed standalone XML that scales
 * (viewBox, width 100 %), each series is drawn with the right points (mapped
 * back to epochs and percent through the axes' own tick labels), the epoch
 * axis starts at the data, the error axis is cut where the data says and the
 * note names what is cut, text is escaped, and axes get round tick labels.
 */

import { CurvePoint, renderTrainingCurves } from '../lib/plot';

interface Element {
  name: string;
  attrs: Record<string, string>;
  text: string;
  children: Element[];
}

const ENTITY = /&(?:amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);/g;

/** Rejects raw `<` or stray `&` in text or attribute values. */
function checkChars(s: string, where: string): void {
  const rest = s.replace(ENTITY, '');
  if (/[<&]/.test(rest)) throw new Error(`unescaped character in ${where}: ${JSON.stringify(s)}`);
}

function unescape(s: string): string {
  return s
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&amp;/g, '&');
}

/** A minimal strict XML parser: balanced tags, quoted attributes, escaped text. */
function parseXml(xml: string): Element {
  let s = xml;
  const decl = /^<\?xml [^?]*\?>\s*/.exec(s);
  if (decl) s = s.slice(decl[0].length);
  const root: Element = { name: '#document', attrs: {}, text: '', children: [] };
  const stack: Element[] = [root];
  const tagRe = /<[^<>]*>/g;
  let last = 0;
  for (let m = tagRe.exec(s); m !== null; m = tagRe.exec(s)) {
    const between = s.slice(last, m.index);
    checkChars(between, 'text');
    stack[stack.length - 1].text += unescape(between);
    last = m.index + m[0].length;
    const tag = m[0];
    const close = /^<\/([A-Za-z][\w:.-]*)\s*>$/.exec(tag);
    if (close) {
      const open = stack.pop()!;
      if (open.name !== close[1]) throw new Error(`</${close[1]}> closes <${open.name}>`);
      continue;
    }
    const open = /^<([A-Za-z][\w:.-]*)((?:\s+[\w:.-]+="[^"]*")*)\s*(\/?)>$/.exec(tag);
    if (!open) throw new Error(`malformed tag ${tag}`);
    const attrs: Record<string, string> = {};
    for (const a of open[2].matchAll(/([\w:.-]+)="([^"]*)"/g)) {
      if (a[1] in attrs) throw new Error(`duplicate attribute ${a[1]} in ${tag}`);
      checkChars(a[2], `attribute ${a[1]}`);
      attrs[a[1]] = unescape(a[2]);
    }
    const el: Element = { name: open[1], attrs, text: '', children: [] };
    stack[stack.length - 1].children.push(el);
    if (open[3] !== '/') stack.push(el);
  }
  if (s.slice(last).trim() !== '') throw new Error('text after the root element');
  if (stack.length !== 1) throw new Error(`unclosed <${stack[stack.length - 1].name}>`);
  if (root.children.length !== 1) throw new Error('document must have exactly one root element');
  return root.children[0];
}

function all(el: Element, pred: (e: Element) => boolean, out: Element[] = []): Element[] {
  if (pred(el)) out.push(el);
  for (const c of el.children) all(c, pred, out);
  return out;
}

function texts(el: Element): string[] {
  return all(el, (e) => e.name === 'text').map((e) => e.text);
}

/** Tick labels of the value axis in each panel (panel order). */
function yTicks(svg: Element): string[][] {
  return all(svg, (e) => e.attrs.class === 'y-axis').map((g) =>
    g.children.filter((c) => c.name === 'text' && !c.attrs.transform).map((c) => c.text),
  );
}
function xTicks(svg: Element): string[] {
  const g = all(svg, (e) => e.attrs.class === 'x-axis')[0];
  return g.children.filter((c) => c.name === 'text' && c.text !== 'Epoch').map((c) => c.text);
}

function polyline(svg: Element, series: string): Array<[number, number]> {
  const lines = all(svg, (e) => e.name === 'polyline' && e.attrs['data-series'] === series);
  expect(lines).toHaveLength(1);
  return lines[0].attrs.points
    .trim()
    .split(/\s+/)
    .map((p) => p.split(',').map(Number) as [number, number]);
}

function markers(svg: Element, series: string): Element[] {
  return all(svg, (e) => e.name === 'circle' && e.attrs['data-series'] === series);
}

/**
 * Every numeric coordinate lies inside the viewBox, except inside groups
 * clipped to the plot area (lines of the error panel's cut-off first epochs).
 */
function expectInsideViewBox(svg: Element): void {
  const [x0, y0, w, h] = svg.attrs.viewBox.split(' ').map(Number);
  const xs: number[] = [];
  const ys: number[] = [];
  const visit = (e: Element): void => {
    if ('clip-path' in e.attrs) return;
    for (const k of ['x', 'x1', 'x2', 'cx']) if (k in e.attrs) xs.push(Number(e.attrs[k]));
    for (const k of ['y', 'y1', 'y2', 'cy']) if (k in e.attrs) ys.push(Number(e.attrs[k]));
    if (e.name === 'polyline') {
      for (const p of e.attrs.points.trim().split(/\s+/)) {
        const [x, y] = p.split(',').map(Number);
        xs.push(x);
        ys.push(y);
      }
    }
    if ('width' in e.attrs && e.name === 'rect') xs.push(Number(e.attrs.x) + Number(e.attrs.width));
    if ('height' in e.attrs && e.name === 'rect') ys.push(Number(e.attrs.y) + Number(e.attrs.height));
    e.children.forEach(visit);
  };
  visit(svg);
  expect(xs.length).toBeGreaterThan(10);
  for (const x of xs) {
    expect(Number.isFinite(x)).toBe(true);
    expect(x).toBeGreaterThanOrEqual(x0);
    expect(x).toBeLessThanOrEqual(x0 + w);
  }
  for (const y of ys) {
    expect(Number.isFinite(y)).toBe(true);
    expect(y).toBeGreaterThanOrEqual(y0);
    expect(y).toBeLessThanOrEqual(y0 + h);
  }
}

/** A plausible LeNet run: cost and errors decay, test measured when validation improves. */
function sampleRun(epochs: number): CurvePoint[] {
  const points: CurvePoint[] = [];
  let best = Infinity;
  for (let e = 1; e <= epochs; e++) {
    const validationError = 0.9 + 8 * Math.exp(-e / 4) + 0.05 * Math.sin(e);
    const p: CurvePoint = { epoch: e, trainCost: 0.01 + 0.6 * Math.exp(-e / 8), validationError };
    if (validationError < best) {
      best = validationError;
      p.testError = validationError * 0.98;
    }
    points.push(p);
  }
  return points;
}

/** The first 12 epochs of the README's 200-epoch CPU run (bench/results/reproduction-cpu.txt). */
const REPRODUCTION: CurvePoint[] = [
  [0.9157, 9.22, 9.52],
  [0.3068, 6.17, 6.48],
  [0.2194, 4.64, 4.85],
  [0.1692, 3.49, 3.93],
  [0.1372, 3.03, 3.24],
  [0.1157, 2.81, 2.81],
  [0.1004, 2.49, 2.48],
  [0.089, 2.28, 2.21],
  [0.0801, 2.15, 2.0],
  [0.073, 1.97, 1.91],
  [0.0672, 1.85, 1.8],
  [0.0625, 1.79, undefined],
].map(([trainCost, validationError, testError], i) => ({ epoch: i + 1, trainCost, validationError, testError }));

/**
 * Maps drawn coordinates back to data values with the axes' own tick labels
 * (linear axes: two ticks fix the map), so a test can say where a point was
 * drawn in epochs and percent.
 */
function dataCoordinates(svg: Element, title: string): (p: [number, number]) => [number, number] {
  const panel = all(svg, (e) => e.attrs.class === 'panel').find((g) => g.children[0].text === title)!;
  const xg = all(panel, (e) => e.attrs.class === 'x-axis')[0];
  const xt = xg.children.filter((c) => c.name === 'text' && c.text !== 'Epoch');
  const yg = all(panel, (e) => e.attrs.class === 'y-axis')[0];
  const yt = yg.children.filter((c) => c.name === 'text' && !c.attrs.transform);
  const map = (p0: number, v0: number, p1: number, v1: number) => (p: number) => v0 + ((p - p0) * (v1 - v0)) / (p1 - p0);
  const fx = map(Number(xt[0].attrs.x), Number(xt[0].text), Number(xt[xt.length - 1].attrs.x), Number(xt[xt.length - 1].text));
  // Tick labels sit 4 units below their grid line.
  const fy = map(Number(yt[0].attrs.y) - 4, Number(yt[0].text), Number(yt[yt.length - 1].attrs.y) - 4, Number(yt[yt.length - 1].text));
  return ([x, y]) => [fx(x), fy(y)];
}

function cutOffNotes(svg: Element): string[] {
  return all(svg, (e) => e.attrs.class === 'cut-off').map((e) => e.text);
}

describe('renderTrainingCurves', () => {
  test('200 epochs: standalone SVG that scales, one polyline per series', () => {
    const points = sampleRun(200);
    const text = renderTrainingCurves(points, { title: 'LeNet5' });
    expect(text.startsWith('<?xml version="1.0" encoding="UTF-8"?>\n<svg ')).toBe(true);
    expect(text.trimEnd().endsWith('</svg>')).toBe(true);
    const svg = parseXml(text);
    expect(svg.name).toBe('svg');
    expect(svg.attrs.xmlns).toBe('http://www.w3.org/2000/svg');
    // Scales with its container: a viewBox, width 100 %, no fixed pixel height.
    expect(svg.attrs.viewBox).toBe('0 0 1000 460');
    expect(svg.attrs.width).toBe('100%');
    expect(svg.attrs.height).toBeUndefined();
    expect(all(svg, (e) => e.name === 'polyline')).toHaveLength(3);
    expect(polyline(svg, 'trainCost')).toHaveLength(200);
    expect(polyline(svg, 'validationError')).toHaveLength(200);
    const tested = points.filter((p) => p.testError !== undefined).length;
    expect(tested).toBeGreaterThan(3);
    // A step line: the first improvement, two points (hold, drop) per later one, and one holding the last to epoch 200.
    expect(polyline(svg, 'testError')).toHaveLength(1 + 2 * (tested - 1) + 1);
    expectInsideViewBox(svg);
    expect(text).not.toMatch(/NaN|Infinity|undefined/);
    expect(xTicks(svg)).toEqual(['1', '50', '100', '150', '200']);
    expect(texts(svg)).toContain('LeNet5');
    expect(texts(svg)).toContain('Epoch');
  });

  test('the epoch axis starts at the first epoch with data', () => {
    const points: CurvePoint[] = [{ epoch: 1 }, { epoch: 2, trainCost: Number.NaN }, ...sampleRun(12).slice(2)];
    const svg = parseXml(renderTrainingCurves(points));
    // Epoch 3 gets no label of its own: the round tick 4 is only one epoch away.
    expect(xTicks(svg)).toEqual(['4', '6', '8', '10', '12']);
    const xy = dataCoordinates(svg, 'Error rate');
    expect(xy(polyline(svg, 'validationError')[0])[0]).toBeCloseTo(3, 2);
    expect(xy(polyline(svg, 'validationError')[9])[0]).toBeCloseTo(12, 2);
    // Both panels share the epoch axis.
    expect(dataCoordinates(svg, 'Training cost')(polyline(svg, 'trainCost')[0])[0]).toBeCloseTo(3, 2);
  });

  test('x coordinates increase with epoch and lower values are drawn lower', () => {
    const svg = parseXml(renderTrainingCurves(sampleRun(20)));
    const cost = polyline(svg, 'trainCost');
    for (let i = 1; i < cost.length; i++) {
      expect(cost[i][0]).toBeGreaterThan(cost[i - 1][0]);
      expect(cost[i][1]).toBeGreaterThan(cost[i - 1][1]); // cost decreases -> y grows downward
    }
  });

  test('points are sorted by epoch', () => {
    const svg = parseXml(renderTrainingCurves(sampleRun(10).reverse()));
    const xs = polyline(svg, 'validationError').map((p) => p[0]);
    expect(xs).toEqual([...xs].sort((a, b) => a - b));
  });

  test('the test error of the best model is a step line: its corners are exactly the improvements', () => {
    const points: CurvePoint[] = [
      { epoch: 1, validationError: 5, testError: 5.5 },
      { epoch: 2, validationError: 5.2 },
      { epoch: 3, validationError: 4, testError: 4.25 },
      { epoch: 4, validationError: 4.1 },
      { epoch: 5, validationError: 4.2 },
      { epoch: 6, validationError: 4.1 },
      { epoch: 7, validationError: 3.5, testError: 3.75 },
      { epoch: 8, validationError: 3.6 },
      { epoch: 9, validationError: 3.7 },
      { epoch: 10, validationError: 3.6 },
    ];
    const svg = parseXml(renderTrainingCurves(points));
    const xy = dataCoordinates(svg, 'Error rate');
    const drawn = polyline(svg, 'testError').map(xy);
    // Each value holds until the next improvement; the last holds to the last epoch.
    const expected = [
      [1, 5.5],
      [3, 5.5],
      [3, 4.25],
      [7, 4.25],
      [7, 3.75],
      [10, 3.75],
    ];
    expect(drawn).toHaveLength(expected.length);
    drawn.forEach(([x, y], i) => {
      expect(x).toBeCloseTo(expected[i][0], 2);
      expect(y).toBeCloseTo(expected[i][1], 2);
    });
    // Few improvements: each gets a dot, at the improvement itself.
    const dots = all(svg, (e) => e.name === 'circle' && e.attrs.fill === '#2b8a3e').map((c) => xy([Number(c.attrs.cx), Number(c.attrs.cy)]));
    expect(dots.map(([x]) => Math.round(x))).toEqual([1, 3, 7]);
  });

  test('error axis: cut off at twice the best error, the cut-off epochs named', () => {
    const svg = parseXml(renderTrainingCurves(REPRODUCTION));
    // Best 1.79 %: twice that is 3.58, so the axis ends at the next tick, 4 %,
    // and starts near the best error (0.1 of the span below it, rounded down).
    const [, error] = yTicks(svg);
    expect(error).toEqual(['1.5', '2.0', '2.5', '3.0', '3.5', '4.0']);
    // Above 4 %: validation at epochs 1-3 (9.22, 6.17, 4.64) and test at 1-3 (9.52, 6.48, 4.85).
    expect(cutOffNotes(svg)).toEqual(['\u2191 Cut off above 4.0 %: epochs 1\u20133 (up to 9.52 %)']);
    // Those lines are clipped to the plot frame, which the clip rectangle covers.
    const clip = all(svg, (e) => e.name === 'clipPath');
    expect(clip).toHaveLength(1);
    const frame = all(svg, (e) => e.name === 'path' && e.attrs.class === 'frame')[1];
    const [, left, top] = /^M([\d.]+) ([\d.]+)V/.exec(frame.attrs.d)!.map(Number);
    expect(Number(clip[0].children[0].attrs.x)).toBe(left);
    expect(Number(clip[0].children[0].attrs.y)).toBe(top);
    const clipped = all(svg, (e) => e.attrs['clip-path'] === `url(#${clip[0].attrs.id})`);
    expect(clipped).toHaveLength(2);
    // The cost panel is not cut.
    expect(yTicks(svg)[0]).toEqual(['0.05', '0.1', '0.2', '0.5', '1']);
    expectInsideViewBox(svg);
  });

  test('error axis of a 200-epoch run: the 0.9-1.1 % range fills a sixth of the plot', () => {
    const points = sampleRun(200);
    const svg = parseXml(renderTrainingCurves(points));
    const [, error] = yTicks(svg);
    const values = points.flatMap((p) => [p.validationError!, ...(p.testError === undefined ? [] : [p.testError])]);
    const best = Math.min(...values);
    const top = Number(error[error.length - 1]);
    expect(top).toBeGreaterThanOrEqual(2 * best);
    expect(top).toBeLessThan(2 * best + 0.5);
    expect(Number(error[0])).toBeLessThanOrEqual(best);
    expect((1.1 - 0.9) / (top - Number(error[0]))).toBeGreaterThan(1 / 7);
    const cut = points.filter((p) => p.validationError! > top || (p.testError ?? 0) > top).map((p) => p.epoch);
    const highest = Math.max(...values);
    expect(cutOffNotes(svg)).toEqual([
      `\u2191 Cut off above ${error[error.length - 1]} %: epochs ${cut[0]}\u2013${cut[cut.length - 1]} (up to ${Number(highest.toPrecision(3))} %)`,
    ]);
    expect(cut).toEqual(Array.from({ length: cut.length }, (_, i) => i + 1));
  });

  test('error axis: the second half of the run is never cut', () => {
    const points: CurvePoint[] = [
      { epoch: 1, validationError: 9 },
      { epoch: 2, validationError: 1 },
      { epoch: 3, validationError: 1.2 },
      { epoch: 4, validationError: 3.1 },
      { epoch: 5, validationError: 1.1 },
    ];
    const svg = parseXml(renderTrainingCurves(points));
    const [error] = yTicks(svg);
    expect(Number(error[error.length - 1])).toBeGreaterThanOrEqual(3.1);
    expect(cutOffNotes(svg)).toEqual(['\u2191 Cut off above 3.5 %: epoch 1 (up to 9 %)']);
  });

  test('a short run is not cut: the axis spans its values', () => {
    const svg = parseXml(renderTrainingCurves(REPRODUCTION.slice(0, 2)));
    const [, error] = yTicks(svg);
    // 6.17 .. 9.52 %: twice the best covers everything.
    expect(error).toEqual(['5', '6', '7', '8', '9', '10']);
    expect(cutOffNotes(svg)).toEqual([]);
    expect(all(svg, (e) => e.name === 'clipPath')).toHaveLength(0);
    expect(xTicks(svg)).toEqual(['1', '2']);
    expectInsideViewBox(svg);
  });

  test('a baseline close to zero becomes zero', () => {
    const points: CurvePoint[] = [
      { epoch: 1, validationError: 2 },
      { epoch: 2, validationError: 1 },
      { epoch: 3, validationError: 0.1 },
      { epoch: 4, validationError: 0.8 },
    ];
    const svg = parseXml(renderTrainingCurves(points));
    // Top: the second half's highest, 0.8 (above twice the best, 0.2); 0.03 below the best would be the bottom.
    expect(yTicks(svg)[0]).toEqual(['0.0', '0.2', '0.4', '0.6', '0.8']);
    expect(cutOffNotes(svg)).toEqual(['\u2191 Cut off above 0.8 %: epochs 1\u20132 (up to 2 %)']);
  });

  test('error rates of 0 % get a 0-1 % axis', () => {
    const svg = parseXml(renderTrainingCurves([{ epoch: 1, validationError: 0, testError: 0 }, { epoch: 2, validationError: 0 }]));
    expect(yTicks(svg)[0]).toEqual(['0.0', '0.2', '0.4', '0.6', '0.8', '1.0']);
    expect(cutOffNotes(svg)).toEqual([]);
    expectInsideViewBox(svg);
  });

  test('a single point', () => {
    const text = renderTrainingCurves([{ epoch: 1, trainCost: 0.7, validationError: 9.1, testError: 9.3 }]);
    const svg = parseXml(text);
    expect(polyline(svg, 'trainCost')).toHaveLength(1);
    expect(polyline(svg, 'validationError')).toHaveLength(1);
    expect(polyline(svg, 'testError')).toHaveLength(1);
    // Lone points still get a visible dot.
    const dots = all(svg, (e) => e.attrs.class === 'series').flatMap((g) => g.children.filter((c) => c.name === 'circle'));
    expect(dots).toHaveLength(3);
    expect(Number(dots[0].attrs.r)).toBeGreaterThanOrEqual(3);
    expect(xTicks(svg)).toEqual(['1']);
    expectInsideViewBox(svg);
    expect(text).not.toMatch(/NaN|Infinity/);
  });

  test('missing series and missing values', () => {
    const points: CurvePoint[] = [
      { epoch: 1, validationError: 5 },
      { epoch: 2 },
      { epoch: 3, validationError: Number.NaN },
      { epoch: 4, validationError: 2 },
      { epoch: 5, validationError: 1.5 },
    ];
    const svg = parseXml(renderTrainingCurves(points));
    expect(all(svg, (e) => e.attrs['data-series'] === 'trainCost')).toHaveLength(0);
    expect(all(svg, (e) => e.attrs['data-series'] === 'testError')).toHaveLength(0);
    expect(polyline(svg, 'validationError')).toHaveLength(3);
    expect(texts(svg)).toContain('No training cost recorded');
    expect(texts(svg).some((t) => t.startsWith('Test error'))).toBe(false);
    expectInsideViewBox(svg);
  });

  test('no points at all', () => {
    const svg = parseXml(renderTrainingCurves([]));
    expect(all(svg, (e) => e.name === 'polyline')).toHaveLength(0);
    expect(texts(svg)).toEqual(expect.arrayContaining(['No training cost recorded', 'No error rates recorded']));
    expectInsideViewBox(svg);
  });

  test('text is XML-escaped', () => {
    const title = `<script>alert("x")</script> & 'quotes'`;
    const text = renderTrainingCurves(sampleRun(3), { title });
    expect(text).not.toContain('<script>');
    expect(text).toContain('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &apos;quotes&apos;');
    const svg = parseXml(text);
    expect(all(svg, (e) => e.name === 'title')[0].text).toBe(title);
    expect(texts(svg)[0]).toBe(title);
  });

  test('linear cost axis ticks for a known range', () => {
    const points: CurvePoint[] = [
      { epoch: 1, trainCost: 2.8, validationError: 14 },
      { epoch: 2, trainCost: 1.9, validationError: 13 },
      { epoch: 3, trainCost: 1.2, validationError: 12 },
      { epoch: 4, trainCost: 1.0, validationError: 11 },
    ];
    const svg = parseXml(renderTrainingCurves(points));
    const [cost, error] = yTicks(svg);
    expect(cost).toEqual(['0.0', '0.5', '1.0', '1.5', '2.0', '2.5', '3.0']);
    // 11 .. 14 % (nothing cut): from 10.7 down to the tick below, 10.5.
    expect(error).toEqual(['10.5', '11.0', '11.5', '12.0', '12.5', '13.0', '13.5', '14.0']);
    expect(xTicks(svg)).toEqual(['1', '2', '3', '4']);
    expect(texts(svg)).toEqual(expect.arrayContaining(['Cost', 'Error (%)']));
  });

  test('log cost axis: 1-2-5 ticks over one or two decades, powers of ten over more', () => {
    const points: CurvePoint[] = [
      { epoch: 1, trainCost: 2.3, validationError: 9.6, testError: 9.9 },
      { epoch: 2, trainCost: 0.2, validationError: 3.1, testError: 3.3 },
      { epoch: 3, trainCost: 0.004, validationError: 1.2 },
      { epoch: 4, trainCost: 0.0015, validationError: 1.05, testError: 1.1 },
    ];
    const svg = parseXml(renderTrainingCurves(points));
    expect(yTicks(svg)[0]).toEqual(['0.001', '0.01', '0.1', '1', '10']);
    expect(yTicks(parseXml(renderTrainingCurves(points.map((p) => ({ ...p, trainCost: p.trainCost! * 100 + 10 })))))[0]).toEqual(
      ['10', '20', '50', '100', '200', '500'],
    );
    expect(texts(svg)).toEqual(expect.arrayContaining(['Cost (log scale)', 'Error (%)']));
  });

  test('legend reports best validation and latest test error', () => {
    const svg = parseXml(
      renderTrainingCurves([
        { epoch: 1, trainCost: 0.5, validationError: 3, testError: 3.2 },
        { epoch: 2, trainCost: 0.25, validationError: 1.25, testError: 1.3 },
        { epoch: 3, trainCost: 0.125, validationError: 1.5 },
      ]),
    );
    expect(texts(svg)).toEqual(
      expect.arrayContaining([
        'Training cost (last 0.125)',
        'Validation error (best 1.25% at epoch 2)',
        'Test error of best model (1.30% at epoch 2)',
      ]),
    );
  });

  test('tall images stack the panels; custom size is used for the viewBox', () => {
    const svg = parseXml(renderTrainingCurves(sampleRun(30), { width: 600, height: 800 }));
    expect(svg.attrs.viewBox).toBe('0 0 600 800');
    expect(svg.attrs.width).toBe('100%');
    const titles = all(svg, (e) => e.name === 'text' && (e.text === 'Training cost' || e.text === 'Error rate'));
    expect(titles.map((t) => t.text)).toEqual(['Training cost', 'Error rate']);
    expect(titles[0].attrs.x).toBe(titles[1].attrs.x);
    expect(Number(titles[1].attrs.y)).toBeGreaterThan(400);
    expectInsideViewBox(svg);
  });

  test('wide images put the panels side by side with aligned plot areas', () => {
    const svg = parseXml(renderTrainingCurves(sampleRun(30)));
    const titles = all(svg, (e) => e.name === 'text' && (e.text === 'Training cost' || e.text === 'Error rate'));
    expect(titles[0].attrs.y).toBe(titles[1].attrs.y);
    expect(Number(titles[1].attrs.x)).toBeGreaterThan(500);
    const frames = all(svg, (e) => e.name === 'path' && e.attrs.class === 'frame');
    expect(frames).toHaveLength(2);
    // Same plot top and bottom in both panels ("M x top V bottom H right"),
    // though only the error panel's legend has the cut-off note's row.
    expect(cutOffNotes(svg)).toHaveLength(1);
    const tb = frames.map((p) => /^M[\d.]+ ([\d.]+)V([\d.]+)H/.exec(p.attrs.d)!.slice(1));
    expect(tb[0]).toEqual(tb[1]);
  });

  test('narrow panels fall back to shorter legend labels and note', () => {
    const svg = parseXml(renderTrainingCurves(sampleRun(30), { width: 640, height: 400 }));
    expect(texts(svg)).toEqual(expect.arrayContaining(['Validation error', 'Test error of best model']));
    expect(cutOffNotes(svg)[0]).toMatch(/^\u2191 Cut off above [\d.]+ %: epochs 1\u2013\d+$/);
    expectInsideViewBox(svg);
  });

  test('rejects a non-positive size', () => {
    expect(() => renderTrainingCurves([], { width: 0 })).toThrow(RangeError);
    expect(() => renderTrainingCurves([], { height: Number.NaN })).toThrow('width and height must be positive numbers, got 1000 x NaN');
  });
});
