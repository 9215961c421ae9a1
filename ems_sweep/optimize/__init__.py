"""The optimizer: baseline, day-ahead MILP per mode, tariffs, solvers, checker and KPIs."""

from ems_sweep.optimize.api import MODES, SolverFailedError, optimize_day, optimize_horizon
from ems_sweep.optimize.baseline import baseline_day, decentralized_day
from ems_sweep.optimize.checker import Violation, check_schedule
from ems_sweep.optimize.cycles import forbidden_start_hours, start_penalties
from ems_sweep.optimize.ev import InfeasibleDayError
from ems_sweep.optimize.kpis import day_kpis
from ems_sweep.optimize.schedule import CyclePlacement, DaySchedule, SolverStats
from ems_sweep.optimize.state import (
    PeriodEnd,
    StorageState,
    end_state,
    initial_state,
    stored_kwh,
)
from ems_sweep.optimize.tariffs import tariff_prices

__all__ = [
    "MODES",
    "PeriodEnd",
    "CyclePlacement",
    "DaySchedule",
    "InfeasibleDayError",
    "SolverFailedError",
    "SolverStats",
    "StorageState",
    "Violation",
    "baseline_day",
    "check_schedule",
    "day_kpis",
    "decentralized_day",
    "end_state",
    "forbidden_start_hours",
    "initial_state",
    "optimize_day",
    "optimize_horizon",
    "start_penalties",
    "stored_kwh",
    "tariff_prices",
]
