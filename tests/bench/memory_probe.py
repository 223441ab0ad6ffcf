#!/usr/bin/env python3
"""Where the app's memory is: the PSS of the app and each WebKit process on the Setup screen
(or, with --mesh, on the Mesh screen with the simulated Bookinfo), broken down by mapping (the
app binary, libLLVM, anonymous memory ...), for trying one setting at a time.

Starts the app through tauri-driver (as startup.py does), waits for the Setup screen with its
checks (with --mesh: then starts the simulated playground and opens the Mesh screen, as
startup.py does, and waits for the graph), optionally runs a script in the page, waits 8 s and
prints the breakdown. Extra arguments NAME=VALUE go into the app's environment (WebKit's and
Mesa's variables are read from there by every process below the app):

  xvfb-run -a -s "-screen 0 1280x800x24" python3 tests/bench/memory_probe.py APP \\
      [--mesh] WEBKIT_DISABLE_DMABUF_RENDERER=1

Linux only (it reads /proc). Needs tauri-driver and WebKitWebDriver.
"""

import collections
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import startup  # noqa: E402  (the same session, readiness check and PSS sum)


def pss_by_mapping(pid):
    groups = collections.Counter()
    name = None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            parts = line.split()
            if parts and not parts[0].endswith(":"):
                name = parts[5] if len(parts) >= 6 else "[anon]"
            elif parts and parts[0] == "Pss:":
                groups[name] += int(parts[1])
    return groups


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    binary = os.path.abspath(sys.argv[1])
    mesh = "--mesh" in sys.argv[2:]
    extra = dict(kv.split("=", 1) for kv in sys.argv[2:] if kv != "--mesh")
    with tempfile.TemporaryDirectory() as home:
        s = startup.Session(binary, {"ISTIO_PLAYGROUND_HOME": home, **extra})
        try:
            ready = s.until(startup.SETUP_READY, "the Setup screen with its checks")
            print(f"Setup screen ready after {ready:.2f} s")
            if mesh:
                startup.open_mesh(s)
                print("Mesh screen with the simulated Bookinfo drawn")
            if os.environ.get("PROBE_JS"):
                print("script:", s.js(os.environ["PROBE_JS"]))
            time.sleep(8)
            root = startup.app_pid(binary)
            total, parts = startup.tree_pss_mb(root)
            print(f"total PSS {total:.0f} MB: {parts}")
            kids = startup.children_map()
            todo = [root]
            while todo:
                pid = todo.pop()
                todo.extend(kids.get(pid, []))
                try:
                    with open(f"/proc/{pid}/comm") as f:
                        comm = f.read().strip()
                    groups = pss_by_mapping(pid)
                except OSError:
                    continue
                print(f"{comm} ({pid}): {sum(groups.values()) / 1024:.1f} MB")
                for mapping, kb in groups.most_common(8):
                    print(f"  {kb / 1024:7.1f} MB  {mapping}")
        finally:
            s.close()


if __name__ == "__main__":
    main()
