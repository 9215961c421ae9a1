"""A shared tracking server as in the README's "Scaling out": `mlflow server` on PostgreSQL with
served artifacts, a 4-job sweep logging to it over HTTP, read back through the server.

Needs a PostgreSQL server: `source .ci/postgres.sh start` starts one and exports
EMS_SWEEP_PG_URI (.ci/run does this); without it the test skips and says so.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

pytestmark = pytest.mark.postgres

PG_ENV = "EMS_SWEEP_PG_URI"
BUILDINGS = ("res1", "res2")
BATTERIES = ("default", "none")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def pg_database() -> Iterator[str]:
    """A fresh database on the PostgreSQL server of EMS_SWEEP_PG_URI, dropped afterwards."""
    admin_uri = os.environ.get(PG_ENV)
    if not admin_uri:
        pytest.skip(f"no PostgreSQL server: `source .ci/postgres.sh start` exports {PG_ENV}")
    psycopg = pytest.importorskip("psycopg", reason='PostgreSQL driver: pip install -e ".[server]"')
    name = f"ems_test_{uuid.uuid4().hex[:12]}"
    try:
        with psycopg.connect(admin_uri, autocommit=True, connect_timeout=10) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL at {PG_ENV} not reachable: {exc}")
    parts = urlsplit(admin_uri)
    # SQLAlchemy's psycopg (3) dialect, as in the README's --backend-store-uri.
    yield urlunsplit(("postgresql+psycopg", parts.netloc, f"/{name}", "", ""))
    with psycopg.connect(admin_uri, autocommit=True, connect_timeout=10) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _start_server(db_uri: str, artifacts: Path, port: int, log_file: Path) -> subprocess.Popen:
    cmd = [
        sys.executable, "-m", "mlflow", "server",
        "--backend-store-uri", db_uri,
        "--artifacts-destination", str(artifacts),
        "--serve-artifacts",
        "--host", "127.0.0.1",
        "--port", str(port),
        "--workers", "1",
    ]  # fmt: skip
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    with log_file.open("w") as log:
        # Own session: the server and its uvicorn worker are stopped together by group id.
        return subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def _wait_http(url: str, proc: subprocess.Popen, seconds: float) -> bool:
    """True once `url` answers 200 (the server is up), False on timeout or if proc ended."""
    import urllib.request

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return True
        except OSError:
            time.sleep(0.5)
    return False


def test_sweep_logs_to_mlflow_server_on_postgres_with_served_artifacts(tmp_path, pg_database):
    from mlflow.tracking import MlflowClient

    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    artifacts = tmp_path / "served-artifacts"
    sweep_dir = tmp_path / "sweep"
    sweep_log = tmp_path / "sweep.log"
    args = [
        f"building={','.join(BUILDINGS)}",
        f"battery={','.join(BATTERIES)}",
        "n_days=1",
        "hydra.launcher.n_jobs=2",
        "tracking=server",
        f"tracking.uri={url}",
        "tracking.experiment=scaleout_server",
        f"hydra.sweep.dir={sweep_dir}",
        "-m",
    ]
    env = {**os.environ, "HYDRA_FULL_ERROR": "1"}
    env.pop("MLFLOW_TRACKING_URI", None)
    sweep = None
    # The server is up before the sweep: a store unreachable at sweep start fails fast and the
    # jobs keep pending markers for `sync` instead (tests/test_faults_store.py).
    server = _start_server(pg_database, artifacts, port, tmp_path / "server.log")
    try:
        assert _wait_http(f"{url}/health", server, 120), (tmp_path / "server.log").read_text()
        with sweep_log.open("w") as log:
            sweep = subprocess.Popen(
                [sys.executable, "-m", "ems_sweep", *args],
                cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT, env=env,
                start_new_session=True,
            )  # fmt: skip
        sweep.wait(timeout=400)
        output = sweep_log.read_text(errors="replace")
        server_log = (tmp_path / "server.log").read_text(errors="replace")
        assert sweep.returncode == 0, output[-3000:] + server_log[-2000:]
        assert server.poll() is None, server_log[-3000:]
        assert "MLflow logging failed" not in output, output[-3000:]

        # Read everything back over HTTP.
        client = MlflowClient(tracking_uri=url)
        exp = client.get_experiment_by_name("scaleout_server")
        assert exp is not None
        assert exp.artifact_location.startswith("mlflow-artifacts:"), exp.artifact_location
        runs = client.search_runs([exp.experiment_id])
        parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
        assert len(parents) == 1 and parents[0].info.status == "FINISHED"
        parent_id = parents[0].info.run_id
        children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent_id]
        assert len(children) == 4
        combos = {
            (c.data.params["building_id"], c.data.params["battery_enabled"]) for c in children
        }
        assert combos == {(b, e) for b in BUILDINGS for e in ("True", "False")}
        for child in children:
            assert child.info.status == "FINISHED", child.data.tags.get("error")
            assert child.info.artifact_uri.startswith("mlflow-artifacts:"), child.info.artifact_uri
        # An artifact, downloaded over HTTP, equals the job's file; the server stored it.
        child = children[0]
        (job_dir,) = sweep_dir.glob(f"{child.data.tags['ems_sweep.job_num']}_*")
        got = Path(client.download_artifacts(child.info.run_id, "summary.json", str(tmp_path)))
        assert json.loads(got.read_text()) == json.loads((job_dir / "summary.json").read_text())
        assert len(list(artifacts.rglob("summary.json"))) == 4
        assert any(p.name == "sweep_table.csv" for p in artifacts.rglob("*.csv"))
        # The runs are rows of the PostgreSQL database: the parent and its 4 children.
        import psycopg

        plain = pg_database.replace("postgresql+psycopg://", "postgresql://", 1)
        with psycopg.connect(plain, connect_timeout=10) as conn:
            assert conn.execute("SELECT count(*) FROM runs").fetchone()[0] == 5
    finally:
        if sweep is not None:
            _stop(sweep)
        _stop(server)
