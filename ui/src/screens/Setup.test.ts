import { fireEvent, render, screen, waitFor } from "@testing-library/svelte";
import { describe, expect, it, vi } from "vitest";

import { ClusterState } from "../lib/cluster.svelte";
import { PreflightRun } from "../lib/preflightRun.svelte";
import { SetupRun } from "../lib/setupRun.svelte";
import { check, deferred, fakeBackend, report } from "../test/fakeBackend";
import type { PreflightReport } from "../lib/generated/PreflightReport";
import Setup from "./Setup.svelte";

const MIXED = report(
  [
    check({ id: "docker", status: "pass", title: "Docker engine" }),
    check({ id: "inotify", status: "fail", fix: "Run `sudo sysctl fs.inotify.max_user_instances=512` and check again." }),
    check({ id: "disk", status: "warn", fix: "Free some space." }),
  ],
  2100,
);

function renderSetup(backend = fakeBackend({ preflight: () => Promise.resolve(MIXED) })) {
  const preflight = new PreflightRun(backend);
  const cluster = new ClusterState(backend);
  const onSimulatedStarted = vi.fn();
  const setup = new SetupRun(backend);
  const view = render(Setup, { props: { preflight, setup, cluster, onSimulatedStarted, onOpenMesh: vi.fn() } });
  return { backend, preflight, setup, cluster, onSimulatedStarted, ...view };
}

const rows = () => screen.queryAllByTestId("preflight-row");

