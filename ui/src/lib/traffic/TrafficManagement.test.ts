// The traffic-management panels against the in-memory backend: the form's mistakes are named
// and nothing is sent, the dry run shows YAML and kubectl, Apply writes, Undo puts back, and
// every refusal shows the error's message and hint.
import { fireEvent, render, screen, waitFor, within } from "@testing-library/svelte";
import { describe, expect, it, vi } from "vitest";

import { fakeBackend } from "../../test/fakeBackend";
import { backendContext } from "../backend";
import DetailsPanel from "../mesh/DetailsPanel.svelte";
import { teachingSnapshot } from "../mesh/sample";
import TrafficManagement from "./TrafficManagement.svelte";

function show(props: Record<string, unknown> = {}, backend = fakeBackend()) {
  render(TrafficManagement, { props, context: backendContext(backend) });
  return backend;
}

const input = (id: string) => screen.getByTestId(id) as HTMLInputElement;
const button = (id: string) => screen.getByTestId(id) as HTMLButtonElement;

describe("TrafficManagement", () => {
  it("injects the 7 s delay for jason on ratings: preview, the lesson, apply, undo", async () => {
    const backend = show({ initial: "fault" });
    await fireEvent.change(screen.getByTestId("tm-service"), { target: { value: "ratings" } });
    const yaml = await screen.findByTestId("fault-yaml", {}, { timeout: 2000 });
    expect(yaml.textContent).toContain("fixedDelay: 7s");
    expect(yaml.textContent).toContain("exact: jason");
    expect(backend.injectFault).toHaveBeenLastCalledWith(
      { service: "ratings", namespace: "default", fault: { type: "delay", delay: "7s" }, percent: 100, user: "jason", header: null },
      true,
    );
    expect(screen.getByTestId("fault-kubectl").textContent).toContain("kubectl apply --server-side");
    expect(screen.getByTestId("fault-effect").textContent).toContain("reviews are currently unavailable");

    await fireEvent.click(button("fault-apply"));
    await waitFor(() => expect(backend.injectFault).toHaveBeenLastCalledWith(expect.anything(), false));
    const applied = await screen.findByTestId("fault-applied");
    expect(applied.textContent).toContain("Wrote VirtualService default/ratings");
    expect(applied.textContent).toContain("after about 6 s");

    // Changing the form after Apply shows what Apply would do now.
    await fireEvent.input(input("fault-delay"), { target: { value: "2s" } });
    await waitFor(() => expect(screen.queryByTestId("fault-applied")).toBeNull());
    await waitFor(() => expect(screen.getByTestId("fault-yaml").textContent).toContain("fixedDelay: 2s"), { timeout: 2000 });
    expect(screen.getByTestId("fault-preview-note").textContent).toContain("take 2 s longer");
    await fireEvent.input(input("fault-delay"), { target: { value: "7s" } });

    await fireEvent.click(button("fault-undo"));
    const undone = await screen.findByTestId("fault-undone");
    expect(undone.textContent).toContain("Undid the last fault change");
    expect(undone.textContent).toContain("deleted VirtualService default/ratings");
    expect(button("fault-undo").disabled).toBe(true);
  });

  it("names each wrong field, sends nothing, and keeps Apply off", async () => {
    const backend = show({ initial: "fault", service: "ratings" });
    await waitFor(() => expect(backend.injectFault).toHaveBeenCalled(), { timeout: 2000 });
    backend.injectFault.mockClear();
    await fireEvent.input(input("fault-delay"), { target: { value: "7" } });
    await fireEvent.input(input("fault-percent"), { target: { value: "150" } });
    expect(screen.getByTestId("fault-delay-error").textContent).toBe("Add a unit: 7s for seconds or 7ms for milliseconds.");
    expect(screen.getByTestId("fault-percent-error").textContent).toBe("A percentage is at most 100.");
    expect(input("fault-percent").getAttribute("aria-invalid")).toBe("true");
    expect(button("fault-apply").disabled).toBe(true);
    await new Promise((r) => setTimeout(r, 400));
    expect(backend.injectFault).not.toHaveBeenCalled();
    expect(screen.queryByTestId("fault-yaml")).toBeNull();
  });

  it("shows a refused apply's message and hint", async () => {
    const backend = fakeBackend();
    backend.routeTraffic.mockImplementation(async (_plan, dryRun) => {
      if (!dryRun) throw { code: "no_ready_pods", message: "reviews v2 has no ready pods", hint: "Wait until its pod is ready (the Mesh screen shows it), then try again." };
      return { action: "route", appliedObjects: [], deletedObjects: [], yaml: "kind: VirtualService\n", kubectl: "kubectl apply", applied: false };
    });
    show({ initial: "route", service: "reviews" }, backend);
    await fireEvent.click(await screen.findByTestId("route-mode-user"));
    await screen.findByTestId("route-yaml", {}, { timeout: 2000 });
    expect((screen.getByTestId("route-to") as HTMLSelectElement).value).toBe("v2");
    expect(button("route-apply").textContent).toContain("Send jason to v2");
    await fireEvent.click(button("route-apply"));
    const e = await screen.findByTestId("route-error");
    expect(e.textContent).toContain("reviews v2 has no ready pods");
    expect(e.textContent).toContain("Wait until its pod is ready");
  });

  it("a refused preview (unknown version) shows the backend's words", async () => {
    const backend = show({ initial: "route", service: "ratings" });
    await waitFor(() => expect(backend.routeTraffic).toHaveBeenCalled(), { timeout: 2000 });
    await screen.findByTestId("route-yaml");
    backend.routeTraffic.mockRejectedValueOnce({ code: "unknown_version", message: "ratings has no version v9 (it has v1)", hint: "Pick one of v1." });
    await fireEvent.click(screen.getByTestId("route-mode-user"));
    const e = await screen.findByTestId("route-error", {}, { timeout: 2000 });
    expect(e.textContent).toContain("ratings has no version v9");
    expect(e.textContent).toContain("Pick one of v1.");
  });

  it("warns when the breaker's limits are below the running generator's concurrency", async () => {
    show({ initial: "breaker", service: "productpage", concurrency: 10 });
    const warn = await screen.findByTestId("breaker-below-concurrency");
    expect(warn.textContent).toContain("keeps 10 requests in flight, more than max connections 1 and pending requests 1");
    const yaml = await screen.findByTestId("breaker-yaml", {}, { timeout: 2000 });
    expect(yaml.textContent).toContain("maxConnections: 1");
  });

  it("sets STRICT on a namespace and says what it means", async () => {
    const backend = show({ initial: "mtls" });
    expect(screen.getByTestId("mtls-meaning").textContent).toContain("a client without a sidecar is refused");
    await screen.findByTestId("mtls-yaml", {}, { timeout: 2000 });
    expect(screen.getByTestId("mtls-yaml").textContent).toContain("mode: STRICT");
    await fireEvent.click(button("mtls-apply"));
    expect(backend.setMtls).toHaveBeenLastCalledWith({ scope: { type: "namespace", namespace: "default" }, mode: "STRICT" }, false);
    expect((await screen.findByTestId("mtls-applied")).textContent).toContain("PeerAuthentication default/default");
  });

  it("tries a client outside and one inside the mesh, before and after STRICT", async () => {
    const backend = show({ initial: "mtls" });
    await fireEvent.click(button("mtls-probe-run"));
    expect(backend.probeClients).toHaveBeenLastCalledWith({ service: "productpage", namespace: "default", path: "/productpage" });
    expect((await screen.findByTestId("mtls-probe-outside")).textContent).toContain("HTTP 200");
    await screen.findByTestId("mtls-yaml", {}, { timeout: 2000 });
    await fireEvent.click(button("mtls-apply"));
    await screen.findByTestId("mtls-applied");
    await fireEvent.click(button("mtls-probe-run"));
    await waitFor(() => expect(screen.getByTestId("mtls-probe-outside").textContent).toContain("Refused (connection reset)"));
    const outside = screen.getByTestId("mtls-probe-outside").textContent ?? "";
    expect(outside).toContain("no sidecar (plain text)");
    expect(outside).toContain("curl: (56) Recv failure: Connection reset by peer");
    expect(screen.getByTestId("mtls-probe-inside").textContent).toContain("HTTP 200");
  });

  it("a client that does not start shows the message and the hint", async () => {
    const backend = fakeBackend();
    backend.probeClients.mockRejectedValueOnce({
      code: "not_ready",
      message: "the curl client in namespace outside-mesh did not start within 180 s",
      hint: "Its image (curlimages/curl:8.16.0) may still be downloading: try again in a minute.",
    });
    show({ initial: "mtls" }, backend);
    await fireEvent.click(button("mtls-probe-run"));
    const e = await screen.findByTestId("mtls-probe-error");
    expect(e.textContent).toContain("did not start within 180 s");
    expect(e.textContent).toContain("may still be downloading");
  });

  it("reset lists what it removes first and removes only after confirming", async () => {
    const backend = show({ initial: "mtls" });
    await screen.findByTestId("mtls-yaml", {}, { timeout: 2000 });
    await fireEvent.click(button("mtls-apply"));
    await screen.findByTestId("mtls-applied");
    await fireEvent.click(screen.getByTestId("tm-tab-reset"));
    await fireEvent.click(button("reset-list"));
    const listing = await screen.findByTestId("reset-listing");
    expect(backend.resetRouting).toHaveBeenLastCalledWith({ includeUserObjects: false }, true);
    expect(listing.textContent).toContain("PeerAuthentication default/default");
    expect(listing.textContent).toContain("VirtualService default/bookinfo (the ingress's routing, as setup left it)");
    await fireEvent.click(button("reset-confirm"));
    expect(backend.resetRouting).toHaveBeenLastCalledWith({ includeUserObjects: false }, false);
    expect((await screen.findByTestId("reset-done")).textContent).toContain("Removed 1 object");
    await fireEvent.click(button("reset-undo"));
    expect((await screen.findByTestId("reset-undone")).textContent).toContain("PeerAuthentication default/default");
  });

  it("tabs move with the arrow keys", async () => {
    show();
    const route = screen.getByTestId("tm-tab-route");
    route.focus();
    await fireEvent.keyDown(route, { key: "ArrowRight" });
    expect(screen.getByTestId("tm-tab-fault").getAttribute("aria-selected")).toBe("true");
    expect(document.activeElement).toBe(screen.getByTestId("tm-tab-fault"));
    await fireEvent.keyDown(screen.getByTestId("tm-tab-fault"), { key: "ArrowLeft" });
    await fireEvent.keyDown(screen.getByTestId("tm-tab-route"), { key: "ArrowLeft" });
    expect(screen.getByTestId("tm-tab-reset").getAttribute("aria-selected")).toBe("true");
  });
});

