#!/usr/bin/env python3
"""Release-build figures of the app next to an empty Tauri 2 app, in one run.

For each run, alternating which app goes first, it starts tauri-driver, asks for a WebDriver
session with the app (the clock starts at that request), polls the page until its first useful
content is there, waits 8 s and sums the PSS (/proc/<pid>/smaps_rollup) of the app and every
process below it (WebKit's web and network processes). For this app "useful" is the Setup
screen with all its preflight rows finished; then it starts the simulated playground, opens the
Mesh screen, waits for the Bookinfo graph and measures again after 8 s.

Run under Xvfb (`xvfb-run -a -s "-screen 0 1280x800x24" python3 tests/bench/startup.py
--app A --empty E`). Linux only (it reads /proc). Needs tauri-driver and WebKitWebDriver.
"""

import argparse
import contextlib
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(url, method="GET", body=None, timeout=60):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read() or b"null")


def children_map():
    kids = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        kids.setdefault(ppid, []).append(int(pid))
    return kids


def sharers(tree):
    """Processes outside `tree` that map WebKit too: they take a share of its pages' PSS, so
    a figure taken while one runs (a previous run's app still exiting) comes out low."""
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) in tree:
            continue
        try:
            with open(f"/proc/{pid}/maps") as f:
                if "libwebkit2gtk" not in f.read():
                    continue
            with open(f"/proc/{pid}/comm") as f:
                out.append(f"{pid} {f.read().strip()}")
        except OSError:
            pass
    return out


def wait_gone(binary, limit=15):
    """Waits until no process runs `binary` (the app exits after its window closes), so the
    next run starts alone; one still there after `limit` seconds is killed."""
    deadline = time.time() + limit
    while time.time() < deadline:
        try:
            app_pid(binary)
        except RuntimeError:
            return
        time.sleep(0.2)
    with contextlib.suppress(RuntimeError, OSError):
        os.kill(app_pid(binary), signal.SIGKILL)


def app_pid(binary):
    real = os.path.realpath(binary)
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                if os.readlink(f"/proc/{pid}/exe") == real:
                    return int(pid)
            except OSError:
                pass
    raise RuntimeError(f"{binary} is not running")


def tree_pss_mb(root):
    """The PSS of `root` and every process below it, in MB, and each one's share by name."""
    kids = children_map()
    todo, total, parts, seen = [root], 0, {}, set()
    while todo:
        pid = todo.pop()
        seen.add(pid)
        todo.extend(kids.get(pid, []))
        try:
            pss = 0
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        pss += int(line.split()[1])
            with open(f"/proc/{pid}/comm") as f:
                name = f.read().strip()
        except OSError:
            continue
        total += pss
        parts[name] = round(parts.get(name, 0) + pss / 1024)
    others = sharers(seen)
    if others:
        print(f"warning: {', '.join(others)} map WebKit too; this figure is low", file=sys.stderr, flush=True)
    return total / 1024, parts


class Session:
    def __init__(self, binary, env):
        self.binary = binary
        self.port, native = free_port(), free_port()
        self.driver = subprocess.Popen(
            ["tauri-driver", "--port", str(self.port), "--native-port", str(native)],
            env={**os.environ, **env},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.time() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.05)
        self.base = f"http://127.0.0.1:{self.port}"
        caps = {"capabilities": {"alwaysMatch": {"tauri:options": {"application": binary}}}}
        for attempt in range(3):
            # tauri-driver listens before WebKitWebDriver does; a first request can be dropped.
            self.started = time.monotonic()
            try:
                self.id = call(f"{self.base}/session", "POST", caps)["value"]["sessionId"]
                break
            except (ConnectionError, urllib.error.URLError, OSError):
                if attempt == 2:
                    raise
                time.sleep(0.5)

    def js(self, script):
        return call(f"{self.base}/session/{self.id}/execute/sync", "POST", {"script": script, "args": []})["value"]

    def until(self, script, what, limit=60):
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            try:
                if self.js(script):
                    return time.monotonic() - self.started
            except Exception:
                pass
            time.sleep(0.02)
        raise RuntimeError(f"timed out waiting for {what}")

    def close(self):
        try:
            call(f"{self.base}/session/{self.id}", "DELETE")
        except Exception:
            pass
        # SIGTERM: tauri-driver then stops WebKitWebDriver too (SIGKILL would orphan it).
        self.driver.send_signal(signal.SIGTERM)
        try:
            self.driver.wait(10)
        except subprocess.TimeoutExpired:
            self.driver.kill()
        wait_gone(self.binary)


