import { fireEvent, render, screen, waitFor } from "@testing-library/svelte";
import { describe, expect, it } from "vitest";

import { SetupRun } from "../setupRun.svelte";
import { fakeBackend, provisionEvent, SETUP_PLAN } from "../../test/fakeBackend";
import SetupSteps from "./SetupSteps.svelte";

async function renderSteps(blocked: string | null = null) {
  const backend = fakeBackend();
  const run = new SetupRun(backend);
  await run.loadPlan();
  const view = render(SetupSteps, { props: { run, blocked } });
  return { backend, run, ...view };
}

const steps = () => screen.queryAllByTestId("setup-step");
const start = () => screen.getByTestId("setup-start") as HTMLButtonElement;

describe("SetupSteps", () => {
  it("lists the plan's steps as waiting before anything runs", async () => {
    await renderSteps();
    expect(steps().map((s) => [s.dataset.stepId, s.dataset.state])).toEqual(
      SETUP_PLAN.steps.map((p) => [p.id, "pending"]),
    );
    expect(steps()[0].textContent).toContain("Get kind and istioctl");
    expect(steps()[0].textContent).toContain("Waiting");
    expect(start().textContent).toContain("Set up the playground");
    expect(start().disabled).toBe(false);
  });

  it("is disabled with the reason while a check fails", async () => {
    await renderSteps("Fix the failed check above first: Docker engine.");
    expect(start().disabled).toBe(true);
    expect(screen.getByTestId("setup-blocked").textContent).toContain("Docker engine");
  });

  it("shows progress, time and the live log of the running step, then Cancel stops it", async () => {
    const { backend } = await renderSteps();
    await fireEvent.click(start());
    expect(backend.setupStart).toHaveBeenCalledTimes(1);
    expect(start().disabled).toBe(true);
    expect(start().textContent).toContain("Setting up…");

    backend.emitProvision(provisionEvent({ step: "tools", state: "done", elapsedMs: 2000, totalElapsedMs: 2000, message: "kind ready" }));
    backend.emitProvision(provisionEvent({ step: "cluster", state: "running", message: "$ kind create cluster", elapsedMs: 65_000, totalElapsedMs: 67_000 }));
    backend.emitProvision(provisionEvent({ step: "cluster", state: "running", percent: 42.5, elapsedMs: 66_000, totalElapsedMs: 68_000 }));
    await waitFor(() => expect(steps()[1].dataset.state).toBe("running"));
    const cluster = steps()[1];
    expect(cluster.querySelector("[role=progressbar]")?.getAttribute("aria-valuenow")).toBe("43");
    expect(cluster.querySelector("[data-testid=step-time]")?.textContent).toBe("1 min 06 s");
    expect(cluster.querySelector("[data-testid=step-log]")?.textContent).toContain("$ kind create cluster");
    expect(steps()[0].dataset.state).toBe("done");
    expect(steps()[0].textContent).toContain("kind ready");
    expect(screen.getByTestId("setup-total").textContent).toContain("Running for 1 min 08 s");

    await fireEvent.click(screen.getByTestId("setup-cancel"));
    expect(backend.setupCancel).toHaveBeenCalledTimes(1);
    backend.emitProvision(provisionEvent({
      step: "cluster", state: "failed", message: "cancelled",
      failure: { code: "cancelled", message: "cancelled", hint: "Press \"Set up\" to continue where it stopped." },
    }));
    backend.finishProvision({ code: "cancelled", message: "cancelled", hint: null });
    await waitFor(() => expect(start().textContent).toContain("Continue setup"));
    expect(start().disabled).toBe(false);
    expect(screen.getByTestId("setup-outcome").textContent).toContain("go on from where it stopped");
  });

  it("shows what failed and what to do, and pressing again resumes", async () => {
    const { backend } = await renderSteps();
    await fireEvent.click(start());
    backend.emitProvision(provisionEvent({
      step: "istio", state: "failed", message: "istiod did not become ready",
      failure: { code: "not_ready", message: "istiod did not become ready within 15 min", hint: "Docker has 2 GiB; Istio's demo wants about 8: Docker Desktop > Settings > Resources." },
    }));
    backend.finishProvision({ code: "not_ready", message: "istiod did not become ready within 15 min", hint: "x" });
    await waitFor(() => expect(screen.getByTestId("step-failure")).toBeTruthy());
    const failure = screen.getByTestId("step-failure").textContent!;
    expect(failure).toContain("istiod did not become ready within 15 min");
    expect(failure).toContain("What to do: Docker has 2 GiB");
    // The step shows its failure; no second copy of the same error above the list.
    expect(screen.queryByTestId("setup-error")).toBeNull();

    await fireEvent.click(start());
    expect(backend.setupStart).toHaveBeenCalledTimes(2);
    // The new run starts with every step waiting again until the backend reports.
    await waitFor(() => expect(screen.queryByTestId("step-failure")).toBeNull());
    backend.emitProvision(provisionEvent({ step: "tools", state: "skipped", message: "Already here." }));
    backend.finishProvision();
    await waitFor(() => expect(screen.getByTestId("setup-outcome").textContent).toContain("The playground is ready"));
    expect(steps()[0].textContent).toContain("Already done");
  });

  it("tears down only after confirmation", async () => {
    const { backend } = await renderSteps();
    await fireEvent.click(screen.getByTestId("teardown"));
    expect(backend.teardown).not.toHaveBeenCalled();
    expect(screen.getByTestId("teardown-confirm").textContent).toContain("your own kubeconfig are not touched");
    await fireEvent.click(screen.getByText("Keep it"));
    expect(screen.queryByTestId("teardown-confirm")).toBeNull();
    expect(backend.teardown).not.toHaveBeenCalled();

    await fireEvent.click(screen.getByTestId("teardown"));
    await fireEvent.click(screen.getByTestId("teardown-yes"));
    expect(backend.teardown).toHaveBeenCalledTimes(1);
    await waitFor(() => expect(steps().map((s) => s.dataset.stepId)).toEqual(["teardown"]));
    backend.emitProvision(provisionEvent({ step: "teardown", state: "done", message: "Cluster deleted", elapsedMs: 4000 }));
    backend.finishProvision();
    await waitFor(() => expect(screen.getByTestId("setup-outcome").textContent).toContain("The cluster is gone"));
  });

  it("says so when the backend refuses to start at all", async () => {
    const { backend } = await renderSteps();
    await fireEvent.click(start());
    backend.finishProvision({ code: "already_running", message: "a setup or teardown is already running", hint: "Wait for it to finish, or press Cancel." });
    await waitFor(() => expect(screen.getByTestId("setup-error").textContent).toContain("already running"));
    expect(screen.getByTestId("setup-error").textContent).toContain("Wait for it to finish");
  });
});
