/**
 * The run report's latency plot: a self-contained HTML page with an SVG of operation latency (log
 * scale) against invoke time, coloured by outcome, with the fault windows (inject → heal) shaded.
 * No dependencies; open it in any browser.
 *
 * A short run shows every operation as a dot. A long one would make a page of millions of dots, so
 * its time axis is cut into slices and each slice shows, per outcome, the median, the 99th
 * percentile and the maximum latency of all its operations (exact: each slice's latencies are
 * sorted, not sampled), joined by a line; hovering shows the count and the figures. The page stays
 * the same size however long the run.
 */
import type { FaultRecord } from './nemesis.js';
import { OutcomeCode, type OperationLog } from './oplog.js';

const colours: Record<string, string> = { ok: '#2b8a3e', fail: '#c92a2a', info: '#e67700' };
const OUTCOME_NAMES = ['ok', 'fail', 'info'] as const;

/** Up to this many operations, one dot each. */
export const DOTS_LIMIT = 10_000;
/** Time slices of a long run's plot. */
export const SLICES = 400;

/** Where the page goes: a file, or a string for tests. */
export interface TextSink {
  write(text: string): void;
}

function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** Inject → heal windows, per nemesis, in run-clock ms. */
export function faultWindows(faults: readonly FaultRecord[], endMs: number): { nemesis: string; from: number; to: number; detail: string }[] {
  const open = new Map<string, FaultRecord>();
  const windows: { nemesis: string; from: number; to: number; detail: string }[] = [];
  for (const f of faults) {
    if (f.error !== undefined) continue;
    if (f.action === 'inject') open.set(f.nemesis, f);
    else {
      const start = open.get(f.nemesis);
      if (start) windows.push({ nemesis: f.nemesis, from: start.time, to: f.time, detail: start.detail });
      open.delete(f.nemesis);
    }
  }
  for (const start of open.values()) windows.push({ nemesis: start.nemesis, from: start.time, to: endMs, detail: start.detail });
  return windows;
}

/** Latency figures of one slice and outcome (nearest-rank percentiles). */
export interface SliceFigures {
  readonly slice: number;
  readonly outcome: (typeof OUTCOME_NAMES)[number];
  readonly count: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
}

/**
 * Per slice of [0, endMs) and outcome, exact latency figures. Latencies are grouped by slice and
 * outcome with one counting pass (8 bytes an operation, for the time of the call), then each group
 * is sorted on its own.
 */
export function sliceFigures(log: OperationLog, endMs: number, slices: number): SliceFigures[] {
  const n = log.length;
  const groups = slices * OUTCOME_NAMES.length;
  const groupOf = (row: number): number => {
    const slice = Math.min(slices - 1, Math.max(0, Math.floor((log.invokeTime(row) / endMs) * slices)));
    return slice * OUTCOME_NAMES.length + Math.min(OutcomeCode.info, log.outcomeCode(row));
  };
  const start = new Int32Array(groups + 1);
  for (let row = 0; row < n; row++) start[groupOf(row) + 1]!++;
  for (let g = 0; g < groups; g++) start[g + 1]! += start[g]!;
  const fill = start.slice(0, groups);
  const latencies = new Float64Array(n);
  for (let row = 0; row < n; row++) latencies[fill[groupOf(row)]!++] = latencyOf(log, row, endMs);
  const figures: SliceFigures[] = [];
  for (let g = 0; g < groups; g++) {
    const count = start[g + 1]! - start[g]!;
    if (count === 0) continue;
    const group = latencies.subarray(start[g]!, start[g + 1]!).sort();
    const rank = (p: number): number => group[Math.max(0, Math.ceil(p * count) - 1)]!;
    figures.push({
      slice: Math.floor(g / OUTCOME_NAMES.length),
      outcome: OUTCOME_NAMES[g % OUTCOME_NAMES.length]!,
      count,
      p50: rank(0.5),
      p90: rank(0.9),
      p99: rank(0.99),
      max: group[count - 1]!,
    });
  }
  return figures;
}

/** Fault windows named on the plot, at most; beyond that the names would overlap. */
const NAMED_WINDOWS = 60;

/**
 * More fault windows than slices (a run of hours) are drawn one shaded area per slice, spanning
 * the windows that start in it, named by what they were: the page stays bounded.
 */
function windowsBySlice(windows: readonly { nemesis: string; from: number; to: number; detail: string }[], endMs: number): { nemesis: string; from: number; to: number; detail: string }[] {
  const groups = new Map<number, { from: number; to: number; kinds: Map<string, number>; count: number }>();
  for (const w of windows) {
    const slice = Math.min(SLICES - 1, Math.max(0, Math.floor((w.from / endMs) * SLICES)));
    const group = groups.get(slice) ?? { from: w.from, to: w.to, kinds: new Map<string, number>(), count: 0 };
    group.from = Math.min(group.from, w.from);
    group.to = Math.max(group.to, w.to);
    group.kinds.set(w.nemesis, (group.kinds.get(w.nemesis) ?? 0) + 1);
    group.count++;
    groups.set(slice, group);
  }
  return [...groups.values()].map((g) => ({
    nemesis: `${g.count} fault${g.count === 1 ? '' : 's'}`,
    from: g.from,
    to: g.to,
    detail: [...g.kinds].map(([nemesis, n]) => `${nemesis} ×${n}`).join(', '),
  }));
}

/** An operation with no completion is drawn as lasting to the end of the run. */
function latencyOf(log: OperationLog, row: number, endMs: number): number {
  const complete = log.completeTime(row);
  return (Number.isFinite(complete) ? complete : endMs) - log.invokeTime(row);
}