describe("Setup", () => {
  it("runs the preflight on open and shows progress until it answers", async () => {
    const pending = deferred<PreflightReport>();
    const { backend } = renderSetup(fakeBackend({ preflight: () => pending.promise }));

    expect(backend.runPreflight).toHaveBeenCalledTimes(1);
    expect(screen.getByTestId("preflight-summary").textContent).toContain("Checking your machine…");
    expect((screen.getByTestId("check-again") as HTMLButtonElement).disabled).toBe(true);
    expect(rows()).toHaveLength(0);

    pending.resolve(MIXED);
    await waitFor(() => expect(rows()).toHaveLength(3));
    expect((screen.getByTestId("check-again") as HTMLButtonElement).disabled).toBe(false);
  });

  it("shows one row per check, in order, with its status as data and as a word", async () => {
    renderSetup();
    await waitFor(() => expect(rows()).toHaveLength(3));

    expect(rows().map((r) => [r.dataset.checkId, r.dataset.status])).toEqual([
      ["docker", "pass"],
      ["inotify", "fail"],
      ["disk", "warn"],
    ]);
    expect(rows()[0].textContent).toContain("Pass");
    expect(rows()[1].textContent).toContain("Fail");
    expect(rows()[2].textContent).toContain("Warning");
    expect(rows()[0].textContent).toContain("Docker engine");
    expect(rows()[0].textContent).toContain("Why it matters: Why docker matters");
    // No fix, no "What to do".
    expect(rows()[0].textContent).not.toContain("What to do");
  });

  it("renders a backticked command in the fix as code with a copy button", async () => {
    renderSetup();
    await waitFor(() => expect(rows()).toHaveLength(3));

    const fix = rows()[1];
    expect(fix.textContent).toContain("What to do:");
    const code = fix.querySelector("code");
    expect(code?.textContent).toBe("sudo sysctl fs.inotify.max_user_instances=512");
    expect(fix.textContent).not.toContain("`");
    expect(
      screen.getByRole("button", { name: "Copy command: sudo sysctl fs.inotify.max_user_instances=512" }),
    ).toBeTruthy();
  });

  it("sums the report up with the worst status and the elapsed time", async () => {
    renderSetup();
    await waitFor(() => expect(rows()).toHaveLength(3));

    const summary = screen.getByTestId("preflight-summary");
    expect(summary.dataset.status).toBe("fail");
    expect(summary.textContent).toContain("Fix the failed checks first");
    expect(summary.textContent).toContain("checked in 2.1 s");
  });

  it("shows the message and hint of an IpcError in an alert", async () => {
    renderSetup(
      fakeBackend({
        preflight: () => Promise.reject({ code: "docker", message: "Docker did not answer", hint: "Start Docker and try again." }),
      }),
    );

    const alert = await screen.findByRole("alert");
    expect(alert.textContent).toContain("Docker did not answer");
    expect(alert.textContent).toContain("Start Docker and try again.");
    expect(rows()).toHaveLength(0);
    expect(screen.getByTestId("preflight-summary").dataset.state).toBe("failed");
  });

  it("shows an unexpected rejection as its text", async () => {
    renderSetup(fakeBackend({ preflight: () => Promise.reject("command run_preflight not found") }));
    const alert = await screen.findByRole("alert");
    expect(alert.textContent).toContain("command run_preflight not found");
  });

  it("runs the checks again on Check again and shows the new result", async () => {
    const answers = [
      MIXED,
      report([check({ id: "docker", status: "pass" }), check({ id: "inotify", status: "pass" })], 500),
    ];
    const backend = fakeBackend({ preflight: () => Promise.resolve(answers.shift()!) });
    renderSetup(backend);
    await waitFor(() => expect(rows()).toHaveLength(3));

    await fireEvent.click(screen.getByTestId("check-again"));

    expect(backend.runPreflight).toHaveBeenCalledTimes(2);
    await waitFor(() => expect(rows()).toHaveLength(2));
    expect(rows().every((r) => r.dataset.status === "pass")).toBe(true);
    expect(screen.getByTestId("preflight-summary").textContent).toContain("Ready to set up");
  });

  it("clears an earlier error when Check again succeeds", async () => {
    let calls = 0;
    const backend = fakeBackend({
      preflight: () =>
        ++calls === 1 ? Promise.reject({ code: "x", message: "first try failed", hint: null }) : Promise.resolve(MIXED),
    });
    renderSetup(backend);
    await screen.findByRole("alert");

    await fireEvent.click(screen.getByTestId("check-again"));
    await waitFor(() => expect(rows()).toHaveLength(3));
    expect(screen.queryByRole("alert")).toBeNull();
  });

  it("does not run again when reopened after a run", async () => {
    const { backend, preflight, setup, unmount } = renderSetup();
    await waitFor(() => expect(rows()).toHaveLength(3));
    unmount();

    render(Setup, {
      props: { preflight, setup, cluster: new ClusterState(backend), onSimulatedStarted: vi.fn(), onOpenMesh: vi.fn() },
    });
    expect(rows()).toHaveLength(3);
    expect(backend.runPreflight).toHaveBeenCalledTimes(1);
  });

  it("starts a simulated playground and then says where it runs", async () => {
    const { backend, cluster, onSimulatedStarted } = renderSetup();
    await fireEvent.click(screen.getByTestId("start-simulated"));
    await waitFor(() => expect(screen.getByText("Simulated playground running")).toBeTruthy());
    expect(backend.startSimulated).toHaveBeenCalledTimes(1);
    expect(onSimulatedStarted).toHaveBeenCalledTimes(1);
    expect(cluster.simulated?.context).toBe("sim-istio-playground");
    expect(screen.getByTestId("simulated-ingress").textContent).toBe("http://127.0.0.1:41001/productpage");
    expect(screen.getByText(/kubectl --kubeconfig \/tmp\/data\/sim\/kubeconfig get pods -A/)).toBeTruthy();
  });

  it("shows why a simulated playground could not start and lets the user try again", async () => {
    const backend = fakeBackend({
      preflight: () => Promise.resolve(MIXED),
      startSimulated: () => Promise.reject({ code: "cluster_target", message: "could not listen on 127.0.0.1:0", hint: "Close other apps." }),
    });
    const { onSimulatedStarted } = renderSetup(backend);
    await fireEvent.click(screen.getByTestId("start-simulated"));
    const alert = await screen.findByTestId("simulated-error");
    expect(alert.textContent).toContain("could not listen");
    expect(alert.textContent).toContain("Close other apps.");
    expect(onSimulatedStarted).not.toHaveBeenCalled();
    expect((screen.getByTestId("start-simulated") as HTMLButtonElement).disabled).toBe(false);
  });
});

describe("Setup with the setup steps", () => {
  it("lists the steps below the checks and blocks setup while a check fails", async () => {
    renderSetup();
    await waitFor(() => expect(rows()).toHaveLength(3));
    await waitFor(() => expect(screen.queryAllByTestId("setup-step")).toHaveLength(7));
    const button = screen.getByTestId("setup-start") as HTMLButtonElement;
    expect(button.disabled).toBe(true);
    expect(screen.getByTestId("setup-blocked").textContent).toContain("Title of inotify");
  });

  it("lets setup start when nothing fails", async () => {
    const { backend } = renderSetup(
      fakeBackend({ preflight: () => Promise.resolve(report([check({ id: "docker", status: "pass" }), check({ id: "disk", status: "warn" })])) }),
    );
    await waitFor(() => expect((screen.getByTestId("setup-start") as HTMLButtonElement).disabled).toBe(false));
    await fireEvent.click(screen.getByTestId("setup-start"));
    expect(backend.setupStart).toHaveBeenCalledTimes(1);
  });
});
