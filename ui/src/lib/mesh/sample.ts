// Meshes made up for the preview, the tests and the drawing benchmark. Shaped like what the
// Rust model builds (same ids and typed details), but never shown inside the app.
import type { EdgeKind } from "../generated/EdgeKind";
import type { GraphDiff } from "../generated/GraphDiff";
import type { GraphEdge } from "../generated/GraphEdge";
import type { GraphNode } from "../generated/GraphNode";
import type { MeshSnapshot } from "../generated/MeshSnapshot";
import type { NodeDetails } from "../generated/NodeDetails";
import type { NodeKind } from "../generated/NodeKind";
import type { RequestMatch } from "../generated/RequestMatch";
import type { RouteEdge } from "../generated/RouteEdge";

type NodeInit = Partial<GraphNode> & Pick<GraphNode, "id" | "kind" | "namespace" | "name">;

const WORKLOAD = { selector: {}, podLabels: {}, paused: false };

/** Details with nothing in them, of the node's kind. */
function emptyDetails(kind: NodeKind): NodeDetails {
  switch (kind) {
    case "namespace":
      return { kind, injection: { state: "none" }, mtls: [] };
    case "ingress-gateway":
    case "workload":
      return { kind, ...WORKLOAD };
    case "gateway":
      return { kind, selector: {}, servers: [] };
    case "virtual-service":
      return { kind, hosts: [], gateways: [], routes: [] };
    case "service":
      return { kind, serviceType: "ClusterIP", clusterIp: null, ports: [], selector: {}, endpoints: { ready: 0, total: 0 } };
    case "subset":
      return { kind, service: "", rule: "", ruleNamespace: "", host: "", labels: {}, tlsMode: null };
    case "pod":
      return { kind, phase: "Running", waitingReason: null, terminating: false, labels: {}, ip: null, node: null, restarts: 0 };
  }
}

export function node(init: NodeInit): GraphNode {
  return {
    parent: init.kind === "namespace" ? null : `ns/${init.namespace}`,
    health: "ok",
    healthReasons: [],
    ready: null,
    sidecar: null,
    details: emptyDetails(init.kind),
    validations: [],
    object: null,
    ...init,
  };
}

/** `over.id`, when given, is the route index that the id ends with (`#0`). */
export function edge(kind: EdgeKind, source: string, target: string, over: Partial<GraphEdge> = {}): GraphEdge {
  const { id: index, ...rest } = over;
  return {
    id: `${kind}:${source}->${target}${index != null ? `#${index}` : ""}`,
    kind,
    source,
    target,
    route: null,
    ...rest,
  };
}

/** A route edge's data: `weight` percent of route 0, part of a split when below 100. */
export function route(weight: number, matches: RequestMatch[] = []): RouteEdge {
  return { route: 0, weight, split: weight !== 100, matches };
}

const KIND_API: Partial<Record<NodeKind, [string, string]>> = {
  namespace: ["v1", "Namespace"],
  "ingress-gateway": ["apps/v1", "Deployment"],
  workload: ["apps/v1", "Deployment"],
  pod: ["v1", "Pod"],
  service: ["v1", "Service"],
  gateway: ["networking.istio.io/v1", "Gateway"],
  "virtual-service": ["networking.istio.io/v1", "VirtualService"],
};

function withObject(n: GraphNode, objectName = n.name): GraphNode {
  const api = KIND_API[n.kind];
  if (!api) return n;
  return {
    ...n,
    object: { apiVersion: api[0], kind: api[1], namespace: n.kind === "namespace" ? null : n.namespace, name: objectName },
  };
}

type LabelMap = Record<string, string>;

function pod(ns: string, workload: string, hash: string, suffix: string, labels: LabelMap): GraphNode {
  const name = `${workload}-${hash}-${suffix}`;
  const gateway = workload === "istio-ingressgateway";
  return withObject(
    node({
      id: `pod/${ns}/${name}`,
      kind: "pod",
      namespace: ns,
      name,
      parent: `${gateway ? "ingress" : "wl"}/${ns}/${workload}`,
      ready: gateway ? { ready: 1, total: 1 } : { ready: 2, total: 2 },
      sidecar: gateway ? null : "ready",
      details: {
        kind: "pod",
        phase: "Running",
        waitingReason: null,
        terminating: false,
        labels,
        ip: `10.244.0.${(hash.charCodeAt(0) * 7 + suffix.charCodeAt(1)) % 250}`,
        node: null,
        restarts: 0,
      },
    }),
  );
}

