import { describe, expect, it } from "vitest";

import type { TrafficLink } from "../generated/TrafficLink";
import type { TrafficOverlay } from "../generated/TrafficOverlay";
import { splitSnapshot } from "./sample";
import {
  DROP_AFTER_MS,
  FADED_OPACITY,
  QUIET_AFTER_MS,
  TrafficMemory,
  dotCount,
  drawableLinks,
  explainFlags,
  fadeOpacity,
  linkLabel,
  lockState,
  percentText,
  problemLine,
  rateText,
  redDots,
  splitLabel,
  splitLabels,
  sortVersions,
  versionColour,
} from "./traffic";

function link(source: string | null, target: string, over: Partial<TrafficLink> = {}): TrafficLink {
  return {
    id: `traffic:${source ?? "outside"}->${target}`,
    source,
    target,
    service: null,
    requestsPerSecond: 4.2,
    errorShare: 0,
    responses: [{ code: 200, flags: [], perSecond: 4.2, error: false }],
    latency: { p50Ms: 12, p95Ms: 48, p99Ms: 90 },
    mtlsShare: 1,
    ...over,
  };
}

function overlay(atMs: number, links: TrafficLink[], over: Partial<TrafficOverlay> = {}): { state: "live"; overlay: TrafficOverlay } {
  return { state: "live", overlay: { atMs, windowSecs: 10, links, splits: [], nodes: [], ...over } };
}

const snap = splitSnapshot();
const NODES = new Map(snap.nodes.map((n) => [n.id, n]));
const EDGES = new Map(snap.edges.map((e) => [e.id, e]));
const PP = "wl/default/productpage-v1";
const R2 = "wl/default/reviews-v2";

describe("overlay to drawable links", () => {
  it("draws links whose two ends are on the graph, with rate, dots and lock", () => {
    const m = new TrafficMemory();
    m.apply(
      overlay(1000, [
        link(PP, R2, { requestsPerSecond: 16, mtlsShare: 0.99 }),
        link(null, "ingress/istio-system/istio-ingressgateway"),
        link(PP, "wl/default/nowhere"),
      ]),
    );
    const drawn = drawableLinks(m, NODES, 1000);
    expect(drawn.map((d) => d.id)).toEqual([`traffic:${PP}->${R2}`]);
    expect(drawn[0]).toMatchObject({ source: PP, target: R2, label: "16 rps", dots: 5, red: 0, lock: "mtls", opacity: 1, failing: false });
    expect(drawn[0].labelLong).toBe("16 rps\np95 48 ms");
  });

  it("a link to a service (no pod answered) is marked unanswered", () => {
    const m = new TrafficMemory();
    m.apply(overlay(0, [link(PP, "svc/default/reviews", { errorShare: 1 })]));
    const [d] = drawableLinks(m, NODES, 0);
    expect(d.unanswered).toBe(true);
    expect(d.failing).toBe(true);
    expect(d.label).toBe("4.2 rps · 100% errors");
  });

  it("a link absent from a newer overlay fades after a while, then goes", () => {
    const m = new TrafficMemory();
    const l = link(PP, R2);
    m.apply(overlay(0, [l]));
    m.apply(overlay(3000, []));
    const at3 = drawableLinks(m, NODES, 3000);
    expect(at3[0].opacity).toBe(1);
    expect(at3[0].label).toBe("0 rps");
    expect(at3[0].dots).toBe(0);
    const mid = drawableLinks(m, NODES, 30_000)[0].opacity;
    expect(mid).toBeLessThan(1);
    expect(mid).toBeGreaterThan(FADED_OPACITY);
    expect(drawableLinks(m, NODES, DROP_AFTER_MS)).toEqual([]);
    // Dropped from memory by a later overlay too.
    m.apply(overlay(DROP_AFTER_MS + 1, []));
    expect(m.remembered(0)).toEqual([]);
  });

  it("a link that comes back is full again", () => {
    const m = new TrafficMemory();
    m.apply(overlay(0, [link(PP, R2)]));
    m.apply(overlay(20_000, []));
    m.apply(overlay(30_000, [link(PP, R2)]));
    expect(drawableLinks(m, NODES, 30_000)[0].opacity).toBe(1);
  });

  it("a link present with no requests keeps fading from when it was last busy", () => {
    const m = new TrafficMemory();
    m.apply(overlay(0, [link(PP, R2)]));
    m.apply(overlay(20_000, [link(PP, R2, { requestsPerSecond: 0 })]));
    expect(drawableLinks(m, NODES, 20_000)[0].opacity).toBe(fadeOpacity(20_000));
  });

  it("keeps the last figures while the telemetry is unavailable, and says why", () => {
    const m = new TrafficMemory();
    m.apply(overlay(0, [link(PP, R2)]));
    m.apply({ state: "unavailable", atMs: 3000, problem: { code: "telemetry_starting", message: "m", hint: "wait" } });
    expect(m.problem?.code).toBe("telemetry_starting");
    expect(drawableLinks(m, NODES, 3000)).toHaveLength(1);
    m.apply(overlay(6000, [link(PP, R2)]));
    expect(m.problem).toBeNull();
  });
});

describe("fading by last-seen time", () => {
  it("is full, then fades linearly to the faintest, then zero", () => {
    expect(fadeOpacity(0)).toBe(1);
    expect(fadeOpacity(QUIET_AFTER_MS - 1)).toBe(1);
    expect(fadeOpacity(QUIET_AFTER_MS)).toBe(1);
    expect(fadeOpacity(DROP_AFTER_MS - 1)).toBeCloseTo(FADED_OPACITY, 1);
    expect(fadeOpacity(DROP_AFTER_MS)).toBe(0);
    expect(fadeOpacity(20_000)).toBeGreaterThan(fadeOpacity(40_000));
  });
});

