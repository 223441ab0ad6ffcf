// Sample data for looking at the UI in a plain browser (`npm run dev`), where there is no
// Rust side. Only main.ts loads it, only in development, and the UI then says
// "Preview without the app: sample data". Never used inside the app.
import type { Backend } from "./backend";
import type { CheckResult } from "./generated/CheckResult";
import type { LogLine } from "./generated/LogLine";
import type { PreflightReport } from "./generated/PreflightReport";

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

/** `sample`: null for the mixed report, "pass" for all passing, "error" for a failing call. */
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

  return {
    async runPreflight() {
      log("INFO", "playground::preflight", "preflight started");
      await sleep(1200);
      if (sample === "error") {
        log("ERROR", "playground::preflight", "preflight could not start");
        throw { code: "preflight", message: "The checks could not start.", hint: "Restart the app; if it keeps happening, copy the log and report it." };
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
      };
    },
  };
}
