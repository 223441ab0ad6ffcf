import { describe, expect, it } from "vitest";

import type { GraphEdge } from "../generated/GraphEdge";
import type { GraphNode } from "../generated/GraphNode";
import type { MeshSnapshot } from "../generated/MeshSnapshot";
import { wrapName } from "./explain";
import { columnOf, COLUMN_TITLE, EDGE_FONT, incomingKinds, layoutGraph, nodeSize, spread, textWidth, type Point } from "./layout";
import { seenLabelOffset } from "./graphStyle";
import { bookinfoSnapshot, splitSnapshot, syntheticSnapshot, teachingSnapshot } from "./sample";
import { splitLabel } from "./traffic";

/** Leaves: nodes that hold no other node (groups are sized around their members). */
function leaves(s: MeshSnapshot): GraphNode[] {
  const parents = new Set(s.nodes.map((n) => n.parent).filter((p): p is string => p !== null));
  return s.nodes.filter((n) => !parents.has(n.id));
}

interface Box {
  id: string;
  x0: number;
  x1: number;
  y0: number;
  y1: number;
}

function boxOf(n: GraphNode, at: Point): Box {
  const { w, h } = nodeSize(n);
  return { id: n.id, x0: at.x - w / 2, x1: at.x + w / 2, y0: at.y - h / 2, y1: at.y + h / 2 };
}

function overlapping(boxes: Box[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < boxes.length; i++) {
    for (let j = i + 1; j < boxes.length; j++) {
      const [a, b] = [boxes[i], boxes[j]];
      if (a.x0 < b.x1 && b.x0 < a.x1 && a.y0 < b.y1 && b.y0 < a.y1) out.push(`${a.id} / ${b.id}`);
    }
  }
  return out;
}

const MESHES: [string, () => MeshSnapshot][] = [
  ["Bookinfo", bookinfoSnapshot],
  ["Bookinfo with the reviews split", splitSnapshot],
  ["the split with a pod missing its sidecar", teachingSnapshot],
  ["a made-up mesh of 500 nodes", () => syntheticSnapshot(500)],
];

