"""Optimizer on tiny hand-checkable days: cheap slot, idle battery, EV reasons, modes, solvers."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf

from ems_sweep.config import VARIANTS, EmsConfig, LearningPipelineConfig
from ems_sweep.data.model import DayCycle, DayData, EVTrip
from ems_sweep.optimize import (
    InfeasibleDayError,
    PeriodEnd,
    StorageState,
    baseline_day,
    check_schedule,
    day_kpis,
    end_state,
    initial_state,
    optimize_day,
    tariff_prices,
)
from ems_sweep.optimize import schedule as S

DATE = dt.date(2016, 6, 1)
TZ = "Europe/Berlin"


def make_cfg(**overrides: object) -> EmsConfig:
    """Schema defaults (battery off, no EV, a dynamic tariff without fees) plus dotted overrides,
    as the typed objects a job runs on. tariff.kind picks that tariff's schema and a learning
    key (pipeline.preference_mode, ...) the learning pipeline's, as tariff=/pipeline= do."""
    values = {
        "building.name": "tiny",
        "building.id": "tiny",
        "building.shiftable": ["dishwasher"],
        "battery.enabled": False,
        "tariff.kind": "dynamic",
        "tariff.network_fee_eur_per_kwh": 0.0,
        "tariff.levies_eur_per_kwh": 0.0,
        "tariff.vat": 0.0,
        "tariff.feed_in_eur_per_kwh": 0.0,
        **overrides,
    }
    cfg = OmegaConf.structured(EmsConfig)
    cfg.tariff = OmegaConf.structured(VARIANTS["tariff"][str(values.pop("tariff.kind"))])
    if any(k.partition(".")[2] in ("preference_mode", "preference_threshold") for k in values):
        cfg.pipeline = OmegaConf.structured(LearningPipelineConfig)
    for key, value in values.items():
        group, _, name = key.partition(".")
        if group == "tariff" and key not in overrides and name not in cfg.tariff:
            continue  # the zero fees only where the tariff has them
        OmegaConf.update(cfg, key, value, merge=False)
    return OmegaConf.to_object(cfg)


def make_day(
    prices: list[float] | np.ndarray,
    load: float | np.ndarray = 0.2,
    pv: float | np.ndarray = 0.0,
    cycles: list[DayCycle] | None = None,
    trips: list[EVTrip] | None = None,
    dt_h: float = 1.0,
) -> DayData:
    n = len(prices)
    index = pd.date_range(pd.Timestamp(DATE, tz=TZ), periods=n, freq=pd.Timedelta(hours=dt_h))
    return DayData(
        date=DATE,
        index=index,
        dt_h=dt_h,
        fixed_load_kwh=np.broadcast_to(np.asarray(load, dtype=float), (n,)).copy(),
        pv_kwh=np.broadcast_to(np.asarray(pv, dtype=float), (n,)).copy(),
        day_ahead_eur_per_kwh=np.asarray(prices, dtype=float),
        cycles=cycles or [],
        ev_trips=trips or [],
    )


def at(hour: float) -> pd.Timestamp:
    return pd.Timestamp(DATE, tz=TZ) + pd.Timedelta(hours=hour)


def dishwasher(start: int, profile: tuple[float, ...] = (1.0, 0.2, 0.8)) -> DayCycle:
    return DayCycle(f"dishwasher@{start}", "dishwasher", start, np.array(profile))


def test_cycle_moves_to_the_cheap_slot():
    prices = [0.30] * 24
    prices[14] = prices[15] = prices[16] = 0.10  # cheap block 14-16
    day = make_day(prices, cycles=[dishwasher(11)])
    cfg = make_cfg()
    opt = optimize_day(day, cfg, initial_state(cfg))
    assert opt.placements[0].start_step == 14
    assert opt.stats.status == "Optimal"
    assert check_schedule(opt, day, cfg) == []
    base = baseline_day(day, cfg, initial_state(cfg))
    assert base.placements[0].start_step == 11
    # saving = 2.0 kWh x (0.30 - 0.10), nothing else changes
    saved = base.table[S.COST].sum() - opt.table[S.COST].sum()
    assert saved == pytest.approx(2.0 * 0.20, abs=1e-6)


