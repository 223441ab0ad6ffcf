// Words for the Mesh screen: what each kind of node and edge is, in sentences a newcomer
// who has never heard of Istio can follow, and the words that go with colours and badges
// (so nothing is told by colour alone).
import type { EdgeKind } from "../generated/EdgeKind";
import type { GraphEdge } from "../generated/GraphEdge";
import type { GraphNode } from "../generated/GraphNode";
import type { Health } from "../generated/Health";
import type { HealthReason } from "../generated/HealthReason";
import type { HttpRoute } from "../generated/HttpRoute";
import type { Injection } from "../generated/Injection";
import type { NodeKind } from "../generated/NodeKind";
import type { Readiness } from "../generated/Readiness";
import type { RequestMatch } from "../generated/RequestMatch";
import type { RouteEdge } from "../generated/RouteEdge";
import type { Severity } from "../generated/Severity";
import type { Sidecar } from "../generated/Sidecar";
import type { StringMatch } from "../generated/StringMatch";
import type { Validation } from "../generated/Validation";

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

/** "2/2", as `kubectl get pods` counts. */
export function readyText(r: Readiness): string {
  return `${r.ready}/${r.total}`;
}

/**
 * The name the graph writes on a node: a pod by the random end of its name (its workload's
 * box says the rest), a subset with its service ("reviews v2"), anything else by its name.
 */
export function nodeLabel(node: Pick<GraphNode, "name" | "details">): string {
  if (node.details.kind === "pod") {
    const dash = node.name.lastIndexOf("-");
    return dash >= 0 ? node.name.slice(dash + 1) : node.name;
  }
  if (node.details.kind === "subset") return `${node.details.service} ${node.name}`;
  return node.name;
}

/** The short text drawn on the pod after its name: "2/2 ⬢" (⬢: sidecar running). */
export function podBadge(node: Pick<GraphNode, "ready" | "sidecar">): string {
  const parts: string[] = [];
  if (node.ready) parts.push(readyText(node.ready));
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
    return `${mark}${NODE_KIND_WORD.namespace}${[...node.name].length > 10 ? "\n" : " "}${node.name}`;
  }
  if (node.kind === "pod") {
    // One line, so a box of pods stays small: "k8xqz · 2/2 ⬢"; a sidecar problem gets
    // its own line ("no sidecar!"), so the box does not widen the whole column.
    const label = nodeLabel(node);
    const ready = node.ready ? ` · ${readyText(node.ready)}` : "";
    if (node.sidecar && node.sidecar !== "ready") {
      return `${mark}${label}${ready}\n${podBadge({ ready: null, sidecar: node.sidecar })}`;
    }
    const badge = podBadge(node);
    return `${mark}${label}${badge ? ` · ${badge}` : ""}`;
  }
  return `${mark}${wrapName(nodeLabel(node))}`;
}

/**
 * What the graph writes on an edge: a route's weight ("60%") when the route splits requests
 * or sends only part of them along it, else nothing.
 */
export function edgeText(edge: GraphEdge, severalRoutes: ReadonlySet<string> = NO_SET): string {
  const r = edge.route;
  if (!r) return "";
  const weight = r.split || r.weight !== 100 ? `${r.weight}%` : "";
  const cond = saysWhichRequests(edge, severalRoutes) ? routeCondition(r) : null;
  return cond ? (weight ? `${cond}\n${weight}` : cond) : weight;
}

const NO_SET: ReadonlySet<string> = new Set();

/**
 * Whether a route edge's label says which requests the route takes: when its VirtualService
 * has several routes (`severalRoutes`), and only towards subsets, where the layout leaves
 * room: a route back to a Service (a fault for one user on ratings) would write over the
 * VirtualService it leaves.
 */
export function saysWhichRequests(edge: GraphEdge, severalRoutes: ReadonlySet<string>): boolean {
  return severalRoutes.has(edge.source) && edge.target.startsWith("subset/");
}

/**
 * The VirtualServices with more than one http route: only there does a route's label say
 * which requests it takes (a lone route's matches are in its side panel).
 */
