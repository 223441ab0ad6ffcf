// The mesh as the UI holds it, and what to change in the drawing for each event from the
// backend. Plain TypeScript (no Cytoscape), so the diff logic is tested on its own.
import type { GraphDiff } from "../generated/GraphDiff";
import type { GraphEdge } from "../generated/GraphEdge";
import type { GraphNode } from "../generated/GraphNode";
import type { MeshSnapshot } from "../generated/MeshSnapshot";
import { layoutGraph, nodeSize, placeNew, type ColumnHeader, type FreedSlot, type Point } from "./layout";
import { clearOfLabels } from "./readability";

/** What the drawing must do, in this order, to match the model after one event. */
export interface MeshPatch {
  /** Drop everything drawn and draw the model afresh (first snapshot, or a very different one). */
  reset: boolean;
  removedEdges: string[];
  /** Groups among these are removed after their surviving members moved out (see `moves`). */
  removedNodes: string[];
  /** Parents first, so a member is never added before its group. */
  addedNodes: GraphNode[];
  changedNodes: GraphNode[];
  /** Nodes whose drawn group changes: `parent` null means top level. */
  moves: { id: string; parent: string | null }[];
  addedEdges: GraphEdge[];
  changedEdges: GraphEdge[];
  /**
   * The structure changed (a node other than a pod came or went, or an edge did) and every
   * leaf has a new place in `positions`: the drawing moves what it has there, animated.
   */
  relayout: boolean;
  /**
   * Positions of leaves that are new (all leaves on reset or relayout). Otherwise nothing
   * else moves: a replaced pod takes its predecessor's place, a weight change moves nothing.
   */
  positions: Map<string, Point>;
  /** Column titles, when they changed (reset or relayout); null when they did not. */
  headers: ColumnHeader[] | null;
}

/** When a snapshot after a reconnect is mostly new, lay it out again instead of patching. */
const RELAYOUT_SHARE = 0.5;

function emptyPatch(reset: boolean): MeshPatch {
  return {
    reset,
    removedEdges: [],
    removedNodes: [],
    addedNodes: [],
    changedNodes: [],
    moves: [],
    addedEdges: [],
    changedEdges: [],
    relayout: false,
    positions: new Map(),
    headers: null,
  };
}

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

export class MeshGraph {
  readonly nodes = new Map<string, GraphNode>();
  readonly edges = new Map<string, GraphEdge>();
  /** Positions of leaf nodes only; groups are sized around their members. */
  readonly positions = new Map<string, Point>();
  /** Titles of the columns in use, from the last full layout. */
  headers: ColumnHeader[] = [];
  /**
   * While a presenter runs a lesson step nothing may move under the pointer: structural
   * changes then place what is new (as for a new pod) instead of laying everything out again.
   */
  pinned = false;
  /**
   * Until this time (ms since the epoch) a pinned graph still lays out structural changes:
   * right after the teacher's own "Do it", when the class expects the picture to change.
   */
  unpinnedUntil = 0;
  /** Drawn parent of each node: its model parent, or null while that parent is missing. */
  private readonly drawnParent = new Map<string, string | null>();
  private readonly kids = new Map<string, Set<string>>();

  parentOf(id: string): string | null {
    return this.drawnParent.get(id) ?? null;
  }

  childrenOf(id: string): string[] {
    return [...(this.kids.get(id) ?? [])];
  }

  isLeaf(id: string): boolean {
    return (this.kids.get(id)?.size ?? 0) === 0;
  }

  /** Keeps a position the user chose by dragging. */
  setPosition(id: string, p: Point): void {
    if (this.nodes.has(id) && this.isLeaf(id)) this.positions.set(id, { x: p.x, y: p.y });
  }

  apply(event: { type: "snapshot"; snapshot: MeshSnapshot } | { type: "diff"; diff: GraphDiff }): MeshPatch {
    return event.type === "snapshot" ? this.applySnapshot(event.snapshot) : this.applyDiff(event.diff);
  }

