// Where nodes go. The first snapshot is laid out once, in layers left to right in the
// direction a request travels (one column per kind); after that only new nodes get a place, next to what
// they belong to, so nothing already on screen moves while the teacher is pointing at it.
import type { GraphEdge } from "../generated/GraphEdge";
import type { GraphNode } from "../generated/GraphNode";
import type { NodeKind } from "../generated/NodeKind";
import { nodeText } from "./explain";

export interface Point {
  x: number;
  y: number;
}

export interface Size {
  w: number;
  h: number;
}

/** Column of each kind in the request's direction; equal columns share a rank. */
export const KIND_COLUMN: Record<NodeKind, number> = {
  namespace: -1,
  "ingress-gateway": 0,
  gateway: 1,
  "virtual-service": 2,
  service: 3,
  subset: 3,
  workload: 4,
  pod: 4,
};

/** Font size of node labels in graph units; the style uses the same numbers. */
export const NODE_FONT = 20;
const LINE_HEIGHT = 1.25;
/** Average advance of one character at NODE_FONT, generous so labels never spill. */
const CHAR_WIDTH = 11.2;
const PAD_X = 30;
const PAD_Y = 22;
/** Horizontal distance between two columns, used where nothing shows it yet. */
export const COLUMN_STEP = 300;
const GAP = 28;

/** Extra width some shapes need so their text stays inside the drawn outline. */
const SHAPE_WIDEN: Partial<Record<NodeKind, number>> = {
  "ingress-gateway": 1.25,
  gateway: 1.1,
  "virtual-service": 1.3,
  pod: 1.0,
};

/** Size of a leaf node, from the text it shows. Pure, so tests and the style agree. */
export function nodeSize(node: GraphNode): Size {
  const lines = nodeText(node).split("\n");
  const longest = Math.max(...lines.map((l) => [...l].length));
  const widen = SHAPE_WIDEN[node.kind] ?? 1;
  const w = Math.max(120, Math.round((longest * CHAR_WIDTH + PAD_X) * widen));
  const h = Math.round(lines.length * NODE_FONT * LINE_HEIGHT + PAD_Y);
  return { w, h };
}

/** Space above a group's box for its label, and inside it around its members. */
const GROUP_LABEL = 30;
const GROUP_PAD = 12;
const NS_LABEL = 40;
const NS_PAD = 26;
const COLUMN_GAP = 72;
const ROW_GAP = 20;
/** Pods per row inside a workload's box. */
const PODS_PER_ROW = 4;

/** What one column slot holds: a leaf, or a group (workload) with its members in rows. */
interface Item {
  id: string;
  col: number;
  w: number;
  h: number;
  /** Member offsets from the item's centre. */
  members: { id: string; dx: number; dy: number }[];
  y: number;
  placed: boolean;
}

/**
 * Lays out every leaf in columns by kind, in the request's direction, one band per
 * namespace. Bands whose columns do not overlap (istio-system holding only the ingress
 * gateway) sit side by side; the others stack. Within a column, items sit level with what
 * they connect to where there is room, so lines run mostly straight.
 */