@pytest.mark.parametrize("mode", ["centralized", "centralized_phases", "decentralized"])
def test_cycle_is_delayed_up_to_max_delay_hours_never_advanced(mode):
    prices = [0.30] * 24
    prices[2] = prices[3] = prices[4] = 0.01  # very cheap, but before the user started it
    prices[8] = prices[9] = prices[10] = 0.20  # 3 h later: the cheapest allowed
    prices[16] = prices[17] = prices[18] = 0.05  # cheaper still, but 11 h later
    day = make_day(prices, cycles=[dishwasher(5)])
    cfg = make_cfg(**{"mode.name": mode, "mode.max_delay_hours": 3})
    opt = optimize_day(day, cfg, initial_state(cfg))
    assert opt.placements[0].start_step == 8
    assert check_schedule(opt, day, cfg) == []


@pytest.mark.parametrize("mode", ["centralized", "centralized_phases", "decentralized"])
def test_allow_advance_lets_a_cycle_start_earlier(mode):
    prices = [0.30] * 24
    prices[2] = prices[3] = prices[4] = 0.01
    day = make_day(prices, cycles=[dishwasher(5)])
    cfg = make_cfg(**{"mode.name": mode, "mode.max_delay_hours": 3, "mode.allow_advance": True})
    opt = optimize_day(day, cfg, initial_state(cfg))
    assert opt.placements[0].start_step == 2
    assert check_schedule(opt, day, cfg) == []
    # the same schedule is rejected where advancing is not allowed
    strict = make_cfg(**{"mode.name": mode, "mode.max_delay_hours": 3})
    assert "cycle_window" in {v.kind for v in check_schedule(opt, day, strict)}


def test_centralized_plans_a_block_but_reports_the_real_profile_at_its_start():
    prices = np.linspace(0.4, 0.1, 24)
    day = make_day(prices, cycles=[dishwasher(10)])
    for mode in ("centralized", "centralized_phases"):
        cfg = make_cfg(**{"mode.name": mode})
        opt = optimize_day(day, cfg, initial_state(cfg))
        start = opt.placements[0].start_step
        assert start == 16  # 6 h later is the cheapest allowed
        col = opt.table[S.appliance_column("dishwasher")].to_numpy()
        np.testing.assert_allclose(col[start : start + 3], [1.0, 0.2, 0.8])  # what it draws
        assert check_schedule(opt, day, cfg) == []
        real = 0.2 * prices.sum() + float(np.dot([1.0, 0.2, 0.8], prices[16:19]))
        assert opt.table[S.COST].sum() == pytest.approx(real, abs=1e-9)
        block = 0.2 * prices.sum() + 2.0 / 3.0 * prices[16:19].sum()
        planned = block if mode == "centralized" else real
        assert day_kpis(opt, day, cfg)["model_cost_eur"] == pytest.approx(planned, abs=1e-9)


def battery_cfg(**overrides: object) -> EmsConfig:
    return make_cfg(
        **{
            "battery.enabled": True,
            "battery.capacity_kwh": 10.0,
            "battery.max_charge_kw": 3.0,
            "battery.max_discharge_kw": 3.0,
            "battery.charge_efficiency": 0.9,
            "battery.discharge_efficiency": 0.9,
            **overrides,
        }
    )


def test_battery_idle_when_spread_below_round_trip_losses():
    # round trip 0.81: buying at 0.25 and selling back (avoiding import) at 0.30 loses money
    prices = [0.25] * 12 + [0.30] * 12
    day = make_day(prices, load=1.0)
    cfg = battery_cfg()
    # as the period's last day that must end with the start energy: draining it is not a gain
    hold = PeriodEnd(minimum=initial_state(cfg))
    opt = optimize_day(day, cfg, initial_state(cfg), period_end=hold)
    assert opt.table[S.BATTERY_CHARGE].sum() == pytest.approx(0.0, abs=1e-6)
    assert opt.table[S.BATTERY_DISCHARGE].sum() == pytest.approx(0.0, abs=1e-6)
    assert check_schedule(opt, day, cfg) == []