describe("dots from the rate", () => {
  it("none when quiet, one more per doubling, at most eight", () => {
    expect(dotCount(0)).toBe(0);
    expect(dotCount(NaN)).toBe(0);
    expect(dotCount(0.2)).toBe(1);
    expect(dotCount(1)).toBe(1);
    expect(dotCount(2)).toBe(2);
    expect(dotCount(4)).toBe(3);
    expect(dotCount(100)).toBe(8);
    expect(dotCount(10_000)).toBe(8);
  });

  it("red dots follow the error share, at least one when any failed", () => {
    expect(redDots(4, 0)).toBe(0);
    expect(redDots(4, 0.01)).toBe(1);
    expect(redDots(4, 0.5)).toBe(2);
    expect(redDots(4, 1)).toBe(4);
    expect(redDots(0, 1)).toBe(0);
  });
});

describe("lock state", () => {
  it("closed near 1, open near 0, mixed between, none when unknown", () => {
    expect(lockState(1)).toBe("mtls");
    expect(lockState(0.97)).toBe("mtls");
    expect(lockState(0)).toBe("plain");
    expect(lockState(0.03)).toBe("plain");
    expect(lockState(0.5)).toBe("mixed");
    expect(lockState(null)).toBe("unknown");
  });
});

describe("labels", () => {
  it("rates, shares and p95", () => {
    expect(rateText(4.24)).toBe("4.2 rps");
    expect(rateText(0.05)).toBe("< 0.1 rps");
    expect(rateText(123.4)).toBe("123 rps");
    expect(rateText(0)).toBe("0 rps");
    expect(percentText(0.583)).toBe("58%");
    expect(percentText(0.004)).toBe("0.4%");
    expect(linkLabel(link(PP, R2, { errorShare: 0.12 }), true)).toBe("4.2 rps · 12% errors\np95 48 ms");
    expect(linkLabel(link(PP, R2, { latency: { p50Ms: null, p95Ms: null, p99Ms: null } }), true)).toBe("4.2 rps");
  });

  it("a split edge says what is set and what is seen", () => {
    const seen = { routeEdge: "r", subset: "s", weight: 60, observedShare: 0.58 };
    const r60 = { route: 0, weight: 60, split: true, matches: [] };
    expect(splitLabel(r60, undefined)).toBe("60%");
    expect(splitLabel(r60, seen)).toBe("60% set\n58% seen");
    expect(splitLabel(r60, { ...seen, observedShare: null })).toBe("60% set\nnone seen");
  });

  it("a route for some requests says whose, and the route after it takes the others", () => {
    const seen = { routeEdge: "r", subset: "s", weight: 100, observedShare: 0.1 };
    const jason = { route: 0, weight: 100, split: false, matches: [{ uri: null, headers: { "end-user": { exact: "jason" } }, method: null, port: null }] };
    expect(splitLabel(jason, seen, true)).toBe("end-user=jason\n10% seen");
    expect(splitLabel({ route: 1, weight: 100, split: false, matches: [] }, { ...seen, observedShare: 0.9 }, true)).toBe("others\n90% seen");
    expect(splitLabel({ ...jason, weight: 50, split: true }, seen, true)).toBe("end-user=jason\n50% set\n10% seen");
    // A VirtualService's only route takes whatever reaches it: nothing to tell apart.
    expect(splitLabel(jason, seen, false)).toBe("100% set\n10% seen");
  });

  it("split labels go to the route edges the overlay names", () => {
    const m = new TrafficMemory();
    const v1 = "route:vs/default/reviews->subset/default/reviews/v1#0.0";
    m.apply(
      overlay(0, [], {
        splits: [
          { routeEdge: v1, subset: "subset/default/reviews/v1", weight: 60, observedShare: 0.62 },
          { routeEdge: "route:gone", subset: "x", weight: 40, observedShare: 0.38 },
        ],
      }),
    );
    expect([...splitLabels(m, EDGES)]).toEqual([[v1, "60% set\n62% seen"]]);
  });

  it("explains Envoy's flags in words", () => {
    expect(explainFlags(["UO"])).toEqual(["UO: circuit breaker open: too many connections or pending requests"]);
    for (const f of ["UH", "UF", "URX", "UT", "DI", "FI", "NR"]) expect(explainFlags([f])[0]).not.toContain("an Envoy response flag");
    expect(explainFlags(["ZZ"])).toEqual(["ZZ: an Envoy response flag"]);
  });

  it("words the unavailable line by the problem's code", () => {
    expect(problemLine({ code: "telemetry_missing", message: "x", hint: "Install it" })).toEqual({
      text: "No traffic shown: Prometheus is not installed in this cluster.",
      hint: "Install it",
    });
    expect(problemLine({ code: "telemetry_slow", message: "x", hint: null }).text).toContain("slow");
    expect(problemLine({ code: "telemetry_bad_response", message: "It said nonsense.", hint: null }).text).toBe("No traffic shown: It said nonsense.");
  });
});

describe("version colours", () => {
  it("are given in version order, numbers compared as numbers, the same for the same set", () => {
    expect(sortVersions(["v10", "v2", "v1", "v2"])).toEqual(["v1", "v2", "v10"]);
    expect(versionColour("v1", ["v3", "v1", "v2"])).toEqual(versionColour("v1", ["v1"]));
    expect(versionColour("v2", ["v1", "v2"]).fill).not.toBe(versionColour("v1", ["v1", "v2"]).fill);
  });
});
