// The Setup screen's step list as plain data, and how each progress event changes it.
// Pure functions, so every rule here is tested without a component.
import type { PlannedStep } from "./generated/PlannedStep";
import type { ProvisionEvent } from "./generated/ProvisionEvent";
import type { StepFailure } from "./generated/StepFailure";
import type { StepId } from "./generated/StepId";
import type { StepState } from "./generated/StepState";

/** Most lines one step keeps (istioctl and kind can be chatty). */
export const STEP_LOG_LIMIT = 200;

export interface StepView {
  id: StepId;
  title: string;
  explanation: string;
  state: StepState;
  /** 0-100 while the step knows how far it is; null otherwise. */
  percent: number | null;
  elapsedMs: number;
  log: string[];
  /** The last thing the step said (its result when finished). */
  message: string | null;
  failure: StepFailure | null;
}

export function stepsFromPlan(planned: PlannedStep[]): StepView[] {
  return planned.map((p) => ({
    id: p.id,
    title: p.title,
    explanation: p.explanation,
    state: "pending",
    percent: null,
    elapsedMs: 0,
    log: [],
    message: null,
    failure: null,
  }));
}

/** The list after one event. Steps the plan did not list are appended (titled by id). */
export function applyEvent(steps: StepView[], e: ProvisionEvent): StepView[] {
  const known = steps.some((s) => s.id === e.step);
  const list = known ? steps : [...steps, { ...stepsFromPlan([{ id: e.step, title: e.step, explanation: "", actions: [] }])[0] }];
  return list.map((s) => {
    if (s.id !== e.step) return s;
    if (e.state === "pending") {
      // A new run starts: clear what the last run showed.
      return { ...s, state: "pending", percent: null, elapsedMs: 0, log: [], message: null, failure: null };
    }
    // A failure's message is shown in its own box; the log need not repeat it.
    const repeat = e.state === "failed" && e.failure?.message === e.message;
    const log = e.message && !repeat ? [...s.log, e.message].slice(-STEP_LOG_LIMIT) : s.log;
    return {
      ...s,
      state: e.state,
      percent: e.state === "running" ? (e.percent ?? s.percent) : e.state === "done" ? 100 : null,
      elapsedMs: e.elapsedMs,
      log,
      message: e.message ?? s.message,
      failure: e.failure,
    };
  });
}

/** "850 ms", "12 s", "3 min 05 s". */
export function duration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s} s`;
  return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, "0")} s`;
}

export const STATE_WORD: Record<StepState, string> = {
  pending: "Waiting",
  running: "Working",
  done: "Done",
  failed: "Failed",
  skipped: "Already done",
};

/**
 * Why "Set up" cannot be pressed yet, or null when it can. Only failed checks block: a
 * warning means it may be slow, not that it will fail.
 */
export function blockedReason(
  preflight: { running: boolean; report: { checks: { title: string; status: string }[] } | null },
): string | null {
  if (preflight.running) return "Wait for the checks above to finish.";
  if (!preflight.report) return "Run the checks above first.";
  const failed = preflight.report.checks.filter((c) => c.status === "fail").map((c) => c.title);
  if (failed.length === 0) return null;
  return `Fix the failed check${failed.length > 1 ? "s" : ""} above first: ${failed.join(", ")}.`;
}
