import { describe, expect, it } from "vitest";

import { check, report } from "../test/fakeBackend";
import { formatElapsed, splitCommands, summarize } from "./preflight";

describe("summarize", () => {
  it("says ready when every check passes", () => {
    const s = summarize(report([check({ id: "docker", status: "pass" }), check({ id: "disk", status: "pass" })], 840));
    expect(s.status).toBe("pass");
    expect(s.headline).toBe("Ready to set up");
    expect(s.detail).toBe("2 passed · checked in 840 ms");
  });

  it("says ready with warnings and counts them", () => {
    const s = summarize(
      report([check({ id: "docker", status: "pass" }), check({ id: "disk", status: "warn" }), check({ id: "ports", status: "warn" })], 1530),
    );
    expect(s.headline).toBe("Ready, with warnings");
    expect(s.detail).toBe("1 passed, 2 warnings · checked in 1.5 s");
  });

  it("asks to fix failures when any check fails, even with warnings", () => {
    const s = summarize(
      report([check({ id: "docker", status: "fail" }), check({ id: "disk", status: "warn" })], 3000),
    );
    expect(s.status).toBe("fail");
    expect(s.headline).toBe("Fix the failed checks first");
    expect(s.detail).toBe("0 passed, 1 warning, 1 failed · checked in 3.0 s");
  });

  it("follows the report's overall status, not its own recount", () => {
    const r = { ...report([check({ id: "docker", status: "pass" })]), overall: "warn" as const };
    expect(summarize(r).headline).toBe("Ready, with warnings");
  });
});

describe("formatElapsed", () => {
  it.each([
    [0, "0 ms"],
    [999, "999 ms"],
    [1000, "1.0 s"],
    [9949, "9.9 s"],
    [12400, "12 s"],
  ])("%d ms reads %s", (ms, text) => {
    expect(formatElapsed(ms)).toBe(text);
  });
});

describe("splitCommands", () => {
  it("turns backticked commands into code parts", () => {
    expect(splitCommands("Run `sudo systemctl start docker`, then press Check again.")).toEqual([
      { kind: "text", text: "Run " },
      { kind: "code", text: "sudo systemctl start docker" },
      { kind: "text", text: ", then press Check again." },
    ]);
  });

  it("handles several commands and a command at either end", () => {
    expect(splitCommands("`a` or `b c`")).toEqual([
      { kind: "code", text: "a" },
      { kind: "text", text: " or " },
      { kind: "code", text: "b c" },
    ]);
  });

  it("keeps text without backticks whole", () => {
    expect(splitCommands("Close other programs.")).toEqual([{ kind: "text", text: "Close other programs." }]);
  });

  it("leaves a lone or empty pair of backticks as text", () => {
    expect(splitCommands("use the ` key")).toEqual([{ kind: "text", text: "use the ` key" }]);
    expect(splitCommands("empty `` here")).toEqual([{ kind: "text", text: "empty `` here" }]);
  });

  it("returns nothing for an empty sentence", () => {
    expect(splitCommands("")).toEqual([]);
  });
});
