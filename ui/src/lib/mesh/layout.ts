// Where nodes go. Columns left to right in the direction a request travels, one band per
// namespace. A change to the structure (a Gateway, VirtualService, Service, Subset or
// Workload added or removed) lays everything out again and the drawing animates to it;
// smaller changes only place what is new (a replaced pod takes its predecessor's place),
// so nothing moves while the teacher is pointing at it.
import type { GraphEdge } from "../generated/GraphEdge";
import type { GraphNode } from "../generated/GraphNode";
import type { NodeKind } from "../generated/NodeKind";
import { edgeText, nodeText, severalRoutes } from "./explain";

export interface Point {
  x: number;
  y: number;
}

export interface Size {
  w: number;
  h: number;
}

/**
 * Column of each kind in the request's direction. A VirtualService that only takes over a
 * Service inside the mesh (the target of a routed-by edge, bound to no Gateway) goes to
 * MESH_VS_COLUMN instead, between its Service and the subsets it routes to.
 */
export const KIND_COLUMN: Record<NodeKind, number> = {
  namespace: -1,
  "ingress-gateway": 0,
  gateway: 1,
  "virtual-service": 2,
  service: 3,
  subset: 5,
  workload: 6,
  pod: 6,
};
export const MESH_VS_COLUMN = 4;

/** What each column holds, written above it, so nodes only need their names. */
export const COLUMN_TITLE: readonly string[] = [
  "Ingress gateway",
  "Gateway",
  "Virtual\u200bService",
  "Service",
  "Virtual\u200bService",
  "Subset",
  "Workload · pods",
];

/** Label font sizes in graph units; the style uses the same numbers. */
export const NODE_FONT = 20;
export const POD_FONT = 20;
export const NS_FONT = 20;
export const EDGE_FONT = 24;
/** Traffic link labels (rates): at Bookinfo's fit on 1280x800 with traffic still 14 px or more. */
export const TRAFFIC_FONT = 30;
/** The page's font (app.css `--font`), for the graph's labels and their measuring. */
export const FONT_FAMILY = "system-ui, sans-serif";
export const FONT_WEIGHT = 700;
export const LINE_HEIGHT = 1.2;
const PAD_X = 16;
const PAD_Y = 12;
const GAP = 20;

/** Extra width some shapes need so their text stays inside the drawn outline. */
const SHAPE_WIDEN: Partial<Record<NodeKind, number>> = {
  "ingress-gateway": 1.22,
  gateway: 1.08,
  "virtual-service": 1.3,
  subset: 1.06,
  pod: 1.18,
};

let measureCtx: CanvasRenderingContext2D | null | undefined;
const measured = new Map<string, number>();

/**
 * Width of one line of label text in graph units. In a browser it is measured with the
 * font the graph draws with; in tests (jsdom has no canvas) a generous estimate.
 */
export function textWidth(text: string, font: number): number {
  const key = `${font}|${text}`;
  const hit = measured.get(key);
  if (hit !== undefined) return hit;
  if (measureCtx === undefined) {
    measureCtx = null;
    if (import.meta.env.MODE !== "test" && typeof document !== "undefined") {
      measureCtx = document.createElement("canvas").getContext("2d");
    }
  }
  let w: number;
  if (measureCtx) {
    measureCtx.font = `${FONT_WEIGHT} ${font}px ${FONT_FAMILY}`;
    w = measureCtx.measureText(text).width * 1.04;
  } else {
    w = [...text].length * font * 0.66;
  }
  measured.set(key, w);
  return w;
}

function linesWidth(text: string, font: number): number {
  return Math.max(...text.split("\n").map((l) => textWidth(l, font)));
}

export function fontOf(kind: NodeKind): number {
  return kind === "pod" ? POD_FONT : kind === "namespace" ? NS_FONT : NODE_FONT;
}

/** Size of a leaf node, from the text it shows. Pure, so tests and the style agree. */
export function nodeSize(node: GraphNode): Size {
  const text = nodeText(node);
  const font = fontOf(node.kind);
  const lines = text.split("\n").length;
  const widen = SHAPE_WIDEN[node.kind] ?? 1;
  const w = Math.max(node.kind === "pod" ? 90 : 100, Math.round((linesWidth(text, font) + PAD_X) * widen));
  const h = Math.round(lines * font * LINE_HEIGHT + PAD_Y * (node.kind === "pod" ? 1.2 : 2));
  return { w, h };
}

