"""The data paths of `python -m ems_sweep` end to end (tracking off, output in tmp_path)."""

from __future__ import annotations

import pandas as pd


def test_cli_runs_on_the_real_residential4_file_at_15_min(cli, cossmic_dir, tmp_path):
    path = cossmic_dir / "DE_KN_residential4_60min.csv.gz"
    args = [
        "building.source=tidy",
        f"building.path={path}",
        "building.id=DE_KN_residential4",
        "start_date=2016-06-01",
        "resolution_min=15",
        "tracking=none",
    ]
    proc = cli(args, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "DE_KN_residential4 centralized: ok" in proc.stdout
    # the job ran at the requested resolution: 96 quarter-hour steps in the day, every schedule
    (daily_csv,) = tmp_path.glob("**/daily.csv")
    assert pd.read_csv(daily_csv)["n_steps"].tolist() == [96]
    schedules = pd.read_csv(daily_csv.with_name("schedules.csv"))
    for kind, steps in schedules.groupby("schedule"):
        times = pd.to_datetime(steps["time"], utc=True)
        assert len(steps) == 96, kind
        assert (times.diff().dropna() == pd.Timedelta(minutes=15)).all(), kind
