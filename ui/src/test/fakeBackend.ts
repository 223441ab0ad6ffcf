// A scriptable Backend for component tests: no Tauri, no timers.
import { vi } from "vitest";

import type { Backend } from "../lib/backend";
import type { AppInfo } from "../lib/generated/AppInfo";
import type { CheckResult } from "../lib/generated/CheckResult";
import type { LogInfo } from "../lib/generated/LogInfo";
import type { LogLine } from "../lib/generated/LogLine";
import type { PreflightReport } from "../lib/generated/PreflightReport";
import type { IpcError } from "../lib/generated/IpcError";
import type { PlannedStep } from "../lib/generated/PlannedStep";
import type { ProvisionEvent } from "../lib/generated/ProvisionEvent";
import type { SetupPlan } from "../lib/generated/SetupPlan";
import type { StepId } from "../lib/generated/StepId";
import type { MeshEvent } from "../lib/generated/MeshEvent";
import type { ObjectRef } from "../lib/generated/ObjectRef";
import type { SimulatedInfo } from "../lib/generated/SimulatedInfo";
import type { TrafficStats } from "../lib/generated/TrafficStats";
import { sampleActions } from "../lib/actions/sampleActions";
import { FakeLessons } from "../lib/lessons/fakeLessons";
import { sampleHistory } from "../lib/mesh/trafficSample";

export function check(over: Partial<CheckResult> & Pick<CheckResult, "id" | "status">): CheckResult {
  return {
    title: `Title of ${over.id}`,
    summary: `Summary of ${over.id}`,
    why: `Why ${over.id} matters`,
    fix: null,
    elapsedMs: 3,
    ...over,
  };
}

export function report(checks: CheckResult[], elapsedMs = 1234): PreflightReport {
  const overall = checks.some((c) => c.status === "fail")
    ? "fail"
    : checks.some((c) => c.status === "warn")
      ? "warn"
      : "pass";
  return { overall, checks, elapsedMs };
}

export const APP_INFO: AppInfo = {
  version: "9.9.9",
  target: { kubeconfig: "/tmp/kubeconfig", context: "kind-test-context", explicit: true },
  dataDir: "/tmp/data",
  simulated: null,
};

export const SIMULATED = {
  apiUrl: "http://127.0.0.1:41000",
  ingressUrl: "http://127.0.0.1:41001",
  kubeconfig: "/tmp/data/sim/kubeconfig",
  context: "sim-istio-playground",
};

export interface FakeBackend extends Backend {
  /** The lessons behind the lesson methods, to script them. */
  lessons: FakeLessons;
  saveExport: ReturnType<typeof vi.fn<Backend["saveExport"]>>;
  setFullscreen: ReturnType<typeof vi.fn<Backend["setFullscreen"]>>;
  runPreflight: ReturnType<typeof vi.fn<Backend["runPreflight"]>>;
  /** Sends a log line to every subscribed handler. */
  emit(line: LogLine): void;
  watchMesh: ReturnType<typeof vi.fn<Backend["watchMesh"]>>;
  objectYaml: ReturnType<typeof vi.fn<Backend["objectYaml"]>>;
  /** Sends a mesh event to every `watchMesh` subscriber. */
  emitMesh(event: MeshEvent): void;
  startSimulated: ReturnType<typeof vi.fn<Backend["startSimulated"]>>;
  setupStart: ReturnType<typeof vi.fn<Backend["setupStart"]>>;
  setupCancel: ReturnType<typeof vi.fn<Backend["setupCancel"]>>;
  teardown: ReturnType<typeof vi.fn<Backend["teardown"]>>;
  /** Sends a progress event to the running setup or teardown. */
  emitProvision(event: ProvisionEvent): void;
  /** Ends the running setup or teardown: resolves it, or rejects it with `error`. */
  finishProvision(error?: IpcError): void;
  readRouting: ReturnType<typeof vi.fn<Backend["readRouting"]>>;
  previewWeights: ReturnType<typeof vi.fn<Backend["previewWeights"]>>;
  applyWeights: ReturnType<typeof vi.fn<Backend["applyWeights"]>>;
  undoWeights: ReturnType<typeof vi.fn<Backend["undoWeights"]>>;
  setInjection: ReturnType<typeof vi.fn<Backend["setInjection"]>>;
  routeTraffic: ReturnType<typeof vi.fn<Backend["routeTraffic"]>>;
  injectFault: ReturnType<typeof vi.fn<Backend["injectFault"]>>;
  setRequestTimeout: ReturnType<typeof vi.fn<Backend["setRequestTimeout"]>>;
  setRetries: ReturnType<typeof vi.fn<Backend["setRetries"]>>;
  setBreaker: ReturnType<typeof vi.fn<Backend["setBreaker"]>>;
  setMtls: ReturnType<typeof vi.fn<Backend["setMtls"]>>;
  resetRouting: ReturnType<typeof vi.fn<Backend["resetRouting"]>>;
  probeClients: ReturnType<typeof vi.fn<Backend["probeClients"]>>;
  startTraffic: ReturnType<typeof vi.fn<Backend["startTraffic"]>>;
  stopTraffic: ReturnType<typeof vi.fn<Backend["stopTraffic"]>>;
  followTraffic: ReturnType<typeof vi.fn<Backend["followTraffic"]>>;
  openDashboard: ReturnType<typeof vi.fn<Backend["openDashboard"]>>;
  serviceHistory: ReturnType<typeof vi.fn<Backend["serviceHistory"]>>;
  openUrl: ReturnType<typeof vi.fn<Backend["openUrl"]>>;
  /** Sends traffic figures to the running generator's handler. */
  emitTraffic(stats: TrafficStats): void;
}

