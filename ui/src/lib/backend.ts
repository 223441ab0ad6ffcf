// The only module in the UI that imports `@tauri-apps`: everything else talks to the
// `Backend` interface, so components can be tested (and previewed) with a fake one.
import { Channel, invoke } from "@tauri-apps/api/core";
import { getCurrentWindow } from "@tauri-apps/api/window";
import { openUrl } from "@tauri-apps/plugin-opener";
import { getContext, setContext } from "svelte";

import type { AppInfo } from "./generated/AppInfo";
import type { IpcError } from "./generated/IpcError";
import type { LogInfo } from "./generated/LogInfo";
import type { LogLine } from "./generated/LogLine";
import type { PreflightReport } from "./generated/PreflightReport";
import type { MeshEvent } from "./generated/MeshEvent";
import type { ObjectRef } from "./generated/ObjectRef";
import type { ProvisionEvent } from "./generated/ProvisionEvent";
import type { ServiceHistory } from "./generated/ServiceHistory";
import type { SetupPlan } from "./generated/SetupPlan";
import type { SimulatedInfo } from "./generated/SimulatedInfo";
import type { Dashboard } from "./generated/Dashboard";
import type { DashboardLink } from "./generated/DashboardLink";
import type { InjectionReport } from "./generated/InjectionReport";
import type { InjectionRequest } from "./generated/InjectionRequest";
import type { Routing } from "./generated/Routing";
import type { TrafficSettings } from "./generated/TrafficSettings";
import type { TrafficStats } from "./generated/TrafficStats";
import type { UndoReport } from "./generated/UndoReport";
import type { WeightChange } from "./generated/WeightChange";
import type { WeightPlan } from "./generated/WeightPlan";
import type { CheckOutcome, DoOptions, Lesson, LessonProgress, LessonSummary, StepRun } from "./lessons/types";
import type { RoutePlan } from "./generated/RoutePlan";
import type { FaultPlan } from "./generated/FaultPlan";
import type { FaultChange } from "./generated/FaultChange";
import type { TimeoutPlan } from "./generated/TimeoutPlan";
import type { RetryPlan } from "./generated/RetryPlan";
import type { BreakerPlan } from "./generated/BreakerPlan";
import type { MtlsPlan } from "./generated/MtlsPlan";
import type { ResetPlan } from "./generated/ResetPlan";
import type { ResetReport } from "./generated/ResetReport";
import type { TrafficChange } from "./generated/TrafficChange";
import type { ClientProbe } from "./generated/ClientProbe";
import type { ProbeReport } from "./generated/ProbeReport";

