"""Store faults (issue 15, items 1, 2, 7): a full disk, a killed sweep, leftovers in dir names.

The full-disk tests mount a small tmpfs (root only; skipped with the reason otherwise). Runs and
statuses are read back from the store's SQLite file.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import run_cli

from ems_sweep.pipelines.result import write_json


@contextlib.contextmanager
def small_tmpfs(path: Path, size_mb: int) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("the full-disk fault needs root to mount a small tmpfs")
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", str(path)],
        capture_output=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill(disk: Path, leave_kb: int) -> Path:
    """A file taking all but leave_kb of the disk."""
    stat = os.statvfs(disk)
    filler = disk / "filler"
    filler.write_bytes(b"\0" * max(stat.f_bavail * stat.f_frsize - leave_kb * 1024, 0))
    return filler


def runs(db: Path) -> list[tuple[str, str, str]]:
    """(run_type tag, status, lifecycle) of every run of the store."""
    con = sqlite3.connect(db)
    try:
        return con.execute(
            "select coalesce((select value from tags t where t.run_uuid = r.run_uuid"
            " and t.key = 'ems_sweep.run_type'), ''), status, lifecycle_stage from runs r"
        ).fetchall()
    finally:
        con.close()


def active(db: Path) -> list[tuple[str, str]]:
    return [(kind, status) for kind, status, stage in runs(db) if stage == "active"]


def sync(sweep_dir: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "ems_sweep.tracking", "sync", str(sweep_dir)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=cwd)


def test_item1_full_disk_never_fails_good_jobs_and_sync_repairs_them(tmp_path):
    with small_tmpfs(tmp_path / "disk", 30) as disk:
        db = disk / "store" / "mlflow.db"
        db.parent.mkdir()
        from mlflow.tracking import MlflowClient

        MlflowClient(f"sqlite:///{db}").search_experiments()  # the store exists, then fills up
        filler = fill(disk, leave_kb=400)
        sweep_dir = tmp_path / "sweep"
        proc = run_cli(
            ["building=res1,res2", "mode=centralized,centralized_phases",
             "hydra.launcher.n_jobs=2", f"tracking.uri=sqlite:///{db}",
             f"hydra.sweep.dir={sweep_dir}", "-m"],
            tmp_path,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-3000:]  # every job succeeded
        summaries = [json.loads(p.read_text()) for p in sweep_dir.glob("*/summary.json")]
        assert [s["status"] for s in summaries] == ["ok"] * 4
        assert "No space left" in proc.stdout + proc.stderr or "full" in proc.stdout
        assert ("job", "FAILED") not in active(db)  # a logging failure fails no good job

        filler.unlink()
        first = sync(sweep_dir, tmp_path)
        assert first.returncode == 0, first.stderr[-3000:]
        again = sync(sweep_dir, tmp_path)
        assert "0 job(s) logged, 4 already in MLflow" in again.stdout
        final = active(db)
        assert sorted(final) == [("job", "FINISHED")] * 4 + [("sweep", "FINISHED")]
        assert not [r for r in runs(db) if r[1] == "RUNNING"]
        assert not list(sweep_dir.rglob("*.tmp")) and not list(disk.rglob("*.tmp"))


def test_item2_parent_of_a_killed_sweep_is_ended_by_sync(tmp_path):
    db = tmp_path / "mlflow.db"
    sweep_dir = tmp_path / "sweep"
    # jobs of a few seconds (14 days at 15 min), so that the kill lands inside the second job
    args = ["building=res1,res2", "n_days=14", "resolution_min=15", "pipeline.plots=false",
            "hydra/launcher=basic", f"tracking.uri=sqlite:///{db}", f"hydra.sweep.dir={sweep_dir}",
            "-m"]  # fmt: skip
    env = {**os.environ, "HYDRA_FULL_ERROR": "1"}
    main = subprocess.Popen(
        [sys.executable, "-m", "ems_sweep", *args],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.time() + 240

        def second_job_running_under_its_parent() -> bool:  # the parent is set up in a thread
            sweep_file = sweep_dir / "mlflow_sweep.json"
            # overrides.yaml is the last of the .hydra files Hydra writes before the task runs
            started = list(sweep_dir.glob("1_*/.hydra/overrides.yaml"))
            return (
                bool(started)
                and sweep_file.exists()
                and "setup_pending" not in json.loads(sweep_file.read_text() or "{}")
            )

        while not second_job_running_under_its_parent() and time.time() < deadline:
            time.sleep(0.1)
        assert second_job_running_under_its_parent(), "the second job never started"
        assert not list(sweep_dir.glob("1_*/summary.json")), "the second job ended first"
        main.send_signal(signal.SIGKILL)  # no handler runs: the parent stays RUNNING
    finally:
        main.wait(timeout=60)
    assert ("sweep", "RUNNING") in active(db)

    done = sync(sweep_dir, tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "1 parent run(s) left RUNNING ended" in done.stdout
    final = active(db)
    # the killed job has no summary.json: its run and the sweep's are FAILED, none RUNNING
    assert sorted(final) == [("job", "FAILED"), ("job", "FINISHED"), ("sweep", "FAILED")]
    assert not [r for r in runs(db) if r[1] == "RUNNING"]


def test_item7_failed_json_write_leaves_no_tmp_file(tmp_path):
    with small_tmpfs(tmp_path / "disk", 1) as disk:
        fill(disk, leave_kb=0)
        with pytest.raises(OSError):
            write_json(disk / "mlflow_run.json", {"text": "x" * 200_000})
        assert not list(disk.glob("*.tmp")) and not (disk / "mlflow_run.json").exists()


def test_item7_tracking_settings_stay_out_of_job_dir_names(tmp_path):
    sweep_dir = tmp_path / "sweep"
    proc = run_cli(
        ["tracking=none", "building=res1,res2", "tracking.http_request_max_retries=0",
         "tracking.http_request_timeout_s=2", "tracking.http_request_backoff_factor=1",
         "pipeline.plots=false", "hydra/launcher=basic", f"hydra.sweep.dir={sweep_dir}", "-m"],
        tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    names = sorted(p.name for p in sweep_dir.iterdir() if p.is_dir())
    assert names == ["0_building=res1,pipeline.plots=False", "1_building=res2,pipeline.plots=False"]


def test_item3_three_sweeps_on_a_new_store_all_log(tmp_path):
    """Started at once on a store that does not exist yet: one creates it, the others wait."""
    db = tmp_path / "new" / "mlflow.db"
    env = {**os.environ, "HYDRA_FULL_ERROR": "1"}
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "ems_sweep",
                "building=res1,res2",
                "pipeline.plots=false",
                "hydra/launcher=basic",
                f"tracking.uri=sqlite:///{db}",
                f"hydra.sweep.dir={tmp_path / name}",
                "-m",
            ],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for name in ("a", "b", "c")
    ]
    errors = [p.communicate(timeout=400)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], errors
    assert sorted(active(db)) == [("job", "FINISHED")] * 6 + [("sweep", "FINISHED")] * 3
    markers = [json.loads(p.read_text()) for p in tmp_path.glob("[abc]/*/mlflow_run.json")]
    assert [m["status"] for m in markers] == ["logged"] * 6


@pytest.mark.parametrize("host", ["no-such-host.invalid:5000", "127.0.0.1:9"])
def test_item6_unreachable_store_fails_fast_and_jobs_leave_pending_markers(tmp_path, host):
    sweep_dir = tmp_path / "sweep"
    started = time.perf_counter()
    proc = run_cli(
        [
            "building=res1,res2",
            "pipeline.plots=false",
            "hydra/launcher=basic",
            f"tracking.uri=http://{host}",
            f"hydra.sweep.dir={sweep_dir}",
            "-m",
        ],
        tmp_path,
    )  # fmt: skip (default retries: about a minute per request without the probe)
    seconds = time.perf_counter() - started
    assert proc.returncode == 0, proc.stderr[-3000:]  # the jobs succeeded, only logging did not
    assert "unreachable" in proc.stdout + proc.stderr
    markers = [json.loads(p.read_text()) for p in sweep_dir.glob("*/mlflow_run.json")]
    assert [m["status"] for m in markers] == ["pending"] * 2
    assert all(m["tracking_seconds"] < 2 for m in markers)
    assert seconds < 45, f"{seconds:.0f}s: the store was retried"
