// Weights that always add up to 100: moving one version's control rebalances the others in
// proportion to what they had, so every state the editor shows is a valid plan.

export type Weights = Record<string, number>;

/** Sum of the weights of `versions` (missing ones count 0). */
export function total(weights: Weights, versions: readonly string[]): number {
  return versions.reduce((s, v) => s + (weights[v] ?? 0), 0);
}

/**
 * Sets `changed` to `value` (clamped to a whole 0..100) and spreads the rest over the other
 * versions in proportion to their current weights (evenly when they are all 0), with the
 * largest-remainder method so the result is whole numbers adding up to exactly 100.
 */
export function rebalance(weights: Weights, versions: readonly string[], changed: string, value: number): Weights {
  const v = Math.max(0, Math.min(100, Math.round(Number.isFinite(value) ? value : 0)));
  const others = versions.filter((x) => x !== changed);
  if (others.length === 0) return { [changed]: 100 };
  const rest = 100 - v;
  const current = others.map((o) => Math.max(0, weights[o] ?? 0));
  const base = current.reduce((a, b) => a + b, 0);
  const shares = base > 0 ? current.map((c) => (c / base) * rest) : others.map(() => rest / others.length);
  const floors = shares.map(Math.floor);
  let left = rest - floors.reduce((a, b) => a + b, 0);
  const order = shares
    .map((s, i) => ({ i, frac: s - Math.floor(s) }))
    .sort((a, b) => b.frac - a.frac || a.i - b.i);
  for (const { i } of order) {
    if (left <= 0) break;
    floors[i]++;
    left--;
  }
  const out: Weights = { [changed]: v };
  others.forEach((o, i) => (out[o] = floors[i]));
  return out;
}

/** Even weights over `versions` (what Kubernetes does without a VirtualService). */
export function even(versions: readonly string[]): Weights {
  const out: Weights = {};
  versions.forEach((v) => (out[v] = 0));
  if (versions.length === 0) return out;
  return percentages(Object.fromEntries(versions.map((v) => [v, 1])), versions);
}

/** "60/30/10" in version order. */
export function slashes(weights: Weights, versions: readonly string[]): string {
  return versions.map((v) => Math.round(weights[v] ?? 0)).join("/");
}

/** Counts per version as whole percentages of their sum (largest remainder, sums to 100). */
export function percentages(counts: Record<string, number>, versions: readonly string[]): Weights {
  const sum = versions.reduce((s, v) => s + (counts[v] ?? 0), 0);
  const out: Weights = {};
  if (sum === 0) {
    versions.forEach((v) => (out[v] = 0));
    return out;
  }
  const exact = versions.map((v) => ((counts[v] ?? 0) / sum) * 100);
  const floors = exact.map(Math.floor);
  let left = 100 - floors.reduce((a, b) => a + b, 0);
  const order = exact.map((e, i) => ({ i, frac: e - Math.floor(e) })).sort((a, b) => b.frac - a.frac || a.i - b.i);
  for (const { i } of order) {
    if (left <= 0) break;
    floors[i]++;
    left--;
  }
  versions.forEach((v, i) => (out[v] = floors[i]));
  return out;
}

/** Parses one typed weight; returns a message for anything but a whole number 0..100. */
export function parseWeight(text: string): { value: number } | { error: string } {
  const t = text.trim();
  if (t === "") return { error: "Type a number from 0 to 100." };
  if (!/^-?\d+(\.\d+)?$/.test(t)) return { error: `“${t}” is not a number.` };
  const n = Number(t);
  if (!Number.isInteger(n)) return { error: "Use whole numbers (no decimals)." };
  if (n < 0) return { error: "Weights cannot be negative." };
  if (n > 100) return { error: "A weight is a percentage: at most 100." };
  return { value: n };
}
