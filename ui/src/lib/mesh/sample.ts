// Meshes made up for the preview, the tests and the drawing benchmark. Shaped like what the
// Rust model builds (same ids, labels and fields), but never shown inside the app.
import type { EdgeKind } from "../generated/EdgeKind";
import type { GraphDiff } from "../generated/GraphDiff";
import type { GraphEdge } from "../generated/GraphEdge";
import type { GraphNode } from "../generated/GraphNode";
import type { MeshSnapshot } from "../generated/MeshSnapshot";
import type { NodeKind } from "../generated/NodeKind";

type NodeInit = Partial<GraphNode> & Pick<GraphNode, "id" | "kind" | "namespace" | "name">;

export function node(init: NodeInit): GraphNode {
  return {
    label: init.name,
    parent: init.kind === "namespace" ? null : `ns/${init.namespace}`,
    health: "ok",
    ready: null,
    sidecar: null,
    fields: [],
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
    weight: null,
    matches: null,
    label: null,
    ...rest,
  };
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

function pod(ns: string, workload: string, hash: string, suffix: string, labels: string, extra: Partial<GraphNode> = {}): GraphNode {
  const name = `${workload}-${hash}-${suffix}`;
  const gateway = workload === "istio-ingressgateway";
  return withObject(
    node({
      id: `pod/${ns}/${name}`,
      kind: "pod",
      namespace: ns,
      name,
      label: suffix,
      parent: `${gateway ? "ingress" : "wl"}/${ns}/${workload}`,
      ready: gateway ? "1/1" : "2/2",
      sidecar: gateway ? null : "ready",
      fields: [
        { label: "Status", value: "Running" },
        { label: "Ready containers", value: gateway ? "1/1" : "2/2" },
        { label: "Labels", value: labels },
        { label: "Pod IP", value: `10.244.0.${(hash.charCodeAt(0) * 7 + suffix.charCodeAt(1)) % 250}` },
      ],
      ...extra,
    }),
  );
}

function workload(ns: string, name: string, labels: string): GraphNode {
  return withObject(
    node({
      id: `wl/${ns}/${name}`,
      kind: "workload",
      namespace: ns,
      name,
      ready: "1/1",
      fields: [
        { label: "Replicas", value: "1 ready of 1" },
        { label: "Pod labels", value: labels },
      ],
    }),
  );
}

function service(ns: string, name: string, port = 9080): GraphNode {
  return withObject(
    node({
      id: `svc/${ns}/${name}`,
      kind: "service",
      namespace: ns,
      name,
      fields: [
        { label: "Type", value: "ClusterIP" },
        { label: "Ports", value: `${port} (http)` },
        { label: "Selects pods with", value: `app=${name}` },
        { label: "DNS name", value: `${name}.${ns}.svc.cluster.local` },
        { label: "Endpoints", value: name === "reviews" ? "3 ready of 3" : "1 ready of 1" },
      ],
    }),
  );
}

/** Bookinfo as the simulated cluster runs it, with reviews split 60/30/10 over v1/v2/v3. */
export function bookinfoSnapshot(): MeshSnapshot {
  const d = "default";
  const nodes: GraphNode[] = [
    withObject(
      node({
        id: "ns/istio-system",
        kind: "namespace",
        namespace: "istio-system",
        name: "istio-system",
        fields: [{ label: "Sidecar injection", value: "off (no istio-injection label)" }],
      }),
    ),
    withObject(
      node({
        id: "ns/default",
        kind: "namespace",
        namespace: d,
        name: d,
        fields: [{ label: "Sidecar injection", value: "on (istio-injection=enabled)" }],
      }),
    ),
    withObject(
      node({
        id: "ingress/istio-system/istio-ingressgateway",
        kind: "ingress-gateway",
        namespace: "istio-system",
        name: "istio-ingressgateway",
        ready: "1/1",
        fields: [
          { label: "Replicas", value: "1 ready of 1" },
          { label: "Pod labels", value: "app=istio-ingressgateway, istio=ingressgateway" },
        ],
      }),
    ),
    pod("istio-system", "istio-ingressgateway", "5c9f8d7b6", "q2x8m", "app=istio-ingressgateway, istio=ingressgateway"),
    withObject(
      node({
        id: "gw/default/bookinfo-gateway",
        kind: "gateway",
        namespace: d,
        name: "bookinfo-gateway",
        fields: [
          { label: "Selects gateway pods with", value: "istio=ingressgateway" },
          { label: "Listens on", value: "port 8080 (HTTP), hosts *" },
        ],
      }),
    ),
    withObject(
      node({
        id: "vs/default/bookinfo",
        kind: "virtual-service",
        namespace: d,
        name: "bookinfo",
        fields: [
          { label: "Hosts", value: "*" },
          { label: "Applies to", value: "bookinfo-gateway" },
          { label: "Route 1", value: "uri exact /productpage or uri prefix /static or uri exact /login or uri exact /logout or uri prefix /api/v1/products → productpage 9080" },
        ],
      }),
    ),
    withObject(
      node({
        id: "vs/default/reviews",
        kind: "virtual-service",
        namespace: d,
        name: "reviews",
        fields: [
          { label: "Hosts", value: "reviews" },
          { label: "Applies to", value: "requests between services inside the mesh" },
          { label: "Route 1", value: "any request → reviews v1 60%, reviews v2 30%, reviews v3 10%" },
        ],
      }),
    ),
    service(d, "productpage"),
    service(d, "details"),
    service(d, "ratings"),
    service(d, "reviews"),
  ];
  for (const v of ["v1", "v2", "v3"]) {
    nodes.push(
      withObject(
        node({
          id: `subset/default/reviews/${v}`,
          kind: "subset",
          namespace: d,
          name: v,
          label: `reviews ${v}`,
          fields: [
            { label: "Service", value: "reviews" },
            { label: "Pod labels", value: `version=${v}` },
            { label: "Defined in", value: "DestinationRule reviews" },
          ],
        }),
        "reviews",
      ),
    );
    // The subset's object is the DestinationRule that defines it.
    nodes[nodes.length - 1].object = { apiVersion: "networking.istio.io/v1", kind: "DestinationRule", namespace: d, name: "reviews" };
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
    const labels = `app=${app}, version=${version}`;
    nodes.push(workload(d, wl, labels));
    nodes.push(pod(d, wl, hash, suffix, labels));
  }
  // One warning, as a newcomer would meet it: a pod started before injection was on.
  const ratings = nodes.find((n) => n.id === "pod/default/ratings-v1-5d9ddb6f4c-h7r4c")!;
  Object.assign(ratings, {
    ready: "1/1",
    sidecar: "missing",
    health: "warning",
    validations: [
      {
        severity: "warning",
        code: "pod-without-sidecar",
        message:
          "This pod has no sidecar although namespace default asks for injection: it was started before injection was turned on. Restart its workload to give it one.",
      },
    ],
  } satisfies Partial<GraphNode>);
  ratings.fields = ratings.fields.map((f) => (f.label === "Ready containers" ? { ...f, value: "1/1" } : f));
  const wlRatings = nodes.find((n) => n.id === "wl/default/ratings-v1")!;
  wlRatings.health = "warning";

  const edges: GraphEdge[] = [
    edge("serves", "ingress/istio-system/istio-ingressgateway", "gw/default/bookinfo-gateway"),
    edge("binds", "gw/default/bookinfo-gateway", "vs/default/bookinfo"),
    edge("route", "vs/default/bookinfo", "svc/default/productpage", { id: "0", matches: "uri exact /productpage or uri prefix /static" }),
    edge("routed-by", "svc/default/reviews", "vs/default/reviews"),
    edge("route", "vs/default/reviews", "subset/default/reviews/v1", { id: "0", weight: 60, label: "60%" }),
    edge("route", "vs/default/reviews", "subset/default/reviews/v2", { id: "0", weight: 30, label: "30%" }),
    edge("route", "vs/default/reviews", "subset/default/reviews/v3", { id: "0", weight: 10, label: "10%" }),
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
  push(node({ id: "ingress/istio-system/istio-ingressgateway", kind: "ingress-gateway", namespace: "istio-system", name: "istio-ingressgateway", ready: "2/2" }));
  for (const s of ["a1b2c", "d3e4f"]) {
    push(node({ id: `pod/istio-system/gw-${s}`, kind: "pod", namespace: "istio-system", name: `gw-${s}`, label: s, parent: "ingress/istio-system/istio-ingressgateway", ready: "1/1" }));
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
        push(node({ id: sub, kind: "subset", namespace: ns, name: v, label: `${app} ${v}` }));
        push(node({ id: wl, kind: "workload", namespace: ns, name: `${app}-${v}`, ready: "3/3" }));
        for (let p = 0; p < 3; p++) {
          const name = `${app}-${v}-7f9c-${p}x${a}`;
          push(node({ id: `pod/${ns}/${name}`, kind: "pod", namespace: ns, name, label: `${p}x${a}q`, parent: wl, ready: "2/2", sidecar: "ready" }));
        }
        const w = i === 0 ? 80 : 20;
        edges.push(edge("route", vs, sub, { id: "0", weight: w, label: `${w}%` }));
        edges.push(edge("selects", sub, wl));
        edges.push(edge("selects", svc, wl));
      }
    }
  }
  return { nodes, edges };
}
