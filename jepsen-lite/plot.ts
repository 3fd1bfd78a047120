/**
 * The run report's latency plot: a self-contained HTML page with an SVG scatter of every
 * operation's latency (log scale) against its invoke time, coloured by outcome, with the fault
 * windows (inject → heal) shaded. No dependencies; open it in any browser.
 */
import type { Operation } from './history.js';
import type { FaultRecord } from './nemesis.js';

const colours: Record<string, string> = { ok: '#2b8a3e', fail: '#c92a2a', info: '#e67700' };

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

export function latencyHtml(title: string, ops: readonly Operation[], faults: readonly FaultRecord[], verdict: string): string {
  const width = 1000;
  const height = 420;
  const left = 60;
  const right = 20;
  const top = 20;
  const bottom = 40;
  const finite = ops.filter((op) => Number.isFinite(op.completeTime));
  const endMs = Math.max(1, ...finite.map((op) => op.completeTime), ...faults.map((f) => f.time));
  const minLat = 0.1;
  const maxLat = Math.max(10, ...finite.map((op) => op.completeTime - op.invokeTime));
  const x = (ms: number): number => left + (ms / endMs) * (width - left - right);
  const y = (lat: number): number => {
    const l = Math.log10(Math.max(minLat, lat));
    const lo = Math.log10(minLat);
    const hi = Math.log10(maxLat);
    return top + (1 - (l - lo) / (hi - lo)) * (height - top - bottom);
  };
  const parts: string[] = [];
  for (const w of faultWindows(faults, endMs)) {
    parts.push(
      `<rect x="${x(w.from).toFixed(1)}" y="${top}" width="${Math.max(1, x(w.to) - x(w.from)).toFixed(1)}" height="${height - top - bottom}" fill="#868e96" fill-opacity="0.15"><title>${escape(`${w.nemesis}: ${w.detail}`)}</title></rect>`,
      `<text x="${(x(w.from) + 2).toFixed(1)}" y="${top + 12}" font-size="10" fill="#495057">${escape(w.nemesis)}</text>`,
    );
  }
  for (let decade = -1; 10 ** decade <= maxLat * 10; decade++) {
    const v = 10 ** decade;
    if (v > maxLat) break;
    parts.push(
      `<line x1="${left}" x2="${width - right}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" stroke="#dee2e6"/>`,
      `<text x="${left - 6}" y="${(y(v) + 3).toFixed(1)}" font-size="10" text-anchor="end">${v} ms</text>`,
    );
  }
  const stepS = Math.max(1, Math.ceil(endMs / 1000 / 10));
  for (let s = 0; s * 1000 <= endMs; s += stepS) {
    parts.push(`<text x="${x(s * 1000).toFixed(1)}" y="${height - bottom + 15}" font-size="10" text-anchor="middle">${s} s</text>`);
  }
  for (const op of ops) {
    const end = Number.isFinite(op.completeTime) ? op.completeTime : endMs;
    parts.push(`<circle cx="${x(op.invokeTime).toFixed(1)}" cy="${y(end - op.invokeTime).toFixed(1)}" r="1.5" fill="${colours[op.outcome] ?? '#000'}" fill-opacity="0.6"/>`);
  }
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>${escape(title)}</title>
<style>body{font-family:sans-serif;margin:20px}code{background:#f1f3f5;padding:2px 4px}</style></head>
<body><h1>${escape(title)}</h1>
<p><code>${escape(verdict)}</code></p>
<p>Latency of each operation (log scale) by invoke time; <span style="color:${colours.ok}">ok</span>,
<span style="color:${colours.fail}">fail</span>, <span style="color:${colours.info}">info</span>; grey: fault windows.</p>
<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" style="border:1px solid #ced4da">
<line x1="${left}" x2="${left}" y1="${top}" y2="${height - bottom}" stroke="#495057"/>
<line x1="${left}" x2="${width - right}" y1="${height - bottom}" y2="${height - bottom}" stroke="#495057"/>
${parts.join('\n')}
</svg></body></html>
`;
}
