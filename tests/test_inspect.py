"""`python -m ems_sweep.pipelines.inspect`: read before a sweep; its exit status."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest

from ems_sweep.pipelines.inspect import main

R4 = "DE_KN_residential4"


@pytest.fixture
def week(cossmic_dir, tmp_path):
    src = pd.read_csv(cossmic_dir / f"{R4}_60min.csv.gz", index_col=0, parse_dates=True)
    return src.loc["2016-05-30":"2016-06-05"].copy()


def test_inspect_prints_mapping_quality_and_fidelity(week, tmp_path, capsys):
    day = week.index.tz_convert("Europe/Berlin").date == pd.Timestamp("2016-06-02").date()
    for col in ("grid_import", "grid_export", "pv"):  # a dead main meter on one local day
        week.loc[day, f"{R4}_{col}"] = 0.0
    path = tmp_path / "res4.csv"
    week.to_csv(path, index_label="utc_timestamp")
    png = tmp_path / "map.png"
    assert main([str(path), "--png", str(png)]) == 0
    out = capsys.readouterr().out
    assert f"pv                       <- {R4}_pv" in out
    assert f"grid export              <- {R4}_grid_export" in out
    assert "shiftable=['dishwasher', 'washing_machine']" in out
    assert "2016-06-02                    1  skipped: main meters" in out
    assert "net exchange: max |diff| per step" in out and "netting within the step" in out
    assert "EV meter:" in out
    assert png.stat().st_size > 10_000


def test_inspect_exits_non_zero_when_nothing_is_usable(week, tmp_path, capsys):
    for col in ("grid_import", "grid_export", "pv"):
        week[f"{R4}_{col}"] = 0.0
    path = tmp_path / "dead.csv"
    week.to_csv(path, index_label="utc_timestamp")
    assert main([str(path), "--png", str(tmp_path / "x.png")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("nothing usable: no usable day") and "dead or stuck meter" in err
    assert len(err.strip().splitlines()) == 1


def test_inspect_needs_an_id_for_a_file_of_several_buildings(week, tmp_path, capsys):
    week["DE_KN_residential9_grid_import"] = 0.1
    path = tmp_path / "two.csv"
    week.to_csv(path, index_label="utc_timestamp")
    assert main([str(path)]) == 2
    assert "name one with --id" in capsys.readouterr().err
    assert main([str(path), "--id", R4, "--png", str(tmp_path / "m.png")]) == 0


def test_inspect_command_line(week, tmp_path):
    path = tmp_path / "res4.csv"
    week.to_csv(path, index_label="utc_timestamp")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "ems_sweep.pipelines.inspect",
            str(path),
            "--building",
            "cossmic_res4",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "quality per day:" in proc.stdout
    assert (tmp_path / f"inspect_{R4}.png").exists()
