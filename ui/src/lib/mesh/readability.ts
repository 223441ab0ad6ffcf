// Whether the drawing can be read from the back of a room: where every node's label is drawn
// (in graph units, the way the style draws it), which labels run into other labels or boxes,
// and how large the labels come out on screen once the graph is fitted into a frame. The
// layout tests and the presenter use the same sums, so what they promise is what is drawn.
import type { GraphNode } from "../generated/GraphNode";
import { nodeText } from "./explain";
import { fontOf, GROUP_PAD, LINE_HEIGHT, NODE_FONT, nodeSize, NS_FONT, NS_PAD, POD_FONT, textWidth, type Point } from "./layout";

export interface Box {
  id: string;
  x0: number;
  x1: number;
  y0: number;
  y1: number;
}

/** How far above its box a group's label sits (the style's text-margin-y, negated). */
export const GROUP_LABEL_MARGIN = 4;
export const NS_LABEL_MARGIN = 6;

export interface Drawn {
  /** The outline of every node: leaves from their size, groups around their members. */
  bodies: Map<string, Box>;
  /** Where each node's text goes. */
  labels: Map<string, Box>;
  /** Everything drawn, labels included. */
  bounds: Box;
  /** Label font of each node, in graph units. */
  fonts: Map<string, number>;
}

function union(id: string, boxes: Iterable<Box>): Box | null {
  let out: Box | null = null;
  for (const b of boxes) {
    out = out
      ? { id, x0: Math.min(out.x0, b.x0), x1: Math.max(out.x1, b.x1), y0: Math.min(out.y0, b.y0), y1: Math.max(out.y1, b.y1) }
      : { ...b, id };
  }
  return out;
}

function textBox(n: GraphNode): { w: number; h: number } {
  const lines = nodeText(n).split("\n");
  const font = fontOf(n.kind);
  return { w: Math.max(...lines.map((l) => textWidth(l, font))), h: lines.length * font * LINE_HEIGHT };
}

/**
 * Boxes of what the graph draws for `nodes` with leaves at `positions`: a leaf's label in its
 * middle, a group's (workload, namespace) on top of the box around its members.
 */
export function drawnBoxes(nodes: readonly GraphNode[], positions: ReadonlyMap<string, Point>): Drawn {
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const kids = new Map<string, string[]>();
  for (const n of nodes) {
    if (n.parent && byId.has(n.parent) && n.parent !== n.id) (kids.get(n.parent) ?? kids.set(n.parent, []).get(n.parent)!).push(n.id);
  }
  const bodies = new Map<string, Box>();
  const labels = new Map<string, Box>();
  const fonts = new Map<string, number>();
  const visit = (id: string, depth: number): Box | null => {
    const n = byId.get(id)!;
    fonts.set(id, fontOf(n.kind));
    const t = textBox(n);
    const members = kids.get(id) ?? [];
    if (members.length === 0 || depth > 8) {
      const p = positions.get(id);
      if (!p) return null;
      const s = nodeSize(n);
      const body = { id, x0: p.x - s.w / 2, x1: p.x + s.w / 2, y0: p.y - s.h / 2, y1: p.y + s.h / 2 };
      bodies.set(id, body);
      labels.set(id, { id, x0: p.x - t.w / 2, x1: p.x + t.w / 2, y0: p.y - t.h / 2, y1: p.y + t.h / 2 });
      return body;
    }
    // Compound nodes are sized around their members' outlines and labels, then padded.
    const inner = union(
      id,
      members.flatMap((m) => {
        const b = visit(m, depth + 1);
        const l = labels.get(m);
        return b ? (l ? [b, l] : [b]) : [];
      }),
    );
    if (!inner) return null;
    const pad = n.kind === "namespace" ? NS_PAD : GROUP_PAD;
    const margin = n.kind === "namespace" ? NS_LABEL_MARGIN : GROUP_LABEL_MARGIN;
    const body = { id, x0: inner.x0 - pad, x1: inner.x1 + pad, y0: inner.y0 - pad, y1: inner.y1 + pad };
    bodies.set(id, body);
    const cx = (body.x0 + body.x1) / 2;
    labels.set(id, { id, x0: cx - t.w / 2, x1: cx + t.w / 2, y0: body.y0 - margin - t.h, y1: body.y0 - margin });
    return body;
  };
  for (const n of nodes) if (!n.parent || !byId.has(n.parent)) visit(n.id, 0);
  const bounds = union("all", [...bodies.values(), ...labels.values()]) ?? { id: "all", x0: 0, x1: 0, y0: 0, y1: 0 };
  return { bodies, labels, bounds, fonts };
}

