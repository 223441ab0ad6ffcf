import { afterEach, describe, expect, it, vi } from "vitest";

import { fakeBackend } from "../../test/fakeBackend";
import { LessonRun } from "./lessonRun.svelte";

afterEach(() => vi.useRealTimers());

async function opened() {
  const backend = fakeBackend();
  const run = new LessonRun(backend, 2500);
  await run.load();
  await run.open("bookinfo-basics");
  return { backend, run };
}

describe("LessonRun", () => {
  it("lists the lessons and opens the first step", async () => {
    const { run } = await opened();
    expect(run.list.map((l) => l.name)).toEqual(["bookinfo-basics"]);
    expect(run.step?.id).toBe("setup");
    run.stopChecking();
  });

  it("runs a step: Do it applies, the check says not yet, then passes, and the pass is saved", async () => {
    vi.useFakeTimers();
    const { backend, run } = await opened();
    await vi.advanceTimersByTimeAsync(0);
    // Before "Do it" the check does not pass.
    expect(run.outcome?.passed).toBe(false);
    run.next();
    run.next();
    expect(run.step?.id).toBe("shift");
    run.simulated = false;
    await run.doIt();
    expect(backend.lessons.lastDo).toEqual({ simulated: false, dryRun: false });
    expect(run.lastRun?.applied[0].yaml).toContain("weight: 60");
    // The fake says "not yet" once after Do it, then passes on the next poll.
    expect(run.outcome?.passed).toBe(false);
    await vi.advanceTimersByTimeAsync(2500);
    expect(run.outcome?.passed).toBe(true);
    expect(backend.lessons.progress.lessons["bookinfo-basics"]).toEqual({ current: "shift", passed: ["shift"] });
    run.stopChecking();
  });

  it("says it is applying while Do it runs, before the command returns, and when it is done", async () => {
    const { backend, run } = await opened();
    const calls: boolean[] = [];
    const lessonDo = backend.lessonDo.bind(backend);
    // What the graph had heard when the command started: the watch can report the changes
    // before the command returns.
    let whenCalled: boolean[] = [];
    backend.lessonDo = (...args: Parameters<typeof lessonDo>) => {
      whenCalled = [...calls];
      return lessonDo(...args);
    };
    run.onApplying = (applying) => calls.push(applying);
    run.next();
    run.next();
    await run.doIt();
    expect(whenCalled).toEqual([true]);
    expect(calls).toEqual([true, false]);
    run.stopChecking();
  });

  it("comes back to the step where the class stopped, and Reset un-passes it", async () => {
    const backend = fakeBackend();
    backend.lessons.progress = { lessons: { "bookinfo-basics": { current: "shift", passed: ["setup", "shift"] } } };
    const run = new LessonRun(backend, 2500);
    await run.load();
    await run.open("bookinfo-basics");
    expect(run.step?.id).toBe("shift");
    expect([...run.passed]).toEqual(["setup", "shift"]);
    await run.reset();
    expect(run.lastRunKind).toBe("reset");
    expect(run.lastRun?.applied[0].action).toEqual({ resetRouting: { includeUserObjects: false } });
    expect([...run.passed]).toEqual(["setup"]);
    expect(backend.lessons.progress.lessons["bookinfo-basics"].passed).toEqual(["setup"]);
    run.stopChecking();
  });

  it("keeps Previous and Next inside the lesson", async () => {
    const { run } = await opened();
    run.previous();
    expect(run.index).toBe(0);
    for (let i = 0; i < 10; i++) run.next();
    expect(run.index).toBe(run.lesson!.steps.length - 1);
    run.stopChecking();
  });

  it("drops a late check answer about a step that is no longer shown", async () => {
    const { backend, run } = await opened();
    let release: () => void = () => undefined;
    const slow = new Promise<void>((r) => (release = r));
    const original = backend.lessonCheck;
    backend.lessonCheck = async () => {
      await slow;
      return { passed: true, atMs: 0, windowSecs: null, observed: { type: "traffic", perSecond: 9 } };
    };
    const pending = run.check();
    run.next();
    release();
    await pending;
    expect(run.step?.id).toBe("follow-a-request");
    expect(run.outcome).toBeNull();
    backend.lessonCheck = original;
    run.stopChecking();
  });

  it("refuses a teacher's file with its line and reason, and opens a good one", async () => {
    const { run } = await opened();
    expect(await run.openFile("/home/teacher/bad.yaml")).toBe(false);
    expect(run.openError?.code).toBe("lesson_invalid");
    expect(run.openError?.message).toContain("line 12");
    expect(await run.openFile(" /home/teacher/mine.yaml ")).toBe(true);
    expect(run.openError).toBeNull();
    expect(run.lesson?.name).toBe("my-lesson");
    expect(run.list.map((l) => l.name)).toContain("my-lesson");
    run.stopChecking();
  });
});
