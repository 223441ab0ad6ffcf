import { describe, expect, it } from "vitest";

import { bowFor, dotPositions, DOT_SPEED, intoFrame, isRedDot, labelObstacles, placeLabels, quadAt, type Box } from "./flow";

/** Where Cytoscape puts the control point: the midpoint plus `d` along (-dy, dx) / length. */
function controlPoint(a: { x: number; y: number }, b: { x: number; y: number }, d: number) {
  const dx = b.x - a.x;
  const dy = b.y - a.y;
  const l = Math.hypot(dx, dy);
  return { x: (a.x + b.x) / 2 + (-dy / l) * d, y: (a.y + b.y) / 2 + (dx / l) * d };
}

describe("where traffic links bow", () => {
  it("links within a column bow to the right, whichever way they go", () => {
    const top = { x: 0, y: 0 };
    const low = { x: 0, y: 300 };
    expect(controlPoint(top, low, bowFor(top, low)).x).toBeGreaterThan(150);
    expect(controlPoint(low, top, bowFor(low, top)).x).toBeGreaterThan(150);
  });

  it("longer links bow further, so they nest instead of overlapping", () => {
    const a = { x: 0, y: 0 };
    expect(Math.abs(bowFor(a, { x: 0, y: 400 }))).toBeGreaterThan(Math.abs(bowFor(a, { x: 0, y: 100 })));
  });

  it("links across the drawing bow upwards, links back against it downwards", () => {
    const left = { x: 0, y: 0 };
    const right = { x: 900, y: 20 };
    expect(controlPoint(left, right, bowFor(left, right)).y).toBeLessThan(-100);
    expect(controlPoint(right, left, bowFor(right, left)).y).toBeGreaterThan(200);
  });

  it("a link to itself does not bow", () => {
    expect(bowFor({ x: 1, y: 1 }, { x: 1, y: 1 })).toBe(0);
  });
});

describe("dots along a link", () => {
  it("are evenly spaced and move at one speed", () => {
    const at0 = dotPositions(4, DOT_SPEED, 0);
    expect(at0).toEqual([0, 0.25, 0.5, 0.75]);
    // A link DOT_SPEED units long takes one second end to end.
    const later = dotPositions(4, DOT_SPEED, 250);
    expect(later[0]).toBeCloseTo(0.25);
    expect(later[3]).toBeCloseTo(0);
    expect(dotPositions(0, 100, 0)).toEqual([]);
  });

  it("red dots are spread out and as many as asked", () => {
    const reds = (count: number, red: number) => Array.from({ length: count }, (_, i) => isRedDot(i, count, red));
    expect(reds(4, 0).filter(Boolean)).toHaveLength(0);
    expect(reds(4, 2)).toEqual([false, true, false, true]);
    expect(reds(5, 5).every(Boolean)).toBe(true);
  });

  it("the quadratic curve starts and ends at the link's ends", () => {
    const a = { x: 0, y: 0 };
    const c = { x: 100, y: 50 };
    const b = { x: 0, y: 100 };
    expect(quadAt(a, c, b, 0)).toEqual(a);
    expect(quadAt(a, c, b, 1)).toEqual(b);
    expect(quadAt(a, c, b, 0.5)).toEqual({ x: 50, y: 50 });
  });
});

describe("rate labels along their curves", () => {
  const a = { x: 0, y: 0 };
  const b = { x: 0, y: 200 };
  const c = { x: 200, y: 100 };

  it("take the middle of the curve when it is free", () => {
    const boxes = placeLabels([{ id: "one", a, c, b, w: 80, h: 30 }], []);
    expect(boxes.get("one")).toEqual({ x1: 60, y1: 85, x2: 140, y2: 115 });
  });

  it("move along the curve out of another label's way, and off nodes", () => {
    const items = [
      { id: "busy", a, c, b, w: 80, h: 30 },
      { id: "next", a, c, b, w: 80, h: 30 },
    ];
    const boxes = placeLabels(items, []);
    const [p, q] = [boxes.get("busy")!, boxes.get("next")!];
    const apart = p.y2 <= q.y1 || q.y2 <= p.y1 || p.x2 <= q.x1 || q.x2 <= p.x1;
    expect(apart).toBe(true);
    // A node over the middle pushes the only label aside too.
    const node = { x1: 50, y1: 80, x2: 150, y2: 120 };
    const moved = placeLabels([items[0]], [node]).get("busy")!;
    const clear = moved.y2 <= node.y1 || node.y2 <= moved.y1 || moved.x2 <= node.x1 || node.x2 <= moved.x1;
    expect(clear).toBe(true);
  });

  it("go just outside the bow, level with its middle, before sliding along onto other nodes", () => {
    // The curve bows to +x, its middle at (100, 100); a column of boxes reaches almost to
    // it, as the workloads do beside the links between them.
    const column = { x1: -200, y1: -1000, x2: 95, y2: 1000 };
    const box = placeLabels([{ id: "one", a, c, b, w: 80, h: 30 }], [column]).get("one")!;
    expect(box.x1).toBeGreaterThan(100);
    expect(box.x1).toBeLessThan(115);
    expect((box.y1 + box.y2) / 2).toBeCloseTo(100);
  });
});

