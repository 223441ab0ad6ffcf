import cytoscape from "cytoscape";
import { describe, expect, it } from "vitest";

import { sampleCourse } from "../lessons/fakeLessons";
import { graphStyle, LIGHT } from "../mesh/graphStyle";
import { exportName, graphSvg, stepText, textToBase64 } from "./exportGraph";

function graph() {
  return cytoscape({
    headless: true,
    styleEnabled: true,
    layout: { name: "preset" },
    style: graphStyle(LIGHT),
    elements: [
      { data: { id: "ns", kind: "namespace", text: "Namespace default" } },
      { data: { id: "svc", kind: "service", text: "reviews", w: 120, h: 40, parent: "ns" }, position: { x: 0, y: 0 } },
      { data: { id: "sub", kind: "subset", text: "reviews v1", w: 140, h: 40, parent: "ns" }, position: { x: 300, y: 0 } },
      { data: { id: "far", kind: "pod", text: "k8xqz · 2/2 <&>", w: 160, h: 40 }, position: { x: 2000, y: 900 } },
      { data: { id: "e", source: "svc", target: "sub", kind: "route", text: "60%" } },
    ],
  });
}

describe("graph export", () => {
  it("draws every node with its label and every line as SVG, escaping the text", () => {
    const svg = graphSvg(graph(), true);
    const doc = new DOMParser().parseFromString(svg, "image/svg+xml");
    expect(doc.querySelector("parsererror")).toBeNull();
    const texts = [...doc.querySelectorAll("text")].map((t) => t.textContent);
    expect(texts).toEqual(expect.arrayContaining(["Namespace default", "reviews", "reviews v1", "k8xqz · 2/2 <&>", "60%"]));
    expect(doc.querySelectorAll("line")).toHaveLength(1);
    // The subset is a barrel (drawn as a rounded rectangle) in its kind's fill.
    const [r, g, b] = [1, 3, 5].map((i) => parseInt(LIGHT.kind.subset.slice(i, i + 2), 16));
    expect(svg).toContain(`fill="rgb(${r},${g},${b})"`);
  });

  it("takes the whole graph or only what the view shows", () => {
    const cy = graph();
    const whole = new DOMParser().parseFromString(graphSvg(cy, true), "image/svg+xml").documentElement;
    const [, , ww] = whole.getAttribute("viewBox")!.split(" ").map(Number);
    expect(ww).toBeGreaterThan(1800);
    cy.viewport({ zoom: 1, pan: { x: 0, y: 0 } });
    const view = new DOMParser().parseFromString(graphSvg(cy, false), "image/svg+xml").documentElement;
    const vb = view.getAttribute("viewBox")!.split(" ").map(Number);
    expect(vb[2]).toBeLessThan(ww);
  });

  it("writes a step's YAML and kubectl commands as text", () => {
    const lesson = sampleCourse();
    const step = lesson.steps[2];
    const before = stepText(lesson, step, null);
    expect(before).toContain("Step 3 of 4: Shift traffic: 60/30/10");
    expect(before).toContain("Split reviews' requests: v1 60%, v2 30%, v3 10%");
    expect(before).toContain('Press "Do it" first');
    const after = stepText(lesson, step, {
      step: step.id,
      applied: [{ action: step.do[0], yaml: "kind: VirtualService\n", kubectl: "kubectl apply -f reviews.yaml" }],
    });
    expect(after).toContain("kubectl:\n  kubectl apply -f reviews.yaml");
    expect(after).toContain("kind: VirtualService");
    expect(after).not.toContain("Press");
  });

  it("encodes UTF-8 text as base64 and names files by time", () => {
    expect(atob(textToBase64("abc"))).toBe("abc");
    expect(new TextDecoder().decode(Uint8Array.from(atob(textToBase64("60 % → v1 ⬢")), (c) => c.charCodeAt(0)))).toBe("60 % → v1 ⬢");
    expect(exportName("mesh", "png", new Date(2026, 11, 2, 13, 4, 5))).toBe("mesh-20261202-130405.png");
  });
});