describe("layoutGraph", () => {
  it.each(MESHES)("places every leaf of %s, and no two leaves overlap", (_, mesh) => {
    const s = mesh();
    const { positions } = layoutGraph(s.nodes, s.edges);
    const ls = leaves(s);
    expect([...positions.keys()].sort()).toEqual(ls.map((n) => n.id).sort());
    expect(overlapping(ls.map((n) => boxOf(n, positions.get(n.id)!)))).toEqual([]);
  });

  it.each(MESHES)("keeps the namespaces of %s apart", (_, mesh) => {
    const s = mesh();
    const { positions } = layoutGraph(s.nodes, s.edges);
    const bands = new Map<string, Box>();
    for (const n of leaves(s)) {
      const b = boxOf(n, positions.get(n.id)!);
      const band = bands.get(n.namespace);
      bands.set(
        n.namespace,
        band
          ? { id: n.namespace, x0: Math.min(band.x0, b.x0), x1: Math.max(band.x1, b.x1), y0: Math.min(band.y0, b.y0), y1: Math.max(band.y1, b.y1) }
          : { ...b, id: n.namespace },
      );
    }
    expect(overlapping([...bands.values()])).toEqual([]);
  });

  it("puts each kind in its column, in the order a request travels", () => {
    const s = splitSnapshot();
    const { positions, headers } = layoutGraph(s.nodes, s.edges);
    // The titles of the columns in use, left to right, each a step further right.
    expect(headers.map((h) => h.text.replace("\u200b", ""))).toEqual([
      "Ingress gateway",
      "Gateway",
      "VirtualService",
      "Service",
      "VirtualService",
      "Subset",
      "Workload · pods",
    ]);
    for (let k = 1; k < headers.length; k++) expect(headers[k].x).toBeGreaterThan(headers[k - 1].x);
    // A leaf drawn on its own (not inside a workload's box) sits on its column's centre.
    const colX = new Map(headers.map((h) => [h.col, h.x]));
    const incoming = incomingKinds(s.edges);
    const groups = new Set(s.nodes.filter((n) => n.kind !== "namespace").map((n) => n.id));
    for (const n of leaves(s)) {
      if (n.parent && groups.has(n.parent)) continue;
      expect(positions.get(n.id)!.x, n.id).toBe(colX.get(columnOf(n, incoming)));
    }
    // The gateway's VirtualService is left of the Services, the mesh one right of them.
    expect(positions.get("vs/default/bookinfo")!.x).toBeLessThan(positions.get("svc/default/reviews")!.x);
    expect(positions.get("vs/default/reviews")!.x).toBeGreaterThan(positions.get("svc/default/reviews")!.x);
    expect(COLUMN_TITLE).toHaveLength(7);
  });

  it("leaves more room after a column whose arrows carry weights", () => {
    const s = splitSnapshot();
    const gapAfter = (snapshot: MeshSnapshot, title: string) => {
      const { headers } = layoutGraph(snapshot.nodes, snapshot.edges);
      const k = headers.findIndex((h, i) => h.text.replace("\u200b", "") === title && i > 2);
      return headers[k + 1].x - headers[k + 1].w / 2 - (headers[k].x + headers[k].w / 2);
    };
    // The same mesh with the reviews route sending everything to v1: no weights to write.
    const unweighted: MeshSnapshot = {
      nodes: s.nodes,
      edges: s.edges.map(
        (e): GraphEdge => (e.route && e.source === "vs/default/reviews" ? { ...e, route: { ...e.route, weight: 100, split: false } } : e),
      ),
    };
    expect(gapAfter(s, "VirtualService")).toBeGreaterThan(gapAfter(unweighted, "VirtualService"));
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

describe("room for route labels", () => {
  it("a VirtualService routing one user apart gets a gap wide enough for the words", () => {
    const s = splitSnapshot();
    // Route 0 sends end-user=jason to v2; route 1 sends the others to v1.
    const routes = s.edges.filter((e) => e.kind === "route" && e.source === "vs/default/reviews");
    const v1 = routes.find((e) => e.target.endsWith("/v1"))!;
    const v2 = routes.find((e) => e.target.endsWith("/v2"))!;
    v2.route = { route: 0, weight: 100, split: false, matches: [{ uri: null, headers: { "end-user": { exact: "a-rather-long-user-name" } }, method: null, port: null }] };
    v1.route = { route: 1, weight: 100, split: false, matches: [] };
    s.edges = s.edges.filter((e) => e.kind !== "route" || e.source !== "vs/default/reviews" || e === v1 || e === v2);
    const { positions } = layoutGraph(s.nodes, s.edges);
    const byId = new Map(s.nodes.map((n) => [n.id, n]));
    const vs = boxOf(byId.get("vs/default/reviews")!, positions.get("vs/default/reviews")!);
    const sub = boxOf(byId.get(v2.target)!, positions.get(v2.target)!);
    const words = textWidth("end-user=a-rather-long-user-name", EDGE_FONT);
    expect(sub.x0 - vs.x1).toBeGreaterThan(words);
  });

  it("a split's labels, with the share traffic adds, end between the VirtualService and its subsets", () => {
    const s = splitSnapshot();
    const { positions } = layoutGraph(s.nodes, s.edges);
    const byId = new Map(s.nodes.map((n) => [n.id, n]));
    const routes = s.edges.filter((e) => e.route && e.target.startsWith("subset/"));
    expect(routes.length).toBe(3);
    for (const e of routes) {
      const vs = boxOf(byId.get(e.source)!, positions.get(e.source)!);
      const sub = boxOf(byId.get(e.target)!, positions.get(e.target)!);
      // The widest a label gets: every request seen on this subset.
      const text = splitLabel(e.route!, { routeEdge: e.id, subset: "v1", weight: e.route!.weight, observedShare: 1 });
      expect(text).toContain("100% seen");
      const half = Math.max(...text.split("\n").map((l) => textWidth(l, EDGE_FONT))) / 2 + 5;
      // As the style draws it: its middle `seenLabelOffset` before the arrow head (25 long).
      const middle = sub.x0 - 25 - seenLabelOffset(text);
      expect(middle - half).toBeGreaterThan(vs.x1);
      expect(middle + half).toBeLessThan(sub.x0 - 25);
    }
  });
});
