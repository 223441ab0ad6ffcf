import { describe, expect, it } from "vitest";

import type { GraphDiff } from "../generated/GraphDiff";
import { MeshGraph } from "./graphState";
import { bookinfoSnapshot, edge, node, reviewsSplitDiff, splitSnapshot, syntheticSnapshot } from "./sample";

const emptyDiff = (over: Partial<GraphDiff>): GraphDiff => ({
  addedNodes: [],
  changedNodes: [],
  removedNodes: [],
  addedEdges: [],
  changedEdges: [],
  removedEdges: [],
  ...over,
});

function loaded() {
  const g = new MeshGraph();
  const patch = g.applySnapshot(splitSnapshot());
  return { g, patch };
}

describe("MeshGraph", () => {
  it("lays out the first snapshot once, giving every leaf a place and groups none", () => {
    const { g, patch } = loaded();
    expect(patch.reset).toBe(true);
    expect(patch.addedNodes).toHaveLength(splitSnapshot().nodes.length);
    expect(patch.addedEdges).toHaveLength(splitSnapshot().edges.length);
    for (const n of g.nodes.values()) {
      if (g.isLeaf(n.id)) expect(patch.positions.has(n.id), n.id).toBe(true);
      else expect(g.positions.has(n.id), n.id).toBe(false);
    }
    // Groups: pods in their workload, workloads in their namespace.
    expect(g.parentOf("pod/default/reviews-v2-fffdf465-t9dfs")).toBe("wl/default/reviews-v2");
    expect(g.parentOf("wl/default/reviews-v2")).toBe("ns/default");
  });

  it("adds members after their groups so the drawing never meets an unknown parent", () => {
    const { patch } = loaded();
    const order = patch.addedNodes.map((n) => n.id);
    for (const n of patch.addedNodes) {
      if (n.parent) expect(order.indexOf(n.parent), n.id).toBeLessThan(order.indexOf(n.id));
    }
  });

  it("draws left to right in the request's direction, one column per step", () => {
    const { g } = loaded();
    const x = (id: string) => g.positions.get(id)!.x;
    const ingressPod = "pod/istio-system/istio-ingressgateway-668dbd8849-q2x8m";
    // ingress gateway → Gateway → VirtualService (gateway) → Service → VirtualService (mesh) → Subset → Workload
    const chain = [
      ingressPod,
      "gw/default/bookinfo-gateway",
      "vs/default/bookinfo",
      "svc/default/reviews",
      "vs/default/reviews",
      "subset/default/reviews/v1",
      "pod/default/reviews-v1-5969578f8f-b2lxm",
    ];
    for (let k = 1; k < chain.length; k++) expect(x(chain[k - 1]), `${chain[k - 1]} left of ${chain[k]}`).toBeLessThan(x(chain[k]));
    // Same kind, same column.
    expect(x("svc/default/productpage")).toBe(x("svc/default/reviews"));
    expect(x("subset/default/reviews/v1")).toBe(x("subset/default/reviews/v3"));
    expect(g.headers.map((h) => h.text.replace("\u200b", ""))).toEqual([
      "Ingress gateway",
      "Gateway",
      "VirtualService",
      "Service",
      "VirtualService",
      "Subset",
      "Workload · pods",
    ]);
  });

  it("keeps related things on one row: a subset level with its workload, a service with its pods", () => {
    const { g } = loaded();
    const y = (id: string) => g.positions.get(id)!.y;
    for (const v of ["v1", "v2", "v3"]) {
      const pod = [...g.nodes.values()].find((n) => n.kind === "pod" && n.parent === `wl/default/reviews-${v}`)!;
      expect(Math.abs(y(`subset/default/reviews/${v}`) - y(pod.id)), v).toBeLessThan(20);
    }
    expect(Math.abs(y("svc/default/details") - y("pod/default/details-v1-84c79d7c56-w5n2p"))).toBeLessThan(20);
    // The reviews VirtualService sits in the middle of the subsets it splits over.
    expect(y("vs/default/reviews")).toBeGreaterThan(y("subset/default/reviews/v1"));
    expect(y("vs/default/reviews")).toBeLessThan(y("subset/default/reviews/v3"));
    // Workloads of one Service stay together, in name order.
    expect(y("pod/default/reviews-v1-5969578f8f-b2lxm")).toBeLessThan(y("pod/default/reviews-v2-fffdf465-t9dfs"));
    expect(y("pod/default/reviews-v2-fffdf465-t9dfs")).toBeLessThan(y("pod/default/reviews-v3-855f58646f-m4vqj"));
    // The way in sits at the top, on the row of the page it serves.
    expect(Math.abs(y("gw/default/bookinfo-gateway") - y("vs/default/bookinfo"))).toBeLessThan(1);
  });

  it("draws the ingress gateway's Gateway and VirtualService left of the Services, and a mesh VirtualService right of them", () => {
    const { g } = loaded();
    const x = (id: string) => g.positions.get(id)!.x;
    expect(x("vs/default/bookinfo")).toBeLessThan(x("svc/default/productpage"));
    expect(x("vs/default/reviews")).toBeGreaterThan(x("svc/default/productpage"));
  });

  it("lays everything out again, and says so, when the structure changes (the reviews split)", () => {
    const g = new MeshGraph();
    g.applySnapshot(bookinfoSnapshot());
    expect(g.headers).toHaveLength(5);
    const before = new Map(g.positions);
    const patch = g.applyDiff(reviewsSplitDiff());
    expect(patch.relayout).toBe(true);
    expect(patch.reset).toBe(false);
    expect(patch.headers).toHaveLength(7);
    // Every leaf has its (new) place in the patch, the new ones included.
    for (const id of before.keys()) expect(patch.positions.has(id), id).toBe(true);
    expect(patch.positions.has("vs/default/reviews")).toBe(true);
    // Same place as a fresh layout of the whole mesh would give.
    const fresh = new MeshGraph();
    fresh.applySnapshot(splitSnapshot());
    for (const [id, p] of fresh.positions) expect(g.positions.get(id), id).toEqual(p);
    // Existing nodes did move (the workloads make room for the new columns).
    expect(g.positions.get("pod/default/details-v1-84c79d7c56-w5n2p")).not.toEqual(before.get("pod/default/details-v1-84c79d7c56-w5n2p"));
  });

  it("does not lay out again for a pod replacement or a weight change", () => {
    const { g } = loaded();
    const old = g.nodes.get("pod/default/details-v1-84c79d7c56-w5n2p")!;
    const fresh = { ...old, id: "pod/default/details-v1-84c79d7c56-zz9zz", name: "details-v1-84c79d7c56-zz9zz" };
    const p1 = g.applyDiff(emptyDiff({ removedNodes: [old.id], addedNodes: [fresh] }));
    expect(p1.relayout).toBe(false);
    expect(p1.headers).toBeNull();
    expect([...p1.positions.keys()]).toEqual([fresh.id]);
    const route = g.edges.get("route:vs/default/reviews->subset/default/reviews/v1#0.0")!;
    const p2 = g.applyDiff(emptyDiff({ changedEdges: [{ ...route, route: { ...route.route!, weight: 20 } }] }));
    expect(p2.relayout).toBe(false);
    expect(p2.positions.size).toBe(0);
  });

  it("changes a weight without moving anything", () => {
    const { g } = loaded();
    const before = new Map(g.positions);
    const route = g.edges.get("route:vs/default/reviews->subset/default/reviews/v1#0.0")!;
    const patch = g.applyDiff(emptyDiff({ changedEdges: [{ ...route, route: { ...route.route!, weight: 20 } }] }));
    expect(patch.changedEdges.map((e) => e.route?.weight)).toEqual([20]);
    expect(patch.positions.size).toBe(0);
    expect(g.positions).toEqual(before);
  });

  it("puts a replacement pod exactly where the pod it replaces was", () => {
    const { g } = loaded();
    const before = new Map(g.positions);
    const old = g.nodes.get("pod/default/details-v1-84c79d7c56-w5n2p")!;
    const fresh = { ...old, id: "pod/default/details-v1-84c79d7c56-zz9zz", name: "details-v1-84c79d7c56-zz9zz" };
    const patch = g.applyDiff(emptyDiff({ removedNodes: [old.id], addedNodes: [fresh] }));
    expect(patch.removedNodes).toEqual([old.id]);
    expect(patch.addedNodes.map((n) => n.id)).toEqual([fresh.id]);
    expect(patch.positions.get(fresh.id)).toEqual(before.get(old.id));
    for (const [id, p] of before) if (id !== old.id) expect(g.positions.get(id), id).toEqual(p);
  });

  it("places a scaled-up pod beside its siblings, clear of other nodes, moving nothing", () => {
    const { g } = loaded();
    const before = new Map(g.positions);
    const sibling = g.nodes.get("pod/default/reviews-v2-fffdf465-t9dfs")!;
    const extra = { ...sibling, id: "pod/default/reviews-v2-fffdf465-new01", name: "reviews-v2-fffdf465-new01" };
    const patch = g.applyDiff(emptyDiff({ addedNodes: [extra] }));
    const p = patch.positions.get(extra.id)!;
    const s = before.get(sibling.id)!;
    expect(Math.hypot(p.x - s.x, p.y - s.y)).toBeLessThan(320);
    for (const [id, q] of before) {
      expect(g.positions.get(id), id).toEqual(q);
      expect(Math.abs(q.x - p.x) > 60 || Math.abs(q.y - p.y) > 30, `${id} overlaps`).toBe(true);
    }
  });

  it("places a new service in the services' column, level with what it connects to", () => {
    const { g } = loaded();
    const svc = node({ id: "svc/default/mongodb", kind: "service", namespace: "default", name: "mongodb" });
    const patch = g.applyDiff(
      emptyDiff({ addedNodes: [svc], addedEdges: [edge("selects", svc.id, "wl/default/ratings-v1")] }),
    );
    expect(patch.relayout).toBe(true);
    expect(patch.positions.get(svc.id)!.x).toBe(g.positions.get("svc/default/details")!.x);
    const ratingsPod = g.positions.get("pod/default/ratings-v1-6b977d548d-h7r4c")!;
    expect(Math.abs(patch.positions.get(svc.id)!.y - ratingsPod.y)).toBeLessThan(60);
    expect(patch.addedEdges).toHaveLength(1);
  });

  it("removes the edges of a removed node even when the diff forgets them", () => {
    const { g } = loaded();
    const patch = g.applyDiff(emptyDiff({ removedNodes: ["subset/default/reviews/v3"] }));
    expect(patch.removedEdges.sort()).toEqual([
      "route:vs/default/reviews->subset/default/reviews/v3#0.2",
      "selects:subset/default/reviews/v3->wl/default/reviews-v3",
    ]);
    expect([...g.edges.values()].some((e) => e.target === "subset/default/reviews/v3")).toBe(false);
  });

  it("ignores edges to unknown nodes instead of breaking the drawing", () => {
    const { g } = loaded();
    const patch = g.applyDiff(emptyDiff({ addedEdges: [edge("selects", "svc/default/details", "wl/default/nowhere")] }));
    expect(patch.addedEdges).toHaveLength(0);
  });

  it("turns a workload that lost its only pod into a box where the pod was", () => {
    const { g } = loaded();
    const pod = "pod/default/ratings-v1-6b977d548d-h7r4c";
    const at = g.positions.get(pod)!;
    const patch = g.applyDiff(emptyDiff({ removedNodes: [pod] }));
    expect(g.isLeaf("wl/default/ratings-v1")).toBe(true);
    expect(patch.positions.get("wl/default/ratings-v1")).toEqual(at);
  });

  it("treats the snapshot of a new stream as a diff: same mesh, nothing moves", () => {
    const { g } = loaded();
    const before = new Map(g.positions);
    const again = splitSnapshot();
    again.nodes = again.nodes.map((n) => (n.id === "svc/default/details" ? { ...n, health: "error" as const } : n));
    const patch = g.applySnapshot(again);
    expect(patch.reset).toBe(false);
    expect(patch.changedNodes.map((n) => n.id)).toEqual(["svc/default/details"]);
    expect(patch.addedNodes).toHaveLength(0);
    expect(patch.removedNodes).toHaveLength(0);
    expect(g.positions).toEqual(before);
  });

  it("lays out afresh when a snapshot is mostly new (another cluster)", () => {
    const { g } = loaded();
    const patch = g.applySnapshot(syntheticSnapshot(60));
    expect(patch.reset).toBe(true);
    expect(g.nodes.has("svc/default/details")).toBe(false);
  });

  it("moves a member into a group that arrives after it", () => {
    const g = new MeshGraph();
    g.applySnapshot({
      nodes: [
        node({ id: "ns/shop", kind: "namespace", namespace: "shop", name: "shop" }),
        node({ id: "pod/shop/web-1", kind: "pod", namespace: "shop", name: "web-1", parent: "wl/shop/web" }),
      ],
      edges: [],
    });
    expect(g.parentOf("pod/shop/web-1")).toBeNull();
    const patch = g.applyDiff(emptyDiff({ addedNodes: [node({ id: "wl/shop/web", kind: "workload", namespace: "shop", name: "web" })] }));
    expect(patch.moves).toEqual([{ id: "pod/shop/web-1", parent: "wl/shop/web" }]);
    expect(g.parentOf("pod/shop/web-1")).toBe("wl/shop/web");
  });

  it("keeps a position the user dragged to", () => {
    const { g } = loaded();
    g.setPosition("svc/default/details", { x: 1, y: 2 });
    g.applyDiff(emptyDiff({ changedNodes: [{ ...g.nodes.get("svc/default/details")!, health: "warning" }] }));
    expect(g.positions.get("svc/default/details")).toEqual({ x: 1, y: 2 });
  });

  it("draws a mesh of 500 nodes whole: every leaf placed, pods in their workloads, groups first", () => {
    const g = new MeshGraph();
    const s = syntheticSnapshot(500);
    const patch = g.applySnapshot(s);
    expect(patch.reset).toBe(true);
    expect(patch.addedNodes).toHaveLength(s.nodes.length);
    expect(patch.addedEdges).toHaveLength(s.edges.length);
    const leaves = s.nodes.filter((n) => g.isLeaf(n.id)).map((n) => n.id);
    expect(leaves.length).toBeGreaterThan(300);
    expect([...patch.positions.keys()].sort()).toEqual(leaves.sort());
    for (const n of s.nodes) if (n.kind === "pod") expect(g.parentOf(n.id), n.id).toBe(n.parent);
    const order = patch.addedNodes.map((n) => n.id);
    for (const n of patch.addedNodes) if (n.parent) expect(order.indexOf(n.parent), n.id).toBeLessThan(order.indexOf(n.id));
    // Column titles from left to right.
    const xs = patch.headers!.map((h) => h.x);
    expect(xs).toEqual([...xs].sort((a, b) => a - b));
  });
});
