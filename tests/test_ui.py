"""`python -m ems_sweep.analysis.ui`: a real MLflow server on a free 127.0.0.1 port over a store."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from ems_sweep.analysis.ui import main, server_command


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _sweep_store(root: Path) -> tuple[str, str, str, list[str]]:
    """A parent run and two job runs in Pipeline_A_Comparison, as the tracking callback logs."""
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{root}/mlflow.db"
    client = MlflowClient(uri)
    exp = client.create_experiment(
        "Pipeline_A_Comparison", artifact_location=(root / "artifacts").as_uri()
    )
    parent = client.create_run(
        exp, run_name="sweep-ui", tags={"ems_sweep.run_type": "sweep"}
    ).info.run_id
    children = []
    for num, building in enumerate(("res1", "res2")):
        tags = {"mlflow.parentRunId": parent, "ems_sweep.run_type": "job", "building": building}
        run = client.create_run(exp, run_name=f"{building}-centralized", tags=tags).info.run_id
        client.log_metric(run, "savings_pct", 5.0 + num)
        client.set_terminated(run)
        children.append(run)
    client.set_terminated(parent)
    return uri, exp, parent, children


def _get(url: str) -> int:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.status


def _wait_for(url: str, proc: subprocess.Popen, timeout_s: float = 150) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else "ui exited"
        try:
            if _get(url) == 200:
                return
        except (urllib.error.URLError, OSError):
            time.sleep(0.5)
    pytest.fail(f"MLflow UI did not answer at {url} within {timeout_s}s")


def _read_lines(proc: subprocess.Popen) -> tuple[list[str], threading.Event, threading.Thread]:
    """Collect the launcher's output as it comes; the event is set once it printed a runs URL."""
    lines: list[str] = []
    printed_runs = threading.Event()

    def read() -> None:
        for line in proc.stdout:
            lines.append(line)
            if "runs of " in line:
                printed_runs.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    return lines, printed_runs, reader


def _descendants(pid: int) -> list[str]:
    """Command lines of every process below pid (the launcher, server, workers, runners)."""
    out = subprocess.run(["ps", "-e", "-o", "pid=,ppid=,args="], capture_output=True, text=True)
    rows = [line.split(None, 2) for line in out.stdout.splitlines()]
    tree, grown = {pid}, True
    while grown:
        found = {int(r[0]) for r in rows if int(r[1]) in tree} - tree
        tree |= found
        grown = bool(found)
    return [r[2] for r in rows if int(r[0]) in tree and int(r[0]) != pid]


def test_ui_serves_the_sweep_store(tmp_path):
    uri, exp, parent, children = _sweep_store(tmp_path)
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "ems_sweep.analysis.ui", "--tracking-uri", uri, "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines, printed_runs, reader = _read_lines(proc)
    try:
        _wait_for(url + "/", proc)
        assert _get(url + "/") == 200
        # Lean: the server and its uvicorn worker, no GenAI job runner or huey consumers.
        processes = _descendants(proc.pid)
        assert not [p for p in processes if "huey" in p or "_job_runner" in p], processes
        assert len(processes) <= 2, processes
        request = urllib.request.Request(
            url + "/api/2.0/mlflow/runs/search",
            data=json.dumps(
                {
                    "experiment_ids": [exp],
                    "filter": f"tags.mlflow.parentRunId = '{parent}'",
                    "max_results": 100,
                }
            ).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200
            runs = json.loads(response.read())["runs"]
        assert sorted(r["info"]["run_id"] for r in runs) == sorted(children)
        assert {r["info"]["run_name"] for r in runs} == {"res1-centralized", "res2-centralized"}

        # The launcher lists the runs pages after its own health check: let it finish that.
        assert printed_runs.wait(timeout=60), "".join(lines)
        proc.send_signal(signal.SIGTERM)  # the launcher stops the server's process group
        proc.wait(timeout=30)
        reader.join(timeout=10)  # until the pipe closes: the last lines are in
        out = "".join(lines)
        assert f"Starting the MLflow UI at {url} on {uri}" in out
        assert f"MLflow UI: {url}" in out
        assert f"{url}/#/experiments/{exp}?workflowType=machine_learning" in out
        assert "StarletteDeprecationWarning" not in out
        assert f"file://{tmp_path}/artifacts" in out
        with pytest.raises((urllib.error.URLError, OSError)):
            _get(url + "/health")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_server_command_points_at_store_and_artifacts():
    cmd = server_command("sqlite:////s/mlflow.db", "file:///s/artifacts", "127.0.0.1", 5001, 1)
    assert cmd[1:4] == ["-m", "mlflow", "server"]
    pairs = dict(zip(cmd[4::2], cmd[5::2], strict=True))
    assert pairs == {
        "--backend-store-uri": "sqlite:////s/mlflow.db",
        "--default-artifact-root": "file:///s/artifacts",
        "--artifacts-destination": "file:///s/artifacts",
        "--host": "127.0.0.1",
        "--port": "5001",
        "--workers": "1",
    }


def test_no_store_and_busy_port_are_clear_errors(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main([]) == 2
    assert "No runs yet: no MLflow store at" in capsys.readouterr().err
    assert not (tmp_path / "mlflow_runs").exists()

    (tmp_path / "mlflow_runs").mkdir()
    (tmp_path / "mlflow_runs" / "mlflow.db").touch()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["--port", str(port)]) == 2
    assert f"Cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err
    assert main(["--tracking-uri", "nonsense"]) == 2
    assert "Invalid config: --tracking-uri='nonsense'" in capsys.readouterr().err
