// Sample data for looking at the UI in a plain browser (`npm run dev`), where there is no
// Rust side. Only main.ts loads it, only in development, and the UI then says
// "Preview without the app: sample data". Never used inside the app.
import type { Backend } from "./backend";
import type { CheckResult } from "./generated/CheckResult";
import type { IpcError } from "./generated/IpcError";
import type { LogLine } from "./generated/LogLine";
import type { PreflightReport } from "./generated/PreflightReport";
import type { GraphEdge } from "./generated/GraphEdge";
import type { GraphNode } from "./generated/GraphNode";
import type { MeshEvent } from "./generated/MeshEvent";
import type { PlannedStep } from "./generated/PlannedStep";
import type { ProvisionEvent } from "./generated/ProvisionEvent";
import type { SetupPlan } from "./generated/SetupPlan";
import { bookinfoSnapshot, reviewsSplitDiff, syntheticSnapshot, teachingSnapshot } from "./mesh/sample";
import { sampleActions, sampleStats } from "./actions/sampleActions";
import { FakeLessons } from "./lessons/fakeLessons";
import { sampleHistory, sampleOverlay } from "./mesh/trafficSample";

const CHECKS: CheckResult[] = [
  {
    id: "docker",
    title: "Docker engine",
    status: "pass",
    summary: "Docker 28.2.2 answered in 4 ms.",
    why: "The practice cluster runs as Docker containers on this computer.",
    fix: null,
    elapsedMs: 4,
  },
  {
    id: "docker-resources",
    title: "Memory and CPUs for Docker",
    status: "warn",
    summary: "Docker may use 5.8 GB of memory and 4 CPUs.",
    why: "Istio, its dashboards and the sample app need about 8 GB to start without stalling.",
    fix: "Give Docker more memory in Docker Desktop under Settings, Resources, or close other large programs.",
    elapsedMs: 0,
  },
  {
    id: "inotify",
    title: "File watch limits",
    status: "fail",
    summary: "fs.inotify.max_user_instances is 128; the cluster needs at least 512.",
    why: "Kubernetes inside kind watches many files; with a low limit its pods keep restarting.",
    fix: "Run `sudo sysctl fs.inotify.max_user_instances=512` and then press Check again.",
    elapsedMs: 1,
  },
  {
    id: "ports",
    title: "Free ports",
    status: "pass",
    summary: "Ports 80 and 443 on localhost are free.",
    why: "Your browser reaches the sample shop through these ports.",
    fix: null,
    elapsedMs: 2,
  },
  {
    id: "disk",
    title: "Disk space",
    status: "pass",
    summary: "41 GB free where Docker keeps its images.",
    why: "The cluster's images take about 6 GB.",
    fix: null,
    elapsedMs: 1,
  },
  {
    id: "kind",
    title: "kind",
    status: "pass",
    summary: "Not installed yet; Setup downloads kind v0.29.0.",
    why: "kind creates the Kubernetes cluster inside Docker.",
    fix: null,
    elapsedMs: 3,
  },
  {
    id: "istioctl",
    title: "istioctl",
    status: "pass",
    summary: "Not installed yet; Setup downloads istioctl 1.27.1.",
    why: "istioctl installs Istio into the cluster.",
    fix: null,
    elapsedMs: 3,
  },
];

