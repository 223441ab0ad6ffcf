// The flow layer: dots moving along busy traffic links and locks on their lines, drawn on a
// canvas over the graph (Cytoscape has no moving marks of its own). The geometry (where a
// link bows, where a dot is at a time) is pure and tested; the drawing reads Cytoscape's
// curve for each link.
import type { Core, EdgeSingular } from "cytoscape";

import { FONT_FAMILY, textWidth, TRAFFIC_FONT, type Point } from "./layout";
import type { DrawnLink, LockState } from "./traffic";

/** How fast a dot travels, in graph units per second (so short links do not look busier). */
export const DOT_SPEED = 260;
/** Dot radius and lock size in graph units, with a floor in screen pixels so both stay visible. */
const DOT_R = 8;
const DOT_MIN_PX = 5;
const LOCK = 34;

/**
 * How far the control point of a traffic link lies from the straight line, in Cytoscape's
 * sign convention (positive is to the left of the direction of travel). Links between
 * workloads of one column bow out to the right, past the boxes, longer ones further so
 * they nest; links across the drawing bow upwards, over the configuration, and links back
 * against it (to a Service, when no pod answered) downwards, under it.
 */
export function bowFor(from: Point, to: Point): number {
  const dx = to.x - from.x;
  const dy = to.y - from.y;
  const len = Math.hypot(dx, dy);
  if (len < 1) return 0;
  if (Math.abs(dy) >= Math.abs(dx)) {
    const d = 210 + 0.6 * len;
    // Left of a downward link is -x: a negative distance bows it to +x.
    return dy > 0 ? -d : d;
  }
  // Left of a rightward link is +y (down on screen), of a leftward one -y: a negative
  // distance bows the first up and the second down. Links against the request's direction
  // (to a Service that answered nothing) go deeper, under the rows between.
  return dx > 0 ? -(110 + 0.12 * len) : -(260 + 0.2 * len);
}

/** A point on the quadratic curve from `a` through control point `c` to `b`. */
export function quadAt(a: Point, c: Point, b: Point, t: number): Point {
  const u = 1 - t;
  return { x: u * u * a.x + 2 * u * t * c.x + t * t * b.x, y: u * u * a.y + 2 * u * t * c.y + t * t * b.y };
}

/** Where each of `count` dots is along a link at `timeMs` (0..1), evenly spaced, moving on. */
export function dotPositions(count: number, lengthUnits: number, timeMs: number): number[] {
  if (count <= 0) return [];
  const period = Math.max(lengthUnits, 1) / DOT_SPEED;
  const phase = (timeMs / 1000 / period) % 1;
  return Array.from({ length: count }, (_, i) => (phase + i / count) % 1);
}

/** Which of `count` dots are red, spread over the link rather than bunched. */
export function isRedDot(i: number, count: number, red: number): boolean {
  return Math.floor(((i + 1) * red) / count) > Math.floor((i * red) / count);
}

export interface Box {
  x1: number;
  y1: number;
  x2: number;
  y2: number;
  /** How much covering it costs (nodes 1; other labels more). */
  weight?: number;
}

function overlap(a: Box, b: Box): number {
  const w = Math.min(a.x2, b.x2) - Math.max(a.x1, b.x1);
  const h = Math.min(a.y2, b.y2) - Math.max(a.y1, b.y1);
  return w > 0 && h > 0 ? w * h : 0;
}

/** Where along its link a label may go, best first: the middle, then either side of it. */
export const LABEL_SPOTS = [0.5, 0.45, 0.55, 0.4, 0.6, 0.35, 0.65, 0.3, 0.7, 0.25, 0.75, 0.2, 0.8, 0.15, 0.85];
/** Room between a curve and a label set beside it, in graph units. */
const BESIDE_GAP = 6;

/**
 * A place for each link's label (model units), clear of the labels placed before it and,
 * as far as possible, of the nodes: links bunch up beside one column of workloads, so the
 * middle of every curve is often taken. At each spot along the curve the label is tried on
 * the curve, then just outside it (on the side it bows to), where a column's links leave
 * free room: so labels stay off the workloads' titles instead of sliding along onto them.
 *
 * With a `frame` (the visible part of the graph), each candidate is first moved inside it,
 * as the drawing will move it, and judged where it will really be drawn: a curve bowing
 * out of the window otherwise looks free out there and its label lands on whatever sits
 * at the frame's edge.
 */
