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
    expect((await screen.findByRole("heading", { level: 1 })).textContent).toBe("Mesh");
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
