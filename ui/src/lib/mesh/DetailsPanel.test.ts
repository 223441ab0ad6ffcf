import { fireEvent, render, screen, waitFor } from "@testing-library/svelte";
import { describe, expect, it, vi } from "vitest";

import { backendContext } from "../backend";
import { deferred, fakeBackend } from "../../test/fakeBackend";
import DetailsPanel from "./DetailsPanel.svelte";
import { NODE_EXPLANATIONS } from "./explain";
import { teachingSnapshot } from "./sample";

const snap = teachingSnapshot();
const nodes = new Map(snap.nodes.map((n) => [n.id, n]));
const edges = new Map(snap.edges.map((e) => [e.id, e]));

function show(id: string, backend = fakeBackend()) {
  const onclose = vi.fn();
  const onselect = vi.fn();
  const props = {
    node: nodes.get(id) ?? null,
    edge: edges.get(id) ?? null,
    nodes,
    edges,
    onclose,
    onselect,
  };
  render(DetailsPanel, { props, context: backendContext(backend) });
  return { backend, onclose, onselect };
}

describe("DetailsPanel", () => {
  it("explains a VirtualService in plain words and lists its key fields", async () => {
    show("vs/default/reviews");
    expect(screen.getByRole("heading", { level: 2 }).textContent).toBe("VirtualService reviews (default)");
    const text = screen.getByTestId("details-explanation").textContent!;
    expect(text).toContain("routing rules for a host name");
    expect(text).toContain("60% / 30% / 10%");
    const fields = screen.getByTestId("details-fields").textContent!;
    expect(fields).toContain("Hosts");
    expect(fields).toContain("reviews v1 60%, reviews v2 30%, reviews v3 10%");
    expect(screen.getByTestId("details-connections").textContent).toContain("Route: reviews v1 (60%)");
  });

  it("explains a subset and a pod's sidecar", () => {
    show("subset/default/reviews/v2");
    expect(screen.getByTestId("details-explanation").textContent).toContain(NODE_EXPLANATIONS.subset.what);
  });

  it("shows a pod's warning with its severity as a word", () => {
    show("pod/default/ratings-v1-6b977d548d-h7r4c");
    expect(screen.getByTestId("details-health").textContent).toContain("Warning");
    const v = screen.getByTestId("details-validations").textContent!;
    expect(v).toContain("Warning:");
    expect(v).toContain("has no sidecar although namespace default asks for injection");
    expect(screen.getByTestId("details-explanation").textContent).toContain("Sidecar missing.");
  });

  it("fetches the YAML on demand and shows it as code", async () => {
    const backend = fakeBackend({ objectYaml: () => Promise.resolve("kind: VirtualService\nspec:\n  hosts: [reviews]\n") });
    show("vs/default/reviews", backend);
    expect(screen.getByText("Fetching the YAML from the cluster…")).toBeTruthy();
    await waitFor(() => expect(screen.getByTestId("details-yaml").textContent).toContain("hosts: [reviews]"));
    expect(backend.objectYaml).toHaveBeenCalledWith({
      apiVersion: "networking.istio.io/v1",
      kind: "VirtualService",
      namespace: "default",
      name: "reviews",
    });
    expect(screen.getByTestId("details-copy-yaml")).toBeTruthy();
  });

  it("says so when the YAML cannot be fetched", async () => {
    const backend = fakeBackend({ objectYaml: () => Promise.reject({ code: "kube", message: "Forbidden.", hint: "Check access." }) });
    show("svc/default/details", backend);
    await waitFor(() => expect(screen.getByTestId("details-yaml-error").textContent).toContain("Forbidden. Check access."));
  });

  it("explains a route edge with its weight and lets you go to either end", async () => {
    const pending = deferred<string>();
    const { onselect } = show("route:vs/default/reviews->subset/default/reviews/v3#0.2", fakeBackend({ objectYaml: () => pending.promise }));
    expect(screen.getByRole("heading", { level: 2 }).textContent).toBe("Route: reviews → reviews v3 (10%)");
    expect(screen.getByTestId("details-explanation").textContent).toContain("share of matching requests");
    expect(screen.getByTestId("details-fields").textContent).toContain("10% of matching requests");
    await fireEvent.click(screen.getByRole("button", { name: "reviews v3" }));
    expect(onselect).toHaveBeenCalledWith("subset/default/reviews/v3");
  });

  it("closes with its button", async () => {
    const { onclose } = show("ns/default");
    await fireEvent.click(screen.getByTestId("details-close"));
    expect(onclose).toHaveBeenCalled();
  });
});
