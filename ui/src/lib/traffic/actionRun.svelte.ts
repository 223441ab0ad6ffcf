// One traffic-management action as a panel runs it: a dry run whenever the form makes a
// valid plan (debounced, newest wins), Apply, and Undo of the last change. Errors are kept
// as the IPC error (message and hint) for the panel to show.
import { toIpcError } from "../backend";
import type { IpcError } from "../generated/IpcError";
import type { UndoReport } from "../generated/UndoReport";

export const PREVIEW_DELAY_MS = 250;

export class ActionRun<P, C> {
  preview: C | null = $state.raw(null);
  previewError: IpcError | null = $state.raw(null);
  applied: C | null = $state.raw(null);
  actionError: IpcError | null = $state.raw(null);
  undone: UndoReport | null = $state.raw(null);
  busy = $state(false);
  canUndo = $state(false);
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** The plan last applied, to tell when the form has moved on from it. */
  #appliedKey: string | null = null;
  #seq = 0;

  constructor(
    private readonly call: (plan: P, dryRun: boolean) => Promise<C>,
    private readonly undoCall: () => Promise<UndoReport>,
    /** Runs after an apply or undo (the panel reads the cluster again). */
    private readonly after: () => void = () => {},
  ) {}

  /** Previews `plan` after a short pause; null (the form is not valid) clears the preview. */
  schedule(plan: P | null): void {
    clearTimeout(this.#timer);
    // Once the form differs from what was applied, show what Apply would do now.
    if (this.applied !== null && JSON.stringify(plan) !== this.#appliedKey) {
      this.applied = null;
    }
    if (plan === null) {
      this.#seq++;
      this.preview = null;
      this.previewError = null;
      return;
    }
    this.#timer = setTimeout(() => void this.runPreview(plan), PREVIEW_DELAY_MS);
  }

  dispose(): void {
    clearTimeout(this.#timer);
    this.#seq++;
  }

  async runPreview(plan: P): Promise<void> {
    const seq = ++this.#seq;
    try {
      const p = await this.call(plan, true);
      if (seq === this.#seq) {
        this.preview = p;
        this.previewError = null;
      }
    } catch (e) {
      if (seq === this.#seq) {
        this.preview = null;
        this.previewError = toIpcError(e);
      }
    }
  }

  async apply(plan: P): Promise<void> {
    this.busy = true;
    this.actionError = null;
    this.undone = null;
    try {
      this.applied = await this.call(plan, false);
      this.#appliedKey = JSON.stringify(plan);
      this.canUndo = true;
      this.after();
    } catch (e) {
      this.actionError = toIpcError(e);
    } finally {
      this.busy = false;
    }
  }

  async undo(): Promise<void> {
    this.busy = true;
    this.actionError = null;
    try {
      this.undone = await this.undoCall();
      this.applied = null;
      this.canUndo = false;
      this.after();
    } catch (e) {
      this.actionError = toIpcError(e);
    } finally {
      this.busy = false;
    }
  }
}
