"""The optimizer as an MLflow model: logged from a run, loaded in a fresh process, served over HTTP.

Every figure the model returns must equal the figure of running the same config directly through
the comparison pipeline.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from hydra import compose, initialize_config_module
from mlflow import MlflowClient

from ems_sweep.config import register_configs, typed

ROWS = [
    {"building_id": "res1", "mode": "centralized", "n_days": 1},
    {"building_id": "res2", "mode": "centralized_phases", "n_days": 1, "start_date": "2016-01-12"},
]
COMPARED = {  # model output column -> JobResult metric
    "cost_eur": "total_cost",
    "baseline_cost_eur": "baseline_cost",
    "savings_eur": "savings_eur",
    "savings_pct": "savings_pct",
    "constraint_violations": "constraint_violations",
}


def _compose(overrides: list[str]):
    register_configs()
    with initialize_config_module(config_module="ems_sweep.conf", version_base="1.3"):
        return compose(config_name="config", overrides=overrides)


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HYDRA_FULL_ERROR": "1"}
    done = subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> dict[str, str]:
    """A small real job (res1, centralized, 1 day) tracked in a tmp SQLite store, with models.

    `optimizer` is logged by the job itself (tracking.log_model=true); `from_cli` by the log
    command afterwards, from the finished run's config.yaml artifact.
    """
    root = tmp_path_factory.mktemp("serving")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    job = ["building=res1", "mode=centralized", "n_days=1"]
    _run(["-m", "ems_sweep", *job, f"tracking.uri={uri}", "tracking.log_model=true"], root)
    client = MlflowClient(uri)
    (run,) = client.search_runs(client.search_experiments()[0].experiment_id)
    run_id = run.info.run_id
    assert run.info.status == "FINISHED"
    assert "config.yaml" in {a.path for a in client.list_artifacts(run_id)}

    done = _run(
        ["-m", "ems_sweep.serving", "log", "--run-id", run_id, "--name", "from_cli"]
        + ["--tracking-uri", uri],
        root,
    )
    assert f"runs:/{run_id}/from_cli" in done.stdout
    assert client.get_run(run_id).info.status == "FINISHED"  # logging did not reopen the run
    return {
        "uri": uri,
        "model": f"runs:/{run_id}/optimizer",
        "cli_model": f"runs:/{run_id}/from_cli",
        "root": str(root),
    }


@pytest.fixture(scope="module")
def direct(tmp_path_factory) -> list[dict[str, float]]:
    """The same two setups run directly through the comparison pipeline."""
    from ems_sweep.pipelines.comparison import run_comparison

    out = []
    for row in ROWS:
        overrides = [f"building={row['building_id']}", f"mode={row['mode']}", "n_days=1"]
        if "start_date" in row:
            overrides.append(f"start_date={row['start_date']}")
        cfg = _compose([*overrides, "tracking=none"])
        result = run_comparison(typed(cfg), tmp_path_factory.mktemp("direct"))
        assert result.status == "ok", result.error
        out.append(result.metrics)
    return out


def _assert_same_figures(rows: list[dict], direct: list[dict[str, float]]) -> None:
    assert [(r["building_id"], r["mode"]) for r in rows] == [
        (r["building_id"], r["mode"]) for r in ROWS
    ]
    for got, want in zip(rows, direct, strict=True):
        assert got["status"] == "ok" and got["feasible"] is True, got
        for column, metric in COMPARED.items():
            assert got[column] == pytest.approx(want[metric], rel=1e-9, abs=1e-9), column
        assert 0 < got["solve_time_s"] < 60 and got["days_ok"] == 1
    # Two different buildings really gave two different optimizations.
    assert rows[0]["baseline_cost_eur"] != rows[1]["baseline_cost_eur"]


LOAD_AND_PREDICT = """
import json, sys
import mlflow, pandas as pd
mlflow.set_tracking_uri(sys.argv[1])
model = mlflow.pyfunc.load_model(sys.argv[2])
out = model.predict(pd.DataFrame(json.loads(sys.argv[3])))
import ems_sweep
print(json.dumps({"rows": out.to_dict(orient="records"), "code": ems_sweep.__file__}))
"""


@pytest.mark.slow
def test_loaded_in_a_new_process_predicts_the_direct_figures(store, direct):
    done = subprocess.run(
        [sys.executable, "-c", LOAD_AND_PREDICT, store["uri"], store["model"], json.dumps(ROWS)],
        cwd=store["root"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    payload = json.loads(done.stdout.strip().splitlines()[-1])
    _assert_same_figures(payload["rows"], direct)
    # The model runs the ems_sweep code logged with it (code_paths), not the working tree.
    assert "/code/ems_sweep/" in payload["code"], payload["code"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _post(url: str, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def _wait_ready(proc: subprocess.Popen, base: str, log: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"mlflow models serve exited {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{base}/ping", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"mlflow models serve not ready after {timeout} s:\n{log.read_text()[-3000:]}")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=15)
    # The leader can exit before its uvicorn worker has let go of the port: end the whole group.
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _port_closed(port: int, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except OSError:
            return True
        time.sleep(0.2)
    return False


@pytest.mark.slow
def test_served_over_http_returns_the_direct_figures(store, direct):
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    log = Path(store["root"]) / "serve.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "mlflow", "models", "serve", "-m", store["cli_model"],
             "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port), "-w", "1"],
            cwd=store["root"],
            # mlflow starts `uvicorn` by name: the venv's bin must be on PATH, as when activated.
            env={
                **os.environ,
                "MLFLOW_TRACKING_URI": store["uri"],
                "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            },
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: the workers stop with it
        )  # fmt: skip
    try:
        _wait_ready(proc, base, log)
        status, body = _post(f"{base}/invocations", {"dataframe_records": ROWS})
        assert status == 200, body
        _assert_same_figures(body["predictions"], direct)

        status, body = _post(
            f"{base}/invocations", {"dataframe_records": [ROWS[0], {"building_id": "res9"}]}
        )
        assert status == 400 and "Row 1: building_id='res9' is invalid" in body["message"], body
    finally:
        _stop(proc)
    assert proc.returncode is not None
    assert _port_closed(port)
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=2):
        pass