export function placeLabels(
  items: readonly { id: string; a: Point; c: Point; b: Point; w: number; h: number }[],
  obstacles: readonly Box[],
  frame?: Box,
): Map<string, Box> {
  const placed = new Map<string, Box>();
  for (const it of items) {
    const out = outward(it.a, it.c, it.b);
    const shift = out ? Math.abs(out.x) * (it.w / 2) + Math.abs(out.y) * (it.h / 2) + BESIDE_GAP : 0;
    let best: Box | null = null;
    let bestScore = Infinity;
    search: for (const t of LABEL_SPOTS) {
      const p = quadAt(it.a, it.c, it.b, t);
      const centres = out ? [p, { x: p.x + out.x * shift, y: p.y + out.y * shift }] : [p];
      for (const q of centres) {
        const box = intoFrame({ x1: q.x - it.w / 2, y1: q.y - it.h / 2, x2: q.x + it.w / 2, y2: q.y + it.h / 2 }, frame);
        let score = 0;
        for (const o of placed.values()) score += 4 * overlap(box, o);
        for (const o of obstacles) score += (o.weight ?? 1) * overlap(box, o);
        if (score < bestScore - 1e-6) {
          best = box;
          bestScore = score;
        }
        if (score === 0) break search;
      }
    }
    if (best) placed.set(it.id, best);
  }
  return placed;
}

/** `box` moved as little as possible to lie inside `frame` (left alone where it cannot fit). */
export function intoFrame(box: Box, frame: Box | undefined): Box {
  if (!frame) return box;
  const shift = (lo: number, hi: number, flo: number, fhi: number) =>
    hi - lo > fhi - flo ? 0 : lo < flo ? flo - lo : hi > fhi ? fhi - hi : 0;
  const dx = shift(box.x1, box.x2, frame.x1, frame.x2);
  const dy = shift(box.y1, box.y2, frame.y1, frame.y2);
  return { x1: box.x1 + dx, y1: box.y1 + dy, x2: box.x2 + dx, y2: box.y2 + dy };
}

const LABEL_ONLY = { includeNodes: false, includeEdges: false, includeLabels: true, includeOverlays: false } as never;

/**
 * What the rate labels keep off (model units): every node with its label; the titles of the
 * boxes drawn round others (a workload's name above its pods, a namespace's name), but not
 * the inside of those boxes, where the curves run; and the split labels of weighted routes.
 */
export function labelObstacles(cy: Core): Box[] {
  const obstacles: Box[] = [];
  const push = (bb: { x1: number; y1: number; x2: number; y2: number; w: number }, weight: number) => {
    if (Number.isFinite(bb.x1) && bb.w > 0) obstacles.push({ x1: bb.x1, y1: bb.y1, x2: bb.x2, y2: bb.y2, weight });
  };
  cy.nodes().forEach((n) => {
    // A node faded out of a lesson's spotlight may be covered before one in it.
    const weight = Number(n.effectiveOpacity()) < 0.6 ? 0.3 : 1;
    push(n.boundingBox(n.isChildless() ? ({ includeLabels: true } as never) : LABEL_ONLY), weight);
  });
  // The split labels ("60% set, 58% seen") stay readable too.
  cy.edges(".seen").forEach((e) => push(e.boundingBox(LABEL_ONLY), 8));
  return obstacles;
}

/** The unit vector from the middle of a curve's chord towards its control point: the side it bows to. */
function outward(a: Point, c: Point, b: Point): Point | null {
  const dx = c.x - (a.x + b.x) / 2;
  const dy = c.y - (a.y + b.y) / 2;
  const l = Math.hypot(dx, dy);
  return l < 1 ? null : { x: dx / l, y: dy / l };
}

function curveOf(e: EdgeSingular): { a: Point; c: Point; b: Point } | null {
  const a = e.sourceEndpoint();
  const b = e.targetEndpoint();
  if (!a || !b || !Number.isFinite(a.x) || !Number.isFinite(b.x)) return null;
  const cps = e.controlPoints();
  const c = cps && cps.length ? cps[0] : { x: (a.x + b.x) / 2, y: (a.y + b.y) / 2 };
  return { a, c, b };
}