export function severalRoutes(edges: Iterable<GraphEdge>): Set<string> {
  const out = new Set<string>();
  for (const e of edges) if (e.route && e.route.route > 0) out.add(e.source);
  return out;
}

/**
 * Which requests a route edge takes, short enough for the edge's label: "end-user=jason"
 * for a route matching one header, "/static*" for a path prefix, "matching" for anything
 * longer (the side panel has it in full), "others" for the catch-all route after matching
 * ones, null when the route takes every request.
 */
export function routeCondition(route: RouteEdge): string | null {
  if (route.matches.length === 0) return route.route > 0 ? "others" : null;
  if (route.matches.length > 1) return "matching";
  const m = route.matches[0];
  const headers = Object.entries(m.headers).filter((h): h is [string, StringMatch] => h[1] !== undefined);
  const conditions = headers.length + (m.uri ? 1 : 0) + (m.method ? 1 : 0) + (m.port != null ? 1 : 0);
  if (conditions !== 1) return conditions === 0 ? null : "matching";
  const short = (v: StringMatch, name: string) =>
    v === "present" ? `${name} set` : "exact" in v ? `${name}=${v.exact}` : "prefix" in v ? `${name}=${v.prefix}*` : "matching";
  if (headers.length) return short(headers[0][1], headers[0][0]);
  if (m.uri) return m.uri !== "present" && "prefix" in m.uri ? `${m.uri.prefix}*` : m.uri !== "present" && "exact" in m.uri ? m.uri.exact : "matching";
  if (m.method) return short(m.method, "method");
  return `port ${String(m.port)}`;
}

/** A one-line name for an edge, for lists and the panel heading: "reviews → reviews v2 (30%)". */
export function edgeName(edge: GraphEdge, nodes: ReadonlyMap<string, GraphNode>): string {
  const label = (id: string) => {
    const n = nodes.get(id);
    return n ? nodeLabel(n) : id;
  };
  const weight = edgeText(edge);
  return `${EDGE_KIND_WORD[edge.kind]}: ${label(edge.source)} → ${label(edge.target)}${weight ? ` (${weight})` : ""}`;
}

/** A one-line name for a node, for lists: "VirtualService reviews (default)". */
export function nodeName(node: GraphNode): string {
  if (node.kind === "namespace") return `Namespace ${node.name}`;
  return `${NODE_KIND_WORD[node.kind]} ${nodeLabel(node)} (${node.namespace})`;
}

/** "app=reviews, version=v2", or "(none)". */
export function labelsText(labels: Partial<Record<string, string>>): string {
  const pairs = Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return pairs.length ? pairs.map(([k, v]) => `${k}=${v ?? ""}`).join(", ") : "(none)";
}

export function injectionText(injection: Injection): string {
  switch (injection.state) {
    case "enabled":
      return "on (istio-injection=enabled)";
    case "disabled":
      return 'off (istio-injection label is not "enabled")';
    case "revision":
      return `on for revision ${injection.revision} (istio.io/rev=${injection.revision})`;
    case "none":
      return "off (no istio-injection label)";
  }
}

/** Whether new pods in the namespace get a sidecar. */
export function injects(injection: Injection): boolean {
  return injection.state === "enabled" || injection.state === "revision";
}

function stringMatchText(m: StringMatch): string {
  if (m === "present") return "present";
  if ("exact" in m) return `exact ${m.exact}`;
  if ("prefix" in m) return `prefix ${m.prefix}`;
  return `regex ${m.regex}`;
}

/** One match in words: "uri prefix /static and header end-user exact jason". */
export function matchText(m: RequestMatch): string {
  const parts: string[] = [];
  if (m.uri) parts.push(`uri ${stringMatchText(m.uri)}`);
  for (const [name, v] of Object.entries(m.headers)) if (v) parts.push(`header ${name} ${stringMatchText(v)}`);
  if (m.method) parts.push(`method ${stringMatchText(m.method)}`);
  if (m.port != null) parts.push(`port ${m.port}`);
  return parts.length ? parts.join(" and ") : "any request";
}

