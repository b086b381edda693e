/**
 * Training curves as a standalone SVG document, written by hand (no plotting
 * library): one panel with the training cost per epoch, one with the
 * validation error (line) and the test error of the best model (step line).
 *
 * The image scales to its container (`width="100%"` and a `viewBox`, no fixed
 * pixel size). Both panels share an epoch axis that spans exactly the epochs
 * with data. Axes get "nice" round ticks (1, 2, 5 x 10^k). The cost axis
 * switches to a log scale when its values are positive and span at least a
 * factor of 4 (a cost falling by orders of magnitude is a flat tail on a
 * linear axis). The error axis is linear and cut off at twice the best error,
 * so the end of training (where 0.9 % and 1.1 % differ) fills the panel rather
 * than the first epochs' fall from ~10 %; a note names the epochs cut off.
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
  /**
   * Width of the drawing in SVG user units (default 1000). The image itself
   * is as wide as its container; this and `height` set its aspect ratio and
   * how large text is relative to the plots.
   */
  width?: number;
  /** Height of the drawing in SVG user units (default 460). */
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
const PLOT_LEFT = 70;
/** Font sizes in user units; at the default 1000-unit width a 900-pixel window shows them at 90 %. */
const TICK_FONT = 12;
const LABEL_FONT = 13;
const LEGEND_FONT = 13;
const LEGEND_ROW = 19;
/** A value axis is logarithmic when its positive values span at least this factor. */
const LOG_SCALE_RATIO = 4;
/** Line series show a dot at each point when they have at most this many points. */
const MAX_DOTTED_POINTS = 40;
/** The error axis is cut off at this multiple of the best (lowest) error. */
const ERROR_CUTOFF_FACTOR = 2;
/** Space between the plot frame and the first/last epoch, so end points clear the axes. */
const X_INSET = 8;

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

function linearAxis(min: number, max: number, opts: { includeZero?: boolean }): Axis {
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
  const step = niceStep(hi - lo, 5);
  lo = clean(Math.floor(lo / step + 1e-9) * step);
  hi = clean(Math.ceil(hi / step - 1e-9) * step);
  const ticks: number[] = [];
  for (let i = 0; lo + i * step <= hi + step * 1e-9; i++) ticks.push(clean(lo + i * step));
  return { lo, hi, log: false, ticks, minor: [], format: stepFormat(step) };
}

/** Formats tick values with as many decimals as `step` needs (no "-0"). */
function stepFormat(step: number): (v: number) => string {
  const decimals = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
  return (v) => {
    const s = v.toFixed(Math.min(decimals, 20));
    return /^-0(\.0*)?$/.test(s) ? s.slice(1) : s;
  };
}

/**
 * The epoch axis: exactly the epochs with data (a lone epoch gets half an
 * epoch either side), ticks at round epochs, plus the first and the last epoch
 * when no round tick is near them so the reader sees where the run starts and
 * stops.
 */
