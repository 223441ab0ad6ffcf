// The buttons the Mesh screen's side panel gains: weights on reviews' Service, VirtualService
// and subsets, and the injection toggle on a namespace.
import { fireEvent, render, screen, waitFor } from "@testing-library/svelte";
import { describe, expect, it, vi } from "vitest";

import { fakeBackend } from "../../test/fakeBackend";
import { backendContext } from "../backend";
import DetailsPanel from "../mesh/DetailsPanel.svelte";
import { teachingSnapshot } from "../mesh/sample";

const snap = teachingSnapshot();
const nodes = new Map(snap.nodes.map((n) => [n.id, n]));
const edges = new Map(snap.edges.map((e) => [e.id, e]));

function show(id: string, backend = fakeBackend()) {
  render(DetailsPanel, {
    props: { node: nodes.get(id) ?? null, edge: null, nodes, edges, onclose: vi.fn(), onselect: vi.fn() },
    context: backendContext(backend),
  });
  return backend;
}

describe("DetailsPanel actions", () => {
  for (const id of ["svc/default/reviews", "vs/default/reviews", "subset/default/reviews/v2"]) {
    it(`${id} opens the weights editor for reviews`, async () => {
      const backend = show(id);
      await fireEvent.click(screen.getByTestId("details-edit-weights"));
      await screen.findByTestId("preset-60-30-10");
      expect(backend.readRouting).toHaveBeenCalledWith("default", "reviews");
      // The panel's own content stays.
      expect(screen.getByTestId("details-explanation")).toBeTruthy();
    });
  }

  it("a namespace offers the injection toggle with the restart and reports what was done", async () => {
    const backend = show("ns/default");
    expect(screen.getByTestId("injection-toggle").textContent).toContain("On.");
    await fireEvent.click(screen.getByTestId("injection-set"));
    expect(backend.setInjection).toHaveBeenCalledWith({ namespace: "default", enabled: false, restart: true });
    const report = await screen.findByTestId("injection-report");
    expect(report.textContent).toContain("Injection is now off for default");
    expect(report.textContent).toContain("kubectl rollout restart deployment/reviews-v2 -n default");
  });

  it("a refused toggle shows the message and the hint", async () => {
    const backend = fakeBackend();
    backend.setInjection.mockRejectedValueOnce({ code: "kube", message: "labelling namespace default failed", hint: "Check that the playground cluster is running (Setup screen), then try again." });
    show("ns/default", backend);
    await fireEvent.click(screen.getByTestId("injection-restart"));
    await fireEvent.click(screen.getByTestId("injection-set"));
    await waitFor(() => expect(backend.setInjection).toHaveBeenCalledWith({ namespace: "default", enabled: false, restart: false }));
    const err = await screen.findByTestId("injection-error");
    expect(err.textContent).toContain("Check that the playground cluster is running");
  });
});
