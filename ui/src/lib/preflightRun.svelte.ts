// The preflight's state, owned by App so that leaving Setup and coming back does not
// throw away the last report or start a second run.
import { toIpcError, type Backend } from "./backend";
import type { IpcError } from "./generated/IpcError";
import type { PreflightReport } from "./generated/PreflightReport";

export type PreflightPhase = "idle" | "running" | "done" | "failed";

export class PreflightRun {
  phase: PreflightPhase = $state("idle");
  report: PreflightReport | null = $state.raw(null);
  error: IpcError | null = $state.raw(null);
  readonly #backend: Backend;

  constructor(backend: Backend) {
    this.#backend = backend;
  }

  get running(): boolean {
    return this.phase === "running";
  }

  /** Runs the checks unless they are already running. */
  async run(): Promise<void> {
    if (this.phase === "running") return;
    this.phase = "running";
    this.error = null;
    try {
      this.report = await this.#backend.runPreflight();
      this.phase = "done";
    } catch (e) {
      this.report = null;
      this.error = toIpcError(e);
      this.phase = "failed";
    }
  }

  /** Runs once when Setup first opens; later visits show the last result. */
  runIfNeverRun(): void {
    if (this.phase === "idle") void this.run();
  }
}
