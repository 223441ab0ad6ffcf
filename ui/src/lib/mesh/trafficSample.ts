// Made-up traffic for the preview and the tests: Bookinfo under load, reviews split
// 60/30/10, as the telemetry would report it. Never shown inside the app.
import type { HistoryPoint } from "../generated/HistoryPoint";
import type { ServiceHistory } from "../generated/ServiceHistory";
import type { TrafficLink } from "../generated/TrafficLink";
import type { TrafficOverlay } from "../generated/TrafficOverlay";

const R = "route:vs/default/reviews->subset/default/reviews/";

function link(source: string | null, target: string, service: string | null, rps: number, over: Partial<TrafficLink> = {}): TrafficLink {
  const errorShare = over.errorShare ?? 0;
  return {
    id: `traffic:${source ?? "outside"}->${target}`,
    source,
    target,
    service,
    requestsPerSecond: rps,
    errorShare,
    responses:
      errorShare > 0
        ? [
            { code: 200, flags: [], perSecond: rps * (1 - errorShare), error: false },
            { code: 503, flags: ["UO"], perSecond: rps * errorShare, error: true },
          ]
        : [{ code: 200, flags: [], perSecond: rps, error: false }],
    latency: { p50Ms: 8, p95Ms: 31, p99Ms: 64 },
    mtlsShare: 1,
    ...over,
  };
}

/**
 * `rate`: requests per second into the product page; `seen`: the reviews shares observed;
 * `ratingsErrors`: the share of ratings calls that fail (a fault, a tripped breaker).
 */
export function sampleOverlay(atMs: number, opts: { rate?: number; seen?: [number, number, number]; ratingsErrors?: number } = {}): TrafficOverlay {
  const rate = opts.rate ?? 10;
  const [s1, s2, s3] = opts.seen ?? [0.58, 0.31, 0.11];
  const err = opts.ratingsErrors ?? 0;
  const pp = "wl/default/productpage-v1";
  const links = [
    link("ingress/istio-system/istio-ingressgateway", pp, "svc/default/productpage", rate),
    link(pp, "wl/default/details-v1", "svc/default/details", rate, { mtlsShare: 0 }),
    link(pp, "wl/default/reviews-v1", "svc/default/reviews", rate * s1),
    link(pp, "wl/default/reviews-v2", "svc/default/reviews", rate * s2),
    link(pp, "wl/default/reviews-v3", "svc/default/reviews", rate * s3),
    link("wl/default/reviews-v2", "wl/default/ratings-v1", "svc/default/ratings", rate * s2, { errorShare: err, mtlsShare: null }),
    link("wl/default/reviews-v3", "wl/default/ratings-v1", "svc/default/ratings", rate * s3, { errorShare: err, mtlsShare: null }),
    link(null, "ingress/istio-system/istio-ingressgateway", null, rate, { mtlsShare: null }),
  ].sort((a, b) => (a.id < b.id ? -1 : 1));
  const ratingsIn = rate * (s2 + s3);
  return {
    atMs,
    windowSecs: 10,
    links,
    splits: [
      { routeEdge: `${R}v1#0.0`, subset: "subset/default/reviews/v1", weight: 60, observedShare: s1 },
      { routeEdge: `${R}v2#0.1`, subset: "subset/default/reviews/v2", weight: 30, observedShare: s2 },
      { routeEdge: `${R}v3#0.2`, subset: "subset/default/reviews/v3", weight: 10, observedShare: s3 },
    ],
    nodes: [
      {
        node: "wl/default/productpage-v1",
        inboundPerSecond: rate,
        inboundErrorShare: 0,
        outboundPerSecond: rate * 2,
        outboundErrorShare: 0,
        inboundResponses: [{ code: 200, flags: [], perSecond: rate, error: false }],
        inboundLatency: { p50Ms: 21, p95Ms: 64, p99Ms: 120 },
      },
      {
        node: "wl/default/ratings-v1",
        inboundPerSecond: ratingsIn,
        inboundErrorShare: err,
        outboundPerSecond: 0,
        outboundErrorShare: 0,
        inboundResponses:
          err > 0
            ? [
                { code: 200, flags: [], perSecond: ratingsIn * (1 - err), error: false },
                { code: 503, flags: ["UO"], perSecond: ratingsIn * err, error: true },
              ]
            : [{ code: 200, flags: [], perSecond: ratingsIn, error: false }],
        inboundLatency: { p50Ms: 3, p95Ms: 9, p99Ms: 14 },
      },
    ],
  };
}

/**
 * The last `minutes` of reviews: traffic from 60/30/10 seen converging from an even split,
 * errors appearing towards the end, one point every `stepSecs`.
 */
export function sampleHistory(namespace: string, name: string, minutes: number, nowMs: number, stepSecs = 5): ServiceHistory {
  const n = Math.max(2, Math.floor((minutes * 60) / stepSecs));
  const points: HistoryPoint[] = [];
  for (let i = 0; i < n; i++) {
    const t = i / (n - 1);
    const rate = i < n * 0.15 ? 0 : 18 + 4 * Math.sin(i / 3);
    const conv = Math.min(1, Math.max(0, (t - 0.15) * 2));
    const w = [1 / 3 + (0.6 - 1 / 3) * conv, 1 / 3 + (0.3 - 1 / 3) * conv, 1 / 3 + (0.1 - 1 / 3) * conv];
    points.push({
      atMs: nowMs - (n - 1 - i) * stepSecs * 1000,
      requestsPerSecond: rate,
      errorShare: rate === 0 ? null : t > 0.8 ? 0.12 : 0,
      p50Ms: rate === 0 ? null : 9 + 2 * Math.sin(i),
      p95Ms: rate === 0 ? null : 38 + 8 * Math.sin(i / 2) + (t > 0.8 ? 40 : 0),
      versions: rate === 0 ? [] : ["v1", "v2", "v3"].map((version, k) => ({ version, requestsPerSecond: rate * w[k] })),
    });
  }
  return { namespace, name, stepSecs, points };
}
