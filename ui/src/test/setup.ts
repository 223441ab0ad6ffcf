// jsdom has no layout, so it has no ResizeObserver; the graph view only uses it to refit
// the drawing when its box changes size, which jsdom never does.
class NoResizeObserver {
  observe(): void {}
  unobserve(): void {}
  disconnect(): void {}
}

if (!("ResizeObserver" in globalThis)) {
  (globalThis as unknown as { ResizeObserver: typeof NoResizeObserver }).ResizeObserver = NoResizeObserver;
}
