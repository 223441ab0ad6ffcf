import { describe, expect, it } from "vitest";

import type { Validation } from "../generated/Validation";
import type { StringMatch } from "../generated/StringMatch";
import { edgeText, severalRoutes, healthReasonText, keyFields, matchesText, nodeLabel, validationText } from "./explain";
import { edge, node, route } from "./sample";

describe("words made from the typed model", () => {
  it("writes a weight on a route only when it splits or sends part of the requests", () => {
    expect(edgeText(edge("route", "vs/d/a", "svc/d/a", { route: { route: 0, weight: 100, split: false, matches: [] } }))).toBe("");
    expect(edgeText(edge("route", "vs/d/a", "subset/d/a/v1", { route: route(60) }))).toBe("60%");
    expect(edgeText(edge("route", "vs/d/a", "subset/d/a/v1", { route: { route: 0, weight: 100, split: true, matches: [] } }))).toBe("100%");
    expect(edgeText(edge("selects", "svc/d/a", "wl/d/a"))).toBe("");
    // Routes for some requests say which; the catch-all after them takes the others.
    const header = (v: StringMatch) => ({ uri: null, headers: { "end-user": v }, method: null, port: null });
    const jason = { route: 0, weight: 100, split: false, matches: [header({ exact: "jason" })] };
    const toV2 = edge("route", "vs/d/a", "subset/d/a/v2", { route: jason });
    const toV1 = edge("route", "vs/d/a", "subset/d/a/v1", { route: { route: 1, weight: 100, split: false, matches: [] } });
    const several = severalRoutes([toV2, toV1]);
    expect([...several]).toEqual(["vs/d/a"]);
    expect(edgeText(toV2, several)).toBe("end-user=jason");
    expect(edgeText(toV1, several)).toBe("others");
    expect(edgeText(edge("route", "vs/d/a", "subset/d/a/v2", { route: { ...jason, weight: 50, split: true } }), several)).toBe("end-user=jason\n50%");
    // A lone route with matches (Bookinfo's gateway route) needs no words on its edge.
    expect(edgeText(toV2)).toBe("");
    const uri = { route: 0, weight: 100, split: false, matches: [{ uri: { prefix: "/static" }, headers: {}, method: null, port: null }] };
    expect(edgeText(edge("route", "vs/d/a", "subset/d/a/v3", { route: uri }), several)).toBe("/static*");
    // Back to a Service (no subset): no words, the VirtualService's column has no room.
    expect(edgeText(edge("route", "vs/d/a", "svc/d/s", { route: uri }), several)).toBe("");
    const two = { ...jason, matches: [header({ exact: "jason" }), header({ regex: "j.*" })] };
    expect(edgeText(edge("route", "vs/d/a", "subset/d/a/v2", { route: two }), several)).toBe("matching");
  });

  it("names a pod by the end of its name and a subset with its service", () => {
    const pod = node({ id: "pod/d/reviews-v2-5b9c-x7k2p", kind: "pod", namespace: "d", name: "reviews-v2-5b9c-x7k2p" });
    expect(nodeLabel(pod)).toBe("x7k2p");
    const subset = node({ id: "subset/d/reviews/v2", kind: "subset", namespace: "d", name: "v2" });
    subset.details = { kind: "subset", service: "reviews", rule: "reviews", ruleNamespace: "d", host: "reviews", labels: {}, tlsMode: null };
    expect(nodeLabel(subset)).toBe("reviews v2");
  });

  it("words every finding from its parameters", () => {
    const at = { namespace: "default" };
    const says = (v: Validation) => validationText(at, v);
    expect(says({ severity: "error", code: "weights-not-100", route: 0, sum: 90 })).toContain("Route 1 splits traffic with weights that add up to 90");
    expect(says({ severity: "error", code: "subset-selects-no-pods", labels: { version: "v3" } })).toContain("labels version=v3");
    expect(says({ severity: "warning", code: "pod-without-sidecar" })).toContain("namespace default asks for injection");
    expect(
      says({ severity: "error", code: "route-host-not-found", route: 1, host: "reviewz", service: "reviewz", serviceNamespace: "default" }),
    ).toContain("Route 2 sends requests to host reviewz, but there is no service reviewz in namespace default");
    expect(says({ severity: "error", code: "gateway-not-found", namespace: "default", name: "other" })).toContain("gateway default/other");
    expect(says({ severity: "warning", code: "route-unreachable", route: 1, after: 0, hasFault: true })).toBe(
      "Route 2 is never used: route 1 before it matches every request, and Istio takes the first route that matches. Its fault injection has no effect. Put the route with the match first.",
    );
    expect(says({ severity: "warning", code: "overlapping-virtual-services", host: "reviews", others: ["reviews-test"] })).toContain(
      "Other virtual services (reviews-test) also route reviews inside the mesh",
    );
    expect(says({ severity: "info", code: "subset-not-routed" })).toContain("No virtual service sends requests to this subset");
    expect(says({ severity: "warning", code: "strict-with-plain-text-clients", meshWide: false, namespaces: ["legacy"] })).toBe(
      "This namespace requires mutual TLS (STRICT), but pods without a sidecar run in legacy (no injection there): their plain-text requests to this namespace are refused (connection reset).",
    );
  });

  it("says why a node is not ok", () => {
    expect(healthReasonText({ kind: "workload", ready: { ready: 1, total: 3 } }, { reason: "not-ready" })).toBe("1 of 3 replicas ready");
    expect(healthReasonText({ kind: "pod", ready: { ready: 0, total: 2 } }, { reason: "failing", cause: "CrashLoopBackOff" })).toBe("CrashLoopBackOff");
    expect(healthReasonText({ kind: "workload", ready: null }, { reason: "pod", id: "pod/d/ratings-v1-5d9-h7r4c", health: "warning" })).toBe(
      "pod h7r4c: Warning",
    );
  });

  it("lists a namespace's injection and a route's matches in words", () => {
    const ns = node({ id: "ns/d", kind: "namespace", namespace: "d", name: "d" });
    ns.details = { kind: "namespace", injection: { state: "revision", revision: "canary" }, mtls: [{ name: "default", meshWide: true, mode: "STRICT" }] };
    expect(keyFields(ns)).toEqual([
      { label: "Sidecar injection", value: "on for revision canary (istio.io/rev=canary)" },
      { label: "Mutual TLS", value: "STRICT (mesh-wide, default)" },
    ]);
    expect(
      matchesText([
        { uri: { prefix: "/static" }, headers: {}, method: null, port: null },
        { uri: null, headers: { "end-user": { exact: "jason" } }, method: null, port: 9080 },
      ]),
    ).toBe("uri prefix /static or header end-user exact jason and port 9080");
    expect(matchesText([])).toBe("any request");
  });
});
