import { describe, expect, it } from "vitest";

import { teachingSnapshot } from "./sample";
import { nearestInDirection, searchNodes } from "./search";

const nodes = teachingSnapshot().nodes;

describe("searchNodes", () => {
  it("finds nothing for an empty query", () => {
    expect(searchNodes(nodes, "  ")).toEqual([]);
  });

  it("matches names in any case and puts the exact name first", () => {
    const ids = searchNodes(nodes, "Reviews").map((n) => n.id);
    expect(ids[0]).toBe("vs/default/reviews");
    expect(ids).toContain("svc/default/reviews");
    expect(ids).toContain("subset/default/reviews/v2");
    expect(ids).toContain("wl/default/reviews-v3");
    expect(ids).not.toContain("svc/default/details");
  });

  it("needs every word to match and knows kinds by name", () => {
    expect(searchNodes(nodes, "reviews v2").map((n) => n.id)).toEqual([
      "subset/default/reviews/v2",
      "wl/default/reviews-v2",
      "pod/default/reviews-v2-fffdf465-t9dfs",
    ]);
    expect(searchNodes(nodes, "virtualservice").map((n) => n.id)).toEqual(["vs/default/bookinfo", "vs/default/reviews"]);
  });
});

describe("nearestInDirection", () => {
  const pts = [
    { id: "a", at: { x: 0, y: 0 } },
    { id: "right", at: { x: 100, y: 10 } },
    { id: "far-right", at: { x: 300, y: 0 } },
    { id: "diag", at: { x: 60, y: 90 } },
    { id: "down", at: { x: 0, y: 120 } },
  ];
  it("prefers what is straight ahead", () => {
    expect(nearestInDirection({ x: 0, y: 0 }, pts, "right", "a")).toBe("right");
    expect(nearestInDirection({ x: 0, y: 0 }, pts, "down", "a")).toBe("down");
    expect(nearestInDirection({ x: 0, y: 0 }, pts.filter((p) => p.id !== "down"), "down", "a")).toBe("diag");
    expect(nearestInDirection({ x: 0, y: 0 }, pts, "left", "a")).toBeNull();
    expect(nearestInDirection({ x: 0, y: 0 }, pts, "up", "a")).toBeNull();
  });
});
