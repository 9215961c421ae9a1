"""`python -m ems_sweep.analysis.ui`: the MLflow UI on the project's store, with the right roots.

`mlflow ui` run by hand starts on ./mlflow.db and shows an empty page; this launcher points the
server at the store the sweeps log to (backend URI and artifact root), checks the port first,
prints the URL, and stops the server's whole process group on Ctrl-C or SIGTERM. The server
starts lean: without MLflow's GenAI job runner (a runner and seven huey consumers, ~1.3 GB),
which these runs never use, and without the Starlette deprecation warning MLflow triggers.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

from ems_sweep.analysis.sweep_store import (
    CompareError,
    check_store_exists,
    resolve_uri,
)

# MLflow starts a job runner for GenAI features (scorers, trace rollups) unless told not to;
# measured on MLflow 3.17: 11 processes / 1.8 GB RSS with it, 3 processes / 0.5 GB without.
JOB_RUNNER_ENV = "MLFLOW_SERVER_ENABLE_JOB_EXECUTION"
# MLflow's FastAPI app imports starlette.middleware.wsgi, deprecated by Starlette: noise only.
QUIET_WARNINGS = "ignore:starlette.middleware.wsgi is deprecated"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 5000


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ems-sweep-ui", description="Start the MLflow UI on the ems-sweep tracking store."
    )
    parser.add_argument(
        "--tracking-uri",
        help="backend store (default: sqlite:///<cwd>/mlflow_runs/mlflow.db, the sweeps' store)",
    )
    parser.add_argument(
        "--artifact-root",
        help="artifact folder for experiments created from the UI (default: the artifacts/ "
        "folder beside a SQLite store)",
    )
    parser.add_argument("--host", default=DEFAULT_HOST, help=f"interface (default {DEFAULT_HOST})")
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})"
    )
    parser.add_argument(
        "--workers", type=int, default=1, help="server worker processes (default 1)"
    )
    return parser


def server_command(
    uri: str, artifact_root: str | None, host: str, port: int, workers: int
) -> list[str]:
    """The `mlflow server` command line (runs with this interpreter, so the venv's MLflow)."""
    cmd = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", uri]
    if artifact_root:
        cmd += ["--default-artifact-root", artifact_root, "--artifacts-destination", artifact_root]
    return cmd + ["--host", host, "--port", str(port), "--workers", str(workers)]


def server_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """The server's environment: no job runner (unless asked for), the Starlette warning off."""
    env = dict(os.environ if base is None else base)
    env.setdefault(JOB_RUNNER_ENV, "false")
    warnings = env.get("PYTHONWARNINGS")
    env["PYTHONWARNINGS"] = f"{warnings},{QUIET_WARNINGS}" if warnings else QUIET_WARNINGS
    return env


def browse_url(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    return f"http://[{shown}]:{port}" if ":" in shown else f"http://{shown}:{port}"


def check_port(host: str, port: int) -> None:
    """Fail with a clear message instead of a server traceback when the port is taken."""
    if not 0 < port < 65536:
        raise CompareError(f"Invalid --port {port}; allowed: 1..65535")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise CompareError(
                f"Cannot listen on {host}:{port} ({exc.strerror}); pass another --port"
            ) from exc


def wait_ready(proc: subprocess.Popen, url: str, timeout_s: float = 120.0) -> bool:
    """Poll /health until the server answers; False if it exited or never came up."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    return True
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    return False


def stop(proc: subprocess.Popen) -> None:
    """End the server and its workers: they share the process group we gave them."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    except ProcessLookupError:
        pass
    # The leader can exit before a worker has let go of the port: nothing of the group survives.
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


# MLflow 3.17's UI takes the GenAI-or-training view from this URL parameter (or the toggle at the
# top left, remembered by the browser); without either it opens experiments on a GenAI overview.
RUNS_VIEW = "workflowType=machine_learning"


def runs_urls(url: str) -> list[tuple[str, str]]:
    """(experiment name, URL of its runs page) for every experiment with runs, via the REST API."""
    import json

    request = urllib.request.Request(
        f"{url}/api/2.0/mlflow/experiments/search",
        data=json.dumps({"max_results": 100}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    experiments: list[dict] | None = None
    for _attempt in range(3):  # a just-started server on a loaded machine answers slowly at first
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                experiments = json.loads(response.read()).get("experiments", [])
            break
        except (urllib.error.URLError, OSError, ValueError):
            continue
    if experiments is None:
        return []
    return [
        (e["name"], f"{url}/#/experiments/{e['experiment_id']}?{RUNS_VIEW}")
        for e in experiments
        if e.get("name") != "Default"
    ]


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def serve(args: argparse.Namespace) -> int:
    uri, root = resolve_uri(args.tracking_uri, args.artifact_root)
    if uri.startswith(("http://", "https://")):
        print(f"The tracking store is already an MLflow server: open {uri}")
        return 0
    check_store_exists(uri)
    check_port(args.host, args.port)

    url = browse_url(args.host, args.port)
    print(
        f"Starting the MLflow UI at {url} on {uri} (artifacts: {root or 'server default'})",
        flush=True,
    )
    proc = subprocess.Popen(
        server_command(uri, root, args.host, args.port, args.workers),
        env=server_env(),
        start_new_session=True,
    )
    signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        if wait_ready(proc, url):
            print(f"MLflow UI: {url}  (Ctrl-C to stop)", flush=True)
            for name, runs in runs_urls(url):
                print(f"  runs of {name}: {runs}", flush=True)
        return proc.wait()
    except KeyboardInterrupt:
        print("\nStopping the MLflow UI", flush=True)
        return 0
    finally:
        stop(proc)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return serve(args)
    except CompareError as exc:
        print(f"ems-sweep-ui: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
