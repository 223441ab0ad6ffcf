// The presenter's screen: the column titles on top, the graph, and the step's caption at the
// bottom, nothing else. Fixed proportions (the CSS uses these numbers), so the layout tests
// know the frame the graph is fitted into at 1280x800 or 1920x1080.

/** Height of the column titles' bar in presenter mode, in pixels. */
export const PRESENTER_TITLES_PX = 52;
/** Font size of the column titles in presenter mode. */
export const PRESENTER_TITLE_FONT_PX = 19;
/** Share of the window's height the caption takes. */
export const CAPTION_SHARE = 0.2;

export function captionPx(viewportHeight: number): number {
  return Math.round(viewportHeight * CAPTION_SHARE);
}

/** The graph's frame in presenter mode for a window of `w` x `h` pixels. */
export function presenterFrame(viewport: { w: number; h: number }): { w: number; h: number } {
  return { w: viewport.w, h: viewport.h - PRESENTER_TITLES_PX - captionPx(viewport.h) };
}