export function layoutAll(nodes: readonly GraphNode[], edges: readonly GraphEdge[]): Map<string, Point> {
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const kids = new Map<string, GraphNode[]>();
  for (const n of nodes) {
    if (n.parent && byId.has(n.parent) && n.parent !== n.id) {
      const list = kids.get(n.parent) ?? [];
      list.push(n);
      kids.set(n.parent, list);
    }
  }
  const byName = (a: GraphNode, b: GraphNode) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

  // Items: top-level things of each namespace; a node with members becomes a group.
  const items = new Map<string, Item>();
  const itemOf = new Map<string, string>();
  const namespaces = new Map<string, Item[]>();
  for (const n of [...nodes].sort(byName)) {
    if (n.kind === "namespace" && kids.has(n.id)) continue;
    const parent = n.parent && byId.has(n.parent) ? byId.get(n.parent)! : null;
    if (parent && parent.kind !== "namespace") continue; // drawn inside its group
    const col = Math.max(0, KIND_COLUMN[n.kind]);
    const members = (kids.get(n.id) ?? []).sort(byName);
    let item: Item;
    if (members.length === 0) {
      const s = nodeSize(n);
      item = { id: n.id, col, w: s.w, h: s.h, members: [], y: 0, placed: false };
    } else {
      const sizes = members.map((m) => nodeSize(m));
      const rows: number[][] = [];
      members.forEach((_, i) => (i % PODS_PER_ROW === 0 ? rows.push([i]) : rows[rows.length - 1].push(i)));
      const rowW = rows.map((r) => r.reduce((s, i) => s + sizes[i].w, 0) + (r.length - 1) * GAP);
      const rowH = rows.map((r) => Math.max(...r.map((i) => sizes[i].h)));
      const innerW = Math.max(...rowW, [...nodeText(n)].length * CHAR_WIDTH);
      const innerH = rowH.reduce((s, h) => s + h, 0) + (rows.length - 1) * GAP;
      const w = innerW + 2 * GROUP_PAD;
      const h = innerH + 2 * GROUP_PAD + GROUP_LABEL;
      const out: Item["members"] = [];
      let y = -h / 2 + GROUP_LABEL + GROUP_PAD;
      rows.forEach((r, ri) => {
        let x = -rowW[ri] / 2;
        for (const i of r) {
          out.push({ id: members[i].id, dx: x + sizes[i].w / 2, dy: y + rowH[ri] / 2 });
          x += sizes[i].w + GAP;
        }
        y += rowH[ri] + GAP;
      });
      item = { id: n.id, col, w, h, members: out, y: 0, placed: false };
      for (const m of members) itemOf.set(m.id, n.id);
    }
    items.set(n.id, item);
    itemOf.set(n.id, n.id);
    const list = namespaces.get(n.namespace) ?? [];
    list.push(item);
    namespaces.set(n.namespace, list);
  }

  // Neighbours between items, from the edges.
  const links = new Map<string, Set<string>>();
  for (const e of edges) {
    const a = itemOf.get(e.source);
    const b = itemOf.get(e.target);
    if (!a || !b || a === b) continue;
    (links.get(a) ?? links.set(a, new Set()).get(a)!).add(b);
    (links.get(b) ?? links.set(b, new Set()).get(b)!).add(a);
  }

  // Column centres, shared by all namespaces so columns line up across the whole graph.
  const maxCol = Math.max(0, ...[...items.values()].map((i) => i.col));
  const colW = Array.from({ length: maxCol + 1 }, (_, c) =>
    Math.max(0, ...[...items.values()].filter((i) => i.col === c).map((i) => i.w)),
  );
  const colX: number[] = [];
  let x = 0;
  for (let c = 0; c <= maxCol; c++) {
    if (c > 0) x += colW[c - 1] / 2 + COLUMN_GAP + colW[c] / 2;
    else x = colW[0] / 2;
    colX.push(x);
  }

  // Namespaces with an ingress gateway first (where requests enter), then by name.
  const order = [...namespaces.keys()].sort((a, b) => {
    const ga = namespaces.get(a)!.some((i) => i.col === 0) ? 0 : 1;
    const gb = namespaces.get(b)!.some((i) => i.col === 0) ? 0 : 1;
    return ga - gb || a.localeCompare(b);
  });
  const bands: { c0: number; c1: number; bottom: number }[] = [];
  const out = new Map<string, Point>();

  for (const ns of order) {
    const list = namespaces.get(ns)!;
    const c0 = Math.min(...list.map((i) => i.col));
    const c1 = Math.max(...list.map((i) => i.col));
    let top = 0;
    for (const b of bands) if (b.c0 <= c1 && c0 <= b.c1) top = Math.max(top, b.bottom + NS_PAD * 2 + ROW_GAP);
    const start = top + NS_LABEL + NS_PAD;
    let bottom = start;

    const placeColumn = (col: Item[], desired: (i: Item) => number | null) => {
      const want = col.map((i, k) => ({ i, k, d: desired(i) }));
      // Items level with their neighbours first, in that order; the rest after them.
      want.sort((a, b) => (a.d ?? Infinity) - (b.d ?? Infinity) || a.k - b.k);
      let cursor = start;
      for (const { i, d } of want) {
        const y = Math.max(d ?? cursor, cursor + i.h / 2);
        i.y = y;
        i.placed = true;
        cursor = y + i.h / 2 + ROW_GAP;
      }
      bottom = Math.max(bottom, cursor - ROW_GAP);
    };
    const neighbourY = (i: Item, onlyCols: (c: number) => boolean): number | null => {
      const ys: number[] = [];
      for (const o of links.get(i.id) ?? []) {
        const other = items.get(o);
        if (other && other.placed && onlyCols(other.col)) ys.push(other.y);
      }
      return ys.length ? ys.reduce((s, y) => s + y, 0) / ys.length : null;
    };
    // Left to right: level with what leads here. Columns with nothing to their left (a
    // VirtualService only used inside the mesh) are placed after the ones right of them.
    for (let c = c0; c <= c1; c++) {
      const col = list.filter((i) => i.col === c);
      if (col.length) placeColumn(col, (i) => neighbourY(i, (oc) => oc < c));
    }
    for (let c = c1 - 1; c >= c0; c--) {
      const col = list.filter((i) => i.col === c);
      const orphans = col.filter((i) => neighbourY(i, (oc) => oc < c) === null);
      if (!orphans.length) continue;
      for (const i of col) i.placed = false;
      placeColumn(col, (i) => neighbourY(i, (oc) => oc !== c));
    }
    bands.push({ c0, c1, bottom });
    for (const i of list) {
      const cx = colX[i.col];
      if (i.members.length === 0) out.set(i.id, { x: cx, y: i.y });
      for (const m of i.members) out.set(m.id, { x: cx + m.dx, y: i.y + m.dy });
    }
  }
  return out;
}

