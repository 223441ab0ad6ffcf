import { mount } from "svelte";

import "./app.css";
import App from "./App.svelte";
import { insideTauri, tauriBackend, type Backend } from "./lib/backend";
import { SCREENS, type ScreenId } from "./lib/screens";

async function start(): Promise<void> {
  let backend: Backend = tauriBackend;
  let preview = false;
  let initialScreen: ScreenId = "setup";
  // In a plain browser during development there is no Rust side: show labelled sample data.
  // `import.meta.env.DEV` is false in builds, so the sample module is not even bundled.
  if (import.meta.env.DEV && !insideTauri()) {
    const { previewBackend } = await import("./lib/previewBackend");
    backend = previewBackend(new URLSearchParams(location.search).get("sample"));
    preview = true;
    // `?screen=mesh` opens another screen first, for screenshots of the preview.
    const asked = new URLSearchParams(location.search).get("screen");
    initialScreen = SCREENS.find((s) => s.id === asked)?.id ?? "setup";
  }
  const target = document.getElementById("app");
  if (!target) throw new Error("index.html has no #app element");
  mount(App, { target, props: { backend, preview, initialScreen } });
}

void start();
