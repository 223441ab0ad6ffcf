import { describe, expect, it } from "vitest";

import type { HistoryPoint } from "../generated/HistoryPoint";
import { agoText, linePath, niceTicks, recentCounts, scaler, versionShares } from "./scale";

const point = (atMs: number, versions: [string, number][]): HistoryPoint => ({
  atMs,
  requestsPerSecond: versions.reduce((s, [, r]) => s + r, 0),
  errorShare: 0,
  p50Ms: 1,
  p95Ms: 2,
  versions: versions.map(([version, requestsPerSecond]) => ({ version, requestsPerSecond })),
});

describe("chart scaling", () => {
  it("ticks are round numbers from 0 covering the data", () => {
    expect(niceTicks(1, 4)).toEqual([0, 0.25, 0.5, 0.75, 1]);
    expect(niceTicks(23, 4)).toEqual([0, 10, 20, 30]);
    expect(niceTicks(0.07, 4)).toEqual([0, 0.02, 0.04, 0.06, 0.08]);
    expect(niceTicks(0)).toEqual([0, 1]);
    expect(niceTicks(NaN)).toEqual([0, 1]);
  });

  it("maps time left to right and values bottom to top, clamped to the box", () => {
    const s = scaler(1000, 2000, 10, { x: 50, y: 10, w: 100, h: 200 });
    expect(s.x(1000)).toBe(50);
    expect(s.x(1500)).toBe(100);
    expect(s.y(0)).toBe(210);
    expect(s.y(10)).toBe(10);
    expect(s.y(20)).toBe(10);
  });

  it("a line breaks where there is no value", () => {
    const d = linePath(
      [
        { t: 0, v: 1 },
        { t: 1, v: 2 },
        { t: 2, v: null },
        { t: 3, v: 3 },
      ],
      (t) => t * 10,
      (v) => v,
    );
    expect(d).toBe("M0.0,1.0L10.0,2.0M30.0,3.0");
  });

  it("shares per version at each point, none without requests", () => {
    const s = versionShares([point(0, [["v1", 3], ["v2", 1]]), point(5, []), point(10, [["v2", 2]])]);
    expect(s.get("v1")).toEqual([{ t: 0, v: 0.75 }, { t: 5, v: null }, { t: 10, v: 0 }]);
    expect(s.get("v2")).toEqual([{ t: 0, v: 0.25 }, { t: 5, v: null }, { t: 10, v: 1 }]);
  });

  it("recent counts sum rate times step over the last seconds only", () => {
    const pts = [point(0, [["v1", 100]]), point(25_000, [["v1", 2], ["v2", 1]]), point(30_000, [["v1", 1]])];
    expect(recentCounts(pts, 5, 10)).toEqual({ counts: { v1: 15, v2: 5 }, total: 20 });
    expect(recentCounts([], 5, 10)).toEqual({ counts: {}, total: 0 });
  });

  it("the time axis counts back from now", () => {
    expect(agoText(0)).toBe("now");
    expect(agoText(120_000)).toBe("−2 min");
    expect(agoText(30_000)).toBe("−30 s");
  });
});
