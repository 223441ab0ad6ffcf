// Lessons in plain words: what a step's button does, what its check asks for and what the
// check saw. The Rust side sends typed figures; the sentences are made here, at the edge.
import type { NodeKind } from "../generated/NodeKind";
import type { Check, CheckOutcome, Observation, Spotlight, StepAction } from "./types";

const pct = (n: number) => `${Math.round(n)}%`;
const rate = (n: number) => `${n < 10 ? n.toFixed(1) : Math.round(n)} requests a second`;
/** "reviews'", "productpage's". */
const of = (name: string) => (name.endsWith("s") ? `${name}'` : `${name}'s`);
const list = (xs: readonly string[]) =>
  xs.length <= 1 ? (xs[0] ?? "") : `${xs.slice(0, -1).join(", ")} and ${xs[xs.length - 1]}`;

/** One line for one action of "Do it" or "Reset this step". */
export function actionText(a: StepAction): string {
  if (a === "setup") return "Start the playground";
  if (a === "teardown") return "Remove the playground";
  if (a === "stopTraffic") return "Stop the traffic generator";
  if ("inject" in a) {
    const r = a.inject;
    return `${r.enabled ? "Turn on" : "Turn off"} sidecar injection in ${r.namespace}${r.restart ? " and restart its pods" : ""}`;
  }
  if ("traffic" in a) {
    const t = a.traffic;
    return `Send ${rate(t.rate)} to the product page${t.durationSecs ? ` for ${Math.round(t.durationSecs / 60) || 1} min` : ""}`;
  }
  if ("weights" in a) {
    const w = Object.entries(a.weights.weights).map(([v, n]) => `${v} ${n}%`);
    return `Split ${of(a.weights.service)} requests: ${w.join(", ")}`;
  }
  if ("route" in a) {
    const r = a.route;
    return r.user
      ? `Send ${of(r.user)} requests to ${r.service} ${r.to}${r.otherwise ? `, everyone else's to ${r.otherwise}` : ""}`
      : `Send every request for ${r.service} to ${r.to}`;
  }
  if ("fault" in a) {
    const f = a.fault;
    const who = f.user ? ` for ${f.user}` : "";
    if (!f.fault) return `Remove the faults from ${f.service}${who}`;
    return f.fault.type === "delay"
      ? `Delay ${f.percent}% of ${of(f.service)} requests${who} by ${f.fault.delay}`
      : `Fail ${f.percent}% of ${of(f.service)} requests${who} with HTTP ${String(f.fault.status)}`;
  }
  if ("timeout" in a) {
    const t = a.timeout;
    return t.timeout ? `Give up on ${t.service} after ${t.timeout}` : `Remove ${of(t.service)} timeout`;
  }
  if ("retries" in a) {
    const r = a.retries;
    return r.clear ? `Remove ${of(r.service)} retries` : `Retry failed requests to ${r.service}${r.attempts != null ? ` up to ${String(r.attempts)} times` : ""}`;
  }
  if ("mtls" in a) {
    const m = a.mtls;
    const where = m.scope.type === "mesh" ? "the whole mesh" : m.scope.type === "namespace" ? m.scope.namespace : `${m.scope.name} in ${m.scope.namespace}`;
    return m.mode ? `Set mutual TLS to ${m.mode} for ${where}` : `Remove the mutual TLS policy of ${where}`;
  }
  if ("resetRouting" in a) return "Put the routing back as Bookinfo ships it";
  return "Run an action";
}

/** What the check asks for, as the teacher would say it. */
export function checkText(c: Check): string {
  if (c === "clusterGone") return "The playground is gone";
  if ("ready" in c) return `All pods of ${list(c.ready.workloads)} are ready`;
  if ("sidecars" in c) return `Every pod in ${c.sidecars.namespace} runs a sidecar (2/2)`;
  if ("traffic" in c) return `At least ${rate(c.traffic.minPerSecond)} reach ${c.traffic.service}`;
  if ("split" in c) return `At least ${pct(c.split.atLeast)} of ${of(c.split.service)} requests go to ${c.split.version}`;
  if ("splitNear" in c) {
    const w = Object.entries(c.splitNear.weights).map(([v, n]) => `${v} ${n}%`);
    return `${of(c.splitNear.service)} requests split ${w.join(", ")} (within ${c.splitNear.within} points)`;
  }
  if ("errors" in c) return `At least ${pct(c.errors.atLeast)} of ${of(c.errors.service)} requests${c.errors.source ? ` from ${c.errors.source}` : ""} fail`;
  if ("mtls" in c) return `At least ${pct(c.mtls.atLeast)} of ${of(c.mtls.service)} requests arrive over mutual TLS`;
  if ("plainTextRefused" in c) return `A client outside the mesh is refused by ${c.plainTextRefused.service}, one inside still gets answers`;
  return "The step's outcome";
}

