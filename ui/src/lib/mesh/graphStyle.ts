// How the graph looks. Shape tells the kind, fill and a text mark tell health, border style
// tells the sidecar, so a projector with washed-out colours (or a colour-blind reader) still
// gets it all. Sizes are in graph units; at Bookinfo's fit they stay large on screen.
import type { EdgeSingular, StylesheetJson } from "cytoscape";

import { EDGE_FONT, FONT_FAMILY, FONT_WEIGHT, GROUP_PAD, NODE_FONT, NS_FONT, NS_PAD, POD_FONT, textWidth } from "./layout";

export interface Palette {
  text: string;
  textOnDark: string;
  bg: string;
  edge: string;
  edgeSoft: string;
  labelBg: string;
  nsBorder: string;
  nsBg: string;
  wlBorder: string;
  wlBg: string;
  ok: string;
  okBorder: string;
  pendingBg: string;
  pending: string;
  warnBg: string;
  warn: string;
  errorBg: string;
  error: string;
  focus: string;
  match: string;
  /** Observed traffic: its links, and links whose requests fail. */
  traffic: string;
  failing: string;
  kind: Record<"ingress" | "gateway" | "vs" | "service" | "subset" | "pod", string>;
}

export const LIGHT: Palette = {
  text: "#141a24",
  textOnDark: "#ffffff",
  bg: "#ffffff",
  edge: "#3d4a5c",
  edgeSoft: "#7b8798",
  labelBg: "#ffffff",
  nsBorder: "#6b7789",
  nsBg: "#f4f6f9",
  wlBorder: "#8793a5",
  wlBg: "#ffffff",
  ok: "#17693a",
  okBorder: "#2b3546",
  pendingBg: "#e8ecf2",
  pending: "#1a56b8",
  warnBg: "#ffe8a8",
  warn: "#8a5300",
  errorBg: "#fdd9d5",
  error: "#a51d16",
  focus: "#0b57d0",
  match: "#ffd43b",
  traffic: "#0b5cad",
  failing: "#b3261e",
  kind: {
    ingress: "#d3e3fd",
    gateway: "#d6ecf0",
    vs: "#e6dcf7",
    service: "#dcefe0",
    subset: "#eef3d2",
    pod: "#ffffff",
  },
};

export const DARK: Palette = {
  text: "#eef2f7",
  textOnDark: "#0d1a2e",
  bg: "#1b2028",
  edge: "#c8d0db",
  edgeSoft: "#8a95a5",
  labelBg: "#1b2028",
  nsBorder: "#8a95a5",
  nsBg: "#20262f",
  wlBorder: "#6d7888",
  wlBg: "#1b2028",
  ok: "#86d59f",
  okBorder: "#c8d0db",
  pendingBg: "#2b3340",
  pending: "#8ab4f8",
  warnBg: "#4a3a12",
  warn: "#f5c862",
  errorBg: "#4c2220",
  error: "#ff9c92",
  focus: "#a8c7fa",
  match: "#b58b00",
  traffic: "#6cb4ff",
  failing: "#ff8a80",
  kind: {
    ingress: "#1f3150",
    gateway: "#173a40",
    vs: "#33284a",
    service: "#1c3a26",
    subset: "#333a1a",
    pod: "#252c36",
  },
};

