import { describe, expect, it } from "vitest";

import {
  BREAKER_TASK,
  breakerPlan,
  faultPlan,
  limitsBelowConcurrency,
  mtlsPlan,
  parseDuration,
  parseHeaderName,
  parsePercent,
  parseRetryOn,
  parseStatus,
  retryPlan,
  routePlan,
  timeoutPlan,
  type FaultForm,
} from "./trafficForms";

const err = (r: { error: string } | { value: unknown }) => ("error" in r ? r.error : null);

describe("field checks", () => {
  it("percentages are 0 to 100, decimals allowed", () => {
    expect(parsePercent("50")).toEqual({ value: 50 });
    expect(parsePercent(" 12.5 % ")).toEqual({ value: 12.5 });
    expect(err(parsePercent("-5"))).toBe("A percentage cannot be negative.");
    expect(err(parsePercent("101"))).toBe("A percentage is at most 100.");
    expect(err(parsePercent("half"))).toContain("is not a number");
  });

  it("durations need a unit and more than zero", () => {
    expect(parseDuration("7s")).toEqual({ value: "7s" });
    expect(parseDuration("1m30s")).toEqual({ value: "1m30s" });
    expect(parseDuration("0.5s")).toEqual({ value: "0.5s" });
    expect(err(parseDuration("7"))).toContain("Add a unit: 7s");
    expect(err(parseDuration("seven seconds", "delay"))).toContain("is not a delay");
    expect(err(parseDuration("0s"))).toContain("zero");
  });

  it("header names cannot have spaces or separators", () => {
    expect(parseHeaderName("End-User")).toEqual({ value: "end-user" });
    expect(err(parseHeaderName("end user"))).toBe("A header name cannot contain spaces.");
    expect(err(parseHeaderName("end:user"))).toBe("A header name cannot contain “:”.");
  });

  it("abort statuses are 200 to 599", () => {
    expect(parseStatus("503")).toEqual({ value: 503 });
    expect(err(parseStatus("99"))).toContain("200 to 599");
    expect(err(parseStatus("5xx"))).toContain("status code");
  });

  it("retry conditions are Envoy's words or status codes", () => {
    expect(parseRetryOn("5xx, connect-failure 503")).toEqual({ value: ["5xx", "connect-failure", "503"] });
    expect(err(parseRetryOn("5xx, sometimes"))).toContain("“sometimes” is not a retry condition");
  });
});

describe("plans", () => {
  it("routes one user by the end-user header, or everything to one version", () => {
    const user = routePlan("reviews", "default", { mode: "user", to: "v2", user: " jason ", header: "end-user", otherwise: "v1" });
    expect(user.plan).toEqual({ service: "reviews", namespace: "default", to: "v2", user: "jason", header: null, otherwise: "v1" });
    const all = routePlan("reviews", "default", { mode: "all", to: "v1", user: "ignored", header: "bad header", otherwise: "" });
    expect(all.plan).toEqual({ service: "reviews", namespace: "default", to: "v1", user: null, header: null, otherwise: null });
    const bad = routePlan("reviews", "default", { mode: "user", to: "v2", user: "", header: "x y", otherwise: "" });
    expect(bad.plan).toBeNull();
    expect(bad.errors).toEqual({ user: "Type a user name, such as jason.", header: "A header name cannot contain spaces." });
  });

  it("the classic fault: 7 s for jason, and every field's mistake at once", () => {
    const form: FaultForm = { kind: "delay", delay: "7s", status: "500", percent: "100", user: "jason" };
    expect(faultPlan("ratings", "default", form).plan).toEqual({
      service: "ratings",
      namespace: "default",
      fault: { type: "delay", delay: "7s" },
      percent: 100,
      user: "jason",
      header: null,
    });
    const bad = faultPlan("ratings", "default", { ...form, delay: "7", percent: "150" });
    expect(bad.plan).toBeNull();
    expect(Object.keys(bad.errors).sort()).toEqual(["delay", "percent"]);
    const abort = faultPlan("ratings", "default", { ...form, kind: "abort", status: "700", delay: "nonsense" });
    expect(abort.errors).toEqual({ status: "An abort returns a status from 200 to 599." });
    const clear = faultPlan("ratings", "default", { ...form, kind: "clear", user: "", percent: "nonsense" });
    expect(clear.plan).toMatchObject({ fault: null, user: null });
  });

  it("an empty timeout removes it; retries take attempts, per-try timeout and conditions", () => {
    expect(timeoutPlan("reviews", "default", { timeout: "" }).plan?.timeout).toBeNull();
    expect(timeoutPlan("reviews", "default", { timeout: "3" }).errors.timeout).toContain("Add a unit");
    expect(retryPlan("ratings", "default", { clear: false, attempts: "3", perTryTimeout: "2s", retryOn: "5xx,reset" }).plan).toEqual({
      service: "ratings",
      namespace: "default",
      clear: false,
      attempts: 3,
      perTryTimeout: "2s",
      retryOn: ["5xx", "reset"],
    });
    expect(retryPlan("ratings", "default", { clear: false, attempts: "-1", perTryTimeout: "", retryOn: "" }).errors).toEqual({
      attempts: "Choose from 0 to 10.",
    });
    expect(retryPlan("ratings", "default", { clear: true, attempts: "junk", perTryTimeout: "junk", retryOn: "junk" }).plan?.clear).toBe(true);
  });

  it("the circuit-breaking task's limits, refused limits, and the warning about the generator", () => {
    const task = breakerPlan("productpage", "default", BREAKER_TASK).plan!;
    expect(task).toMatchObject({ maxConnections: 1, maxPendingRequests: 1, consecutive5xxErrors: 1, interval: "1s", baseEjectionTime: "3m", maxEjectionPercent: 100 });
    expect(breakerPlan("productpage", "default", { ...BREAKER_TASK, maxConnections: "0", maxEjectionPercent: "120" }).errors).toEqual({
      maxConnections: "Choose from 1 to 1000000.",
      maxEjectionPercent: "Choose from 0 to 100.",
    });
    const none = { ...BREAKER_TASK, maxConnections: "", maxPendingRequests: "", maxRequestsPerConnection: "", consecutive5xxErrors: "", interval: "", baseEjectionTime: "", maxEjectionPercent: "" };
    expect(breakerPlan("productpage", "default", none).errors.maxConnections).toContain("Set at least one limit");
    expect(limitsBelowConcurrency(task, 10)).toEqual(["max connections 1", "pending requests 1"]);
    expect(limitsBelowConcurrency(task, 1)).toEqual([]);
    expect(limitsBelowConcurrency(task, null)).toEqual([]);
  });

  it("mTLS scopes and the removal of a policy", () => {
    expect(mtlsPlan({ scope: "mesh", namespace: "", workload: "", mode: "STRICT" }).plan).toEqual({ scope: { type: "mesh" }, mode: "STRICT" });
    expect(mtlsPlan({ scope: "workload", namespace: "default", workload: "ratings-v1", mode: "remove" }).plan).toEqual({
      scope: { type: "workload", namespace: "default", name: "ratings-v1" },
      mode: null,
    });
    expect(mtlsPlan({ scope: "workload", namespace: "default", workload: " ", mode: "DISABLE" }).errors).toEqual({ workload: "Choose a workload." });
  });
});
