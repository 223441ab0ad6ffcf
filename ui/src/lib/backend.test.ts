import { describe, expect, it } from "vitest";

import { toIpcError } from "./backend";
import { screenForShortcut } from "./screens";

describe("toIpcError", () => {
  it("passes an IpcError from the Rust side through", () => {
    const e = { code: "docker", message: "Docker is not running", hint: "Start Docker Desktop" };
    expect(toIpcError(e)).toEqual(e);
  });

  it("fills a missing hint with null", () => {
    expect(toIpcError({ code: "x", message: "y" })).toEqual({ code: "x", message: "y", hint: null });
  });

  it("turns a thrown Error into an unknown error with its message", () => {
    expect(toIpcError(new Error("boom"))).toEqual({ code: "unknown", message: "boom", hint: null });
  });

  it("turns strings and odd objects into unknown errors", () => {
    expect(toIpcError("command run_preflight not found")).toEqual({
      code: "unknown",
      message: "command run_preflight not found",
      hint: null,
    });
    expect(toIpcError({ code: 5 })).toEqual({ code: "unknown", message: "[object Object]", hint: null });
    expect(toIpcError(undefined)).toEqual({ code: "unknown", message: "undefined", hint: null });
  });
});

describe("screenForShortcut", () => {
  const key = (code: string, mods: Partial<{ altKey: boolean; ctrlKey: boolean; shiftKey: boolean; metaKey: boolean }>) => ({
    altKey: false,
    ctrlKey: false,
    shiftKey: false,
    metaKey: false,
    code,
    ...mods,
  });

  it("maps Alt or Ctrl plus 1 to 4 to the screens in order", () => {
    expect(screenForShortcut(key("Digit1", { altKey: true }))).toBe("setup");
    expect(screenForShortcut(key("Digit2", { ctrlKey: true }))).toBe("mesh");
    expect(screenForShortcut(key("Numpad3", { altKey: true }))).toBe("traffic");
    expect(screenForShortcut(key("Digit4", { ctrlKey: true }))).toBe("dashboards");
  });

  it("ignores plain digits, other digits and extra modifiers", () => {
    expect(screenForShortcut(key("Digit1", {}))).toBeNull();
    expect(screenForShortcut(key("Digit5", { altKey: true }))).toBe("lessons");
    expect(screenForShortcut(key("Digit6", { altKey: true }))).toBeNull();
    expect(screenForShortcut(key("Digit1", { altKey: true, ctrlKey: true }))).toBeNull();
    expect(screenForShortcut(key("Digit1", { altKey: true, shiftKey: true }))).toBeNull();
  });
});
