// Words for the Mesh screen: what each kind of node and edge is, in sentences a newcomer
// who has never heard of Istio can follow, and the words that go with colours and badges
// (so nothing is told by colour alone).
import type { EdgeKind } from "../generated/EdgeKind";
import type { GraphEdge } from "../generated/GraphEdge";
import type { GraphNode } from "../generated/GraphNode";
import type { Health } from "../generated/Health";
import type { NodeKind } from "../generated/NodeKind";
import type { Severity } from "../generated/Severity";
import type { Sidecar } from "../generated/Sidecar";

export interface Explanation {
  /** The kind in words, as a heading ("VirtualService"). */
  title: string;
  /** What it is, one or two sentences. */
  what: string;
  /** What it does to a request, one or two sentences. */
  role: string;
}

export const NODE_KIND_WORD: Record<NodeKind, string> = {
  namespace: "Namespace",
  "ingress-gateway": "Ingress gateway",
  gateway: "Gateway",
  "virtual-service": "VirtualService",
  service: "Service",
  subset: "Subset",
  workload: "Workload",
  pod: "Pod",
};

export const NODE_EXPLANATIONS: Record<NodeKind, Explanation> = {
  namespace: {
    title: "Namespace",
    what: "A namespace is a named folder inside the Kubernetes cluster. Everything drawn inside this box belongs to it.",
    role: "When a namespace carries the label istio-injection=enabled, Istio adds a sidecar proxy to every new pod started in it.",
  },
  "ingress-gateway": {
    title: "Ingress gateway",
    what: "The ingress gateway is the front door of the mesh: a standalone Envoy proxy that receives requests coming from outside the cluster, for example from your browser.",
    role: "It does not decide much on its own: the Gateway objects it serves tell it which ports and host names to accept, and the VirtualServices bound to those Gateways tell it where to send each request.",
  },
  gateway: {
    title: "Gateway",
    what: "A Gateway is an Istio setting for the ingress gateway: it opens a port (such as 80 for HTTP) and lists the host names it accepts there.",
    role: "A request that matches no Gateway is turned away at the door. The Gateway does not say where a request goes next; the VirtualServices bound to it do.",
  },
  "virtual-service": {
    title: "VirtualService",
    what: "A VirtualService is a set of routing rules for a host name, like a signpost: for requests to this host, go there.",
    role: "Its rules can match on the path or on headers, split traffic between versions by percentage (such as 60% / 30% / 10%), add delays or errors for testing, and retry. Without one, traffic to a Service is spread evenly over all its pods.",
  },
  service: {
    title: "Service",
    what: "A Kubernetes Service gives a group of pods one stable name (such as reviews) that other programs call, whatever pods come and go behind it.",
    role: "It finds its pods by their labels. Istio routes requests for the Service's name, and a VirtualService can take over how they are split.",
  },
  subset: {
    title: "Subset",
    what: "A subset is a named part of a Service's pods, defined in a DestinationRule. For example, reviews v2 means: the reviews pods that have the label version=v2.",
    role: "VirtualService routes send a share of the traffic to each subset, which is how you roll out a new version to only some users. A route to a subset that matches no pods fails.",
  },
  workload: {
    title: "Workload",
    what: "A workload (a Kubernetes Deployment) runs a program and keeps the wanted number of copies, called pods, running; it replaces a pod that stops.",
    role: "Workloads do not receive requests themselves; their pods do. Services and subsets pick those pods by their labels.",
  },
  pod: {
    title: "Pod",
    what: "A pod is one running copy of a program, with its own address in the cluster. The ready count (like 2/2) says how many of its containers are ready.",
    role: "In the mesh, a pod normally has two containers: the app and the Envoy sidecar proxy next to it. All traffic into and out of the pod goes through the sidecar, which applies Istio's routing, security (mTLS) and metrics.",
  },
};

export const EDGE_KIND_WORD: Record<EdgeKind, string> = {
  serves: "Serves",
  binds: "Binds",
  "routed-by": "Routed by",
  route: "Route",
  selects: "Selects",
};

export const EDGE_EXPLANATIONS: Record<EdgeKind, Explanation> = {
  serves: {
    title: "Ingress gateway serves a Gateway",
    what: "This line means the Gateway's selector picks these ingress gateway pods, so they open the ports and accept the hosts the Gateway lists.",
    role: "Requests from outside enter the mesh here. A Gateway that no ingress gateway serves has no effect.",
  },
  binds: {
    title: "Gateway bound to a VirtualService",
    what: "The VirtualService lists this Gateway under gateways, so its routing rules apply to requests that arrive through that Gateway.",
    role: "This is how a request coming in from outside gets its first routing decision.",
  },
  "routed-by": {
    title: "Service taken over by a VirtualService",
    what: "The VirtualService names this Service's host, so requests to the Service follow the VirtualService's rules instead of going to any of its pods.",
    role: "This is what lets Istio split traffic between versions of a Service that other programs keep calling by the same name.",
  },
  route: {
    title: "Route",
    what: "A route is one destination in a VirtualService rule: a Service, or a subset of one. The percentage is the share of matching requests sent along it.",
    role: "The weights of one rule add up to 100%. Change them and requests shift between versions without any program being restarted.",
  },
  selects: {
    title: "Selects pods",
    what: "A Service or a subset picks its pods by labels (such as app=reviews, version=v1). This line joins it to a pod whose labels match.",
    role: "Requests sent to the Service or subset are spread over the pods it selects. A pod that no longer matches stops getting them.",
  },
};

