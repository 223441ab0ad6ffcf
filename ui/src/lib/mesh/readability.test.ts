import { describe, expect, it } from "vitest";

import type { GraphDiff } from "../generated/GraphDiff";
import type { GraphNode } from "../generated/GraphNode";
import type { MeshSnapshot } from "../generated/MeshSnapshot";
import { presenterFrame } from "../presenter/frame";
import { MeshGraph } from "./graphState";
import { layoutGraph, nodeSize } from "./layout";
import { drawnBoxes, labelCollisions, presenterArea, presenterFitsTraffic, presenterGoalZoom, presenterLabelGoalPx, smallestLabelPx, type Drawn } from "./readability";
import { bookinfoSnapshot, node, reviewsSplitDiff, splitSnapshot, syntheticSnapshot, teachingSnapshot } from "./sample";

const BOOKINFO: [string, () => MeshSnapshot][] = [
  ["Bookinfo", bookinfoSnapshot],
  ["Bookinfo with the reviews split", splitSnapshot],
  ["the split with a pod missing its sidecar", teachingSnapshot],
];
const ALL: [string, () => MeshSnapshot][] = [...BOOKINFO, ["a made-up mesh of 500 nodes", () => syntheticSnapshot(500)]];

function laidOut(s: MeshSnapshot): Drawn {
  return drawnBoxes(s.nodes, layoutGraph(s.nodes, s.edges).positions);
}

function drawnNow(g: MeshGraph): Drawn {
  return drawnBoxes([...g.nodes.values()], g.positions);
}

const emptyDiff = (over: Partial<GraphDiff>): GraphDiff => ({
  addedNodes: [],
  changedNodes: [],
  removedNodes: [],
  addedEdges: [],
  changedEdges: [],
  removedEdges: [],
  ...over,
});

