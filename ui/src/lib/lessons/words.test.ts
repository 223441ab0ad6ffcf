import { describe, expect, it } from "vitest";

import { actionText, checkText, observationText, outcomeLine, spotlit } from "./words";

describe("lesson words", () => {
  it("says what an action does", () => {
    expect(actionText({ inject: { namespace: "default", enabled: true, restart: true } })).toBe("Turn on sidecar injection in default and restart its pods");
    expect(actionText({ weights: { service: "reviews", namespace: "default", weights: { v1: 60, v2: 30, v3: 10 } } })).toBe("Split reviews' requests: v1 60%, v2 30%, v3 10%");
    expect(actionText({ route: { service: "reviews", namespace: "default", to: "v2", user: "jason", header: null, otherwise: "v1" } })).toBe(
      "Send jason's requests to reviews v2, everyone else's to v1",
    );
    expect(actionText({ mtls: { scope: { type: "namespace", namespace: "default" }, mode: "STRICT" } })).toBe("Set mutual TLS to STRICT for default");
    expect(actionText("setup")).toBe("Start the playground");
  });

  it("writes the observed figures with what the check needs", () => {
    const check = { split: { namespace: "default", service: "reviews", version: "v1", atLeast: 85 } };
    expect(checkText(check)).toBe("At least 85% of reviews' requests go to v1");
    const seen = { type: "split" as const, answeredPerSecond: 9.5, versions: [{ version: "v1", percent: 87.4, expected: null }, { version: "v2", percent: 12.6, expected: null }] };
    expect(observationText(seen, check)).toBe("Requests went to v1 87%, v2 13%; needs at least 85% to v1.");
    expect(observationText({ type: "sidecars", withSidecar: 5, pods: 7, without: ["ratings-v1-x", "details-v1-y"] }, null)).toBe(
      "5 of 7 pods run a sidecar; still without: ratings-v1-x and details-v1-y.",
    );
    expect(outcomeLine({ passed: true, atMs: 0, windowSecs: 15, observed: { type: "traffic", perSecond: 2 } }, { traffic: { namespace: "default", service: "productpage", minPerSecond: 0.5 } })).toBe(
      "Done: 2.0 requests a second reach the service (needs at least 0.5 requests a second).",
    );
    expect(outcomeLine(null, null)).toBe("Nothing to check: look at the graph.");
  });

  it("says what the two curl clients got", () => {
    const check = { plainTextRefused: { namespace: "default", service: "productpage" } };
    expect(checkText(check)).toBe("A client outside the mesh is refused by productpage, one inside still gets answers");
    expect(
      observationText({ type: "clients", outsideStatus: null, outsideError: "curl: (56) Recv failure: Connection reset by peer\n", insideStatus: 200 }, check),
    ).toBe("From outside the mesh: no answer (Recv failure: Connection reset by peer); from inside: HTTP 200.");
    expect(observationText({ type: "clients", outsideStatus: 200, outsideError: "", insideStatus: 200 }, check)).toBe(
      "From outside the mesh: HTTP 200; from inside: HTTP 200.",
    );
  });

  it("spotlights nodes by id, by prefix and by kind", () => {
    const look = { nodes: ["vs/default/reviews", "wl/default/reviews-"], kinds: ["subset" as const] };
    expect(spotlit(look, { id: "vs/default/reviews", kind: "virtual-service" })).toBe(true);
    expect(spotlit(look, { id: "wl/default/reviews-v2", kind: "workload" })).toBe(true);
    expect(spotlit(look, { id: "subset/default/reviews/v1", kind: "subset" })).toBe(true);
    expect(spotlit(look, { id: "vs/default/reviewsx", kind: "virtual-service" })).toBe(false);
    expect(spotlit(look, { id: "svc/default/reviews", kind: "service" })).toBe(false);
  });
});

describe("spotlightIds", () => {
  it("takes the named nodes and what is inside them, but not a whole namespace by accident", async () => {
    const { spotlightIds } = await import("./words");
    const nodes = [
      { id: "ns/default", kind: "namespace" as const, parent: null },
      { id: "wl/default/reviews-v1", kind: "workload" as const, parent: "ns/default" },
      { id: "pod/default/reviews-v1-abc", kind: "pod" as const, parent: "wl/default/reviews-v1" },
      { id: "svc/default/reviews", kind: "service" as const, parent: "ns/default" },
    ];
    expect(spotlightIds({ nodes: [], kinds: [] }, nodes)).toBeNull();
    expect([...spotlightIds({ nodes: ["wl/default/reviews-"], kinds: [] }, nodes)!].sort()).toEqual(["pod/default/reviews-v1-abc", "wl/default/reviews-v1"]);
  });
});
