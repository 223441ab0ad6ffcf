// The setup's live state, owned by App so that leaving Setup during a run loses nothing.
import { toIpcError, type Backend } from "./backend";
import type { IpcError } from "./generated/IpcError";
import type { ProvisionEvent } from "./generated/ProvisionEvent";
import type { SetupPlan } from "./generated/SetupPlan";
import { applyEvent, stepsFromPlan, type StepView } from "./setup";

export type SetupPhase = "idle" | "running" | "done" | "failed" | "cancelled";
export type SetupMode = "setup" | "teardown";

export class SetupRun {
  plan: SetupPlan | null = $state.raw(null);
  planError: IpcError | null = $state.raw(null);
  steps: StepView[] = $state.raw([]);
  phase: SetupPhase = $state("idle");
  mode: SetupMode = $state("setup");
  /** Wall time of the current or last run. */
  totalMs = $state(0);
  /** Set when the run ended with an error that no step reported (e.g. already running). */
  error: IpcError | null = $state.raw(null);
  cancelling = $state(false);
  readonly #backend: Backend;

  constructor(backend: Backend) {
    this.#backend = backend;
  }

  get running(): boolean {
    return this.phase === "running";
  }

  /** True once a setup run stopped part-way: the button then says "Continue". */
  get resumable(): boolean {
    return this.mode === "setup" && (this.phase === "failed" || this.phase === "cancelled");
  }

  async loadPlan(): Promise<void> {
    try {
      this.plan = await this.#backend.setupPlan();
      this.planError = null;
      if (!this.running) this.steps = stepsFromPlan(this.plan.steps);
    } catch (e) {
      this.planError = toIpcError(e);
    }
  }

  /** Loads the plan the first time Setup opens. */
  loadPlanIfNeeded(): void {
    if (!this.plan && !this.planError) void this.loadPlan();
  }

  onEvent = (e: ProvisionEvent): void => {
    this.steps = applyEvent(this.steps, e);
    this.totalMs = Math.max(this.totalMs, e.totalElapsedMs);
  };

  async #run(mode: SetupMode, call: (h: (e: ProvisionEvent) => void) => Promise<void>): Promise<void> {
    if (this.running) return;
    this.mode = mode;
    this.phase = "running";
    this.error = null;
    this.totalMs = 0;
    this.cancelling = false;
    if (mode === "setup" && this.plan) this.steps = stepsFromPlan(this.plan.steps);
    if (mode === "teardown") this.steps = this.plan ? stepsFromPlan([this.plan.teardown]) : [];
    try {
      await call(this.onEvent);
      this.phase = "done";
    } catch (e) {
      const err = toIpcError(e);
      this.phase = err.code === "cancelled" ? "cancelled" : "failed";
      // A step that failed shows its own message; only other errors need one here.
      if (!this.steps.some((s) => s.state === "failed")) this.error = err;
    } finally {
      this.cancelling = false;
    }
  }

  start(): Promise<void> {
    return this.#run("setup", (h) => this.#backend.setupStart(h));
  }

  teardown(): Promise<void> {
    return this.#run("teardown", (h) => this.#backend.teardown(h));
  }

  async cancel(): Promise<void> {
    if (!this.running) return;
    this.cancelling = true;
    await this.#backend.setupCancel();
  }
}