export const HEALTH_WORD: Record<Health, string> = {
  ok: "OK",
  pending: "Starting",
  warning: "Warning",
  error: "Error",
};

/** A text mark drawn on the node next to the colour, so health reads without colour. */
export const HEALTH_MARK: Record<Health, string> = {
  ok: "",
  pending: "… ",
  warning: "⚠ ",
  error: "✖ ",
};

export const SEVERITY_WORD: Record<Severity, string> = {
  info: "Note",
  warning: "Warning",
  error: "Error",
};

export const SIDECAR_WORD: Record<Sidecar, string> = {
  ready: "Sidecar running",
  starting: "Sidecar starting",
  missing: "Sidecar missing",
  "opted-out": "No sidecar (opted out)",
  "not-injected": "No sidecar",
};

export const SIDECAR_EXPLANATION: Record<Sidecar, string> = {
  ready: "This pod has its Envoy sidecar and it is running, so the mesh's routing and security apply to it.",
  starting: "This pod has a sidecar that is not ready yet; requests may fail until it is.",
  missing:
    "This pod's namespace asks for sidecars, but this pod has none: it started before injection was turned on, or injection failed. Restart it to get one.",
  "opted-out":
    "This pod asked not to get a sidecar (annotation sidecar.istio.io/inject: \"false\"), so Istio's routing rules do not apply to its own requests.",
  "not-injected":
    "Its namespace is not labelled for sidecar injection, so this pod runs without Envoy and is outside the mesh.",
};

/** The short text drawn on the pod after its name: "2/2 ⬢" (⬢: sidecar running). */
export function podBadge(node: Pick<GraphNode, "ready" | "sidecar">): string {
  const parts: string[] = [];
  if (node.ready) parts.push(node.ready);
  if (node.sidecar) {
    parts.push(
      node.sidecar === "ready"
        ? "⬢"
        : node.sidecar === "starting"
          ? "⬡ starting"
          : node.sidecar === "missing"
            ? "no sidecar!"
            : "no sidecar",
    );
  }
  return parts.join(" ");
}

/** Longest line a long hyphenated name keeps before it wraps after a hyphen. */
const WRAP_AT = 15;

/** "istio-ingressgateway" → "istio-\ningressgateway": narrow columns, larger text at fit. */
export function wrapName(name: string, max = WRAP_AT): string {
  if ([...name].length <= max || !name.includes("-")) return name;
  const parts = name.split(/(?<=-)/);
  const lines: string[] = [];
  for (const p of parts) {
    const last = lines.length ? lines[lines.length - 1] : null;
    if (last !== null && [...last].length + [...p].length <= max) lines[lines.length - 1] = last + p;
    else lines.push(p);
  }
  return lines.join("\n");
}

/**
 * What the graph writes on a node: health mark and name (the column title above says the
 * kind); pods add their ready count and sidecar mark.
 */
export function nodeText(node: GraphNode): string {
  const mark = HEALTH_MARK[node.health];
  if (node.kind === "namespace") {
    // A long name goes on its own line, so a namespace holding one column stays narrow.
    return `${mark}${NODE_KIND_WORD.namespace}${[...node.label].length > 10 ? "\n" : " "}${node.label}`;
  }
  if (node.kind === "pod") {
    // One line, so a box of pods stays small: "k8xqz · 2/2 ⬢"; a sidecar problem gets
    // its own line ("no sidecar!"), so the box does not widen the whole column.
    const ready = node.ready ? ` · ${node.ready}` : "";
    if (node.sidecar && node.sidecar !== "ready") {
      return `${mark}${node.label}${ready}\n${podBadge({ ready: null, sidecar: node.sidecar })}`;
    }
    const badge = podBadge(node);
    return `${mark}${node.label}${badge ? ` · ${badge}` : ""}`;
  }
  return `${mark}${wrapName(node.label)}`;
}

/** What the graph writes on an edge: its label (weights), else nothing. */
export function edgeText(edge: GraphEdge): string {
  return edge.label ?? "";
}

/** A one-line name for an edge, for lists and the panel heading: "reviews → reviews v2 (30%)". */
export function edgeName(edge: GraphEdge, nodes: ReadonlyMap<string, GraphNode>): string {
  const from = nodes.get(edge.source)?.label ?? edge.source;
  const to = nodes.get(edge.target)?.label ?? edge.target;
  const extra = edge.label ? ` (${edge.label})` : "";
  return `${EDGE_KIND_WORD[edge.kind]}: ${from} → ${to}${extra}`;
}

/** A one-line name for a node, for lists: "VirtualService reviews (default)". */
export function nodeName(node: GraphNode): string {
  if (node.kind === "namespace") return `Namespace ${node.name}`;
  return `${NODE_KIND_WORD[node.kind]} ${node.label} (${node.namespace})`;
}

/** Severity order for lists: errors first. */
export const SEVERITY_RANK: Record<Severity, number> = { error: 0, warning: 1, info: 2 };
