/**
 * Tests for lib/plot.ts: the SVG is well-formed standalone XML, each series is
 * drawn with the right number of points inside the viewBox, text is escaped,
 * and axes get the expected round tick labels.
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

/** Every numeric coordinate lies inside the viewBox. */
function expectInsideViewBox(svg: Element): void {
  const [x0, y0, w, h] = svg.attrs.viewBox.split(' ').map(Number);
  const xs: number[] = [];
  const ys: number[] = [];
  for (const e of all(svg, () => true)) {
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
  }
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

describe('renderTrainingCurves', () => {
  test('200 epochs: standalone SVG, one polyline per series, markers for test error', () => {
    const points = sampleRun(200);
    const text = renderTrainingCurves(points, { title: 'LeNet5' });
    expect(text.startsWith('<?xml version="1.0" encoding="UTF-8"?>\n<svg ')).toBe(true);
    expect(text.trimEnd().endsWith('</svg>')).toBe(true);
    const svg = parseXml(text);
    expect(svg.name).toBe('svg');
    expect(svg.attrs.xmlns).toBe('http://www.w3.org/2000/svg');
    expect(svg.attrs.viewBox).toBe('0 0 1000 420');
    expect(all(svg, (e) => e.name === 'polyline')).toHaveLength(2);
    expect(polyline(svg, 'trainCost')).toHaveLength(200);
    expect(polyline(svg, 'validationError')).toHaveLength(200);
    const tested = points.filter((p) => p.testError !== undefined).length;
    expect(tested).toBeGreaterThan(3);
    expect(markers(svg, 'testError')).toHaveLength(tested);
    expectInsideViewBox(svg);
    expect(text).not.toMatch(/NaN|Infinity|undefined/);
    expect(xTicks(svg)).toEqual(['0', '50', '100', '150', '200']);
    expect(texts(svg)).toContain('LeNet5');
    expect(texts(svg)).toContain('Epoch');
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

  test('a single point', () => {
    const text = renderTrainingCurves([{ epoch: 1, trainCost: 0.7, validationError: 9.1, testError: 9.3 }]);
    const svg = parseXml(text);
    expect(polyline(svg, 'trainCost')).toHaveLength(1);
    expect(polyline(svg, 'validationError')).toHaveLength(1);
    expect(markers(svg, 'testError')).toHaveLength(1);
    // Lone points still get a visible dot on the line series.
    const dots = all(svg, (e) => e.attrs.class === 'series').flatMap((g) =>
      g.children.filter((c) => c.name === 'circle' && !c.attrs['data-series']),
    );
    expect(dots).toHaveLength(2);
    expect(Number(dots[0].attrs.r)).toBeGreaterThanOrEqual(3);
    expect(xTicks(svg)).toEqual(['0', '1', '2']);
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
    expect(markers(svg, 'testError')).toHaveLength(0);
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

  test('linear axis ticks for a known range', () => {
    const points: CurvePoint[] = [
      { epoch: 1, trainCost: 2.8, validationError: 40 },
      { epoch: 2, trainCost: 1.9, validationError: 25 },
      { epoch: 3, trainCost: 1.2, validationError: 12 },
      { epoch: 4, trainCost: 1.0, validationError: 11 },
    ];
    const svg = parseXml(renderTrainingCurves(points));
    const [cost, error] = yTicks(svg);
    expect(cost).toEqual(['0.0', '0.5', '1.0', '1.5', '2.0', '2.5', '3.0']);
    expect(error).toEqual(['0', '10', '20', '30', '40']);
    expect(xTicks(svg)).toEqual(['0', '1', '2', '3', '4']);
    expect(texts(svg)).toEqual(expect.arrayContaining(['Cost', 'Error (%)']));
  });

  test('log axes: 1-2-5 ticks over one or two decades, powers of ten over more', () => {
    const points: CurvePoint[] = [
      { epoch: 1, trainCost: 2.3, validationError: 9.6, testError: 9.9 },
      { epoch: 2, trainCost: 0.2, validationError: 3.1, testError: 3.3 },
      { epoch: 3, trainCost: 0.004, validationError: 1.2 },
      { epoch: 4, trainCost: 0.0015, validationError: 1.05, testError: 1.1 },
    ];
    const svg = parseXml(renderTrainingCurves(points));
    const [cost, error] = yTicks(svg);
    expect(cost).toEqual(['0.001', '0.01', '0.1', '1', '10']);
    expect(error).toEqual(['1', '2', '5', '10']);
    expect(texts(svg)).toEqual(expect.arrayContaining(['Cost (log scale)', 'Error (%) (log scale)']));
    expect(markers(svg, 'testError')).toHaveLength(3);
    expectInsideViewBox(svg);
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
    const axes = all(svg, (e) => e.name === 'path');
    expect(axes).toHaveLength(2);
    // Same plot top and bottom in both panels ("M x top V bottom H right").
    const tb = axes.map((p) => /^M[\d.]+ ([\d.]+)V([\d.]+)H/.exec(p.attrs.d)!.slice(1));
    expect(tb[0]).toEqual(tb[1]);
  });

  test('narrow panels fall back to shorter legend labels', () => {
    const svg = parseXml(renderTrainingCurves(sampleRun(30), { width: 640, height: 400 }));
    expect(texts(svg)).toEqual(expect.arrayContaining(['Validation error', 'Test error of best model']));
    expectInsideViewBox(svg);
  });

  test('rejects a non-positive size', () => {
    expect(() => renderTrainingCurves([], { width: 0 })).toThrow(RangeError);
    expect(() => renderTrainingCurves([], { height: Number.NaN })).toThrow('width and height must be positive numbers');
  });
});
