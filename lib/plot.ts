/**
 * Training curves as a standalone SVG document, written by hand (no plotting
 * library): one panel with the training cost per epoch, one with the
 * validation error (line) and the test error of the best model (markers).
 *
 * Axes get "nice" round ticks (1, 2, 5 x 10^k). A value axis switches to a
 * log scale when all its values are positive and span at least a factor of
 * 4: error rates falling from ~10% to ~1% and a cost falling by orders of
 * magnitude are flat, unreadable tails on a linear axis. Both panels share the
 * epoch axis.
 */

/** One epoch's numbers; any series may be missing at any epoch. */
export interface CurvePoint {
  /** Epoch number (x coordinate); normally 1, 2, 3, ... */
  epoch: number;
  /** Mean training cost over the epoch. */
  trainCost?: number;
  /** Validation error in percent. */
  validationError?: number;
  /** Test error in percent, only at epochs where the (new) best model was tested. */
  testError?: number;
}

/** Options for {@link renderTrainingCurves}. */
export interface CurveOptions {
  /** Title over both panels (default `Training curves`). */
  title?: string;
  /** Width of the SVG in user units/pixels (default 1000). */
  width?: number;
  /** Height of the SVG in user units/pixels (default 420). */
  height?: number;
}

const COLORS = {
  trainCost: '#1f6feb',
  validationError: '#e8590c',
  testError: '#2b8a3e',
  text: '#1f2328',
  muted: '#59636e',
  axis: '#8c959f',
  grid: '#e6e8eb',
  minorGrid: '#f3f4f6',
};
const FONT = 'system-ui, -apple-system, Segoe UI, Roboto, Helvetica, Arial, sans-serif';
/** Space left of a plot area for tick labels and the axis title. */
const PLOT_LEFT = 64;
const LEGEND_FONT = 12;
const LEGEND_ROW = 18;
/** A value axis is logarithmic when its positive values span at least this factor. */
const LOG_SCALE_RATIO = 4;
/** Line series show a dot at each point when they have at most this many points. */
const MAX_DOTTED_POINTS = 40;

/** Escapes text for XML character data and attribute values. */
function esc(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;')
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/g, '\ufffd');
}

/** A coordinate with at most two decimals. */
function num(v: number): string {
  const r = Math.round(v * 100) / 100;
  return Object.is(r, -0) ? '0' : String(r);
}

/** Removes binary noise such as 0.30000000000000004. */
function clean(v: number): number {
  return Number(v.toPrecision(12));
}

interface Axis {
  lo: number;
  hi: number;
  log: boolean;
  /** Labelled ticks. */
  ticks: number[];
  /** Unlabelled grid lines (log axes only). */
  minor: number[];
  format(v: number): string;
}

function niceStep(span: number, target: number): number {
  const raw = span / target;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const norm = raw / mag;
  return (norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10) * mag;
}

function linearAxis(min: number, max: number, opts: { integer?: boolean; includeZero?: boolean }): Axis {
  let lo = opts.includeZero ? Math.min(0, min) : min;
  let hi = opts.includeZero ? Math.max(0, max) : max;
  if (hi === lo) {
    // Only possible without includeZero, or when every value is 0.
    const pad = lo === 0 ? 1 : Math.abs(lo) / 2;
    if (opts.includeZero) hi = 1;
    else {
      lo -= pad;
      hi += pad;
    }
  }
  let step = niceStep(hi - lo, 5);
  if (opts.integer) step = Math.max(1, Math.round(step));
  lo = clean(Math.floor(lo / step + 1e-9) * step);
  hi = clean(Math.ceil(hi / step - 1e-9) * step);
  const ticks: number[] = [];
  for (let i = 0; lo + i * step <= hi + step * 1e-9; i++) ticks.push(clean(lo + i * step));
  const decimals = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
  return {
    lo,
    hi,
    log: false,
    ticks,
    minor: [],
    format: (v) => {
      const s = v.toFixed(Math.min(decimals, 20));
      return /^-0(\.0*)?$/.test(s) ? s.slice(1) : s;
    },
  };
}

