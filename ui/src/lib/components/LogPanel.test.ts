import { fireEvent, render, screen, waitFor } from "@testing-library/svelte";
import { afterEach, describe, expect, it, vi } from "vitest";

import { backendContext } from "../backend";
import type { LogLine } from "../generated/LogLine";
import { fakeBackend } from "../../test/fakeBackend";
import LogPanel from "./LogPanel.svelte";

const line = (n: number, level = "INFO", message = `message ${n}`): LogLine => ({
  unixMs: 1_700_000_000_000 + n,
  level,
  target: "playground::test",
  message,
});

function renderPanel(backend = fakeBackend({ logInfo: { dir: "/logs", file: "/logs/today.log", recent: [line(1), line(2, "ERROR", "it broke")] } })) {
  render(LogPanel, { props: { open: true }, context: backendContext(backend) });
  return backend;
}

const shown = () => Array.from(document.querySelectorAll("#log-lines .line")).map((el) => el.textContent ?? "");

afterEach(() => {
  vi.unstubAllGlobals();
});

describe("LogPanel", () => {
  it("shows the recent lines, their levels and the log file path", async () => {
    renderPanel();
    await waitFor(() => expect(shown()).toHaveLength(2));
    expect(screen.getByTestId("log-file-path").textContent).toBe("/logs/today.log");
    expect(shown()[1]).toContain("ERROR");
    expect(shown()[1]).toContain("it broke");
    expect(document.querySelector("#log-lines .line.error")).not.toBeNull();
    expect(screen.getByTestId("log-panel").textContent).toContain("1 error");
  });

  it("appends lines that arrive live", async () => {
    const backend = renderPanel();
    await waitFor(() => expect(shown()).toHaveLength(2));
    backend.emit(line(3, "WARN", "new one"));
    await waitFor(() => expect(shown()).toHaveLength(3));
    expect(shown()[2]).toContain("new one");
    expect(shown()[2]).toContain("WARN");
  });

  it("collapses and expands with its toggle", async () => {
    renderPanel();
    const toggle = screen.getByRole("button", { name: /Hide log/ });
    expect(toggle.getAttribute("aria-expanded")).toBe("true");
    await fireEvent.click(toggle);
    expect(toggle.getAttribute("aria-expanded")).toBe("false");
    expect(document.getElementById("log-lines")?.hidden).toBe(true);
  });

  it("copies the shown lines and says Copied", async () => {
    const writeText = vi.fn(() => Promise.resolve());
    vi.stubGlobal("navigator", { ...navigator, clipboard: { writeText } });
    renderPanel();
    await waitFor(() => expect(shown()).toHaveLength(2));

    await fireEvent.click(screen.getByTestId("log-copy"));

    await waitFor(() => expect(screen.getByTestId("log-copy").textContent).toContain("Copied"));
    expect(writeText).toHaveBeenCalledTimes(1);
    const copied = (writeText.mock.calls[0] as unknown as [string])[0];
    expect(copied.split("\n")).toHaveLength(2);
    expect(copied).toContain("message 1");
    expect(copied).toContain("ERROR playground::test: it broke");
    expect(screen.getByRole("status").textContent).toContain("Copied");
  });

  it("falls back to execCommand when the clipboard API is missing", async () => {
    vi.stubGlobal("navigator", { ...navigator, clipboard: undefined });
    const exec = vi.fn(() => true);
    document.execCommand = exec;
    renderPanel();
    await waitFor(() => expect(shown()).toHaveLength(2));

    await fireEvent.click(screen.getByTestId("log-copy"));

    await waitFor(() => expect(screen.getByTestId("log-copy").textContent).toContain("Copied"));
    expect(exec).toHaveBeenCalledWith("copy");
  });

  it("says so when the log cannot be read", async () => {
    const backend = fakeBackend();
    backend.logInfo = () => Promise.reject({ code: "io", message: "log dir missing", hint: null });
    renderPanel(backend);
    await waitFor(() => expect(screen.getByTestId("log-panel").textContent).toContain("Log unavailable: log dir missing"));
  });
});
