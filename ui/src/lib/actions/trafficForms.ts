// The traffic-management forms as plain data: what the user typed (strings, as inputs hold
// them) turned into the plans the Rust actions take, or one message per wrong field. The
// checks mirror the Rust validation (which runs again on every preview and apply) so a
// mistake is named next to its field before anything is sent.
import type { BreakerPlan } from "../generated/BreakerPlan";
import type { FaultPlan } from "../generated/FaultPlan";
import type { MtlsPlan } from "../generated/MtlsPlan";
import type { MtlsSetting } from "../generated/MtlsSetting";
import type { RetryPlan } from "../generated/RetryPlan";
import type { RoutePlan } from "../generated/RoutePlan";
import type { TimeoutPlan } from "../generated/TimeoutPlan";
import retryOn from "../generated/retryOn.json";

export type Parsed<T> = { value: T } | { error: string };
/** A plan, or what is wrong with each field (keys are the form's field names). */
export type FormResult<P, F> = { plan: P; errors: Record<string, never> } | { plan: null; errors: Partial<Record<keyof F, string>> };

/** The header productpage sets from its login, which Istio's samples match on. */
export const USER_HEADER = "end-user";

/** Envoy's retry conditions: the list the Rust side checks against (`policy::RETRY_ON`),
 * exported by its tests. */
export const RETRY_ON: readonly string[] = retryOn;

export function parsePercent(text: string): Parsed<number> {
  const t = text.trim().replace(/%$/, "").trim();
  if (t === "") return { error: "Type a percentage from 0 to 100." };
  if (!/^-?\d+(\.\d+)?$/.test(t)) return { error: `“${t}” is not a number.` };
  const n = Number(t);
  if (n < 0) return { error: "A percentage cannot be negative." };
  if (n > 100) return { error: "A percentage is at most 100." };
  return { value: n };
}

const DURATION = /^(\d+(\.\d+)?(h|ms|m|s))+$/;

/** A duration as Istio writes it (`7s`, `500ms`, `1m30s`), more than zero. */
export function parseDuration(text: string, what = "duration"): Parsed<string> {
  const t = text.trim();
  if (t === "") return { error: `Type a ${what} such as 2s or 500ms.` };
  if (/^\d+(\.\d+)?$/.test(t)) return { error: `Add a unit: ${t}s for seconds or ${t}ms for milliseconds.` };
  if (!DURATION.test(t)) return { error: `“${t}” is not a ${what}: write a number with a unit, such as 7s, 500ms or 1m.` };
  if (!/[1-9]/.test(t.replace(/(h|ms|m|s)/g, ""))) return { error: `A ${what} of zero does nothing: use more than 0.` };
  return { value: t };
}

