// Exports for slides: the graph as PNG (Cytoscape draws it) or SVG (built here from the
// drawn positions and styles: no SVG extension is installed, and the shapes are few), at the
// current view or whole, and a step's YAML and kubectl commands as text. Everything comes
// out as base64 for the backend's save_export, which writes it into Downloads.
import type { Core, EdgeSingular, NodeSingular } from "cytoscape";

import { actionText, checkText } from "../lessons/words";
import type { Lesson, Step, StepRun } from "../lessons/types";

export type ExportKind = "png" | "svg";

/** UTF-8 text as base64. */
export function textToBase64(text: string): string {
  const bytes = new TextEncoder().encode(text);
  let bin = "";
  for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(bin);
}

/** "mesh-20261202-1304.png": sortable, and never the same minute twice in a class. */
export function exportName(base: string, ext: string, at = new Date()): string {
  const p = (n: number) => String(n).padStart(2, "0");
  const stamp = `${at.getFullYear()}${p(at.getMonth() + 1)}${p(at.getDate())}-${p(at.getHours())}${p(at.getMinutes())}${p(at.getSeconds())}`;
  return `${base}-${stamp}.${ext}`;
}

/** The graph as a PNG, base64, twice the screen's resolution for sharp slides. */
export function graphPng(cy: Core, full: boolean): string {
  const data = cy.png({ output: "base64", full, bg: "#ffffff", scale: 2 });
  return data.replace(/^data:image\/png;base64,/, "");
}

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

interface Rect {
  x1: number;
  y1: number;
  w: number;
  h: number;
}

/** An outline for a Cytoscape shape in a box, close enough for a slide. */
function shapePath(shape: string, b: Rect): string {
  const { x1, y1, w, h } = b;
  const x2 = x1 + w;
  const y2 = y1 + h;
  const cx = x1 + w / 2;
  const cy = y1 + h / 2;
  const poly = (pts: [number, number][]) => `<polygon points="${pts.map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`).join(" ")}"`;
  switch (shape) {
    case "ellipse":
      return `<ellipse cx="${cx.toFixed(1)}" cy="${cy.toFixed(1)}" rx="${(w / 2).toFixed(1)}" ry="${(h / 2).toFixed(1)}"`;
    case "rhomboid": {
      const d = w * 0.2;
      return poly([[x1 + d, y1], [x2, y1], [x2 - d, y2], [x1, y2]]);
    }
    case "round-hexagon":
    case "hexagon": {
      const d = w * 0.12;
      return poly([[x1 + d, y1], [x2 - d, y1], [x2, cy], [x2 - d, y2], [x1 + d, y2], [x1, cy]]);
    }
    case "cut-rectangle": {
      const d = Math.min(8, w / 4, h / 4);
      return poly([[x1 + d, y1], [x2 - d, y1], [x2, y1 + d], [x2, y2 - d], [x2 - d, y2], [x1 + d, y2], [x1, y2 - d], [x1, y1 + d]]);
    }
    case "round-rectangle":
    case "barrel":
      return `<rect x="${x1.toFixed(1)}" y="${y1.toFixed(1)}" width="${w.toFixed(1)}" height="${h.toFixed(1)}" rx="${Math.min(10, h / 4).toFixed(1)}"`;
    default:
      return `<rect x="${x1.toFixed(1)}" y="${y1.toFixed(1)}" width="${w.toFixed(1)}" height="${h.toFixed(1)}"`;
  }
}

function num(v: unknown, fallback: number): number {
  const n = parseFloat(String(v));
  return Number.isFinite(n) ? n : fallback;
}

function color(v: unknown, fallback: string): string {
  const s = String(v ?? "");
  return s && s !== "undefined" ? s : fallback;
}

function nodeSvg(n: NodeSingular): string {
  const bb = n.boundingBox({ includeLabels: false, includeOverlays: false });
  const border = num(n.style("border-width"), 0);
  const box = { x1: bb.x1 + border / 2, y1: bb.y1 + border / 2, w: bb.w - border, h: bb.h - border };
  const opacity = num(n.style("opacity"), 1);
  const dash = n.style("border-style") === "dashed" ? ' stroke-dasharray="10 6"' : n.style("border-style") === "dotted" ? ' stroke-dasharray="3 4"' : "";
  const out = [
    `${shapePath(String(n.style("shape")), box)} fill="${color(n.style("background-color"), "#ffffff")}" stroke="${color(n.style("border-color"), "#000000")}" stroke-width="${Math.min(border, 4)}"${dash} opacity="${opacity}"/>`,
  ];
  const text = String(n.data("text") ?? "");
  if (text) {
    const font = num(n.style("font-size"), 20);
    const lines = text.split("\n");
    const lh = font * 1.2;
    const top = n.isParent() || n.style("text-valign") === "top";
    const startY = top ? box.y1 - 6 - lh * (lines.length - 1) : box.y1 + box.h / 2 - (lh * (lines.length - 1)) / 2;
    const tspans = lines.map((l, i) => `<tspan x="${(box.x1 + box.w / 2).toFixed(1)}" y="${(startY + i * lh).toFixed(1)}">${esc(l)}</tspan>`).join("");
    out.push(
      `<text text-anchor="middle" dominant-baseline="${top ? "text-after-edge" : "central"}" font-family="${esc(String(n.style("font-family")))}" font-size="${font}" font-weight="${esc(String(n.style("font-weight")))}" fill="${color(n.style("color"), "#000000")}" opacity="${opacity}">${tspans}</text>`,
    );
  }
  return out.join("\n");
}

