// What the graph really draws, read back from Cytoscape in the page: every node label's box
// on screen and its font size in pixels. The end-to-end test calls this in the real window
// (through the graph element's `meshLabels`) to check that labels are large enough and that
// none runs into another, as the layout tests promise.
import type { Core, NodeSingular } from "cytoscape";

export interface RenderedLabel {
  id: string;
  /** The label's box in pixels, relative to the graph's frame. */
  x0: number;
  y0: number;
  x1: number;
  y1: number;
  /** The label's font size on screen, in pixels. */
  px: number;
}

export interface RenderedGraph {
  labels: RenderedLabel[];
  /** Node outlines in pixels (groups around their members), for label-over-box checks. */
  boxes: { id: string; parent: string | null; x0: number; y0: number; x1: number; y1: number }[];
  frame: { w: number; h: number };
  zoom: number;
}

export function renderedGraph(cy: Core): RenderedGraph {
  const zoom = cy.zoom();
  const labels: RenderedLabel[] = [];
  const boxes: RenderedGraph["boxes"] = [];
  cy.nodes().forEach((n: NodeSingular) => {
    const text = String(n.data("text") ?? "");
    if (text) {
      const bb = n.renderedBoundingBox({ includeNodes: false, includeEdges: false, includeLabels: true, includeOverlays: false });
      labels.push({ id: n.id(), x0: bb.x1, y0: bb.y1, x1: bb.x2, y1: bb.y2, px: zoom * parseFloat(String(n.style("font-size"))) });
    }
    const body = n.renderedBoundingBox({ includeNodes: true, includeEdges: false, includeLabels: false, includeOverlays: false });
    boxes.push({ id: n.id(), parent: n.parent().nonempty() ? n.parent().first().id() : null, x0: body.x1, y0: body.y1, x1: body.x2, y1: body.y2 });
  });
  return { labels, boxes, frame: { w: cy.width(), h: cy.height() }, zoom };
}

/** The element the graph draws into, with the measuring hook the end-to-end test calls. */
export type MeasuredElement = HTMLElement & { meshLabels?: () => RenderedGraph };