def test_battery_arbitrage_when_spread_beats_losses():
    prices = [0.10] * 12 + [0.40] * 12  # 0.10 / 0.81 = 0.123 < 0.40
    day = make_day(prices, load=1.0)
    cfg = battery_cfg()
    hold = PeriodEnd(minimum=initial_state(cfg))
    opt = optimize_day(day, cfg, initial_state(cfg), period_end=hold)
    assert opt.table[S.BATTERY_DISCHARGE].sum() > 1.0
    assert opt.table[S.BATTERY_ENERGY].iloc[-1] >= 5.0 - 1e-6  # period end >= start (0.5 x 10)
    assert check_schedule(opt, day, cfg) == []
    base = baseline_day(day, cfg, initial_state(cfg))
    assert opt.table[S.COST].sum() < base.table[S.COST].sum()


def ev_cfg(**overrides: object) -> EmsConfig:
    return make_cfg(
        **{
            "ev.enabled": True,
            "ev.capacity_kwh": 40.0,
            "ev.charger_kw": 4.0,
            "ev.charge_efficiency": 1.0,
            "ev.must_be_full_by_hour": 7,
            "ev.target_soc": 1.0,
            "ev.soc_min": 0.1,
            **overrides,
        }
    )


def test_ev_need_beyond_its_window_is_reported_with_the_reason():
    # a trip of 30 kWh at 08:00 needs 30 + 4 (reserve) stored; from 0 kWh with 2 kW for 8 h the
    # car reaches at most 16 kWh: infeasible, and the message says why
    trips = [EVTrip(at(8), at(17), 30.0)]
    day = make_day([0.3] * 24, trips=trips)
    cfg = ev_cfg(**{"ev.charger_kw": 2.0})
    with pytest.raises(InfeasibleDayError, match=r"needs 34\.00 kWh.*at most 16\.00 kWh"):
        optimize_day(day, cfg, StorageState(0.0, 0.0))
    ok = optimize_day(day, ev_cfg(), StorageState(0.0, 20.0))
    assert check_schedule(ok, day, ev_cfg()) == []


def test_ev_target_as_close_as_the_window_allows_and_shortfall_reported():
    # target 40 kWh at 07:00; from 20 kWh with 2 kW the car reaches 34: the day is planned, the
    # car holds all it can (34) and the 6 kWh shortfall is reported, for baseline and optimized
    trips = [EVTrip(at(8), at(17), 10.0)]
    day = make_day([0.3] * 24, trips=trips)
    cfg = ev_cfg(**{"ev.charger_kw": 2.0})
    opt = optimize_day(day, cfg, StorageState(0.0, 20.0))
    assert opt.table[S.EV_ENERGY].iloc[6] == pytest.approx(34.0)
    assert check_schedule(opt, day, cfg) == []
    assert day_kpis(opt, day, cfg)["ev_target_shortfall_kwh"] == pytest.approx(6.0)
    base = baseline_day(day, cfg, StorageState(0.0, 20.0))
    assert day_kpis(base, day, cfg)["ev_target_shortfall_kwh"] == pytest.approx(6.0)


def test_ev_target_holds_on_a_plugged_day_without_a_trip():
    # no trip today: the car plugged in at 07:00 still holds its target then (the user's rule),
    # although cheaper hours come later in the day
    prices = [0.30] * 8 + [0.05] * 16
    day = make_day(prices)
    cfg = ev_cfg()
    opt = optimize_day(day, cfg, StorageState(0.0, 30.0))
    assert opt.table[S.EV_ENERGY].iloc[6] == pytest.approx(40.0)
    assert check_schedule(opt, day, cfg) == []


def test_ev_charges_in_cheap_hours_and_meets_its_target():
    prices = [0.30] * 24
    prices[3] = prices[4] = 0.05
    trips = [EVTrip(at(8), at(17), 10.0)]
    day = make_day(prices, trips=trips)
    cfg = ev_cfg()
    opt = optimize_day(day, cfg, StorageState(0.0, 32.0))
    charge = opt.table[S.EV_CHARGE].to_numpy()
    assert charge[3] == pytest.approx(4.0) and charge[4] == pytest.approx(4.0)
    assert opt.table[S.EV_ENERGY].iloc[6] == pytest.approx(40.0)
    assert check_schedule(opt, day, cfg) == []
    # no end-of-day rule: the baseline charges back to 40 on arrival, the optimizer need not
    base = baseline_day(day, cfg, StorageState(0.0, 32.0))
    assert end_state(base).ev_kwh == pytest.approx(40.0)
    assert opt.table[S.COST].sum() < base.table[S.COST].sum()


