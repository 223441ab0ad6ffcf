// Finding things on the graph by name, and moving the keyboard cursor between them.
import type { GraphNode } from "../generated/GraphNode";
import { NODE_KIND_WORD, nodeLabel } from "./explain";
import { KIND_COLUMN, type Point } from "./layout";

/**
 * Nodes whose name, label or kind contains every word of the query (any case), in the
 * request's direction (gateway first, pods last) and then by name. Empty query: none.
 */
export function searchNodes(nodes: Iterable<GraphNode>, query: string): GraphNode[] {
  const words = query.trim().toLowerCase().split(/\s+/).filter(Boolean);
  if (words.length === 0) return [];
  const out: GraphNode[] = [];
  for (const n of nodes) {
    const hay = `${n.name} ${nodeLabel(n)} ${n.namespace} ${NODE_KIND_WORD[n.kind]}`.toLowerCase();
    if (words.every((w) => hay.includes(w))) out.push(n);
  }
  return out.sort(
    (a, b) =>
      // Exact name hits first, so Enter on "reviews" goes to the Service, not a pod.
      Number(b.name.toLowerCase() === query.trim().toLowerCase()) - Number(a.name.toLowerCase() === query.trim().toLowerCase()) ||
      KIND_COLUMN[a.kind] - KIND_COLUMN[b.kind] ||
      nodeLabel(a).localeCompare(nodeLabel(b)) ||
      a.id.localeCompare(b.id),
  );
}

export type Direction = "left" | "right" | "up" | "down";

const DIR: Record<Direction, Point> = {
  left: { x: -1, y: 0 },
  right: { x: 1, y: 0 },
  up: { x: 0, y: -1 },
  down: { x: 0, y: 1 },
};

/**
 * The nearest candidate in a direction from `from`: ahead of it by at least a little,
 * preferring what lies straight ahead over what is off to the side. Null at the edge.
 */
export function nearestInDirection(
  from: Point,
  candidates: readonly { id: string; at: Point }[],
  dir: Direction,
  self?: string,
): string | null {
  const d = DIR[dir];
  let best: { id: string; score: number } | null = null;
  for (const c of candidates) {
    if (c.id === self) continue;
    const dx = c.at.x - from.x;
    const dy = c.at.y - from.y;
    const ahead = dx * d.x + dy * d.y;
    if (ahead <= 1) continue;
    const side = Math.abs(dx * d.y - dy * d.x);
    const score = ahead + 2.5 * side;
    if (!best || score < best.score) best = { id: c.id, score };
  }
  return best?.id ?? null;
}
