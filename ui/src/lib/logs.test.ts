import { describe, expect, it } from "vitest";

import type { LogLine } from "./generated/LogLine";
import {
  appendCapped,
  formatLine,
  formatLines,
  formatTime,
  mergeRecent,
  normalizeLevel,
  splitPath,
} from "./logs";

const line = (n: number, message = `line ${n}`, level = "INFO"): LogLine => ({
  unixMs: 1_700_000_000_000 + n,
  level,
  target: "playground::preflight",
  message,
});

describe("formatTime", () => {
  it("shows local hours, minutes, seconds and milliseconds with padding", () => {
    const ms = new Date(2026, 0, 2, 3, 4, 5, 6).getTime();
    expect(formatTime(ms)).toBe("03:04:05.006");
  });
});

describe("formatLine", () => {
  it("puts time, padded level, target and message on one line", () => {
    const l = { unixMs: new Date(2026, 0, 1, 14, 3, 7, 250).getTime(), level: "warn", target: "playground::kube", message: "slow answer ms=900" };
    expect(formatLine(l)).toBe("14:03:07.250 WARN  playground::kube: slow answer ms=900");
  });

  it("joins several lines with newlines for copying", () => {
    const text = formatLines([line(1), line(2)]);
    expect(text.split("\n")).toHaveLength(2);
    expect(text).toContain("line 1");
    expect(text.endsWith("line 2")).toBe(true);
  });
});

describe("normalizeLevel", () => {
  it("accepts known levels in any case and treats unknown ones as INFO", () => {
    expect(normalizeLevel("error")).toBe("ERROR");
    expect(normalizeLevel(" TRACE ")).toBe("TRACE");
    expect(normalizeLevel("NOTICE")).toBe("INFO");
  });
});

describe("appendCapped", () => {
  it("appends without copying more than needed below the cap", () => {
    const before = [line(1)];
    const after = appendCapped(before, [line(2)], 5);
    expect(after.map((l) => l.message)).toEqual(["line 1", "line 2"]);
    expect(before).toHaveLength(1);
  });

  it("keeps only the newest lines past the cap", () => {
    const many = Array.from({ length: 498 }, (_, i) => line(i));
    const after = appendCapped(many, [line(1000), line(1001), line(1002), line(1003)]);
    expect(after).toHaveLength(500);
    expect(after[0].message).toBe("line 2");
    expect(after[499].message).toBe("line 1003");
  });
});

describe("mergeRecent", () => {
  it("drops live lines that the recent lines already hold", () => {
    const merged = mergeRecent([line(1), line(2)], [line(2), line(3)]);
    expect(merged.map((l) => l.message)).toEqual(["line 1", "line 2", "line 3"]);
  });

  it("keeps a live line with the same time but a different message", () => {
    const merged = mergeRecent([line(1)], [line(1, "other")]);
    expect(merged.map((l) => l.message)).toEqual(["line 1", "other"]);
  });

  it("caps the result", () => {
    const merged = mergeRecent([line(1), line(2)], [line(3)], 2);
    expect(merged.map((l) => l.message)).toEqual(["line 2", "line 3"]);
  });
});

describe("splitPath", () => {
  it("splits Unix and Windows paths before the file name", () => {
    expect(splitPath("/home/a/logs/x.log")).toEqual({ dir: "/home/a/logs/", base: "x.log" });
    expect(splitPath("C:\\Users\\a\\x.log")).toEqual({ dir: "C:\\Users\\a\\", base: "x.log" });
    expect(splitPath("x.log")).toEqual({ dir: "", base: "x.log" });
  });
});