const plannedStep = (id: StepId, title: string): PlannedStep => ({
  id,
  title,
  explanation: `Why ${id}`,
  actions: [],
});

export const SETUP_PLAN: SetupPlan = {
  clusterName: "istio-playground",
  kubeconfig: "/tmp/kubeconfig",
  context: "kind-istio-playground",
  steps: [
    plannedStep("tools", "Get kind and istioctl"),
    plannedStep("cluster", "Create the Kubernetes cluster"),
    plannedStep("metallb", "Install MetalLB (load balancer)"),
    plannedStep("istio", "Install Istio"),
    plannedStep("addons", "Install Kiali, Prometheus, Grafana, Jaeger, Loki"),
    plannedStep("bookinfo", "Deploy the Bookinfo shop"),
    plannedStep("verify", "Open the product page"),
  ],
  teardown: plannedStep("teardown", "Delete the cluster"),
  downloads: [],
  metallbPool: null,
  networksInVm: null,
  productPageUrl: "http://localhost:9080/productpage",
};

/** A progress event with sensible defaults. */
export function provisionEvent(over: Partial<ProvisionEvent> & Pick<ProvisionEvent, "step" | "state">): ProvisionEvent {
  return { percent: null, message: null, elapsedMs: 0, totalElapsedMs: 0, failure: null, ...over };
}

