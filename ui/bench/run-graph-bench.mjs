// `npm run bench:graph`: serves the benchmark page with Vite and opens it in headless
// Chromium (CHROMIUM=/path to choose the browser), then prints the figures as JSON.
import { spawn } from "node:child_process";
import { createServer } from "vite";

const port = Number(process.env.BENCH_PORT ?? 1431);
const browser = process.env.CHROMIUM ?? "chromium";
const query = process.argv[2] ?? "";

const server = await createServer({ server: { port, strictPort: true }, logLevel: "error" });
await server.listen();
const url = `http://localhost:${port}/bench/graph-500.html${query}`;
const chrome = spawn(
  browser,
  [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1920,1080",
    "--enable-logging=stderr",
    "--v=0",
    "--remote-debugging-port=0",
    url,
  ],
  { stdio: ["ignore", "ignore", "pipe"] },
);

let done = false;
const finish = async (code) => {
  if (done) return;
  done = true;
  chrome.kill("SIGTERM");
  await server.close();
  process.exit(code);
};
const timer = setTimeout(() => {
  console.error("graph benchmark: no result within 120 s");
  void finish(1);
}, 120_000);
let buf = "";
chrome.stderr.on("data", (chunk) => {
  buf += chunk.toString();
  const m = /GRAPH-BENCH(-ERROR)? (.*?)", source/.exec(buf);
  if (!m) return;
  clearTimeout(timer);
  if (m[1]) {
    console.error(`graph benchmark failed: ${m[2]}`);
    void finish(1);
  } else {
    console.log(JSON.stringify(JSON.parse(m[2].replace(/\\"/g, '"')), null, 2));
    void finish(0);
  }
});
chrome.on("exit", () => {
  if (!done) {
    console.error("graph benchmark: the browser exited first");
    void finish(1);
  }
});
