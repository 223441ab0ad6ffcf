import { afterEach, describe, expect, it, vi } from "vitest";

import { fakeBackend } from "../../test/fakeBackend";
import { MeshWatch } from "./meshWatch.svelte";
import { sampleOverlay } from "./trafficSample";

function motion(reduce: boolean) {
  vi.stubGlobal("matchMedia", (q: string) => ({ matches: reduce && q.includes("prefers-reduced-motion"), media: q, addEventListener() {}, removeEventListener() {} }));
}

afterEach(() => vi.unstubAllGlobals());

describe("MeshWatch traffic", () => {
  it("moving dots start off when the system asks for reduced motion, on otherwise", () => {
    motion(true);
    expect(new MeshWatch(fakeBackend()).dots).toBe(false);
    motion(false);
    expect(new MeshWatch(fakeBackend()).dots).toBe(true);
  });

  it("keeps traffic events, tells its listeners, and forgets them for another cluster", () => {
    const backend = fakeBackend();
    const mesh = new MeshWatch(backend);
    mesh.start();
    let told = 0;
    mesh.subscribeTraffic(() => told++);
    backend.emitMesh({ type: "traffic", traffic: { state: "live", overlay: sampleOverlay(1000) } });
    expect(told).toBe(1);
    expect(mesh.traffic.remembered(1000).length).toBe(8);
    mesh.restart();
    expect(mesh.traffic.remembered(1000)).toEqual([]);
  });
});

describe("MeshWatch when the session ends the watch", () => {
  it("watches again instead of showing the gone cluster as live", async () => {
    const backend = fakeBackend();
    const mesh = new MeshWatch(backend);
    mesh.start();
    backend.emitMesh({ type: "snapshot", snapshot: { nodes: [], edges: [], validations: [] } as never });
    expect(mesh.phase).toBe("live");
    backend.emitMesh({ type: "ended" });
    expect(mesh.phase).toBe("connecting");
    expect(backend.watchMesh).toHaveBeenCalledTimes(2);
  });
});
