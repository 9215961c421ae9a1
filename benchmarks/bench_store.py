"""What a sweep left in its MLflow store, and how long reading it back takes (compare, REST).

Used by sweep_bench.py after each sweep: nothing may fail or be lost, so the runs are counted
per parent and per status; for the scale run the compare command and the UI server's REST run
listing are timed against the same store.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class StoreCount:
    parents: int
    children: int
    statuses: dict[str, int] = field(default_factory=dict)  # children by status
    orphans: int = 0  # runs neither parent nor child of a parent in the store

    @property
    def failed(self) -> int:
        return sum(n for s, n in self.statuses.items() if s != "FINISHED")


def count_runs(uri: str) -> StoreCount:
    """Parent and child runs of every experiment in the store, children by status."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    ids = [e.experiment_id for e in client.search_experiments()]
    runs = []
    token = None
    while ids:
        page = client.search_runs(ids, max_results=1000, page_token=token)
        runs.extend(page)
        token = page.token
        if not token:
            break
    run_ids = {r.info.run_id for r in runs}
    parent_ids = {r.data.tags.get("mlflow.parentRunId") for r in runs} - {None}
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") in run_ids]
    parents = [r for r in runs if r.info.run_id in parent_ids]
    return StoreCount(
        parents=len(parents),
        children=len(children),
        statuses=dict(Counter(r.info.status for r in children)),
        orphans=len(runs) - len(children) - len(parents),
    )


def time_compare(cwd: Path, uri: str, env: dict[str, str]) -> tuple[float, int, str]:
    """Wall seconds of `ems_sweep.analysis.compare` on the latest sweep; return code; output."""
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "ems_sweep.analysis.compare", "--tracking-uri", uri],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    return time.perf_counter() - started, proc.returncode, proc.stdout + proc.stderr


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _request(url: str, payload: dict | None = None, timeout: float = 60) -> dict:
    data = json.dumps(payload).encode() if payload is not None else None
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return json.loads(resp.read() or b"{}")


@dataclass
class RestListing:
    server_ready_s: float
    first_s: float  # first runs/search call (cold caches)
    median_s: float  # median of the following calls
    runs: int


def time_rest_listing(
    cwd: Path, uri: str, artifact_root: str, experiment: str, repeats: int = 3
) -> RestListing:
    """Start the MLflow server as `ems-sweep-ui` does on a free 127.0.0.1 port (one worker,
    without MLflow's GenAI job runner, whose consumers would share the cores with the
    listing), time POST runs/search, stop the server."""
    from ems_sweep.analysis.ui import server_command, server_env

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    cmd = server_command(uri, artifact_root, "127.0.0.1", port, workers=1)
    log = (cwd / "mlflow_server.log").open("w")
    started = time.perf_counter()
    server = subprocess.Popen(
        cmd, cwd=cwd, env=server_env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        while True:
            if server.poll() is not None:
                raise RuntimeError(f"mlflow server exited ({server.returncode}); see {log.name}")
            if time.perf_counter() - started > 180:
                raise RuntimeError("mlflow server not ready after 180 s")
            try:
                urllib.request.urlopen(f"{base}/health", timeout=2).read()
                break
            except OSError:
                time.sleep(0.3)
        ready = time.perf_counter() - started
        exp = _request(
            f"{base}/api/2.0/mlflow/experiments/get-by-name?experiment_name={experiment}"
        )
        body = {"experiment_ids": [exp["experiment"]["experiment_id"]], "max_results": 1000}
        times, runs = [], 0
        for _ in range(1 + repeats):
            t0 = time.perf_counter()
            reply = _request(f"{base}/api/2.0/mlflow/runs/search", body)
            times.append(time.perf_counter() - t0)
            runs = len(reply.get("runs", []))
        return RestListing(ready, times[0], statistics.median(times[1:]), runs)
    finally:
        os.killpg(server.pid, signal.SIGTERM)  # the server's own process group only
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()