function overlap(a: Box, b: Box): boolean {
  return a.x0 < b.x1 && b.x0 < a.x1 && a.y0 < b.y1 && b.y0 < a.y1;
}

/**
 * Every label that runs into another node's label or into the outline of a node that is not
 * its own or one that holds it ("label wl/default/reviews-v1 / box pod/default/reviews-v3-…"
 * for reviews-v1's title over reviews-v3's box). Empty when everything can be read. With
 * `only`, just the collisions that involve one of those nodes.
 */
export function labelCollisions(nodes: readonly GraphNode[], drawn: Drawn, only?: ReadonlySet<string>): string[] {
  const parent = new Map(nodes.map((n) => [n.id, n.parent]));
  const holds = (outer: string, inner: string) => {
    for (let cur: string | null | undefined = inner, i = 0; cur && i < 16; cur = parent.get(cur), i++) if (cur === outer) return true;
    return false;
  };
  const out = new Set<string>();
  const labels = [...drawn.labels.values()];
  const bodies = [...drawn.bodies.values()];
  const check = (label: Box, other: Box, isLabel: boolean) => {
    if (label.id === other.id || !overlap(label, other)) return;
    if (isLabel) out.add(label.id < other.id ? `label ${label.id} / label ${other.id}` : `label ${other.id} / label ${label.id}`);
    else if (!holds(other.id, label.id)) out.add(`label ${label.id} / box ${other.id}`);
  };
  // Only the pairs that involve `only` when given: a new pod checks itself, not the world.
  const mine = only ? [...only] : null;
  if (mine) {
    for (const id of mine) {
      const l = drawn.labels.get(id);
      const b = drawn.bodies.get(id);
      for (const o of labels) {
        if (l) check(l, o, true);
        if (b) check(o, b, false);
      }
      if (l) for (const o of bodies) check(l, o, false);
    }
  } else {
    for (const l of labels) {
      for (const o of labels) check(l, o, true);
      for (const o of bodies) check(l, o, false);
    }
  }
  return [...out];
}

/** `id` and every node that holds it. */
function withAncestors(id: string, nodes: readonly GraphNode[]): Set<string> {
  const parent = new Map(nodes.map((n) => [n.id, n.parent]));
  const out = new Set<string>();
  for (let cur: string | null | undefined = id, i = 0; cur && i < 16; cur = parent.get(cur), i++) out.add(cur);
  return out;
}

/**
 * A place at or near `at` where the new leaf `id`, and the groups that grow around it, run
 * into no label: `at` itself when it is clear, else the nearest clear place a few steps to
 * its right or below, else `at` all the same. Nothing else moves.
 */
export function clearOfLabels(id: string, at: Point, nodes: readonly GraphNode[], positions: ReadonlyMap<string, Point>): Point {
  const self = nodes.find((n) => n.id === id);
  if (!self) return at;
  const involved = withAncestors(id, nodes);
  // The namespace box grows with anything in it; only its title can be run into.
  for (const n of nodes) if (n.kind === "namespace") involved.delete(n.id);
  const trial = new Map(positions);
  const clear = (p: Point) => {
    trial.set(id, p);
    return labelCollisions(nodes, drawnBoxes(nodes, trial), involved).length === 0;
  };
  if (clear(at)) return at;
  const { w } = nodeSize(self);
  // Only near by: a pod that is briefly taller (its sidecar starting) may touch the next
  // title for a few seconds, which is better than sending it across the screen.
  for (let r = 1; r <= 3; r++) {
    for (const p of [
      { x: at.x + r * (w / 2 + 10), y: at.y },
      { x: at.x, y: at.y + r * 24 },
    ]) {
      if (clear(p)) return p;
    }
  }
  return at;
}