function workload(ns: string, name: string, labels: LabelMap): GraphNode {
  return withObject(
    node({
      id: `wl/${ns}/${name}`,
      kind: "workload",
      namespace: ns,
      name,
      ready: { ready: 1, total: 1 },
      details: { kind: "workload", selector: labels, podLabels: labels, paused: false },
    }),
  );
}

function service(ns: string, name: string, port = 9080): GraphNode {
  const endpoints = name === "reviews" ? 3 : 1;
  return withObject(
    node({
      id: `svc/${ns}/${name}`,
      kind: "service",
      namespace: ns,
      name,
      details: {
        kind: "service",
        serviceType: "ClusterIP",
        clusterIp: null,
        ports: [{ name: "http", port, protocol: "TCP" }],
        selector: { app: name },
        endpoints: { ready: endpoints, total: endpoints },
      },
    }),
  );
}

/** Bookinfo as the simulated cluster runs it, with reviews split 60/30/10 over v1/v2/v3. */
export function bookinfoSnapshot(): MeshSnapshot {
  const d = "default";
  const ingressLabels = { app: "istio-ingressgateway", istio: "ingressgateway" };
  const page = (match: "exact" | "prefix", path: string): RequestMatch => ({
    uri: match === "exact" ? { exact: path } : { prefix: path },
    headers: {},
    method: null,
    port: null,
  });
  const pageMatches = [page("exact", "/productpage"), page("prefix", "/static")];
  const nodes: GraphNode[] = [
    withObject(node({ id: "ns/istio-system", kind: "namespace", namespace: "istio-system", name: "istio-system" })),
    withObject(
      node({
        id: "ns/default",
        kind: "namespace",
        namespace: d,
        name: d,
        details: { kind: "namespace", injection: { state: "enabled" }, mtls: [] },
      }),
    ),
    withObject(
      node({
        id: "ingress/istio-system/istio-ingressgateway",
        kind: "ingress-gateway",
        namespace: "istio-system",
        name: "istio-ingressgateway",
        ready: { ready: 1, total: 1 },
        details: { kind: "ingress-gateway", selector: ingressLabels, podLabels: ingressLabels, paused: false },
      }),
    ),
    pod("istio-system", "istio-ingressgateway", "5c9f8d7b6", "q2x8m", ingressLabels),
    withObject(
      node({
        id: "gw/default/bookinfo-gateway",
        kind: "gateway",
        namespace: d,
        name: "bookinfo-gateway",
        details: { kind: "gateway", selector: { istio: "ingressgateway" }, servers: [{ port: 8080, protocol: "HTTP", hosts: ["*"] }] },
      }),
    ),
    withObject(
      node({
        id: "vs/default/bookinfo",
        kind: "virtual-service",
        namespace: d,
        name: "bookinfo",
        details: {
          kind: "virtual-service",
          hosts: ["*"],
          gateways: ["bookinfo-gateway"],
          routes: [
            {
              name: null,
              matches: pageMatches,
              destinations: [{ host: "productpage", subset: null, port: 9080, weight: null }],
              fault: null,
            },
          ],
        },
      }),
    ),
    withObject(
      node({
        id: "vs/default/reviews",
        kind: "virtual-service",
        namespace: d,
        name: "reviews",
        details: {
          kind: "virtual-service",
          hosts: ["reviews"],
          gateways: [],
          routes: [
            {
              name: null,
              matches: [],
              destinations: [
                { host: "reviews", subset: "v1", port: null, weight: 60 },
                { host: "reviews", subset: "v2", port: null, weight: 30 },
                { host: "reviews", subset: "v3", port: null, weight: 10 },
              ],
              fault: null,
            },
          ],
        },
      }),
    ),
    service(d, "productpage"),
    service(d, "details"),
    service(d, "ratings"),
    service(d, "reviews"),
  ];
  for (const v of ["v1", "v2", "v3"]) {
    nodes.push({
      ...node({
        id: `subset/default/reviews/${v}`,
        kind: "subset",
        namespace: d,
        name: v,
        details: { kind: "subset", service: "reviews", rule: "reviews", ruleNamespace: d, host: "reviews", labels: { version: v }, tlsMode: null },
      }),
      // The subset's object is the DestinationRule that defines it.
      object: { apiVersion: "networking.istio.io/v1", kind: "DestinationRule", namespace: d, name: "reviews" },
    });
  }
  const apps: [string, string, string][] = [
    ["productpage-v1", "6b746f74dc", "k8xqz"],
    ["details-v1", "79f774bdb9", "w5n2p"],
    ["ratings-v1", "5d9ddb6f4c", "h7r4c"],
    ["reviews-v1", "545db77b95", "b2lxm"],
    ["reviews-v2", "7bf8c9648f", "t9dfs"],
    ["reviews-v3", "84779c7bbc", "m4vqj"],
  ];
  for (const [wl, hash, suffix] of apps) {
    const [app, version] = [wl.replace(/-v\d$/, ""), wl.slice(-2)];
    const labels = { app, version };
    nodes.push(workload(d, wl, labels));
    nodes.push(pod(d, wl, hash, suffix, labels));
  }
  // One warning, as a newcomer would meet it: a pod started before injection was on.
  const ratings = nodes.find((n) => n.id === "pod/default/ratings-v1-5d9ddb6f4c-h7r4c")!;
  Object.assign(ratings, {
    ready: { ready: 1, total: 1 },
    sidecar: "missing",
    health: "warning",
    healthReasons: [{ reason: "findings", severity: "warning" }],
    validations: [{ severity: "warning", code: "pod-without-sidecar" }],
  } satisfies Partial<GraphNode>);
  const wlRatings = nodes.find((n) => n.id === "wl/default/ratings-v1")!;
  wlRatings.health = "warning";
  wlRatings.healthReasons = [{ reason: "pod", id: ratings.id, health: "warning" }];

  const edges: GraphEdge[] = [
    edge("serves", "ingress/istio-system/istio-ingressgateway", "gw/default/bookinfo-gateway"),
    edge("binds", "gw/default/bookinfo-gateway", "vs/default/bookinfo"),
    edge("route", "vs/default/bookinfo", "svc/default/productpage", { id: "0.0", route: route(100, pageMatches) }),
    edge("routed-by", "svc/default/reviews", "vs/default/reviews"),
    edge("route", "vs/default/reviews", "subset/default/reviews/v1", { id: "0.0", route: route(60) }),
    edge("route", "vs/default/reviews", "subset/default/reviews/v2", { id: "0.1", route: route(30) }),
    edge("route", "vs/default/reviews", "subset/default/reviews/v3", { id: "0.2", route: route(10) }),
    edge("selects", "svc/default/productpage", "wl/default/productpage-v1"),
    edge("selects", "svc/default/details", "wl/default/details-v1"),
    edge("selects", "svc/default/ratings", "wl/default/ratings-v1"),
    edge("selects", "svc/default/reviews", "wl/default/reviews-v1"),
    edge("selects", "svc/default/reviews", "wl/default/reviews-v2"),
    edge("selects", "svc/default/reviews", "wl/default/reviews-v3"),
    edge("selects", "subset/default/reviews/v1", "wl/default/reviews-v1"),
    edge("selects", "subset/default/reviews/v2", "wl/default/reviews-v2"),
    edge("selects", "subset/default/reviews/v3", "wl/default/reviews-v3"),
  ];
  nodes.sort((a, b) => (a.id < b.id ? -1 : 1));
  edges.sort((a, b) => (a.id < b.id ? -1 : 1));
  return { nodes, edges };
}

