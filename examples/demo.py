"""The `make demo` tour: tfo's main job, drift detection as a daemon, end to end.

1. validate and graph the examples/multi-region stack, and apply it;
2. start `tfo daemon` on the embedded Temporal server with a 10-second drift check,
   Prometheus metrics and apprise alerts to a local receiver;
3. simulate drift with `terraform state rm` and watch the metric and the alert;
4. fix it with `tfo apply` and watch it resolve.

Set DEMO_KEEP=1 to leave the daemon running at the end (Ctrl-C stops it).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STACK = ROOT / "examples" / "multi-region"
WORK = ROOT / ".tfo-dev" / "demo"
TFO = str(Path(sys.executable).parent / "tfo")
ALERTS: list[dict[str, str]] = []


def step(text: str) -> None:
    print(f"\n\033[1m== {text}\033[0m", flush=True)


def tfo(*args: str, ok: tuple[int, ...] = (0,)) -> None:
    print(f"$ tfo {' '.join(args)}", flush=True)
    code = subprocess.run([TFO, *args]).returncode
    if code not in ok:
        raise SystemExit(f"demo: tfo {args[0]} exited {code}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        ALERTS.append(body)
        print(f"\n  >> alert received: {body['title']}\n     " + body["message"].replace("\n", "\n     "), flush=True)
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        return


def metric(port: int, name: str, workspace: str) -> float | None:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    match = re.search(rf'^{name}{{config="multi-region",workspace="{workspace}"}} (\S+)$', text, re.M)
    return float(match.group(1)) if match else None


def wait_for(what: str, check, timeout: float = 90) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(1)
    raise SystemExit(f"demo: timed out waiting for {what}")


def main() -> None:
    config = STACK / "infra.yaml"
    step("validate and graph the stack")
    tfo("validate", str(config))
    tfo("graph", str(config))

    alert_port, metrics_port = free_port(), free_port()
    WORK.mkdir(parents=True, exist_ok=True)
    demo_config = WORK / "infra.yaml"
    text = config.read_text().replace("workspace_root: .", f"workspace_root: {STACK}")
    text += (
        "\n# Added by the demo: a fast drift check and alerts to a local receiver.\n"
        "schedules:\n  - name: drift-check\n    every: 10s\n"
        f'alerts:\n  urls: ["json://127.0.0.1:{alert_port}/hook"]\n'
    )
    demo_config.write_text(text)

    step("apply the stack (independent workspaces run in parallel)")
    tfo("apply", str(demo_config), "--auto-approve")

    server = HTTPServer(("127.0.0.1", alert_port), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    step("start the drift daemon")
    daemon = subprocess.Popen(
        [TFO, "daemon", str(demo_config), "--metrics-port", str(metrics_port), "--metrics-host", "127.0.0.1"]
    )
    try:
        wait_for("the first drift check", lambda: metric(metrics_port, "tfo_workspace_drifted", "dns") == 0.0)
        print(f"\n  metrics:    http://127.0.0.1:{metrics_port}/metrics  (scrape it with Prometheus)")
        print("  Temporal UI: printed above by the daemon")
        tfo("drift", str(demo_config))

        step("simulate drift: remove a DNS record from terraform's state behind tfo's back")
        terraform = shutil.which("terraform") or "terraform"
        address = 'null_resource.record["app.example.internal/us-east-1"]'
        print(f"$ terraform state rm '{address}'", flush=True)
        subprocess.run([terraform, "state", "rm", address], cwd=STACK / "dns", check=True, stdout=subprocess.DEVNULL)
        wait_for("drift to be detected", lambda: metric(metrics_port, "tfo_workspace_drifted", "dns") == 1.0)
        print('\n  tfo_workspace_drifted{config="multi-region",workspace="dns"} 1')
        wait_for("the drift alert", lambda: any(a["title"].startswith("Drift detected") for a in ALERTS), 30)
        tfo("drift", str(demo_config))

        step("fix it with tfo apply while the daemon runs")
        tfo("apply", str(demo_config), "-w", "dns", "--auto-approve")
        wait_for("the resolved alert", lambda: any(a["title"].startswith("Drift resolved") for a in ALERTS), 30)
        # /metrics serves a copy the daemon refreshes every 10 s.
        wait_for("the gauge to follow", lambda: metric(metrics_port, "tfo_workspace_drifted", "dns") == 0.0, 30)
        print('\n  tfo_workspace_drifted{config="multi-region",workspace="dns"} 0')
        if os.environ.get("DEMO_KEEP"):
            step("the daemon keeps running; Ctrl-C to stop")
            daemon.wait()
    except KeyboardInterrupt:
        pass
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=60)
        server.shutdown()
    step(f"demo done: {len(ALERTS)} alerts, daemon exit code {daemon.returncode}")


if __name__ == "__main__":
    main()