export function writeLatencyHtml(out: TextSink, title: string, log: OperationLog, faults: readonly FaultRecord[], verdict: string): void {
  const width = 1000;
  const height = 420;
  const left = 60;
  const right = 20;
  const top = 20;
  const bottom = 40;
  let endMs = 1;
  let maxLat = 10;
  for (let row = 0; row < log.length; row++) {
    const complete = log.completeTime(row);
    if (!Number.isFinite(complete)) continue;
    endMs = Math.max(endMs, complete);
    maxLat = Math.max(maxLat, complete - log.invokeTime(row));
  }
  for (const f of faults) endMs = Math.max(endMs, f.time);
  const minLat = 0.1;
  const x = (ms: number): number => left + (ms / endMs) * (width - left - right);
  const y = (lat: number): number => {
    const l = Math.log10(Math.max(minLat, lat));
    const lo = Math.log10(minLat);
    const hi = Math.log10(maxLat);
    return top + (1 - (l - lo) / (hi - lo)) * (height - top - bottom);
  };
  const dots = log.length <= DOTS_LIMIT;
  const sliceMs = endMs / SLICES;
  const what = dots
    ? 'Latency of each operation (log scale) by invoke time'
    : `Latency (log scale) by invoke time, in ${SLICES} slices of ${formatMs(sliceMs)}: per outcome the median (small dot), ` +
      `the 99th percentile (line end) and the maximum (large dot) over every operation in the slice`;
  out.write(`<!doctype html>
<html><head><meta charset="utf-8"><title>${escape(title)}</title>
<style>body{font-family:sans-serif;margin:20px}code{background:#f1f3f5;padding:2px 4px}</style></head>
<body><h1>${escape(title)}</h1>
<p><code>${escape(verdict)}</code></p>
<p>${what}; <span style="color:${colours.ok}">ok</span>,
<span style="color:${colours.fail}">fail</span>, <span style="color:${colours.info}">info</span>; grey: fault windows.
${log.length} operations.</p>
<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" style="border:1px solid #ced4da">
<line x1="${left}" x2="${left}" y1="${top}" y2="${height - bottom}" stroke="#495057"/>
<line x1="${left}" x2="${width - right}" y1="${height - bottom}" y2="${height - bottom}" stroke="#495057"/>
`);
  const windows = faultWindows(faults, endMs);
  for (const w of windows.length <= SLICES ? windows : windowsBySlice(windows, endMs)) {
    out.write(
      `<rect x="${x(w.from).toFixed(1)}" y="${top}" width="${Math.max(1, x(w.to) - x(w.from)).toFixed(1)}" height="${height - top - bottom}" fill="#868e96" fill-opacity="0.15"><title>${escape(`${w.nemesis}: ${w.detail}`)}</title></rect>\n`,
    );
    // Names only where there is room for them.
    if (windows.length <= NAMED_WINDOWS) out.write(`<text x="${(x(w.from) + 2).toFixed(1)}" y="${top + 12}" font-size="10" fill="#495057">${escape(w.nemesis)}</text>\n`);
  }
  for (let decade = -1; 10 ** decade <= maxLat * 10; decade++) {
    const v = 10 ** decade;
    if (v > maxLat) break;
    out.write(
      `<line x1="${left}" x2="${width - right}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" stroke="#dee2e6"/>\n` +
        `<text x="${left - 6}" y="${(y(v) + 3).toFixed(1)}" font-size="10" text-anchor="end">${v} ms</text>\n`,
    );
  }
  const stepS = Math.max(1, Math.ceil(endMs / 1000 / 10));
  for (let s = 0; s * 1000 <= endMs; s += stepS) {
    out.write(`<text x="${x(s * 1000).toFixed(1)}" y="${height - bottom + 15}" font-size="10" text-anchor="middle">${s} s</text>\n`);
  }
  if (dots) {
    for (let row = 0; row < log.length; row++) {
      const invoke = log.invokeTime(row);
      const colour = colours[log.outcome(row)] ?? '#000';
      out.write(`<circle cx="${x(invoke).toFixed(1)}" cy="${y(latencyOf(log, row, endMs)).toFixed(1)}" r="1.5" fill="${colour}" fill-opacity="0.6"/>\n`);
    }
  } else {
    for (const s of sliceFigures(log, endMs, SLICES)) {
      const cx = x((s.slice + 0.5) * sliceMs).toFixed(1);
      const colour = colours[s.outcome]!;
      const tip = `${formatMs(s.slice * sliceMs)}–${formatMs((s.slice + 1) * sliceMs)} ${s.outcome}: ${s.count} operations; p50 ${s.p50.toFixed(1)} ms, p90 ${s.p90.toFixed(1)} ms, p99 ${s.p99.toFixed(1)} ms, max ${s.max.toFixed(1)} ms`;
      out.write(
        `<g fill="${colour}" stroke="${colour}"><title>${tip}</title>` +
          `<line x1="${cx}" x2="${cx}" y1="${y(s.p50).toFixed(1)}" y2="${y(s.p99).toFixed(1)}" stroke-opacity="0.5"/>` +
          `<circle cx="${cx}" cy="${y(s.p50).toFixed(1)}" r="1.2"/><circle cx="${cx}" cy="${y(s.max).toFixed(1)}" r="2" fill-opacity="0.7"/></g>\n`,
      );
    }
  }
  out.write('</svg></body></html>\n');
}

/** The page as a string (tests; the runner writes it to a file as it goes). */
export function latencyHtml(title: string, log: OperationLog, faults: readonly FaultRecord[], verdict: string): string {
  const pieces: string[] = [];
  writeLatencyHtml({ write: (text) => pieces.push(text) }, title, log, faults, verdict);
  return pieces.join('');
}

function formatMs(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(ms >= 10_000 ? 0 : 1)} s` : `${ms.toFixed(0)} ms`;
}
