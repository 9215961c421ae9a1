"""Shiftable appliances in the MILP: parameters, start binaries, constraint families, readback.

Every cycle c of the horizon (a DayData of any length: one day or several) gets one binary
x[c, s] per allowed start s (see cycles.allowed_starts: observed start up to max_delay_hours
later, earlier only with mode.allow_advance, learned forbidden hours left out). With p_c the
profile the mode moves (a mean-power block in `centralized`, the real phases otherwise), the
appliance load at step t is

    load[t] = sum_c sum_s x[c, s] p_c[t - s]

and enters the energy balance of milp.build_model. Constraint families (each its own function):
    cycle_once_<cycle>:             sum_s x[c, s] = 1
    device_one_programme_<dev>_<t>: sum_{c of dev} sum_{s <= t < s + len(c)} x[c, s] <= 1
Objective terms: learned start penalties (pipeline B, `penalize` mode), and SHIFT_EPS EUR per
hour a cycle moves from its observed start, so that a cycle moves only where that pays (with a
battery and PV many starts cost the same; without the tie-breaker the solver picks any of them).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pulp
from omegaconf import DictConfig

from ems_sweep.data.model import DayData
from ems_sweep.optimize.cycles import (
    StartRule,
    allowed_starts,
    cycle_profile,
    devices,
    forbidden_start_hours,
    start_penalties,
)
from ems_sweep.optimize.lp import Terms, add
from ems_sweep.optimize.schedule import CyclePlacement

SHIFT_EPS = 1e-6  # EUR per hour of shift: a tie-breaker, below every reported cent


@dataclass(frozen=True)
class ApplianceParams:
    """What the appliance part of the model reads from the config, read once."""

    mode: str  # decides the profile the model moves (cycles.cycle_profile)
    start_rule: StartRule  # mode.max_delay_hours, mode.allow_advance
    forbidden: dict[str, set[int]]  # device -> hours a start is not allowed (learned, restrict)
    penalties: dict[str, np.ndarray]  # device -> EUR per start hour (learned, penalize)

    @classmethod
    def from_config(
        cls, cfg: DictConfig, mode: str, preferences: dict[str, np.ndarray] | None = None
    ) -> ApplianceParams:
        return cls(
            mode=mode,
            start_rule=StartRule.from_config(cfg),
            forbidden=forbidden_start_hours(preferences, cfg),
            penalties=start_penalties(preferences, cfg),
        )


@dataclass
class ApplianceVars:
    """The start binaries per cycle and the terms they contribute to the rest of the model."""

    starts: dict[str, list[tuple[int, pulp.LpVariable]]] = field(default_factory=dict)
    load: list[Terms] = field(default_factory=list)  # per step: (x, kWh) of the appliance load
    objective: Terms = field(default_factory=list)
    n_binaries: int = 0


def constraint_name(*parts: object) -> str:
    """A solver-safe constraint name (LP/MPS files allow letters, digits and underscores)."""
    return re.sub(r"[^A-Za-z0-9_]", "_", "_".join(str(p) for p in parts))


def add_start_variables(
    prob: pulp.LpProblem, day: DayData, params: ApplianceParams
) -> ApplianceVars:
    """One binary x[c, s] per allowed start; load and penalty terms that follow from them."""
    av = ApplianceVars(load=[[] for _ in range(day.n_steps)])
    hours = np.asarray(day.index.hour)
    for ci, c in enumerate(day.cycles):
        prof = cycle_profile(c, params.mode)
        xs = []
        for s in allowed_starts(c, day, params.start_rule, params.forbidden):
            x = prob.add_variable(f"x{ci}_{s}", 0, 1, cat=pulp.LpBinary)
            xs.append((s, x))
            for k, kwh in enumerate(prof):
                av.load[s + k].append((x, float(kwh)))
            cost = SHIFT_EPS * abs(s - c.observed_start_step) * day.dt_h
            if c.device in params.penalties:
                cost += float(params.penalties[c.device][hours[s]])
            if cost:
                av.objective.append((x, cost))
        av.n_binaries += len(xs)
        av.starts[c.cycle_id] = xs
    return av


def add_cycle_once(prob: pulp.LpProblem, day: DayData, av: ApplianceVars) -> None:
    """cycle_once_<cycle>: every cycle runs exactly once, sum_s x[c, s] = 1."""
    for c in day.cycles:
        terms = [(x, 1.0) for _, x in av.starts[c.cycle_id]]
        add(prob, terms, pulp.LpConstraintEQ, 1.0, constraint_name("cycle_once", c.cycle_id))


def add_device_one_programme(prob: pulp.LpProblem, day: DayData, av: ApplianceVars) -> None:
    """device_one_programme_<dev>_<t>: a machine runs one programme at a time.

    sum over the device's cycles c and starts s with s <= t < s + len(c) of x[c, s] <= 1, at
    every step t where two or more cycles of the device could be running (elsewhere it holds
    by cycle_once).
    """
    running: dict[str, list[Terms]] = {}
    cycles_at: dict[str, list[set[str]]] = {}
    for c in day.cycles:
        steps = running.setdefault(c.device, [[] for _ in range(day.n_steps)])
        who = cycles_at.setdefault(c.device, [set() for _ in range(day.n_steps)])
        for s, x in av.starts[c.cycle_id]:
            for t in range(s, s + len(c.profile_kwh)):
                steps[t].append((x, 1.0))
                who[t].add(c.cycle_id)
    for dev, steps in running.items():
        for t, terms in enumerate(steps):
            if len(cycles_at[dev][t]) > 1:
                name = constraint_name("device_one_programme", dev, t)
                add(prob, terms, pulp.LpConstraintLE, 1.0, name)


def add_appliances(prob: pulp.LpProblem, day: DayData, params: ApplianceParams) -> ApplianceVars:
    """The appliance part of the model: variables and both constraint families."""
    av = add_start_variables(prob, day, params)
    add_cycle_once(prob, day, av)
    add_device_one_programme(prob, day, av)
    return av


def appliances_fixed(prob: pulp.LpProblem, day: DayData, av: ApplianceVars) -> None:
    """appliances_fixed_<cycle>:  x[c, observed start] = 1  (every cycle where the user started
    it: the appliances "off" for the attribution; cycle_once then sets the other starts to 0)."""
    for c in day.cycles:
        xs = [x for s, x in av.starts[c.cycle_id] if s == c.observed_start_step]
        name = constraint_name("appliances_fixed", c.cycle_id)
        add(prob, [(xs[0], 1.0)], pulp.LpConstraintEQ, 1.0, name)


def placements(av: ApplianceVars, day: DayData) -> list[CyclePlacement]:
    """Where each cycle runs: its start binary closest to 1 (ties: nearest the observed)."""
    out = []
    for c in day.cycles:
        xs = av.starts[c.cycle_id]
        best = max(xs, key=lambda sx: (sx[1].varValue or 0.0, -abs(sx[0] - c.observed_start_step)))
        out.append(CyclePlacement(c.cycle_id, c.device, c.observed_start_step, best[0]))
    return out


def appliance_loads(
    day: DayData, cfg: DictConfig, placements: list[CyclePlacement], mode: str = ""
) -> dict[str, np.ndarray]:
    """Table columns: kWh per step per device from where each cycle runs.

    The real profile at the chosen start (what the machine draws), unless `mode` asks for the
    profile the model moved (centralized: the mean-power block; only for the model's own cost).
    """
    loads = {dev: np.zeros(day.n_steps) for dev in devices(day, cfg)}
    by_id = {c.cycle_id: c for c in day.cycles}
    for p in placements:
        cycle = by_id[p.cycle_id]
        prof = cycle_profile(cycle, mode) if mode else np.asarray(cycle.profile_kwh, dtype=float)
        loads[p.device][p.start_step : p.start_step + len(prof)] += prof
    return loads