def test_decentralized_picks_cheapest_price_alone():
    prices = [0.30] * 24
    prices[14] = prices[15] = prices[16] = 0.10
    day = make_day(prices, pv=0.0, cycles=[dishwasher(11)])
    cfg = make_cfg(**{"mode.name": "decentralized"})
    sched = optimize_day(day, cfg, initial_state(cfg))
    assert sched.placements[0].start_step == 14
    assert sched.stats.status == "Feasible"  # rule-based: valid, no optimality claim
    assert check_schedule(sched, day, cfg) == []


@pytest.mark.parametrize("solver", ["highs", "cbc"])
def test_solvers_agree_and_are_deterministic(solver: str):
    rng = np.random.default_rng(3)
    prices = rng.uniform(0.05, 0.4, 24)
    pv = np.clip(np.sin(np.linspace(-np.pi / 2, 3 * np.pi / 2, 24)), 0, None) * 1.5
    day = make_day(prices, load=0.4, pv=pv, cycles=[dishwasher(19), dishwasher(8)])
    cfg = battery_cfg(**{"solver.name": solver})
    a = optimize_day(day, cfg, initial_state(cfg))
    b = optimize_day(day, cfg, initial_state(cfg))
    pd.testing.assert_frame_equal(a.table, b.table)
    assert check_schedule(a, day, cfg) == []
    ref = optimize_day(day, battery_cfg(), initial_state(cfg))
    # the same optimum of the model (centralized: blocks; equal-cost starts may differ)
    assert a.model_cost_eur == pytest.approx(ref.model_cost_eur, abs=1e-3)
    assert a.stats.n_binaries > 0 and a.stats.n_variables > a.stats.n_binaries
    assert a.stats.mip_gap is not None and a.stats.mip_gap <= 1e-3 + 1e-9


def test_negative_prices_never_import_and_export_at_once():
    prices = [0.3] * 24
    prices[12] = prices[13] = -0.5  # import price below feed-in: simultaneous flows would pay
    day = make_day(prices, load=0.3, pv=np.where(np.arange(24) >= 10, 3.0, 0.0))
    cfg = battery_cfg(**{"tariff.feed_in_eur_per_kwh": 0.08})
    opt = optimize_day(day, cfg, initial_state(cfg))
    assert check_schedule(opt, day, cfg) == []
    imp, exp = opt.table[S.IMPORT].to_numpy(), opt.table[S.EXPORT].to_numpy()
    assert not ((imp > 1e-9) & (exp > 1e-9)).any()  # one meter direction per step
    # paid to import: the negative-price hours draw from the grid and the PV surplus is not sold
    assert (imp[12:14] > 1e-6).all() and (exp[12:14] < 1e-9).all()


def test_preferences_restrict_and_penalize():
    prices = [0.30] * 24
    prices[14] = prices[15] = prices[16] = 0.10
    day = make_day(prices, cycles=[dishwasher(11)])
    probs = np.full(24, 0.05)
    probs[14] = 0.0  # never starts at 14
    prefs = {"dishwasher": probs}
    cfg = make_cfg(**{"pipeline.preference_mode": "restrict"})
    opt = optimize_day(day, cfg, initial_state(cfg), prefs)
    assert opt.placements[0].start_step != 14
    assert check_schedule(opt, day, cfg, {"dishwasher": {14}}) == []
    cfg = make_cfg(
        **{"pipeline.preference_mode": "penalize", "pipeline.penalty_eur_per_unlikely_start": 1.0}
    )
    opt = optimize_day(day, cfg, initial_state(cfg), prefs)
    assert opt.placements[0].start_step != 14
    # the model's cost excludes the penalty; the objective includes none here (chosen hour p=max)
    assert opt.model_cost_eur == pytest.approx(opt.stats.objective, abs=1e-3)


