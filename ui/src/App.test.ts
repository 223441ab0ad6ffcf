import { fireEvent, render, screen, waitFor } from "@testing-library/svelte";
import { describe, expect, it } from "vitest";

import App from "./App.svelte";
import { APP_INFO, fakeBackend } from "./test/fakeBackend";

describe("App", () => {
  it("shows the app name and the cluster context from appInfo", async () => {
    render(App, { props: { backend: fakeBackend() } });
    expect(screen.getByText("Istio Playground")).toBeTruthy();
    await waitFor(() => expect(screen.getByTestId("cluster-target").textContent).toContain(APP_INFO.target.context));
  });

  it("never claims sample data unless told it is a preview", () => {
    render(App, { props: { backend: fakeBackend() } });
    expect(screen.queryByTestId("preview-label")).toBeNull();
    expect(document.body.textContent).not.toContain("sample data");
  });

  it("opens on Setup and switches screens with the navigation rail", async () => {
    render(App, { props: { backend: fakeBackend() } });
    expect(screen.getByRole("heading", { level: 1 }).textContent).toBe("Setup");
    expect(screen.getByTestId("nav-setup").getAttribute("aria-current")).toBe("page");

    await fireEvent.click(screen.getByTestId("nav-mesh"));
    // Loaded on first use (its own script chunk).
    expect((await screen.findByRole("heading", { level: 1 }, { timeout: 5000 })).textContent).toBe("Mesh");
    expect(document.body.textContent).toContain("Connecting to the cluster");
    expect(screen.getByTestId("nav-mesh").getAttribute("aria-current")).toBe("page");
    expect(screen.getByTestId("nav-setup").getAttribute("aria-current")).toBeNull();
    expect(screen.queryByTestId("preflight-summary")).toBeNull();

    await fireEvent.click(screen.getByTestId("nav-traffic"));
    expect(screen.getByRole("heading", { level: 1 }).textContent).toBe("Traffic");

    await fireEvent.click(screen.getByTestId("nav-dashboards"));
    expect(screen.getByRole("heading", { level: 1 }).textContent).toBe("Dashboards");
  });

  it("switches screens with Alt+digit and Ctrl+digit", async () => {
    render(App, { props: { backend: fakeBackend() } });
    await fireEvent.keyDown(window, { code: "Digit4", key: "4", altKey: true });
    expect(screen.getByRole("heading", { level: 1 }).textContent).toBe("Dashboards");
    await fireEvent.keyDown(window, { code: "Digit1", key: "1", ctrlKey: true });
    expect(screen.getByRole("heading", { level: 1 }).textContent).toBe("Setup");
    await fireEvent.keyDown(window, { code: "Digit2", key: "2" });
    expect(screen.getByRole("heading", { level: 1 }).textContent).toBe("Setup");
  });

  it("keeps the preflight result when leaving Setup and coming back", async () => {
    const backend = fakeBackend();
    render(App, { props: { backend } });
    await waitFor(() => expect(screen.getAllByTestId("preflight-row")).toHaveLength(1));

    await fireEvent.click(screen.getByTestId("nav-mesh"));
    await fireEvent.click(screen.getByTestId("nav-setup"));
    expect(screen.getAllByTestId("preflight-row")).toHaveLength(1);
    expect(backend.runPreflight).toHaveBeenCalledTimes(1);
  });

  it("keeps the log panel on every screen", async () => {
    render(App, { props: { backend: fakeBackend() } });
    expect(screen.getByTestId("log-panel")).toBeTruthy();
    await fireEvent.click(screen.getByTestId("nav-traffic"));
    expect(screen.getByTestId("log-panel")).toBeTruthy();
  });
});

describe("presenter mode", () => {
  it("F5 goes full screen with the caption, the clicker moves between steps, Escape comes back", async () => {
    const backend = fakeBackend();
    render(App, { props: { backend, initialScreen: "lessons" } });
    await fireEvent.click(await screen.findByTestId("lesson-open-bookinfo-basics"));
    await screen.findByTestId("lesson-step-title");

    await fireEvent.keyDown(window, { key: "F5" });
    expect(backend.setFullscreen).toHaveBeenLastCalledWith(true);
    expect((await screen.findByTestId("presenter-step-title")).textContent).toBe("Start the playground");

    await fireEvent.keyDown(window, { key: "PageDown" });
    expect(screen.getByTestId("presenter-step-title").textContent).toBe("Follow one request");
    await fireEvent.keyDown(window, { key: "ArrowRight" });
    expect(screen.getByTestId("presenter-step-title").textContent).toBe("Shift traffic: 60/30/10");
    await fireEvent.keyDown(window, { key: "PageUp" });
    expect(screen.getByTestId("presenter-step-title").textContent).toBe("Follow one request");

    await fireEvent.keyDown(window, { key: "Escape" });
    await waitFor(() => expect(screen.queryByTestId("presenter")).toBeNull());
    expect(backend.setFullscreen).toHaveBeenLastCalledWith(false);
    // The Lessons screen kept the step the class reached.
    expect(screen.getByTestId("lesson-step-title").textContent).toBe("Follow one request");
  });

  it("starts from the header button and leaves with F5", async () => {
    const backend = fakeBackend();
    render(App, { props: { backend } });
    await fireEvent.click(screen.getByTestId("present"));
    expect(await screen.findByTestId("presenter")).toBeTruthy();
    expect(screen.getByTestId("presenter-caption").textContent).toContain("Open a lesson");
    await fireEvent.keyDown(window, { key: "F5" });
    await waitFor(() => expect(screen.queryByTestId("presenter")).toBeNull());
  });
});

describe("presenter mode over a live mesh", () => {
  it("opens from the Lessons screen while its graph spotlights the step", async () => {
    const { splitSnapshot } = await import("./lib/mesh/sample");
    const backend = fakeBackend();
    render(App, { props: { backend, initialScreen: "lessons" } });
    await fireEvent.click(await screen.findByTestId("lesson-open-bookinfo-basics"));
    await waitFor(() => expect(backend.watchMesh).toHaveBeenCalled());
    backend.emitMesh({ type: "snapshot", snapshot: splitSnapshot() });
    await screen.findByTestId("lesson-step-title");
    await waitFor(() => expect(document.querySelectorAll("[data-testid=mesh-graph]")).toHaveLength(1));
    await fireEvent.click(screen.getByTestId("lesson-present"));
    expect((await screen.findByTestId("presenter-step-title")).textContent).toBe("Start the playground");
    await fireEvent.keyDown(window, { key: "PageDown" });
    expect(screen.getByTestId("presenter-step-title").textContent).toBe("Follow one request");
  });
});