export function fakeBackend(opts: {
  preflight?: () => Promise<PreflightReport>;
  logInfo?: LogInfo;
  appInfo?: () => Promise<AppInfo>;
  /** Runs after the handler is registered; reject to simulate an unreachable cluster. */
  watchMesh?: () => Promise<void>;
  objectYaml?: (object: ObjectRef) => Promise<string>;
  startSimulated?: () => Promise<SimulatedInfo>;
  setupPlan?: () => Promise<SetupPlan>;
} = {}): FakeBackend {
  let provisionHandler: ((e: ProvisionEvent) => void) | null = null;
  let provisionEnd: ReturnType<typeof deferred<void>> | null = null;
  const provision = (h: (e: ProvisionEvent) => void) => {
    provisionHandler = h;
    provisionEnd = deferred<void>();
    return provisionEnd.promise;
  };
  let simulated: SimulatedInfo | null = null;
  const handlers: ((l: LogLine) => void)[] = [];
  const meshHandlers: ((e: MeshEvent) => void)[] = [];
  const defaultReport = report([check({ id: "docker", status: "pass" })]);
  const actions = sampleActions({ simulated: () => simulated !== null });
  let trafficHandler: ((s: TrafficStats) => void) | null = null;
  const lessons = new FakeLessons();
  let followHandler: ((s: TrafficStats) => void) | null = null;
  return {
    lessons,
    lessonsList: () => lessons.lessonsList(),
    lessonGet: (name) => lessons.lessonGet(name),
    lessonOpenFile: (path) => lessons.lessonOpenFile(path),
    lessonDo: (name, step, options) => lessons.lessonDo(name, step, options),
    lessonCheck: (name, step) => lessons.lessonCheck(name, step),
    lessonResetStep: (name, step) => lessons.lessonResetStep(name, step),
    lessonProgress: () => lessons.lessonProgress(),
    lessonSaveProgress: (p) => lessons.lessonSaveProgress(p),
    saveExport: vi.fn<Backend["saveExport"]>((fileName) => Promise.resolve(`/home/you/Downloads/${fileName}`)),
    setFullscreen: vi.fn<Backend["setFullscreen"]>(() => Promise.resolve()),
    readRouting: vi.fn<Backend["readRouting"]>(actions.readRouting),
    previewWeights: vi.fn<Backend["previewWeights"]>(actions.previewWeights),
    applyWeights: vi.fn<Backend["applyWeights"]>(actions.applyWeights),
    undoWeights: vi.fn<Backend["undoWeights"]>(actions.undoWeights),
    setInjection: vi.fn<Backend["setInjection"]>(actions.setInjection),
    routeTraffic: vi.fn<Backend["routeTraffic"]>(actions.routeTraffic),
    injectFault: vi.fn<Backend["injectFault"]>(actions.injectFault),
    setRequestTimeout: vi.fn<Backend["setRequestTimeout"]>(actions.setRequestTimeout),
    setRetries: vi.fn<Backend["setRetries"]>(actions.setRetries),
    setBreaker: vi.fn<Backend["setBreaker"]>(actions.setBreaker),
    setMtls: vi.fn<Backend["setMtls"]>(actions.setMtls),
    resetRouting: vi.fn<Backend["resetRouting"]>(actions.resetRouting),
    probeClients: vi.fn<Backend["probeClients"]>(actions.probeClients),
    openDashboard: vi.fn<Backend["openDashboard"]>(actions.openDashboard),
    // Fixed clock, so charts drawn in tests are the same every run.
    serviceHistory: vi.fn<Backend["serviceHistory"]>((ns, name, minutes) => Promise.resolve(sampleHistory(ns, name, minutes, 1_800_000_000_000))),
    openUrl: vi.fn<Backend["openUrl"]>(actions.openUrl),
    startTraffic: vi.fn<Backend["startTraffic"]>((_settings, h) => {
      trafficHandler = h;
      return Promise.resolve();
    }),
    stopTraffic: vi.fn<Backend["stopTraffic"]>(() => Promise.resolve(trafficHandler !== null)),
    followTraffic: vi.fn<Backend["followTraffic"]>((h) => {
      followHandler = h;
      return Promise.resolve();
    }),
    emitTraffic: (stats) => {
      trafficHandler?.(stats);
      followHandler?.(stats);
    },
    runPreflight: vi.fn<Backend["runPreflight"]>(opts.preflight ?? (() => Promise.resolve(defaultReport))),
    logInfo: () =>
      Promise.resolve(opts.logInfo ?? { dir: "/logs", file: "/logs/istio-playground.log.2026-01-01", recent: [] }),
    onLogLine: (h) => {
      handlers.push(h);
      return Promise.resolve();
    },
    appInfo:
      opts.appInfo ??
      (() =>
        Promise.resolve(
          simulated
            ? { ...APP_INFO, simulated, target: { kubeconfig: simulated.kubeconfig, context: simulated.context, explicit: true } }
            : APP_INFO,
        )),
    emit: (line) => handlers.forEach((h) => h(line)),
    watchMesh: vi.fn<Backend["watchMesh"]>((h) => {
      meshHandlers.push(h);
      return opts.watchMesh ? opts.watchMesh() : Promise.resolve();
    }),
    objectYaml: vi.fn<Backend["objectYaml"]>(
      opts.objectYaml ?? ((o) => Promise.resolve(`apiVersion: ${o.apiVersion}\nkind: ${o.kind}\nmetadata:\n  name: ${o.name}\n`)),
    ),
    emitMesh: (event) => meshHandlers.forEach((h) => h(event)),
    startSimulated: vi.fn<Backend["startSimulated"]>(
      opts.startSimulated ??
        (() => {
          simulated = SIMULATED;
          return Promise.resolve(SIMULATED);
        }),
    ),
    setupPlan: opts.setupPlan ?? (() => Promise.resolve(SETUP_PLAN)),
    setupStart: vi.fn<Backend["setupStart"]>(provision),
    setupCancel: vi.fn<Backend["setupCancel"]>(() => Promise.resolve(provisionEnd !== null)),
    teardown: vi.fn<Backend["teardown"]>(provision),
    emitProvision: (event) => provisionHandler?.(event),
    finishProvision: (error) => {
      const end = provisionEnd;
      provisionEnd = null;
      provisionHandler = null;
      if (error) end?.reject(error);
      else end?.resolve();
    },
  };
}

/** A promise plus the functions that settle it, to hold a call "running". */
export function deferred<T>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}
