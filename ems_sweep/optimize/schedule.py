"""The schedule table: the one form in which baseline and optimized days leave the optimizer.

The checker, KPIs, plots and files read only this table (plus the day's data), never solver
variables. One row per time step, index = the day's step starts; all energies kWh per step,
non-negative; battery/EV energy is the stored energy at the END of the step.

Energy balance at every step (grid-side kWh):
    import + pv_used + battery_discharge + ev_discharge
        = fixed_load + appliances + battery_charge + ev_charge + export
with pv_used = pv - pv_curtailed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

IMPORT = "import_kwh"
EXPORT = "export_kwh"
PV = "pv_kwh"
PV_CURTAILED = "pv_curtailed_kwh"
FIXED_LOAD = "fixed_load_kwh"
APPLIANCES = "appliances_kwh"  # sum over shiftable devices; per device: appliance_column(device)
BATTERY_CHARGE = "battery_charge_kwh"
BATTERY_DISCHARGE = "battery_discharge_kwh"
BATTERY_ENERGY = "battery_energy_kwh"
EV_CHARGE = "ev_charge_kwh"
EV_DISCHARGE = "ev_discharge_kwh"
EV_ENERGY = "ev_energy_kwh"
EV_PLUGGED = "ev_plugged"  # 1 when the car is at home and connected
IMPORT_PRICE = "import_price_eur_per_kwh"
EXPORT_PRICE = "export_price_eur_per_kwh"
DAY_AHEAD = "day_ahead_eur_per_kwh"
COST = "cost_eur"  # import * import_price - export * export_price (+ battery wear if configured)


def appliance_column(device: str) -> str:
    return f"appliance_{device}_kwh"


@dataclass
class CyclePlacement:
    cycle_id: str
    device: str
    observed_start_step: int
    start_step: int


@dataclass
class SolverStats:
    # "Optimal", "Infeasible", "TimeLimit", "NotSolved", "rule" (no solver: baseline),
    # "Feasible" (decentralized: valid rule-based schedule, no solver, no optimality claim)
    status: str
    objective: float | None = None
    mip_gap: float | None = None
    build_s: float = 0.0
    solve_s: float = 0.0
    n_variables: int = 0
    n_constraints: int = 0
    n_binaries: int = 0
    solver_run_s: float | None = None  # the solver's own run time (solve_s adds PuLP's transfer)


@dataclass
class DaySchedule:
    """One day's schedule: the table, where each cycle ran, how it was obtained."""

    table: pd.DataFrame
    placements: list[CyclePlacement]
    stats: SolverStats
    battery_start_kwh: float = 0.0
    ev_start_kwh: float = 0.0
    notes: list[str] = field(default_factory=list)
    # "baseline" or the mode that produced it (the checker reads the allowed start windows).
    mode: str = ""
    # The model's own flows where the model simplifies the physics (centralized: flat blocks);
    # None for rule-based schedules, whose table is all there is. `table` is always the physical
    # schedule (what the house pays).
    model_table: pd.DataFrame | None = None

    @property
    def model_cost_eur(self) -> float | None:
        """Cost of the model's own flows (None for rule-based schedules)."""
        return None if self.model_table is None else float(self.model_table[COST].sum())
