// In-memory stand-ins for the action commands, shared by the browser preview (sample data)
// and the component tests' fake backend. No Tauri, no cluster: weights are kept in memory
// and validated like the Rust side does, so the UI's error paths can be seen and tested.
import type { Backend } from "../backend";
import type { IpcError } from "../generated/IpcError";
import type { Routing } from "../generated/Routing";
import type { TrafficStats } from "../generated/TrafficStats";
import type { WeightChange } from "../generated/WeightChange";
import type { WeightPlan } from "../generated/WeightPlan";
import { sampleTrafficActions } from "./sampleTrafficActions";

type ActionCalls = Pick<
  Backend,
  | "readRouting"
  | "previewWeights"
  | "applyWeights"
  | "undoWeights"
  | "setInjection"
  | "openDashboard"
  | "openUrl"
  | "routeTraffic"
  | "injectFault"
  | "setRequestTimeout"
  | "setRetries"
  | "setBreaker"
  | "setMtls"
  | "resetRouting"
  | "probeClients"
>;

const VERSIONS = ["v1", "v2", "v3"];

function yamlFor(plan: WeightPlan): string {
  const route = VERSIONS.filter((v) => (plan.weights[v] ?? 0) > 0)
    .map((v) => `    - destination:\n        host: ${plan.service}\n        subset: ${v}\n      weight: ${plan.weights[v]}\n`)
    .join("");
  const subsets = VERSIONS.map((v) => `  - name: ${v}\n    labels:\n      version: ${v}\n`).join("");
  return (
    `apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata:\n  name: ${plan.service}\n  namespace: ${plan.namespace}\nspec:\n  host: ${plan.service}\n  subsets:\n${subsets}` +
    `---\napiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n  name: ${plan.service}\n  namespace: ${plan.namespace}\nspec:\n  hosts:\n  - ${plan.service}\n  http:\n  - route:\n${route}`
  );
}