export interface Backend {
  runPreflight(): Promise<PreflightReport>;
  logInfo(): Promise<LogInfo>;
  /** Resolves once subscribed; afterwards `handler` gets every new log line. */
  onLogLine(handler: (line: LogLine) => void): Promise<void>;
  appInfo(): Promise<AppInfo>;
  /** The built-in lessons and those a teacher added. */
  lessonsList(): Promise<LessonSummary[]>;
  lessonGet(name: string): Promise<Lesson>;
  /** Adds a teacher's lesson file; rejects with code `lesson_invalid` and the bad line. */
  lessonOpenFile(path: string): Promise<LessonSummary>;
  /**
   * Runs a step's actions ("Do it"): what it applied, with the YAML and kubectl. With
   * `dryRun` nothing is written: only what it would apply (a step's text for slides).
   */
  lessonDo(name: string, step: string, options: DoOptions): Promise<StepRun>;
  /** The step's check now; null when the step has nothing to check. */
  lessonCheck(name: string, step: string): Promise<CheckOutcome | null>;
  /** Runs a step's reset actions. */
  lessonResetStep(name: string, step: string): Promise<StepRun>;
  lessonProgress(): Promise<LessonProgress>;
  lessonSaveProgress(progress: LessonProgress): Promise<void>;
  /** Writes an export (PNG, SVG, text) into the Downloads folder; resolves with its path. */
  saveExport(fileName: string, base64Data: string): Promise<string>;
  /** Puts the window in full screen (presenter mode) or back. */
  setFullscreen(on: boolean): Promise<void>;
  /**
   * Starts watching the mesh: `onEvent` gets a snapshot first (and again after every
   * reconnect), then diffs and connection status. Rejects with an `IpcError` when no
   * cluster is reachable.
   */
  watchMesh(onEvent: (event: MeshEvent) => void): Promise<void>;
  /** The YAML of one object the mesh graph shows, fetched when the side panel opens. */
  objectYaml(object: ObjectRef): Promise<string>;
  /**
   * Starts the simulated playground (Bookinfo in a simulated cluster, no Docker) and makes
   * it the app's cluster; resolves with where it runs. Starting it twice returns the same.
   */
  startSimulated(): Promise<SimulatedInfo>;
  /** What setup would do on this machine (steps, downloads, MetalLB range). */
  setupPlan(): Promise<SetupPlan>;
  /**
   * Runs (or resumes) the setup; `onEvent` gets every step's progress. Resolves when all
   * steps are done; rejects with the failed step's `IpcError` (code `cancelled` on Cancel).
   */
  setupStart(onEvent: (event: ProvisionEvent) => void): Promise<void>;
  /** Cancels the running setup or teardown; false when none runs. */
  setupCancel(): Promise<boolean>;
  /** Deletes the playground's cluster, with progress like `setupStart`. */
  teardown(onEvent: (event: ProvisionEvent) => void): Promise<void>;
  /** How a service's requests are routed now: its versions, weights and presets. */
  readRouting(namespace: string, service: string): Promise<Routing>;
  /** Validates weights and returns the YAML and kubectl command; writes nothing. */
  previewWeights(plan: WeightPlan): Promise<WeightChange>;
  /** Applies weights (DestinationRule, then VirtualService); nothing half-applied. */
  applyWeights(plan: WeightPlan): Promise<WeightChange>;
  /** Restores the routing as it was before the last applied weights. */
  undoWeights(): Promise<UndoReport>;
  /**
   * The traffic-management actions. Each validates before writing; with `dryRun` it only
   * returns the YAML and kubectl command (nothing written, nothing recorded for undo).
   * `undoWeights` undoes the last of any of them.
   */
  routeTraffic(plan: RoutePlan, dryRun: boolean): Promise<TrafficChange>;
  injectFault(plan: FaultPlan, dryRun: boolean): Promise<FaultChange>;
  setRequestTimeout(plan: TimeoutPlan, dryRun: boolean): Promise<TrafficChange>;
  setRetries(plan: RetryPlan, dryRun: boolean): Promise<TrafficChange>;
  setBreaker(plan: BreakerPlan, dryRun: boolean): Promise<TrafficChange>;
  setMtls(plan: MtlsPlan, dryRun: boolean): Promise<TrafficChange>;
  /** With `dryRun`, lists what a reset would remove and keep; else removes it. */
  resetRouting(plan: ResetPlan, dryRun: boolean): Promise<ResetReport>;
  /**
   * Runs curl from a client outside the mesh and one inside it (deploying both the first
   * time, which can take a minute in a real cluster) against a Service.
   */
  probeClients(probe: ClientProbe): Promise<ProbeReport>;
  /** Turns sidecar injection on or off for a namespace, optionally restarting it. */
  setInjection(request: InjectionRequest): Promise<InjectionReport>;
  /** Starts traffic to the product page; `onStats` gets figures every 500 ms and at the end. */
  startTraffic(settings: TrafficSettings, onStats: (stats: TrafficStats) => void): Promise<void>;
  /** Stops the running traffic; false when none ran. */
  stopTraffic(): Promise<boolean>;
  /** Figures of the current and every later traffic run, whoever started it (this screen or a lesson step). */
  followTraffic(onStats: (stats: TrafficStats) => void): Promise<void>;
  /**
   * A service's traffic over the last `minutes` (rate, errors, latency, requests per
   * version), from the cluster's Prometheus; rejects with a `telemetry_*` code without one.
   */
  serviceHistory(namespace: string, name: string, minutes: number): Promise<ServiceHistory>;
  /** Opens (or reuses) a dashboard's port-forward; rejects plainly in simulated mode. */
  openDashboard(dashboard: Dashboard): Promise<DashboardLink>;
  /** Opens a URL in the system browser. */
  openUrl(url: string): Promise<void>;
}