def test_tariffs_and_kpis():
    day = make_day([0.1] * 24, load=1.0, pv=0.0)
    cfg = make_cfg(**{"tariff.kind": "tou"})
    imp, exp = tariff_prices(day, cfg)
    assert imp[8] == pytest.approx(0.38) and imp[2] == pytest.approx(0.24)
    cfg = make_cfg(**{"tariff.network_fee_eur_per_kwh": 0.09, "tariff.vat": 0.19})
    imp, _ = tariff_prices(day, cfg)
    assert imp[0] == pytest.approx((0.1 + 0.09) * 1.19)
    base = baseline_day(day, cfg, initial_state(cfg))
    k = day_kpis(base, day, cfg)
    assert k["import_kwh"] == pytest.approx(24.0)
    assert k["cost_eur"] == pytest.approx(24.0 * imp[0])
    assert k["peak_import_kw"] == pytest.approx(1.0)


def test_quarter_hour_steps_use_kw_times_dt():
    n = 96
    prices = np.full(n, 0.3)
    prices[56:68] = 0.1  # 14:00-17:00, inside the 6 h window of the 12:00 start
    cycle = DayCycle("d", "dishwasher", 48, np.full(8, 0.5))  # 2 h at 2 kW
    day = make_day(prices, load=0.05, cycles=[cycle], dt_h=0.25)
    cfg = battery_cfg(**{"battery.max_charge_kw": 2.0})
    opt = optimize_day(day, cfg, initial_state(cfg))
    assert opt.table[S.BATTERY_CHARGE].max() <= 2.0 * 0.25 + 1e-9
    assert 56 <= opt.placements[0].start_step <= 60
    assert check_schedule(opt, day, cfg) == []
    # kWh per 15-min step -> kW: the peak is the largest step energy divided by 0.25 h
    peak = day_kpis(opt, day, cfg)["peak_import_kw"]
    assert peak == pytest.approx(opt.table[S.IMPORT].max() / 0.25)


def test_bad_input_is_rejected_before_solving():
    day = make_day([0.3] * 24)
    day.day_ahead_eur_per_kwh[5] = np.nan
    with pytest.raises(ValueError, match="day-ahead price"):
        optimize_day(day, make_cfg(), initial_state(make_cfg()))
    cfg = battery_cfg()
    with pytest.raises(ValueError, match="start battery energy"):
        optimize_day(make_day([0.3] * 24), cfg, StorageState(50.0, 0.0))


def test_dst_day_has_23_local_hours():
    index = pd.date_range(pd.Timestamp("2016-03-27", tz=TZ), periods=23, freq="h")
    assert index[-1].hour == 23  # 02:00 does not exist that day
    prices = np.full(23, 0.3)
    prices[12:15] = 0.1
    day = DayData(
        date=dt.date(2016, 3, 27),
        index=index,
        dt_h=1.0,
        fixed_load_kwh=np.full(23, 0.2),
        pv_kwh=np.zeros(23),
        day_ahead_eur_per_kwh=prices,
        cycles=[dishwasher(10)],
    )
    cfg = battery_cfg()
    opt = optimize_day(day, cfg, initial_state(cfg))
    assert opt.placements[0].start_step == 12  # step 12 is 13:00 local on this day
    assert check_schedule(opt, day, cfg) == []
    imp, _ = tariff_prices(day, make_cfg(**{"tariff.kind": "tou"}))
    assert imp[6] == pytest.approx(0.38) and imp[5] == pytest.approx(0.24)  # 07:00 vs 06:00


def test_import_limit_that_cannot_hold_is_a_clear_infeasibility():
    day = make_day([0.3] * 24, load=2.0)
    cfg = make_cfg(**{"building.grid_import_limit_kw": 1.5})
    with pytest.raises(InfeasibleDayError, match="grid_import_limit_kw=1.5") as err:
        optimize_day(day, cfg, initial_state(cfg))
    # the families that cannot hold together: the balance and the import limit, nothing else
    assert "constraint families in conflict: energy_balance, grid_import_limit (" in str(err.value)