/** A route's matches in words; none means every request. */
export function matchesText(matches: readonly RequestMatch[]): string {
  return matches.length ? matches.map(matchText).join(" or ") : "any request";
}

/** An http route in words: "any request → reviews v1 60%, reviews v2 30% (fault: delay 7s for 100% of requests)". */
export function routeText(route: HttpRoute): string {
  const to = route.destinations
    .map((d) => {
      const target = d.subset ? `${d.host} ${d.subset}` : d.host;
      return d.weight != null ? `${target} ${d.weight}%` : target;
    })
    .join(", ");
  let text = `${matchesText(route.matches)} → ${to}`;
  const f = route.fault;
  if (f && (f.delay || f.abort)) {
    const pct = (p: number | null) => (p != null ? ` for ${p}% of requests` : "");
    const parts: string[] = [];
    if (f.delay) parts.push(`delay ${f.delay.fixedDelay ?? "?"}${pct(f.delay.percent)}`);
    if (f.abort) parts.push(`abort with HTTP ${f.abort.httpStatus ?? "?"}${pct(f.abort.percent)}`);
    text += ` (fault: ${parts.join(", ")})`;
  }
  return text;
}

/** What a validation found, as one plain sentence that says what it means for requests. */
export function validationText(node: Pick<GraphNode, "namespace">, v: Validation): string {
  switch (v.code) {
    case "pod-without-sidecar":
      return `This pod has no sidecar although namespace ${node.namespace} asks for injection: it was started before injection was turned on. Restart its workload to give it one.`;
    case "pod-opted-out":
      return "This pod opted out of injection with the label sidecar.istio.io/inject=false, so Istio does not route or observe its traffic.";
    case "service-selects-no-pods":
      return `No pod has the labels ${labelsText(v.selector)}, so requests to this service have nowhere to go.`;
    case "destination-rule-host-not-found":
      return `Destination rule ${v.rule} is for host ${v.host}, but there is no service ${v.service} in namespace ${v.serviceNamespace}.`;
    case "subset-selects-no-pods":
      return `No pod has the labels ${labelsText(v.labels)}, so requests routed to this subset fail with 503 (no healthy upstream).`;
    case "subset-no-ready-pods":
      return "The pods of this subset are not ready yet; requests routed here fail until they are.";
    case "gateway-not-served":
      return `No ingress gateway has the labels ${labelsText(v.selector)} that this Gateway selects, so nothing accepts requests for it.`;
    case "gateway-not-found":
      return `This virtual service is bound to gateway ${v.namespace}/${v.name}, which does not exist, so requests through it are not routed.`;
    case "weights-not-100":
      return `Route ${v.route + 1} splits traffic with weights that add up to ${v.sum}, not 100; Istio rejects or misroutes such a split.`;
    case "route-host-not-found":
      return `Route ${v.route + 1} sends requests to host ${v.host}, but there is no service ${v.service} in namespace ${v.serviceNamespace}: those requests fail.`;
    case "route-host-outside-cluster":
      return `Route ${v.route + 1} sends requests to ${v.host}, a host outside the cluster: that works only with a ServiceEntry for it, which this graph does not show.`;
    case "route-subset-not-found":
      return `Route ${v.route + 1} sends requests to subset ${v.subset} of ${v.service}, but no destination rule defines that subset: those requests fail with 503.`;
    case "route-unreachable":
      return (
        `Route ${v.route + 1} is never used: route ${v.after + 1} before it matches every request, and Istio takes the first route that matches.` +
        (v.hasFault ? " Its fault injection has no effect. Put the route with the match first." : " Put the routes with a match first.")
      );
    case "overlapping-virtual-services":
      return `Other virtual services (${v.others.join(", ")}) also route ${v.host} inside the mesh. Istio uses only one of them for that host, so some of these routes never apply: merge them into one.`;
    case "subset-not-routed":
      return "No virtual service sends requests to this subset: it is defined but unused (fine while you are not routing by version).";
    case "strict-with-plain-text-clients":
      return (
        `${v.meshWide ? "The whole mesh requires" : "This namespace requires"} mutual TLS (STRICT), but pods without a sidecar run in ` +
        `${v.namespaces.join(", ")} (no injection there): their plain-text requests to this namespace are refused (connection reset).`
      );
  }
}