/** Ids of what `kubectl apply` of the reviews DestinationRule and VirtualService adds. */
const SPLIT_NODE = (id: string) => id === "vs/default/reviews" || id.startsWith("subset/default/reviews/");

/**
 * Bookinfo as it starts, before the reviews split: no reviews VirtualService or subsets.
 * `reviewsSplitDiff()` is the change that adds them, as the watch reports it.
 */
export function bookinfoBaseSnapshot(): MeshSnapshot {
  const full = bookinfoSnapshot();
  return {
    nodes: full.nodes.filter((n) => !SPLIT_NODE(n.id)),
    edges: full.edges.filter((e) => !SPLIT_NODE(e.source) && !SPLIT_NODE(e.target)),
  };
}

export function reviewsSplitDiff(): GraphDiff {
  const full = bookinfoSnapshot();
  return {
    addedNodes: full.nodes.filter((n) => SPLIT_NODE(n.id)),
    changedNodes: [],
    removedNodes: [],
    addedEdges: full.edges.filter((e) => SPLIT_NODE(e.source) || SPLIT_NODE(e.target)),
    changedEdges: [],
    removedEdges: [],
  };
}

/**
 * A made-up mesh of about `target` nodes for the drawing benchmark: namespaces of apps, each
 * with a Service, a VirtualService splitting over subsets, workloads and pods, behind one
 * ingress gateway.
 */