function epochAxis(first: number, last: number, integer: boolean): Axis {
  const [lo, hi] = last > first ? [first, last] : [first - 0.5, first + 0.5];
  let step = niceStep(hi - lo, 5);
  if (integer) step = Math.max(1, Math.round(step));
  const ticks: number[] = [];
  for (let k = Math.ceil(lo / step - 1e-9); k * step <= hi + step * 1e-9; k++) ticks.push(clean(k * step));
  if (integer && last > first) {
    if (ticks.length === 0 || ticks[0] - first > step / 2) ticks.unshift(first);
    if (last - ticks[ticks.length - 1] > step / 2) ticks.push(last);
  }
  return { lo, hi, log: false, ticks, minor: [], format: stepFormat(step) };
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

/**
 * The error-rate axis: linear, from a little below the best error up to
 * {@link ERROR_CUTOFF_FACTOR} times it, or to the highest error of the run's
 * second half if that is higher (the end of training is always shown whole),
 * or to the highest error if nothing needs cutting. A baseline close to 0
 * becomes 0.
 */
function errorAxis(points: Array<[number, number]>, xAxis: Axis): Axis {
  const [min, max] = extent(points.map((p) => p[1]));
  const middle = (xAxis.lo + xAxis.hi) / 2;
  const [, tailMax] = extent(points.filter((p) => p[0] >= middle).map((p) => p[1]));
  const cutoff = Math.max(ERROR_CUTOFF_FACTOR * min, tailMax);
  const top = cutoff > 0 ? Math.min(max, cutoff) : max;
  let bottom = min - 0.1 * (top - min);
  if (bottom < 0.25 * top) bottom = 0;
  return linearAxis(bottom, top, { includeZero: bottom === 0 });
}

/** "1-9, 12, 15-17": sorted epochs as ranges of consecutive ones, at most `max` ranges. */
function epochRanges(epochs: number[], max: number): string {
  const ranges: Array<[number, number]> = [];
  for (const e of epochs) {
    const r = ranges[ranges.length - 1];
    if (r && (e === r[1] || e === r[1] + 1)) r[1] = e;
    else ranges.push([e, e]);
  }
  const parts = ranges.slice(0, max).map(([a, b]) => (a === b ? `${a}` : `${a}\u2013${b}`));
  return ranges.length > max ? `${parts.join(', ')}, \u2026` : parts.join(', ');
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
  /** `step`: each value holds until the next one, the last until the last epoch. */
  style: 'line' | 'step';
}

interface PanelSpec {
  title: string;
  yTitle: string;
  empty: string;
  series: Series[];
  /** Chooses the value axis from all the panel's points. */
  axis(points: Array<[number, number]>, xAxis: Axis): Axis;
  /** The unit after values in the cut-off note. */
  unit: string;
}

function fmtValue(v: number): string {
  return Math.abs(v) >= 1000 || (v !== 0 && Math.abs(v) < 1e-3) ? v.toExponential(2) : String(Number(v.toPrecision(3)));
}

/** A legend entry: a series with its swatch, or (no series) the cut-off note on a row of its own. */
interface LegendEntry {
  series?: Series;
  /** Longest first; the first that fits the panel is used. */
  labels: string[];
}

interface LegendItem {
  entry: LegendEntry;
  label: string;
  x: number;
  row: number;
}

/** A panel with its data and value axis worked out, ready to lay out and draw. */
interface Panel {
  spec: PanelSpec;
  present: Series[];
  /** Absent when no series has data. */
  yAxis?: Axis;
  /** Points above the value axis: not drawn (clipped), named in the legend's note. */
  above: Array<[number, number]>;
  legend: LegendEntry[];
}

function preparePanel(spec: PanelSpec, xAxis: Axis): Panel {
  const present = spec.series.filter((s) => s.points.length > 0);
  const legend: LegendEntry[] = present.map((s) => ({ series: s, labels: s.labels }));
  if (present.length === 0) return { spec, present, above: [], legend };
  const yAxis = spec.axis(present.flatMap((s) => s.points), xAxis);
  const above = present.flatMap((s) => s.points).filter((p) => p[1] > yAxis.hi * (1 + 1e-9));
  if (above.length > 0) {
    const epochs = [...new Set(above.map((p) => p[0]))].sort((a, b) => a - b);
    const [, highest] = extent(above.map((p) => p[1]));
    const limit = `${yAxis.format(yAxis.hi)}${spec.unit}`;
    const which = `epoch${epochs.length > 1 ? 's' : ''} ${epochRanges(epochs, 3)}`;
    legend.push({
      labels: [`\u2191 Cut off above ${limit}: ${which} (up to ${fmtValue(highest)}${spec.unit})`, `\u2191 Cut off above ${limit}: ${which}`],
    });
  }
  return { spec, present, yAxis, above, legend };
}

/** Places legend entries left to right, wrapping into rows that fit the panel; a note starts a row. */
function layoutLegend(entries: LegendEntry[], box: Rect): LegendItem[] {
  const left = box.x + PLOT_LEFT;
  const right = box.x + box.w - 8;
  const items: LegendItem[] = [];
  let x = left;
  let row = 0;
  for (const entry of entries) {
    const swatch = entry.series ? 26 : 0;
    const label = entry.labels.find((l) => swatch + textWidth(l, LEGEND_FONT) <= right - left) ?? entry.labels[entry.labels.length - 1];
    const w = swatch + textWidth(label, LEGEND_FONT) + 18;
    if (x > left && (x + w > right || !entry.series)) {
      x = left;
      row += 1;
    }
    items.push({ entry, label, x, row });
    x += w;
  }
  return items;
}

function legendRows(items: LegendItem[]): number {
  return items.length === 0 ? 0 : items[items.length - 1].row + 1;
}

/** The points a series is drawn through: a step series holds each value until the next. */
function drawnPoints(s: Series, lastEpoch: number): Array<[number, number]> {
  if (s.style === 'line') return s.points;
  const out: Array<[number, number]> = [];
  s.points.forEach(([x, y], i) => {
    if (i > 0) out.push([x, s.points[i - 1][1]]);
    out.push([x, y]);
  });
  const [lastX, lastY] = s.points[s.points.length - 1];
  if (lastX < lastEpoch) out.push([lastEpoch, lastY]);
  return out;
}

/**
 * Draws one panel into `box`. `rows` legend rows are reserved (the larger of
 * the two panels' needs) so both plot areas line up.
 */
function renderPanel(out: string[], box: Rect, panel: Panel, xAxis: Axis, lastEpoch: number, rows: number, id: string): void {
  const { spec, present, yAxis, above } = panel;

  out.push(`<g class="panel">`);
  out.push(
    `<text x="${num(box.x + PLOT_LEFT)}" y="${num(box.y + 14)}" font-size="14" font-weight="600" fill="${COLORS.text}">${esc(spec.title)}</text>`,
  );

  const legend: string[] = [];
  for (const { entry, label, x: lx, row } of layoutLegend(panel.legend, box)) {
    const ly = box.y + 38 + row * LEGEND_ROW;
    const s = entry.series;
    if (!s) {
      legend.push(`<text class="cut-off" x="${num(lx)}" y="${num(ly)}" font-size="${LEGEND_FONT}" fill="${COLORS.muted}">${esc(label)}</text>`);
      continue;
    }
    const color = COLORS[s.key];
    const d = s.style === 'line' ? `M${num(lx)} ${num(ly - 4)}H${num(lx + 20)}` : `M${num(lx)} ${num(ly - 8)}H${num(lx + 10)}V${num(ly)}H${num(lx + 20)}`;
    legend.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="2.5" stroke-linecap="round" stroke-linejoin="round"/>`);
    legend.push(
      `<text x="${num(lx + 26)}" y="${num(ly)}" font-size="${LEGEND_FONT}" fill="${COLORS.text}">${esc(label)}</text>`,
    );
  }
  out.push(`<g class="legend">`, ...legend, `</g>`);

  const plot: Rect = { x: box.x + PLOT_LEFT, y: box.y + 38 + Math.max(rows, 1) * LEGEND_ROW, w: 0, h: 0 };
  plot.w = Math.max(10 + 2 * X_INSET, box.x + box.w - 12 - plot.x);
  plot.h = Math.max(10, box.y + box.h - 46 - plot.y);
  const bottom = plot.y + plot.h;
  const X = (v: number): number => project(xAxis, v, plot.x + X_INSET, plot.w - 2 * X_INSET);

  // X grid, ticks and title (shared epoch axis).
  const xs: string[] = [];
  for (const t of xAxis.ticks) {
    const x = X(t);
    xs.push(`<line x1="${num(x)}" y1="${num(plot.y)}" x2="${num(x)}" y2="${num(bottom)}" stroke="${COLORS.grid}"/>`);
    xs.push(`<line x1="${num(x)}" y1="${num(bottom)}" x2="${num(x)}" y2="${num(bottom + 5)}" stroke="${COLORS.axis}"/>`);
    xs.push(
      `<text x="${num(x)}" y="${num(bottom + 19)}" font-size="${TICK_FONT}" text-anchor="middle" fill="${COLORS.muted}">${esc(xAxis.format(t))}</text>`,
    );
  }
  xs.push(
    `<text x="${num(plot.x + plot.w / 2)}" y="${num(bottom + 39)}" font-size="${LABEL_FONT}" text-anchor="middle" fill="${COLORS.text}">Epoch</text>`,
  );

  if (!yAxis) {
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

  const Y = (v: number): number => project(yAxis, v, bottom, -plot.h);

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
      `<text x="${num(plot.x - 8)}" y="${num(y + 4)}" font-size="${TICK_FONT}" text-anchor="end" fill="${COLORS.muted}">${esc(yAxis.format(t))}</text>`,
    );
  }
  const yTitle = yAxis.log ? `${spec.yTitle} (log scale)` : spec.yTitle;
  const cx = box.x + 14;
  const cy = plot.y + plot.h / 2;
  ys.push(
    `<text x="${num(cx)}" y="${num(cy)}" font-size="${LABEL_FONT}" text-anchor="middle" fill="${COLORS.text}" transform="rotate(-90 ${num(cx)} ${num(cy)})">${esc(yTitle)}</text>`,
  );

  out.push(`<g class="minor-grid">`, ...minor, `</g>`);
  out.push(`<g class="x-axis">`, ...xs, `</g>`);
  out.push(`<g class="y-axis">`, ...ys, `</g>`);
  out.push(
    `<path class="frame" d="M${num(plot.x)} ${num(plot.y)}V${num(bottom)}H${num(plot.x + plot.w)}" fill="none" stroke="${COLORS.axis}"/>`,
  );

  // Values above the axis (the error axis cuts off the first epochs) are
  // clipped at the top of the plot area; the legend's note names them.
  let clip = '';
  if (above.length > 0) {
    clip = ` clip-path="url(#${id})"`;
    out.push(
      `<clipPath id="${id}"><rect x="${num(plot.x)}" y="${num(plot.y)}" width="${num(plot.w)}" height="${num(plot.h + 6)}"/></clipPath>`,
    );
  }

  for (const s of present) {
    const color = COLORS[s.key];
    const pts = drawnPoints(s, lastEpoch).map(([x, y]) => [num(X(x)), num(Y(y))]);
    out.push(`<g class="series"${clip}>`);
    out.push(
      `<polyline data-series="${s.key}" points="${pts.map((p) => p.join(',')).join(' ')}" fill="none" stroke="${color}" stroke-width="2" stroke-linejoin="round" stroke-linecap="round"/>`,
    );
    if (s.points.length <= MAX_DOTTED_POINTS) {
      const r = s.points.length === 1 ? 4 : 2.5;
      for (const [x, y] of s.points) out.push(`<circle cx="${num(X(x))}" cy="${num(Y(y))}" r="${r}" fill="${color}"/>`);
    }
    out.push(`</g>`);
  }
  out.push(`</g>`);
}

/**
 * Renders training curves as a standalone SVG document (with `xmlns`, a
 * `viewBox` and `width="100%"`, so it scales to its container), ready to write
 * to a `.svg` file or embed in HTML.
 *
 * Left (or top, when the image is taller than wide) panel: training cost per
 * epoch as a line. Right (or bottom) panel: validation error % as a line and
 * the test error % of the best model as a step line (it is measured only when
 * validation improves, and holds until the next improvement and to the last
 * epoch). Each series is one `<polyline>`, tagged with
 * `data-series="trainCost" | "validationError" | "testError"`. The epoch axis
 * spans the epochs with data. The error axis is cut off at twice the best
 * error (see the file comment); lines above it are clipped, and a note names
 * the epochs cut off and the highest value. Points with a missing or
 * non-finite value are left out of that series; a panel without data says so
 * instead of drawing axes.
 *
 * @param points - Per-epoch values, in any order (sorted by epoch here).
 * @param options - Title and drawing size; defaults: `Training curves`, 1000 x 460.
 * @returns The SVG document text.
 * @throws RangeError if `width` or `height` is not a positive finite number.
 */
export function renderTrainingCurves(
  points: CurvePoint[],
  options: CurveOptions = {},
): string {
  const width = options.width ?? 1000;
  const height = options.height ?? 460;
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

  const epochs = [...cost, ...valid, ...test].map((p) => p[0]);
  const [first, last] = epochs.length > 0 ? extent(epochs) : [1, 1];
  const xAxis = epochAxis(first, last, epochs.every(Number.isInteger));

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
    // No fixed pixel size: as wide as the container, as high as the viewBox's aspect ratio says.
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${num(width)} ${num(height)}" width="100%" font-family="${FONT}">`,
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
      unit: '',
      axis: (pts) => valueAxis(pts.map((p) => p[1])),
      series: [{ key: 'trainCost', labels: costLabels, points: cost, style: 'line' }],
    },
    {
      title: 'Error rate',
      yTitle: 'Error (%)',
      empty: 'No error rates recorded',
      unit: ' %',
      axis: errorAxis,
      series: [
        { key: 'validationError', labels: validLabels, points: valid, style: 'line' },
        { key: 'testError', labels: testLabels, points: test, style: 'step' },
      ],
    },
  ];
  const panels = specs.map((spec) => preparePanel(spec, xAxis));
  const rows = Math.max(...panels.map((panel, i) => legendRows(layoutLegend(panel.legend, boxes[i]))));
  panels.forEach((panel, i) => renderPanel(out, boxes[i], panel, xAxis, last, rows, `lenet-curves-clip-${i}`));
  out.push('</svg>');
  return `<?xml version="1.0" encoding="UTF-8"?>\n${out.join('\n')}\n`;
}
