import { describe, expect, it } from "vitest";

import { parseSettings } from "./traffic.svelte";
import { even, parseWeight, percentages, rebalance, slashes, total } from "./weights";

const V = ["v1", "v2", "v3"];

describe("weights", () => {
  it("moving one control rebalances the others in proportion and keeps the sum at 100", () => {
    const w = rebalance({ v1: 60, v2: 30, v3: 10 }, V, "v1", 80);
    expect(w).toEqual({ v1: 80, v2: 15, v3: 5 });
    expect(total(w, V)).toBe(100);
    // The others had nothing: the rest is split evenly.
    expect(rebalance({ v1: 100, v2: 0, v3: 0 }, V, "v1", 40)).toEqual({ v1: 40, v2: 30, v3: 30 });
    // Out-of-range and fractional input is clamped and rounded.
    expect(rebalance({ v1: 50, v2: 50 }, ["v1", "v2"], "v2", 140)).toEqual({ v1: 0, v2: 100 });
    expect(rebalance({ v1: 50, v2: 50 }, ["v1", "v2"], "v2", 33.4)).toEqual({ v1: 67, v2: 33 });
    for (let x = 0; x <= 100; x += 7) {
      expect(total(rebalance({ v1: 34, v2: 33, v3: 33 }, V, "v2", x), V)).toBe(100);
    }
  });

  it("even splits, slashes and observed percentages", () => {
    expect(total(even(V), V)).toBe(100);
    expect(slashes({ v1: 60, v2: 30, v3: 10 }, V)).toBe("60/30/10");
    expect(percentages({ v1: 116, v2: 62, v3: 22 }, V)).toEqual({ v1: 58, v2: 31, v3: 11 });
    expect(percentages({}, V)).toEqual({ v1: 0, v2: 0, v3: 0 });
  });

  it("typed weights that are not whole percentages get a message", () => {
    expect(parseWeight("60")).toEqual({ value: 60 });
    expect(parseWeight("101")).toEqual({ error: "A weight is a percentage: at most 100." });
    expect(parseWeight("-5")).toEqual({ error: "Weights cannot be negative." });
    expect(parseWeight("1.5")).toEqual({ error: "Use whole numbers (no decimals)." });
    expect(parseWeight("abc")).toEqual({ error: "“abc” is not a number." });
  });

  it("traffic settings outside the ranges are refused field by field", () => {
    const anon = { user: "", userShare: "oops" };
    expect(parseSettings({ rate: "20", concurrency: "10", duration: "", ...anon }).settings).toEqual({
      rate: 20,
      concurrency: 10,
      durationSecs: null,
      user: null,
      userShare: null,
    });
    const bad = parseSettings({ rate: "600", concurrency: "0", duration: "abc", user: "jason smith", userShare: "150" });
    expect(bad.settings).toBeNull();
    expect(Object.keys(bad.errors).sort()).toEqual(["concurrency", "duration", "rate", "user", "userShare"]);
    expect(parseSettings({ rate: "0.5", concurrency: "1", duration: "1", ...anon }).settings).not.toBeNull();
    expect(parseSettings({ rate: "20", concurrency: "10", duration: "", user: " jason ", userShare: "50%" }).settings).toMatchObject({
      user: "jason",
      userShare: 50,
    });
  });
});