/** Candidates of the 1-2-5 sequence: m x 10^k. */
function oneTwoFive(k: number): number[] {
  return [1, 2, 5].map((m) => clean(m * 10 ** k));
}

function formatLog(v: number): string {
  if (v >= 1e-4 && v < 1e6) {
    const decimals = Math.max(0, -Math.floor(Math.log10(v) + 1e-9));
    return v.toFixed(decimals);
  }
  return v.toExponential(0).replace('e+', 'e');
}

function logAxis(min: number, max: number): Axis {
  const kMin = Math.floor(Math.log10(min) + 1e-9);
  const kMax = Math.floor(Math.log10(max) + 1e-9);
  let cands: number[] = [];
  for (let k = kMin - 1; k <= kMax + 1; k++) cands.push(...oneTwoFive(k));
  let lo = Math.max(...cands.filter((c) => c <= min * (1 + 1e-9)));
  let hi = Math.min(...cands.filter((c) => c >= max * (1 - 1e-9)));
  let ticks: number[];
  if (Math.log10(hi / lo) <= 2.5) {
    ticks = cands.filter((c) => c >= lo * (1 - 1e-9) && c <= hi * (1 + 1e-9));
  } else {
    lo = 10 ** kMin;
    hi = 10 ** Math.ceil(Math.log10(max) - 1e-9);
    const decades = Math.round(Math.log10(hi / lo));
    const every = Math.max(1, Math.ceil(decades / 6));
    ticks = [];
    for (let k = kMin; k <= Math.round(Math.log10(hi)); k += every) ticks.push(clean(10 ** k));
  }
  cands = [];
  for (let k = Math.floor(Math.log10(lo) + 1e-9); k <= Math.ceil(Math.log10(hi)); k++) {
    for (let m = 1; m <= 9; m++) cands.push(clean(m * 10 ** k));
  }
  const minor = cands.filter((c) => c > lo * (1 + 1e-9) && c < hi * (1 - 1e-9) && !ticks.includes(c));
  return { lo, hi, log: true, ticks, minor, format: formatLog };
}

