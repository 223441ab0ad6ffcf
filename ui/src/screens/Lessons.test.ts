import { fireEvent, render, screen, waitFor } from "@testing-library/svelte";
import { describe, expect, it, vi } from "vitest";

import { backendContext } from "../lib/backend";
import { LessonRun } from "../lib/lessons/lessonRun.svelte";
import { MeshWatch } from "../lib/mesh/meshWatch.svelte";
import { splitSnapshot } from "../lib/mesh/sample";
import PresenterView from "../lib/presenter/PresenterView.svelte";
import { fakeBackend } from "../test/fakeBackend";
import Lessons from "./Lessons.svelte";

function renderLessons(backend = fakeBackend()) {
  const mesh = new MeshWatch(backend);
  const lessons = new LessonRun(backend, 60_000);
  const onpresent = vi.fn();
  render(Lessons, { props: { lessons, mesh, onpresent }, context: backendContext(backend) });
  return { backend, mesh, lessons, onpresent };
}

async function openShift() {
  const view = renderLessons();
  await waitFor(() => expect(view.backend.watchMesh).toHaveBeenCalled());
  view.backend.emitMesh({ type: "snapshot", snapshot: splitSnapshot() });
  await fireEvent.click(await screen.findByTestId("lesson-open-bookinfo-basics"));
  await fireEvent.click(await screen.findByTestId("lesson-step-shift"));
  return view;
}

describe("Lessons screen", () => {
  it("lists the lessons with their length", async () => {
    renderLessons();
    const list = await screen.findByTestId("lesson-list");
    await waitFor(() => expect(list.textContent).toContain("Bookinfo: your first service mesh"));
    expect(list.textContent).toContain("4 steps · about 45 minutes");
  });

  it("walks a step: what and why, Do it shows what it applied, the check shows the hint until it passes", async () => {
    const { lessons } = await openShift();
    const step = screen.getByTestId("lesson-step");
    expect(step.textContent).toContain("Step 3 of 4");
    expect(step.textContent).toContain("Why:");
    await waitFor(() => expect(screen.getByTestId("lesson-check").textContent).toContain("Not yet."));
    expect(screen.getByTestId("lesson-hint").textContent).toContain("catch up");

    await fireEvent.click(screen.getByTestId("lesson-do"));
    await waitFor(() => expect(screen.getByTestId("lesson-applied").textContent).toContain("Split reviews' requests"));
    expect(screen.getByTestId("lesson-applied").textContent).toContain("kubectl apply -f reviews.yaml");
    expect(screen.getByTestId("lesson-applied").textContent).toContain("weight: 60");
    // The fake's check says "not yet" once after Do it; the next poll passes.
    await lessons.check();
    await waitFor(() => expect(screen.getByTestId("lesson-check").dataset.passed).toBe("true"));
    expect(screen.getByTestId("lesson-check").textContent).toContain("✓ Done.");
    expect(screen.queryByTestId("lesson-hint")).toBeNull();
    expect(screen.getByTestId("lesson-step-shift").textContent).toContain("✓");
    lessons.stopChecking();
  });

  it("saves the step as text and says where", async () => {
    const { backend, lessons } = await openShift();
    await fireEvent.click(screen.getByTestId("lesson-save-text"));
    await waitFor(() => expect(screen.getByTestId("lesson-text-path").textContent).toContain("/home/you/Downloads/bookinfo-basics-shift-"));
    const [name, data] = backend.saveExport.mock.calls[0];
    expect(name).toMatch(/\.txt$/);
    expect(atob(data)).toContain("Shift traffic: 60/30/10");
    // Before "Do it", a dry run says what it would apply; nothing was applied.
    expect(backend.lessons.lastDo).toEqual({ simulated: true, dryRun: true });
    expect(atob(data)).toContain("kubectl:\n  kubectl apply -f reviews.yaml");
    expect(atob(data)).toContain("weight: 60");
    lessons.stopChecking();
  });

  it("shows why a teacher's file was refused, with its line", async () => {
    renderLessons();
    await fireEvent.input(await screen.findByTestId("lesson-file-path"), { target: { value: "/home/t/bad.yaml" } });
    await fireEvent.click(screen.getByTestId("lesson-file-open"));
    const error = await screen.findByTestId("lesson-file-error");
    expect(error.textContent).toContain("line 12");
    expect(error.textContent).toContain("This file was not added.");
  });
});

describe("presenter view", () => {
  it("shows the step's title, text and check as a caption, and Do it runs the step", async () => {
    const backend = fakeBackend();
    const mesh = new MeshWatch(backend);
    const lessons = new LessonRun(backend, 60_000);
    await lessons.load();
    await lessons.open("bookinfo-basics");
    lessons.goTo(2);
    mesh.start();
    backend.emitMesh({ type: "snapshot", snapshot: splitSnapshot() });
    render(PresenterView, { props: { mesh, lessons, onexit: vi.fn() }, context: backendContext(backend) });
    expect(screen.getByTestId("presenter-step-title").textContent).toBe("Shift traffic: 60/30/10");
    expect(screen.getByTestId("presenter-caption").textContent).toContain("3/4");
    expect(screen.getByTestId("presenter-caption").dataset.stepId).toBe("shift");
    await fireEvent.click(screen.getByTestId("presenter-do"));
    await lessons.check();
    await waitFor(() => expect(screen.getByTestId("presenter-status").dataset.passed).toBe("true"));
    expect(screen.getByTestId("presenter-status").textContent).toContain("Done: Requests went to v1 61%");
    await fireEvent.click(screen.getByTestId("presenter-next"));
    expect(screen.getByTestId("presenter-step-title").textContent).toBe("Look around");
    lessons.stopChecking();
  });
});