describe("labels", () => {
  it.each(ALL)("of %s never run into another label or another node's box", (_, mesh) => {
    const s = mesh();
    const drawn = laidOut(s);
    expect(drawn.labels.size).toBe(s.nodes.length);
    expect(labelCollisions(s.nodes, drawn)).toEqual([]);
  });

  it.each(BOOKINFO)("of %s are at least 16 px at 1280x800 and 18 px at 1920x1080 in presenter mode", (_, mesh) => {
    const drawn = laidOut(mesh());
    expect(smallestLabelPx(drawn, presenterFrame({ w: 1280, h: 800 }))).toBeGreaterThanOrEqual(16);
    expect(smallestLabelPx(drawn, presenterFrame({ w: 1920, h: 1080 }))).toBeGreaterThanOrEqual(18);
  });

  it("of a 500-node mesh are tiny at fit (the class zooms in), but every label is the same size", () => {
    const drawn = laidOut(syntheticSnapshot(500));
    // One font for every kind: what is readable for a Service is readable for a pod.
    expect(new Set(drawn.fonts.values()).size).toBe(1);
    const px = smallestLabelPx(drawn, presenterFrame({ w: 1920, h: 1080 }));
    expect(px).toBeGreaterThan(0);
    expect(px).toBeLessThan(16);
  });

  it("are seen as colliding when one sits over another node's box", () => {
    const s = bookinfoSnapshot();
    const { positions } = layoutGraph(s.nodes, s.edges);
    // reviews-v1's pod moved just below reviews-v3's pod: its workload's title lands on v3's box.
    const v1 = "pod/default/reviews-v1-5969578f8f-b2lxm";
    const v3 = positions.get("pod/default/reviews-v3-855f58646f-m4vqj")!;
    positions.set(v1, { x: v3.x, y: v3.y + 40 });
    const found = labelCollisions(s.nodes, drawnBoxes(s.nodes, positions));
    expect(found.some((c) => c.includes("wl/default/reviews-v1") && c.includes("reviews-v3"))).toBe(true);
  });

  it.each([false, true])("stay near their place and clear once ready while every pod is replaced (a rollout restart; pinned: %s)", (pinned) => {
    const g = new MeshGraph();
    g.applySnapshot(teachingSnapshot());
    g.pinned = pinned;
    const pods = [...g.nodes.values()].filter((n) => n.kind === "pod");
    for (const old of pods) {
      const at = g.positions.get(old.id)!;
      // The new pod starts (a taller, two-line box) next to its predecessor, never far away.
      const fresh: GraphNode = { ...old, id: `${old.id}-new`, name: `${old.name}-r2`, sidecar: "starting" };
      g.applyDiff(emptyDiff({ addedNodes: [fresh] }));
      const p = g.positions.get(fresh.id)!;
      expect(Math.abs(p.x - at.x), `${fresh.id} beside its predecessor`).toBeLessThan(3 * nodeSize(fresh).w);
      expect(Math.abs(p.y - at.y), `${fresh.id} level with its predecessor`).toBeLessThan(100);
      // Once its sidecar runs, nothing runs into anything.
      g.applyDiff(emptyDiff({ changedNodes: [{ ...fresh, sidecar: "ready", ready: { ready: 2, total: 2 } }] }));
      expect(labelCollisions([...g.nodes.values()], drawnNow(g)), `${old.id} and its ready replacement`).toEqual([]);
      g.applyDiff(emptyDiff({ removedNodes: [old.id] }));
      expect(labelCollisions([...g.nodes.values()], drawnNow(g)), `after ${old.id} left`).toEqual([]);
    }
  });

  it("are laid out again when a box's height changes, so no gap stays behind", () => {
    const g = new MeshGraph();
    const s = teachingSnapshot();
    const starting = s.nodes.map((n) => (n.kind === "pod" ? { ...n, sidecar: "starting" as const } : n));
    g.applySnapshot({ ...s, nodes: starting });
    const tall = drawnNow(g).bounds;
    const patch = g.applyDiff(emptyDiff({ changedNodes: s.nodes.filter((n) => n.kind === "pod") }));
    expect(patch.relayout).toBe(true);
    const settled = drawnNow(g).bounds;
    expect(settled.y1 - settled.y0).toBeLessThan(tall.y1 - tall.y0 - 100);
  });

  it("stay clear when the split arrives while the layout is pinned, and nothing else moves", () => {
    const g = new MeshGraph();
    g.applySnapshot(bookinfoSnapshot());
    const before = new Map(g.positions);
    g.pinned = true;
    const patch = g.applyDiff(reviewsSplitDiff());
    expect(patch.relayout).toBe(false);
    for (const [id, p] of before) expect(g.positions.get(id), id).toEqual(p);
    expect(labelCollisions([...g.nodes.values()], drawnNow(g))).toEqual([]);
    // A new Deployment while pinned: placed in its column, clear of everything.
    const wl = node({ id: "wl/default/reviews-v4", kind: "workload", namespace: "default", name: "reviews-v4" });
    const pod = node({ id: "pod/default/reviews-v4-1", kind: "pod", namespace: "default", name: "reviews-v4-abc-1", parent: wl.id, ready: { ready: 2, total: 2 }, sidecar: "ready" });
    g.applyDiff(emptyDiff({ addedNodes: [wl, pod] }));
    for (const [id, p] of before) expect(g.positions.get(id), id).toEqual(p);
    expect(labelCollisions([...g.nodes.values()], drawnNow(g))).toEqual([]);
  });
});

describe("the presenter's tidy-up between steps", () => {
  it("lays out the split right after the teacher's own Do it, even while pinned", () => {
    const g = new MeshGraph();
    g.applySnapshot(bookinfoSnapshot());
    g.pinned = true;
    g.unpinnedUntil = Date.now() + 5000;
    expect(g.applyDiff(reviewsSplitDiff()).relayout).toBe(true);
  });

  it("lays out again what pinned placements added, as a fresh layout would", () => {
    const g = new MeshGraph();
    g.applySnapshot(bookinfoSnapshot());
    g.pinned = true;
    g.applyDiff(reviewsSplitDiff());
    const patch = g.relayout();
    expect(patch.relayout).toBe(true);
    const fresh = layoutGraph([...g.nodes.values()], [...g.edges.values()]).positions;
    for (const [id, p] of fresh) expect(g.positions.get(id), id).toEqual(p);
    expect(labelCollisions([...g.nodes.values()], drawnNow(g))).toEqual([]);
  });
});

