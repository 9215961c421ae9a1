"""Per-day KPIs of one schedule, from its table only (savings: compare two days' `cost_eur`)."""

from __future__ import annotations

from omegaconf import DictConfig

from ems_sweep.data.model import DayData
from ems_sweep.optimize import schedule as S
from ems_sweep.optimize.cycles import fast_cfg
from ems_sweep.optimize.ev import target_shortfall_kwh
from ems_sweep.optimize.schedule import DaySchedule, SolverStats

NAN = float("nan")


def _ratio(num: float, den: float) -> float:
    return float(num / den) if den > 1e-12 else float("nan")


def day_kpis(schedule: DaySchedule, day: DayData, cfg: DictConfig) -> dict[str, float]:
    """Cost, energy flows, ratios, storage use, shifted energy and solver figures of one day.

    - consumption = fixed load + appliances + EV charging (what the building uses)
    - self_consumption = PV used on site (generated - exported - curtailed) / PV generated
    - self_sufficiency = 1 - import / consumption, floored at 0 (grid-charged storage can import
      more than the building consumes)
    - battery_efc = (charge + discharge) / (2 x capacity): equivalent full cycles
    - shifted_kwh = energy of the cycles that run elsewhere than observed
    - battery_start_kwh / battery_end_kwh / ev_end_kwh: stored energy at the day's start / end
    - ev_target_shortfall_kwh: kWh missing from the EV target at must_be_full_by_hour
    - cost_eur is the physical schedule's (what the house pays); model_cost_eur the cost of the
      model's own flows (centralized: flat blocks), equal to cost_eur for rule-based schedules
    NaN where a ratio has no base (no PV, no battery).
    """
    cfg = fast_cfg(cfg)
    return {
        **energy_kpis(schedule, day.dt_h),
        **storage_kpis(schedule, day, cfg),
        **cycle_kpis(schedule, day),
        **solver_kpis(schedule.stats),
    }


def energy_kpis(schedule: DaySchedule, dt: float) -> dict[str, float]:
    """Cost, the grid and PV flows, consumption and the two PV ratios (see day_kpis)."""
    tab = schedule.table
    imp = tab[S.IMPORT].to_numpy()
    exp = tab[S.EXPORT].to_numpy()
    pv = float(tab[S.PV].sum())
    curt = float(tab[S.PV_CURTAILED].sum())
    consumption = float(tab[S.FIXED_LOAD].sum() + tab[S.APPLIANCES].sum() + tab[S.EV_CHARGE].sum())
    cost = float(tab[S.COST].sum())
    return {
        "cost_eur": cost,
        "model_cost_eur": cost if schedule.model_cost_eur is None else schedule.model_cost_eur,
        "cost_per_kwh_consumed_eur": _ratio(cost, consumption),
        "import_kwh": float(imp.sum()),
        "export_kwh": float(exp.sum()),
        "consumption_kwh": consumption,
        "pv_kwh": pv,
        "pv_curtailed_kwh": curt,
        "peak_import_kw": float(imp.max() / dt) if len(imp) else 0.0,
        "self_consumption": _ratio(pv - curt - float(exp.sum()), pv),
        "self_sufficiency": max(0.0, 1.0 - _ratio(float(imp.sum()), consumption))
        if consumption > 0
        else NAN,
    }


def storage_kpis(schedule: DaySchedule, day: DayData, cfg: DictConfig) -> dict[str, float]:
    """Battery cycles and throughput, EV energy, stored energy at the day's start and end."""
    tab = schedule.table
    cap = cfg.battery.capacity_kwh if cfg.battery.enabled else 0.0
    throughput = float(tab[S.BATTERY_CHARGE].sum() + tab[S.BATTERY_DISCHARGE].sum())
    return {
        "battery_efc": _ratio(throughput, 2.0 * cap) if cap > 0 else NAN,
        "battery_throughput_kwh": throughput,
        "ev_charged_kwh": float(tab[S.EV_CHARGE].sum()),
        "ev_discharged_kwh": float(tab[S.EV_DISCHARGE].sum()),
        "battery_start_kwh": float(schedule.battery_start_kwh),
        "battery_end_kwh": float(tab[S.BATTERY_ENERGY].iloc[-1]) if len(tab) else NAN,
        "ev_end_kwh": float(tab[S.EV_ENERGY].iloc[-1]) if len(tab) else NAN,
        "ev_target_shortfall_kwh": target_shortfall_kwh(
            day, cfg, tab[S.EV_ENERGY].to_numpy(), schedule.ev_start_kwh
        ),
    }


def cycle_kpis(schedule: DaySchedule, day: DayData) -> dict[str, float]:
    """Energy and number of the cycles that run elsewhere than observed, and all cycles."""
    energy = {c.cycle_id: c for c in day.cycles}
    shifted = sum(
        float(energy[p.cycle_id].profile_kwh.sum())
        for p in schedule.placements
        if p.start_step != p.observed_start_step and p.cycle_id in energy
    )
    return {
        "shifted_kwh": float(shifted),
        "cycles_shifted": float(
            sum(p.start_step != p.observed_start_step for p in schedule.placements)
        ),
        "n_cycles": float(len(schedule.placements)),
    }


def solver_kpis(st: SolverStats) -> dict[str, float]:
    """What the solver reported; NaN where no solver ran (baseline, decentralized)."""
    return {
        # 1 proven optimal, 0 stopped early; NaN where no solver ran (baseline, decentralized)
        "solver_optimal": float(st.status == "Optimal")
        if st.status not in ("rule", "Feasible")
        else NAN,
        "solver_objective": float(st.objective) if st.objective is not None else NAN,
        "solver_mip_gap": float(st.mip_gap) if st.mip_gap is not None else NAN,
        "build_seconds": float(st.build_s),
        "solve_seconds": float(st.solve_s),
        "solver_run_seconds": float(st.solver_run_s) if st.solver_run_s is not None else NAN,
        "n_variables": float(st.n_variables),
        "n_constraints": float(st.n_constraints),
        "n_binaries": float(st.n_binaries),
    }
