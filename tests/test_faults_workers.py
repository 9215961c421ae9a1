"""Worker faults (issue 15, items 4 and 5): a dead worker, SIGTERM of the main process.

Runs and statuses are read back from the store's SQLite file.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from ems_sweep.cli.outcome import EXIT_JOBS_FAILED

# A sweep whose res2 job kills its own worker process (the task function is pickled by value
# from this script's __main__, so the fault runs inside the loky worker).
KILLING_MAIN = """
import os, signal
import hydra
from ems_sweep import __main__ as app

@hydra.main(version_base="1.3", config_path="pkg://ems_sweep.conf", config_name="config")
def task(cfg):
    if cfg.building.name == "res2":
        os.kill(os.getpid(), signal.SIGKILL)
    return app.run.__wrapped__(cfg)

app.register_launcher()
task()
import sys
from ems_sweep.cli import outcome
print(outcome.current().message, file=sys.stderr)
sys.exit(outcome.current().code)
"""


def store_runs(db: Path) -> list[dict]:
    con = sqlite3.connect(db)
    con.row_factory = sqlite3.Row
    try:
        rows = con.execute(
            "select r.run_uuid, r.status, r.end_time, r.lifecycle_stage,"
            " (select value from tags t where t.run_uuid = r.run_uuid"
            "  and t.key = 'ems_sweep.run_type') as kind,"
            " (select value from tags t where t.run_uuid = r.run_uuid"
            "  and t.key = 'building') as building,"
            " (select value from tags t where t.run_uuid = r.run_uuid"
            "  and t.key = 'error') as error from runs r"
        ).fetchall()
        return [dict(r) for r in rows if r["lifecycle_stage"] == "active"]
    finally:
        con.close()


def test_item4_sweep_outlives_a_dead_worker(tmp_path):
    script = tmp_path / "killing_main.py"
    script.write_text(KILLING_MAIN)
    db = tmp_path / "mlflow.db"
    sweep_dir = tmp_path / "sweep"
    args = ["building=res1,res2,res3", "pipeline.plots=false", "hydra.launcher.n_jobs=2",
            f"tracking.uri=sqlite:///{db}", f"hydra.sweep.dir={sweep_dir}", "-m"]  # fmt: skip
    proc = subprocess.run(
        [sys.executable, str(script), *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "HYDRA_FULL_ERROR": ""},
    )
    assert proc.returncode == EXIT_JOBS_FAILED, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("1 of 3 jobs failed")
    statuses = {
        p.parent.name.split(",")[0]: json.loads(p.read_text())["status"]
        for p in sweep_dir.glob("*/summary.json")
    }
    assert statuses == {
        "0_building=res1": "ok",
        "1_building=res2": "failed",
        "2_building=res3": "ok",
    }
    runs = store_runs(db)
    children = {r["building"]: r for r in runs if r["kind"] == "job"}
    parents = [r for r in runs if r["kind"] == "sweep"]
    assert len(children) == 3 and len(parents) == 1
    assert children["res1"]["status"] == children["res3"]["status"] == "FINISHED"
    assert children["res2"]["status"] == "FAILED" and "worker died" in children["res2"]["error"]
    assert parents[0]["status"] == "FINISHED"
    assert not [r for r in runs if r["status"] == "RUNNING"]


def _children_of(pid: int) -> set[int]:
    kids = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            kids.add(int(stat.parent.name))
    return kids


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _two_jobs_running(
    tmp_path: Path, sweep_dir: Path, tracking: str
) -> tuple[subprocess.Popen, list[int]]:
    """A 2-job, 14-day sweep on 2 joblib workers, once both jobs have started: (main, workers)."""
    main = subprocess.Popen(
        [sys.executable, "-m", "ems_sweep", "building=res1,res2", "n_days=14", tracking,
         "pipeline.plots=false", "hydra.launcher.n_jobs=2", f"hydra.sweep.dir={sweep_dir}", "-m"],
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.time() + 240
    while len(list(sweep_dir.glob("*/.hydra/config.yaml"))) < 2 and time.time() < deadline:
        time.sleep(0.2)
    if len(list(sweep_dir.glob("*/.hydra/config.yaml"))) < 2:
        main.kill()
        raise AssertionError("jobs did not start")
    workers = _children_of(main.pid)
    if not workers:
        main.kill()
        raise AssertionError("the sweep has no worker processes")
    return main, workers


def test_item5_sigterm_ends_workers_and_runs(tmp_path):
    db = tmp_path / "mlflow.db"
    sweep_dir = tmp_path / "sweep"
    main, workers = _two_jobs_running(tmp_path, sweep_dir, f"tracking.uri=sqlite:///{db}")
    try:
        main.send_signal(signal.SIGTERM)
        assert main.wait(timeout=60) != 0
    finally:
        if main.poll() is None:
            main.kill()
    time.sleep(3)
    assert not [pid for pid in workers if _alive(pid)], "orphaned workers"
    runs = store_runs(db)
    parents = [r for r in runs if r["kind"] == "sweep"]
    assert [p["status"] for p in parents] == ["KILLED"]
    assert not [r for r in runs if r["status"] == "RUNNING"]
    late = [r for r in runs if r["kind"] == "job" and r["end_time"] > parents[0]["end_time"]]
    assert not late, "a child was logged after its parent ended"


def test_item5_sigkill_of_the_main_process_leaves_no_worker_running(tmp_path):
    sweep_dir = tmp_path / "sweep"
    main, workers = _two_jobs_running(tmp_path, sweep_dir, "tracking=none")
    try:
        main.send_signal(signal.SIGKILL)
        main.wait(timeout=60)
    finally:
        if main.poll() is None:
            main.kill()
    time.sleep(4)  # workers check their parent every second
    assert not [pid for pid in workers if _alive(pid)], "orphaned workers"
