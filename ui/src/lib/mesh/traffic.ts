// Observed traffic as the graph draws it: the last overlays from the mesh stream, remembered
// with when each link was last seen, turned into what to draw (labels, dots, locks, fading).
// Plain TypeScript (no Cytoscape, no DOM), so every rule is tested on its own.
import type { GraphEdge } from "../generated/GraphEdge";
import type { GraphNode } from "../generated/GraphNode";
import type { LatencyPercentiles } from "../generated/LatencyPercentiles";
import type { NodeTraffic } from "../generated/NodeTraffic";
import type { ResponseRate } from "../generated/ResponseRate";
import type { RouteEdge } from "../generated/RouteEdge";
import type { SplitSeen } from "../generated/SplitSeen";
import type { TelemetryProblem } from "../generated/TelemetryProblem";
import type { TrafficLink } from "../generated/TrafficLink";
import type { TrafficState } from "../generated/TrafficState";

import { routeCondition, saysWhichRequests, severalRoutes } from "./explain";

/** A link with no requests for this long starts to fade... */
export const QUIET_AFTER_MS = 6_000;
/** ...and is dropped this long after it was last seen with requests. */
export const DROP_AFTER_MS = 60_000;
/** The faintest a quiet link gets before it goes. */
export const FADED_OPACITY = 0.25;
/** Below this rate a link counts as quiet (a window's average decays towards 0). */
export const QUIET_RPS = 0.01;
/** At most this many dots on one link, however busy. */
export const MAX_DOTS = 8;

interface Remembered {
  link: TrafficLink;
  /** When the link last had requests (the overlay's time, ms since the epoch). */
  lastSeenMs: number;
}

/** What the telemetry says now, kept across overlays so quiet links can fade out. */
export class TrafficMemory {
  private readonly links = new Map<string, Remembered>();
  /** Configured and observed shares by route edge id, from the last overlay. */
  splits = new Map<string, SplitSeen>();
  /** Traffic in and out by node id, from the last overlay. */
  nodes = new Map<string, NodeTraffic>();
  /** Set while the telemetry cannot be read; the last figures stay (fading). */
  problem: TelemetryProblem | null = null;
  /** Time of the last overlay (or problem); null before the first. */
  atMs: number | null = null;
  windowSecs = 0;
  /** This machine's clock minus the backend's, from the last event (fading uses the backend's). */
  private skewMs = 0;

  /** `receivedMs`: this machine's time when the event arrived (the event's own time by default). */
  apply(state: TrafficState, receivedMs?: number): void {
    const at = state.state === "unavailable" ? state.atMs : state.overlay.atMs;
    this.skewMs = receivedMs === undefined ? 0 : receivedMs - at;
    if (state.state === "unavailable") {
      this.problem = state.problem;
      this.atMs = state.atMs;
      return;
    }
    const o = state.overlay;
    this.problem = null;
    this.atMs = o.atMs;
    this.windowSecs = o.windowSecs;
    for (const link of o.links) {
      const had = this.links.get(link.id);
      const busy = link.requestsPerSecond >= QUIET_RPS;
      // A quiet link keeps the time it was last busy, so it fades from then; one first seen
      // quiet starts faded.
      const lastSeenMs = busy ? o.atMs : had ? had.lastSeenMs : o.atMs - QUIET_AFTER_MS;
      this.links.set(link.id, { link, lastSeenMs });
    }
    const present = new Set(o.links.map((l) => l.id));
    for (const [id, r] of this.links) {
      if (present.has(id)) continue;
      if (o.atMs - r.lastSeenMs >= DROP_AFTER_MS) this.links.delete(id);
      // Absent from the newer overlay: no requests now.
      else if (r.link.requestsPerSecond !== 0) this.links.set(id, { ...r, link: quiet(r.link) });
    }
    this.splits = new Map(o.splits.map((s) => [s.routeEdge, s]));
    this.nodes = new Map(o.nodes.map((n) => [n.node, n]));
  }

  /** Every remembered link not yet dropped at `nowMs`, sorted by id. */
  remembered(nowMs: number): { link: TrafficLink; lastSeenMs: number }[] {
    return [...this.links.values()]
      .filter((r) => nowMs - r.lastSeenMs < DROP_AFTER_MS)
      .sort((a, b) => (a.link.id < b.link.id ? -1 : a.link.id > b.link.id ? 1 : 0));
  }

  /** The backend's time for this machine's `wallMs`. */
  timeAt(wallMs: number): number {
    return wallMs - this.skewMs;
  }

  link(id: string): TrafficLink | null {
    return this.links.get(id)?.link ?? null;
  }

  /** The links into and out of a node. */
  linksOf(node: string, nowMs: number): { inbound: TrafficLink[]; outbound: TrafficLink[] } {
    const all = this.remembered(nowMs).map((r) => r.link);
    return { inbound: all.filter((l) => l.target === node), outbound: all.filter((l) => l.source === node) };
  }
}

