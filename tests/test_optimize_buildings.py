"""Every mode on built-in and real CoSSMic building days: 0 violations, plausible savings."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_module
from omegaconf import DictConfig

from ems_sweep.config import register_configs
from ems_sweep.data import load_building
from ems_sweep.data.slicing import slice_day
from ems_sweep.optimize import (
    MODES,
    PeriodEnd,
    baseline_day,
    check_schedule,
    day_kpis,
    end_state,
    initial_state,
    optimize_day,
)
from ems_sweep.optimize import schedule as S


def compose_cfg(overrides: list[str]) -> DictConfig:
    register_configs()
    with initialize_config_module("ems_sweep.conf", version_base=None):
        return compose("config", overrides=["tracking=none", *overrides])


def savings_bound(base, day, cfg) -> float:
    """Most any schedule could save: every movable kWh bought at the worst price instead of
    the best (cycles, battery at full power all day, EV charging, PV that was exported)."""
    tab = base.table
    prices = np.concatenate([tab[S.IMPORT_PRICE], tab[S.EXPORT_PRICE]])
    spread = float(prices.max() - min(prices.min(), 0.0))
    movable = sum(float(c.profile_kwh.sum()) for c in day.cycles)
    if cfg.battery.enabled:
        movable += 2 * cfg.battery.max_discharge_kw * 24
    movable += float(tab[S.EV_CHARGE].sum() + tab[S.EXPORT].sum())
    return spread * movable


def run_days(cfg: DictConfig) -> list[tuple[float, float, float]]:
    """(baseline cost, optimized cost, bound) per day; asserts 0 violations on the way.

    Each day is optimized from the baseline's start state and must end with at least the
    baseline's storage (the end-of-period rule, as if each day were the period's last), so the
    baseline is a feasible point of the joint MILP.
    """
    building = load_building(cfg)
    state = initial_state(cfg)
    out = []
    for date in building.days():
        day = slice_day(building, date)
        base = baseline_day(day, cfg, state)
        opt = optimize_day(day, cfg, state, period_end=PeriodEnd(minimum=end_state(base)))
        violations = check_schedule(opt, day, cfg)
        assert violations == [], violations[:5]
        k_opt, k_base = day_kpis(opt, day, cfg), day_kpis(base, day, cfg)
        out.append((k_base["cost_eur"], k_opt["cost_eur"], savings_bound(base, day, cfg)))
        state = end_state(base)
    return out


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "overrides",
    [
        ["building=res4", "ev=default", "n_days=2"],
        ["building=res1", "resolution_min=15", "tariff=tou"],
    ],
    ids=["res4_ev_60min_2days", "res1_15min_tou"],
)
def test_builtin_building_every_mode(mode: str, overrides: list[str]):
    cfg = compose_cfg([f"mode={mode}", *overrides])
    for base_cost, opt_cost, bound in run_days(cfg):
        assert base_cost - opt_cost <= bound
        if mode != "decentralized":  # the baseline is a feasible point of the joint MILP
            assert opt_cost <= base_cost + 1e-3


@pytest.mark.parametrize("mode", MODES)
def test_cossmic_days_every_mode(cossmic_dir: Path, mode: str):
    cfg = compose_cfg(
        [
            "building=cossmic_res4",
            f"building.path={cossmic_dir / 'DE_KN_residential4_60min.csv.gz'}",
            "start_date=2016-12-08",
            "ev=default",
            f"mode={mode}",
        ]
    )
    for base_cost, opt_cost, bound in run_days(cfg):
        assert base_cost - opt_cost <= bound
        if mode != "decentralized":
            assert opt_cost <= base_cost + 1e-3