/** A header name (HTTP token characters only). */
export function parseHeaderName(text: string): Parsed<string> {
  const t = text.trim();
  if (t === "") return { error: "Type a header name, such as end-user." };
  if (/\s/.test(t)) return { error: "A header name cannot contain spaces." };
  const bad = [...t].find((c) => !/[A-Za-z0-9!#$%&'*+\-.^_`|~]/.test(c));
  if (bad) return { error: `A header name cannot contain “${bad}”.` };
  return { value: t.toLowerCase() };
}

/** A user name (the header's value). */
export function parseUser(text: string): Parsed<string> {
  const t = text.trim();
  if (t === "") return { error: "Type a user name, such as jason." };
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(t)) return { error: "A user name must be one line of text." };
  return { value: t };
}

export function parseStatus(text: string): Parsed<number> {
  const t = text.trim();
  if (!/^\d+$/.test(t)) return { error: "Type an HTTP status code, such as 500 or 503." };
  const n = Number(t);
  if (n < 200 || n > 599) return { error: "An abort returns a status from 200 to 599." };
  return { value: n };
}

/** A whole number from `min` to `max`; empty gives null when `optional`. */
export function parseWhole(text: string, min: number, max: number, optional: boolean): Parsed<number | null> {
  const t = text.trim();
  if (t === "") return optional ? { value: null } : { error: `Type a whole number from ${min} to ${max}.` };
  if (!/^-?\d+$/.test(t)) return { error: `“${t}” is not a whole number.` };
  const n = Number(t);
  if (n < min || n > max) return { error: `Choose from ${min} to ${max}.` };
  return { value: n };
}

/** Retry conditions, comma or space separated: Envoy's words or status codes. */
export function parseRetryOn(text: string): Parsed<string[]> {
  const items = text
    .split(/[\s,]+/)
    .map((s) => s.trim())
    .filter(Boolean);
  for (const item of items) {
    if (/^\d+$/.test(item)) {
      const n = Number(item);
      if (n < 100 || n > 599) return { error: `${item} is not an HTTP status code.` };
    } else if (!RETRY_ON.includes(item)) {
      return { error: `“${item}” is not a retry condition Envoy knows. Try 5xx, gateway-error, connect-failure or a status code.` };
    }
  }
  return { value: items };
}

function collect<F>(checks: { [K in keyof F]?: Parsed<unknown> }): Partial<Record<keyof F, string>> {
  const errors: Partial<Record<keyof F, string>> = {};
  for (const [k, r] of Object.entries(checks) as [keyof F, Parsed<unknown> | undefined][]) {
    if (r && "error" in r) errors[k] = r.error;
  }
  return errors;
}

const ok = <T>(r: Parsed<T>): T => (r as { value: T }).value;

// ---- Request routing ----

export interface RouteForm {
  /** "all": every request to `to`; "user": the user's requests to `to`, the rest to `otherwise`. */
  mode: "all" | "user";
  to: string;
  user: string;
  header: string;
  /** Empty: the other requests keep their route. */
  otherwise: string;
}

export function routePlan(service: string, namespace: string, f: RouteForm): FormResult<RoutePlan, RouteForm> {
  if (f.mode === "all") {
    if (!f.to) return { plan: null, errors: { to: "Choose the version that gets every request." } };
    return { plan: { service, namespace, to: f.to, user: null, header: null, otherwise: null }, errors: {} };
  }
  const user = parseUser(f.user);
  const header = parseHeaderName(f.header || USER_HEADER);
  const to: Parsed<string> = f.to ? { value: f.to } : { error: "Choose the version this user's requests go to." };
  const errors = collect<RouteForm>({ user, header, to });
  if (Object.keys(errors).length) return { plan: null, errors };
  return {
    plan: {
      service,
      namespace,
      to: ok(to),
      user: ok(user),
      header: ok(header) === USER_HEADER ? null : ok(header),
      otherwise: f.otherwise || null,
    },
    errors: {},
  };
}

// ---- Fault injection ----

export interface FaultForm {
  kind: "delay" | "abort" | "clear";
  delay: string;
  status: string;
  percent: string;
  /** Empty: every user. */
  user: string;
}

export function faultPlan(service: string, namespace: string, f: FaultForm): FormResult<FaultPlan, FaultForm> {
  const user: Parsed<string | null> = f.user.trim() === "" ? { value: null } : parseUser(f.user);
  if (f.kind === "clear") {
    const errors = collect<FaultForm>({ user });
    if (Object.keys(errors).length) return { plan: null, errors };
    return { plan: { service, namespace, fault: null, percent: 100, user: ok(user), header: null }, errors: {} };
  }
  const percent = parsePercent(f.percent);
  const delay = f.kind === "delay" ? parseDuration(f.delay, "delay") : undefined;
  const status = f.kind === "abort" ? parseStatus(f.status) : undefined;
  const errors = collect<FaultForm>({ user, percent, delay, status });
  if (Object.keys(errors).length) return { plan: null, errors };
  return {
    plan: {
      service,
      namespace,
      fault: f.kind === "delay" ? { type: "delay", delay: ok(delay!) } : { type: "abort", status: ok(status!) },
      percent: ok(percent),
      user: ok(user),
      header: null,
    },
    errors: {},
  };
}

// ---- Timeout and retries ----

export interface TimeoutForm {
  /** Empty clears the timeout. */
  timeout: string;
}

export function timeoutPlan(service: string, namespace: string, f: TimeoutForm): FormResult<TimeoutPlan, TimeoutForm> {
  if (f.timeout.trim() === "") return { plan: { service, namespace, timeout: null }, errors: {} };
  const timeout = parseDuration(f.timeout, "timeout");
  if ("error" in timeout) return { plan: null, errors: { timeout: timeout.error } };
  return { plan: { service, namespace, timeout: timeout.value }, errors: {} };
}

export interface RetryForm {
  clear: boolean;
  attempts: string;
  perTryTimeout: string;
  retryOn: string;
}

export const ATTEMPTS_MAX = 10;

export function retryPlan(service: string, namespace: string, f: RetryForm): FormResult<RetryPlan, RetryForm> {
  if (f.clear) return { plan: { service, namespace, clear: true, attempts: null, perTryTimeout: null, retryOn: [] }, errors: {} };
  const attempts = parseWhole(f.attempts, 0, ATTEMPTS_MAX, false);
  const perTryTimeout: Parsed<string | null> = f.perTryTimeout.trim() === "" ? { value: null } : parseDuration(f.perTryTimeout, "per-try timeout");
  const retryOn = parseRetryOn(f.retryOn);
  const errors = collect<RetryForm>({ attempts, perTryTimeout, retryOn });
  if (Object.keys(errors).length) return { plan: null, errors };
  return {
    plan: { service, namespace, clear: false, attempts: ok(attempts), perTryTimeout: ok(perTryTimeout), retryOn: ok(retryOn) },
    errors: {},
  };
}

// ---- Circuit breaking ----

export interface BreakerForm {
  clear: boolean;
  maxConnections: string;
  maxPendingRequests: string;
  maxRequestsPerConnection: string;
  consecutive5xxErrors: string;
  interval: string;
  baseEjectionTime: string;
  maxEjectionPercent: string;
}

/** Istio's circuit-breaking task: one connection, one pending request, eject after one 5xx. */
export const BREAKER_TASK: BreakerForm = {
  clear: false,
  maxConnections: "1",
  maxPendingRequests: "1",
  maxRequestsPerConnection: "1",
  consecutive5xxErrors: "1",
  interval: "1s",
  baseEjectionTime: "3m",
  maxEjectionPercent: "100",
};

const LIMIT_MAX = 1_000_000;

export function breakerPlan(service: string, namespace: string, f: BreakerForm): FormResult<BreakerPlan, BreakerForm> {
  const empty = {
    maxConnections: null,
    maxPendingRequests: null,
    maxRequestsPerConnection: null,
    consecutive5xxErrors: null,
    interval: null,
    baseEjectionTime: null,
    maxEjectionPercent: null,
  };
  if (f.clear) return { plan: { service, namespace, clear: true, ...empty }, errors: {} };
  const dur = (t: string, what: string): Parsed<string | null> => (t.trim() === "" ? { value: null } : parseDuration(t, what));
  const checks = {
    maxConnections: parseWhole(f.maxConnections, 1, LIMIT_MAX, true),
    maxPendingRequests: parseWhole(f.maxPendingRequests, 1, LIMIT_MAX, true),
    maxRequestsPerConnection: parseWhole(f.maxRequestsPerConnection, 1, LIMIT_MAX, true),
    consecutive5xxErrors: parseWhole(f.consecutive5xxErrors, 1, LIMIT_MAX, true),
    interval: dur(f.interval, "interval"),
    baseEjectionTime: dur(f.baseEjectionTime, "ejection time"),
    maxEjectionPercent: parseWhole(f.maxEjectionPercent, 0, 100, true),
  };
  const errors = collect<BreakerForm>(checks);
  if (Object.keys(errors).length) return { plan: null, errors };
  const plan: BreakerPlan = {
    service,
    namespace,
    clear: false,
    maxConnections: ok(checks.maxConnections),
    maxPendingRequests: ok(checks.maxPendingRequests),
    maxRequestsPerConnection: ok(checks.maxRequestsPerConnection),
    consecutive5xxErrors: ok(checks.consecutive5xxErrors),
    interval: ok(checks.interval),
    baseEjectionTime: ok(checks.baseEjectionTime),
    maxEjectionPercent: ok(checks.maxEjectionPercent),
  };
  const { service: _s, namespace: _n, clear: _c, ...limits } = plan;
  if (Object.values(limits).every((v) => v === null)) {
    return { plan: null, errors: { maxConnections: "Set at least one limit, or choose “Remove the circuit breaker”." } };
  }
  return { plan, errors: {} };
}

/**
 * Limits below what the running traffic generator keeps in flight: the breaker trips (503
 * with Envoy's UO flag). Empty when nothing runs or nothing is that low.
 */
export function limitsBelowConcurrency(plan: Pick<BreakerPlan, "maxConnections" | "maxPendingRequests">, concurrency: number | null): string[] {
  if (!concurrency) return [];
  const out: string[] = [];
  if (plan.maxConnections !== null && plan.maxConnections < concurrency) out.push(`max connections ${plan.maxConnections}`);
  if (plan.maxPendingRequests !== null && plan.maxPendingRequests < concurrency) out.push(`pending requests ${plan.maxPendingRequests}`);
  return out;
}

// ---- Mutual TLS ----

export interface MtlsForm {
  scope: "mesh" | "namespace" | "workload";
  namespace: string;
  workload: string;
  /** "remove" deletes the scope's policy (the wider one applies again). */
  mode: MtlsSetting | "remove";
}

export function mtlsPlan(f: MtlsForm): FormResult<MtlsPlan, MtlsForm> {
  const errors: Partial<Record<keyof MtlsForm, string>> = {};
  if (f.scope !== "mesh" && f.namespace.trim() === "") errors.namespace = "Choose a namespace.";
  if (f.scope === "workload" && f.workload.trim() === "") errors.workload = "Choose a workload.";
  if (Object.keys(errors).length) return { plan: null, errors };
  const scope: MtlsPlan["scope"] =
    f.scope === "mesh"
      ? { type: "mesh" }
      : f.scope === "namespace"
        ? { type: "namespace", namespace: f.namespace.trim() }
        : { type: "workload", namespace: f.namespace.trim(), name: f.workload.trim() };
  return { plan: { scope, mode: f.mode === "remove" ? null : f.mode }, errors: {} };
}

export const MTLS_MEANING: Record<MtlsSetting, string> = {
  PERMISSIVE: "accepts both mutual TLS and plain text: clients outside the mesh still get through.",
  STRICT: "accepts only mutual TLS: a client without a sidecar is refused (connection reset).",
  DISABLE: "accepts only plain text: sidecars stop encrypting to it.",
};