function quiet(link: TrafficLink): TrafficLink {
  return { ...link, requestsPerSecond: 0, errorShare: 0, responses: [], latency: { p50Ms: null, p95Ms: null, p99Ms: null } };
}

/** How visible a link is, by how long it has been quiet: 1 while busy, then fading, 0 when gone. */
export function fadeOpacity(quietMs: number): number {
  if (quietMs < QUIET_AFTER_MS) return 1;
  if (quietMs >= DROP_AFTER_MS) return 0;
  const t = (quietMs - QUIET_AFTER_MS) / (DROP_AFTER_MS - QUIET_AFTER_MS);
  return Math.round((1 - t * (1 - FADED_OPACITY)) * 100) / 100;
}

/** Dots moving along a link at once: none when quiet, then one more for each doubling of the rate. */
export function dotCount(rps: number): number {
  if (!(rps >= QUIET_RPS)) return 0;
  return Math.max(1, Math.min(MAX_DOTS, Math.round(1 + Math.log2(Math.max(rps, 1)))));
}

/** How many of `count` dots are red: at least one when any request failed. */
export function redDots(count: number, errorShare: number): number {
  if (count === 0 || !(errorShare > 0)) return 0;
  return Math.min(count, Math.max(1, Math.round(count * errorShare)));
}

export type LockState = "mtls" | "plain" | "mixed" | "unknown";

/** A closed lock for mutual TLS, an open one for plain text, "mixed" in between. */
export function lockState(mtlsShare: number | null): LockState {
  if (mtlsShare === null || Number.isNaN(mtlsShare)) return "unknown";
  if (mtlsShare >= 0.95) return "mtls";
  if (mtlsShare <= 0.05) return "plain";
  return "mixed";
}

export const LOCK_WORD: Record<LockState, string> = {
  mtls: "mutual TLS (encrypted, both sides proven)",
  plain: "plain text (not encrypted)",
  mixed: "partly mutual TLS, partly plain text",
  unknown: "encryption unknown (no sidecar reported it)",
};

/** "4.2 rps", "0.3 rps", "120 rps"; "< 0.1 rps" for a trickle, "0 rps" when quiet. */
export function rateText(rps: number): string {
  if (!(rps > 0)) return "0 rps";
  if (rps < 0.1) return "< 0.1 rps";
  if (rps < 10) return `${(Math.round(rps * 10) / 10).toFixed(1)} rps`;
  return `${Math.round(rps)} rps`;
}

/** "12%", "0.5%"; rounded so that a share above 0 never reads as 0%. */
export function percentText(share: number): string {
  const p = share * 100;
  if (p > 0 && p < 1) return `${Math.max(0.1, Math.round(p * 10) / 10)}%`;
  return `${Math.round(p)}%`;
}

/** "230 ms", "1.2 s"; "–" when unknown. */
export function msText(ms: number | null): string {
  if (ms === null || !Number.isFinite(ms)) return "–";
  if (ms < 10) return `${(Math.round(ms * 10) / 10).toString()} ms`;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  return `${(Math.round(ms / 100) / 10).toString()} s`;
}

/** Errors below this share are not called out on the graph (the side panel lists them). */
export const ERROR_SHOWN = 0.005;

/** The label of a traffic link: the rate, the error share when any, p95 when asked. */
export function linkLabel(link: TrafficLink, withP95: boolean): string {
  const parts = [rateText(link.requestsPerSecond)];
  if (link.errorShare >= ERROR_SHOWN) parts.push(`${percentText(link.errorShare)} errors`);
  let text = parts.join(" · ");
  if (withP95 && link.latency.p95Ms !== null) text += `\np95 ${msText(link.latency.p95Ms)}`;
  return text;
}

/**
 * A weighted route edge's label: "60% set, 58% seen" once the telemetry knows. A route for
 * some of the requests says which first ("end-user=jason", "others"); its weight is left out
 * when it sends all of them to one place. The share seen is of all the VirtualService's
 * requests.
 */
export function splitLabel(route: RouteEdge, seen: SplitSeen | undefined, severalRoutes = false): string {
  const cond = severalRoutes ? routeCondition(route) : null;
  const lines = cond ? [cond] : [];
  if (!cond || route.split || route.weight !== 100) lines.push(seen ? `${route.weight}% set` : `${route.weight}%`);
  if (seen) lines.push(seen.observedShare === null ? "none seen" : `${percentText(seen.observedShare)} seen`);
  return lines.join("\n");
}

export interface DrawnLink {
  id: string;
  source: string;
  target: string;
  label: string;
  /** The label with p95, for hover and selection. */
  labelLong: string;
  rps: number;
  errorShare: number;
  /** Errors worth colouring the link for. */
  failing: boolean;
  dots: number;
  red: number;
  lock: LockState;
  opacity: number;
  /** The requests reached no pod: the target is the service. */
  unanswered: boolean;
}

/**
 * What to draw at `nowMs`: links whose two ends are on the graph. Links from outside the
 * mesh (no calling sidecar) have no node to start from; their figures are in the side panel
 * of the node they reach.
 */