/** Smallest and largest value (without spreading large arrays into arguments). */
function extent(values: number[]): [number, number] {
  let min = Infinity;
  let max = -Infinity;
  for (const v of values) {
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return [min, max];
}

/** Picks a log axis for positive values spanning >= 4x, a zero-based linear one otherwise. */
function valueAxis(values: number[]): Axis {
  const [min, max] = extent(values);
  if (min > 0 && max / min >= LOG_SCALE_RATIO) return logAxis(min, max);
  return linearAxis(min, max, { includeZero: true });
}

interface Rect {
  x: number;
  y: number;
  w: number;
  h: number;
}

function project(axis: Axis, v: number, from: number, length: number): number {
  const t = axis.log
    ? (Math.log10(v) - Math.log10(axis.lo)) / (Math.log10(axis.hi) - Math.log10(axis.lo))
    : (v - axis.lo) / (axis.hi - axis.lo);
  return from + t * length;
}

/** Rough text width for 12px-ish sans-serif labels. */
function textWidth(text: string, size: number): number {
  return text.length * size * 0.58;
}

interface Series {
  key: 'trainCost' | 'validationError' | 'testError';
  /** Legend labels, longest first; the first that fits the panel is used. */
  labels: string[];
  points: Array<[number, number]>;
  style: 'line' | 'markers';
}

interface PanelSpec {
  title: string;
  yTitle: string;
  empty: string;
  series: Series[];
}

function fmtValue(v: number): string {
  return Math.abs(v) >= 1000 || (v !== 0 && Math.abs(v) < 1e-3) ? v.toExponential(2) : String(Number(v.toPrecision(3)));
}

interface LegendItem {
  series: Series;
  label: string;
  x: number;
  row: number;
}

/** Places legend entries left to right, wrapping into rows that fit the panel. */
function layoutLegend(series: Series[], box: Rect): LegendItem[] {
  const left = box.x + PLOT_LEFT;
  const right = box.x + box.w - 8;
  const items: LegendItem[] = [];
  let x = left;
  let row = 0;
  for (const s of series) {
    const label = s.labels.find((l) => 26 + textWidth(l, LEGEND_FONT) <= right - left) ?? s.labels[s.labels.length - 1];
    const w = 26 + textWidth(label, LEGEND_FONT) + 18;
    if (x > left && x + w > right) {
      x = left;
      row += 1;
    }
    items.push({ series: s, label, x, row });
    x += w;
  }
  return items;
}

function legendRows(items: LegendItem[]): number {
  return items.length === 0 ? 0 : items[items.length - 1].row + 1;
}

/**
 * Draws one panel into `box`. `rows` legend rows are reserved (the larger of
 * the two panels' needs) so both plot areas line up.
 */
function renderPanel(out: string[], box: Rect, spec: PanelSpec, xAxis: Axis, rows: number): void {
  const present = spec.series.filter((s) => s.points.length > 0);

  out.push(`<g class="panel">`);
  out.push(
    `<text x="${num(box.x + PLOT_LEFT)}" y="${num(box.y + 14)}" font-size="14" font-weight="600" fill="${COLORS.text}">${esc(spec.title)}</text>`,
  );

  const legend: string[] = [];
  for (const { series: s, label, x: lx, row } of layoutLegend(present, box)) {
    const ly = box.y + 36 + row * LEGEND_ROW;
    const color = COLORS[s.key];
    if (s.style === 'line') {
      legend.push(
        `<line x1="${num(lx)}" y1="${num(ly - 4)}" x2="${num(lx + 20)}" y2="${num(ly - 4)}" stroke="${color}" stroke-width="2.5" stroke-linecap="round"/>`,
      );
    } else {
      legend.push(`<circle cx="${num(lx + 10)}" cy="${num(ly - 4)}" r="4.5" fill="${color}" stroke="#ffffff" stroke-width="1.5"/>`);
    }
    legend.push(
      `<text x="${num(lx + 26)}" y="${num(ly)}" font-size="${LEGEND_FONT}" fill="${COLORS.text}">${esc(label)}</text>`,
    );
  }
  out.push(`<g class="legend">`, ...legend, `</g>`);

  const plot: Rect = { x: box.x + PLOT_LEFT, y: box.y + 36 + Math.max(rows, 1) * LEGEND_ROW - 4, w: 0, h: 0 };
  plot.w = Math.max(10, box.x + box.w - 12 - plot.x);
  plot.h = Math.max(10, box.y + box.h - 44 - plot.y);
  const bottom = plot.y + plot.h;

  // X grid, ticks and title (shared epoch axis).
  const xs: string[] = [];
  for (const t of xAxis.ticks) {
    const x = project(xAxis, t, plot.x, plot.w);
    xs.push(`<line x1="${num(x)}" y1="${num(plot.y)}" x2="${num(x)}" y2="${num(bottom)}" stroke="${COLORS.grid}"/>`);
    xs.push(`<line x1="${num(x)}" y1="${num(bottom)}" x2="${num(x)}" y2="${num(bottom + 5)}" stroke="${COLORS.axis}"/>`);
    xs.push(
      `<text x="${num(x)}" y="${num(bottom + 18)}" font-size="11" text-anchor="middle" fill="${COLORS.muted}">${esc(xAxis.format(t))}</text>`,
    );
  }
  xs.push(
    `<text x="${num(plot.x + plot.w / 2)}" y="${num(bottom + 36)}" font-size="12" text-anchor="middle" fill="${COLORS.text}">Epoch</text>`,
  );

  if (present.length === 0) {
    out.push(`<g class="x-axis">`, ...xs, `</g>`);
    out.push(
      `<rect x="${num(plot.x)}" y="${num(plot.y)}" width="${num(plot.w)}" height="${num(plot.h)}" fill="none" stroke="${COLORS.axis}"/>`,
    );
    out.push(
      `<text x="${num(plot.x + plot.w / 2)}" y="${num(plot.y + plot.h / 2)}" font-size="13" text-anchor="middle" fill="${COLORS.muted}">${esc(spec.empty)}</text>`,
    );
    out.push(`</g>`);
    return;
  }

  const yAxis = valueAxis(present.flatMap((s) => s.points.map((p) => p[1])));
  const Y = (v: number): number => project(yAxis, v, bottom, -plot.h);
  const X = (v: number): number => project(xAxis, v, plot.x, plot.w);

  const minor: string[] = [];
  for (const m of yAxis.minor) {
    minor.push(`<line x1="${num(plot.x)}" y1="${num(Y(m))}" x2="${num(plot.x + plot.w)}" y2="${num(Y(m))}" stroke="${COLORS.minorGrid}"/>`);
  }
  const ys: string[] = [];
  for (const t of yAxis.ticks) {
    const y = Y(t);
    ys.push(`<line x1="${num(plot.x)}" y1="${num(y)}" x2="${num(plot.x + plot.w)}" y2="${num(y)}" stroke="${COLORS.grid}"/>`);
    ys.push(`<line x1="${num(plot.x - 5)}" y1="${num(y)}" x2="${num(plot.x)}" y2="${num(y)}" stroke="${COLORS.axis}"/>`);
    ys.push(
      `<text x="${num(plot.x - 8)}" y="${num(y + 4)}" font-size="11" text-anchor="end" fill="${COLORS.muted}">${esc(yAxis.format(t))}</text>`,
    );
  }
  const yTitle = yAxis.log ? `${spec.yTitle} (log scale)` : spec.yTitle;
  const cx = box.x + 14;
  const cy = plot.y + plot.h / 2;
  ys.push(
    `<text x="${num(cx)}" y="${num(cy)}" font-size="12" text-anchor="middle" fill="${COLORS.text}" transform="rotate(-90 ${num(cx)} ${num(cy)})">${esc(yTitle)}</text>`,
  );

  out.push(`<g class="minor-grid">`, ...minor, `</g>`);
  out.push(`<g class="x-axis">`, ...xs, `</g>`);
  out.push(`<g class="y-axis">`, ...ys, `</g>`);
  out.push(
    `<path d="M${num(plot.x)} ${num(plot.y)}V${num(bottom)}H${num(plot.x + plot.w)}" fill="none" stroke="${COLORS.axis}"/>`,
  );

  for (const s of present) {
    const color = COLORS[s.key];
    const pts = s.points.map(([x, y]) => [num(X(x)), num(Y(y))]);
    out.push(`<g class="series">`);
    if (s.style === 'line') {
      out.push(
        `<polyline data-series="${s.key}" points="${pts.map((p) => p.join(',')).join(' ')}" fill="none" stroke="${color}" stroke-width="2" stroke-linejoin="round" stroke-linecap="round"/>`,
      );
      if (s.points.length <= MAX_DOTTED_POINTS) {
        const r = s.points.length === 1 ? 4 : 2.5;
        for (const [px, py] of pts) out.push(`<circle cx="${px}" cy="${py}" r="${r}" fill="${color}"/>`);
      }
    } else {
      for (const [px, py] of pts) {
        out.push(
          `<circle data-series="${s.key}" cx="${px}" cy="${py}" r="4.5" fill="${color}" stroke="#ffffff" stroke-width="1.5"/>`,
        );
      }
    }
    out.push(`</g>`);
  }
  out.push(`</g>`);
}

/**
 * Renders training curves as a standalone SVG document (with `xmlns` and
 * `viewBox`), ready to write to a `.svg` file or embed in HTML.
 *
 * Left (or top, when the image is taller than wide) panel: training cost per
 * epoch as a line. Right (or bottom) panel: validation error % as a line and
 * the test error % of the best model as markers. Each series is one
 * `<polyline>` (line series) or a group of `<circle>`s (markers), tagged with
 * `data-series="trainCost" | "validationError" | "testError"`. Points with a
 * missing or non-finite value are left out of that series; a panel without
 * data says so instead of drawing axes.
 *
 * @param points - Per-epoch values, in any order (sorted by epoch here).
 * @param options - Title and size; defaults: `Training curves`, 1000 x 420.
 * @returns The SVG document text.
 * @throws RangeError if `width` or `height` is not a positive finite number.
 */
export function renderTrainingCurves(
  points: CurvePoint[],
  options: CurveOptions = {},
): string {
  const width = options.width ?? 1000;
  const height = options.height ?? 420;
  if (!(Number.isFinite(width) && width > 0 && Number.isFinite(height) && height > 0)) {
    throw new RangeError(`width and height must be positive numbers, got ${width} x ${height}`);
  }
  const title = options.title ?? 'Training curves';

  const sorted = points.filter((p) => Number.isFinite(p.epoch)).sort((a, b) => a.epoch - b.epoch);
  const series = (key: 'trainCost' | 'validationError' | 'testError'): Array<[number, number]> =>
    sorted
      .filter((p) => typeof p[key] === 'number' && Number.isFinite(p[key]))
      .map((p) => [p.epoch, p[key] as number]);
  const cost = series('trainCost');
  const valid = series('validationError');
  const test = series('testError');

  const epochs = sorted.map((p) => p.epoch);
  const [first, last] = epochs.length > 0 ? extent(epochs) : [0, 1];
  const xAxis = linearAxis(first, Math.max(last, first + 1), {
    integer: epochs.every(Number.isInteger),
    includeZero: first >= 0,
  });

  const costLabels = ['Training cost'];
  if (cost.length > 0) {
    const last = fmtValue(cost[cost.length - 1][1]);
    costLabels.unshift(`Training cost (last ${last})`, `Cost (last ${last})`);
  }
  const validLabels = ['Validation error'];
  if (valid.length > 0) {
    const [epoch, value] = valid.reduce((a, b) => (b[1] < a[1] ? b : a));
    validLabels.unshift(
      `Validation error (best ${value.toFixed(2)}% at epoch ${epoch})`,
      `Validation (best ${value.toFixed(2)}% @ ${epoch})`,
    );
  }
  const testLabels = ['Test error of best model', 'Test (best model)'];
  if (test.length > 0) {
    const [epoch, value] = test[test.length - 1];
    testLabels.unshift(
      `Test error of best model (${value.toFixed(2)}% at epoch ${epoch})`,
      `Test, best model (${value.toFixed(2)}% @ ${epoch})`,
    );
  }

  const stacked = width < height * 1.25;
  const outer = 16;
  const top = title.length > 0 ? 52 : 16;
  const gap = stacked ? 24 : 32;
  const boxes: Rect[] = stacked
    ? [0, 1].map((i) => {
        const h = (height - top - outer - gap) / 2;
        return { x: outer, y: top + i * (h + gap), w: width - 2 * outer, h };
      })
    : [0, 1].map((i) => {
        const w = (width - 2 * outer - gap) / 2;
        return { x: outer + i * (w + gap), y: top, w, h: height - top - outer };
      });

  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${num(width)}" height="${num(height)}" viewBox="0 0 ${num(width)} ${num(height)}" font-family="${FONT}">`,
  );
  out.push(`<title>${esc(title || 'Training curves')}</title>`);
  out.push(`<rect x="0" y="0" width="${num(width)}" height="${num(height)}" fill="#ffffff"/>`);
  if (title.length > 0) {
    out.push(
      `<text x="${num(width / 2)}" y="32" font-size="18" font-weight="600" text-anchor="middle" fill="${COLORS.text}">${esc(title)}</text>`,
    );
  }
  const specs: PanelSpec[] = [
    {
      title: 'Training cost',
      yTitle: 'Cost',
      empty: 'No training cost recorded',
      series: [{ key: 'trainCost', labels: costLabels, points: cost, style: 'line' }],
    },
    {
      title: 'Error rate',
      yTitle: 'Error (%)',
      empty: 'No error rates recorded',
      series: [
        { key: 'validationError', labels: validLabels, points: valid, style: 'line' },
        { key: 'testError', labels: testLabels, points: test, style: 'markers' },
      ],
    },
  ];
  const rows = Math.max(
    ...specs.map((spec, i) => legendRows(layoutLegend(spec.series.filter((s) => s.points.length > 0), boxes[i]))),
  );
  specs.forEach((spec, i) => renderPanel(out, boxes[i], spec, xAxis, rows));
  out.push('</svg>');
  return `<?xml version="1.0" encoding="UTF-8"?>\n${out.join('\n')}\n`;
}
