import { describe, expect, it } from "vitest";

import { wrapName } from "./explain";
import { MeshGraph } from "./graphState";
import { NODE_FONT, NS_PAD, nodeSize, spread } from "./layout";
import { bookinfoSnapshot, splitSnapshot } from "./sample";

/** The Mesh graph's drawing area in the app window at 1280x800, in pixels (measured). */
const FRAME = { w: 944, h: 478 };
const FIT_PADDING = 12;

/** Label size on screen when the whole mesh is fitted into FRAME: zoom × font size. */
function labelPxAtFit(g: MeshGraph): number {
  let x1 = Infinity;
  let x2 = -Infinity;
  let y1 = Infinity;
  let y2 = -Infinity;
  for (const [id, p] of g.positions) {
    const s = nodeSize(g.nodes.get(id)!);
    x1 = Math.min(x1, p.x - s.w / 2);
    x2 = Math.max(x2, p.x + s.w / 2);
    y1 = Math.min(y1, p.y - s.h / 2);
    y2 = Math.max(y2, p.y + s.h / 2);
  }
  // Namespace boxes around it all: padding, and a label line on top.
  const w = x2 - x1 + 2 * NS_PAD + 8;
  const h = y2 - y1 + 2 * NS_PAD + 2 * 1.2 * NODE_FONT + 40;
  const zoom = Math.min((FRAME.w - 2 * FIT_PADDING) / w, (FRAME.h - 2 * FIT_PADDING) / h);
  return zoom * NODE_FONT;
}

describe("layout", () => {
  it("keeps Bookinfo's labels large at fit in a 1280x800 window", () => {
    // jsdom has no canvas, so text widths are estimated generously (0.62 em a character):
    // the app, measuring real text, draws somewhat larger (see the README).
    const base = new MeshGraph();
    base.applySnapshot(bookinfoSnapshot());
    const full = new MeshGraph();
    full.applySnapshot(splitSnapshot());
    const px = { base: labelPxAtFit(base), split: labelPxAtFit(full) };
    console.log(`label size at fit, 1280x800: Bookinfo ${px.base.toFixed(1)} px, with the reviews split ${px.split.toFixed(1)} px`);
    expect(px.base).toBeGreaterThanOrEqual(13.5);
    expect(px.split).toBeGreaterThanOrEqual(11.5);
  });

  it("spreads a column around what each item wants, never overlapping, never above the top", () => {
    const ys = spread(
      [
        { d: 100, h: 40 },
        { d: 100, h: 40 },
        { d: 300, h: 40 },
      ],
      0,
    );
    // The two that want 100 share it: one above, one below.
    expect(ys[0]).toBeLessThan(100);
    expect(ys[1]).toBeGreaterThan(100);
    expect((ys[0] + ys[1]) / 2).toBeCloseTo(100);
    expect(ys[1] - ys[0]).toBeGreaterThanOrEqual(40);
    expect(ys[2]).toBe(300);
    expect(spread([{ d: -50, h: 40 }], 10)).toEqual([30]);
  });

  it("wraps long hyphenated names after a hyphen", () => {
    expect(wrapName("istio-ingressgateway")).toBe("istio-\ningressgateway");
    expect(wrapName("bookinfo-gateway")).toBe("bookinfo-\ngateway");
    expect(wrapName("productpage")).toBe("productpage");
    expect(wrapName("reviews-v1")).toBe("reviews-v1");
  });
});
