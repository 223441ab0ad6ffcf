// Drawing benchmark for the Mesh screen: a made-up mesh of 500 nodes, laid out and drawn
// with the app's own code and style, then panned programmatically frame by frame.
// Open /bench/graph-500.html on the dev server (or run `npm run bench:graph`); the result
// lands in `window.__graphBench`, in the page, and in the console as `GRAPH-BENCH {json}`.
import cytoscape from "cytoscape";

import { MeshGraph } from "../src/lib/mesh/graphState";
import { LIGHT, graphStyle } from "../src/lib/mesh/graphStyle";
import { nodeSize } from "../src/lib/mesh/layout";
import { edgeText, nodeText } from "../src/lib/mesh/explain";
import { syntheticSnapshot } from "../src/lib/mesh/sample";

const params = new URLSearchParams(location.search);
const NODES = Number(params.get("nodes") ?? 500);
const FRAMES = Number(params.get("frames") ?? 240);
/** `?texture=1` tries Cytoscape's textureOnViewport (a bitmap while panning). */
const TEXTURE = params.get("texture") === "1";
/** `?hide=1` hides edges and labels while the view moves (Cytoscape's viewport options). */
const HIDE = params.get("hide") === "1";
/** `?webgl=1` tries Cytoscape's WebGL renderer (experimental since 3.31). */
const WEBGL = params.get("webgl") === "1";

const nextFrame = () => new Promise<number>((r) => requestAnimationFrame(r));

function stats(deltas: number[]) {
  const s = [...deltas].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  const mean = s.reduce((a, b) => a + b, 0) / s.length;
  return {
    frames: s.length,
    meanMs: +mean.toFixed(2),
    p50Ms: +q(0.5).toFixed(2),
    p95Ms: +q(0.95).toFixed(2),
    p99Ms: +q(0.99).toFixed(2),
    maxMs: +s[s.length - 1].toFixed(2),
    fps: +(1000 / mean).toFixed(1),
    over20ms: s.filter((d) => d > 20).length,
  };
}

async function panFrames(cy: cytoscape.Core, frames: number, step: number) {
  const deltas: number[] = [];
  let last = await nextFrame();
  for (let i = 0; i < frames; i++) {
    // Back and forth, so the graph stays in view.
    const dir = Math.floor(i / 60) % 2 === 0 ? 1 : -1;
    cy.panBy({ x: dir * step, y: dir * step * 0.3 });
    const now = await nextFrame();
    deltas.push(now - last);
    last = now;
  }
  return stats(deltas);
}

async function run() {
  const snapshot = syntheticSnapshot(NODES);
  const graph = new MeshGraph();
  const t0 = performance.now();
  const patch = graph.applySnapshot(snapshot);
  const layoutMs = performance.now() - t0;

  const t1 = performance.now();
  const cy = cytoscape({
    container: document.getElementById("graph"),
    style: graphStyle(LIGHT),
    minZoom: 0.08,
    maxZoom: 3,
    boxSelectionEnabled: false,
    autounselectify: true,
    textureOnViewport: TEXTURE,
    hideEdgesOnViewport: HIDE,
    hideLabelsOnViewport: HIDE,
    ...(WEBGL ? { renderer: { name: "canvas", webgl: true } as cytoscape.RendererOptions } : {}),
    layout: { name: "preset" },
  });
  cy.add(
    patch.addedNodes.map((n) => {
      const s = nodeSize(n);
      const parent = graph.parentOf(n.id);
      const p = patch.positions.get(n.id);
      return {
        group: "nodes" as const,
        data: { id: n.id, kind: n.kind, health: n.health, sidecar: n.sidecar ?? "", text: nodeText(n), w: s.w, h: s.h, ...(parent ? { parent } : {}) },
        ...(p ? { position: p } : {}),
      };
    }),
  );
  cy.add(patch.addedEdges.map((e) => ({ group: "edges" as const, data: { id: e.id, source: e.source, target: e.target, kind: e.kind, text: edgeText(e) } })));
  cy.fit(undefined, 30);
  const buildMs = performance.now() - t1;
  await nextFrame();
  await nextFrame();
  const firstDrawMs = performance.now() - t1;

  // A diff like a weight change, applied in place.
  const route = [...graph.edges.values()].find((e) => e.kind === "route")!;
  const t2 = performance.now();
  const dpatch = graph.applyDiff({ addedNodes: [], changedNodes: [], removedNodes: [], addedEdges: [], changedEdges: [{ ...route, route: route.route && { ...route.route, weight: 55 } }], removedEdges: [] });
  for (const e of dpatch.changedEdges) cy.getElementById(e.id).data("text", edgeText(e));
  await nextFrame();
  const diffMs = performance.now() - t2;

  const panAtFit = await panFrames(cy, FRAMES, 6);
  cy.zoom({ level: 1, renderedPosition: { x: cy.width() / 2, y: cy.height() / 2 } });
  const panAtZoom1 = await panFrames(cy, FRAMES, 12);

  const result = {
    nodes: snapshot.nodes.length,
    textureOnViewport: TEXTURE,
    hideOnViewport: HIDE,
    webgl: WEBGL,
    edges: snapshot.edges.length,
    viewport: `${cy.width()}x${cy.height()}`,
    devicePixelRatio: devicePixelRatio,
    userAgent: navigator.userAgent,
    layoutMs: +layoutMs.toFixed(1),
    buildMs: +buildMs.toFixed(1),
    firstDrawMs: +firstDrawMs.toFixed(1),
    diffToFrameMs: +diffMs.toFixed(1),
    panAtFit,
    panAtZoom1,
  };
  (window as unknown as { __graphBench: unknown }).__graphBench = result;
  document.getElementById("result")!.textContent = JSON.stringify(result, null, 1);
  console.log("GRAPH-BENCH " + JSON.stringify(result));
  document.title = "graph-bench: done";
}

run().catch((e: unknown) => {
  console.log("GRAPH-BENCH-ERROR " + String(e));
  document.title = "graph-bench: failed";
});