describe("label obstacles", () => {
  it("a heavier obstacle is avoided before a lighter one", () => {
    const a = { x: 0, y: 0 };
    const b = { x: 0, y: 200 };
    const c = { x: 200, y: 100 };
    // Both spots nearest the middle are covered, one by a node, one by another label.
    const mid = placeLabels([{ id: "x", a, c, b, w: 40, h: 20 }], []).get("x")!;
    const node = { x1: mid.x1 - 500, y1: mid.y1 - 500, x2: mid.x2 + 500, y2: mid.y2 + 500, weight: 1 };
    const boxes = placeLabels([{ id: "x", a, c, b, w: 40, h: 20 }], [node]);
    expect(boxes.get("x")).toEqual(mid);
    const heavy = placeLabels([{ id: "x", a, c, b, w: 40, h: 20 }], [{ ...mid, weight: 4 }, { ...node, x1: 1000, x2: 1001 }]).get("x")!;
    expect(heavy).not.toEqual(mid);
  });
});

describe("what labels keep off in a drawn graph", () => {
  type Opts = { includeNodes?: boolean; includeLabels?: boolean };
  // Cytoscape's headless mode measures no text, so a stand-in answers as the drawn graph does:
  // a box drawn round others (a workload) has a title above its pods; asked for its label
  // only (`includeNodes: false`), it gives just that title.
  const node = (body: Box, title: Box | null, opacity = 1) => ({
    isChildless: () => title === null,
    effectiveOpacity: () => opacity,
    boundingBox: (o: Opts = {}) => {
      const b = o.includeNodes === false ? title ?? { x1: 0, y1: 0, x2: 0, y2: 0 } : { ...body, y1: title ? title.y1 : body.y1 };
      return { ...b, w: b.x2 - b.x1, h: b.y2 - b.y1 };
    },
  });
  const podA = { x1: -75, y1: -15, x2: 75, y2: 15 };
  const podB = { x1: -75, y1: 185, x2: 75, y2: 215 };
  const title = { x1: -40, y1: -50, x2: 40, y2: -30 };
  const workload = node({ x1: -90, y1: -30, x2: 90, y2: 230 }, title);
  const cy = {
    nodes: () => [node(podA, null), node(podB, null, 0.3), workload],
    edges: () => [],
  };
  const boxes = labelObstacles(cy as unknown as Parameters<typeof labelObstacles>[0]);

  it("keep off a workload's title above its pods, not off the inside of its box", () => {
    expect(boxes).toEqual([
      { ...podA, weight: 1 },
      { ...podB, weight: 0.3 },
      { ...title, weight: 1 },
    ]);
    // So a label between the pods, inside the workload's box, is free; one on the title is not.
    const between = placeLabels([{ id: "x", a: { x: 0, y: 100 }, c: { x: 0, y: 100 }, b: { x: 0, y: 100 }, w: 40, h: 20 }], boxes);
    expect(between.get("x")).toEqual({ x1: -20, y1: 90, x2: 20, y2: 110 });
  });
});

describe("labels at the frame's edge", () => {
  it("are judged where they will be drawn, inside the frame, not out past it", () => {
    // The curve bows to +x out of a frame ending at x = 120. Its middle, pulled back inside
    // the frame, would sit on a node at the frame's edge; lower down the edge is free.
    const a = { x: 0, y: 0 };
    const b = { x: 0, y: 200 };
    const c = { x: 300, y: 100 };
    const frame = { x1: -200, y1: -50, x2: 120, y2: 300 };
    const node = { x1: 30, y1: 60, x2: 120, y2: 140 };
    const outside = placeLabels([{ id: "x", a, c, b, w: 80, h: 30 }], [node]).get("x")!;
    expect(outside.x2).toBeGreaterThan(frame.x2);
    const inside = placeLabels([{ id: "x", a, c, b, w: 80, h: 30 }], [node], frame).get("x")!;
    expect(inside.x1).toBeGreaterThanOrEqual(frame.x1);
    expect(inside.x2).toBeLessThanOrEqual(frame.x2);
    const clear = inside.y2 <= node.y1 || node.y2 <= inside.y1 || inside.x2 <= node.x1 || node.x2 <= inside.x1;
    expect(clear).toBe(true);
  });


  it("are moved back inside, no further than needed", () => {
    // A 1000x600 frame less a margin of 4.
    const frame = { x1: 4, y1: 4, x2: 996, y2: 596 };
    const at = (x: number, y: number, w: number, h: number) => ({ x1: x, y1: y, x2: x + w, y2: y + h });
    expect(intoFrame(at(950, 100, 120, 30), frame)).toEqual(at(876, 100, 120, 30));
    expect(intoFrame(at(-20, -5, 120, 30), frame)).toEqual(at(4, 4, 120, 30));
    expect(intoFrame(at(300, 200, 120, 30), frame)).toEqual(at(300, 200, 120, 30));
    // Wider than the frame: left where it is.
    expect(intoFrame(at(-50, 10, 2000, 30), frame)).toEqual(at(-50, 10, 2000, 30));
    expect(intoFrame(at(-50, 10, 2000, 30), undefined)).toEqual(at(-50, 10, 2000, 30));
  });
});
