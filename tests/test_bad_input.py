"""Bad input (issue 15, items 8-11): exit codes, one message naming the value, no traceback."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest
from conftest import run_cli

from ems_sweep.cli.outcome import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_JOBS_FAILED
from ems_sweep.config import MAX_N_DAYS, ConfigError, check_key


def plain_cli(args: list[str], cwd: Path):
    """The CLI as a user runs it: without HYDRA_FULL_ERROR (the conftest runner sets it)."""
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    return run_cli(args, cwd, env={**env, "HYDRA_FULL_ERROR": ""})


def test_item8_failed_single_run_and_sweep_with_failed_jobs_exit_non_zero(tmp_path):
    missing = tmp_path / "nope.csv"
    proc = plain_cli(
        ["tracking=none", "building.source=tidy", f"building.path={missing}", "building.id=x"],
        tmp_path,
    )
    assert proc.returncode == EXIT_FAILED, proc.stderr[-2000:]
    assert str(missing) in proc.stdout + proc.stderr

    sweep_dir = tmp_path / "sweep"
    proc = plain_cli(
        ["tracking=none", "battery.soc_min=0.1,2", "hydra.launcher.n_jobs=1",
         f"hydra.sweep.dir={sweep_dir}", "-m", "--verbose"],
        tmp_path,
    )  # fmt: skip
    assert proc.returncode == EXIT_JOBS_FAILED, proc.stderr[-2000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("1 of 2 jobs failed") and "1_battery.soc_min=2" in last


def test_item9_expected_errors_give_one_message_no_traceback_no_failed_run(tmp_path):
    db = tmp_path / "store" / "mlflow.db"
    proc = plain_cli(["battery.soc_min=2", f"tracking.uri=sqlite:///{db}"], tmp_path)
    out = proc.stdout + proc.stderr
    assert proc.returncode == EXIT_BAD_INPUT
    assert out.count("battery.soc_min=2.0; allowed: a fraction between 0 and 1") == 1
    assert "Traceback" not in out
    # stopped before any work: no store, hence no FAILED run in it
    assert not db.exists() or not sqlite3.connect(db).execute("select * from runs").fetchall()

    bad_file = ["tracking=none", "building.source=tidy", "building.path=nope.csv", "building.id=x"]
    quiet = plain_cli(bad_file, tmp_path)
    assert quiet.returncode == EXIT_FAILED and "Traceback" not in quiet.stdout + quiet.stderr
    verbose = plain_cli([*bad_file, "--verbose"], tmp_path)
    assert verbose.returncode == EXIT_FAILED
    out = verbose.stdout + verbose.stderr
    assert "Traceback" in out and "FileNotFoundError: building.path='nope.csv'" in out


def test_item10_plus_key_is_rejected_with_the_nearest_key(tmp_path):
    proc = plain_cli(["+batery.capacity_kwh=5", "tracking=none"], tmp_path)
    assert proc.returncode == EXIT_BAD_INPUT
    assert "unknown key batery.capacity_kwh" in proc.stderr
    assert "did you mean battery.capacity_kwh?" in proc.stderr
    assert not (tmp_path / "outputs").exists()  # nothing ran
    # the same check on composed configs (keys added by sweeper params or experiment files)
    with pytest.raises(ConfigError, match="did you mean n_days"):
        check_key("n_dayz")
    check_key("building.generator.appliances.oven.runs_per_week")  # a named entry: allowed


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        (["ev=default", "ev.charger_kw=0"], "ev.charger_kw=0.0"),
        (["n_days=100000"], f"n_days=100000; allowed: an integer >= 1 and <= {MAX_N_DAYS}"),
        (["n_days=20000"], "n_days=20000"),
    ],
)
def test_item11_messages_name_the_key_the_user_set(tmp_path, overrides, named):
    proc = plain_cli([*overrides, "tracking=none"], tmp_path)
    assert proc.returncode == EXIT_BAD_INPUT
    out = proc.stdout + proc.stderr
    assert named in out and "OutOfBounds" not in out and "Traceback" not in out


def test_item8_a_lost_job_without_files_still_fails_the_exit_code(tmp_path):
    from ems_sweep.cli.outcome import sweep_outcome

    result = sweep_outcome(tmp_path, ["#3 building=res4"])
    assert result.code == EXIT_JOBS_FAILED and result.message.startswith("1 of 1 jobs failed")
    assert "#3 building=res4" in result.message


def test_item8_dates_outside_the_file_exit_non_zero_naming_them(tmp_path, cossmic_dir):
    data = cossmic_dir / "DE_KN_residential1_60min.csv.gz"
    proc = plain_cli(
        [
            "building=cossmic_res1",
            f"building.path={data}",
            "start_date=2030-01-01",
            "tracking=none",
        ],
        tmp_path,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == EXIT_FAILED
    assert "2030-01-01" in out and "outside" in out and "Traceback" not in out
