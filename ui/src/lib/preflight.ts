// Wording and small transformations for the preflight report; no DOM, no backend.
import type { CheckStatus } from "./generated/CheckStatus";
import type { PreflightReport } from "./generated/PreflightReport";

export const STATUS_WORD: Record<CheckStatus, string> = {
  pass: "Pass",
  warn: "Warning",
  fail: "Fail",
};

export const OVERALL_HEADLINE: Record<CheckStatus, string> = {
  pass: "Ready to set up",
  warn: "Ready, with warnings",
  fail: "Fix the failed checks first",
};

export interface ReportSummary {
  status: CheckStatus;
  headline: string;
  /** "5 passed, 1 warning, 1 failed · checked in 1.2 s" */
  detail: string;
}

export function summarize(report: PreflightReport): ReportSummary {
  const count = (s: CheckStatus) => report.checks.filter((c) => c.status === s).length;
  const parts = [`${count("pass")} passed`];
  const warns = count("warn");
  const fails = count("fail");
  if (warns > 0) parts.push(`${warns} ${warns === 1 ? "warning" : "warnings"}`);
  if (fails > 0) parts.push(`${fails} failed`);
  return {
    status: report.overall,
    headline: OVERALL_HEADLINE[report.overall],
    detail: `${parts.join(", ")} · checked in ${formatElapsed(report.elapsedMs)}`,
  };
}

/** "340 ms", "1.2 s", "12 s". */
export function formatElapsed(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  return s < 10 ? `${s.toFixed(1)} s` : `${Math.round(s)} s`;
}

export type TextPart = { kind: "text"; text: string } | { kind: "code"; text: string };

/**
 * Splits "Run `sudo systemctl start docker`, then retry." into text and code parts so
 * commands can be shown as copyable code. A lone backtick stays plain text.
 */
export function splitCommands(sentence: string): TextPart[] {
  const parts: TextPart[] = [];
  const pattern = /`([^`]+)`/g;
  let last = 0;
  for (const m of sentence.matchAll(pattern)) {
    const at = m.index ?? 0;
    if (at > last) parts.push({ kind: "text", text: sentence.slice(last, at) });
    parts.push({ kind: "code", text: m[1] });
    last = at + m[0].length;
  }
  if (last < sentence.length) parts.push({ kind: "text", text: sentence.slice(last) });
  return parts;
}
