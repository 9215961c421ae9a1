"""The EV: when it is plugged in, what trips take, what it must hold; its MILP constraints.

Shared by the baseline, the MILP and the checker; everything here is derived from the day data
and the config alone (never from a schedule). Works on one day or a multi-day horizon
(`DayData.day_starts`). Conventions:
- a step is plugged in only when the car is home for the whole step;
- a trip's energy leaves the battery at its departure step (trips that departed the day before
  were already paid for on that day);
- before each departure the car holds the trip energy plus the soc_min reserve (hard);
- target: on every local day on which the car is plugged in just before `must_be_full_by_hour`,
  it holds target_soc x capacity at that hour, and until it leaves when it leaves later that day,
  or as close as the charging window allows: at least what charging at full power whenever
  plugged in, up to the target, would hold from the same start (the baseline's rule);
- no end-of-day rule: storage is carried over; the end of the period is the pipeline's business.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pulp
from omegaconf import DictConfig

from ems_sweep.data.model import DayData
from ems_sweep.optimize.lp import Terms, add, step_vars, terms


class InfeasibleDayError(ValueError):
    """The day cannot be scheduled at all (e.g. the EV's need exceeds what its window allows)."""


@dataclass(frozen=True)
class EVRequirement:
    """Stored energy >= required_kwh at the END of step `step` (-1: at the start of the day)."""

    step: int
    required_kwh: float
    why: str


def _bounds_ns(day: DayData) -> tuple[np.ndarray, np.ndarray]:
    """Step starts and ends as int64 ns since the epoch (fast to compare, tz-free)."""
    starts = np.asarray(day.index.asi8)
    return starts, starts + int(round(day.dt_h * 3600e9))


def plugged_mask(day: DayData, cfg: DictConfig) -> np.ndarray:
    """True for steps the car spends entirely at home (only those may charge or discharge)."""
    n = day.n_steps
    if not cfg.ev.enabled:
        return np.zeros(n, dtype=bool)
    starts, ends = _bounds_ns(day)
    home = np.ones(n, dtype=bool)
    for trip in day.ev_trips:
        home &= ~((ends > trip.departure.value) & (starts < trip.arrival.value))
    return home


def departure_step(day: DayData, departure: pd.Timestamp) -> int | None:
    """Index of the step in which the car leaves, or None when it leaves outside this day."""
    starts, ends = _bounds_ns(day)
    dep = departure.value
    if dep < starts[0] or dep >= ends[-1]:
        return None
    return int(np.searchsorted(starts, dep, side="right") - 1)


def trip_deductions(day: DayData, cfg: DictConfig) -> np.ndarray:
    """kWh leaving the car's battery per step (trip energy at the departure step)."""
    out = np.zeros(day.n_steps)
    if not cfg.ev.enabled:
        return out
    for trip in day.ev_trips:
        step = departure_step(day, trip.departure)
        if step is not None:
            out[step] += float(trip.energy_kwh)
    return out


def trip_requirements(day: DayData, cfg: DictConfig) -> list[EVRequirement]:
    """Hard needs: before each departure the car holds the trip's energy plus the reserve."""
    ev = cfg.ev
    if not ev.enabled:
        return []
    reserve = ev.soc_min * ev.capacity_kwh
    out: list[EVRequirement] = []
    for trip in sorted(day.ev_trips, key=lambda tr: tr.departure):
        step = departure_step(day, trip.departure)
        if step is None:
            continue
        when = trip.departure.strftime("%H:%M")
        why = f"trip at {when} uses {trip.energy_kwh:.2f} kWh + reserve"
        out.append(EVRequirement(step - 1, float(trip.energy_kwh) + reserve, why))
    return out


def target_steps(day: DayData, cfg: DictConfig) -> list[tuple[int, list[int]]]:
    """Per local day plugged in just before the target hour: (checkpoint, steps to hold target).

    The checkpoint is the step ending at must_be_full_by_hour (-1: the start of the data); the
    hold steps run from it to the step before the first departure at/after the hour that day,
    when the car stays plugged in until then.
    """
    ev = cfg.ev
    if not ev.enabled:
        return []
    hours = np.asarray(day.index.hour)
    plugged = plugged_mask(day, cfg)
    departures = sorted(
        (s, t.departure)
        for t in day.ev_trips
        if (s := departure_step(day, t.departure)) is not None
    )
    bounds = [*day.day_starts, day.n_steps]
    out: list[tuple[int, list[int]]] = []
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        late = np.nonzero(hours[lo:hi] >= ev.must_be_full_by_hour)[0]
        if not len(late):
            continue
        full = lo + int(late[0])
        point = full - 1
        if not plugged[max(point, 0)]:
            continue
        hold = [point]
        leave = next((s for s, _ in departures if full <= s < hi), None)
        if leave is not None and plugged[max(point, 0) : leave].all():
            hold = list(range(point, leave))
        out.append((point, hold))
    return out


def target_requirements(day: DayData, cfg: DictConfig, start_kwh: float) -> list[EVRequirement]:
    """The target as soft-as-the-window-allows needs: min(target, the baseline rule's energy)."""
    ev = cfg.ev
    points = target_steps(day, cfg)
    if not points:
        return []
    target = ev.target_soc * ev.capacity_kwh
    _, rule = charge_asap(day, cfg, start_kwh, target)
    out: list[EVRequirement] = []
    for point, hold in points:
        when = (day.index[point] if point >= 0 else day.index[0]).strftime("%Y-%m-%d")
        why = f"target_soc={ev.target_soc} by {ev.must_be_full_by_hour}:00 on {when}"
        for s in hold:
            level = float(start_kwh) if s < 0 else float(rule[s])
            out.append(EVRequirement(s, min(target, level), why))
    return out


def target_shortfall_kwh(
    day: DayData, cfg: DictConfig, energy: np.ndarray, start_kwh: float
) -> float:
    """kWh missing from target_soc x capacity at the target hour, summed over the day(s)."""
    if not cfg.ev.enabled:
        return 0.0
    target = cfg.ev.target_soc * cfg.ev.capacity_kwh
    held = [float(start_kwh) if p < 0 else float(energy[p]) for p, _ in target_steps(day, cfg)]
    return float(sum(max(0.0, target - h) for h in held))


def charge_asap(
    day: DayData, cfg: DictConfig, start_kwh: float, level_kwh: float
) -> tuple[np.ndarray, np.ndarray]:
    """Charge at full power whenever plugged in until `level_kwh` is stored.

    Returns (grid-side charge kWh per step, stored energy at the end of each step). This is the
    baseline's EV rule and, with level = capacity, the most energy the car can hold at any time.
    """
    n = day.n_steps
    charge, energy = np.zeros(n), np.zeros(n)
    if not cfg.ev.enabled:
        return charge, energy
    eta = cfg.ev.charge_efficiency
    per_step = cfg.ev.charger_kw * day.dt_h
    plugged = plugged_mask(day, cfg)
    out = trip_deductions(day, cfg)
    e = float(start_kwh)
    for t in range(n):
        if plugged[t] and e < level_kwh:
            charge[t] = min(per_step, (level_kwh - e) / eta)
            e += eta * charge[t]
        e -= out[t]
        energy[t] = e
    return charge, energy


def check_feasible(day: DayData, cfg: DictConfig, start_kwh: float) -> None:
    """Raise InfeasibleDayError naming the first EV need that no schedule can meet."""
    ev = cfg.ev
    if not ev.enabled:
        return
    _, most = charge_asap(day, cfg, start_kwh, ev.capacity_kwh)
    plugged = plugged_mask(day, cfg)
    for req in trip_requirements(day, cfg):
        if req.required_kwh > ev.capacity_kwh + 1e-9:
            raise InfeasibleDayError(
                f"EV on {day.date}: needs {req.required_kwh:.2f} kWh ({req.why}) but "
                f"ev.capacity_kwh={ev.capacity_kwh}"
            )
        reach = start_kwh if req.step < 0 else most[req.step]
        if reach < req.required_kwh - 1e-6:
            when = (
                day.index[0] if req.step < 0 else day.index[req.step] + pd.Timedelta(hours=day.dt_h)
            )
            hours = float(plugged[: req.step + 1].sum() * day.dt_h)
            raise InfeasibleDayError(
                f"EV on {when.date()}: needs {req.required_kwh:.2f} kWh stored at "
                f"{when.strftime('%H:%M')} ({req.why}) but can reach at most {reach:.2f} kWh "
                f"(start {start_kwh:.2f} kWh, charger {ev.charger_kw} kW x efficiency "
                f"{ev.charge_efficiency}, plugged in {hours:.2f} h before)"
            )


@dataclass
class EVVars:
    """Per-step charge, discharge (grid side) and stored energy; constants 0 without an EV."""

    ch: list
    dis: list
    energy: list
    n_binaries: int = 0


def ev_variables(prob: pulp.LpProblem, day: DayData, cfg: DictConfig) -> EVVars:
    """0 <= ch <= charger_kw dt and 0 <= dis <= discharge_kw dt (v2g) while plugged in, else 0;
    0 <= E <= capacity."""
    n, dt = day.n_steps, day.dt_h
    e = cfg.ev
    if not e.enabled:
        return EVVars([0.0] * n, [0.0] * n, [0.0] * n)
    plugged = plugged_mask(day, cfg)
    dis_ub = np.where(plugged, e.discharge_kw * dt, 0.0) if e.v2g else 0.0
    return EVVars(
        ch=step_vars(prob, "evch", n, np.where(plugged, e.charger_kw * dt, 0.0)),
        dis=step_vars(prob, "evdis", n, dis_ub),
        energy=[prob.add_variable(f"eve_{t}", 0.0, float(e.capacity_kwh)) for t in range(n)],
    )


def ev_soc(
    prob: pulp.LpProblem, v: EVVars, day: DayData, cfg: DictConfig, start_kwh: float
) -> None:
    """ev_soc_<t>:  E[t] = E[t-1] + eta_c ch[t] - dis[t] / eta_d - trip[t],  E[-1] = start."""
    e = cfg.ev
    out = trip_deductions(day, cfg)
    prev: object = None
    for t in range(day.n_steps):
        lhs = terms(
            (v.energy[t], 1.0),
            (v.ch[t], -e.charge_efficiency),
            (v.dis[t], 1.0 / e.discharge_efficiency),
        )
        rhs = -float(out[t])
        if prev is None:
            add(prob, lhs, pulp.LpConstraintEQ, rhs + float(start_kwh), f"ev_soc_{t}")
        else:
            add(prob, lhs + [(prev, -1.0)], pulp.LpConstraintEQ, rhs, f"ev_soc_{t}")
        prev = v.energy[t]


def _at_least(prob: pulp.LpProblem, v: EVVars, needs: list[EVRequirement], family: str) -> None:
    """family_<i>_<t>:  E[t] >= required  for each need i at a step t of the model."""
    for i, req in enumerate(needs):
        if req.step >= 0:
            add(
                prob, [(v.energy[req.step], 1.0)], pulp.LpConstraintGE, req.required_kwh,
                f"{family}_{i}_{req.step}",
            )  # fmt: skip


def ev_trip_need(prob: pulp.LpProblem, v: EVVars, day: DayData, cfg: DictConfig) -> None:
    """ev_trip_need_<i>_<t>:  E[t] >= trip energy + soc_min x capacity  at the step before
    each departure (hard; `trip_requirements`)."""
    _at_least(prob, v, trip_requirements(day, cfg), "ev_trip_need")


def ev_target(
    prob: pulp.LpProblem, v: EVVars, day: DayData, cfg: DictConfig, start_kwh: float
) -> None:
    """ev_target_<i>_<t>:  E[t] >= min(target_soc x capacity, what charging at full power since
    arrival holds)  at the target hour and until the car leaves (`target_requirements`)."""
    _at_least(prob, v, target_requirements(day, cfg, start_kwh), "ev_target")


def ev_v2g(
    prob: pulp.LpProblem, v: EVVars, day: DayData, cfg: DictConfig, imp_price: np.ndarray
) -> None:
    """ev_v2g_{dis,reserve,excl}_<t>, with z[t] in {0, 1} "may discharge":
    dis <= z D_max;  E[t] >= reserve z - B (1 - z)  (discharge only while holding the reserve);
    at import price < 0 also  ch <= (1 - z) C_max  (no charging while discharging)."""
    e = cfg.ev
    dt = day.dt_h
    reserve = e.soc_min * e.capacity_kwh
    big = e.discharge_kw * dt / e.discharge_efficiency
    d_max, c_max = e.discharge_kw * dt, e.charger_kw * dt
    for t in range(day.n_steps):
        if not isinstance(v.dis[t], pulp.LpVariable):
            continue
        z = prob.add_variable(f"zv_{t}", 0, 1, cat=pulp.LpBinary)
        v.n_binaries += 1
        add(prob, [(v.dis[t], 1.0), (z, -d_max)], pulp.LpConstraintLE, 0, f"ev_v2g_dis_{t}")
        add(
            prob, [(v.energy[t], 1.0), (z, -(reserve + big))], pulp.LpConstraintGE, -big,
            f"ev_v2g_reserve_{t}",
        )  # fmt: skip
        if imp_price[t] < 0:
            add(
                prob, terms((v.ch[t], 1.0)) + [(z, c_max)], pulp.LpConstraintLE, c_max,
                f"ev_v2g_excl_{t}",
            )  # fmt: skip


def ev_balance_terms(v: EVVars, t: int) -> Terms:
    """The EV's part of the energy balance at step t: + discharge - charge."""
    return terms((v.dis[t], 1.0), (v.ch[t], -1.0))


def ev_cost_terms(v: EVVars, eps: float) -> Terms:
    """eps on V2G discharge (tie-break only, not part of any reported cost)."""
    return [pair for t in range(len(v.dis)) for pair in terms((v.dis[t], eps))]


def ev_fixed(prob: pulp.LpProblem, v: EVVars, charge: np.ndarray) -> None:
    """ev_fixed_{ch,dis}_<t>:  ch[t] = charge[t],  dis[t] = 0  (given flows, e.g. the baseline's
    charging on arrival: the EV "off" for the attribution; E follows from ev_soc).

    A step where the car is away has the constant 0 for ch; a given charge there is an error.
    """
    for t in range(len(v.ch)):
        if isinstance(v.ch[t], pulp.LpVariable):
            add(prob, [(v.ch[t], 1.0)], pulp.LpConstraintEQ, float(charge[t]), f"ev_fixed_ch_{t}")
        elif abs(float(charge[t])) > 1e-9:
            raise ValueError(f"ev_fixed: charge {charge[t]:.3f} kWh at step {t}, car not plugged")
        if isinstance(v.dis[t], pulp.LpVariable):
            add(prob, [(v.dis[t], 1.0)], pulp.LpConstraintEQ, 0.0, f"ev_fixed_dis_{t}")
