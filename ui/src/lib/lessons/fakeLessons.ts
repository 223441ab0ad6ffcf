// Lessons without the Rust side, for the browser preview and the component tests: a short
// course with the shape of the built-in one, whose checks pass once "Do it" ran (after a
// configurable number of polls, so the "Not yet" state shows too). Never used in the app.
import type { IpcError } from "../generated/IpcError";
import type { AppliedAction, Check, CheckOutcome, DoOptions, Lesson, LessonProgress, LessonSummary, Observation, Step, StepAction, StepRun } from "./types";

function step(id: string, title: string, what: string, why: string, over: Partial<Step>): Step {
  return { id, title, what, why, look: { nodes: [], kinds: [] }, do: [], check: null, hint: "", reset: [], ...over };
}

export function sampleCourse(): Lesson {
  return {
    schema: "istio-playground/lesson/v1",
    name: "bookinfo-basics",
    title: "Bookinfo: your first service mesh",
    summary: "Build a mesh, follow a request, add sidecars, shift traffic, break things on purpose and lock it with mutual TLS.",
    minutes: 45,
    steps: [
      step("setup", "Start the playground", "The app starts a cluster with Istio and the Bookinfo shop.", "A mesh needs services that talk to each other.", {
        look: { nodes: [], kinds: ["workload"] },
        do: ["setup"],
        check: { ready: { namespace: "default", workloads: ["productpage-v1", "reviews-v1"] } },
        hint: "Starting takes a moment.",
      }),
      step("follow-a-request", "Follow one request", "A visitor's request enters at the ingress gateway. The Gateway says which host and port the gateway accepts; the VirtualService says where the request goes next: to the productpage service, and from there to the pods behind it. \"Do it\" sends a few requests so you can watch them arrive, one station after the other.", "Every rule today sits on this path.", {
        look: { nodes: ["ingress/istio-system/istio-ingressgateway", "gw/default/bookinfo-gateway", "vs/default/bookinfo", "svc/default/productpage", "wl/default/productpage-"], kinds: [] },
        do: [{ traffic: { rate: 2, concurrency: 2, durationSecs: 120, user: null, userShare: null } }],
        check: { traffic: { namespace: "default", service: "productpage", minPerSecond: 0.5 } },
        hint: "Requests need a few seconds to show in the metrics.",
      }),
      step("shift", "Shift traffic: 60/30/10", "A VirtualService splits reviews' requests between its versions.", "New versions are released a share at a time.", {
        look: { nodes: ["vs/default/reviews", "subset/default/reviews/", "wl/default/reviews-"], kinds: [] },
        do: [{ weights: { service: "reviews", namespace: "default", weights: { v1: 60, v2: 30, v3: 10 } } }],
        check: { splitNear: { namespace: "default", service: "reviews", weights: { v1: 60, v2: 30, v3: 10 }, within: 10 } },
        hint: "The shares need a little while to catch up with the weights.",
        reset: [{ resetRouting: { includeUserObjects: false } }],
      }),
      step("look-around", "Look around", "Nothing to run: find the subsets on the graph.", "Reading the graph is half the work.", {
        look: { nodes: [], kinds: ["subset"] },
      }),
    ],
  };
}

const YAML: Partial<Record<string, string>> = {
  weights:
    "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n  name: reviews\n  namespace: default\nspec:\n  hosts: [reviews]\n  http:\n  - route:\n    - destination: {host: reviews, subset: v1}\n      weight: 60\n    - destination: {host: reviews, subset: v2}\n      weight: 30\n    - destination: {host: reviews, subset: v3}\n      weight: 10\n",
};

function applied(a: StepAction): AppliedAction {
  const key = typeof a === "string" ? a : Object.keys(a)[0];
  const yaml = YAML[key] ?? null;
  return { action: a, yaml, kubectl: yaml ? "kubectl apply -f reviews.yaml" : "" };
}

function observe(c: Check, done: boolean): Observation {
  if (c === "clusterGone") return { type: "clusterGone", gone: done };
  if ("ready" in c) return { type: "ready", ready: done ? c.ready.workloads.length : 0, wanted: c.ready.workloads.length, notReady: done ? [] : c.ready.workloads };
  if ("sidecars" in c) return { type: "sidecars", withSidecar: done ? 7 : 0, pods: 7, without: done ? [] : ["productpage-v1"] };
  if ("traffic" in c) return { type: "traffic", perSecond: done ? 2 : 0 };
  if ("splitNear" in c) {
    const versions = Object.entries(c.splitNear.weights).map(([version, w]) => ({ version, percent: done ? w + 1 : 100 / 3, expected: w }));
    return { type: "split", answeredPerSecond: 10, versions };
  }
  if ("split" in c) return { type: "split", answeredPerSecond: 10, versions: [{ version: c.split.version, percent: done ? 90 : 33, expected: null }] };
  if ("errors" in c) return { type: "errors", perSecond: 10, percent: done ? 50 : 0 };
  return { type: "mtls", perSecond: 10, percent: done ? 100 : 0 };
}