describe("presenter mode and the traffic curves", () => {
  it("fits them in only while the mesh's labels stay at the goal size and keep most of their size", () => {
    expect(presenterLabelGoalPx(1280)).toBe(16);
    expect(presenterLabelGoalPx(1920)).toBe(18);
    // 20-unit labels: at zoom 0.9 they are 18 px.
    expect(presenterFitsTraffic(0.9, 1.0, 1280)).toBe(true);
    expect(presenterFitsTraffic(0.9, 1.0, 1920)).toBe(true);
    // A small loss of size, but below the goal: the mesh alone.
    expect(presenterFitsTraffic(0.72, 0.8, 1280)).toBe(false);
    expect(presenterFitsTraffic(0.85, 0.9, 1920)).toBe(false);
    // Large enough, but a third of the mesh's size gone.
    expect(presenterFitsTraffic(1.0, 1.5, 1280)).toBe(false);
  });
});

describe("presenter mode and a mesh too large for its labels", () => {
  const frame = { w: 1256, h: 564 };
  const goal = presenterGoalZoom(1280);

  it("shows the whole drawing while its labels reach the goal size", () => {
    const whole = { x1: 0, y1: 0, w: 1400, h: 600 };
    expect(presenterArea(whole, { x1: 10, y1: 10, w: 50, h: 50 }, frame, goal)).toEqual(whole);
  });

  it("else shows the spotlight at the goal size, kept within the drawing", () => {
    const whole = { x1: 0, y1: 0, w: 1900, h: 900 };
    // Near the bottom right: the window stays inside the drawing and holds the spotlight.
    const spot = { x1: 1500, y1: 700, w: 200, h: 150 };
    const area = presenterArea(whole, spot, frame, goal);
    const zoom = Math.min(frame.w / area.w, frame.h / area.h);
    expect(zoom * 20).toBeCloseTo(16);
    expect(area.x1).toBeGreaterThanOrEqual(0);
    expect(area.y1).toBeGreaterThanOrEqual(0);
    expect(area.x1 + area.w).toBeLessThanOrEqual(1900 + 1e-9);
    expect(area.y1 + area.h).toBeLessThanOrEqual(900 + 1e-9);
    expect(spot.x1).toBeGreaterThanOrEqual(area.x1);
    expect(spot.y1).toBeGreaterThanOrEqual(area.y1);
    expect(spot.x1 + spot.w).toBeLessThanOrEqual(area.x1 + area.w + 1e-9);
    expect(spot.y1 + spot.h).toBeLessThanOrEqual(area.y1 + area.h + 1e-9);
  });

  it("slides the window towards the drawing's top left while the spotlight stays whole", () => {
    // A tall spotlight a little lower than the drawing's top (the workloads column below
    // their namespace's name): the window starts at the drawing's top, not centred on it.
    const whole = { x1: 0, y1: 0, w: 1900, h: 900 };
    const spot = { x1: 1500, y1: 150, w: 200, h: 550 };
    const area = presenterArea(whole, spot, frame, goal);
    expect(area.y1).toBe(0);
    expect(area.x1 + area.w).toBeGreaterThanOrEqual(spot.x1 + spot.w);
    // A spotlight in the middle: slid up only until its bottom reaches the window's bottom.
    const mid = { x1: 1700, y1: 750, w: 100, h: 100 };
    const m = presenterArea(whole, mid, frame, goal);
    expect(m.y1 + m.h).toBeCloseTo(mid.y1 + mid.h);
    expect(m.x1 + m.w).toBeCloseTo(mid.x1 + mid.w);
    expect(m.y1).toBeGreaterThan(0);
  });

  it("shows a spotlight too large for the goal size whole, and never less than the whole drawing's fit", () => {
    const whole = { x1: 0, y1: 0, w: 1900, h: 900 };
    const big = { x1: 100, y1: 0, w: 1700, h: 800 };
    const area = presenterArea(whole, big, frame, goal);
    expect(area.w).toBeGreaterThanOrEqual(big.w);
    expect(area.h).toBeGreaterThanOrEqual(big.h - 1e-9);
    const all = presenterArea(whole, { x1: 0, y1: 0, w: 1900, h: 900 }, frame, goal);
    expect(Math.min(frame.w / all.w, frame.h / all.h)).toBeCloseTo(Math.min(frame.w / 1900, frame.h / 900));
  });

  it("without a spotlight, shows the whole drawing however small", () => {
    const whole = { x1: 0, y1: 0, w: 5000, h: 3000 };
    expect(presenterArea(whole, null, frame, goal)).toEqual(whole);
  });
});