  /**
   * A snapshot starts every stream (after a reconnect the backend sends a diff). The first
   * is laid out; a later one (a new stream, when the window watches again) is turned into a
   * diff against what is drawn, so nothing moves.
   */
  applySnapshot(snapshot: MeshSnapshot): MeshPatch {
    const fresh = snapshot.nodes.filter((n) => !this.nodes.has(n.id)).length;
    if (this.nodes.size === 0 || fresh > RELAYOUT_SHARE * Math.max(snapshot.nodes.length, 1)) {
      return this.reset(snapshot);
    }
    const wantNodes = new Map(snapshot.nodes.map((n) => [n.id, n]));
    const wantEdges = new Map(snapshot.edges.map((e) => [e.id, e]));
    const diff: GraphDiff = {
      addedNodes: snapshot.nodes.filter((n) => !this.nodes.has(n.id)),
      changedNodes: snapshot.nodes.filter((n) => this.nodes.has(n.id) && !same(this.nodes.get(n.id), n)),
      removedNodes: [...this.nodes.keys()].filter((id) => !wantNodes.has(id)),
      addedEdges: snapshot.edges.filter((e) => !this.edges.has(e.id)),
      changedEdges: snapshot.edges.filter((e) => this.edges.has(e.id) && !same(this.edges.get(e.id), e)),
      removedEdges: [...this.edges.keys()].filter((id) => !wantEdges.has(id)),
    };
    return this.applyDiff(diff);
  }

  private reset(snapshot: MeshSnapshot): MeshPatch {
    this.nodes.clear();
    this.edges.clear();
    this.positions.clear();
    this.drawnParent.clear();
    this.kids.clear();
    for (const n of snapshot.nodes) this.nodes.set(n.id, n);
    for (const n of snapshot.nodes) this.link(n);
    for (const e of snapshot.edges) if (this.nodes.has(e.source) && this.nodes.has(e.target)) this.edges.set(e.id, e);
    const patch = emptyPatch(true);
    patch.addedNodes = this.parentsFirst([...this.nodes.values()]);
    patch.addedEdges = [...this.edges.values()];
    this.layoutEverything();
    // Anything dagre left out (should not happen) still gets a place.
    for (const n of patch.addedNodes) if (this.isLeaf(n.id) && !this.positions.has(n.id)) this.positions.set(n.id, this.place(n, [], new Map()));
    patch.positions = new Map(this.positions);
    patch.headers = this.headers;
    return patch;
  }

  /** Fresh places for every leaf, and the column titles. */
  private layoutEverything(): void {
    const laid = layoutGraph([...this.nodes.values()], [...this.edges.values()]);
    this.positions.clear();
    for (const [id, p] of laid.positions) if (this.isLeaf(id)) this.positions.set(id, p);
    this.headers = laid.headers;
  }

