import { render, screen, waitFor } from "@testing-library/svelte";
import { describe, expect, it } from "vitest";

import { backendContext } from "../backend";
import { fakeBackend } from "../../test/fakeBackend";
import { HistoryPoll } from "./history.svelte";
import TrafficCharts from "./TrafficCharts.svelte";

describe("TrafficCharts", () => {
  it("plots rate, errors, latency and the split of the chosen service", async () => {
    const backend = fakeBackend();
    render(TrafficCharts, { props: { history: new HistoryPoll(backend) }, context: backendContext(backend) });
    const split = await screen.findByTestId("chart-split");
    for (const id of ["chart-rate", "chart-errors", "chart-latency"]) expect(screen.getByTestId(id)).toBeTruthy();
    // The sample history ends converged on 60/30/10 with 12% errors.
    expect(split.textContent).toContain("v1 seen 60%");
    expect(split.textContent).toContain("v3 seen 10%");
    expect(screen.getByTestId("chart-errors").textContent).toContain("errors 12%");
    expect(split.querySelectorAll("path").length).toBeGreaterThanOrEqual(3);
    expect(backend.serviceHistory).toHaveBeenCalledWith("default", "reviews", 5);
  });

  it("says why when there is no Prometheus", async () => {
    const backend = fakeBackend();
    backend.serviceHistory.mockRejectedValue({ code: "telemetry_missing", message: "There is no Prometheus.", hint: "Install the addon." });
    render(TrafficCharts, { props: { history: new HistoryPoll(backend) }, context: backendContext(backend) });
    await waitFor(() => expect(screen.getByTestId("charts-error").textContent).toContain("There is no Prometheus."));
    expect(screen.getByTestId("charts-error").textContent).toContain("Install the addon.");
  });
});