/** A place that a removed leaf left free in the same change, for its replacement. */
export interface FreedSlot {
  kind: NodeKind;
  parent: string | null;
  namespace: string;
  at: Point;
}

export interface PlaceContext {
  nodes: ReadonlyMap<string, GraphNode>;
  edges: Iterable<GraphEdge>;
  positions: ReadonlyMap<string, Point>;
  /** Effective parent (null when the model's parent is missing). */
  parentOf(id: string): string | null;
  /** Current children of a node. */
  childrenOf(id: string): readonly string[];
  /** Leaf positions freed by removals in this change; consumed when reused. */
  freed: FreedSlot[];
  /** Where a node that became a group was drawn while it was a leaf. */
  formerLeaf: ReadonlyMap<string, Point>;
}

function overlaps(at: Point, size: Size, id: string, ctx: PlaceContext, ignoreParent: string | null): boolean {
  for (const [other, p] of ctx.positions) {
    if (other === id) continue;
    const o = ctx.nodes.get(other);
    if (!o) continue;
    if (ignoreParent && ctx.parentOf(other) === ignoreParent) continue;
    const os = nodeSize(o);
    if (Math.abs(p.x - at.x) * 2 < size.w + os.w + GAP && Math.abs(p.y - at.y) * 2 < size.h + os.h + GAP) {
      return true;
    }
  }
  return false;
}

/** Moves `at` down until it is clear of every placed leaf (bounded, so it always ends). */
function clearDown(at: Point, size: Size, id: string, ctx: PlaceContext): Point {
  const p = { ...at };
  for (let i = 0; i < 400 && overlaps(p, size, id, ctx, null); i++) p.y += 24;
  return p;
}

function columnX(node: GraphNode, ctx: PlaceContext, near: Point[]): number {
  const col = KIND_COLUMN[node.kind];
  const same: number[] = [];
  const sameNs: number[] = [];
  let ref: { x: number; col: number } | null = null;
  for (const [id, p] of ctx.positions) {
    const o = ctx.nodes.get(id);
    if (!o) continue;
    if (KIND_COLUMN[o.kind] === col) {
      same.push(p.x);
      if (o.namespace === node.namespace) sameNs.push(p.x);
    } else if (!ref) ref = { x: p.x, col: KIND_COLUMN[o.kind] };
  }
  const pick = sameNs.length ? sameNs : same;
  if (pick.length) {
    pick.sort((a, b) => a - b);
    return pick[Math.floor(pick.length / 2)];
  }
  if (ref) return ref.x + (col - ref.col) * COLUMN_STEP;
  if (near.length) return near[0].x;
  return 0;
}

