import { describe, expect, it } from "vitest";

import { applyEvent, blockedReason, duration, STEP_LOG_LIMIT, stepsFromPlan } from "./setup";
import { SETUP_PLAN, provisionEvent } from "../test/fakeBackend";
import type { StepFailure } from "./generated/StepFailure";

describe("setup steps", () => {
  const initial = stepsFromPlan(SETUP_PLAN.steps);

  it("start pending, in the plan's order, with its titles", () => {
    expect(initial.map((s) => [s.id, s.state])).toEqual(SETUP_PLAN.steps.map((p) => [p.id, "pending"]));
    expect(initial[0].title).toBe("Get kind and istioctl");
  });

  it("follow running, progress and log lines, then the result", () => {
    let s = applyEvent(initial, provisionEvent({ step: "tools", state: "running", message: "Downloading kind" }));
    s = applyEvent(s, provisionEvent({ step: "tools", state: "running", percent: 40, elapsedMs: 1500 }));
    expect(s[0]).toMatchObject({ state: "running", percent: 40, elapsedMs: 1500, log: ["Downloading kind"] });
    // An event without a percent keeps the last one.
    s = applyEvent(s, provisionEvent({ step: "tools", state: "running", message: "checked" }));
    expect(s[0].percent).toBe(40);
    s = applyEvent(s, provisionEvent({ step: "tools", state: "done", message: "kind ready", elapsedMs: 3200 }));
    expect(s[0]).toMatchObject({ state: "done", percent: 100, message: "kind ready", elapsedMs: 3200 });
    expect(s[0].log).toEqual(["Downloading kind", "checked", "kind ready"]);
    expect(s[1]).toBe(initial[1]);
  });

  it("keep a failure with its hint, and a new run clears it", () => {
    const failure: StepFailure = { code: "tool_failed", message: "kind failed", hint: "Free port 9080" };
    let s = applyEvent(initial, provisionEvent({ step: "cluster", state: "failed", failure, message: "kind failed" }));
    expect(s[1]).toMatchObject({ state: "failed", failure, percent: null });
    expect(s[1].log).toEqual([]);
    s = applyEvent(s, provisionEvent({ step: "cluster", state: "pending" }));
    expect(s[1]).toMatchObject({ state: "pending", failure: null, log: [], message: null });
  });

  it("keep only the last lines of a chatty step", () => {
    let s = initial;
    for (let i = 0; i < STEP_LOG_LIMIT + 20; i++) {
      s = applyEvent(s, provisionEvent({ step: "istio", state: "running", message: `line ${i}` }));
    }
    expect(s[3].log).toHaveLength(STEP_LOG_LIMIT);
    expect(s[3].log.at(-1)).toBe(`line ${STEP_LOG_LIMIT + 19}`);
  });

  it("add a step the plan did not list (the teardown)", () => {
    const s = applyEvent([], provisionEvent({ step: "teardown", state: "running" }));
    expect(s.map((x) => [x.id, x.state])).toEqual([["teardown", "running"]]);
  });

  it("read times like a person", () => {
    expect(duration(850)).toBe("850 ms");
    expect(duration(12_400)).toBe("12 s");
    expect(duration(185_000)).toBe("3 min 05 s");
  });
});

describe("blockedReason", () => {
  const checks = (statuses: string[]) => ({
    running: false,
    report: { checks: statuses.map((status, i) => ({ title: `Check ${i}`, status })) },
  });

  it("blocks only on failed checks, naming them", () => {
    expect(blockedReason(checks(["pass", "warn"]))).toBeNull();
    expect(blockedReason(checks(["pass", "fail"]))).toBe("Fix the failed check above first: Check 1.");
    expect(blockedReason(checks(["fail", "fail"]))).toBe("Fix the failed checks above first: Check 0, Check 1.");
  });

  it("waits for the checks", () => {
    expect(blockedReason({ running: true, report: null })).toBe("Wait for the checks above to finish.");
    expect(blockedReason({ running: false, report: null })).toBe("Run the checks above first.");
  });
});