/** Why a node is not ok, in words: "2 of 3 replicas ready", "CrashLoopBackOff", "pod x7k2p: Warning". */
export function healthReasonText(node: Pick<GraphNode, "kind" | "ready">, r: HealthReason): string {
  switch (r.reason) {
    case "not-ready": {
      const what = node.kind === "pod" ? "containers" : "replicas";
      return node.ready ? `${node.ready.ready} of ${node.ready.total} ${what} ready` : `not all ${what} ready`;
    }
    case "failing":
      return r.cause;
    case "findings":
      return r.severity === "error" ? "see the errors below" : "see the warnings below";
    case "pod": {
      const name = r.id.slice(r.id.lastIndexOf("/") + 1);
      const dash = name.lastIndexOf("-");
      return `pod ${dash >= 0 ? name.slice(dash + 1) : name}: ${HEALTH_WORD[r.health]}`;
    }
  }
}

export interface KeyField {
  label: string;
  value: string;
}

/** The key fields the side panel lists for a node, by kind. */
export function keyFields(node: GraphNode): KeyField[] {
  const d = node.details;
  const f = (label: string, value: string): KeyField => ({ label, value });
  switch (d.kind) {
    case "namespace": {
      const out = [f("Sidecar injection", injectionText(d.injection))];
      if (d.mtls.length) {
        out.push(
          f("Mutual TLS", d.mtls.map((p) => `${p.mode} (${p.meshWide ? "mesh-wide" : "this namespace"}, ${p.name})`).join("; ")),
        );
      }
      return out;
    }
    case "ingress-gateway":
    case "workload": {
      const out = [
        f("Replicas", node.ready ? `${node.ready.ready} ready of ${node.ready.total}` : "?"),
        f("Pod labels", labelsText(d.podLabels)),
      ];
      if (d.paused) out.push(f("Rollout", "paused"));
      return out;
    }
    case "pod": {
      const status = d.waitingReason ?? (d.terminating ? "Terminating" : d.phase);
      const out = [f("Status", status)];
      if (node.ready) out.push(f("Ready containers", readyText(node.ready)));
      out.push(f("Labels", labelsText(d.labels)));
      if (d.ip) out.push(f("Pod IP", d.ip));
      if (d.node) out.push(f("Node", d.node));
      if (d.restarts > 0) out.push(f("Restarts", String(d.restarts)));
      return out;
    }
    case "service":
      return [
        f("Type", d.serviceType),
        f("Ports", d.ports.map((p) => (p.name ? `${p.port} (${p.name})` : String(p.port))).join(", ")),
        f("Selects pods with", d.selector ? labelsText(d.selector) : "(no selector)"),
        f("DNS name", `${node.name}.${node.namespace}.svc.cluster.local`),
        f("Endpoints", `${d.endpoints.ready} ready of ${d.endpoints.total}`),
      ];
    case "subset": {
      const out = [f("Destination rule", `${d.rule} (host ${d.host})`), f("Pod labels", labelsText(d.labels))];
      if (d.tlsMode) out.push(f("TLS mode", d.tlsMode));
      return out;
    }
    case "gateway":
      return [
        f("Selects gateway pods with", labelsText(d.selector)),
        f("Listens on", d.servers.map((s) => `${s.protocol} ${s.port} for ${s.hosts.join(", ")}`).join("; ")),
      ];
    case "virtual-service":
      return [
        f("Hosts", d.hosts.join(", ")),
        f("Applies to", d.gateways.length ? d.gateways.join(", ") : "requests between services inside the mesh"),
        ...d.routes.map((r, i) => f(`Route ${i + 1}`, routeText(r))),
      ];
  }
}

/** Severity order for lists: errors first. */
export const SEVERITY_RANK: Record<Severity, number> = { error: 0, warning: 1, info: 2 };