def test_infeasible_ev_target_names_the_target_and_the_connection():
    # the charger could reach the target by 08:00 (10 + 4 kW x 8 h >= 40 kWh), the grid
    # connection cannot deliver it (1.5 kW minus the 0.2 kW load: 1.3 kW x 8 h = 10.4 kWh): the
    # pre-check passes, the solver proves the day infeasible, and the error names the families
    day = make_day([0.3] * 24, trips=[EVTrip(at(8), at(17), 4.0)])
    cfg = ev_cfg(**{"building.grid_import_limit_kw": 1.5})
    with pytest.raises(InfeasibleDayError) as err:
        optimize_day(day, cfg, StorageState(0.0, 10.0))
    message = str(err.value)
    assert "families in conflict: energy_balance, ev_soc, ev_target, grid_import_limit" in message
    assert "ev.target_soc=1.0" in message and "building.grid_import_limit_kw=1.5" in message


def test_period_end_above_the_battery_bounds_names_both_families():
    day = make_day([0.3] * 24, load=0.5)
    cfg = battery_cfg(**{"battery.soc_max": 0.9})
    beyond = PeriodEnd(minimum=StorageState(battery_kwh=9.5, ev_kwh=0.0))  # soc_max x 10 = 9
    with pytest.raises(InfeasibleDayError) as err:
        optimize_day(day, cfg, initial_state(cfg), period_end=beyond)
    message = str(err.value)
    assert "families in conflict: period_end_storage, battery_energy_bounds (" in message
    assert "battery.soc_max=0.9" in message


def test_every_constraint_is_named_by_one_family():
    """Each constraint is <family>_<index> of exactly one milp.FAMILIES entry, and a model with
    every feature holds every family (so the list the diagnosis drops from is complete)."""
    from ems_sweep.optimize import milp
    from ems_sweep.optimize.fixing import FixedFlows

    prices = [0.3] * 24
    prices[3] = -0.05  # negative import price: the exclusivity binaries of battery and V2G
    day = make_day(prices, pv=0.5, cycles=[dishwasher(10), dishwasher(12)], trips=[
        EVTrip(at(8), at(17), 10.0)
    ])  # fmt: skip
    cfg = battery_cfg(
        **{
            "ev.enabled": True,
            "ev.v2g": True,
            "ev.discharge_kw": 3.0,
            "tariff.feed_in_eur_per_kwh": 0.4,
        }
    )
    zeros = np.zeros(24)
    fixed = FixedFlows(appliances=True, battery=(zeros, zeros), ev_charge=zeros)
    end = PeriodEnd(minimum=StorageState(1.0, 1.0))
    problem = milp.DayProblem(
        day, StorageState(5.0, 30.0), "centralized", tariff_prices(day, cfg), None, end, fixed
    )
    names = [c.name for c in milp.build_model(problem, cfg).prob.constraints()]
    owners = {n: [f for f in milp.FAMILIES if n.startswith(f + "_")] for n in names}
    assert all(len(o) == 1 for o in owners.values()), {
        n: o for n, o in owners.items() if len(o) != 1
    }
    assert {o[0] for o in owners.values()} == set(milp.FAMILIES)


def test_solver_status_reads_the_solution_status():
    import pulp

    from ems_sweep.optimize.solver import _cbc_gap, _status

    class Fake:
        def __init__(self, status: int, sol_status: int) -> None:
            self.status, self.sol_status = status, sol_status

    # PuLP reports status Optimal at a time limit with an incumbent; sol_status tells
    assert _status(Fake(pulp.LpStatusOptimal, pulp.LpSolutionIntegerFeasible)) == "TimeLimit"
    assert _status(Fake(pulp.LpStatusOptimal, pulp.LpSolutionOptimal)) == "Optimal"
    assert _status(Fake(pulp.LpStatusInfeasible, pulp.LpSolutionInfeasible)) == "Infeasible"
    assert _status(Fake(pulp.LpStatusNotSolved, pulp.LpSolutionNoSolutionFound)) == "NotSolved"
    assert _cbc_gap("Cbc0001I Search completed - best objective 1.5", 1.5) == 0.0
    assert _cbc_gap("Cbc0011I Exiting as integer gap of 0.02 less than 0.1", 2.0) == 0.01
    log = "Cbc0005I Partial search - best objective 2 (best possible 1.5), took 9 iterations"
    assert _cbc_gap(log, 2.0) == pytest.approx(0.25)