  applyDiff(diff: GraphDiff): MeshPatch {
    const patch = emptyPatch(false);
    const freed: FreedSlot[] = [];
    const beforeParent = new Map(this.drawnParent);

    // Edges first, so no edge is left pointing at a removed node.
    const removedNodeIds = new Set(diff.removedNodes.filter((id) => this.nodes.has(id)));
    const gone = new Set<string>();
    for (const id of diff.removedEdges) if (this.edges.delete(id)) gone.add(id);
    for (const [id, e] of this.edges) {
      if (removedNodeIds.has(e.source) || removedNodeIds.has(e.target)) {
        this.edges.delete(id);
        gone.add(id);
      }
    }
    patch.removedEdges = [...gone];

    const removedKind = new Map([...removedNodeIds].map((id) => [id, this.nodes.get(id)!.kind]));
    for (const id of removedNodeIds) {
      const n = this.nodes.get(id)!;
      const at = this.positions.get(id);
      if (at && this.isLeaf(id)) freed.push({ kind: n.kind, parent: this.parentOf(id), namespace: n.namespace, at });
    }
    // Where each group's members are, for a group that loses them all and becomes a box.
    const groupCenters = new Map<string, Point>();
    for (const id of removedNodeIds) {
      const p = this.parentOf(id);
      if (p && !groupCenters.has(p)) {
        const c = this.centerOf(p);
        if (c) groupCenters.set(p, c);
      }
    }
    for (const id of removedNodeIds) {
      this.unlink(id);
      this.nodes.delete(id);
      this.positions.delete(id);
      this.drawnParent.delete(id);
      this.kids.delete(id);
    }
    patch.removedNodes = [...removedNodeIds];

    // Leaves before this change, to tell which of them become groups.
    const formerLeaf = new Map<string, Point>();
    const incoming = [...diff.addedNodes, ...diff.changedNodes];
    let resized = false;
    const added: GraphNode[] = [];
    const changed: GraphNode[] = [];
    for (const n of incoming) {
      if (n.parent && this.positions.has(n.parent)) formerLeaf.set(n.parent, this.positions.get(n.parent)!);
      if (this.nodes.has(n.id)) {
        const before = this.nodes.get(n.id)!;
        if (!same(before, n)) changed.push(n);
        // A box that changes height (a pod's "starting" line gone once its sidecar runs)
        // leaves gaps or overlaps where it stands: worth a new layout unless pinned.
        // Heights only: a health mark widens a box a little, and must not undo a drag.
        if (nodeSize(before).h !== nodeSize(n).h) resized = true;
      } else if (!added.some((a) => a.id === n.id)) added.push(n);
      this.nodes.set(n.id, n);
    }
    // Relink everything whose drawn parent may have changed: the incoming nodes and the
    // members of removed or newly arrived groups.
    const relink = new Set<string>(incoming.map((n) => n.id));
    for (const n of this.nodes.values()) {
      if (n.parent && (removedNodeIds.has(n.parent) || added.some((a) => a.id === n.parent))) relink.add(n.id);
    }
    for (const id of relink) {
      this.unlink(id);
      this.link(this.nodes.get(id)!);
    }

    patch.addedNodes = this.parentsFirst(added);
    patch.changedNodes = changed;
    const addedIds = new Set(added.map((n) => n.id));
    for (const id of relink) {
      if (addedIds.has(id)) continue;
      const now = this.parentOf(id);
      if ((beforeParent.get(id) ?? null) !== now) patch.moves.push({ id, parent: now });
    }

    for (const e of [...diff.addedEdges, ...diff.changedEdges]) {
      if (!this.nodes.has(e.source) || !this.nodes.has(e.target)) continue;
      const had = this.edges.get(e.id);
      this.edges.set(e.id, e);
      if (!had) patch.addedEdges.push(e);
      else if (!same(had, e)) patch.changedEdges.push(e);
    }

    // The structure changed: lay everything out again; the drawing animates to it.
    const removedKinds = [...removedNodeIds].map((id) => removedKind.get(id));
    const structural =
      resized ||
      added.some((n) => n.kind !== "pod") ||
      removedKinds.some((k) => k !== "pod") ||
      patch.addedEdges.length > 0 ||
      diff.removedEdges.some((id) => gone.has(id));
    if (structural && (!this.pinned || Date.now() < this.unpinnedUntil)) {
      this.layoutEverything();
      for (const n of this.nodes.values()) {
        if (this.isLeaf(n.id) && !this.positions.has(n.id)) this.positions.set(n.id, this.place(n, [], new Map()));
      }
      patch.relayout = true;
      patch.positions = new Map(this.positions);
      patch.headers = this.headers;
      return patch;
    }

    // Positions: groups keep none; leaves that are new get one next to their neighbours.
    for (const id of formerLeaf.keys()) if (!this.isLeaf(id)) this.positions.delete(id);
    const needPlace: GraphNode[] = [];
    for (const n of patch.addedNodes) if (this.isLeaf(n.id)) needPlace.push(n);
    // A group that lost all its members becomes a box where they were.
    for (const [id, c] of groupCenters) {
      if (this.nodes.has(id) && this.isLeaf(id) && !this.positions.has(id)) {
        this.positions.set(id, c);
        patch.positions.set(id, c);
      }
    }
    for (const n of needPlace) {
      const p = this.place(n, freed, formerLeaf);
      this.positions.set(n.id, p);
      patch.positions.set(n.id, p);
    }
    return patch;
  }