/** Where the line from `from` towards `to` leaves `n`'s box (renderer-free, so it also works headless). */
function exitPoint(n: NodeSingular, to: { x: number; y: number }): { x: number; y: number } {
  const c = n.position();
  const bb = n.boundingBox({ includeLabels: false, includeOverlays: false });
  const dx = to.x - c.x;
  const dy = to.y - c.y;
  if (dx === 0 && dy === 0) return c;
  const k = Math.min(dx !== 0 ? bb.w / 2 / Math.abs(dx) : Infinity, dy !== 0 ? bb.h / 2 / Math.abs(dy) : Infinity, 1);
  return { x: c.x + dx * k, y: c.y + dy * k };
}

function edgeSvg(e: EdgeSingular): string {
  const sc = e.source().position();
  const tc = e.target().position();
  const s = exitPoint(e.source(), tc);
  const t = exitPoint(e.target(), sc);
  const stroke = color(e.style("line-color"), "#000000");
  const width = num(e.style("width"), 4);
  const opacity = num(e.style("opacity"), 1);
  const dash = e.style("line-style") === "dashed" ? ' stroke-dasharray="14 8"' : e.style("line-style") === "dotted" ? ' stroke-dasharray="3 5"' : "";
  const len = Math.hypot(t.x - s.x, t.y - s.y) || 1;
  const ux = (t.x - s.x) / len;
  const uy = (t.y - s.y) / len;
  const head = 6 + width * 2;
  const bx = t.x - ux * head;
  const by = t.y - uy * head;
  const out = [
    `<line x1="${s.x.toFixed(1)}" y1="${s.y.toFixed(1)}" x2="${bx.toFixed(1)}" y2="${by.toFixed(1)}" stroke="${stroke}" stroke-width="${width}"${dash} opacity="${opacity}"/>`,
    `<polygon points="${t.x.toFixed(1)},${t.y.toFixed(1)} ${(bx - uy * head * 0.6).toFixed(1)},${(by + ux * head * 0.6).toFixed(1)} ${(bx + uy * head * 0.6).toFixed(1)},${(by - ux * head * 0.6).toFixed(1)}" fill="${stroke}" opacity="${opacity}"/>`,
  ];
  const text = String(e.data("text") ?? "");
  if (text) {
    const font = num(e.style("font-size"), 20);
    const off = Math.min(len / 2, num(e.style("target-text-offset"), 40));
    const lx = t.x - ux * off;
    const ly = t.y - uy * off;
    const w = text.length * font * 0.65 + 10;
    out.push(
      `<rect x="${(lx - w / 2).toFixed(1)}" y="${(ly - font * 0.7).toFixed(1)}" width="${w.toFixed(1)}" height="${(font * 1.4).toFixed(1)}" rx="4" fill="${color(e.style("text-background-color"), stroke)}"/>`,
      `<text x="${lx.toFixed(1)}" y="${ly.toFixed(1)}" text-anchor="middle" dominant-baseline="central" font-family="${esc(String(e.style("font-family")))}" font-size="${font}" font-weight="800" fill="${color(e.style("color"), "#ffffff")}">${esc(text)}</text>`,
    );
  }
  return out.join("\n");
}

/**
 * The graph as SVG: groups first (outermost first), then lines, then the boxes on top, as
 * the screen draws them. `full`: the whole graph; else what the view shows now.
 */
export function graphSvg(cy: Core, full: boolean): string {
  const bb = full ? cy.elements().boundingBox() : cy.extent();
  const pad = full ? 20 : 0;
  const x = bb.x1 - pad;
  const y = bb.y1 - pad;
  const w = bb.w + 2 * pad;
  const h = bb.h + 2 * pad;
  const depth = (n: NodeSingular) => n.ancestors().length;
  const groups = cy
    .nodes()
    .filter((n) => n.isParent())
    .sort((a, b) => depth(a as NodeSingular) - depth(b as NodeSingular));
  const parts: string[] = [];
  groups.forEach((n) => void parts.push(nodeSvg(n as NodeSingular)));
  cy.edges().forEach((e) => void parts.push(edgeSvg(e)));
  cy.nodes()
    .filter((n) => n.isChildless())
    .forEach((n) => void parts.push(nodeSvg(n as NodeSingular)));
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="${x.toFixed(1)} ${y.toFixed(1)} ${w.toFixed(1)} ${h.toFixed(1)}" width="${Math.round(w)}" height="${Math.round(h)}">`,
    `<rect x="${x.toFixed(1)}" y="${y.toFixed(1)}" width="${w.toFixed(1)}" height="${h.toFixed(1)}" fill="#ffffff"/>`,
    ...parts,
    "</svg>",
  ].join("\n");
}

/** A step as text for slides or a handout: what, why, what "Do it" ran, its YAML and kubectl. */
export function stepText(lesson: Lesson, step: Step, run: StepRun | null): string {
  const n = lesson.steps.findIndex((s) => s.id === step.id) + 1;
  const lines = [`${lesson.title}`, `Step ${n} of ${lesson.steps.length}: ${step.title}`, "", step.what, "", `Why: ${step.why}`, ""];
  if (step.do.length) {
    lines.push("Do it:");
    for (const a of step.do) lines.push(`  - ${actionText(a)}`);
    lines.push("");
  }
  if (step.check) lines.push(`Check: ${checkText(step.check)}`, "");
  const applied = run?.applied ?? [];
  const kubectl = applied.flatMap((a) => (a.kubectl.trim() ? a.kubectl.trimEnd().split("\n") : []));
  if (kubectl.length) lines.push("kubectl:", ...kubectl.map((k) => `  ${k}`), "");
  for (const a of applied) {
    if (a.yaml) lines.push(`# ${actionText(a.action)}`, a.yaml.trimEnd(), "---");
  }
  if (!run && step.do.length) lines.push('(Press "Do it" first to include the YAML and kubectl commands it applies.)');
  return `${lines.join("\n").trimEnd()}\n`;
}
