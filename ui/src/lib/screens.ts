export type ScreenId = "setup" | "mesh" | "traffic" | "dashboards" | "lessons";

export interface ScreenEntry {
  id: ScreenId;
  label: string;
  /** The digit of its Alt/Ctrl shortcut. */
  key: string;
}

export const SCREENS: readonly ScreenEntry[] = [
  { id: "setup", label: "Setup", key: "1" },
  { id: "mesh", label: "Mesh", key: "2" },
  { id: "traffic", label: "Traffic", key: "3" },
  { id: "dashboards", label: "Dashboards", key: "4" },
  { id: "lessons", label: "Lessons", key: "5" },
];

/** The screen an Alt+digit or Ctrl+digit press asks for, if any. */
export function screenForShortcut(e: {
  altKey: boolean;
  ctrlKey: boolean;
  shiftKey: boolean;
  metaKey: boolean;
  code: string;
}): ScreenId | null {
  if (e.shiftKey || e.metaKey || e.altKey === e.ctrlKey) return null;
  const digit = /^(?:Digit|Numpad)([1-9])$/.exec(e.code)?.[1];
  return SCREENS.find((s) => s.key === digit)?.id ?? null;
}