function worst(checks: CheckResult[]): PreflightReport["overall"] {
  if (checks.some((c) => c.status === "fail")) return "fail";
  if (checks.some((c) => c.status === "warn")) return "warn";
  return "pass";
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * `sample`: null for the mixed report, "pass" for all passing, "error" for a failing call;
 * for the Mesh screen "nocluster" (no cluster reachable), "reconnecting" (watch drops and
 * comes back), "big" (a made-up mesh of 500 nodes), "split" (Bookinfo without the reviews
 * split, which arrives 3 s later) and "notelemetry" (no Prometheus); the others show
 * made-up traffic every 3 s, the reviews split converging and ratings failing for a while.
 */
export function previewBackend(sample: string | null): Backend {
  const handlers: ((l: LogLine) => void)[] = [];
  const recent: LogLine[] = [];
  const log = (level: string, target: string, message: string) => {
    const line = { unixMs: Date.now(), level, target, message };
    recent.push(line);
    for (const h of handlers) h(line);
  };
  log("INFO", "istio_playground", "window opened version=0.1.0");
  log("DEBUG", "playground::paths", "data dir=/home/you/.local/share/istio-playground");
  const lessons = new FakeLessons();
  lessons.delayMs = 700;

  return {
    lessonsList: () => lessons.lessonsList(),
    lessonGet: (name) => lessons.lessonGet(name),
    lessonOpenFile: (path) => lessons.lessonOpenFile(path),
    lessonDo: (name, step, options) => lessons.lessonDo(name, step, options),
    lessonCheck: (name, step) => lessons.lessonCheck(name, step),
    lessonResetStep: (name, step) => lessons.lessonResetStep(name, step),
    lessonProgress: () => lessons.lessonProgress(),
    lessonSaveProgress: (p) => lessons.lessonSaveProgress(p),
    async saveExport(fileName) {
      log("INFO", "playground::export", `saved ${fileName}`);
      return `/home/you/Downloads/${fileName}`;
    },
    async setFullscreen(on) {
      // The browser's own full screen would take Escape for itself; the overlay fills the tab.
      log("INFO", "istio_playground", `full screen ${on ? "on" : "off"} (not in the preview)`);
    },
    async runPreflight() {
      log("INFO", "playground::preflight", "preflight started");
      await sleep(1200);
      if (sample === "error") {
        log("ERROR", "playground::preflight", "preflight could not start");
        throw { code: "unknown", message: "The checks could not start.", hint: "Restart the app; if it keeps happening, copy the log and report it." } satisfies IpcError;
      }
      const checks = sample === "pass" ? CHECKS.map((c) => ({ ...c, status: "pass" as const, fix: null })) : CHECKS;
      const overall = worst(checks);
      log(overall === "fail" ? "WARN" : "INFO", "playground::preflight", `preflight done overall=${overall} elapsed_ms=1184`);
      return { overall, checks, elapsedMs: 1184 };
    },
    async logInfo() {
      return {
        dir: "/home/you/.local/share/istio-playground/logs",
        file: "/home/you/.local/share/istio-playground/logs/istio-playground.log.2026-11-26",
        recent: [...recent],
      };
    },
    async onLogLine(handler) {
      handlers.push(handler);
    },
    async appInfo() {
      return {
        version: "0.1.0",
        target: { kubeconfig: "/home/you/.kube/config", context: "kind-istio-playground", explicit: false },
        dataDir: "/home/you/.local/share/istio-playground",
        simulated: null,
      };
    },
    async startSimulated() {
      throw { code: "unknown", message: "The preview cannot start a simulated playground.", hint: "Run the app to use it." } satisfies IpcError;
    },
    async watchMesh(onEvent) {
      await sleep(400);
      if (sample === "nocluster") {
        log("WARN", "playground::mesh", "no cluster to watch");
        throw {
          code: "cluster_target",
          message: "There is no playground cluster to watch yet.",
          hint: "Open Setup and create the playground (or start the simulated one), then press Try again.",
        } satisfies IpcError;
      }
      const snapshot = sample === "big" ? syntheticSnapshot(500) : sample === "split" ? bookinfoSnapshot() : teachingSnapshot();
      log("INFO", "playground::mesh", `watching: ${snapshot.nodes.length} nodes, ${snapshot.edges.length} edges`);
      onEvent({ type: "snapshot", snapshot });
      if (sample === "split") {
        // As after `kubectl apply` of the reviews DestinationRule and VirtualService.
        setTimeout(() => {
          log("INFO", "playground::mesh", "reviews split 60/30/10 applied");
          onEvent({ type: "diff", diff: reviewsSplitDiff() });
        }, 3000);
      } else if (sample !== "big") simulateChanges(onEvent, sample === "reconnecting", log);
      if (sample === "notelemetry") {
        onEvent({
          type: "traffic",
          traffic: {
            state: "unavailable",
            atMs: Date.now(),
            problem: { code: "telemetry_missing", message: "There is no Prometheus in istio-system.", hint: "Install the Prometheus addon (Setup does), then traffic shows here within seconds." },
          },
        });
      } else if (sample !== "big") {
        let k = 0;
        setInterval(() => {
          k++;
          const c = Math.min(1, k / 10);
          const seen: [number, number, number] = [0.33 + (0.6 - 0.33) * c, 0.33 + (0.3 - 0.33) * c, 0.34 + (0.1 - 0.34) * c];
          onEvent({ type: "traffic", traffic: { state: "live", overlay: sampleOverlay(Date.now(), { rate: 12, seen, ratingsErrors: k % 20 > 12 ? 0.4 : 0 }) } });
        }, 3000);
      }
    },
    async objectYaml(object) {
      await sleep(250);
      return sampleYaml(object.apiVersion, object.kind, object.namespace, object.name);
    },
    setupPlan: async () => PREVIEW_PLAN,
    async setupStart(onEvent) {
      cancelled = false;
      await previewRun(onEvent, () => cancelled);
    },
    async setupCancel() {
      cancelled = true;
      return true;
    },
    async teardown(onEvent) {
      await previewRun(onEvent, () => cancelled, [PREVIEW_PLAN.teardown]);
    },
    ...sampleActions(),
    async startTraffic(settings, onStats) {
      // Made-up figures that drift towards 60/30/10, twice a second.
      let n = 0;
      const started = Date.now();
      previewTraffic = setInterval(() => {
        n += Math.round(settings.rate / 2);
        const t = (Date.now() - started) / 1000;
        const recent = Math.min(n, 200);
        const v1 = Math.round(recent * 0.58), v2 = Math.round(recent * 0.31);
        onStats(sampleStats({ settings, elapsedSecs: t, sent: n, completed: n, achievedRate: n / t, currentRate: settings.rate, statuses: { "200": n },
          recent, versionsRecent: { v1, v2, v3: recent - v1 - v2 }, versionsTotal: { v1: Math.round(n * 0.6), v2: Math.round(n * 0.3), v3: n - Math.round(n * 0.6) - Math.round(n * 0.3) } }));
      }, 500);
    },
    async serviceHistory(namespace, name, minutes) {
      await sleep(150);
      if (sample === "notelemetry") {
        throw { code: "telemetry_missing", message: "There is no Prometheus in istio-system.", hint: "Install the Prometheus addon." } satisfies IpcError;
      }
      return sampleHistory(namespace, name, minutes, Date.now());
    },
    async stopTraffic() {
      clearInterval(previewTraffic);
      return true;
    },
    // The preview's runs report to the screen that started them; nothing else starts one.
    async followTraffic() {},
  };
}

let cancelled = false;
let previewTraffic: ReturnType<typeof setInterval> | undefined;

const planned = (id: PlannedStep["id"], title: string, explanation: string): PlannedStep => ({
  id,
  title,
  explanation,
  actions: [],
});

const PREVIEW_PLAN: SetupPlan = {
  clusterName: "istio-playground",
  kubeconfig: "/home/you/.local/share/istio-playground/kubeconfig",
  context: "kind-istio-playground",
  steps: [
    planned("tools", "Get kind and istioctl", "kind builds Kubernetes inside Docker; istioctl installs Istio."),
    planned("cluster", "Create the Kubernetes cluster", "A one-node Kubernetes cluster runs in a Docker container."),
    planned("metallb", "Install MetalLB (load balancer)", "Gives LoadBalancer services an address, as a cloud would."),
    planned("istio", "Install Istio", "The control plane (istiod) and the ingress and egress gateways."),
    planned("addons", "Install Kiali, Prometheus, Grafana, Jaeger, Loki", "The dashboards."),
    planned("bookinfo", "Deploy the Bookinfo shop", "Four small services that make a book shop."),
    planned("verify", "Open the product page", "Asks the shop's product page through the ingress gateway."),
  ],
  teardown: planned("teardown", "Delete the cluster", "Deletes the cluster and its containers."),
  downloads: [],
  metallbPool: "172.18.255.200-172.18.255.250",
  networksInVm: null,
  productPageUrl: "http://localhost:9080/productpage",
};

/** Plays a short made-up run: each step works for a moment with a progress bar. */
async function previewRun(
  onEvent: (e: ProvisionEvent) => void,
  isCancelled: () => boolean,
  steps: PlannedStep[] = PREVIEW_PLAN.steps,
): Promise<void> {
  const started = Date.now();
  const ev = (step: PlannedStep, state: ProvisionEvent["state"], percent: number | null, message: string | null, t0: number): ProvisionEvent => ({
    step: step.id, state, percent, message, elapsedMs: Date.now() - t0, totalElapsedMs: Date.now() - started, failure: null,
  });
  for (const s of steps) onEvent(ev(s, "pending", null, null, started));
  for (const s of steps) {
    const t0 = Date.now();
    onEvent(ev(s, "running", 0, `${s.title}…`, t0));
    for (let p = 20; p <= 100; p += 20) {
      await sleep(300);
      if (isCancelled()) {
        onEvent({ ...ev(s, "failed", null, "cancelled", t0), failure: { code: "cancelled", message: "cancelled", hint: "Press \"Set up\" to continue where it stopped." } });
        throw { code: "cancelled", message: "cancelled", hint: null } satisfies IpcError;
      }
      onEvent(ev(s, "running", p, p === 60 ? "(preview) working…" : null, t0));
    }
    onEvent(ev(s, "done", 100, "(preview) done", t0));
  }
}

/** Every few seconds something changes, as it would while a teacher uses kubectl. */
function simulateChanges(
  onEvent: (e: MeshEvent) => void,
  reconnects: boolean,
  log: (level: string, target: string, message: string) => void,
): void {
  const weights = [
    [60, 30, 10],
    [20, 30, 50],
  ];
  let step = 0;
  let podSuffix = 0;
  let current = teachingSnapshot();
  setInterval(() => {
    step++;
    if (reconnects && step % 3 === 0) {
      onEvent({ type: "status", status: { connected: false, failing: ["pods"], error: "connection refused" } });
      // Back after a while; nothing changed meanwhile, so no diff follows.
      setTimeout(() => onEvent({ type: "status", status: { connected: true, failing: [], error: null } }), 2500);
      return;
    }
    if (step % 2 === 1) {
      const w = weights[(step >> 1) % 2];
      const changed: GraphEdge[] = current.edges
        .filter((e) => e.kind === "route" && e.source === "vs/default/reviews")
        .map((e, i) => ({ ...e, route: e.route && { ...e.route, weight: w[i] } }));
      current = { ...current, edges: current.edges.map((e) => changed.find((c) => c.id === e.id) ?? e) };
      log("INFO", "playground::mesh", `reviews weights now ${w.join("/")}`);
      onEvent({ type: "diff", diff: { addedNodes: [], changedNodes: [], removedNodes: [], addedEdges: [], changedEdges: changed, removedEdges: [] } });
    } else {
      // The details pod is replaced, as after `kubectl delete pod`.
      const old = current.nodes.find((n) => n.kind === "pod" && n.parent === "wl/default/details-v1")!;
      const suffix = ["r8t2k", "z6w1d", "p3m9c"][podSuffix++ % 3];
      const name = `details-v1-84c79d7c56-${suffix}`;
      const fresh: GraphNode = { ...old, id: `pod/default/${name}`, name, object: old.object && { ...old.object, name } };
      current = { ...current, nodes: current.nodes.filter((n) => n.id !== old.id).concat(fresh) };
      log("INFO", "playground::mesh", `pod ${old.name} replaced by ${name}`);
      onEvent({ type: "diff", diff: { addedNodes: [fresh], changedNodes: [], removedNodes: [old.id], addedEdges: [], changedEdges: [], removedEdges: [] } });
    }
  }, 6000);
}

function sampleYaml(apiVersion: string, kind: string, namespace: string | null, name: string): string {
  const meta = `apiVersion: ${apiVersion}\nkind: ${kind}\nmetadata:\n  name: ${name}\n${namespace ? `  namespace: ${namespace}\n` : ""}`;
  if (kind === "VirtualService" && name === "reviews") {
    return `${meta}spec:\n  hosts:\n  - reviews\n  http:\n  - route:\n    - destination:\n        host: reviews\n        subset: v1\n      weight: 60\n    - destination:\n        host: reviews\n        subset: v2\n      weight: 30\n    - destination:\n        host: reviews\n        subset: v3\n      weight: 10\n`;
  }
  if (kind === "DestinationRule") {
    return `${meta}spec:\n  host: reviews\n  subsets:\n  - name: v1\n    labels:\n      version: v1\n  - name: v2\n    labels:\n      version: v2\n  - name: v3\n    labels:\n      version: v3\n`;
  }
  return `${meta}spec: {}  # sample data: the app shows the object as the cluster has it\n`;
}
