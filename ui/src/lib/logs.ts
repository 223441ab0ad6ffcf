// Log lines as the log panel shows and copies them; no DOM, no backend.
import type { LogLine } from "./generated/LogLine";

/** The panel keeps this many lines, like the backend's ring. */
export const MAX_LINES = 500;

export type Level = "ERROR" | "WARN" | "INFO" | "DEBUG" | "TRACE";

const LEVELS: readonly Level[] = ["ERROR", "WARN", "INFO", "DEBUG", "TRACE"];

export function normalizeLevel(level: string): Level {
  const up = level.trim().toUpperCase();
  return (LEVELS as readonly string[]).includes(up) ? (up as Level) : "INFO";
}

/** Local wall-clock time "14:03:07.250". */
export function formatTime(unixMs: number): string {
  const d = new Date(unixMs);
  const pad = (n: number, w = 2) => String(n).padStart(w, "0");
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

/** One line of plain text, as copied to the clipboard. */
export function formatLine(line: LogLine): string {
  return `${formatTime(line.unixMs)} ${normalizeLevel(line.level).padEnd(5)} ${line.target}: ${line.message}`;
}

export function formatLines(lines: readonly LogLine[]): string {
  return lines.map(formatLine).join("\n");
}

/** Appends and keeps only the newest `cap` lines. Returns a new array. */
export function appendCapped(
  lines: readonly LogLine[],
  added: readonly LogLine[],
  cap = MAX_LINES,
): LogLine[] {
  const all = lines.concat(added);
  return all.length > cap ? all.slice(all.length - cap) : all;
}

function sameLine(a: LogLine, b: LogLine): boolean {
  return a.unixMs === b.unixMs && a.level === b.level && a.target === b.target && a.message === b.message;
}

/**
 * The panel subscribes before it asks for the recent lines, so nothing is lost in between;
 * lines that arrived live and are also in `recent` are dropped here.
 */
export function mergeRecent(
  recent: readonly LogLine[],
  live: readonly LogLine[],
  cap = MAX_LINES,
): LogLine[] {
  const newest = recent.length > 0 ? recent[recent.length - 1].unixMs : -Infinity;
  const fresh = live.filter(
    (l) => l.unixMs > newest || !recent.some((r) => sameLine(r, l)),
  );
  return appendCapped(recent, fresh, cap);
}

/** "/a/b/file.log" into "/a/b/" and "file.log" (either separator, so Windows paths too). */
export function splitPath(path: string): { dir: string; base: string } {
  const cut = Math.max(path.lastIndexOf("/"), path.lastIndexOf("\\")) + 1;
  return { dir: path.slice(0, cut), base: path.slice(cut) };
}