export function drawableLinks(memory: TrafficMemory, nodes: ReadonlyMap<string, GraphNode>, nowMs: number): DrawnLink[] {
  const out: DrawnLink[] = [];
  for (const { link, lastSeenMs } of memory.remembered(nowMs)) {
    if (!link.source || !nodes.has(link.source) || !nodes.has(link.target) || link.source === link.target) continue;
    const opacity = fadeOpacity(nowMs - lastSeenMs);
    if (opacity <= 0) continue;
    const dots = dotCount(link.requestsPerSecond);
    out.push({
      id: link.id,
      source: link.source,
      target: link.target,
      label: linkLabel(link, false),
      labelLong: linkLabel(link, true),
      rps: link.requestsPerSecond,
      errorShare: link.errorShare,
      failing: link.errorShare >= ERROR_SHOWN,
      dots,
      red: redDots(dots, link.errorShare),
      lock: lockState(link.mtlsShare),
      opacity,
      unanswered: nodes.get(link.target)?.kind === "service",
    });
  }
  return out;
}

/** New labels of weighted route edges that have a split seen (edge id -> text). */
export function splitLabels(memory: TrafficMemory, edges: ReadonlyMap<string, GraphEdge>): Map<string, string> {
  const out = new Map<string, string>();
  const several = severalRoutes(edges.values());
  for (const [id, seen] of memory.splits) {
    const e = edges.get(id);
    if (e?.route) out.set(id, splitLabel(e.route, seen, saysWhichRequests(e, several)));
  }
  return out;
}

/** What Envoy's response flags mean, in words a newcomer follows. */
export const FLAG_EXPLANATIONS: Record<string, string> = {
  UO: "circuit breaker open: too many connections or pending requests",
  UH: "no healthy pod to send to (all ejected or none ready)",
  UF: "could not connect to the pod",
  URX: "gave up after the allowed retries",
  UT: "the pod took longer than the route's timeout",
  UC: "the connection to the pod closed before an answer",
  UR: "the pod reset the connection",
  DI: "delayed on purpose by a fault injection",
  FI: "aborted on purpose by a fault injection",
  NR: "no route matched the request",
  NC: "no cluster configured for the destination",
  DC: "the caller closed the connection",
  LR: "reset by the sidecar itself",
  RL: "rate limited",
  UAEX: "refused by an external authorisation service",
  DPE: "the request was not valid HTTP",
  SI: "stream idle timeout",
};

/** Each flag with its meaning; an unknown flag is named as it is. */
export function explainFlags(flags: readonly string[]): string[] {
  return flags.map((f) => (FLAG_EXPLANATIONS[f] ? `${f}: ${FLAG_EXPLANATIONS[f]}` : `${f}: an Envoy response flag`));
}

/** "503 UO", "0 (no response) URX", "200". */
export function responseText(r: ResponseRate): string {
  const code = r.code === 0 ? "no response" : String(r.code);
  return r.flags.length ? `${code} ${r.flags.join(",")}` : code;
}

/** p50 / p95 / p99 in one line. */
export function latencyText(l: LatencyPercentiles): string {
  return `p50 ${msText(l.p50Ms)} · p95 ${msText(l.p95Ms)} · p99 ${msText(l.p99Ms)}`;
}

/** One line for the graph when there are no figures, worded by the problem's code. */
export function problemLine(p: TelemetryProblem): { text: string; hint: string | null } {
  switch (p.code) {
    case "telemetry_missing":
      return { text: "No traffic shown: Prometheus is not installed in this cluster.", hint: p.hint };
    case "telemetry_starting":
      return { text: "No traffic shown yet: Prometheus is still starting.", hint: p.hint };
    case "telemetry_slow":
      return { text: "Traffic figures are late: Prometheus is slow to answer.", hint: p.hint };
    default:
      return { text: `No traffic shown: ${p.message}`, hint: p.hint };
  }
}

/**
 * Colours per version, from Okabe and Ito's palette (told apart with the common kinds of
 * colour blindness), in version order; the graph's split labels and the Traffic charts use
 * the same. Red is left for errors.
 */
export const VERSION_COLOURS: readonly { fill: string; text: string }[] = [
  { fill: "#0072b2", text: "#ffffff" },
  { fill: "#e69f00", text: "#000000" },
  { fill: "#007a5a", text: "#ffffff" },
  { fill: "#cc79a7", text: "#000000" },
  { fill: "#56b4e9", text: "#000000" },
  { fill: "#f0e442", text: "#000000" },
];

/** Versions in the order colours are given: v1, v2, ... v10 (numbers compared as numbers). */
export function sortVersions(versions: Iterable<string>): string[] {
  return [...new Set(versions)].sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
}

export function versionColour(version: string, all: readonly string[]): { fill: string; text: string } {
  const i = sortVersions(all).indexOf(version);
  return VERSION_COLOURS[(i < 0 ? 0 : i) % VERSION_COLOURS.length];
}