const COLOURS = {
  light: { dot: "#0b5cad", dotRing: "#ffffff", red: "#b3261e", lockBg: "#ffffff", mtls: "#17693a", plain: "#8a5300", label: "#0b5cad", labelText: "#ffffff", focus: "#0b57d0" },
  dark: { dot: "#cfe6ff", dotRing: "#0d1a2e", red: "#ff8a80", lockBg: "#1b2028", mtls: "#86d59f", plain: "#f5c862", label: "#6cb4ff", labelText: "#0d1a2e", focus: "#a8c7fa" },
};

const LINE = 1.15;
const PAD = 6;

/** A label's size in graph units: its lines, and room for the lock in front when it has one. */
export function labelSize(text: string, lock: LockState): { w: number; h: number; lockW: number } {
  const lines = text.split("\n");
  const lockW = lock === "unknown" ? 0 : LOCK * 1.05;
  const w = Math.max(...lines.map((l) => textWidth(l, TRAFFIC_FONT))) + 2 * PAD + lockW;
  return { w, h: lines.length * TRAFFIC_FONT * LINE + PAD, lockW };
}

/**
 * Draws dots, rate labels and locks of every traffic link. Labels are drawn here rather
 * than by Cytoscape so that they can move along their curves out of each other's way.
 */
export function drawFlow(
  canvas: HTMLCanvasElement,
  cy: Core,
  links: ReadonlyMap<string, DrawnLink>,
  opts: { dots: boolean; timeMs: number; dark: boolean },
): void {
  const ratio = window.devicePixelRatio || 1;
  const w = canvas.clientWidth;
  const h = canvas.clientHeight;
  if (canvas.width !== Math.round(w * ratio) || canvas.height !== Math.round(h * ratio)) {
    canvas.width = Math.round(w * ratio);
    canvas.height = Math.round(h * ratio);
  }
  const ctx = canvas.getContext("2d");
  if (!ctx) return;
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, w, h);
  const col = opts.dark ? COLOURS.dark : COLOURS.light;
  const zoom = cy.zoom();
  const pan = cy.pan();
  const screen = (p: Point): Point => ({ x: pan.x + zoom * p.x, y: pan.y + zoom * p.y });

  const items: { id: string; a: Point; c: Point; b: Point; w: number; h: number }[] = [];
  const info = new Map<string, { d: DrawnLink; text: string; lockW: number; alpha: number; focus: boolean; curve: { a: Point; c: Point; b: Point } }>();
  cy.edges(".traffic").forEach((e) => {
    const d = links.get(e.id());
    if (!d || e.hidden()) return;
    const curve = curveOf(e);
    if (!curve) return;
    const focus = e.hasClass("long") || e.hasClass("selected") || e.hasClass("cursor");
    const text = focus ? d.labelLong : d.label;
    const size = labelSize(text, d.lock);
    const alpha = Math.min(d.opacity, Number(e.effectiveOpacity()));
    info.set(d.id, { d, text, lockW: size.lockW, alpha: Number.isFinite(alpha) ? alpha : d.opacity, focus, curve });
    items.push({ id: d.id, ...curve, w: size.w, h: size.h });
  });
  // Busiest first, so the links that matter most keep the middle of their curves.
  items.sort((x, y) => (info.get(y.id)!.d.rps - info.get(x.id)!.d.rps) || (x.id < y.id ? -1 : 1));
  const obstacles = labelObstacles(cy);
  // The visible frame in graph units, less a margin of 4 pixels.
  const m = 4 / zoom;
  const frame = { x1: -pan.x / zoom + m, y1: -pan.y / zoom + m, x2: (w - pan.x) / zoom - m, y2: (h - pan.y) / zoom - m };
  const boxes = placeLabels(items, obstacles, frame);
  const inside = (p: Point, b: Box | undefined) => !!b && p.x > b.x1 - 3 && p.x < b.x2 + 3 && p.y > b.y1 - 3 && p.y < b.y2 + 3;

  for (const { id } of items) {
    const it = info.get(id)!;
    const { d, curve } = it;
    ctx.globalAlpha = it.alpha;
    if (opts.dots && d.dots > 0) {
      const len = Math.hypot(curve.c.x - curve.a.x, curve.c.y - curve.a.y) + Math.hypot(curve.b.x - curve.c.x, curve.b.y - curve.c.y);
      const r = Math.max(DOT_MIN_PX, DOT_R * zoom);
      dotPositions(d.dots, len, opts.timeMs).forEach((t, i) => {
        const m = quadAt(curve.a, curve.c, curve.b, t);
        if ([...boxes.values()].some((b) => inside(m, b))) return;
        const p = screen(m);
        ctx.beginPath();
        ctx.arc(p.x, p.y, r, 0, Math.PI * 2);
        ctx.fillStyle = isRedDot(i, d.dots, d.red) ? col.red : col.dot;
        ctx.fill();
        ctx.lineWidth = Math.max(2, r * 0.35);
        ctx.strokeStyle = col.dotRing;
        ctx.stroke();
      });
    }
  }
  // Labels over every dot.
  for (const { id } of items) {
    const it = info.get(id)!;
    const b = boxes.get(id);
    if (!b) continue;
    ctx.globalAlpha = it.alpha;
    const bw = (b.x2 - b.x1) * zoom;
    const bh = (b.y2 - b.y1) * zoom;
    // Inside the frame already: a label whose curve runs off it (presenter mode fits the
    // mesh, not every curve) was placed against its edge, read whole.
    const tl = screen({ x: b.x1, y: b.y1 });
    ctx.beginPath();
    ctx.roundRect(tl.x, tl.y, bw, bh, 5 * zoom + 2);
    ctx.fillStyle = it.d.failing ? col.red : col.label;
    ctx.fill();
    if (it.focus) {
      ctx.lineWidth = 3;
      ctx.strokeStyle = col.focus;
      ctx.stroke();
    }
    ctx.fillStyle = it.d.failing ? "#ffffff" : col.labelText;
    ctx.font = `800 ${TRAFFIC_FONT * zoom}px ${FONT_FAMILY}`;
    ctx.textBaseline = "middle";
    ctx.textAlign = "left";
    const lines = it.text.split("\n");
    const lineH = TRAFFIC_FONT * LINE * zoom;
    const x = tl.x + (PAD + it.lockW) * zoom;
    lines.forEach((l, k) => ctx.fillText(l, x, tl.y + (PAD / 2) * zoom + lineH * (k + 0.5)));
    if (it.d.lock !== "unknown") {
      const size = LOCK * 0.95 * zoom;
      drawLock(ctx, { x: tl.x + (PAD + it.lockW / 2) * zoom, y: tl.y + (PAD / 2) * zoom + lineH / 2 }, size, it.d.lock, col);
    }
  }
  ctx.globalAlpha = 1;
}

