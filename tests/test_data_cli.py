"""The data paths of `python -m ems_sweep` end to end (tracking off, output in tmp_path)."""

from __future__ import annotations


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
