import { describe, expect, it } from "vitest";

import { captionPx, presenterFrame } from "./frame";
import { presenterKey } from "./keys";
import { contrast, OKABE_ITO, presenterTextPairs } from "./presenterStyle";

const key = (k: string, over: Partial<{ altKey: boolean; ctrlKey: boolean; metaKey: boolean; target: EventTarget | null }> = {}) => ({
  key: k,
  altKey: false,
  ctrlKey: false,
  metaKey: false,
  ...over,
});

describe("presenter keys", () => {
  it("F5 toggles; the clicker's keys and arrows move between steps only while presenting", () => {
    expect(presenterKey(key("F5"), false)).toBe("toggle");
    expect(presenterKey(key("F5"), true)).toBe("toggle");
    expect(presenterKey(key("PageDown"), false)).toBeNull();
    expect(presenterKey(key("PageDown"), true)).toBe("next");
    expect(presenterKey(key("ArrowRight"), true)).toBe("next");
    expect(presenterKey(key("PageUp"), true)).toBe("previous");
    expect(presenterKey(key("ArrowLeft"), true)).toBe("previous");
    expect(presenterKey(key("Escape"), true)).toBe("exit");
    expect(presenterKey(key("Escape"), false)).toBeNull();
    expect(presenterKey(key("a"), true)).toBeNull();
  });

  it("leaves modified keys and typing in a field alone", () => {
    expect(presenterKey(key("ArrowRight", { altKey: true }), true)).toBeNull();
    expect(presenterKey(key("F5", { ctrlKey: true }), false)).toBeNull();
    const input = document.createElement("input");
    expect(presenterKey(key("ArrowLeft", { target: input }), true)).toBeNull();
    expect(presenterKey(key("Escape", { target: input }), true)).toBe("exit");
  });
});

describe("presenter palette", () => {
  it("computes WCAG contrast", () => {
    expect(contrast("#000000", "#ffffff")).toBeCloseTo(21);
    expect(contrast("#777777", "#ffffff")).toBeCloseTo(4.48, 1);
  });

  it("draws every text at 4.5:1 or more on its fill", () => {
    for (const p of presenterTextPairs()) expect(contrast(p.fill, p.text), p.name).toBeGreaterThanOrEqual(4.5);
  });

  it("gives each kind its own Okabe-Ito hue", () => {
    const fills = presenterTextPairs().filter((p) => ["ingress", "gateway", "vs", "service", "subset"].includes(p.name)).map((p) => p.fill);
    expect(new Set(fills).size).toBe(5);
    for (const f of fills) expect(Object.values(OKABE_ITO)).toContain(f);
  });
});

describe("presenter frame", () => {
  it("leaves the graph most of the window", () => {
    expect(captionPx(800)).toBe(160);
    expect(presenterFrame({ w: 1280, h: 800 })).toEqual({ w: 1280, h: 800 - 52 - 160 });
  });
});
