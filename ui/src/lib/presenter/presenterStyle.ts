// How the graph looks on a projector: the Okabe-Ito hues (told apart with every common
// colour-vision deficiency) as fills, black text and outlines on them (every fill at least
// 4.5:1 against the text, tested), thicker lines, and the lesson's spotlight. Applied on top
// of graphStyle, which keeps shapes, sizes and the health and sidecar marks.
import type { StylesheetJson } from "cytoscape";

import { graphStyle, type Palette } from "../mesh/graphStyle";

/** Okabe & Ito's colour-blind-safe set. */
export const OKABE_ITO = {
  orange: "#E69F00",
  skyBlue: "#56B4E9",
  bluishGreen: "#009E73",
  yellow: "#F0E442",
  blue: "#0072B2",
  vermillion: "#D55E00",
  reddishPurple: "#CC79A7",
  black: "#000000",
} as const;

export const PRESENTER: Palette = {
  text: "#000000",
  textOnDark: "#ffffff",
  bg: "#ffffff",
  edge: "#000000",
  edgeSoft: "#3b3b3b",
  labelBg: "#ffffff",
  nsBorder: "#000000",
  nsBg: "#f3f3f3",
  wlBorder: "#000000",
  wlBg: "#ffffff",
  ok: "#000000",
  okBorder: "#000000",
  pendingBg: "#d9d9d9",
  pending: OKABE_ITO.blue,
  warnBg: OKABE_ITO.yellow,
  warn: "#000000",
  errorBg: OKABE_ITO.vermillion,
  error: "#000000",
  focus: OKABE_ITO.blue,
  match: OKABE_ITO.yellow,
  traffic: OKABE_ITO.blue,
  failing: OKABE_ITO.vermillion,
  kind: {
    ingress: OKABE_ITO.skyBlue,
    gateway: OKABE_ITO.yellow,
    vs: OKABE_ITO.reddishPurple,
    service: OKABE_ITO.bluishGreen,
    subset: OKABE_ITO.orange,
    pod: "#ffffff",
  },
};

/** The fills text is drawn on in presenter mode, each with the text colour used on it. */
export function presenterTextPairs(p: Palette = PRESENTER): { name: string; fill: string; text: string }[] {
  return [
    ...Object.entries(p.kind).map(([name, fill]) => ({ name, fill, text: p.text })),
    { name: "namespace", fill: p.nsBg, text: p.text },
    { name: "workload", fill: p.wlBg, text: p.text },
    { name: "pending", fill: p.pendingBg, text: p.text },
    { name: "warning", fill: p.warnBg, text: p.text },
    { name: "error", fill: p.errorBg, text: p.text },
    { name: "edge label", fill: p.edge, text: p.textOnDark },
  ];
}

function luminance(hex: string): number {
  const v = hex.replace("#", "");
  const [r, g, b] = [0, 2, 4].map((i) => parseInt(v.slice(i, i + 2), 16) / 255);
  const lin = (c: number) => (c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4);
  return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
}

/** WCAG contrast ratio of two #rrggbb colours (1 to 21). */
export function contrast(a: string, b: string): number {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return (hi + 0.05) / (lo + 0.05);
}

/** Dims what the step does not talk about (added on top of any stylesheet). */
export const SPOTLIGHT_STYLE: StylesheetJson = [
  { selector: ".dim", style: { opacity: 0.22 } },
  { selector: "node.spot", style: { "border-width": 6 } },
];

/** The whole presenter stylesheet. */
export function presenterStyle(): StylesheetJson {
  return [
    ...graphStyle(PRESENTER),
    // Namespace titles in full black, not the soft grey of the normal style.
    { selector: 'node[kind = "namespace"]', style: { color: PRESENTER.text, "border-width": 3 } },
    { selector: "node", style: { "min-zoomed-font-size": 0 } },
    { selector: "edge", style: { width: 6, "min-zoomed-font-size": 0 } },
    { selector: 'edge[kind = "route"]', style: { width: 8 } },
    ...SPOTLIGHT_STYLE,
  ];
}
