// In-memory stand-ins for the traffic-management commands (routing, faults, timeouts,
// retries, circuit breaking, mTLS, reset), for the browser preview and the component tests.
// They refuse bad plans with the same error codes as the Rust actions and keep the objects
// "written" in a map, so preview, apply, undo and reset can be seen without a cluster.
import type { Backend } from "../backend";
import type { ActionKind } from "../generated/ActionKind";
import type { FaultEffect } from "../generated/FaultEffect";
import type { FaultPlan } from "../generated/FaultPlan";
import type { IpcError } from "../generated/IpcError";
import type { ObjectId } from "../generated/ObjectId";
import type { TrafficChange } from "../generated/TrafficChange";
import type { UndoReport } from "../generated/UndoReport";
import { RETRY_ON } from "./trafficForms";

type Calls = Pick<
  Backend,
  | "routeTraffic"
  | "injectFault"
  | "setRequestTimeout"
  | "setRetries"
  | "setBreaker"
  | "setMtls"
  | "resetRouting"
  | "probeClients"
>;

const SERVICES = ["productpage", "reviews", "ratings", "details"];
const VERSIONS: Record<string, string[]> = { reviews: ["v1", "v2", "v3"], productpage: ["v1"], ratings: ["v1"], details: ["v1"] };
const MANAGER = "kubectl apply --server-side --field-manager=istio-playground -f - <<'EOF'";

const fail = (code: IpcError["code"], message: string, hint: string | null = null): never => {
  throw { code, message, hint } satisfies IpcError;
};

const key = (o: ObjectId) => `${o.kind}/${o.namespace}/${o.name}`;

function checkService(service: string, namespace: string) {
  if (namespace !== "default") fail("unknown_namespace", `there is no namespace ${namespace}`, "Bookinfo runs in default.");
  if (!SERVICES.includes(service)) fail("unknown_service", `there is no Service ${service} in namespace ${namespace}`, `Pick one of ${SERVICES.join(", ")}.`);
}

function checkDuration(what: string, raw: string) {
  if (!/^(\d+(\.\d+)?(h|ms|m|s))+$/.test(raw.trim()) || !/[1-9]/.test(raw.replace(/(h|ms|m|s)/g, ""))) {
    fail("invalid_duration", `the ${what} "${raw}" is not a positive duration`, "Write a number with a unit, such as 7s or 500ms.");
  }
}