export const tauriBackend: Backend = {
  runPreflight: () => call<PreflightReport>("run_preflight"),
  logInfo: () => call<LogInfo>("log_info"),
  async onLogLine(handler) {
    const onLine = new Channel<LogLine>(handler);
    await call<null>("subscribe_logs", { onLine });
  },
  appInfo: () => call<AppInfo>("app_info"),
  lessonsList: () => call<LessonSummary[]>("lessons_list"),
  lessonGet: (name) => call<Lesson>("lesson_get", { name }),
  lessonOpenFile: (path) => call<LessonSummary>("lesson_open_file", { path }),
  lessonDo: (name, step, options) => call<StepRun>("lesson_do", { name, step, simulated: options.simulated, dryRun: options.dryRun }),
  lessonCheck: (name, step) => call<CheckOutcome | null>("lesson_check", { name, step }),
  lessonResetStep: (name, step) => call<StepRun>("lesson_reset_step", { name, step }),
  lessonProgress: () => call<LessonProgress>("lesson_progress"),
  lessonSaveProgress: (progress) => call<null>("lesson_save_progress", { progress }).then(() => undefined),
  saveExport: (fileName, base64Data) => call<string>("save_export", { fileName, base64Data }),
  async setFullscreen(on) {
    try {
      await getCurrentWindow().setFullscreen(on);
    } catch (e) {
      throw toIpcError(e);
    }
  },
  async watchMesh(handler) {
    const onEvent = new Channel<MeshEvent>(handler);
    await call<null>("watch_mesh", { onEvent });
  },
  objectYaml: (object) => call<string>("object_yaml", { object }),
  startSimulated: () => call<SimulatedInfo>("start_simulated"),
  readRouting: (namespace, service) => call<Routing>("read_routing", { namespace, service }),
  previewWeights: (plan) => call<WeightChange>("preview_weights", { plan }),
  applyWeights: (plan) => call<WeightChange>("apply_weights", { plan }),
  undoWeights: () => call<UndoReport>("undo_weights"),
  setInjection: (request) => call<InjectionReport>("set_injection", { request }),
  routeTraffic: (plan, dryRun) => call<TrafficChange>("route_traffic", { plan, dryRun }),
  injectFault: (plan, dryRun) => call<FaultChange>("inject_fault", { plan, dryRun }),
  setRequestTimeout: (plan, dryRun) => call<TrafficChange>("set_timeout", { plan, dryRun }),
  setRetries: (plan, dryRun) => call<TrafficChange>("set_retries", { plan, dryRun }),
  setBreaker: (plan, dryRun) => call<TrafficChange>("set_breaker", { plan, dryRun }),
  setMtls: (plan, dryRun) => call<TrafficChange>("set_mtls", { plan, dryRun }),
  resetRouting: (plan, dryRun) => call<ResetReport>("reset_routing", { plan, dryRun }),
  probeClients: (probe) => call<ProbeReport>("probe_clients", { probe }),
  async startTraffic(settings, handler) {
    const onStats = new Channel<TrafficStats>(handler);
    await call<null>("traffic_start", { settings, onStats });
  },
  stopTraffic: () => call<boolean>("traffic_stop"),
  async followTraffic(handler) {
    await call<null>("traffic_follow", { onStats: new Channel<TrafficStats>(handler) });
  },
  serviceHistory: (namespace, name, minutes) => call<ServiceHistory>("service_history", { namespace, name, minutes }),
  openDashboard: (dashboard) => call<DashboardLink>("open_dashboard", { dashboard }),
  async openUrl(url) {
    try {
      await openUrl(url);
    } catch (e) {
      throw toIpcError(e);
    }
  },
  setupPlan: () => call<SetupPlan>("setup_plan"),
  async setupStart(handler) {
    await call<null>("setup_start", { onProgress: new Channel<ProvisionEvent>(handler) });
  },
  setupCancel: () => call<boolean>("setup_cancel"),
  async teardown(handler) {
    await call<null>("teardown", { onProgress: new Channel<ProvisionEvent>(handler) });
  },
};

async function call<T>(command: string, args?: Record<string, unknown>): Promise<T> {
  try {
    return await invoke<T>(command, args);
  } catch (e) {
    throw toIpcError(e);
  }
}

/** True inside the Tauri window; false in a plain browser (vite dev, tests). */
export function insideTauri(): boolean {
  return typeof window !== "undefined" && "__TAURI_INTERNALS__" in window;
}

/**
 * Turns anything a failed command (or anything else) rejected with into an `IpcError`.
 * The Rust side always rejects with `{code, message, hint}`; anything else is "unknown".
 */
export function toIpcError(e: unknown): IpcError {
  if (isIpcError(e)) {
    return { code: e.code, message: e.message, hint: e.hint ?? null };
  }
  if (e instanceof Error) {
    return { code: "unknown", message: e.message, hint: null };
  }
  return { code: "unknown", message: String(e), hint: null };
}

function isIpcError(e: unknown): e is IpcError {
  if (typeof e !== "object" || e === null) return false;
  const o = e as Record<string, unknown>;
  return (
    typeof o.code === "string" &&
    typeof o.message === "string" &&
    (o.hint === undefined || o.hint === null || typeof o.hint === "string")
  );
}

const BACKEND = Symbol("backend");

/** Called once by `App` so every component below it can reach the backend. */
export function provideBackend(backend: Backend): void {
  setContext(BACKEND, backend);
}

export function useBackend(): Backend {
  const backend = getContext<Backend | undefined>(BACKEND);
  if (!backend) throw new Error("no backend: render the component inside App or pass a context");
  return backend;
}

/** The context map tests pass to `render(Component, { context })`. */
export function backendContext(backend: Backend): Map<symbol, Backend> {
  return new Map([[BACKEND, backend]]);
}