export function graphStyle(c: Palette): StylesheetJson {
  return [
    {
      selector: "node",
      style: {
        label: "data(text)",
        "font-family": FONT_FAMILY,
        "font-size": NODE_FONT,
        "font-weight": FONT_WEIGHT,
        color: c.text,
        "text-wrap": "wrap",
        "text-valign": "center",
        "text-halign": "center",
        "line-height": 1.2,
        width: "data(w)",
        height: "data(h)",
        "background-color": c.kind.pod,
        "border-width": 3,
        "border-color": c.okBorder,
        "min-zoomed-font-size": 7,
      },
    },
    { selector: 'node[kind = "ingress-gateway"]', style: { shape: "round-hexagon", "background-color": c.kind.ingress } },
    { selector: 'node[kind = "gateway"]', style: { shape: "cut-rectangle", "background-color": c.kind.gateway } },
    { selector: 'node[kind = "virtual-service"]', style: { shape: "rhomboid" } },
    { selector: 'node[kind = "service"]', style: { shape: "round-rectangle", "background-color": c.kind.service } },
    { selector: 'node[kind = "subset"]', style: { shape: "barrel", "background-color": c.kind.subset } },
    { selector: 'node[kind = "pod"]', style: { shape: "ellipse", "background-color": c.kind.pod, "font-size": POD_FONT } },
    // Sidecar: a double ring when running, dashed when starting, dotted when missing.
    { selector: 'node[sidecar = "ready"]', style: { "border-style": "double", "border-width": 6 } },
    { selector: 'node[sidecar = "starting"]', style: { "border-style": "dashed", "border-width": 4 } },
    { selector: 'node[sidecar = "missing"], node[sidecar = "opted-out"], node[sidecar = "not-injected"]', style: { "border-style": "dotted", "border-width": 4 } },

    // Groups: namespaces (dashed, label on top) and workloads holding their pods.
    {
      selector: ":parent",
      style: {
        "text-valign": "top",
        "text-halign": "center",
        "text-margin-y": -4,
        padding: `${GROUP_PAD}px`,
        "compound-sizing-wrt-labels": "include",
        "background-opacity": 1,
      },
    },
    {
      selector: 'node[kind = "namespace"]',
      style: {
        shape: "round-rectangle",
        "background-color": c.nsBg,
        "border-style": "dashed",
        "border-width": 3,
        "border-color": c.nsBorder,
        "font-size": NS_FONT,
        color: c.nsBorder,
        "text-valign": "top",
        "text-halign": "center",
        "text-margin-y": -6,
        padding: `${NS_PAD}px`,
      },
    },
    {
      selector: 'node[kind = "workload"]:parent, node[kind = "ingress-gateway"]:parent',
      style: {
        shape: "round-rectangle",
        "background-color": c.wlBg,
        "border-color": c.wlBorder,
        "border-width": 3,
        "font-size": NODE_FONT,
        "text-valign": "top",
        "text-margin-y": -4,
        padding: `${GROUP_PAD}px`,
      },
    },
    { selector: 'node[kind = "ingress-gateway"]:parent', style: { "background-color": c.kind.ingress } },

    // Health: fill, border colour and a text mark (set in the label) together.
    { selector: 'node[health = "pending"]', style: { "background-color": c.pendingBg, "border-color": c.pending } },
    { selector: 'node[health = "warning"]', style: { "background-color": c.warnBg, "border-color": c.warn, "border-width": 5 } },
    { selector: 'node[health = "error"]', style: { "background-color": c.errorBg, "border-color": c.error, "border-width": 6 } },
    { selector: 'node[kind = "namespace"][health = "warning"], node[kind = "namespace"][health = "error"]', style: { "background-color": c.nsBg } },

    {
      selector: "edge",
      style: {
        width: 5,
        "line-color": c.edge,
        "target-arrow-color": c.edge,
        "target-arrow-shape": "triangle",
        "arrow-scale": 1.4,
        "curve-style": "bezier",
        // Near the arrow head, so the weights of a split never pile up at the VirtualService.
        "target-label": "data(text)",
        "target-text-offset": 46,
        "font-family": FONT_FAMILY,
        "font-size": EDGE_FONT,
        "font-weight": 800,
        // Weights are what a teacher points at: light text on the line's dark colour.
        color: c.textOnDark,
        "text-background-color": c.edge,
        "text-background-opacity": 1,
        "text-background-padding": "5px",
        "text-background-shape": "roundrectangle",
        "text-border-width": 0,
        "text-wrap": "wrap",
        "min-zoomed-font-size": 7,
      },
    },
    { selector: 'edge[text = ""]', style: { "text-border-width": 0, "text-background-opacity": 0 } },
    { selector: 'edge[kind = "routed-by"]', style: { "line-style": "dashed", "line-dash-pattern": [14, 8], width: 4.5, "line-color": c.edgeSoft, "target-arrow-color": c.edgeSoft } },
    { selector: 'edge[kind = "selects"]', style: { "line-style": "dotted", width: 4.5, "line-color": c.edgeSoft, "target-arrow-color": c.edgeSoft, "target-arrow-shape": "vee" } },
    { selector: 'edge[kind = "route"]', style: { width: 7 } },
    // A Service's own lines to its pods, while a VirtualService has taken it over.
    { selector: "edge.bypassed", style: { opacity: 0.3, width: 3, "z-index": 0 } },

    // A split's weight with the share seen answering, in its version's colour.
    // The edges turn square right after the VirtualService, so each label lies level with
    // its subset and the three of a split stack without touching.
    {
      selector: "edge.seen",
      style: {
        "curve-style": "taxi",
        "taxi-direction": "horizontal",
        "taxi-turn": 24,
        "taxi-turn-min-distance": 8,
        // Wider labels ("end-user=jason") sit further back, so they end before the subset.
        "target-text-offset": ((e: EdgeSingular) => seenLabelOffset(String(e.data("text") ?? ""))) as unknown as number,
        "text-background-color": "data(vfill)",
        color: "data(vtext)",
        "line-height": 1.1,
      },
    },

    // Observed traffic: thick curved links in their own colour, above the configuration.
    // They bow out of the way (control points set per link by the view); their rate labels,
    // dots and locks are drawn by the flow layer (flow.ts).
    {
      selector: "edge.traffic",
      style: {
        "curve-style": "unbundled-bezier",
        "control-point-distances": "data(bow)",
        "control-point-weights": 0.5,
        width: 6,
        "line-color": c.traffic,
        "target-arrow-color": c.traffic,
        "target-arrow-shape": "triangle",
        "arrow-scale": 1.3,
        "line-style": "solid",
        label: "",
        "target-label": "",
        opacity: "data(opacity)" as unknown as number,
        "z-index": 20,
        "z-compound-depth": "top",
      },
    },
    // Failing: red and dashed, so it reads without colour too.
    { selector: "edge.traffic.failing", style: { "line-color": c.failing, "target-arrow-color": c.failing, "line-style": "dashed", "line-dash-pattern": [16, 6] } },
    // Requests that reached no pod end at the Service.
    { selector: "edge.traffic.unanswered", style: { "target-arrow-shape": "tee" } },

    // Search and selection.
    { selector: ".faded", style: { opacity: 0.28 } },
    {
      selector: "node.match",
      style: { "underlay-color": c.match, "underlay-opacity": 0.9, "underlay-padding": 10, "underlay-shape": "round-rectangle" },
    },
    {
      selector: "node.cursor, edge.cursor",
      style: { "overlay-color": c.focus, "overlay-opacity": 0.14, "overlay-padding": 8 },
    },
    {
      selector: "node.selected",
      style: { "underlay-color": c.focus, "underlay-opacity": 0.55, "underlay-padding": 10, "underlay-shape": "round-rectangle" },
    },
    { selector: "edge.selected", style: { "line-color": c.focus, "target-arrow-color": c.focus, width: 7, "underlay-color": c.focus, "underlay-opacity": 0.25, "underlay-padding": 6 } },
  ];
}

/**
 * How far from the arrow head a split label's middle lies: its right end, background
 * included, 8 units clear of the head (the layout's column gap counts on this).
 */
export function seenLabelOffset(text: string): number {
  const widest = Math.max(0, ...text.split("\n").map((l) => textWidth(l, EDGE_FONT)));
  return Math.max(78, widest / 2 + 13);
}
