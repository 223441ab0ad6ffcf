// Keys in presenter mode. A presentation clicker sends PageDown / PageUp (some send the
// arrow keys), F5 starts and ends a slideshow in every presentation program, Escape leaves.

export type PresenterCommand = "toggle" | "exit" | "next" | "previous";

export function presenterKey(
  e: { key: string; altKey: boolean; ctrlKey: boolean; metaKey: boolean; target?: EventTarget | null },
  presenting: boolean,
): PresenterCommand | null {
  if (e.altKey || e.ctrlKey || e.metaKey) return null;
  if (e.key === "F5") return "toggle";
  if (!presenting) return null;
  // Typing in a field (a search box) keeps its keys.
  const t = e.target as { tagName?: string; isContentEditable?: boolean } | null | undefined;
  if (t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT" || t.isContentEditable)) {
    return e.key === "Escape" ? "exit" : null;
  }
  switch (e.key) {
    case "Escape":
      return "exit";
    case "PageDown":
    case "ArrowRight":
      return "next";
    case "PageUp":
    case "ArrowLeft":
      return "previous";
    default:
      return null;
  }
}
