import { fireEvent, render, screen, waitFor } from "@testing-library/svelte";
import { describe, expect, it } from "vitest";

import { TrafficRunState } from "../lib/actions/traffic.svelte";
import { sampleStats } from "../lib/actions/sampleActions";
import { backendContext } from "../lib/backend";
import { fakeBackend } from "../test/fakeBackend";
import Traffic from "./Traffic.svelte";

function renderTraffic(backend = fakeBackend()) {
  const traffic = new TrafficRunState(backend);
  const view = render(Traffic, { props: { traffic }, context: backendContext(backend) });
  return { backend, traffic, ...view };
}

const input = (id: string) => screen.getByTestId(id) as HTMLInputElement;

describe("Traffic", () => {
  it("follows a run it did not start (a lesson step's) and can stop it", async () => {
    const { backend, traffic } = renderTraffic();
    await traffic.follow();
    expect(backend.startTraffic).not.toHaveBeenCalled();
    backend.emitTraffic(sampleStats({ running: true, currentRate: 9.8, completed: 120 }));
    await waitFor(() => expect(screen.getByTestId("traffic-achieved").textContent).toContain("9.8"));
    expect((screen.getByTestId("traffic-stop") as HTMLButtonElement).disabled).toBe(false);
    expect((screen.getByTestId("traffic-start") as HTMLButtonElement).disabled).toBe(true);
    await fireEvent.click(screen.getByTestId("traffic-stop"));
    expect(backend.stopTraffic).toHaveBeenCalled();
  });

  it("starts with the typed settings, shows live figures, and stops", async () => {
    const { backend } = renderTraffic();
    await fireEvent.input(input("traffic-rate"), { target: { value: "50" } });
    await fireEvent.input(input("traffic-duration"), { target: { value: "" } });
    await fireEvent.click(screen.getByTestId("traffic-start"));
    expect(backend.startTraffic).toHaveBeenCalledWith(
      { rate: 50, concurrency: 10, durationSecs: null, user: null, userShare: null },
      expect.any(Function),
    );
    await waitFor(() => expect((screen.getByTestId("traffic-stop") as HTMLButtonElement).disabled).toBe(false));

    backend.emitTraffic(sampleStats({ currentRate: 49.6, completed: 480, statuses: { "200": 470, "503": 10 } }));
    await waitFor(() => expect(screen.getByTestId("traffic-achieved").textContent).toContain("49.6"));
    expect(screen.getByTestId("traffic-completed").textContent).toContain("480");
    expect(screen.getByTestId("traffic-statuses").textContent).toMatch(/200\s*470.*503\s*10/s);

    await fireEvent.click(screen.getByTestId("traffic-stop"));
    expect(backend.stopTraffic).toHaveBeenCalled();
    backend.emitTraffic(sampleStats({ running: false, achievedRate: 48.2 }));
    await waitFor(() => expect((screen.getByTestId("traffic-start") as HTMLButtonElement).disabled).toBe(false));
    expect(screen.getByTestId("traffic-achieved").textContent).toContain("48.2");
  });

  it("explains bad settings next to the field and does not start", async () => {
    const { backend } = renderTraffic();
    await fireEvent.input(input("traffic-rate"), { target: { value: "1000" } });
    await fireEvent.input(input("traffic-concurrency"), { target: { value: "0" } });
    expect(screen.getByText("Choose a rate from 0.5 to 500 requests per second.")).toBeTruthy();
    expect(screen.getByText("Choose a whole number from 1 to 256.")).toBeTruthy();
    expect(input("traffic-rate").getAttribute("aria-invalid")).toBe("true");
    expect((screen.getByTestId("traffic-start") as HTMLButtonElement).disabled).toBe(true);
    expect(backend.startTraffic).not.toHaveBeenCalled();
  });

  it("shows a refused start with its message and hint", async () => {
    const backend = fakeBackend();
    backend.startTraffic.mockRejectedValueOnce({ code: "traffic_running", message: "traffic is already running", hint: "Stop the running traffic first." });
    renderTraffic(backend);
    await fireEvent.click(screen.getByTestId("traffic-start"));
    const err = await screen.findByTestId("traffic-error");
    expect(err.textContent).toContain("traffic is already running");
    expect(err.textContent).toContain("Stop the running traffic first.");
  });

  it("sets 60/30/10 from a preset, previews the YAML, applies, compares with what was observed, and undoes", async () => {
    // The telemetry saw 58/31/11 (the generator's own figures, sampleStats, are not used for
    // the split: the sidecars count every request, whoever sent it).
    const backend = fakeBackend();
    const now = 1_800_000_000_000;
    const points = Array.from({ length: 12 }, (_, i) => ({
      atMs: now - (11 - i) * 5000,
      requestsPerSecond: 10,
      errorShare: 0,
      p50Ms: 5,
      p95Ms: 20,
      versions: [
        { version: "v1", requestsPerSecond: 5.8 },
        { version: "v2", requestsPerSecond: 3.1 },
        { version: "v3", requestsPerSecond: 1.1 },
      ],
    }));
    backend.serviceHistory.mockResolvedValue({ namespace: "default", name: "reviews", stepSecs: 5, points });
    renderTraffic(backend);
    await screen.findByTestId("preset-60-30-10");
    expect(screen.getByTestId("weights-now").textContent).toContain("no VirtualService");
    await fireEvent.click(screen.getByTestId("preset-60-30-10"));
    expect(input("weight-input-v1").value).toBe("60");
    expect(input("weight-input-v3").value).toBe("10");
    const yaml = await screen.findByTestId("weights-yaml");
    expect(yaml.textContent).toContain("subset: v2\n      weight: 30");
    expect(screen.getByTestId("weights-kubectl").textContent).toContain("kubectl apply --server-side");

    await fireEvent.click(screen.getByTestId("weights-apply"));
    await screen.findByTestId("weights-applied");
    expect(backend.applyWeights).toHaveBeenCalledWith({ service: "reviews", namespace: "default", weights: { v1: 60, v2: 30, v3: 10 } });
    await waitFor(() => expect(screen.getByTestId("weights-now").textContent).toContain("60/30/10"));

    await fireEvent.click(screen.getByTestId("traffic-start"));
    backend.emitTraffic(sampleStats());
    const observed = await screen.findByTestId("weights-observed");
    expect(observed.textContent?.replace(/\s+/g, " ")).toContain(
      "configured 60/30/10, observed 58/31/11 over the last 30 s (from Istio's metrics)",
    );
    expect(backend.serviceHistory).toHaveBeenCalledWith("default", "reviews", 5);

    await fireEvent.click(screen.getByTestId("weights-undo"));
    await screen.findByTestId("weights-undone");
    expect(screen.getByTestId("weights-undone").textContent).toContain("deleted VirtualService default/reviews");
    await waitFor(() => expect(screen.getByTestId("weights-now").textContent).toContain("no VirtualService"));
  });

  it("moving one slider rebalances the others, and typed nonsense gets a message", async () => {
    const { backend } = renderTraffic();
    await screen.findByTestId("preset-60-30-10");
    await fireEvent.click(screen.getByTestId("preset-60-30-10"));
    await fireEvent.input(screen.getByTestId("weight-slider-v1"), { target: { value: "80" } });
    expect([input("weight-input-v1").value, input("weight-input-v2").value, input("weight-input-v3").value]).toEqual(["80", "15", "5"]);
    for (const [typed, message] of [
      ["101", "at most 100"],
      ["-5", "cannot be negative"],
      ["1.5", "whole numbers"],
      ["abc", "is not a number"],
    ]) {
      await fireEvent.input(input("weight-input-v2"), { target: { value: typed } });
      await fireEvent.change(input("weight-input-v2"));
      expect(screen.getByRole("alert").textContent).toContain(message);
    }
    expect(backend.applyWeights).not.toHaveBeenCalled();
  });

  it("a refused apply shows the message and the hint", async () => {
    const backend = fakeBackend();
    backend.applyWeights.mockRejectedValueOnce({
      code: "no_ready_pods",
      message: "version v3 of reviews would get 10% of the traffic, but none of its pods is ready",
      hint: "Give v3 a weight of 0, or wait until its pods are ready.",
    });
    renderTraffic(backend);
    await screen.findByTestId("preset-60-30-10");
    await fireEvent.click(screen.getByTestId("preset-60-30-10"));
    await screen.findByTestId("weights-yaml");
    await fireEvent.click(screen.getByTestId("weights-apply"));
    const err = await screen.findByTestId("weights-error");
    expect(err.textContent).toContain("none of its pods is ready");
    expect(err.textContent).toContain("Give v3 a weight of 0");
  });

  it("sends a share of the requests as a logged-in user", async () => {
    const { backend } = renderTraffic();
    expect(input("traffic-user-share").disabled).toBe(true);
    await fireEvent.input(input("traffic-user"), { target: { value: "jason" } });
    await fireEvent.input(input("traffic-user-share"), { target: { value: "150" } });
    expect(screen.getByText("Choose from 0 to 100 percent of the requests.")).toBeTruthy();
    expect((screen.getByTestId("traffic-start") as HTMLButtonElement).disabled).toBe(true);
    await fireEvent.input(input("traffic-user-share"), { target: { value: "50" } });
    await fireEvent.click(screen.getByTestId("traffic-start"));
    expect(backend.startTraffic).toHaveBeenCalledWith(
      { rate: 20, concurrency: 10, durationSecs: 60, user: "jason", userShare: 50 },
      expect.any(Function),
    );
  });

  it("has the traffic-management section, which knows the running generator's concurrency", async () => {
    const { backend } = renderTraffic();
    await fireEvent.click(screen.getByTestId("tm-tab-breaker"));
    await fireEvent.change(screen.getByTestId("tm-service"), { target: { value: "productpage" } });
    expect(screen.queryByTestId("breaker-below-concurrency")).toBeNull();
    await fireEvent.click(screen.getByTestId("traffic-start"));
    backend.emitTraffic(sampleStats({ settings: { rate: 20, concurrency: 10, durationSecs: 60, user: null, userShare: null } }));
    const warn = await screen.findByTestId("breaker-below-concurrency");
    expect(warn.textContent).toContain("keeps 10 requests in flight");
  });
});