/** What the check saw, with what it needs: "87% of reviews' requests went to v1 (needs at least 85%)". */
export function observationText(o: Observation, c: Check | null): string {
  switch (o.type) {
    case "ready":
      return o.ready === o.wanted
        ? `All ${o.wanted} workloads are ready.`
        : `${o.ready} of ${o.wanted} workloads are ready; waiting for ${list(o.notReady)}.`;
    case "sidecars":
      return o.withSidecar === o.pods
        ? `All ${o.pods} pods run a sidecar.`
        : `${o.withSidecar} of ${o.pods} pods run a sidecar; still without: ${list(o.without)}.`;
    case "traffic": {
      const need = c && typeof c === "object" && "traffic" in c ? ` (needs at least ${rate(c.traffic.minPerSecond)})` : "";
      if (o.perSecond === 0) return `No requests reach the service yet${need}.`;
      return `${rate(o.perSecond)} reach the service${need}.`;
    }
    case "split": {
      if (o.answeredPerSecond === 0 || o.versions.length === 0) return "No answered requests yet to count.";
      const shares = o.versions.map((v) => `${v.version} ${pct(v.percent)}${v.expected != null ? ` (weight ${v.expected}%)` : ""}`);
      const need = c && typeof c === "object" && "split" in c ? `; needs at least ${pct(c.split.atLeast)} to ${c.split.version}` : "";
      return `Requests went to ${shares.join(", ")}${need}.`;
    }
    case "errors":
      return o.percent == null ? "No requests yet to count failures." : `${pct(o.percent)} of requests failed (${rate(o.perSecond)}).`;
    case "mtls":
      return o.percent == null ? "No sidecar has reported these requests yet." : `${pct(o.percent)} of requests arrived over mutual TLS.`;
    case "clients": {
      // curl's own prefix ("curl: (56) ") says nothing to a class; the reason after it does.
      const reason = (error: string) => error.trim().replace(/^curl: \(\d+\)\s*/, "");
      const said = (status: number | null, error: string) =>
        status != null ? `HTTP ${String(status)}` : reason(error) ? `no answer (${reason(error)})` : "no answer";
      return `From outside the mesh: ${said(o.outsideStatus, o.outsideError)}; from inside: ${said(o.insideStatus, "")}.`;
    }
    case "noFigures":
      return `${o.problem.message}${o.problem.hint ? ` ${o.problem.hint}` : ""}`;
    case "clusterGone":
      return o.gone ? "The playground is gone." : "The playground is still there.";
  }
}

/** The outcome in one line for the caption and the live region. */
export function outcomeLine(outcome: CheckOutcome | null, check: Check | null): string {
  if (!check) return "Nothing to check: look at the graph.";
  if (!outcome) return `Checking: ${checkText(check)}…`;
  return `${outcome.passed ? "Done" : "Not yet"}: ${observationText(outcome.observed, check)}`;
}

/** Whether a graph node is in the step's spotlight (by id, id prefix or kind). */
export function spotlit(look: Spotlight, node: { id: string; kind: NodeKind }): boolean {
  if (look.kinds.includes(node.kind)) return true;
  return look.nodes.some((p) => node.id === p || ((p.endsWith("-") || p.endsWith("/")) && node.id.startsWith(p)));
}

/** True when the spotlight names nothing: the whole graph matters. */
export function spotlightEmpty(look: Spotlight): boolean {
  return look.nodes.length === 0 && look.kinds.length === 0;
}

/**
 * The graph ids a step spotlights: the nodes it names and everything inside them (a
 * workload's pods). Null when the step names nothing, so nothing is dimmed.
 */
export function spotlightIds(look: Spotlight, nodes: readonly { id: string; kind: NodeKind; parent: string | null }[]): Set<string> | null {
  if (spotlightEmpty(look)) return null;
  const out = new Set(nodes.filter((n) => spotlit(look, n)).map((n) => n.id));
  // Members of a spotlit group, however deep (pods of a workload).
  for (let grew = true, i = 0; grew && i < 8; i++) {
    grew = false;
    for (const n of nodes) {
      if (n.parent && out.has(n.parent) && !out.has(n.id) && n.kind !== "namespace") {
        out.add(n.id);
        grew = true;
      }
    }
  }
  return out;
}
