// Scales and paths for the small SVG charts of the Traffic screen: pure, so the arithmetic
// is tested without a browser.
import type { HistoryPoint } from "../generated/HistoryPoint";

/** "Nice" round tick values from 0 up to at least `max` (1, 2 or 5 times a power of ten apart). */
export function niceTicks(max: number, count = 4): number[] {
  if (!(max > 0) || !Number.isFinite(max)) return [0, 1];
  const raw = max / count;
  const pow = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * pow).find((s) => s >= raw) ?? 10 * pow;
  const top = Math.ceil(max / step - 1e-9) * step;
  const out: number[] = [];
  for (let v = 0; v <= top + step / 2; v += step) out.push(Math.round(v * 1e6) / 1e6);
  return out;
}

export interface Series {
  name: string;
  colour: string;
  /** Drawn dashed (a configured value, or a second measure of the same thing). */
  dashed?: boolean;
  /** Values by time (ms); null where there is no value (gaps are not bridged). */
  points: { t: number; v: number | null }[];
}

/** Maps data to the chart's box. */
export function scaler(t0: number, t1: number, yMax: number, box: { x: number; y: number; w: number; h: number }) {
  const span = Math.max(t1 - t0, 1);
  return {
    x: (t: number) => box.x + ((t - t0) / span) * box.w,
    y: (v: number) => box.y + box.h - (Math.min(Math.max(v, 0), yMax) / yMax) * box.h,
  };
}

/** An SVG path through the points; a gap (null) starts a new piece. */
export function linePath(points: readonly { t: number; v: number | null }[], x: (t: number) => number, y: (v: number) => number): string {
  let d = "";
  let pen = false;
  for (const p of points) {
    if (p.v === null || !Number.isFinite(p.v)) {
      pen = false;
      continue;
    }
    d += `${pen ? "L" : "M"}${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`;
    pen = true;
  }
  return d;
}

/** Each version's share of the answered requests at each point (0..1; null without requests). */
export function versionShares(points: readonly HistoryPoint[]): Map<string, { t: number; v: number | null }[]> {
  const names = new Set<string>();
  for (const p of points) for (const v of p.versions) names.add(v.version);
  const out = new Map<string, { t: number; v: number | null }[]>();
  for (const name of names) out.set(name, []);
  for (const p of points) {
    const sum = p.versions.reduce((s, v) => s + v.requestsPerSecond, 0);
    for (const name of names) {
      const r = p.versions.find((v) => v.version === name)?.requestsPerSecond ?? 0;
      out.get(name)!.push({ t: p.atMs, v: sum > 0 ? r / sum : null });
    }
  }
  return out;
}

/**
 * Requests each version answered over the last `secs` of the history (rate times step,
 * summed), for the observed split next to the weights.
 */
export function recentCounts(points: readonly HistoryPoint[], stepSecs: number, secs: number): { counts: Record<string, number>; total: number } {
  const counts: Record<string, number> = {};
  if (!points.length) return { counts, total: 0 };
  const last = points[points.length - 1].atMs;
  let total = 0;
  for (const p of points) {
    if (last - p.atMs >= secs * 1000) continue;
    for (const v of p.versions) {
      const n = v.requestsPerSecond * stepSecs;
      counts[v.version] = (counts[v.version] ?? 0) + n;
      total += n;
    }
  }
  return { counts, total };
}

/** "-4 min", "-30 s", "now": the time axis counts back from the newest point. */
export function agoText(ms: number): string {
  if (ms <= 500) return "now";
  const s = Math.round(ms / 1000);
  return s % 60 === 0 ? `−${s / 60} min` : `−${s} s`;
}
