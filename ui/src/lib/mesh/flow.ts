// The flow layer: dots moving along busy traffic links and locks on their lines, drawn on a
// canvas over the graph (Cytoscape has no moving marks of its own). The geometry (where a
// link bows, where a dot is at a time) is pure and tested; the drawing reads Cytoscape's
// curve for each link.
import type { Core, EdgeSingular } from "cytoscape";

import type { Point } from "./layout";
import type { DrawnLink, LockState } from "./traffic";

/** How fast a dot travels, in graph units per second (so short links do not look busier). */
export const DOT_SPEED = 260;
/** Dot radius and lock size in graph units, with a floor in screen pixels so both stay visible. */
const DOT_R = 8;
const DOT_MIN_PX = 5;
const LOCK = 30;
const LOCK_MIN_PX = 20;

/**
 * How far the control point of a traffic link lies from the straight line, in Cytoscape's
 * sign convention (positive is to the left of the direction of travel). Links between
 * workloads of one column bow out to the right, past the boxes, longer ones further so
 * they nest; links across the drawing bow upwards, over the configuration.
 */
export function bowFor(from: Point, to: Point): number {
  const dx = to.x - from.x;
  const dy = to.y - from.y;
  const len = Math.hypot(dx, dy);
  if (len < 1) return 0;
  if (Math.abs(dy) >= Math.abs(dx)) {
    const d = 240 + 1.5 * len;
    // Left of a downward link is -x: a negative distance bows it to +x.
    return dy > 0 ? -d : d;
  }
  const d = 110 + 0.12 * len;
  // Left of a rightward link is +y (down on screen): negative bows it up.
  return dx > 0 ? -d : d;
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

function curveOf(e: EdgeSingular): { a: Point; c: Point; b: Point } | null {
  const a = e.sourceEndpoint();
  const b = e.targetEndpoint();
  if (!a || !b || !Number.isFinite(a.x) || !Number.isFinite(b.x)) return null;
  const cps = e.controlPoints();
  const c = cps && cps.length ? cps[0] : { x: (a.x + b.x) / 2, y: (a.y + b.y) / 2 };
  return { a, c, b };
}

const COLOURS = {
  light: { dot: "#0b5cad", dotRing: "#ffffff", red: "#b3261e", lockBg: "#ffffff", mtls: "#17693a", plain: "#8a5300" },
  dark: { dot: "#cfe6ff", dotRing: "#0d1a2e", red: "#ff8a80", lockBg: "#1b2028", mtls: "#86d59f", plain: "#f5c862" },
};

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
  cy.edges(".traffic").forEach((e) => {
    const d = links.get(e.id());
    if (!d || e.hidden()) return;
    const curve = curveOf(e);
    if (!curve) return;
    const alpha = Math.min(d.opacity, Number(e.effectiveOpacity()) || d.opacity);
    ctx.globalAlpha = alpha;
    // The rate label: dots pass behind it, the lock sits just before it.
    const lb = e.boundingBox({ includeNodes: false, includeEdges: false, includeLabels: true, includeOverlays: false } as never);
    const hasLabel = Number.isFinite(lb.x1) && lb.w > 0;
    const inLabel = (p: Point) => hasLabel && p.x > lb.x1 - 4 && p.x < lb.x2 + 4 && p.y > lb.y1 - 4 && p.y < lb.y2 + 4;
    if (opts.dots && d.dots > 0) {
      const len = Math.hypot(curve.c.x - curve.a.x, curve.c.y - curve.a.y) + Math.hypot(curve.b.x - curve.c.x, curve.b.y - curve.c.y);
      const r = Math.max(DOT_MIN_PX, DOT_R * zoom);
      dotPositions(d.dots, len, opts.timeMs).forEach((t, i) => {
        const m = quadAt(curve.a, curve.c, curve.b, t);
        if (inLabel(m)) return;
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
    if (d.lock !== "unknown") {
      const size = Math.max(LOCK_MIN_PX, LOCK * zoom);
      const p = hasLabel ? { x: pan.x + zoom * lb.x1 - size * 0.62 - 2, y: pan.y + zoom * (lb.y1 + lb.y2) / 2 } : screen(quadAt(curve.a, curve.c, curve.b, 0.5));
      drawLock(ctx, p, size, d.lock, col);
    }
  });
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
