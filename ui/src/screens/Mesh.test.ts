import { fireEvent, render, screen, waitFor } from "@testing-library/svelte";
import { describe, expect, it } from "vitest";

import { backendContext } from "../lib/backend";
import { MeshWatch } from "../lib/mesh/meshWatch.svelte";
import { teachingSnapshot } from "../lib/mesh/sample";
import { sampleOverlay } from "../lib/mesh/trafficSample";
import { deferred, fakeBackend } from "../test/fakeBackend";
import Mesh from "./Mesh.svelte";

function renderMesh(backend = fakeBackend()) {
  const mesh = new MeshWatch(backend);
  render(Mesh, { props: { mesh }, context: backendContext(backend) });
  return { backend, mesh };
}

async function live() {
  const view = renderMesh();
  await waitFor(() => expect(view.backend.watchMesh).toHaveBeenCalled());
  view.backend.emitMesh({ type: "snapshot", snapshot: teachingSnapshot() });
  await waitFor(() => expect(screen.getByTestId("mesh-graph")).toBeTruthy());
  return view;
}

describe("Mesh screen", () => {
  it("says it is connecting until the first snapshot arrives", async () => {
    const { backend } = renderMesh();
    expect(screen.getByTestId("mesh-loading").textContent).toContain("Connecting to the cluster");
    expect(backend.watchMesh).toHaveBeenCalledTimes(1);
  });

  it("shows a friendly empty state with the hint when no cluster is reachable, and tries again", async () => {
    const failure = deferred<void>();
    let calls = 0;
    // The first watch fails; the second stays connecting.
    const backend = fakeBackend({ watchMesh: () => (calls++ === 0 ? failure.promise : new Promise<void>(() => {})) });
    renderMesh(backend);
    failure.reject({ code: "cluster_target", message: "There is no playground cluster yet.", hint: "Open Setup and create it." });
    await waitFor(() => expect(screen.getByTestId("mesh-error")).toBeTruthy());
    const text = screen.getByTestId("mesh-error").textContent!;
    expect(text).toContain("There is no playground cluster yet.");
    expect(text).toContain("Open Setup and create it.");

    await fireEvent.click(screen.getByTestId("mesh-retry"));
    expect(backend.watchMesh).toHaveBeenCalledTimes(2);
    expect(screen.getByTestId("mesh-loading")).toBeTruthy();
  });

  it("lists the validations and opens the node's details from the list", async () => {
    await live();
    const problems = screen.getAllByTestId("problem");
    expect(problems).toHaveLength(1);
    expect(problems[0].textContent).toContain("Warning");
    expect(problems[0].textContent).toContain("Pod h7r4c");
    await fireEvent.click(problems[0]);
    expect(screen.getByTestId("details-panel").textContent).toContain("has no sidecar");
  });

  it("closes the details with Escape", async () => {
    await live();
    await fireEvent.click(screen.getAllByTestId("problem")[0]);
    expect(screen.queryByTestId("details-panel")).not.toBeNull();
    await fireEvent.keyDown(window, { key: "Escape" });
    expect(screen.queryByTestId("details-panel")).toBeNull();
  });

  it("searches by name and opens the first match with Enter", async () => {
    await live();
    const input = screen.getByTestId("mesh-search") as HTMLInputElement;
    await fireEvent.input(input, { target: { value: "ratings" } });
    expect(screen.getByTestId("mesh-search-count").textContent).toContain("matches");
    const results = screen.getByTestId("mesh-search-results").textContent!;
    expect(results).toContain("Service ratings (default)");
    expect(results).not.toContain("details");
    await fireEvent.keyDown(input, { key: "Enter" });
    expect(screen.getByRole("heading", { level: 2, name: "Service ratings (default)" })).toBeTruthy();
  });

  it("says when nothing matches", async () => {
    await live();
    await fireEvent.input(screen.getByTestId("mesh-search"), { target: { value: "mongodb" } });
    expect(screen.getByTestId("mesh-search-count").textContent).toBe("No match");
  });

  it("shows a banner while the backend reconnects and keeps the graph", async () => {
    const { backend } = await live();
    backend.emitMesh({ type: "status", status: { connected: false, failing: ["pods"], error: "connection refused" } });
    await waitFor(() => expect(screen.getByTestId("mesh-reconnecting").textContent).toContain("Reconnecting to the cluster…"));
    expect(screen.getByTestId("mesh-graph")).toBeTruthy();
    backend.emitMesh({ type: "status", status: { connected: true, failing: [], error: null } });
    await waitFor(() => expect(screen.queryByTestId("mesh-reconnecting")).toBeNull());
  });

  it("updates the problem list when a diff fixes the warning", async () => {
    const { backend } = await live();
    const pod = teachingSnapshot().nodes.find((n) => n.id === "pod/default/ratings-v1-6b977d548d-h7r4c")!;
    backend.emitMesh({
      type: "diff",
      diff: {
        addedNodes: [],
        changedNodes: [{ ...pod, health: "ok", healthReasons: [], sidecar: "ready", ready: { ready: 2, total: 2 }, validations: [] }],
        removedNodes: [],
        addedEdges: [],
        changedEdges: [],
        removedEdges: [],
      },
    });
    await waitFor(() => expect(screen.queryAllByTestId("problem")).toHaveLength(0));
    expect(screen.getByTestId("mesh-problems").textContent).toContain("no warnings");
  });

  it("keeps the side panel closed over the graph until asked, with the legend folded", async () => {
    await live();
    const side = screen.getByTestId("mesh-side");
    const toggle = screen.getByTestId("mesh-panel-toggle");
    expect(side.hidden).toBe(true);
    expect(toggle.getAttribute("aria-expanded")).toBe("false");
    expect(screen.getByTestId("mesh-problem-count").textContent).toBe("1");
    await fireEvent.click(toggle);
    expect(side.hidden).toBe(false);
    expect(toggle.getAttribute("aria-expanded")).toBe("true");
    expect((screen.getByTestId("mesh-legend-fold") as HTMLDetailsElement).open).toBe(false);
    await fireEvent.keyDown(window, { key: "Escape" });
    expect(side.hidden).toBe(true);
  });

  it("opens the panel for the details of what is picked, and closes it again", async () => {
    await live();
    const side = screen.getByTestId("mesh-side");
    await fireEvent.click(screen.getAllByTestId("problem")[0]);
    expect(side.hidden).toBe(false);
    expect(screen.getByTestId("details-panel")).toBeTruthy();
    await fireEvent.keyDown(window, { key: "Escape" });
    expect(side.hidden).toBe(true);
  });

  it("offers every node as a keyboard-reachable list", async () => {
    await live();
    const list = screen.getByTestId("mesh-node-list");
    expect(list.querySelectorAll("button").length).toBe(teachingSnapshot().nodes.filter((n) => n.kind !== "namespace").length);
  });
});

