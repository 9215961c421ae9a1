"""The independent checker: a valid schedule passes; one planted violation per kind is caught."""

from __future__ import annotations

import copy
from collections.abc import Callable

import numpy as np
import pytest
from test_optimize import at, battery_cfg, dishwasher, make_day

from ems_sweep.data.model import EVTrip
from ems_sweep.optimize import (
    DaySchedule,
    StorageState,
    baseline_day,
    check_schedule,
    optimize_day,
)
from ems_sweep.optimize import schedule as S
from ems_sweep.optimize.checker import Violation

START = StorageState(5.0, 30.0)
AWAY = 10  # a step when the car is away (trip 08:00-17:00)


def cfg_for(v2g: bool = False):
    ev = {
        "ev.enabled": True,
        "ev.capacity_kwh": 40.0,
        "ev.charger_kw": 4.0,
        "ev.charge_efficiency": 0.9,
        "ev.must_be_full_by_hour": 7,
        "ev.target_soc": 0.9,
        "ev.soc_min": 0.1,
    }
    if v2g:
        ev.update({"ev.v2g": True, "ev.discharge_kw": 4.0, "ev.discharge_efficiency": 0.9})
    return battery_cfg(**ev)


def the_day():
    rng = np.random.default_rng(7)
    prices = rng.uniform(0.05, 0.35, 24)
    pv = np.clip(np.sin(np.linspace(-np.pi / 2, 3 * np.pi / 2, 24)), 0, None) * 2.5
    return make_day(
        prices,
        load=0.3,
        pv=pv,
        cycles=[dishwasher(19), dishwasher(7, (0.6, 0.6))],
        trips=[EVTrip(at(8), at(17), 8.0)],
    )


@pytest.fixture(scope="module")
def solved() -> tuple:
    day, cfg = the_day(), cfg_for()
    return day, cfg, optimize_day(day, cfg, START)


def kinds(violations: list[Violation]) -> set[str]:
    return {v.kind for v in violations}


def test_valid_schedules_pass(solved):
    day, cfg, opt = solved
    assert check_schedule(opt, day, cfg) == []
    assert check_schedule(baseline_day(day, cfg, START), day, cfg) == []
    cfg_v2g = cfg_for(v2g=True)
    assert check_schedule(optimize_day(day, cfg_v2g, START), day, cfg_v2g) == []


def _bump(col: str, step: int, delta: float) -> Callable[[DaySchedule], None]:
    def f(s: DaySchedule) -> None:
        s.table.iloc[step, s.table.columns.get_loc(col)] += delta

    return f


def _set(col: str, step: int, value: float) -> Callable[[DaySchedule], None]:
    def f(s: DaySchedule) -> None:
        s.table.iloc[step, s.table.columns.get_loc(col)] = value

    return f


def _both(*fs: Callable[[DaySchedule], None]) -> Callable[[DaySchedule], None]:
    def f(s: DaySchedule) -> None:
        for g in fs:
            g(s)

    return f


def _moved(s: DaySchedule) -> int:
    """A step where some cycle consumes (to plant appliance faults there)."""
    return int(np.argmax(s.table[S.appliance_column("dishwasher")].to_numpy()))


PLANTS: dict[str, Callable[[DaySchedule], None]] = {
    "columns": lambda s: s.table.drop(columns=[S.EV_ENERGY], inplace=True),
    "data": _bump(S.FIXED_LOAD, 3, 0.5),
    "negative": _both(_set(S.PV_CURTAILED, 2, -0.2), _bump(S.IMPORT, 2, -0.2)),
    "balance": _bump(S.IMPORT, 5, 0.5),
    "grid_limit": _both(_bump(S.IMPORT, 4, 20.0), _bump(S.BATTERY_CHARGE, 4, 20.0)),
    "pv_curtailed": _both(_bump(S.PV_CURTAILED, 1, 0.4), _bump(S.IMPORT, 1, 0.4)),
    "exclusive_grid": _both(_bump(S.IMPORT, 3, 0.3), _bump(S.EXPORT, 3, 0.3)),
    "battery_power": _both(_bump(S.BATTERY_CHARGE, 3, 5.0), _bump(S.IMPORT, 3, 5.0)),
    "battery_bounds": _set(S.BATTERY_ENERGY, 6, 9.5),
    "battery_dynamics": _bump(S.BATTERY_ENERGY, 6, 0.3),
    "exclusive_battery": _both(_bump(S.BATTERY_CHARGE, 2, 0.5), _bump(S.BATTERY_DISCHARGE, 2, 0.5)),
    "ev_power": _both(_bump(S.EV_CHARGE, 20, 10.0), _bump(S.IMPORT, 20, 10.0)),
    "ev_unplugged": _both(_bump(S.EV_CHARGE, AWAY, 1.0), _bump(S.IMPORT, AWAY, 1.0)),
    "ev_bounds": _set(S.EV_ENERGY, 22, 45.0),
    "ev_dynamics": _bump(S.EV_ENERGY, 3, 0.5),
    "ev_requirement": _set(S.EV_ENERGY, 7, 5.0),  # the 08:00 trip needs 8 + 4 kWh
    "ev_target": _set(S.EV_ENERGY, 6, 20.0),  # 0.9 x 40 = 36 kWh due at 07:00
    "ev_v2g": _both(_bump(S.EV_DISCHARGE, 21, 1.0), _bump(S.IMPORT, 21, -1.0)),
    "appliance_total": _bump(S.APPLIANCES, 12, 0.1),
    "cycle_missing": lambda s: s.placements.pop(),
    "cycle_duplicate": lambda s: s.placements.append(copy.copy(s.placements[0])),
    "cycle_window": lambda s: setattr(s.placements[0], "start_step", 0),
    "cycle_profile": lambda s: _bump(S.appliance_column("dishwasher"), _moved(s), -0.3)(s),
    "cost": _bump(S.COST, 9, 0.1),
}


