// The live mesh for the whole app: one watch on the backend, kept while the user switches
// screens, so coming back to Mesh redraws instantly and at the same places.
import { toIpcError, type Backend } from "../backend";
import type { GraphNode } from "../generated/GraphNode";
import type { IpcError } from "../generated/IpcError";
import type { MeshEvent } from "../generated/MeshEvent";
import type { WatchStatus } from "../generated/WatchStatus";
import { MeshGraph, type MeshPatch } from "./graphState";
import { TrafficMemory } from "./traffic";

export type MeshPhase = "idle" | "connecting" | "live" | "error";

export class MeshWatch {
  phase: MeshPhase = $state("idle");
  error: IpcError | null = $state.raw(null);
  /** Latest connection status; `connected: false` while the backend reconnects. */
  status: WatchStatus | null = $state.raw(null);
  /** Bumped on every change to `graph`, so views can derive from it. */
  version = $state(0);
  readonly graph = new MeshGraph();
  /** Observed traffic, remembered so quiet links fade out. */
  traffic = new TrafficMemory();
  /** Bumped on every traffic event, so views can derive from `traffic`. */
  trafficVersion = $state(0);
  /**
   * Moving dots on busy links: the user's choice from the Mesh toolbar, off from the start
   * when the system asks for reduced motion.
   */
  dots = $state(!prefersReducedMotion());
  private readonly trafficListeners = new Set<() => void>();
  private readonly listeners = new Set<(patch: MeshPatch) => void>();
  /** Ignores events from a watch that was replaced by "Try again". */
  private generation = 0;

  constructor(private readonly backend: Backend) {}

  /** Starts watching unless already watching. */
  start(): void {
    if (this.phase === "connecting" || this.phase === "live") return;
    const gen = ++this.generation;
    this.phase = "connecting";
    this.error = null;
    this.backend
      .watchMesh((event) => {
        if (gen === this.generation) this.onEvent(event);
      })
      .catch((e: unknown) => {
        if (gen !== this.generation) return;
        this.error = toIpcError(e);
        this.phase = "error";
      });
  }

  /** Drops the current watch and watches again: the app now talks to another cluster. */
  restart(): void {
    this.generation++;
    this.phase = "idle";
    this.status = null;
    this.traffic = new TrafficMemory();
    this.trafficVersion++;
    this.start();
  }

  /** Called by the graph view; returns the function that stops listening. */
  subscribe(listener: (patch: MeshPatch) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Tidies the drawing (every view animates to the new places). */
  relayout(): void {
    if (this.graph.nodes.size === 0) return;
    const patch = this.graph.relayout();
    this.version++;
    for (const l of this.listeners) l(patch);
  }

  /** Called by the graph view on every traffic event; returns the function that stops listening. */
  subscribeTraffic(listener: () => void): () => void {
    this.trafficListeners.add(listener);
    return () => this.trafficListeners.delete(listener);
  }

  /** Every node, in a fresh array (read `version` first to react to changes). */
  nodeList(): GraphNode[] {
    return [...this.graph.nodes.values()];
  }

  private onEvent(event: MeshEvent): void {
    if (event.type === "ended") {
      // The session stopped this watch (the simulated playground stopped, another cluster
      // chosen): watch again, which follows the cluster the app talks to now, or says there
      // is none, instead of showing a cluster that is gone as live.
      this.restart();
      return;
    }
    if (event.type === "status") {
      this.status = event.status;
      return;
    }
    if (event.type === "traffic") {
      this.traffic.apply(event.traffic, Date.now());
      this.trafficVersion++;
      for (const l of this.trafficListeners) l();
      return;
    }
    const patch = this.graph.apply(event);
    if (event.type === "snapshot") {
      this.phase = "live";
      // A snapshot starts a stream, so whatever was failing before is behind us.
      if (this.status && !this.status.connected) this.status = { connected: true, failing: [], error: null };
    }
    this.version++;
    for (const l of this.listeners) l(patch);
  }
}

function prefersReducedMotion(): boolean {
  return typeof matchMedia === "function" && matchMedia("(prefers-reduced-motion: reduce)").matches;
}