describe("Mesh screen with traffic", () => {
  it("draws traffic links from traffic events, opens a node's traffic and a link's details", async () => {
    const { backend, mesh } = await live();
    backend.emitMesh({ type: "traffic", traffic: { state: "live", overlay: sampleOverlay(Date.now(), { rate: 10, seen: [0.6, 0.3, 0.1], ratingsErrors: 0.4 }) } });
    await waitFor(() => expect(screen.getByTestId("traffic-links").children.length).toBe(7));
    const links = screen.getByTestId("traffic-links").textContent!;
    expect(links).toContain("productpage-v1");
    expect(links).toContain("6.0 rps");
    expect(links).toContain("40% errors");
    expect(links).toContain("mutual TLS");
    expect(links).toContain("plain text");
    expect(mesh.traffic.nodes.get("wl/default/ratings-v1")?.inboundErrorShare).toBe(0.4);

    // The ratings workload's panel: rates, and its error code with the flag in words.
    await fireEvent.click(screen.getByTestId("mesh-panel-toggle"));
    const list = screen.getByTestId("mesh-node-list");
    const ratings = [...list.querySelectorAll("button")].find((b) => b.textContent?.trim().startsWith("Workload ratings-v1"))!;
    await fireEvent.click(ratings);
    const figures = await screen.findByTestId("traffic-figures");
    expect(screen.getByTestId("traffic-in").textContent).toContain("4.0 rps");
    expect(screen.getByTestId("traffic-in").textContent).toContain("40% errors");
    expect(figures.textContent).toContain("UO: circuit breaker open: too many connections or pending requests");

    // From there, the link from reviews-v2.
    const link = [...screen.getByTestId("traffic-node-links").querySelectorAll("button")].find((b) => b.textContent?.includes("reviews-v2"))!;
    await fireEvent.click(link);
    const panel = await screen.findByTestId("traffic-link-panel");
    expect(panel.textContent).toContain("3.0 rps");
    expect(panel.textContent).toContain("encryption unknown");
  });

  it("says in one line when the telemetry is unavailable, and keeps the graph", async () => {
    const { backend } = await live();
    backend.emitMesh({
      type: "traffic",
      traffic: { state: "unavailable", atMs: Date.now(), problem: { code: "telemetry_starting", message: "starting", hint: "Wait a minute." } },
    });
    const line = await screen.findByTestId("traffic-unavailable");
    expect(line.textContent).toContain("Prometheus is still starting.");
    expect(line.textContent).toContain("Wait a minute.");
    expect(screen.getByTestId("mesh-graph")).toBeTruthy();
  });

  it("switches the moving dots from the toolbar", async () => {
    const { mesh } = await live();
    const toggle = screen.getByTestId("mesh-dots-toggle");
    const before = mesh.dots;
    expect(toggle.getAttribute("aria-pressed")).toBe(String(before));
    await fireEvent.click(toggle);
    expect(mesh.dots).toBe(!before);
    expect(toggle.getAttribute("aria-pressed")).toBe(String(!before));
  });
});
