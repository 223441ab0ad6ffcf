import { fireEvent, render, screen, waitFor } from "@testing-library/svelte";
import { describe, expect, it } from "vitest";

import { backendContext } from "../lib/backend";
import { ClusterState } from "../lib/cluster.svelte";
import { fakeBackend } from "../test/fakeBackend";
import Dashboards from "./Dashboards.svelte";

async function renderDashboards(simulated: boolean) {
  const backend = fakeBackend();
  if (simulated) await backend.startSimulated();
  const cluster = new ClusterState(backend);
  await cluster.refresh();
  render(Dashboards, { props: { cluster }, context: backendContext(backend) });
  return backend;
}

describe("Dashboards", () => {
  it("opens a dashboard through its port-forward and shows the copyable URL", async () => {
    const backend = await renderDashboards(false);
    await fireEvent.click(screen.getByTestId("dashboard-open-grafana"));
    await waitFor(() => expect(screen.getByTestId("dashboard-url-grafana").textContent).toBe("http://127.0.0.1:3000/d/1a9a8ea49444aae205c7737573e894f9"));
    expect(backend.openDashboard).toHaveBeenCalledWith("grafana");
    expect(backend.openUrl).toHaveBeenCalledWith("http://127.0.0.1:3000/d/1a9a8ea49444aae205c7737573e894f9");
    expect(screen.getByText(/Istio control plane/)).toBeTruthy();
    expect(screen.getByText("kubectl port-forward -n istio-system svc/grafana 3000:3000")).toBeTruthy();
  });

  it("in simulated mode offers what the app shows itself, and the real tools stay disabled", async () => {
    const backend = fakeBackend();
    await backend.startSimulated();
    const cluster = new ClusterState(backend);
    await cluster.refresh();
    const opened: string[] = [];
    render(Dashboards, {
      props: { cluster, onOpenMesh: () => opened.push("mesh"), onOpenTraffic: () => opened.push("traffic") },
      context: backendContext(backend),
    });
    expect(screen.getByTestId("dashboards-simulated").textContent).toContain("this app shows it itself");
    await fireEvent.click(screen.getByTestId("dashboards-open-mesh"));
    await fireEvent.click(screen.getByTestId("dashboards-open-traffic"));
    expect(opened).toEqual(["mesh", "traffic"]);
    for (const id of ["kiali", "grafana", "jaeger", "prometheus"]) {
      expect((screen.getByTestId(`dashboard-open-${id}`) as HTMLButtonElement).disabled).toBe(true);
    }
    expect(backend.openDashboard).not.toHaveBeenCalled();
  });

  it("offers nothing of its own with a real cluster", async () => {
    await renderDashboards(false);
    expect(screen.queryByTestId("dashboards-simulated")).toBeNull();
  });
});