/** A padlock in a disc: shackle closed for mutual TLS, swung open for plain text. */
function drawLock(ctx: CanvasRenderingContext2D, at: Point, size: number, lock: LockState, col: (typeof COLOURS)["light"]): void {
  const colour = lock === "mtls" ? col.mtls : col.plain;
  ctx.beginPath();
  ctx.arc(at.x, at.y, size * 0.62, 0, Math.PI * 2);
  ctx.fillStyle = col.lockBg;
  ctx.fill();
  ctx.lineWidth = Math.max(2, size * 0.08);
  ctx.strokeStyle = colour;
  ctx.stroke();
  const bw = size * 0.56;
  const bh = size * 0.4;
  const bx = at.x - bw / 2;
  const by = at.y - bh * 0.15;
  // Shackle.
  const sr = bw * 0.3;
  ctx.beginPath();
  ctx.lineWidth = Math.max(2, size * 0.1);
  ctx.strokeStyle = colour;
  if (lock === "mtls") {
    ctx.moveTo(at.x - sr, by);
    ctx.lineTo(at.x - sr, by - sr * 0.5);
    ctx.arc(at.x, by - sr * 0.5, sr, Math.PI, 0);
    ctx.lineTo(at.x + sr, by);
  } else {
    // Open: the shackle lifted, its left leg out of the body.
    const top = by - sr * 1.1;
    ctx.moveTo(at.x + sr, by);
    ctx.lineTo(at.x + sr, top);
    ctx.arc(at.x, top, sr, 0, Math.PI, true);
    ctx.lineTo(at.x - sr, top + sr * 0.45);
  }
  ctx.stroke();
  // Body.
  ctx.fillStyle = colour;
  ctx.fillRect(bx, by, bw, bh);
}