export function syntheticSnapshot(target = 500): MeshSnapshot {
  const nodes: GraphNode[] = [];
  const edges: GraphEdge[] = [];
  const push = (n: GraphNode) => nodes.push(n);
  push(node({ id: "ns/istio-system", kind: "namespace", namespace: "istio-system", name: "istio-system" }));
  push(node({ id: "ingress/istio-system/istio-ingressgateway", kind: "ingress-gateway", namespace: "istio-system", name: "istio-ingressgateway", ready: { ready: 2, total: 2 } }));
  for (const s of ["a1b2c", "d3e4f"]) {
    push(node({ id: `pod/istio-system/gw-${s}`, kind: "pod", namespace: "istio-system", name: `gw-${s}`, parent: "ingress/istio-system/istio-ingressgateway", ready: { ready: 1, total: 1 } }));
  }
  let nsIndex = 0;
  while (nodes.length < target) {
    const ns = `team-${nsIndex++}`;
    push(node({ id: `ns/${ns}`, kind: "namespace", namespace: ns, name: ns }));
    push(node({ id: `gw/${ns}/gateway`, kind: "gateway", namespace: ns, name: "gateway" }));
    edges.push(edge("serves", "ingress/istio-system/istio-ingressgateway", `gw/${ns}/gateway`));
    for (let a = 0; a < 4 && nodes.length < target; a++) {
      const app = `app${a}`;
      const svc = `svc/${ns}/${app}`;
      const vs = `vs/${ns}/${app}`;
      push(node({ id: vs, kind: "virtual-service", namespace: ns, name: app }));
      push(node({ id: svc, kind: "service", namespace: ns, name: app }));
      edges.push(edge("binds", `gw/${ns}/gateway`, vs));
      edges.push(edge("routed-by", svc, vs));
      const versions = ["v1", "v2"];
      for (const [i, v] of versions.entries()) {
        const sub = `subset/${ns}/${app}/${v}`;
        const wl = `wl/${ns}/${app}-${v}`;
        push(
          node({
            id: sub,
            kind: "subset",
            namespace: ns,
            name: v,
            details: { kind: "subset", service: app, rule: app, ruleNamespace: ns, host: app, labels: { version: v }, tlsMode: null },
          }),
        );
        push(node({ id: wl, kind: "workload", namespace: ns, name: `${app}-${v}`, ready: { ready: 3, total: 3 } }));
        for (let p = 0; p < 3; p++) {
          const name = `${app}-${v}-7f9c-${p}x${a}`;
          push(node({ id: `pod/${ns}/${name}`, kind: "pod", namespace: ns, name, parent: wl, ready: { ready: 2, total: 2 }, sidecar: "ready" }));
        }
        const w = i === 0 ? 80 : 20;
        edges.push(edge("route", vs, sub, { id: `0.${i}`, route: route(w) }));
        edges.push(edge("selects", sub, wl));
        edges.push(edge("selects", svc, wl));
      }
    }
  }
  return { nodes, edges };
}