/** A place for a node that is new in this change; does not move anything else. */
export function placeNew(node: GraphNode, ctx: PlaceContext): Point {
  const size = nodeSize(node);
  const parent = ctx.parentOf(node.id);

  // 1. Take the place of what it replaces (a pod replaced by its Deployment).
  const slot = ctx.freed.findIndex(
    (f) => f.kind === node.kind && f.parent === parent && f.namespace === node.namespace,
  );
  if (slot >= 0) {
    const at = ctx.freed[slot].at;
    ctx.freed.splice(slot, 1);
    return at;
  }

  // 2. The first member of a group that used to be a single box goes where the box was.
  if (parent && ctx.formerLeaf.has(parent)) {
    const siblingsPlaced = ctx.childrenOf(parent).some((c) => c !== node.id && ctx.positions.has(c));
    if (!siblingsPlaced) return clearDown(ctx.formerLeaf.get(parent)!, size, node.id, ctx);
  }

  // 3. Next to its siblings of the same kind: below the lowest, or beside them if that
  //    would run into another group.
  if (parent) {
    const sibs = ctx
      .childrenOf(parent)
      .filter((c) => c !== node.id && ctx.positions.has(c) && ctx.nodes.get(c)?.kind === node.kind)
      .map((c) => ({ p: ctx.positions.get(c)!, s: nodeSize(ctx.nodes.get(c)!) }));
    if (sibs.length) {
      const lowest = sibs.reduce((a, b) => (b.p.y > a.p.y ? b : a));
      const lastRow = sibs.filter((q) => Math.abs(q.p.y - lowest.p.y) < 1);
      const rightmost = lastRow.reduce((a, b) => (b.p.x > a.p.x ? b : a));
      const beside = { x: rightmost.p.x + (rightmost.s.w + size.w) / 2 + GAP, y: rightmost.p.y };
      const leftmost = sibs.reduce((a, b) => (b.p.x < a.p.x ? b : a));
      const below = { x: leftmost.p.x, y: lowest.p.y + (lowest.s.h + size.h) / 2 + GAP };
      const free = (p: Point) => !overlaps(p, size, node.id, ctx, null) && !overlapsOtherGroup(p, size, parent, ctx);
      if (lastRow.length < PODS_PER_ROW && free(beside)) return beside;
      if (free(below)) return below;
      return clearDown(beside, size, node.id, ctx);
    }
  }

  // 4. In its column, level with what it is connected to.
  const near: Point[] = [];
  for (const e of ctx.edges) {
    const other = e.source === node.id ? e.target : e.target === node.id ? e.source : null;
    if (!other) continue;
    const p = leafOrGroupCenter(other, ctx);
    if (p) near.push(p);
  }
  const x = columnX(node, ctx, near);
  if (near.length) {
    const y = near.reduce((s, p) => s + p.y, 0) / near.length;
    return clearDown({ x, y }, size, node.id, ctx);
  }

  // 5. Nothing to go by: at the bottom of its namespace (or of everything), in its column.
  let maxY = -Infinity;
  for (const [id, p] of ctx.positions) {
    const o = ctx.nodes.get(id);
    if (o && o.namespace === node.namespace) maxY = Math.max(maxY, p.y + nodeSize(o).h / 2);
  }
  if (maxY === -Infinity) {
    for (const [id, p] of ctx.positions) {
      const o = ctx.nodes.get(id);
      if (o) maxY = Math.max(maxY, p.y + nodeSize(o).h / 2);
    }
  }
  const y = maxY === -Infinity ? 0 : maxY + GAP + size.h / 2 + 40;
  return clearDown({ x, y }, size, node.id, ctx);
}

/** Rough box of another group whose leaves would be under `at`. */
function overlapsOtherGroup(at: Point, size: Size, parent: string, ctx: PlaceContext): boolean {
  const groups = new Map<string, { x0: number; x1: number; y0: number; y1: number }>();
  for (const [id, p] of ctx.positions) {
    const gp = ctx.parentOf(id);
    if (!gp || gp === parent) continue;
    const g = ctx.nodes.get(gp);
    if (!g || g.kind === "namespace") continue;
    const s = nodeSize(ctx.nodes.get(id)!);
    const b = groups.get(gp) ?? { x0: Infinity, x1: -Infinity, y0: Infinity, y1: -Infinity };
    b.x0 = Math.min(b.x0, p.x - s.w / 2);
    b.x1 = Math.max(b.x1, p.x + s.w / 2);
    b.y0 = Math.min(b.y0, p.y - s.h / 2);
    b.y1 = Math.max(b.y1, p.y + s.h / 2);
    groups.set(gp, b);
  }
  const pad = 40; // group padding plus its label above
  for (const b of groups.values()) {
    if (at.x + size.w / 2 > b.x0 - pad && at.x - size.w / 2 < b.x1 + pad && at.y + size.h / 2 > b.y0 - pad && at.y - size.h / 2 < b.y1 + pad) {
      return true;
    }
  }
  return false;
}

function leafOrGroupCenter(id: string, ctx: PlaceContext): Point | null {
  const p = ctx.positions.get(id);
  if (p) return p;
  const pts: Point[] = [];
  const stack = [...ctx.childrenOf(id)];
  while (stack.length) {
    const c = stack.pop()!;
    const cp = ctx.positions.get(c);
    if (cp) pts.push(cp);
    else stack.push(...ctx.childrenOf(c));
  }
  if (!pts.length) return null;
  return { x: pts.reduce((s, q) => s + q.x, 0) / pts.length, y: pts.reduce((s, q) => s + q.y, 0) / pts.length };
}