/** The lesson methods of the backend, in memory. */
export class FakeLessons {
  private readonly lessons = new Map<string, Lesson>();
  private readonly done = new Set<string>();
  private readonly polls = new Map<string, number>();
  progress: LessonProgress = { lessons: {} };
  /** How many checks after "Do it" still say "not yet". */
  notYetPolls = 1;
  /** Slows every call down, to see progress in the preview. */
  delayMs = 0;

  constructor(lessons: Lesson[] = [sampleCourse()]) {
    for (const l of lessons) this.lessons.set(l.name, l);
  }

  private async wait(): Promise<void> {
    if (this.delayMs > 0) await new Promise((r) => setTimeout(r, this.delayMs));
  }

  private find(name: string, stepId: string): Step {
    const lesson = this.lessons.get(name);
    const s = lesson?.steps.find((x) => x.id === stepId);
    if (!s) throw { code: "lesson_unknown", message: `No step ${stepId} in lesson ${name}.`, hint: null } satisfies IpcError;
    return s;
  }

  async lessonsList(): Promise<LessonSummary[]> {
    return [...this.lessons.values()].map((l) => ({
      name: l.name,
      title: l.title,
      summary: l.summary,
      minutes: l.minutes,
      stepCount: l.steps.length,
      source: { type: "builtin" },
    }));
  }

  async lessonGet(name: string): Promise<Lesson> {
    const l = this.lessons.get(name);
    if (!l) throw { code: "lesson_unknown", message: `There is no lesson called ${name}.`, hint: null } satisfies IpcError;
    return structuredClone(l);
  }

  async lessonOpenFile(path: string): Promise<LessonSummary> {
    await this.wait();
    if (!path.endsWith(".yaml") || path.includes("bad")) {
      throw {
        code: "lesson_invalid",
        message: `${path}, line 12: steps[1].check: unknown check \`splitt\`, expected one of ready, sidecars, traffic, split, splitNear, errors, mtls, clusterGone`,
        hint: "Fix the line and open the file again; manifests/lessons/README.md describes every field.",
      } satisfies IpcError;
    }
    const lesson: Lesson = { ...sampleCourse(), name: "my-lesson", title: "My own lesson" };
    this.lessons.set(lesson.name, lesson);
    return { name: lesson.name, title: lesson.title, summary: lesson.summary, minutes: lesson.minutes, stepCount: lesson.steps.length, source: { type: "file", path } };
  }

  /** The options of the last "Do it", for tests. */
  lastDo: DoOptions | null = null;

  async lessonDo(name: string, stepId: string, options: DoOptions): Promise<StepRun> {
    const s = this.find(name, stepId);
    await this.wait();
    this.lastDo = options;
    if (options.dryRun) return { step: stepId, applied: s.do.map(applied) };
    this.done.add(`${name}/${stepId}`);
    this.polls.set(`${name}/${stepId}`, 0);
    return { step: stepId, applied: s.do.map(applied) };
  }

  async lessonCheck(name: string, stepId: string): Promise<CheckOutcome | null> {
    const s = this.find(name, stepId);
    if (!s.check) return null;
    const key = `${name}/${stepId}`;
    const n = (this.polls.get(key) ?? 0) + 1;
    this.polls.set(key, n);
    const passed = this.done.has(key) && n > this.notYetPolls;
    return { passed, atMs: Date.now(), windowSecs: 15, observed: observe(s.check, passed) };
  }

  async lessonResetStep(name: string, stepId: string): Promise<StepRun> {
    const s = this.find(name, stepId);
    await this.wait();
    this.done.delete(`${name}/${stepId}`);
    return { step: stepId, applied: s.reset.map(applied) };
  }

  async lessonProgress(): Promise<LessonProgress> {
    return structuredClone(this.progress);
  }

  async lessonSaveProgress(progress: LessonProgress): Promise<void> {
    this.progress = structuredClone(progress);
  }
}