describe("graph nodes offer their actions", () => {
  const snap = teachingSnapshot();
  const nodes = new Map(snap.nodes.map((n) => [n.id, n]));
  const edges = new Map(snap.edges.map((e) => [e.id, e]));
  const open = async (id: string) => {
    render(DetailsPanel, {
      props: { node: nodes.get(id) ?? null, edge: null, nodes, edges, onclose: vi.fn(), onselect: vi.fn() },
      context: backendContext(fakeBackend()),
    });
    await fireEvent.click(screen.getByTestId("details-traffic-actions"));
    return screen.getByTestId("traffic-management");
  };

  it("a service: routing, fault, timeout & retries, circuit breaker", async () => {
    const tm = await open("svc/default/ratings");
    const tabs = within(tm).getAllByRole("tab").map((t) => t.textContent);
    expect(tabs).toEqual(["Routing", "Fault", "Timeout & retries", "Circuit breaker"]);
    expect(tm.textContent).toContain("Traffic management: ratings");
    expect(within(tm).queryByTestId("tm-service")).toBeNull();
  });

  it("a namespace: mTLS and reset; a workload: its own mTLS policy", async () => {
    const ns = await open("ns/default");
    expect(within(ns).getAllByRole("tab").map((t) => t.textContent)).toEqual(["mTLS", "Reset routing"]);
  });

  it("a workload opens mTLS for itself", async () => {
    const wl = [...nodes.values()].find((n) => n.kind === "workload")!;
    await open(wl.id);
    expect((screen.getByTestId("mtls-workload") as HTMLInputElement).value).toBe(wl.name);
    expect((screen.getByTestId("mtls-scope-workload") as HTMLInputElement).checked).toBe(true);
  });
});
