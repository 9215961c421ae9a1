"""One programme at a time, delay not advance, physical costs: every mode on real and built-in
buildings (the checker is not trusted here; placements and tables are read directly)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_optimize_buildings import compose_cfg

from ems_sweep.data import load_building
from ems_sweep.data.model import DayData
from ems_sweep.data.slicing import cycle_id
from ems_sweep.optimize import MODES, CyclePlacement
from ems_sweep.optimize import schedule as S
from ems_sweep.pipelines.days import RunOptions, Timings, run_days

COSSMIC = {
    "cossmic_res1": "DE_KN_residential1_60min.csv.gz",
    "cossmic_res4": "DE_KN_residential4_60min.csv.gz",
}


def overlapping_steps(placements: list[CyclePlacement], day: DayData) -> int:
    """Steps at which two or more cycles of one device run."""
    length = {c.cycle_id: len(c.profile_kwh) for c in day.cycles}
    running: dict[str, np.ndarray] = {}
    for p in placements:
        count = running.setdefault(p.device, np.zeros(day.n_steps, dtype=int))
        count[p.start_step : p.start_step + length[p.cycle_id]] += 1
    return int(sum((count > 1).sum() for count in running.values()))


def physical_cost(table: pd.DataFrame, placements: list[CyclePlacement], day: DayData) -> float:
    """What the house pays: real cycle profiles at their starts, the table's storage flows and
    curtailment, the grid taking the rest."""
    real = np.zeros(day.n_steps)
    profile = {c.cycle_id: c.profile_kwh for c in day.cycles}
    for p in placements:
        real[p.start_step : p.start_step + len(profile[p.cycle_id])] += profile[p.cycle_id]
    t = {k: table[k].to_numpy() for k in table.columns}
    residual = (
        t[S.FIXED_LOAD] + real + t[S.BATTERY_CHARGE] + t[S.EV_CHARGE] - t[S.BATTERY_DISCHARGE]
        - t[S.EV_DISCHARGE] - t[S.PV] + t[S.PV_CURTAILED]
    )  # fmt: skip
    imp, exp = np.maximum(residual, 0.0), np.maximum(-residual, 0.0)
    return float((imp * t[S.IMPORT_PRICE] - exp * t[S.EXPORT_PRICE]).sum())


def assert_appliance_rules(cfg, pipeline_learning: bool = False) -> int:
    """Run the days; assert the rules on baseline and optimized; return the cycles placed."""
    building = load_building(cfg)
    dates = building.days()
    prefs = None
    if pipeline_learning:  # a learned preference that favours the evening, penalize mode
        p = np.full(24, 0.02)
        p[17:23] = 0.2
        prefs = {d: p / p.sum() for d in building.shiftable_devices}
    runs = run_days(building, dates, cfg, Timings(), RunOptions(preferences=prefs))
    placed = 0
    for run in runs:
        assert run.status == "ok", run.reason
        assert overlapping_steps(run.baseline.placements, run.day) == 0, run.date
        opt = run.optimized
        assert overlapping_steps(opt.placements, run.day) == 0, run.date
        assert all(p.start_step >= p.observed_start_step for p in opt.placements), run.date
        reported = float(opt.table[S.COST].sum())
        assert reported == pytest.approx(
            physical_cost(opt.table, opt.placements, run.day), abs=1e-6
        )
        assert run.row["optimized_cost_eur"] == pytest.approx(reported)
        placed += len(opt.placements)
    return placed


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("building", sorted(COSSMIC))
def test_shared_buildings_one_programme_delay_only_physical_cost(
    cossmic_dir: Path, building: str, mode: str
):
    cfg = compose_cfg(
        [
            f"building={building}",
            f"building.path={cossmic_dir / COSSMIC[building]}",
            "start_date=2016-06-01",
            "n_days=7",
            "ev=default",
            f"mode={mode}",
        ]
    )
    assert assert_appliance_rules(cfg) >= 5


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("building", ["res1", "res5"])
def test_builtin_buildings_one_programme_delay_only_physical_cost(building: str, mode: str):
    cfg = compose_cfg([f"building={building}", "n_days=5", f"mode={mode}"])
    assert assert_appliance_rules(cfg) >= 3


@pytest.mark.parametrize("mode", MODES)
def test_learned_preferences_keep_one_programme_at_a_time(mode: str):
    cfg = compose_cfg(["building=res5", "n_days=5", f"mode={mode}", "pipeline=learning"])
    assert assert_appliance_rules(cfg, pipeline_learning=True) >= 3


def test_learning_pipeline_places_no_overlapping_cycles(tmp_path: Path):
    """The whole learning job (learned preferences, restrict mode): cycles.csv has no overlap."""
    from ems_sweep.pipelines.learning import run_learning

    cfg = compose_cfg(
        ["building=res5", "n_days=10", "pipeline=learning", "pipeline.preference_mode=restrict"]
    )
    result = run_learning(cfg, tmp_path)
    assert result.status == "ok", result.error
    cycles = pd.read_csv(tmp_path / "cycles.csv", parse_dates=["start", "observed_start"])
    opt = cycles[cycles["schedule"] == "optimized"]
    assert len(opt) >= 3
    assert (opt["start"] >= opt["observed_start"]).all()
    data = load_building(cfg)
    steps = {cycle_id(c.device, c.start): len(c.profile_kwh) for c in data.cycles}
    stop = opt["start"] + pd.to_timedelta([steps[i] * data.dt_h for i in opt["cycle_id"]], "h")
    for _, dev in opt.assign(stop=stop).sort_values("start").groupby("device"):
        assert (dev["stop"].to_numpy()[:-1] <= dev["start"].to_numpy()[1:]).all()


@pytest.mark.parametrize("advance", [False, True])
def test_report_and_summary_name_the_start_rule_and_the_model_cost(tmp_path: Path, advance: bool):
    from ems_sweep.pipelines.comparison import run_comparison

    cfg = compose_cfg(
        [
            "building=res5",
            "n_days=2",
            f"mode.allow_advance={str(advance).lower()}",
            "pipeline.plots=false",
        ]
    )
    result = run_comparison(cfg, tmp_path)
    assert result.status == "ok", result.error
    report = (tmp_path / "report.md").read_text()
    assert f"mode.allow_advance={str(advance).lower()}" in report
    daily = pd.read_csv(tmp_path / "daily.csv")
    summary = result.metrics  # what summary.json and MLflow get
    assert summary["model_cost"] == pytest.approx(daily["optimized_model_cost_eur"].sum())
    assert summary["total_cost"] == pytest.approx(daily["optimized_cost_eur"].sum())
