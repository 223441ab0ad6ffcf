// Meshes for the preview, the tests and the drawing benchmark: Bookinfo as the Rust model
// builds it from pure inputs, and made-up meshes of any size. Never shown inside the app.
import type { EdgeKind } from "../generated/EdgeKind";
import type { GraphDiff } from "../generated/GraphDiff";
import type { GraphEdge } from "../generated/GraphEdge";
import type { GraphNode } from "../generated/GraphNode";
import type { MeshSnapshot } from "../generated/MeshSnapshot";
import type { NodeDetails } from "../generated/NodeDetails";
import type { NodeKind } from "../generated/NodeKind";
import type { RequestMatch } from "../generated/RequestMatch";
import type { RouteEdge } from "../generated/RouteEdge";
import samplesJson from "../generated/meshSamples.json";

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

interface MeshSamples {
  bookinfo: MeshSnapshot;
  split: MeshSnapshot;
  splitDiff: GraphDiff;
  teaching: MeshSnapshot;
}

// Written by the Rust model from pure inputs (`mesh::samples`) when `cargo test` runs, like
// the types next to it; the JSON is typed by those same Rust types.
const SAMPLES = samplesJson as unknown as MeshSamples;

/** Bookinfo as the simulated cluster runs it, settled: the golden model. */
export function bookinfoSnapshot(): MeshSnapshot {
  return structuredClone(SAMPLES.bookinfo);
}

/** Bookinfo with reviews split 60/30/10 over the subsets v1, v2 and v3. */
export function splitSnapshot(): MeshSnapshot {
  return structuredClone(SAMPLES.split);
}

/** What the watch reports when the reviews split is applied to plain Bookinfo. */
export function reviewsSplitDiff(): GraphDiff {
  return structuredClone(SAMPLES.splitDiff);
}

/**
 * The split as a newcomer meets it: one warning, the ratings pod started before sidecar
 * injection was turned on. The preview's default and most screen tests use this.
 */
export function teachingSnapshot(): MeshSnapshot {
  return structuredClone(SAMPLES.teaching);
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