/** Inside a group (workload, ingress gateway): padding, and room for its label on top. */
export const GROUP_PAD = 6;
const GROUP_LABEL_GAP = 6;
export const NS_PAD = 14;
const NS_LABEL_GAP = 8;
const ROW_GAP = 12;
/** Where no column is drawn yet, how far apart columns are. */
const COLUMN_STEP = 260;
/**
 * Between columns; wider after a column whose outgoing edges carry weights: room for a
 * split's two-line label ("60% set" over "58% seen") beside the arrow head.
 */
const COLUMN_GAP = 26;
const LABEL_GAP = 170;
/**
 * Room a route's label needs in its gap besides its own width: its middle lies
 * `seenLabelOffset` (half the label and 13 units: its background's 5, then 8 of line)
 * before the arrow head, which is about 25 units long; 5 more of background on its other
 * side and 4 that keep it off the VirtualService (whose slanted side leaves more level with
 * its middle). The turn of the split's lines may run behind the labels: they stack on it.
 */
const EDGE_LABEL_ROOM = 13 + 25 + 5 + 4;
/**
 * The widest line traffic adds to a weighted route's label ("60% set" over "58% seen"):
 * the gap is made for it from the start, so the columns do not move when traffic begins.
 */
const SEEN_LINE_WIDEST = "100% seen";
/** Between namespace boxes, side by side or stacked. */
const NS_GAP = 20;
/** Pods per row inside a workload's box. */
const PODS_PER_ROW = 4;

/** Column of one node; VirtualServices depend on their edges. */
export function columnOf(node: GraphNode, incoming: ReadonlyMap<string, ReadonlySet<string>>): number {
  if (node.kind === "virtual-service") {
    const kinds = incoming.get(node.id);
    if (kinds?.has("routed-by") && !kinds.has("binds")) return MESH_VS_COLUMN;
  }
  return KIND_COLUMN[node.kind];
}

/** Edge kinds arriving at each node, for `columnOf`. */
export function incomingKinds(edges: Iterable<GraphEdge>): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const e of edges) (out.get(e.target) ?? out.set(e.target, new Set()).get(e.target)!).add(e.kind);
  return out;
}

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
  /** Order of first visit walking the graph from the ingress side: ties and rows. */
  order: number;
}

/** A column's title, drawn above the graph at the column's centre. */
export interface ColumnHeader {
  col: number;
  x: number;
  /** Width of the column's widest item. */
  w: number;
  text: string;
}

export interface Layout {
  /** Centre of every leaf. */
  positions: Map<string, Point>;
  /** One title per column in use, in column order. */
  headers: ColumnHeader[];
}

/**
 * Lays out every leaf in columns by kind, in the request's direction, one band per
 * namespace. Bands whose columns do not overlap (istio-system holding only the ingress
 * gateway) sit side by side; the others stack. Rows come from the rightmost column (the
 * workloads, in the order a request reaches them); every other column is placed right to
 * left, each item level with the middle of what it leads to, so a Service sits on the row
 * of its workloads and a subset level with the workload it selects.
 */