/** Room left around the graph when it is fitted, in pixels (GraphView uses the same). */
export const FIT_PADDING = 12;
/**
 * In presenter mode the traffic curves are fitted in with the mesh only while the mesh keeps
 * at least this share of the size it has without them.
 */
export const PRESENTER_TRAFFIC_ZOOM = 0.85;

/** The smallest node label presenter mode aims for: 18 px on a 1920-pixel-wide screen, 16 below. */
export function presenterLabelGoalPx(frameWidth: number): number {
  return frameWidth >= 1900 ? 18 : 16;
}

/**
 * Whether presenter mode fits the traffic curves in with the mesh (`zoomWith`) rather than
 * the mesh alone (`zoomMesh`): only while the mesh keeps most of its size and its labels
 * stay at the goal size. Otherwise the curves may run to the frame's edge, where their rate
 * labels are kept inside it.
 */
export function presenterFitsTraffic(zoomWith: number, zoomMesh: number, frameWidth: number): boolean {
  return zoomWith >= PRESENTER_TRAFFIC_ZOOM * zoomMesh && zoomWith >= presenterGoalZoom(frameWidth);
}
/** A rectangle of the drawing in graph units, as Cytoscape's bounding boxes give it. */
export interface Area {
  x1: number;
  y1: number;
  w: number;
  h: number;
}

/**
 * The part of the drawing presenter mode shows. The whole of it (`whole`, fitted into a
 * `frame` of pixels) while its labels come out at the goal size (`goalZoom`); when they do
 * not (a mesh that has grown during the course), a window at the goal size, or as large as
 * shows the step's spotlight whole if that is smaller, within the drawing and as near its top
 * left as keeps the spotlight whole, so what the step talks about is readable from the back of
 * the room and the names above it (its namespace's) stay in view when there is room.
 * The rest is a pan away.
 */
export function presenterArea(whole: Area, spot: Area | null, frame: { w: number; h: number }, goalZoom: number): Area {
  const fit = (a: Area) => Math.min(FIT_MAX_ZOOM, frame.w / Math.max(a.w, 1), frame.h / Math.max(a.h, 1));
  const zWhole = fit(whole);
  if (!spot || zWhole >= goalZoom) return whole;
  const z = Math.max(zWhole, Math.min(goalZoom, fit(spot)));
  const w = frame.w / z;
  const h = frame.h / z;
  // Within the drawing and as near its top left (where its column titles, namespace names
  // and the request's start are) as keeps the spotlight's far end in the window. The zoom
  // above makes the spotlight fit the window whenever the drawing does not, so its near end
  // is then in the window too.
  const place = (spotLo: number, spotLen: number, size: number, lo: number, len: number) =>
    size >= len ? lo + len / 2 - size / 2 : Math.max(lo, Math.min(spotLo + spotLen - size, lo + len - size));
  return {
    x1: place(spot.x1, spot.w, w, whole.x1, whole.w),
    y1: place(spot.y1, spot.h, h, whole.y1, whole.h),
    w,
    h,
  };
}

/** The zoom at which presenter mode's smallest node label is at the goal size on a frame this wide. */
export function presenterGoalZoom(frameWidth: number): number {
  return presenterLabelGoalPx(frameWidth) / Math.min(NODE_FONT, POD_FONT, NS_FONT);
}

/** Fitting never zooms in further than this (a tiny mesh stays a sensible size). */
export const FIT_MAX_ZOOM = 1.6;

/** The zoom at which `bounds` fits a frame of `w` x `h` pixels. */
export function fitZoom(bounds: Box, frame: { w: number; h: number }): number {
  const bw = Math.max(bounds.x1 - bounds.x0, 1);
  const bh = Math.max(bounds.y1 - bounds.y0, 1);
  return Math.min(FIT_MAX_ZOOM, (frame.w - 2 * FIT_PADDING) / bw, (frame.h - 2 * FIT_PADDING) / bh);
}

/** The smallest node label on screen at fit, in pixels. */
export function smallestLabelPx(drawn: Drawn, frame: { w: number; h: number }): number {
  const zoom = fitZoom(drawn.bounds, frame);
  return zoom * Math.min(...drawn.fonts.values());
}