function checkUser(header: string | null, user: string | null) {
  const h = header ?? "end-user";
  if (!/^[A-Za-z0-9!#$%&'*+\-.^_`|~]+$/.test(h)) fail("invalid_header", `the header "${h}" cannot be matched: a header name cannot contain spaces`);
  if (user !== null && user.trim() === "") fail("invalid_header", `the header "${h}" cannot be matched: the value is empty`);
}

function effectOf(plan: FaultPlan): FaultEffect | null {
  const f = plan.fault;
  if (!f) return null;
  if (f.type === "delay") {
    const secs = Number.parseFloat(f.delay) * (f.delay.endsWith("ms") ? 0.001 : f.delay.endsWith("m") ? 60 : 1);
    const ms = Math.round(secs * 1000);
    if ((plan.service === "ratings" || plan.service === "reviews") && ms >= 3000) {
      return {
        type: "productpageGivesUp",
        service: plan.service,
        delay_ms: ms,
        productpage_timeout_ms: 3000,
        productpage_attempts: 2,
        page_wait_ms: 6000,
        reviews_timeout_ms: 10000,
      };
    }
    return { type: "slower", service: plan.service, delay_ms: ms };
  }
  if (plan.service === "ratings") return { type: "ratingsUnavailable", status: f.status };
  if (plan.service === "productpage") return { type: "pageFails", status: f.status };
  return { type: "partUnavailable", service: plan.service, status: f.status };
}

export function sampleTrafficActions() {
  /** Objects the app "wrote": id -> YAML. */
  let objects = new Map<string, { id: ObjectId; yaml: string }>();
  const history: { action: ActionKind; before: typeof objects }[] = [];
  let onRecord = () => {};

  function change(action: ActionKind, written: { id: ObjectId; yaml: string }[], deleted: ObjectId[], dryRun: boolean): TrafficChange {
    if (!dryRun) {
      history.push({ action, before: new Map(objects) });
      onRecord();
      for (const w of written) objects.set(key(w.id), w);
      for (const d of deleted) objects.delete(key(d));
    }
    const yaml = written.map((w) => w.yaml).join("---\n");
    const kubectl = [
      ...(written.length ? [`${MANAGER}\n${yaml}EOF`] : []),
      ...deleted.map((d) => `kubectl delete ${d.kind.toLowerCase()}s ${d.name} -n ${d.namespace}`),
    ].join("\n");
    return { action, appliedObjects: written.map((w) => w.id), deletedObjects: deleted, yaml, kubectl, applied: !dryRun };
  }

  const vs = (service: string, namespace: string, http: string) => ({
    id: { kind: "VirtualService", namespace, name: service } as ObjectId,
    yaml: `apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n  name: ${service}\n  namespace: ${namespace}\nspec:\n  hosts:\n  - ${service}\n  http:\n${http}`,
  });
  const dr = (service: string, namespace: string, extra = "") => ({
    id: { kind: "DestinationRule", namespace, name: service } as ObjectId,
    yaml:
      `apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata:\n  name: ${service}\n  namespace: ${namespace}\nspec:\n  host: ${service}\n` +
      extra +
      `  subsets:\n${(VERSIONS[service] ?? ["v1"]).map((v) => `  - name: ${v}\n    labels:\n      version: ${v}\n`).join("")}`,
  });
  const route = (service: string, subset: string) => `    route:\n    - destination:\n        host: ${service}\n        subset: ${subset}\n`;

  const calls: Calls = {
    async routeTraffic(plan, dryRun) {
      checkService(plan.service, plan.namespace);
      const versions = VERSIONS[plan.service] ?? ["v1"];
      if (!versions.includes(plan.to)) fail("unknown_version", `${plan.service} has no version ${plan.to} (it has ${versions.join(", ")})`);
      checkUser(plan.header, plan.user);
      const http = plan.user
        ? `  - match:\n    - headers:\n        ${plan.header ?? "end-user"}:\n          exact: ${plan.user}\n${route(plan.service, plan.to)}  - ${route(plan.service, plan.otherwise ?? "v1").trimStart()}`
        : `  - ${route(plan.service, plan.to).trimStart()}`;
      return change("route", [dr(plan.service, plan.namespace), vs(plan.service, plan.namespace, http)], [], dryRun);
    },
    async injectFault(plan, dryRun) {
      checkService(plan.service, plan.namespace);
      checkUser(plan.header, plan.user);
      if (plan.fault && !(plan.percent >= 0 && plan.percent <= 100)) {
        fail("invalid_percent", `"${plan.percent}" is not a percentage from 0 to 100`, "Type a number from 0 to 100.");
      }
      if (plan.fault?.type === "delay") checkDuration("delay", plan.fault.delay);
      if (plan.fault?.type === "abort" && !(plan.fault.status >= 200 && plan.fault.status <= 599)) {
        fail("invalid_http_status", `${plan.fault.status} is not an HTTP status an abort can return (200 to 599)`);
      }
      const f = plan.fault;
      const fault = !f
        ? ""
        : f.type === "delay"
          ? `    fault:\n      delay:\n        fixedDelay: ${f.delay}\n        percentage:\n          value: ${plan.percent}\n`
          : `    fault:\n      abort:\n        httpStatus: ${f.status}\n        percentage:\n          value: ${plan.percent}\n`;
      const match = plan.user ? `  - match:\n    - headers:\n        ${plan.header ?? "end-user"}:\n          exact: ${plan.user}\n${fault}${route(plan.service, "v1")}` : "";
      const http = `${match}  - ${(plan.user ? "" : fault.trimStart()) + (plan.user ? route(plan.service, "v1").trimStart() : route(plan.service, "v1"))}`;
      return { change: change("fault", [vs(plan.service, plan.namespace, http)], [], dryRun), effect: effectOf(plan) };
    },
    async setRequestTimeout(plan, dryRun) {
      checkService(plan.service, plan.namespace);
      if (plan.timeout !== null) checkDuration("timeout", plan.timeout);
      const timeout = plan.timeout ? `    timeout: ${plan.timeout}\n` : "";
      return change("timeout", [vs(plan.service, plan.namespace, `  - ${route(plan.service, "v1").trimStart()}${timeout}`)], [], dryRun);
    },
    async setRetries(plan, dryRun) {
      checkService(plan.service, plan.namespace);
      if (plan.clear && (plan.attempts !== null || plan.perTryTimeout !== null || plan.retryOn.length)) {
        fail("nothing_to_change", "nothing to change: clearing the retries takes no other settings");
      }
      if (plan.attempts !== null && plan.attempts < 0) fail("invalid_limit", `number of attempts is ${plan.attempts}; it must be 0 or more`);
      if (plan.perTryTimeout !== null) checkDuration("per-try timeout", plan.perTryTimeout);
      for (const c of plan.retryOn) {
        if (!/^\d+$/.test(c) && !RETRY_ON.includes(c)) fail("unknown_retry_condition", `"${c}" is not a retry condition Envoy knows`);
      }
      const retries = plan.clear
        ? ""
        : `    retries:\n      attempts: ${plan.attempts ?? 2}\n${plan.perTryTimeout ? `      perTryTimeout: ${plan.perTryTimeout}\n` : ""}${plan.retryOn.length ? `      retryOn: ${plan.retryOn.join(",")}\n` : ""}`;
      return change("retries", [vs(plan.service, plan.namespace, `  - ${route(plan.service, "v1").trimStart()}${retries}`)], [], dryRun);
    },
    async setBreaker(plan, dryRun) {
      checkService(plan.service, plan.namespace);
      const limits = [plan.maxConnections, plan.maxPendingRequests, plan.maxRequestsPerConnection, plan.consecutive5xxErrors];
      if (limits.some((l) => l !== null && l < 1)) fail("invalid_limit", "a limit is below 1; it must be at least 1");
      if (plan.maxEjectionPercent !== null && (plan.maxEjectionPercent < 0 || plan.maxEjectionPercent > 100)) {
        fail("invalid_limit", `max ejection percent is ${plan.maxEjectionPercent}; it must be from 0 to 100`);
      }
      const pool =
        plan.maxConnections !== null || plan.maxPendingRequests !== null || plan.maxRequestsPerConnection !== null
          ? `    connectionPool:\n${plan.maxConnections !== null ? `      tcp:\n        maxConnections: ${plan.maxConnections}\n` : ""}      http:\n${plan.maxPendingRequests !== null ? `        http1MaxPendingRequests: ${plan.maxPendingRequests}\n` : ""}${plan.maxRequestsPerConnection !== null ? `        maxRequestsPerConnection: ${plan.maxRequestsPerConnection}\n` : ""}`
          : "";
      const outlier =
        plan.consecutive5xxErrors !== null
          ? `    outlierDetection:\n      consecutive5xxErrors: ${plan.consecutive5xxErrors}\n      interval: ${plan.interval ?? "10s"}\n      baseEjectionTime: ${plan.baseEjectionTime ?? "30s"}\n      maxEjectionPercent: ${plan.maxEjectionPercent ?? 10}\n`
          : "";
      const policy = plan.clear ? "" : `  trafficPolicy:\n${pool}${outlier}`;
      return change("breaker", [dr(plan.service, plan.namespace, policy)], [], dryRun);
    },
    async setMtls(plan, dryRun) {
      const [namespace, name] =
        plan.scope.type === "mesh" ? ["istio-system", "default"] : plan.scope.type === "namespace" ? [plan.scope.namespace, "default"] : [plan.scope.namespace, plan.scope.name];
      if (namespace !== "default" && namespace !== "istio-system" && namespace !== "outside") fail("unknown_namespace", `there is no namespace ${namespace}`);
      if (plan.scope.type === "workload" && !SERVICES.some((s) => plan.scope.type === "workload" && plan.scope.name.startsWith(s))) {
        fail("unknown_workload", `there is no workload ${plan.scope.name} in namespace ${namespace}`);
      }
      const id: ObjectId = { kind: "PeerAuthentication", namespace, name };
      if (plan.mode === null) return change("mtls", [], [id], dryRun);
      const selector = plan.scope.type === "workload" ? `  selector:\n    matchLabels:\n      app: ${plan.scope.name.replace(/-v\d+$/, "")}\n` : "";
      const yaml = `apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata:\n  name: ${name}\n  namespace: ${namespace}\nspec:\n${selector}  mtls:\n    mode: ${plan.mode}\n`;
      return change("mtls", [{ id, yaml }], [], dryRun);
    },
    async probeClients(probe) {
      checkService(probe.service, probe.namespace);
      const url = `http://${probe.service}.${probe.namespace}:9080${probe.path ?? "/"}`;
      const strict = [...objects.values()].some(
        (o) =>
          o.id.kind === "PeerAuthentication" &&
          (o.id.namespace === probe.namespace || o.id.namespace === "istio-system") &&
          o.yaml.includes("mode: STRICT"),
      );
      const curl = `curl -sS -o /dev/null -w '%{http_code}' --max-time 5 ${url}`;
      const result = (place: "outside" | "inside") => {
        const namespace = place === "outside" ? "outside-mesh" : "default";
        const refused = place === "outside" && strict;
        return {
          place,
          namespace,
          pod: `curl-client-5d8f7c9b4-${place === "outside" ? "x2k4q" : "p7r9w"}`,
          sidecar: place === "inside",
          kubectl: `kubectl exec -n ${namespace} deploy/curl-client -c curl -- ${curl}`,
          exitCode: refused ? 56 : 0,
          status: refused ? null : 200,
          error: refused ? "curl: (56) Recv failure: Connection reset by peer" : "",
        };
      };
      return { url, outside: result("outside"), inside: result("inside"), created: [] };
    },
    async resetRouting(_plan, dryRun) {
      const removed = [...objects.values()].map((o) => o.id);
      const kept = [{ object: { kind: "VirtualService", namespace: "default", name: "bookinfo" } as ObjectId, reason: "ingressRouting" as const }];
      const c = change("resetRouting", [], removed, dryRun);
      return { removed, kept, change: c };
    },
  };

  return {
    /** The calls, telling `record` about every applied change (for a shared undo order). */
    recording(record: () => void): Calls {
      onRecord = record;
      return calls;
    },
    undo(): UndoReport {
      const last = history.pop();
      if (!last) return fail("nothing_to_undo", "there is no change to undo", "Apply a change first.");
      const touched = new Set([...objects.keys(), ...last.before.keys()]);
      const done: string[] = [];
      const kubectl: string[] = [];
      for (const k of touched) {
        const now = objects.get(k);
        const then = last.before.get(k);
        if (now?.yaml === then?.yaml) continue;
        const id = (then ?? now)!.id;
        if (then) {
          done.push(`restored ${id.kind} ${id.namespace}/${id.name} as it was`);
          kubectl.push(`kubectl replace -f - <<'EOF'\n${then.yaml}EOF`);
        } else {
          done.push(`deleted ${id.kind} ${id.namespace}/${id.name} (it did not exist before)`);
          kubectl.push(`kubectl delete ${id.kind.toLowerCase()}s ${id.name} -n ${id.namespace}`);
        }
      }
      objects = last.before;
      return { action: last.action, done, kubectl };
    },
  };
}