export function layoutGraph(nodes: readonly GraphNode[], edges: readonly GraphEdge[]): Layout {
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const incoming = incomingKinds(edges);
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
  const nsLabelW = new Map<string, number>();
  const nsLabelLines = new Map<string, number>();
  for (const n of [...nodes].sort(byName)) {
    if (n.kind === "namespace" && kids.has(n.id)) {
      nsLabelW.set(n.namespace, linesWidth(nodeText(n), NS_FONT));
      nsLabelLines.set(n.namespace, nodeText(n).split("\n").length);
      continue;
    }
    const parent = n.parent && byId.has(n.parent) ? byId.get(n.parent)! : null;
    if (parent && parent.kind !== "namespace") continue; // drawn inside its group
    const col = Math.max(0, columnOf(n, incoming));
    const members = (kids.get(n.id) ?? []).sort(byName);
    let item: Item;
    if (members.length === 0) {
      const s = nodeSize(n);
      item = { id: n.id, col, w: s.w, h: s.h, members: [], y: 0, placed: false, order: Infinity };
    } else {
      const sizes = members.map((m) => nodeSize(m));
      const rows: number[][] = [];
      members.forEach((_, i) => (i % PODS_PER_ROW === 0 ? rows.push([i]) : rows[rows.length - 1].push(i)));
      const rowW = rows.map((r) => r.reduce((s, i) => s + sizes[i].w, 0) + (r.length - 1) * GAP);
      const rowH = rows.map((r) => Math.max(...r.map((i) => sizes[i].h)));
      const innerW = Math.max(...rowW, linesWidth(nodeText(n), NODE_FONT));
      const innerH = rowH.reduce((s, h) => s + h, 0) + (rows.length - 1) * GAP;
      const label = nodeText(n).split("\n").length * NODE_FONT * LINE_HEIGHT + GROUP_LABEL_GAP;
      const w = innerW + 2 * GROUP_PAD;
      const h = innerH + 2 * GROUP_PAD + label;
      const out: Item["members"] = [];
      let y = -h / 2 + label + GROUP_PAD;
      rows.forEach((r, ri) => {
        let x = -rowW[ri] / 2;
        for (const i of r) {
          out.push({ id: members[i].id, dx: x + sizes[i].w / 2, dy: y + rowH[ri] / 2 });
          x += sizes[i].w + GAP;
        }
        y += rowH[ri] + GAP;
      });
      item = { id: n.id, col, w, h, members: out, y: 0, placed: false, order: Infinity };
      for (const m of members) itemOf.set(m.id, n.id);
    }
    items.set(n.id, item);
    itemOf.set(n.id, n.id);
    const list = namespaces.get(n.namespace) ?? [];
    list.push(item);
    namespaces.set(n.namespace, list);
  }

  // Neighbours between items, from the edges; `next` follows the request's direction.
  const links = new Map<string, Set<string>>();
  const next = new Map<string, Set<string>>();
  for (const e of edges) {
    const a = itemOf.get(e.source);
    const b = itemOf.get(e.target);
    if (!a || !b || a === b) continue;
    (links.get(a) ?? links.set(a, new Set()).get(a)!).add(b);
    (links.get(b) ?? links.set(b, new Set()).get(b)!).add(a);
    (next.get(a) ?? next.set(a, new Set()).get(a)!).add(b);
  }

  // The order a request meets things: depth first from the ingress side, children in
  // column then name order. Workloads take their rows in this order.
  const all = [...items.values()].sort((a, b) => a.col - b.col || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  let visit = 0;
  const walk = (start: Item) => {
    const stack = [start];
    while (stack.length) {
      const i = stack.pop()!;
      if (i.order !== Infinity) continue;
      i.order = visit++;
      const out = [...(next.get(i.id) ?? [])].map((id) => items.get(id)!).filter((o) => o.order === Infinity);
      out.sort((a, b) => b.col - a.col || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
      stack.push(...out);
    }
  };
  for (const i of all) walk(i);

  // Columns in use, their widths (titles included) and centres; empty columns take no room.
  const used = [...new Set(all.map((i) => i.col))].sort((a, b) => a - b);
  const colW = new Map<number, number>();
  for (const c of used) colW.set(c, Math.max(0, ...all.filter((i) => i.col === c).map((i) => i.w)));
  const bandsCols = [...namespaces.values()].map((list) => ({
    c0: Math.min(...list.map((i) => i.col)),
    c1: Math.max(...list.map((i) => i.col)),
  }));
  // A namespace holding a single column must be wide enough for its own label.
  for (const [ns, list] of namespaces) {
    const cols = new Set(list.map((i) => i.col));
    if (cols.size === 1) {
      const c = list[0].col;
      colW.set(c, Math.max(colW.get(c)!, (nsLabelW.get(ns) ?? 0) - 2 * NS_PAD));
    }
  }
  // Room for the widest label a column's outgoing routes get: a route's words
  // ("end-user=jason") or a split's "60% set" over "58% seen".
  const several = severalRoutes(edges);
  const labelGap = new Map<number, number>();
  for (const e of edges) {
    const a = itemOf.get(e.source);
    const text = edgeText(e, several);
    if (!a || !text) continue;
    const col = items.get(a)!.col;
    const lines = text.split("\n");
    if (e.route) lines.push(SEEN_LINE_WIDEST);
    const w = Math.max(...lines.map((l) => textWidth(l, EDGE_FONT))) + EDGE_LABEL_ROOM;
    labelGap.set(col, Math.max(labelGap.get(col) ?? 0, LABEL_GAP, w));
  }
  const colX = new Map<number, number>();
  let x = 0;
  used.forEach((c, k) => {
    if (k === 0) x = colW.get(c)! / 2;
    else {
      const prev = used[k - 1];
      // Namespace boxes end between these columns: room for both paddings and a gap.
      const nsBreak = bandsCols.some((b) => b.c1 === prev) && bandsCols.some((b) => b.c0 === c);
      const gap = Math.max(labelGap.get(prev) ?? COLUMN_GAP, nsBreak ? 2 * NS_PAD + NS_GAP : 0);
      x += colW.get(prev)! / 2 + gap + colW.get(c)! / 2;
    }
    colX.set(c, x);
  });

  // Bands: namespaces holding the rest first, by name; those with the ingress gateway
  // after them, so it can sit level with the Gateways it serves.
  const order = [...namespaces.keys()].sort((a, b) => {
    const ga = namespaces.get(a)!.some((i) => i.col === 0) ? 1 : 0;
    const gb = namespaces.get(b)!.some((i) => i.col === 0) ? 1 : 0;
    return ga - gb || a.localeCompare(b);
  });
  const bands: { c0: number; c1: number; top: number; bottom: number }[] = [];
  const positions = new Map<string, Point>();

  for (const ns of order) {
    const nsLabelH = (nsLabelLines.get(ns) ?? 1) * NS_FONT * LINE_HEIGHT + NS_LABEL_GAP;
    const list = namespaces.get(ns)!;
    const c0 = Math.min(...list.map((i) => i.col));
    const c1 = Math.max(...list.map((i) => i.col));
    let top = 0;
    for (const b of bands) if (b.c0 <= c1 && c0 <= b.c1) top = Math.max(top, b.bottom + NS_PAD + NS_GAP);
    const start = top + nsLabelH + NS_PAD;
    let bottom = start;

    const mean = (i: Item, keep: (o: Item) => boolean): number | null => {
      const ys: number[] = [];
      for (const o of links.get(i.id) ?? []) {
        const other = items.get(o);
        if (other && other.placed && keep(other)) ys.push(other.y);
      }
      return ys.length ? ys.reduce((s, y) => s + y, 0) / ys.length : null;
    };
    const place = (col: Item[], desired: (i: Item) => number | null) => {
      const want = col.map((i) => ({ i, d: desired(i) }));
      const level = want.filter((w) => w.d !== null).sort((a, b) => a.d! - b.d! || a.i.order - b.i.order);
      // The rest in the order a request reaches what leads to them, then by name, so the
      // workloads of one Service stay together and in order (v1, v2, v3).
      const lead = (i: Item) =>
        Math.min(...[...(links.get(i.id) ?? [])].map((o) => items.get(o)!).filter((o) => o.col < i.col).map((o) => o.order), i.order);
      const rest = want
        .filter((w) => w.d === null)
        .sort((a, b) => lead(a.i) - lead(b.i) || (a.i.id < b.i.id ? -1 : a.i.id > b.i.id ? 1 : 0));
      const ys = spread(level.map((w) => ({ d: w.d!, h: w.i.h })), start);
      let cursor = start;
      level.forEach((w, k) => {
        w.i.y = ys[k];
        cursor = ys[k] + w.i.h / 2 + ROW_GAP;
      });
      for (const w of rest) {
        w.i.y = cursor + w.i.h / 2;
        cursor = w.i.y + w.i.h / 2 + ROW_GAP;
      }
      for (const w of want) w.i.placed = true;
      for (const w of want) bottom = Math.max(bottom, w.i.y + w.i.h / 2);
    };
    const cols = used.filter((c) => c >= c0 && c <= c1);
    // Right to left: level with what this leads to (or, failing that, anything placed).
    const orphans = new Set<Item>();
    for (const c of [...cols].reverse()) {
      const col = list.filter((i) => i.col === c);
      if (!col.length) continue;
      place(col, (i) => {
        const d = mean(i, (o) => o.col > c) ?? mean(i, () => true);
        if (d === null && c !== c1) orphans.add(i);
        return d;
      });
    }
    // Left to right for what leads nowhere (a Service with no pods): level with its source.
    for (const c of cols) {
      const col = list.filter((i) => i.col === c);
      if (!col.some((i) => orphans.has(i))) continue;
      const keep = new Map(col.map((i) => [i, i.y]));
      for (const i of col) i.placed = false;
      place(col, (i) => (orphans.has(i) ? mean(i, (o) => o.col < c) : keep.get(i)!));
    }
    bands.push({ c0, c1, top, bottom });
    for (const i of list) {
      const cx = colX.get(i.col)!;
      if (i.members.length === 0) positions.set(i.id, { x: cx, y: i.y });
      for (const m of i.members) positions.set(m.id, { x: cx + m.dx, y: i.y + m.dy });
    }
  }

  const headers = used.map((c) => ({ col: c, x: colX.get(c)!, w: colW.get(c)!, text: COLUMN_TITLE[c] ?? "" }));
  return { positions, headers };
}

/** Leaf positions only (see `layoutGraph`). */
export function layoutAll(nodes: readonly GraphNode[], edges: readonly GraphEdge[]): Map<string, Point> {
  return layoutGraph(nodes, edges).positions;
}

/**
 * Centres for items of heights `h` that each want to sit at `d` (sorted by `d`), at least
 * ROW_GAP apart and below `top`, moving them as little as possible in total: overlapping
 * items merge into blocks centred on their wishes (pool adjacent violators).
 */
export function spread(want: readonly { d: number; h: number }[], top: number): number[] {
  interface Block {
    first: number;
    offs: number[];
    sum: number;
    pos: number;
  }
  const blocks: Block[] = [];
  const sep = (a: number, b: number) => (want[a].h + want[b].h) / 2 + ROW_GAP;
  want.forEach((w, k) => {
    let b: Block = { first: k, offs: [0], sum: w.d, pos: w.d };
    for (;;) {
      const prev = blocks[blocks.length - 1];
      if (!prev) break;
      const last = prev.first + prev.offs.length - 1;
      const gap = sep(last, b.first);
      if (prev.pos + prev.offs[prev.offs.length - 1] + gap <= b.pos) break;
      blocks.pop();
      const base = prev.offs[prev.offs.length - 1] + gap;
      const offs = [...prev.offs, ...b.offs.map((o) => o + base)];
      const sum = prev.sum + b.sum - base * b.offs.length;
      b = { first: prev.first, offs, sum, pos: sum / offs.length };
    }
    blocks.push(b);
  });
  const out: number[] = [];
  for (const b of blocks) for (const o of b.offs) out.push(b.pos + o);
  // Nothing above the band's top; push down what would be.
  for (let k = 0; k < out.length; k++) {
    const min = k === 0 ? top + want[k].h / 2 : out[k - 1] + sep(k - 1, k);
    if (out[k] < min) out[k] = min;
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

function columnX(
  node: GraphNode,
  ctx: PlaceContext,
  near: Point[],
  nearCols: { x: number; col: number }[],
  colOf: (n: GraphNode) => number,
): number {
  const col = colOf(node);
  const same: number[] = [];
  const sameNs: number[] = [];
  let ref: { x: number; col: number } | null = null;
  for (const [id, p] of ctx.positions) {
    const o = ctx.nodes.get(id);
    if (!o) continue;
    if (colOf(o) === col) {
      same.push(p.x);
      if (o.namespace === node.namespace) sameNs.push(p.x);
    } else if (!ref) ref = { x: p.x, col: colOf(o) };
  }
  const pick = sameNs.length ? sameNs : same;
  if (pick.length) {
    pick.sort((a, b) => a - b);
    return pick[Math.floor(pick.length / 2)];
  }
  // A column that is new (the first subsets, while the layout is pinned): a step from what
  // it is connected to, not from some unrelated node, so it lands beside its neighbours.
  if (nearCols.length) return nearCols.reduce((sum, n) => sum + n.x + (col - n.col) * (COLUMN_STEP / 2), 0) / nearCols.length;
  if (ref) return ref.x + (col - ref.col) * COLUMN_STEP;
  if (near.length) return near[0].x;
  return 0;
}

/** A place for a node that is new in this change; does not move anything else. */
export function placeNew(node: GraphNode, ctx: PlaceContext): Point {
  // Read twice below (columns and neighbours); the caller may pass a one-shot iterator.
  const edges = [...ctx.edges];
  const incoming = incomingKinds(edges);
  const colOf = (n: GraphNode) => columnOf(n, incoming);
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

  // 3. Next to its siblings of the same kind inside a workload (pods): below the lowest,
  //    or beside them if that would run into another group. Members of a namespace go to
  //    their column instead (a mesh VirtualService is not a gateway's one).
  if (parent && ctx.nodes.get(parent)?.kind !== "namespace") {
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
  const nearCols: { x: number; col: number }[] = [];
  for (const e of edges) {
    const other = e.source === node.id ? e.target : e.target === node.id ? e.source : null;
    if (!other) continue;
    const p = leafOrGroupCenter(other, ctx);
    if (p) near.push(p);
    const o = ctx.nodes.get(other);
    if (p && o) nearCols.push({ x: p.x, col: colOf(o) });
  }
  const x = columnX(node, ctx, near, nearCols, colOf);
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
