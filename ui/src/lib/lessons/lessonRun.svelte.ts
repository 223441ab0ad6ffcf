// A lesson as the class goes through it: the list, the open lesson and its current step,
// "Do it" and "Reset this step" with what they applied, the step's live check (polled while
// the step is shown) and the progress kept across restarts. One instance for the whole app,
// shared by the Lessons screen and presenter mode.
import { toIpcError, type Backend } from "../backend";
import type { IpcError } from "../generated/IpcError";
import type { CheckOutcome, Lesson, LessonProgress, LessonSummary, Step, StepRun } from "./types";

/** How often the step's check is asked while the step is shown. */
export const CHECK_EVERY_MS = 2500;

export class LessonRun {
  list: LessonSummary[] = $state.raw([]);
  listError: IpcError | null = $state.raw(null);
  lesson: Lesson | null = $state.raw(null);
  index = $state(0);
  progress: LessonProgress = $state.raw({ lessons: {} });
  /** What runs now: "Do it", "Reset this step", or nothing. */
  busy: "do" | "reset" | null = $state(null);
  /** What the last "Do it" or reset of this step applied. */
  lastRun: StepRun | null = $state.raw(null);
  lastRunKind: "do" | "reset" | null = $state(null);
  outcome: CheckOutcome | null = $state.raw(null);
  /** The last failure of "Do it", reset or the check. */
  error: IpcError | null = $state.raw(null);
  /**
   * What a setup step builds: the simulated playground (no Docker, the classroom default)
   * or the real one. The app sets it from the cluster it talks to; the screen lets the
   * teacher choose.
   */
  simulated = $state(true);
  /** Why a teacher's file was refused. */
  openError: IpcError | null = $state.raw(null);

  /**
   * Called with true when "Do it" or a reset starts applying its actions and with false when
   * it has finished (presenter mode lets the graph lay out what they change meanwhile: the
   * watch may report the changes before the command returns).
   */
  onApplying: ((applying: boolean) => void) | null = null;

  private timer: ReturnType<typeof setInterval> | null = null;
  private checking = false;
  /** Bumped when the step changes, so late answers about another step are dropped. */
  private generation = 0;

  constructor(
    private readonly backend: Backend,
    private readonly checkEveryMs = CHECK_EVERY_MS,
  ) {}

  get step(): Step | null {
    return this.lesson?.steps[this.index] ?? null;
  }

  /** Ids of the open lesson's steps whose check has passed. */
  get passed(): ReadonlySet<string> {
    const name = this.lesson?.name;
    return new Set(name ? (this.progress.lessons[name]?.passed ?? []) : []);
  }

  async load(): Promise<void> {
    try {
      const [list, progress] = await Promise.all([this.backend.lessonsList(), this.backend.lessonProgress()]);
      this.list = list;
      this.progress = progress;
      this.listError = null;
    } catch (e) {
      this.listError = toIpcError(e);
    }
  }

  /** Opens a lesson at the step where the class stopped last time. */
  async open(name: string): Promise<void> {
    try {
      const lesson = await this.backend.lessonGet(name);
      const current = this.progress.lessons[name]?.current ?? null;
      const at = lesson.steps.findIndex((s) => s.id === current);
      this.lesson = lesson;
      this.error = null;
      this.show(at >= 0 ? at : 0);
    } catch (e) {
      this.error = toIpcError(e);
    }
  }

  close(): void {
    this.stopChecking();
    this.generation++;
    this.lesson = null;
    this.outcome = null;
    this.lastRun = null;
  }

  next(): void {
    if (this.lesson && this.index < this.lesson.steps.length - 1) this.show(this.index + 1);
  }

  previous(): void {
    if (this.lesson && this.index > 0) this.show(this.index - 1);
  }

  goTo(index: number): void {
    if (this.lesson && index >= 0 && index < this.lesson.steps.length) this.show(index);
  }

  private show(index: number): void {
    this.generation++;
    this.index = index;
    this.outcome = null;
    this.lastRun = null;
    this.lastRunKind = null;
    this.error = null;
    this.busy = null;
    void this.remember((s) => ({ ...s, current: this.step?.id ?? null }));
    this.startChecking();
  }

  /** "Do it": the step's actions, then an immediate check. */
  async doIt(): Promise<void> {
    await this.run("do");
  }

  /** "Reset this step": its reset actions; the step counts as not passed again. */
  async reset(): Promise<void> {
    const id = this.step?.id;
    await this.run("reset");
    if (id) await this.remember((s) => ({ ...s, passed: s.passed.filter((p) => p !== id) }));
  }

  private async run(kind: "do" | "reset"): Promise<void> {
    const lesson = this.lesson;
    const step = this.step;
    if (!lesson || !step || this.busy) return;
    const gen = this.generation;
    this.busy = kind;
    this.error = null;
    this.onApplying?.(true);
    try {
      const run =
        kind === "do"
          ? await this.backend.lessonDo(lesson.name, step.id, { simulated: this.simulated, dryRun: false })
          : await this.backend.lessonResetStep(lesson.name, step.id);
      if (gen !== this.generation) return;
      this.lastRun = run;
      this.lastRunKind = kind;
      this.outcome = null;
    } catch (e) {
      if (gen === this.generation) this.error = toIpcError(e);
    } finally {
      this.onApplying?.(false);
      if (gen === this.generation) this.busy = null;
    }
    if (gen === this.generation) await this.check();
  }

  /** Asks the step's check once; a pass is remembered in the progress. */
  async check(): Promise<void> {
    const lesson = this.lesson;
    const step = this.step;
    if (!lesson || !step?.check || this.checking) return;
    const gen = this.generation;
    this.checking = true;
    try {
      const outcome = await this.backend.lessonCheck(lesson.name, step.id);
      if (gen !== this.generation) return;
      this.outcome = outcome;
      if (outcome?.passed && !this.passed.has(step.id)) {
        await this.remember((s) => ({ ...s, passed: [...s.passed, step.id] }));
      }
    } catch (e) {
      if (gen === this.generation) this.error = toIpcError(e);
    } finally {
      this.checking = false;
    }
  }

  private startChecking(): void {
    this.stopChecking();
    if (!this.step?.check) return;
    void this.check();
    this.timer = setInterval(() => void this.check(), this.checkEveryMs);
  }

  stopChecking(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** What the step's "Do it" would apply, writing nothing: for its text on slides. */
  async preview(): Promise<StepRun | null> {
    const lesson = this.lesson;
    const step = this.step;
    if (!lesson || !step) return null;
    return this.backend.lessonDo(lesson.name, step.id, { simulated: this.simulated, dryRun: true });
  }

  /** Adds a teacher's file to the list and opens it; a refusal keeps its line and reason. */
  async openFile(path: string): Promise<boolean> {
    this.openError = null;
    try {
      const summary = await this.backend.lessonOpenFile(path.trim());
      await this.load();
      await this.open(summary.name);
      return true;
    } catch (e) {
      this.openError = toIpcError(e);
      return false;
    }
  }

  private async remember(change: (s: { current: string | null; passed: string[] }) => { current: string | null; passed: string[] }): Promise<void> {
    const name = this.lesson?.name;
    if (!name) return;
    const before = this.progress.lessons[name] ?? { current: null, passed: [] };
    this.progress = { lessons: { ...this.progress.lessons, [name]: change(before) } };
    try {
      await this.backend.lessonSaveProgress(this.progress);
    } catch (e) {
      this.error = toIpcError(e);
    }
  }
}