export function sampleActions(opts: { simulated?: () => boolean } = {}): ActionCalls {
  let current: Record<string, number> | null = null;
  const history: (Record<string, number> | null)[] = [];
  const traffic = sampleTrafficActions();
  // One undo history for every action, as the app keeps: the last change is undone first.
  const order: ("weights" | "traffic")[] = [];
  const check = (plan: WeightPlan): WeightChange => {
    if (plan.service !== "reviews") {
      throw { code: "no_versions", message: `the pods of ${plan.service} have no version label, so there are no versions to split traffic between`, hint: "Pick a service with several versions, such as reviews." } satisfies IpcError;
    }
    for (const [v, w] of Object.entries(plan.weights)) {
      if (!Number.isInteger(w) || w < 0 || w > 100) {
        throw { code: "invalid_weight", message: `the weight for ${v} is ${w}`, hint: "Give each version a whole number from 0 to 100." } satisfies IpcError;
      }
    }
    const sum = Object.values(plan.weights).reduce((a, b) => a + b, 0);
    if (sum !== 100) {
      throw { code: "weights_sum", message: `the weights add up to ${sum}, not 100`, hint: `Change the weights by ${100 - sum} so they add up to 100.` } satisfies IpcError;
    }
    const yaml = yamlFor(plan);
    return {
      plan,
      yaml,
      kubectl: `kubectl apply --server-side --field-manager=istio-playground -f - <<'EOF'\n${yaml}EOF`,
      createdSubsets: current ? [] : [...VERSIONS],
      applied: false,
    };
  };
  return {
    async readRouting(namespace, service): Promise<Routing> {
      const versioned = service === "reviews";
      return {
        service,
        namespace,
        versions: versioned ? VERSIONS.map((version) => ({ version, ready: 1, total: 1 })) : [{ version: "v1", ready: 1, total: 1 }],
        weights: versioned ? current : null,
        destinationRule: versioned && current ? service : null,
        virtualService: versioned && current ? service : null,
        subsets: versioned && current ? [...VERSIONS] : [],
        presets: versioned
          ? [
              { label: "All to v1", weights: { v1: 100, v2: 0, v3: 0 } },
              { label: "50/50 v1 and v3", weights: { v1: 50, v2: 0, v3: 50 } },
              { label: "60/30/10", weights: { v1: 60, v2: 30, v3: 10 } },
              { label: "80/20 v1 and v2", weights: { v1: 80, v2: 20, v3: 0 } },
            ]
          : [],
      };
    },
    async previewWeights(plan) {
      return check(plan);
    },
    async applyWeights(plan) {
      const change = check(plan);
      order.push("weights");
      history.push(current);
      current = { ...plan.weights };
      return { ...change, applied: true };
    },
    async undoWeights() {
      if (order.at(-1) === "traffic") {
        order.pop();
        return traffic.undo();
      }
      order.pop();
      if (history.length === 0) {
        throw { code: "nothing_to_undo", message: "there is no change to undo", hint: "Apply a change first." } satisfies IpcError;
      }
      const before = history.pop() ?? null;
      current = before;
      return before
        ? { action: "weights", done: ["restored VirtualService default/reviews as it was", "restored DestinationRule default/reviews as it was"], kubectl: ["kubectl replace -f - <<'EOF'\n…\nEOF"] }
        : {
            action: "weights",
            done: ["deleted VirtualService default/reviews (it did not exist before)", "deleted DestinationRule default/reviews (it did not exist before)"],
            kubectl: ["kubectl delete virtualservices reviews -n default", "kubectl delete destinationrules reviews -n default"],
          };
    },
    async setInjection(request) {
      const deployments = ["details-v1", "productpage-v1", "ratings-v1", "reviews-v1", "reviews-v2", "reviews-v3"];
      return {
        namespace: request.namespace,
        enabled: request.enabled,
        labelChanged: true,
        restarted: request.restart ? deployments : [],
        skipped: [],
        optedOut: [],
        kubectl: [
          request.enabled
            ? `kubectl label namespace ${request.namespace} istio-injection=enabled --overwrite`
            : `kubectl label namespace ${request.namespace} istio-injection-`,
          ...(request.restart ? deployments.map((d) => `kubectl rollout restart deployment/${d} -n ${request.namespace}`) : []),
        ],
      };
    },
    async openDashboard(dashboard) {
      if (opts.simulated?.()) {
        throw { code: "dashboard_needs_real_cluster", message: `${dashboard} needs a real cluster`, hint: "Set up the real playground." } satisfies IpcError;
      }
      const ports = { kiali: 20001, grafana: 3000, jaeger: 16686, prometheus: 9090 } as const;
      const paths = { kiali: "/kiali", grafana: "/d/1a9a8ea49444aae205c7737573e894f9", jaeger: "/jaeger", prometheus: "/" } as const;
      const port = ports[dashboard];
      return {
        dashboard,
        title: dashboard[0].toUpperCase() + dashboard.slice(1),
        url: `http://127.0.0.1:${port}${paths[dashboard]}`,
        localPort: port,
        usualPort: true,
        extra: dashboard === "grafana" ? [["Istio control plane", `http://127.0.0.1:${port}/d/1813f692a8e4ac77155348d4c7d2fba8`]] : [],
        command: `kubectl port-forward -n istio-system svc/${dashboard === "jaeger" ? "tracing" : dashboard} ${port}:${dashboard === "jaeger" ? 80 : port}`,
      };
    },
    async openUrl() {},
    ...traffic.recording(() => order.push("traffic")),
  };
}

/** Figures as the generator would send them, for a split of `counts` over `recent`. */
export function sampleStats(over: Partial<TrafficStats> = {}): TrafficStats {
  return {
    target: "http://127.0.0.1:41001/productpage",
    settings: { rate: 20, concurrency: 10, durationSecs: 60, user: null, userShare: null },
    elapsedSecs: 10,
    sent: 200,
    completed: 200,
    achievedRate: 20,
    currentRate: 19.8,
    statuses: { "200": 200 },
    latency: { p50Ms: 12.3, p90Ms: 20.1, p99Ms: 41.7, maxMs: 55 },
    versionsRecent: { v1: 116, v2: 62, v3: 22 },
    recent: 200,
    versionsTotal: { v1: 116, v2: 62, v3: 22 },
    running: true,
    ...over,
  };
}