SETUP_READY = """
const rows = document.querySelectorAll('[data-testid=preflight-row]');
return rows.length === 7 && [...rows].every(r => r.dataset.status && r.dataset.status !== 'running');
"""
# The graph is drawn on a canvas; its node list (kept for screen readers) names every node.
MESH_READY = """
const l = document.querySelector('[data-testid=mesh-node-list]');
const t = l ? l.textContent : '';
return t.includes('bookinfo-gateway') && (t.match(/Pod/g) || []).length >= 7;
"""


def click(s, testid):
    s.js(f"document.querySelector('[data-testid={testid}]').click(); return true;")


def open_mesh(s):
    """From the Setup screen: starts the simulated playground and waits for its Bookinfo graph."""
    click(s, "start-simulated")
    s.until("return !!document.querySelector('[data-testid=simulated-badge]')", "the simulated playground")
    click(s, "open-mesh")
    s.until(MESH_READY, "the Bookinfo graph")


def measure_app(binary):
    with tempfile.TemporaryDirectory() as home:
        s = Session(binary, {"ISTIO_PLAYGROUND_HOME": home})
        try:
            ready = s.until(SETUP_READY, "the Setup screen with its checks")
            time.sleep(8)
            setup_pss, setup_parts = tree_pss_mb(app_pid(binary))
            open_mesh(s)
            time.sleep(8)
            mesh_pss, names = tree_pss_mb(app_pid(binary))
            return {
                "ready_s": ready,
                "setup_pss_mb": setup_pss,
                "mesh_pss_mb": mesh_pss,
                "setup_parts": setup_parts,
                "processes": names,
            }
        finally:
            s.close()


def measure_empty(binary):
    s = Session(binary, {})
    try:
        ready = s.until("return document.body.innerText.includes('Hello')", "the empty page")
        time.sleep(8)
        pss, names = tree_pss_mb(app_pid(binary))
        return {"ready_s": ready, "pss_mb": pss, "processes": names}
    finally:
        s.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--app", required=True, help="absolute path of the release app")
    ap.add_argument("--empty", required=True, help="absolute path of the empty Tauri 2 app")
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    apps, empties = [], []
    for i in range(a.runs):
        order = [("app", measure_app, a.app), ("empty", measure_empty, a.empty)]
        if i % 2:
            order.reverse()
        for name, fn, binary in order:
            r = fn(binary)
            (apps if name == "app" else empties).append(r)
            print(f"run {i + 1} {name}: {json.dumps(r)}", flush=True)
    e_pss = statistics.median(r["pss_mb"] for r in empties)
    summary = {
        "empty_ready_s": [round(r["ready_s"], 2) for r in empties],
        "empty_pss_mb": [round(r["pss_mb"]) for r in empties],
        "app_setup_ready_s": [round(r["ready_s"], 2) for r in apps],
        "app_setup_pss_mb": [round(r["setup_pss_mb"]) for r in apps],
        "app_mesh_pss_mb": [round(r["mesh_pss_mb"]) for r in apps],
        "setup_pss_ratio": round(statistics.median(r["setup_pss_mb"] for r in apps) / e_pss, 2),
        "mesh_pss_ratio": round(statistics.median(r["mesh_pss_mb"] for r in apps) / e_pss, 2),
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
