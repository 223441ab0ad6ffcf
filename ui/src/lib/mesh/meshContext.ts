// The live mesh for components deep in the Mesh screen's side panel (traffic figures), so
// the panels between need not pass it along.
import { getContext, setContext } from "svelte";

import type { MeshWatch } from "./meshWatch.svelte";

const MESH = Symbol("mesh");

export function provideMeshWatch(mesh: MeshWatch): void {
  setContext(MESH, mesh);
}

/** Null outside the Mesh screen (e.g. a panel rendered on its own in a test). */
export function useMeshWatch(): MeshWatch | null {
  return getContext<MeshWatch | undefined>(MESH) ?? null;
}

export function meshContext(mesh: MeshWatch): Map<symbol, MeshWatch> {
  return new Map([[MESH, mesh]]);
}