  /**
   * Lays everything out afresh, as a structural change would: for the presenter between two
   * lessons steps, after pinned placements made the drawing untidy.
   */
  relayout(): MeshPatch {
    const patch = emptyPatch(false);
    this.layoutEverything();
    for (const n of this.nodes.values()) {
      if (this.isLeaf(n.id) && !this.positions.has(n.id)) this.positions.set(n.id, this.place(n, [], new Map()));
    }
    patch.relayout = true;
    patch.positions = new Map(this.positions);
    patch.headers = this.headers;
    return patch;
  }

  /** The model as it stands, e.g. to draw it again after the Mesh screen was left. */
  toPatch(): MeshPatch {
    const patch = emptyPatch(true);
    patch.addedNodes = this.parentsFirst([...this.nodes.values()]);
    patch.addedEdges = [...this.edges.values()];
    patch.positions = new Map(this.positions);
    patch.headers = this.headers;
    return patch;
  }

  private place(n: GraphNode, freed: FreedSlot[], formerLeaf: Map<string, Point>): Point {
    const at = placeNew(n, {
      nodes: this.nodes,
      edges: this.edges.values(),
      positions: this.positions,
      parentOf: (id) => this.parentOf(id),
      childrenOf: (id) => this.childrenOf(id),
      freed,
      formerLeaf,
    });
    // placeNew keeps boxes apart; titles of groups that grow around the newcomer need this.
    return clearOfLabels(n.id, at, [...this.nodes.values()], this.positions);
  }

  private centerOf(id: string): Point | null {
    const pts: Point[] = [];
    const stack = this.childrenOf(id);
    while (stack.length) {
      const c = stack.pop()!;
      const p = this.positions.get(c);
      if (p) pts.push(p);
      stack.push(...this.childrenOf(c));
    }
    if (!pts.length) return null;
    return { x: pts.reduce((s, p) => s + p.x, 0) / pts.length, y: pts.reduce((s, p) => s + p.y, 0) / pts.length };
  }

  private link(n: GraphNode): void {
    const parent = n.parent && n.parent !== n.id && this.nodes.has(n.parent) && !this.isAncestor(n.id, n.parent) ? n.parent : null;
    this.drawnParent.set(n.id, parent);
    if (parent) {
      let set = this.kids.get(parent);
      if (!set) this.kids.set(parent, (set = new Set()));
      set.add(n.id);
    }
  }

  private unlink(id: string): void {
    const p = this.drawnParent.get(id);
    if (p) this.kids.get(p)?.delete(id);
    this.drawnParent.set(id, null);
  }

  /** True when `id` is `of` or one of its ancestors would become a cycle. */
  private isAncestor(id: string, of: string): boolean {
    let cur: string | null = of;
    for (let i = 0; cur && i < 16; i++) {
      if (cur === id) return true;
      cur = this.drawnParent.get(cur) ?? null;
    }
    return false;
  }

  private parentsFirst(list: GraphNode[]): GraphNode[] {
    const depth = (id: string): number => {
      let d = 0;
      for (let cur = this.parentOf(id); cur && d < 16; cur = this.parentOf(cur)) d++;
      return d;
    };
    return [...list].sort((a, b) => depth(a.id) - depth(b.id) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }
}