def test_decentralized_honours_restrict_and_penalize():
    prices = [0.30] * 24
    prices[14] = prices[15] = prices[16] = 0.10
    day = make_day(prices, cycles=[dishwasher(11)])
    probs = np.full(24, 0.05)
    probs[14] = probs[15] = 0.0
    for pm in ("restrict", "penalize"):
        cfg = make_cfg(
            **{
                "mode.name": "decentralized",
                "pipeline.preference_mode": pm,
                "pipeline.penalty_eur_per_unlikely_start": 1.0,
            }
        )
        sched = optimize_day(day, cfg, initial_state(cfg), {"dishwasher": probs})
        assert sched.placements[0].start_step not in (14, 15)
        assert check_schedule(sched, day, cfg, {"dishwasher": {14, 15}}) == []


def test_time_limit_without_a_schedule_is_a_clear_error():
    from ems_sweep.optimize import SolverFailedError

    rng = np.random.default_rng(5)
    cycles = [dishwasher(s) for s in (8, 12, 18, 20)]
    day = make_day(rng.uniform(0.05, 0.4, 96), load=0.1, cycles=cycles, dt_h=0.25)
    cfg = battery_cfg(**{"solver.time_limit_s": 1e-9})
    # HiGHS stops before any incumbent: PuLP's status alone would not say so; sol_status does
    with pytest.raises(SolverFailedError, match=r"returned NotSolved.*time_limit_s=1e-09"):
        optimize_day(day, cfg, initial_state(cfg))


@pytest.mark.parametrize("mode", ["centralized", "centralized_phases", "decentralized"])
def test_one_machine_runs_one_programme_at_a_time(mode):
    """Both dishwasher loads want the cheap 14:00-17:00 slot; only one can have it."""
    prices = [0.30] * 24
    prices[14] = prices[15] = prices[16] = 0.05
    day = make_day(prices, cycles=[dishwasher(10), dishwasher(13)])
    cfg = make_cfg(**{"mode.name": mode})
    opt = optimize_day(day, cfg, initial_state(cfg))
    first, second = sorted(p.start_step for p in opt.placements)
    assert second >= first + 3  # 3-step programmes, no overlap
    if mode != "decentralized":  # the joint model gives the slot to one of them
        assert 14 in (first, second)
    assert check_schedule(opt, day, cfg) == []


def test_appliance_constraints_are_named_per_cycle_and_device_step():
    from ems_sweep.optimize import milp
    from ems_sweep.optimize.tariffs import tariff_prices as prices_of

    day = make_day([0.3] * 24, cycles=[dishwasher(10), dishwasher(13)])
    cfg = make_cfg()
    problem = milp.DayProblem(day, initial_state(cfg), "centralized", prices_of(day, cfg))
    model = milp.build_model(problem, cfg)
    names = {c.name for c in model.prob.constraints() if c.name}
    assert {"cycle_once_dishwasher_10", "cycle_once_dishwasher_13"} <= names
    # the two windows (10..16 and 13..19, 3 steps each) can share steps 13..18 only
    shared = {n for n in names if n.startswith("device_one_programme_dishwasher_")}
    assert shared == {f"device_one_programme_dishwasher_{t}" for t in range(13, 19)}


def test_an_infeasible_day_reports_its_families_in_the_job_files(tmp_path):
    """The user sees why: the day's row in daily.csv and the report name the families."""
    from conftest import compose_config

    from ems_sweep.pipelines.comparison import run_comparison

    cfg = compose_config(
        "tracking=none", "building=res1", "n_days=1", "battery=none", "ev=none",
        "building.grid_import_limit_kw=0.1", "pipeline.max_plot_days=0",
    )  # fmt: skip
    result = run_comparison(cfg, tmp_path)
    assert result.status == "failed" and result.metrics["days_failed"] == 1
    row = pd.read_csv(tmp_path / "daily.csv").iloc[0]
    assert row["status"] == "infeasible"
    families = "constraint families in conflict: energy_balance, grid_import_limit ("
    assert families in row["reason"]
    assert families in (tmp_path / "report.md").read_text()