@pytest.mark.parametrize("kind", sorted(PLANTS))
def test_planted_violation_is_caught(solved, kind: str):
    day, cfg, opt = solved
    broken = copy.deepcopy(opt)
    PLANTS[kind](broken)
    found = check_schedule(broken, day, cfg)
    assert kind in kinds(found), found


def test_exclusive_ev_with_v2g():
    day, cfg = the_day(), cfg_for(v2g=True)
    sched = optimize_day(day, cfg, START)
    _both(_bump(S.EV_CHARGE, 21, 0.5), _bump(S.EV_DISCHARGE, 21, 0.5))(sched)
    assert "exclusive_ev" in kinds(check_schedule(sched, day, cfg))


def test_forbidden_start(solved):
    day, cfg, opt = solved
    moved = [p for p in opt.placements if p.start_step != p.observed_start_step]
    assert moved, "the fixture day must move at least one cycle"
    hour = day.index[moved[0].start_step].hour
    found = check_schedule(opt, day, cfg, {"dishwasher": {hour}})
    assert kinds(found) == {"forbidden_start"}
    # the observed start is always allowed (it is what the household did)
    base = baseline_day(day, cfg, START)
    all_hours = {"dishwasher": set(range(24))}
    assert check_schedule(base, day, cfg, all_hours) == []


def test_baseline_battery_that_idles_is_caught():
    # the self-consumption battery holds 5 kWh (> soc_min 1) at 00:00 while the load exceeds PV:
    # it must discharge; a baseline that keeps it back (a reserve rule) is reported
    day, cfg = the_day(), cfg_for()
    base = baseline_day(day, cfg, START)
    assert base.table[S.BATTERY_DISCHARGE].iloc[0] > 0
    _both(_set(S.BATTERY_DISCHARGE, 0, 0.0), _bump(S.IMPORT, 0, 0.3))(base)
    base.table[S.BATTERY_ENERGY] += 0.3 / 0.9
    assert "battery_idle" in kinds(check_schedule(base, day, cfg))


def test_same_device_overlap_is_caught_on_every_step_it_lasts():
    """Two dishwasher programmes at once (observed 10:00 and 12:00, 3 h each): step 12 only."""
    day = make_day([0.3] * 24, load=0.3, cycles=[dishwasher(10), dishwasher(12)])
    cfg = battery_cfg()
    found = check_schedule(baseline_day(day, cfg, START), day, cfg)
    assert [(v.kind, v.step) for v in found] == [("cycle_overlap", 12)]


def test_a_table_costed_with_the_flat_block_is_caught():
    """The old centralized report: the mean-power block in the table instead of the programme."""
    prices = np.linspace(0.4, 0.1, 24)
    day = make_day(prices, load=1.0, cycles=[dishwasher(10)])
    cfg = battery_cfg(**{"battery.enabled": False, "mode.name": "centralized"})
    opt = optimize_day(day, cfg, StorageState(0.0, 0.0))
    assert check_schedule(opt, day, cfg) == []
    start = opt.placements[0].start_step
    tab = opt.table
    real = np.array([1.0, 0.2, 0.8])
    delta = np.full(3, real.mean()) - real
    rows = tab.index[start : start + 3]
    for col in (S.appliance_column("dishwasher"), S.APPLIANCES, S.IMPORT):
        tab.loc[rows, col] += delta
    tab[S.COST] = tab[S.IMPORT] * tab[S.IMPORT_PRICE] - tab[S.EXPORT] * tab[S.EXPORT_PRICE]
    assert kinds(check_schedule(opt, day, cfg)) == {"cycle_profile", "cost_physical"}
